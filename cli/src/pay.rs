//! `iotp pay URL`: the Consumer. Sends the startup request to a Merchant's pay URL, runs the
//! transaction to its end and prints the outcome and the receipts.
//!
//! The wallet (`--wallet FILE`, TOML) says who pays and how:
//!
//! ```toml
//! org_id = "Consumer:jane/shop.example"   # default
//! name = "Jane Consumer"                  # default
//! scheme = "mock"                         # libiotp_scheme_mock.so (default)
//! instrument = "approve"                  # default: the first the scheme offers
//! brand = "MockCard"                      # default: the first the Merchant offers
//! trust = ["tls/ca.pem"]                  # CA certificates for https net locations
//! data_dir = "jane"                       # the Consumer's store and log; default:
//!                                         # <wallet file without .toml>.d
//!
//! [[cards]]                               # cards for a card scheme (SCCD): registered with
//! id = "my-visa"                          # the scheme (RFC 3867 ManagePaymentSoftware) in
//! name = "Jane Consumer"                  # the Consumer's own store before paying;
//! type = "VISA"                           # `instrument` names one by its id
//! number = "4242424242424242"
//! verification = "321"
//! exp_month = 3
//! exp_year = 2031
//! postal_code = "54321"
//! country = "US"
//! ```
//!
//! Relative paths are relative to the wallet file. Without a wallet the defaults apply and the
//! Consumer's data goes to a temporary directory, removed at exit.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use iotp::msg::codes::ProcessState;
use iotp::txn::{EngineConfig, OrgConfig, TransactionOutcome};
use iotp_runtime::config::{
    ConsumerSection, MerchantSection, NodeConfig, NodeSection, PluginsSection,
};
use iotp_runtime::{Node, NodeApps};
use serde::{Deserialize, Serialize};

use crate::PayArgs;
use crate::output::{self, Outcome};

/// The wallet file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wallet {
    #[serde(default = "default_org_id")]
    org_id: String,
    #[serde(default = "default_name")]
    name: String,
    #[serde(default = "default_scheme")]
    scheme: String,
    #[serde(default)]
    instrument: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    trust: Vec<PathBuf>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    cards: Vec<Card>,
}

/// A payment card of the wallet (for SCCD: its `SCCD-Card` fields, ECML v2).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Card {
    id: String,
    name: String,
    #[serde(rename = "type")]
    card_type: String,
    number: String,
    #[serde(default)]
    verification: Option<String>,
    exp_month: u8,
    exp_year: u16,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

impl std::fmt::Debug for Card {
    /// The number and the verification value stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("id", &self.id)
            .field("type", &self.card_type)
            .finish_non_exhaustive()
    }
}

impl Card {
    /// The card as the ECML v2 document an `SCCD-Card` PackagedContent holds.
    fn ecml(&self) -> Vec<u8> {
        use iotp::xml::{XmlElement, XmlNode};
        let el =
            |name: &str, attributes: Vec<(&str, Option<String>)>, children: Vec<XmlElement>| {
                XmlElement {
                    name: name.into(),
                    attributes: attributes
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                        .collect(),
                    children: children.into_iter().map(XmlNode::Element).collect(),
                }
            };
        let card = el(
            "Card",
            vec![
                ("id", Some(self.id.clone())),
                ("Name", Some(self.name.clone())),
                ("Type", Some(self.card_type.clone())),
                ("Number", Some(self.number.clone())),
                ("Verification", self.verification.clone()),
            ],
            vec![el(
                "ExpDate",
                vec![
                    ("Month", Some(self.exp_month.to_string())),
                    ("Year", Some(self.exp_year.to_string())),
                ],
                vec![],
            )],
        );
        let mut children = vec![el("Payment", vec![], vec![card])];
        if self.postal_code.is_some() || self.country.is_some() {
            children.push(el(
                "BillTo",
                vec![],
                vec![el(
                    "Postal",
                    vec![
                        ("PostalCode", self.postal_code.clone()),
                        ("CountryCode", self.country.clone()),
                    ],
                    vec![],
                )],
            ));
        }
        el("Ecom", vec![], children).to_xml().into_bytes()
    }
}

/// Registers the wallet's cards with the Consumer's scheme (RFC 3867 ManagePaymentSoftware:
/// `Action="Update"` for a card it has, else `"New"`).
fn register_cards(node: &Node, cards: &[Card]) -> Result<(), String> {
    for card in cards {
        let request = |action: &str| iotp::payapi::ManagePaymentSoftware {
            action: Some(action.into()),
            offer: iotp::payapi::OfferContent {
                pay_protocol: vec![iotp::msg::model::PackagedContent {
                    name: Some("SCCD-Card".into()),
                    content: iotp::msg::codes::ContentType::Xml,
                    data: card.ecml(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        node.manage_payment_software(&request("Update"))
            .or_else(|_| node.manage_payment_software(&request("New")))
            .map_err(|e| format!("cards: {}: {e}", card.id))?;
    }
    Ok(())
}

fn default_org_id() -> String {
    "Consumer:jane/shop.example".into()
}
fn default_name() -> String {
    "Jane Consumer".into()
}
fn default_scheme() -> String {
    "mock".into()
}

impl Default for Wallet {
    fn default() -> Self {
        Wallet {
            org_id: default_org_id(),
            name: default_name(),
            scheme: default_scheme(),
            instrument: None,
            brand: None,
            trust: Vec::new(),
            data_dir: None,
            cards: Vec::new(),
        }
    }
}

impl Wallet {
    /// Reads a wallet; relative paths become relative to its directory.
    pub(crate) fn read(path: &Path) -> Result<Wallet, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut wallet: Wallet = toml::from_str(&text)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for t in &mut wallet.trust {
            if t.is_relative() {
                *t = base.join(&*t);
            }
        }
        wallet.data_dir = Some(match wallet.data_dir.take() {
            Some(d) if d.is_relative() => base.join(d),
            Some(d) => d,
            None => path.with_extension("d"),
        });
        Ok(wallet)
    }

    /// The Consumer node's configuration.
    pub(crate) fn node_config(&self, data_dir: PathBuf, plugin_dir: Option<PathBuf>) -> NodeConfig {
        let org = OrgConfig::consumer(&self.org_id, &self.name);
        let trust: Vec<String> = self.trust.iter().map(|t| t.display().to_string()).collect();
        let transport = serde_json::from_value(serde_json::json!({
            "listeners": [],
            "client": { "trust": trust },
        }))
        .unwrap_or_default();
        NodeConfig {
            node: NodeSection {
                name: "consumer".into(),
                data_dir,
                senders: 2,
                memory_store: false,
                engines: 8,
            },
            engine: EngineConfig::new(org),
            plugins: PluginsSection {
                dir: plugin_dir,
                scheme: Some(self.scheme.clone()),
                transport: Some("http".into()),
            },
            transport,
            merchant: MerchantSection::default(),
            consumer: ConsumerSection {
                instrument: self.instrument.clone(),
                brand: self.brand.clone(),
            },
        }
    }
}

/// One receipt in `--json` output.
#[derive(Debug, Serialize)]
struct ReceiptJson<'a> {
    payment_ref: &'a str,
    process_reference: Option<&'a str>,
    parts: Vec<ReceiptPartJson<'a>>,
}

#[derive(Debug, Serialize)]
struct ReceiptPartJson<'a> {
    name: Option<&'a str>,
    text: &'a str,
}

/// `--json` output.
#[derive(Debug, Serialize)]
struct PayJson<'a> {
    iotp_trans_id: &'a str,
    trans_type: &'a str,
    outcome: &'a str,
    end: String,
    completion_code: Option<&'a str>,
    next_net_locn: Option<&'a str>,
    receipts: Vec<ReceiptJson<'a>>,
}

/// Runs `iotp pay`.
pub(crate) fn run(args: &PayArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let mut wallet = match &args.wallet {
        Some(path) => match Wallet::read(path) {
            Ok(w) => w,
            Err(e) => {
                output::complain(format_args!("{e}"));
                return Ok(Outcome::Failure);
            }
        },
        None => Wallet::default(),
    };
    if let Some(brand) = &args.brand {
        wallet.brand = Some(brand.clone());
    }
    wallet.trust.extend(args.trust.iter().cloned());
    let temp;
    let data_dir = match &wallet.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let config = wallet.node_config(data_dir, args.plugin_dir.clone());
    let node = match Node::open(config, NodeApps::default()) {
        Ok(n) => n,
        Err(e) => {
            output::complain(format_args!("pay: {e}"));
            return Ok(Outcome::Failure);
        }
    };
    if let Err(e) = register_cards(&node, &wallet.cards) {
        output::complain(format_args!("pay: {e}"));
        node.shutdown();
        return Ok(Outcome::Failure);
    }
    let wait = args.timeout.map(Duration::from_secs);
    let result = node.pay(&args.url, wait);
    node.shutdown();
    match result {
        Ok(o) => {
            print_outcome(&o, args.json, out)?;
            Ok(if o.process_state == ProcessState::CompletedOk {
                Outcome::Valid
            } else {
                Outcome::Invalid
            })
        }
        Err(e) => {
            output::complain(format_args!("pay: {}: {e}", args.url));
            Ok(Outcome::Failure)
        }
    }
}

fn print_outcome(o: &TransactionOutcome, json: bool, out: &mut impl Write) -> io::Result<()> {
    if json {
        let line = PayJson {
            iotp_trans_id: &o.iotp_trans_id,
            trans_type: o.trans_type.as_str(),
            outcome: o.process_state.as_str(),
            end: format!("{:?}", o.kind),
            completion_code: o.completion_code.as_ref().map(|c| c.as_str()),
            next_net_locn: o.next_net_locn.as_deref(),
            receipts: o
                .receipts
                .iter()
                .map(|r| ReceiptJson {
                    payment_ref: &r.payment_ref,
                    process_reference: r.process_reference.as_deref(),
                    parts: r
                        .parts
                        .iter()
                        .map(|(name, text)| ReceiptPartJson {
                            name: name.as_deref(),
                            text,
                        })
                        .collect(),
                })
                .collect(),
        };
        return output::json_line(out, &line);
    }
    write!(
        out,
        "{} {}: {}",
        o.trans_type, o.iotp_trans_id, o.process_state
    )?;
    if let Some(code) = &o.completion_code {
        write!(out, " ({code})")?;
    }
    writeln!(out)?;
    for r in &o.receipts {
        writeln!(
            out,
            "receipt for {}{}:",
            r.payment_ref,
            r.process_reference
                .as_deref()
                .map(|p| format!(" (payment {p})"))
                .unwrap_or_default()
        )?;
        for (name, text) in &r.parts {
            writeln!(out, "  {}: {}", name.as_deref().unwrap_or("-"), text.trim())?;
        }
    }
    if let Some(next) = &o.next_net_locn {
        writeln!(out, "next: {next}")?;
    }
    Ok(())
}
