//! What a node needs to know about itself and its partners.

use serde::{Deserialize, Serialize};

use crate::msg::codes::Flag;
use crate::msg::codes::TradingRole;
use crate::msg::model::{Organisation, PostalAddress, TradingRoleElement};

use super::build::Ids;

/// One trading role an organisation plays, with where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleEndpoint {
    /// The role (wire spelling: `Merchant`, `PaymentHandler`, `DeliveryHandler`, `CustCare`,
    /// `Consumer`, `DelivTo`).
    pub role: String,
    /// `IotpMsgIdPrefix` (§3.4.1): `M` for a Merchant, `C` for a Consumer, e.g. `P`, `D` else.
    pub msg_id_prefix: String,
    /// Where the role receives requests: the Merchant's `SenderNetLocn`, the Payment Handler's
    /// `PayReqNetLocn`, the Delivery Handler's `DelivReqNetLocn`. Secure when it starts with
    /// `https:`.
    #[serde(default)]
    pub net_locn: Option<String>,
    /// `CancelNetLocn`.
    #[serde(default)]
    pub cancel_net_locn: Option<String>,
    /// `ErrorNetLocn`.
    #[serde(default)]
    pub error_net_locn: Option<String>,
    /// `ErrorLogNetLocn`.
    #[serde(default)]
    pub error_log_net_locn: Option<String>,
}

impl RoleEndpoint {
    /// The role as a code.
    pub fn trading_role(&self) -> TradingRole {
        TradingRole::from_wire(&self.role)
    }

    /// The net location pair (insecure, secure) for this endpoint.
    pub fn net_locn_pair(&self) -> (Option<String>, Option<String>) {
        match &self.net_locn {
            Some(l) if l.starts_with("https:") => (None, Some(l.clone())),
            Some(l) => (Some(l.clone()), None),
            None => (None, None),
        }
    }
}

/// An organisation (§7.6) as configured: this node's own, or a partner's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgConfig {
    /// `OrgId`: a domain name, or `Consumer:…` for a consumer.
    pub org_id: String,
    /// `LegalName`.
    #[serde(default)]
    pub legal_name: Option<String>,
    /// `ShortDesc`.
    pub short_desc: String,
    /// The roles it plays.
    pub roles: Vec<RoleEndpoint>,
    /// The address of its legal location (§7.6.5; expected of every organisation but a
    /// Consumer's).
    #[serde(default)]
    pub legal_address: Option<Address>,
}

/// A postal address (§7.6.5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// First line.
    #[serde(default)]
    pub address_line1: Option<String>,
    /// City or town.
    #[serde(default)]
    pub city_or_town: Option<String>,
    /// State or region.
    #[serde(default)]
    pub state_or_region: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Country (ISO 3166 code).
    #[serde(default)]
    pub country: Option<String>,
}

impl OrgConfig {
    /// A Consumer (`OrgId` `Consumer:…`, §7.6): the one role, message ID prefix `C`, no net
    /// locations (the Consumer is the client).
    pub fn consumer(org_id: &str, name: &str) -> OrgConfig {
        OrgConfig {
            org_id: org_id.into(),
            legal_name: None,
            short_desc: name.into(),
            roles: vec![RoleEndpoint {
                role: "Consumer".into(),
                msg_id_prefix: "C".into(),
                net_locn: None,
                cancel_net_locn: None,
                error_net_locn: None,
                error_log_net_locn: None,
            }],
            legal_address: None,
        }
    }

    /// The endpoint of a role, if the organisation plays it.
    pub fn endpoint(&self, role: &TradingRole) -> Option<&RoleEndpoint> {
        self.roles.iter().find(|r| &r.trading_role() == role)
    }

    /// True when the organisation plays the role.
    pub fn plays(&self, role: &TradingRole) -> bool {
        self.endpoint(role).is_some()
    }

    /// The Organisation component, with fresh IDs.
    pub(crate) fn to_component(&self, ids: &mut Ids, lang: &str) -> Organisation {
        let id = ids.next();
        Organisation {
            id,
            lang: lang.into(),
            org_id: self.org_id.clone(),
            legal_name: self.legal_name.clone(),
            short_desc: Some(self.short_desc.clone()),
            logo_net_locn: None,
            trading_roles: self
                .roles
                .iter()
                .map(|r| TradingRoleElement {
                    id: ids.next(),
                    trading_role: r.trading_role(),
                    iotp_msg_id_prefix: r.msg_id_prefix.clone(),
                    cancel_net_locn: r.cancel_net_locn.clone(),
                    error_net_locn: r.error_net_locn.clone(),
                    error_log_net_locn: r.error_log_net_locn.clone(),
                })
                .collect(),
            postal_address: self.legal_address.as_ref().map(|a| PostalAddress {
                lang: Some(lang.into()),
                address_line1: a.address_line1.clone(),
                city_or_town: a.city_or_town.clone(),
                state_or_region: a.state_or_region.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                legal_location: Flag::True,
                ..PostalAddress::default()
            }),
            ..Organisation::default()
        }
    }
}

/// Retransmission and time-outs (§4.5.4), in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Wait this long for a response before sending a request again.
    pub retransmit_after_secs: u32,
    /// Send a request at most this many times in all; then time the transaction out.
    pub max_transmissions: u32,
    /// A server role gives up on a transaction when the Consumer's next message does not come
    /// within this time.
    pub idle_timeout_secs: u32,
    /// `MinRetrySecs` this node asks for in its own TransientErrors.
    pub min_retry_secs: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            retransmit_after_secs: 30,
            max_transmissions: 4,
            idle_timeout_secs: 1800,
            min_retry_secs: 5,
        }
    }
}

/// The configuration of one node: the organisation it is, the partners a Merchant names in its
/// offers, language, software id, limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// This node's organisation; its `roles` are the trading roles the node plays.
    pub org: OrgConfig,
    /// A Merchant's Payment Handlers and Delivery Handlers, offered in its TPOs. The Payment
    /// Handler of a protocol is the one whose `net_locn` the bridge names, else the first.
    #[serde(default)]
    pub partners: Vec<OrgConfig>,
    /// `xml:lang` of what this node writes.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// `MsgId/@SoftwareId`: manufacturer, product, version and build (§3.3.2).
    #[serde(default = "default_software_id")]
    pub software_id: String,
    /// The Merchant's `SuccessNetLocn` (§7.1), where the Consumer goes after a success.
    #[serde(default)]
    pub success_net_locn: Option<String>,
    /// Retransmission and time-outs.
    #[serde(default)]
    pub timing: Timing,
    /// Open transactions above which new ones get `SystemBusy` (§4.5.2.3).
    #[serde(default = "default_capacity")]
    pub max_open_transactions: usize,
    /// Largest message accepted (`MsgTooLarge` above).
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
}

fn default_lang() -> String {
    "en".into()
}

fn default_software_id() -> String {
    format!("iotp-rs IOTP engine {} build 1", env!("CARGO_PKG_VERSION"))
}

fn default_capacity() -> usize {
    100_000
}

fn default_max_message() -> usize {
    4 * 1024 * 1024
}

impl EngineConfig {
    /// A configuration with defaults for everything but the organisation.
    pub fn new(org: OrgConfig) -> Self {
        EngineConfig {
            org,
            partners: Vec::new(),
            lang: default_lang(),
            software_id: default_software_id(),
            success_net_locn: None,
            timing: Timing::default(),
            max_open_transactions: default_capacity(),
            max_message_bytes: default_max_message(),
        }
    }
}
