//! The claims the plugin publishes (`claims.xml`, compiled into its descriptor) are
//! `SccdScheme::claims()`: the file never drifts from the code.

use iotp::payapi::PaymentBridge;
use iotp::payapi::claims::PluginClaims;
use iotp_scheme_sccd::SccdScheme;

/// `IOTP_BLESS=1 cargo test -p iotp-plugin-sccd --test claims` rewrites `claims.xml` from
/// `SccdScheme::claims()`.
#[test]
fn the_claims_document_is_the_schemes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("claims.xml");
    let expected = format!("{}\n", SccdScheme::claims().to_xml());
    if std::env::var_os("IOTP_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("claims.xml is writable");
    }
    let published = std::fs::read_to_string(&path).expect("claims.xml is readable");
    assert_eq!(
        published, expected,
        "claims.xml differs from SccdScheme::claims().to_xml(): run with IOTP_BLESS=1"
    );
    assert_eq!(
        PluginClaims::from_xml(published.as_bytes(), &iotp::Limits::default()),
        Ok(SccdScheme::claims())
    );
    assert_eq!(SccdScheme::new().info(), SccdScheme::claims().bridge_info());
}
