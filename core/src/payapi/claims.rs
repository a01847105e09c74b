//! What a payment scheme plugin claims to do: the `IotpPluginClaims` document.
//!
//! RFC 3867 has no call that lists a bridge's brands and protocols; the host needs them before
//! any payment (to build Brand Lists and to pick a bridge) and `iotp plugin inspect` must show
//! them without running a plugin. So a plugin publishes them as a static document (the
//! descriptor's `claims` field), and the conformance kit holds the plugin to them: a claimed
//! call must work, an unclaimed one must answer `ReqNotSupp`; each test instrument must behave
//! as declared.
//!
//! ```xml
//! <IotpPluginClaims xmlns="urn:iotp-rs:plugin-claims:1" SoftwareId="Example SCCD 1.0">
//!   <Role Name="Consumer"/> <Role Name="Merchant"/> <Role Name="PaymentHandler"/>
//!   <Protocol Id="SCCD1.0"/> <Brand Id="VISA"/> <Direction Name="Debit"/>
//!   <AuthAlgorithm Name="x-example"/>
//!   <Call Name="FindAcceptedPaymentBrand"/> …
//!   <TestInstrument Id="4111…" ProcessState="CompletedOk" ExchangeRounds="0"/>
//!   <TestInstrument Id="decline-InsuffFunds" ProcessState="Failed" CompletionCode="InsuffFunds"/>
//!   <TestInstrument Id="timeout" Transient="true"/>
//! </IotpPluginClaims>
//! ```

use crate::msg::codes::{CompletionCode, PayDirection, ProcessState, Severity, TradingRole};
use crate::xml::writer::{DECLARATION, XmlWriter};
use crate::xml::{Limits, XmlElement, XmlNode, parse_tree};

use super::{ApiError, ApiErrorCode, BRIDGE_CALLS, BridgeInfo};

/// The namespace of the claims document.
pub const CLAIMS_NAMESPACE: &str = "urn:iotp-rs:plugin-claims:1";

/// An instrument the conformance kit may pay with, and what it must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestInstrument {
    /// The `PaymentInstrumentId` the Consumer's bridge offers.
    pub id: String,
    /// CompletedOk or Failed (ignored when `transient`).
    pub process_state: ProcessState,
    /// The completion code of a Failed payment.
    pub completion_code: Option<CompletionCode>,
    /// Payment Exchange rounds before the Payment Response.
    pub exchange_rounds: u32,
    /// The Payment Handler answers with a TransientError every time (a processor time-out).
    pub transient: bool,
}

/// What a plugin claims.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginClaims {
    /// `ContentSoftwareID`: manufacturer, product, version.
    pub software_id: String,
    /// The trading roles it plays (Consumer, Merchant, PaymentHandler).
    pub roles: Vec<TradingRole>,
    /// `ProtocolId`s.
    pub protocols: Vec<String>,
    /// `BrandId`s.
    pub brands: Vec<String>,
    /// Payment directions it handles.
    pub directions: Vec<PayDirection>,
    /// Authentication algorithms (`AuthNames`).
    pub auth_algorithms: Vec<String>,
    /// The RFC 3867 calls it implements (element names, as in [`BRIDGE_CALLS`]).
    pub calls: Vec<String>,
    /// Instruments for testing.
    pub test_instruments: Vec<TestInstrument>,
}

impl PluginClaims {
    /// The bridge information the engine uses.
    pub fn bridge_info(&self) -> BridgeInfo {
        BridgeInfo {
            software_id: self.software_id.clone(),
            protocols: self.protocols.clone(),
            brands: self.brands.clone(),
            auth_algorithms: self.auth_algorithms.clone(),
        }
    }

    /// True when the plugin claims the call (an RFC 3867 element name).
    pub fn claims_call(&self, name: &str) -> bool {
        self.calls.iter().any(|c| c == name)
    }

    /// The document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_capacity(1024);
        w.out.push_str(DECLARATION);
        w.open("IotpPluginClaims");
        w.attr("xmlns", CLAIMS_NAMESPACE);
        w.attr("SoftwareId", &self.software_id);
        w.close_open();
        let empty = |w: &mut XmlWriter, name: &str, attrs: &[(&str, &str)]| {
            w.open(name);
            for (n, v) in attrs {
                w.attr(n, v);
            }
            w.close_empty();
        };
        for r in &self.roles {
            empty(&mut w, "Role", &[("Name", r.as_str())]);
        }
        for p in &self.protocols {
            empty(&mut w, "Protocol", &[("Id", p)]);
        }
        for b in &self.brands {
            empty(&mut w, "Brand", &[("Id", b)]);
        }
        for d in &self.directions {
            empty(&mut w, "Direction", &[("Name", d.as_str())]);
        }
        for a in &self.auth_algorithms {
            empty(&mut w, "AuthAlgorithm", &[("Name", a)]);
        }
        for c in &self.calls {
            empty(&mut w, "Call", &[("Name", c)]);
        }
        for t in &self.test_instruments {
            let rounds = t.exchange_rounds.to_string();
            let mut attrs = vec![
                ("Id", t.id.as_str()),
                ("ProcessState", t.process_state.as_str()),
            ];
            if let Some(c) = &t.completion_code {
                attrs.push(("CompletionCode", c.as_str()));
            }
            if t.exchange_rounds > 0 {
                attrs.push(("ExchangeRounds", &rounds));
            }
            if t.transient {
                attrs.push(("Transient", "true"));
            }
            empty(&mut w, "TestInstrument", &attrs);
        }
        w.end("IotpPluginClaims");
        w.out
    }

    /// Reads a claims document. Unknown elements are ignored (later versions may add some);
    /// unknown calls, roles and directions are errors.
    pub fn from_xml(doc: &[u8], limits: &Limits) -> Result<Self, ApiError> {
        let bad =
            |desc: String| ApiError::new(ApiErrorCode::SyntaxError, Severity::HardError, desc);
        let root = parse_tree(doc, limits).map_err(|e| bad(format!("claims: {e}")))?;
        if root.name != "IotpPluginClaims" {
            return Err(bad(format!(
                "claims: the root is {}, not IotpPluginClaims",
                root.name
            )));
        }
        if root
            .attribute("xmlns")
            .is_some_and(|n| n != CLAIMS_NAMESPACE)
        {
            return Err(bad("claims: wrong namespace".into()));
        }
        let att = |e: &XmlElement, n: &str| -> Result<String, ApiError> {
            e.attribute(n)
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("claims: {} has no {n}", e.name)))
        };
        let mut c = PluginClaims {
            software_id: att(&root, "SoftwareId")?,
            ..PluginClaims::default()
        };
        for e in root.children.iter().filter_map(|n| match n {
            XmlNode::Element(e) => Some(e),
            XmlNode::Text(_) => None,
        }) {
            match e.name.as_str() {
                "Role" => {
                    let r = TradingRole::from_wire(&att(e, "Name")?);
                    if !r.is_known() {
                        return Err(bad(format!("claims: unknown role {r}")));
                    }
                    c.roles.push(r);
                }
                "Protocol" => c.protocols.push(att(e, "Id")?),
                "Brand" => c.brands.push(att(e, "Id")?),
                "Direction" => {
                    let d = PayDirection::from_wire(&att(e, "Name")?);
                    if !d.is_known() {
                        return Err(bad(format!("claims: unknown direction {d}")));
                    }
                    c.directions.push(d);
                }
                "AuthAlgorithm" => c.auth_algorithms.push(att(e, "Name")?),
                "Call" => {
                    let name = att(e, "Name")?;
                    if !BRIDGE_CALLS.contains(&name.as_str()) {
                        return Err(bad(format!("claims: unknown call {name}")));
                    }
                    c.calls.push(name);
                }
                "TestInstrument" => {
                    let transient = e.attribute("Transient") == Some("true");
                    let process_state = ProcessState::from_wire(
                        e.attribute("ProcessState").unwrap_or("CompletedOk"),
                    );
                    if !transient
                        && !matches!(
                            process_state,
                            ProcessState::CompletedOk | ProcessState::Failed
                        )
                    {
                        return Err(bad(format!(
                            "claims: a test instrument ends CompletedOk or Failed, not {process_state}"
                        )));
                    }
                    let completion_code =
                        e.attribute("CompletionCode").map(CompletionCode::from_wire);
                    if process_state == ProcessState::Failed
                        && completion_code.is_none()
                        && !transient
                    {
                        return Err(bad(
                            "claims: a failing test instrument needs its CompletionCode".into(),
                        ));
                    }
                    let exchange_rounds = match e.attribute("ExchangeRounds") {
                        None => 0,
                        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 64).ok_or_else(|| {
                            bad(format!("claims: ExchangeRounds {v} is not 0–64"))
                        })?,
                    };
                    c.test_instruments.push(TestInstrument {
                        id: att(e, "Id")?,
                        process_state,
                        completion_code,
                        exchange_rounds,
                        transient,
                    });
                }
                _ => {}
            }
        }
        if c.software_id.is_empty() {
            return Err(bad("claims: SoftwareId is empty".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payapi::mock::MockScheme;

    #[test]
    fn claims_round_trip_and_bad_documents_are_refused() {
        let c = MockScheme::claims();
        let xml = c.to_xml();
        assert_eq!(
            PluginClaims::from_xml(xml.as_bytes(), &Limits::default()).ok(),
            Some(c.clone())
        );
        assert_eq!(
            c.bridge_info(),
            crate::payapi::PaymentBridge::info(&MockScheme::new(None))
        );
        for bad in [
            "",
            "<x/>",
            "<IotpPluginClaims/>",
            "<IotpPluginClaims SoftwareId='a'><Call Name='Nope'/></IotpPluginClaims>",
            "<IotpPluginClaims SoftwareId='a'><Role Name='Pirate'/></IotpPluginClaims>",
            "<IotpPluginClaims SoftwareId='a'><TestInstrument Id='x' ProcessState='Failed'/></IotpPluginClaims>",
            "<IotpPluginClaims SoftwareId='a'><TestInstrument Id='x' ExchangeRounds='1000'/></IotpPluginClaims>",
        ] {
            assert!(
                PluginClaims::from_xml(bad.as_bytes(), &Limits::default()).is_err(),
                "{bad}"
            );
        }
    }
}
