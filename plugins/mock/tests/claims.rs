//! The claims the plugin publishes (`claims.xml`, compiled into its descriptor) are the mock's:
//! the file never drifts from `MockScheme::claims()`.

use iotp::payapi::claims::PluginClaims;
use iotp::payapi::mock::MockScheme;

/// `IOTP_BLESS=1 cargo test -p iotp-plugin-mock` rewrites `claims.xml` from
/// `MockScheme::claims()`.
#[test]
fn the_claims_document_is_the_mocks() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("claims.xml");
    let expected = format!("{}\n", MockScheme::claims().to_xml());
    if std::env::var_os("IOTP_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("claims.xml is writable");
    }
    let published = std::fs::read_to_string(&path).expect("claims.xml is readable");
    assert_eq!(
        published, expected,
        "claims.xml differs from MockScheme::claims().to_xml(): run with IOTP_BLESS=1"
    );
    assert_eq!(
        PluginClaims::from_xml(published.as_bytes(), &iotp::Limits::default()),
        Ok(MockScheme::claims())
    );
}
