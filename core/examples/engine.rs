//! A Merchant and a Consumer engine talking through a loop that stands in for HTTP: the
//! brand-independent purchase of the demo, paid with the mock scheme. Run:
//! `cargo run -p iotp --example engine`.

use std::sync::Arc;

use iotp::msg::codes::TransactionType;
use iotp::payapi::mock::MockScheme;
use iotp::store::MemoryStore;
use iotp::txn::harness::{demo_offer, world};
use iotp::txn::{Destination, Engine, EngineConfig, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = || {
        Arc::new(MockScheme::new(Some(
            "https://pay.example/iotp/paymenthandler",
        )))
    };
    let mut merchant_cfg = EngineConfig::new(world::shop());
    merchant_cfg.partners = vec![world::bank()];
    let mut merchant = Engine::new(merchant_cfg, Arc::new(MemoryStore::new())).with_bridge(mock());
    let mut bank = Engine::new(
        EngineConfig::new(world::bank()),
        Arc::new(MemoryStore::new()),
    )
    .with_bridge(mock());
    let mut consumer = Engine::new(
        EngineConfig::new(world::consumer()),
        Arc::new(MemoryStore::new()),
    )
    .with_bridge(mock());

    let now = 1_795_046_400_000; // Unix milliseconds
    let offer = demo_offer(
        &TransactionType::BaselinePurchase,
        "brand-independent, payment only",
        1,
    );
    // The Merchant's first message answers the Consumer's start-up request (RFC 2935).
    let mut inbox = merchant.start_offer(offer, now)?.messages;
    while let Some(message) = inbox.pop() {
        let out = consumer.receive(&message.xml, now);
        for e in &out.events {
            if let Event::Finished(o) = e {
                println!(
                    "{}: {} {:?}",
                    o.trans_type,
                    o.process_state,
                    o.receipts.first().map(|r| &r.parts)
                );
            }
        }
        for request in out.messages {
            // A new request from the Consumer: POST it to the net location it names.
            let Destination::NetLocn(url) = &request.to else {
                continue;
            };
            let server = if url.starts_with("https://pay.example/") {
                &mut bank
            } else {
                &mut merchant
            };
            // The server's Destination::Reply messages are the HTTP response.
            inbox.extend(
                server
                    .receive(&request.xml, now)
                    .messages
                    .into_iter()
                    .filter(|m| m.to == Destination::Reply),
            );
        }
    }
    Ok(())
}
