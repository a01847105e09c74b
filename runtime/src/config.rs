//! The TOML configuration of a node: who it is (the engine's [`EngineConfig`]: organisation,
//! roles, net locations, partners, time-outs, limits), where it keeps its data, which plugins
//! it loads, what its transport serves, and what its Merchant sells.
//!
//! ```toml
//! [node]
//! name = "merchant"             # for logs
//! data_dir = "var/merchant"     # iotp.db (the SQLite store) and node.log; relative paths are
//!                               # relative to the configuration file
//!
//! [engine]                      # iotp::txn::EngineConfig
//! success_net_locn = "http://127.0.0.1:8080/thanks"
//! [engine.org]
//! org_id = "shop.example"
//! short_desc = "Example Shop"
//! [[engine.org.roles]]
//! role = "Merchant"
//! msg_id_prefix = "M"
//! net_locn = "http://127.0.0.1:8080/iotp"
//! [[engine.partners]]           # the Payment Handler the offers name
//! # ...
//!
//! [plugins]
//! dir = "/usr/lib/iotp"         # default: the directory of the running executable
//! scheme = "mock"               # libiotp_scheme_mock.so
//! transport = "http"            # libiotp_transport_http.so
//!
//! [transport]                   # handed to the transport plugin's `serve`, as JSON
//! listeners = [{ addr = "127.0.0.1:8080" }]
//! startup_paths = ["/pay"]
//!
//! [merchant.offers.books]       # iotp::txn::Offer, started by GET /pay/books
//! # ...
//! ```
//!
//! Every error names the setting at fault ([`ConfigError`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iotp::txn::{EngineConfig, Offer};
use serde::{Deserialize, Serialize};

/// A node's configuration file, as read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node itself.
    pub node: NodeSection,
    /// The engine: organisation, roles, net locations, partners, time-outs and limits.
    pub engine: EngineConfig,
    /// The plugins to load.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// The transport plugin's own configuration (for `libiotp_transport_http.so`: listeners,
    /// TLS certificates and keys, startup paths, client trust anchors; see its README). Empty:
    /// the node serves nothing (a Consumer).
    #[serde(default)]
    pub transport: toml::Table,
    /// What the Merchant sells.
    #[serde(default)]
    pub merchant: MerchantSection,
    /// The Consumer's choices.
    #[serde(default)]
    pub consumer: ConsumerSection,
}

/// `[node]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// A name for logs.
    pub name: String,
    /// Where the node keeps `iotp.db` (its SQLite store, with `iotp.db.lock`, held while a node
    /// uses it) and `node.log`. Created if missing.
    pub data_dir: PathBuf,
    /// Threads that send requests to net locations (and retransmit them). Default 4.
    #[serde(default = "default_senders")]
    pub senders: usize,
    /// Keep the store in memory instead of `iotp.db` (tests and benchmarks of a Consumer only:
    /// nothing survives the process, and only the last 100 ended transactions are kept).
    /// Default false.
    #[serde(default)]
    pub memory_store: bool,
    /// Transaction engines: each owns the transactions whose IotpTransId maps to it, so that
    /// messages of different transactions are processed (and their commits grouped into one
    /// fsync) at the same time. Default 8.
    #[serde(default = "default_engines")]
    pub engines: usize,
}

fn default_senders() -> usize {
    4
}

fn default_engines() -> usize {
    8
}

/// `[plugins]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Where plugin libraries are found. Default: the directory of the running executable.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// The payment scheme: `NAME` loads `libiotp_scheme_NAME.so`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// The transport: `NAME` loads `libiotp_transport_NAME.so`.
    #[serde(default)]
    pub transport: Option<String>,
}

/// `[merchant]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSection {
    /// Offers by name: a startup request for `<startup path>/NAME` starts a transaction with
    /// this offer (its `order_identifier` gets `-<n>` appended, `n` counting from the node's
    /// start time, so that every transaction has its own order).
    #[serde(default)]
    pub offers: BTreeMap<String, Offer>,
}

/// `[consumer]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSection {
    /// The payment instrument to choose (its id, as the scheme names it); default: the first
    /// one offered.
    #[serde(default)]
    pub instrument: Option<String>,
    /// A brand to choose (`BrandId`); default: the first one offered.
    #[serde(default)]
    pub brand: Option<String>,
}

/// A configuration that cannot be used. The message names the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a node configuration (TOML syntax, a missing or unknown setting, a
    /// value of the wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file (`<string>` when parsed from a string).
        path: PathBuf,
        /// What toml says, with the setting and the line.
        message: String,
    },
    /// A setting has a value the node cannot use.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting, as a TOML path (`plugins.scheme`).
        setting: String,
        /// Why.
        message: String,
    },
}

impl NodeConfig {
    /// Reads a configuration file; relative paths in it become relative to its directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<NodeConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = NodeConfig::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Reads a configuration from a string; `origin` names it in errors.
    pub fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(text, Path::new("<string>"))
    }

    fn parse(text: &str, origin: &Path) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The configuration as TOML (what [`NodeConfig::from_toml`] reads back).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Invalid {
            setting: "(the whole configuration)".into(),
            message: e.to_string(),
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        // The transport's relative file names (certificates, keys) follow the file too.
        if !self.transport.is_empty() && !self.transport.contains_key("base_dir") {
            let base = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            };
            let absolute = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            self.transport.insert(
                "base_dir".into(),
                toml::Value::String(absolute.display().to_string()),
            );
        }
        if self.node.data_dir.is_relative() {
            self.node.data_dir = base.join(&self.node.data_dir);
        }
        if let Some(dir) = &self.plugins.dir
            && dir.is_relative()
        {
            self.plugins.dir = Some(base.join(dir));
        }
    }

    /// Checks what deserialisation cannot: names, roles, offers.
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &str, message: String| ConfigError::Invalid {
            setting: setting.into(),
            message,
        };
        if self.node.name.trim().is_empty() {
            return Err(invalid("node.name", "must not be empty".into()));
        }
        if self.node.senders == 0 || self.node.senders > 1024 {
            return Err(invalid(
                "node.senders",
                format!("{} is not between 1 and 1024", self.node.senders),
            ));
        }
        if self.node.engines == 0 || self.node.engines > 256 {
            return Err(invalid(
                "node.engines",
                format!("{} is not between 1 and 256", self.node.engines),
            ));
        }
        for (setting, name) in [
            ("plugins.scheme", &self.plugins.scheme),
            ("plugins.transport", &self.plugins.transport),
        ] {
            if let Some(name) = name
                && (name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                return Err(invalid(
                    setting,
                    format!("{name:?} is not a plugin name (letters, digits, '_' and '-')"),
                ));
            }
        }
        if self.engine.org.roles.is_empty() {
            return Err(invalid(
                "engine.org.roles",
                "the node's organisation plays no role".into(),
            ));
        }
        for (i, role) in self.engine.org.roles.iter().enumerate() {
            if !matches!(
                role.role.as_str(),
                "Merchant" | "PaymentHandler" | "DeliveryHandler" | "CustCare" | "Consumer"
            ) {
                return Err(invalid(
                    &format!("engine.org.roles[{i}].role"),
                    format!(
                        "{:?} is not Merchant, PaymentHandler, DeliveryHandler, CustCare or Consumer",
                        role.role
                    ),
                ));
            }
        }
        let merchant = self
            .engine
            .org
            .plays(&iotp::msg::codes::TradingRole::Merchant);
        for (name, offer) in &self.merchant.offers {
            let setting = format!("merchant.offers.{name}");
            if !merchant {
                return Err(invalid(&setting, "the node does not play Merchant".into()));
            }
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(invalid(
                    &setting,
                    "an offer's name is its startup path segment: letters, digits and '-'".into(),
                ));
            }
            if offer.payments.is_empty() && offer.trans_type != "BaselineAuthentication" {
                return Err(invalid(
                    &format!("{setting}.payments"),
                    "an offer other than BaselineAuthentication needs a payment".into(),
                ));
            }
        }
        Ok(())
    }

    /// The transport section as the JSON document the transport plugin's `serve` reads.
    pub fn transport_document(&self) -> Result<Vec<u8>, ConfigError> {
        serde_json::to_vec(&self.transport).map_err(|e| ConfigError::Invalid {
            setting: "transport".into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[node]
name = "ph"
data_dir = "var/ph"

[engine.org]
org_id = "pay.example"
short_desc = "Example Payments"
[[engine.org.roles]]
role = "PaymentHandler"
msg_id_prefix = "P"
net_locn = "http://127.0.0.1:1/iotp"
"#;

    #[test]
    fn minimal_configuration_reads_with_defaults() {
        let c = NodeConfig::from_toml(MINIMAL).expect("valid");
        assert_eq!(c.node.senders, 4);
        assert_eq!(c.node.engines, 8);
        assert_eq!(c.engine.timing, iotp::txn::Timing::default());
        assert!(c.transport.is_empty());
        let again = NodeConfig::from_toml(&c.to_toml().expect("toml")).expect("round trip");
        assert_eq!(again.engine, c.engine);
    }

    #[test]
    fn errors_name_the_setting() {
        let unknown = format!("{MINIMAL}\n[plugins]\nschemes = [\"mock\"]\n");
        let e = NodeConfig::from_toml(&unknown)
            .expect_err("unknown field")
            .to_string();
        assert!(e.contains("schemes"), "{e}");

        let bad_role = MINIMAL.replace("\"PaymentHandler\"", "\"Bank\"");
        let e = NodeConfig::from_toml(&bad_role)
            .expect_err("bad role")
            .to_string();
        assert!(e.starts_with("engine.org.roles[0].role:"), "{e}");

        let bad_plugin = format!("{MINIMAL}\n[plugins]\nscheme = \"../evil\"\n");
        let e = NodeConfig::from_toml(&bad_plugin)
            .expect_err("bad name")
            .to_string();
        assert!(e.starts_with("plugins.scheme:"), "{e}");

        let no_engine = MINIMAL.replace("[node]\n", "[node]\nengines = 0\n");
        assert_ne!(no_engine, MINIMAL);
        let e = NodeConfig::from_toml(&no_engine)
            .expect_err("no engine")
            .to_string();
        assert!(e.starts_with("node.engines:"), "{e}");

        let offer_without_merchant = format!(
            "{MINIMAL}\n[merchant.offers.x]\ntrans_type = \"BaselinePurchase\"\n\
             brand_dependent = false\nauthenticate_first = false\nshort_desc = \"x\"\n\
             order_identifier = \"o\"\norder_desc = \"x\"\napplicable_law = \"x\"\n\
             consumer_org_id = \"Consumer:x\"\nconsumer_name = \"x\"\npayments = []\n\
             valid_for_secs = 60\n"
        );
        let e = NodeConfig::from_toml(&offer_without_merchant)
            .expect_err("offer on a payment handler")
            .to_string();
        assert!(e.starts_with("merchant.offers.x:"), "{e}");

        let missing = MINIMAL.replace("short_desc = \"Example Payments\"\n", "");
        let e = NodeConfig::from_toml(&missing)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("short_desc"), "{e}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            format!(
                "{MINIMAL}\n[plugins]\ndir = \"lib\"\ntransport = \"http\"\n\
                 [transport]\nlisteners = []\n"
            ),
        )
        .expect("write");
        let c = NodeConfig::from_file(&path).expect("valid");
        assert_eq!(c.node.data_dir, dir.path().join("var/ph"));
        assert_eq!(c.plugins.dir, Some(dir.path().join("lib")));
        assert_eq!(
            c.transport.get("base_dir").and_then(|v| v.as_str()),
            dir.path().to_str()
        );
        let e = NodeConfig::from_file(dir.path().join("none.toml"))
            .expect_err("missing file")
            .to_string();
        assert!(e.contains("none.toml: cannot read"), "{e}");
    }
}
