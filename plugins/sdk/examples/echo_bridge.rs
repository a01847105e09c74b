//! A payment scheme plugin that answers `ContinueProcess` with the scheme data it was given:
//! the smallest real bridge, used by the SDK's tests and the host's call benchmark (a
//! ContinueProcess round trip through the C ABI).
//!
//! A `PayId` of `panic` makes it panic (the call must fail with `IOTP_PLUGIN_ERR_PANIC`,
//! and the host go on); `callback` makes it send a CallBack first and answer with what the
//! core said, `kv` makes it count calls in the key-value space and answer with the count.

use iotp::msg::model::PackagedContent;
use iotp::payapi::{
    ApiResult, BridgeHost, BridgeInfo, CallBack, CallBackReply, ContinueProcess, LogLevel,
    PaymentBridge, SchemeStep,
};

/// The bridge.
#[derive(Debug)]
pub struct EchoBridge;

impl PaymentBridge for EchoBridge {
    fn info(&self) -> BridgeInfo {
        BridgeInfo {
            software_id: "iotp-rs echo bridge 1.0".into(),
            protocols: vec!["x-echo".into()],
            brands: vec!["x-echocard".into()],
            auth_algorithms: Vec::new(),
        }
    }

    fn continue_process(
        &self,
        host: &dyn BridgeHost,
        request: &ContinueProcess,
    ) -> ApiResult<SchemeStep> {
        match request.pay_id.as_str() {
            "panic" => panic!("the echo bridge was asked to panic"),
            "callback" => {
                let reply = host.callback(&CallBack {
                    content_software_id: None,
                    pay_id: request.pay_id.clone(),
                    process_state: None,
                    percent_complete: Some(50),
                    completion_code: None,
                    status_desc: None,
                });
                let said = match reply {
                    CallBackReply::Continue => "continue".to_owned(),
                    CallBackReply::Cancel(code) => format!("cancel {code}"),
                    CallBackReply::Shutdown => "shutdown".to_owned(),
                };
                Ok(SchemeStep::end(vec![PackagedContent::text(said)]))
            }
            "kv" => {
                let count = host
                    .kv_get("calls")?
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                host.kv_put("calls", count.to_string().as_bytes())?;
                let first = host.kv_insert_if_absent("first", b"1")?;
                let mut random = [0u8; 2];
                host.random(&mut random);
                host.log(LogLevel::Info, "kv");
                Ok(SchemeStep::end(vec![PackagedContent::text(format!(
                    "calls={count};first={first};now={};random={random:?}",
                    host.now_unix_millis()
                ))]))
            }
            _ => Ok(SchemeStep::end(request.pay_scheme.clone())),
        }
    }
}

iotp_plugin_sdk::export_payment_bridge!(
    EchoBridge,
    EchoBridge,
    claims = c"<IotpPluginClaims xmlns='urn:iotp-rs:plugin-claims:1' \
               SoftwareId='iotp-rs echo bridge 1.0'><Role Name='Consumer'/>\
               <Role Name='PaymentHandler'/><Protocol Id='x-echo'/><Brand Id='x-echocard'/>\
               <Direction Name='Debit'/><Call Name='ContinueProcess'/></IotpPluginClaims>",
    name = c"echo-bridge",
    version = c"1.0.0",
);
