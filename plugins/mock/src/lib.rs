//! The mock payment scheme ([`iotp::payapi::mock`]) as a plugin: `libiotp_scheme_mock.so`,
//! exported through the SDK. It is the scheme the in-process demo uses, behind the C ABI:
//! the same instruments (`approve`, `decline-<Code>`, `extra-round`, `timeout`), the same
//! documents, its payment state in the host's key-value space.
//!
//! **PayReqNetLocn.** The plugin's Merchant part offers no `PayReqNetLocn` (it is built with
//! `MockScheme::new(None)`): a shared library cannot know where its node's Payment Handler is.
//! The engine then takes the Payment Handler's net locations from its own configuration (the
//! organisation playing PaymentHandler: itself, or a partner), which is where they belong.
//!
//! **Claims.** `claims.xml`, next to this crate's manifest, is the descriptor's claims
//! document; a test keeps it equal to `MockScheme::claims().to_xml()`.

use iotp::payapi::mock::MockScheme;

iotp_plugin_sdk::export_payment_bridge!(
    MockScheme,
    MockScheme::new(None),
    claims = iotp_plugin_sdk::cstr!(include_str!("../claims.xml")),
);
