//! The networked demo's world: the configurations of a Merchant, a Payment Handler, a Delivery
//! Handler and an all-in-one shop (§9.1.5) as separate nodes on loopback ports, and of the
//! Consumer that pays them. `iotp demo`, `iotp bench http` and the runtime's process tests use
//! it.
//!
//! The organisations are those of the in-process demo ([`iotp::txn::harness::world`]); their
//! net locations are real URLs: `http://127.0.0.1:PORT/iotp/<role>` for the Merchant, and, with
//! TLS, `https://127.0.0.1:PORT/iotp/<role>` for the Payment and Delivery Handlers and the
//! all-in-one shop, with certificates from a [`LocalCa`] the Consumer trusts. The Merchant
//! sells one offer per demo scenario ([`iotp::txn::harness::scenarios`]), started by a GET of
//! `/pay/<slug>`.

use std::path::{Path, PathBuf};

use iotp::msg::codes::TransactionType;
use iotp::txn::harness::{self, Scenario, world};
use iotp::txn::{EngineConfig, OrgConfig, RoleEndpoint, Timing};
use serde_json::json;

use crate::config::{ConsumerSection, MerchantSection, NodeConfig, NodeSection, PluginsSection};
use crate::tls::{LocalCa, TlsError};

/// A server node of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoServer {
    /// The shop (Merchant, `shop.example`).
    Merchant,
    /// The Payment Handler (`pay.example`).
    PaymentHandler,
    /// The Delivery Handler (`ship.example`).
    DeliveryHandler,
    /// Merchant, Payment Handler and Delivery Handler in one (`allinone.example`).
    AllInOne,
}

impl DemoServer {
    /// Every server, in start order.
    pub const ALL: [DemoServer; 4] = [
        DemoServer::PaymentHandler,
        DemoServer::DeliveryHandler,
        DemoServer::AllInOne,
        DemoServer::Merchant,
    ];

    /// The node's name (and its directory under the data directory).
    pub fn name(self) -> &'static str {
        match self {
            DemoServer::Merchant => "merchant",
            DemoServer::PaymentHandler => "payment-handler",
            DemoServer::DeliveryHandler => "delivery-handler",
            DemoServer::AllInOne => "allinone",
        }
    }

    fn index(self) -> usize {
        match self {
            DemoServer::Merchant => 0,
            DemoServer::PaymentHandler => 1,
            DemoServer::DeliveryHandler => 2,
            DemoServer::AllInOne => 3,
        }
    }
}

/// The demo's world on this machine.
#[derive(Debug)]
pub struct DemoWorld {
    dir: PathBuf,
    plugin_dir: PathBuf,
    scheme: String,
    ports: [u16; 4],
    ca: Option<LocalCa>,
    server_cert: Option<crate::tls::ServerCert>,
    /// Retransmission and time-outs of every node.
    pub timing: Timing,
}

/// Why the world could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// No free loopback port.
    #[error("cannot find a free loopback port: {0}")]
    Port(std::io::Error),
    /// A directory or file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificates could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A configuration could not be written as TOML.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
}

/// A free port on 127.0.0.1 (free when asked; the node binds it moments later).
pub fn free_port() -> Result<u16, DemoError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(DemoError::Port)
}

/// The startup path segment of a scenario: its transaction and variant, lower case, words
/// joined by `-`.
pub fn scenario_slug(scenario: &Scenario) -> String {
    slug(&format!(
        "{} {}",
        scenario
            .transaction
            .to_string()
            .trim_start_matches("Baseline"),
        scenario.variant
    ))
}

/// Lowercase; every run of other characters than ASCII letters and digits becomes one `-`;
/// none at either end.
pub fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// The purchase the demo's inquiry asks about.
pub fn inquiry_purchase() -> Scenario {
    Scenario {
        transaction: TransactionType::BaselinePurchase,
        variant: "brand-independent, payment only",
        instrument: "approve",
    }
}

/// Whether a scenario's offer is the all-in-one shop's (§9.1.5: payment with delivery).
pub fn sold_by_allinone(scenario: &Scenario) -> bool {
    scenario.variant.contains("DelivAndPayResp")
}

fn mkdir(path: &Path) -> Result<(), DemoError> {
    std::fs::create_dir_all(path).map_err(|source| DemoError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl DemoWorld {
    /// Makes the world under `dir`: picks four free ports and, with `tls`, makes a CA in
    /// `dir/tls` and a certificate for `127.0.0.1` and `localhost`. Every node loads its
    /// plugins from `plugin_dir`: the transport `http` and the payment scheme `scheme`.
    pub fn new(
        dir: &Path,
        plugin_dir: &Path,
        scheme: &str,
        tls: bool,
    ) -> Result<DemoWorld, DemoError> {
        mkdir(dir)?;
        let mut ports = [0u16; 4];
        for p in &mut ports {
            *p = free_port()?;
        }
        let (ca, server_cert) = if tls {
            let tls_dir = dir.join("tls");
            mkdir(&tls_dir)?;
            let ca = LocalCa::create(&tls_dir, "iotp demo CA")?;
            let cert = ca.issue("server", &["127.0.0.1", "localhost"])?;
            (Some(ca), Some(cert))
        } else {
            (None, None)
        };
        Ok(DemoWorld {
            dir: dir.to_path_buf(),
            plugin_dir: plugin_dir.to_path_buf(),
            scheme: scheme.to_owned(),
            ports,
            ca,
            server_cert,
            timing: Timing::default(),
        })
    }

    /// The data directory of a node.
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The port a server listens on.
    pub fn port(&self, server: DemoServer) -> u16 {
        self.ports[server.index()]
    }

    fn secure(&self, server: DemoServer) -> bool {
        self.ca.is_some() && server != DemoServer::Merchant
    }

    /// `http(s)://127.0.0.1:PORT` of a server.
    pub fn base_url(&self, server: DemoServer) -> String {
        let scheme = if self.secure(server) { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port(server))
    }

    /// The URL whose GET starts a scenario.
    pub fn startup_url(&self, scenario: &Scenario) -> String {
        let server = if sold_by_allinone(scenario) {
            DemoServer::AllInOne
        } else {
            DemoServer::Merchant
        };
        format!("{}/pay/{}", self.base_url(server), scenario_slug(scenario))
    }

    /// The Payment Handler's `PayReqNetLocn` (what the demo pings).
    pub fn payment_handler_url(&self) -> String {
        format!(
            "{}/iotp/paymenthandler",
            self.base_url(DemoServer::PaymentHandler)
        )
    }

    fn org(&self, server: DemoServer) -> OrgConfig {
        let mut org = match server {
            DemoServer::Merchant => world::shop(),
            DemoServer::PaymentHandler => world::bank(),
            DemoServer::DeliveryHandler => world::carrier(),
            DemoServer::AllInOne => world::allinone(),
        };
        let base = format!("{}/iotp", self.base_url(server));
        for role in &mut org.roles {
            relocate(role, &base);
        }
        org
    }

    fn transport(&self, server: Option<DemoServer>) -> toml::Table {
        let trust: Vec<String> = self
            .ca
            .iter()
            .map(|ca| ca.cert_path().display().to_string())
            .collect();
        let listeners = match server {
            None => json!([]),
            Some(s) => {
                let mut listener = json!({ "addr": format!("127.0.0.1:{}", self.port(s)) });
                if let (true, Some(cert)) = (self.secure(s), &self.server_cert) {
                    listener["tls"] = json!({
                        "cert": cert.cert.display().to_string(),
                        "key": cert.key.display().to_string(),
                    });
                }
                json!([listener])
            }
        };
        let sells = matches!(server, Some(DemoServer::Merchant | DemoServer::AllInOne));
        let document = json!({
            "listeners": listeners,
            "startup_paths": if sells { json!(["/pay"]) } else { json!([]) },
            "client": { "trust": trust },
        });
        serde_json::from_value(document).unwrap_or_default()
    }

    /// The configuration of a server node.
    pub fn server_config(&self, server: DemoServer) -> NodeConfig {
        let mut engine = EngineConfig::new(self.org(server));
        engine.timing = self.timing.clone();
        engine.success_net_locn = Some(format!("{}/thanks", self.base_url(server)));
        let mut offers = std::collections::BTreeMap::new();
        match server {
            DemoServer::Merchant => {
                engine.partners = vec![
                    self.org(DemoServer::PaymentHandler),
                    self.org(DemoServer::DeliveryHandler),
                ];
                for s in harness::scenarios() {
                    let t = &s.transaction;
                    if sold_by_allinone(&s)
                        || matches!(
                            t,
                            TransactionType::BaselineInquiry | TransactionType::BaselinePing
                        )
                    {
                        continue;
                    }
                    offers.insert(scenario_slug(&s), harness::demo_offer(t, s.variant, 1));
                }
            }
            DemoServer::AllInOne => {
                for s in harness::scenarios().iter().filter(|s| sold_by_allinone(s)) {
                    offers.insert(
                        scenario_slug(s),
                        harness::demo_offer(&s.transaction, s.variant, 1),
                    );
                }
            }
            DemoServer::PaymentHandler | DemoServer::DeliveryHandler => {}
        }
        let needs_scheme = server != DemoServer::DeliveryHandler;
        NodeConfig {
            node: NodeSection {
                name: server.name().into(),
                data_dir: self.node_dir(server.name()),
                senders: 4,
                memory_store: false,
                engines: 8,
            },
            engine,
            plugins: PluginsSection {
                dir: Some(self.plugin_dir.clone()),
                scheme: needs_scheme.then(|| self.scheme.clone()),
                transport: Some("http".into()),
            },
            transport: self.transport(Some(server)),
            merchant: MerchantSection { offers },
            consumer: ConsumerSection::default(),
        }
    }

    /// Writes a server's configuration to `<dir>/<name>/node.toml` and returns the path.
    pub fn write_server_config(&self, server: DemoServer) -> Result<PathBuf, DemoError> {
        let dir = self.node_dir(server.name());
        mkdir(&dir)?;
        let path = dir.join("node.toml");
        let text = self.server_config(server).to_toml()?;
        std::fs::write(&path, text).map_err(|source| DemoError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The Consumer's configuration (Jane, `Consumer:jane/shop.example`), its data under
    /// `<dir>/consumer`; `memory_store` keeps its store in memory (benchmarks).
    pub fn consumer_config(&self, senders: usize, memory_store: bool) -> NodeConfig {
        let mut engine = EngineConfig::new(world::consumer());
        engine.timing = self.timing.clone();
        NodeConfig {
            node: NodeSection {
                name: "consumer".into(),
                data_dir: self.node_dir("consumer"),
                senders,
                memory_store,
                engines: 8,
            },
            engine,
            plugins: PluginsSection {
                dir: Some(self.plugin_dir.clone()),
                scheme: Some(self.scheme.clone()),
                transport: Some("http".into()),
            },
            transport: self.transport(None),
            merchant: MerchantSection::default(),
            consumer: ConsumerSection::default(),
        }
    }
}

/// Points an endpoint of the in-process world at `base` (`…/iotp`).
fn relocate(role: &mut RoleEndpoint, base: &str) {
    let path = role.role.to_ascii_lowercase();
    if role.net_locn.is_some() {
        role.net_locn = Some(format!("{base}/{path}"));
    }
    if role.cancel_net_locn.is_some() {
        role.cancel_net_locn = Some(format!("{base}/cancelled"));
    }
    if role.error_net_locn.is_some() {
        role.error_net_locn = Some(format!("{base}/error"));
    }
    if role.error_log_net_locn.is_some() {
        role.error_log_net_locn = Some(format!("{base}/errorlog"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_reads_back_and_every_scenario_has_an_offer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = DemoWorld::new(dir.path(), dir.path(), "mock", true).expect("world");
        for server in DemoServer::ALL {
            let path = world.write_server_config(server).expect("write");
            let config = NodeConfig::from_file(&path).expect("reads back");
            let secure = config.engine.org.roles[0]
                .net_locn
                .as_deref()
                .is_some_and(|l| l.starts_with("https://127.0.0.1:"));
            assert_eq!(secure, server != DemoServer::Merchant, "{server:?}");
        }
        let merchant = world.server_config(DemoServer::Merchant);
        let allinone = world.server_config(DemoServer::AllInOne);
        for s in harness::scenarios() {
            if matches!(
                s.transaction,
                TransactionType::BaselineInquiry | TransactionType::BaselinePing
            ) {
                continue;
            }
            let slug = scenario_slug(&s);
            let seller = if sold_by_allinone(&s) {
                &allinone
            } else {
                &merchant
            };
            assert!(seller.merchant.offers.contains_key(&slug), "{slug}");
            assert!(world.startup_url(&s).ends_with(&format!("/pay/{slug}")));
        }
        assert_eq!(
            scenario_slug(&inquiry_purchase()),
            "purchase-brand-independent-payment-only"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("brand-independent, payment with delivery (DelivAndPayResp)"),
            "brand-independent-payment-with-delivery-delivandpayresp"
        );
        assert_eq!(slug("  --a__B  c--"), "a-b-c");
        assert_eq!(slug("é"), "");
    }
}
