//! Arbitrary bytes into SCCD's ECML readers (plugins/sccd): every document kind must answer
//! with a value or a clear error, never a panic; an error never quotes a card number; what is
//! read writes back to a document that reads as the same value.
//!
//! `cargo fuzz run sccd_ecml` (nightly; `scripts/setup.sh --fuzz` installs cargo-fuzz).
#![no_main]

use iotp::msg::codes::{ContentType, Transform};
use iotp::msg::model::PackagedContent;
use iotp_scheme_sccd::ecml::{
    self, Accept, Auth, CardMessage, Challenge, ChallengeResp, EcmlError,
};
use libfuzzer_sys::fuzz_target;

/// An error text holds no run of 12 or more digits (a card number is masked).
fn clean(e: &EcmlError) {
    assert_eq!(
        iotp_scheme_sccd::card::redact(&e.0),
        e.0,
        "an error quotes a card number: {e}"
    );
}

fuzz_target!(|data: &[u8]| {
    let pc = |name: &str| PackagedContent {
        name: Some(name.into()),
        content: ContentType::Xml,
        transform: Transform::None,
        data: data.to_vec(),
    };
    match CardMessage::read(&pc(ecml::CARD)) {
        Ok(mut m) => {
            // A Payment Request's card carries no wallet id.
            m.card.id = None;
            assert_eq!(CardMessage::read(&m.packaged()), Ok(m))
        }
        Err(e) => clean(&e),
    }
    match Accept::read(&pc(ecml::ACCEPT)) {
        Ok(a) => assert_eq!(Accept::read(&a.packaged()), Ok(a)),
        Err(e) => clean(&e),
    }
    match Auth::read(&pc(ecml::AUTH)) {
        Ok(a) => assert_eq!(Auth::read(&a.packaged(ecml::AUTH)), Ok(a)),
        Err(e) => clean(&e),
    }
    match Challenge::read(&pc(ecml::CHALLENGE)) {
        Ok(c) => assert_eq!(Challenge::read(&c.packaged()), Ok(c)),
        Err(e) => clean(&e),
    }
    match ChallengeResp::read(&pc(ecml::CHALLENGE_RESP)) {
        Ok(c) => assert_eq!(ChallengeResp::read(&c.packaged()), Ok(c)),
        Err(e) => clean(&e),
    }
    match ecml::read_wallet_card(&pc(ecml::CARD)) {
        Ok((card, bill)) => {
            assert_eq!(
                ecml::read_wallet_card(&ecml::wallet_card(&card, &bill)),
                Ok((card, bill))
            )
        }
        Err(e) => clean(&e),
    }
});
