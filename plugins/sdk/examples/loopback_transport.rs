//! A transport plugin that needs no network: the smallest real transport, used by the SDK's
//! tests.
//!
//! - `send` to `loop:<anything>` answers `<net location> <message>`; any other net location
//!   is refused as a bad argument; the message `down` fails as a broken connection.
//! - `serve` starts a server thread that hands the config (as if it were a message received)
//!   to the host's handler, and writes the reply to the host's log from that thread, through
//!   the host context; it returns once the server thread is done.

use iotp::payapi::{BridgeHost, LogLevel};
use iotp_plugin_sdk::{Host, ServeHandler, Transport, TransportError};

/// The transport.
#[derive(Debug)]
pub struct Loopback;

impl Transport for Loopback {
    const SERVES: bool = true;

    fn send(
        &self,
        host: &Host<'_>,
        net_location: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        if !net_location.starts_with("loop:") {
            return Err(TransportError::BadArgument(format!(
                "{net_location} is not a loop: net location"
            )));
        }
        if message == b"down" {
            return Err(TransportError::Io("the loop is down".into()));
        }
        host.log(LogLevel::Debug, &format!("send to {net_location}"));
        let mut reply = format!("{net_location} ").into_bytes();
        reply.extend_from_slice(message);
        Ok(reply)
    }

    fn serve(
        &self,
        _host: &Host<'_>,
        config: &[u8],
        handler: ServeHandler,
    ) -> Result<(), TransportError> {
        let message = config.to_vec();
        let server = std::thread::spawn(move || {
            let reply = handler.handle(&message);
            let line = match reply {
                Ok(reply) => format!("served: {}", String::from_utf8_lossy(&reply)),
                Err(e) => format!("serve failed: {e}"),
            };
            handler.host().log(LogLevel::Info, &line);
        });
        server
            .join()
            .map_err(|_| TransportError::Internal("the server thread panicked".into()))
    }
}

iotp_plugin_sdk::export_transport!(Loopback, Loopback, name = c"loopback", version = c"0.1.0");
