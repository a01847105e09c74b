//! The networked demo: for each payment scheme plugin, a [`DemoWorld`] of four `iotp serve`
//! processes (Merchant, Payment Handler, Delivery Handler, all-in-one shop) on loopback ports
//! with SQLite stores, TLS for the handlers, and this process as the Consumer, running every
//! demo scenario over HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use iotp::msg::codes::{
    CompletionCode, InquiryType, PayDirection, PingStatusCode, ProcessState, TransactionType,
};
use iotp::txn::harness::{self, Scenario};
use iotp::txn::{ConsumerApp, OfferSummary, PaymentOption};
use iotp_runtime::demo::{self, DemoServer, DemoWorld};
use iotp_runtime::node::{default_plugin_dir, plugin_path};
use iotp_runtime::{Node, NodeApps, NodeError, Tap, Traffic};

use crate::DemoArgs;
use crate::demo::{Run, RunResult, Transcript};
use crate::servers;

/// The Consumer's choices in the demo: the scenario's instrument when the scheme offers it,
/// else the first option.
#[derive(Debug, Default)]
pub(crate) struct DemoWallet {
    instrument: Mutex<String>,
}

impl DemoWallet {
    pub(crate) fn set(&self, instrument: &str) {
        *self
            .instrument
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = instrument.to_owned();
    }
}

impl ConsumerApp for DemoWallet {
    fn choose(
        &self,
        offer: &OfferSummary,
        direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let wanted = self
            .instrument
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        harness::PickInstrument(wanted).choose(offer, direction, options)
    }
}

/// The plugin directory (`--plugin-dir`, else next to this executable), checked to hold the
/// HTTP transport. Made absolute: the nodes' configuration files, which name it, are elsewhere.
pub(crate) fn plugin_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    let dir = given
        .map(Path::to_path_buf)
        .or_else(default_plugin_dir)
        .ok_or("cannot find the plugin directory; give --plugin-dir")?;
    let dir =
        std::path::absolute(&dir).map_err(|e| format!("--plugin-dir {}: {e}", dir.display()))?;
    let transport = plugin_path(&dir, "transport", "http");
    if !transport.is_file() {
        return Err(format!(
            "{} is missing: build the plugins with `cargo build --release --workspace` \
             (or give --plugin-dir)",
            transport.display()
        ));
    }
    Ok(dir)
}

/// The scheme plugins to run: those asked for, or every `libiotp_scheme_*` in the directory.
fn schemes(dir: &Path, asked: &[String]) -> Result<Vec<String>, String> {
    if !asked.is_empty() {
        for name in asked {
            let file = plugin_path(dir, "scheme", name);
            if !file.is_file() {
                return Err(format!("--scheme {name}: {} is missing", file.display()));
            }
        }
        return Ok(asked.to_vec());
    }
    let prefix = format!("{}iotp_scheme_", std::env::consts::DLL_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(name.strip_prefix(&prefix)?.strip_suffix(suffix)?.to_owned())
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "no payment scheme plugin (libiotp_scheme_*) in {}",
            dir.display()
        ));
    }
    Ok(found)
}

/// Whether a scheme plugin claims an authentication algorithm (read from its descriptor,
/// without running it).
fn scheme_authenticates(dir: &Path, scheme: &str) -> Result<bool, String> {
    let file = plugin_path(dir, "scheme", scheme);
    let descriptor = iotp_plugin_host::inspect(&file).map_err(|e| e.to_string())?;
    let claims = iotp_plugin_host::read_claims(&file, &descriptor).map_err(|e| e.to_string())?;
    Ok(!claims.auth_algorithms.is_empty())
}

/// Runs the networked demo.
pub(crate) fn run(args: &DemoArgs) -> Result<Vec<Run>, String> {
    let plugin_dir = plugin_dir(args.plugin_dir.as_deref())?;
    let schemes = schemes(&plugin_dir, &args.scheme)?;
    let temp;
    let root = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let mut runs = Vec::new();
    for scheme in &schemes {
        runs.extend(run_scheme(&root, &plugin_dir, scheme)?);
    }
    Ok(runs)
}

fn run_scheme(root: &Path, plugin_dir: &Path, scheme: &str) -> Result<Vec<Run>, String> {
    let world = DemoWorld::new(root, plugin_dir, scheme, true).map_err(|e| e.to_string())?;
    eprintln!("iotp: scheme {scheme}: data in {}", root.display());
    let mut servers = servers::start_all(&world, &DemoServer::ALL)?;
    let wallet = Arc::new(DemoWallet::default());
    let recorded: Arc<Mutex<Transcript>> = Arc::default();
    let tap: Tap = {
        let recorded = recorded.clone();
        let peers: Vec<(String, &'static str)> = DemoServer::ALL
            .iter()
            .map(|&s| (world.base_url(s), s.name()))
            .collect();
        Arc::new(move |t: &Traffic<'_>| {
            let peer = t
                .net_locn
                .and_then(|l| peers.iter().find(|(base, _)| l.starts_with(base.as_str())))
                .map_or("peer", |(_, name)| *name);
            let name = if t.sent {
                format!("consumer-to-{peer}")
            } else {
                format!("{peer}-to-consumer")
            };
            recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((name, Arc::from(t.xml)));
        })
    };
    let apps = NodeApps {
        consumer: Some(wallet.clone()),
        tap: Some(tap),
        ..NodeApps::default()
    };
    let consumer = Node::open(world.consumer_config(4, false), apps)
        .map_err(|e| format!("the Consumer: {e}"))?;
    let authenticates = scheme_authenticates(plugin_dir, scheme)?;
    let scenarios = harness::scenarios();
    let total = scenarios.len();
    let mut runs = Vec::new();
    for (i, scenario) in scenarios.into_iter().enumerate() {
        if !authenticates
            && (scenario.transaction == TransactionType::BaselineAuthentication
                || scenario.variant.contains("authentication"))
        {
            eprintln!(
                "iotp: [{}/{total}] {scheme}: {} / {} ... skipped",
                i + 1,
                scenario.transaction,
                scenario.variant
            );
            runs.push(Run {
                scheme: Some(scheme.to_owned()),
                scenario,
                result: Err(String::new()),
                skipped: Some(format!(
                    "{scheme} claims no authentication algorithm (RFC 3867 AuthNames)"
                )),
            });
            continue;
        }
        eprint!(
            "iotp: [{}/{total}] {scheme}: {} / {} ... ",
            i + 1,
            scenario.transaction,
            scenario.variant
        );
        let started = Instant::now();
        wallet.set(scenario.instrument);
        recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let result = run_one(&consumer, &world, &scenario)
            .map(|(outcome, completion_code)| RunResult {
                outcome,
                completion_code,
                transcript: std::mem::take(
                    &mut *recorded.lock().unwrap_or_else(PoisonError::into_inner),
                ),
            })
            .map_err(|e| e.to_string());
        match &result {
            Ok(r) => eprintln!("{} ({} ms)", r.outcome, started.elapsed().as_millis()),
            Err(e) => eprintln!("error: {e}"),
        }
        runs.push(Run {
            scheme: Some(scheme.to_owned()),
            scenario,
            result,
            skipped: None,
        });
    }
    consumer.shutdown();
    eprint!("iotp: stopping the servers ... ");
    let clean = servers::stop_all(&mut servers);
    eprintln!("{}", if clean { "done" } else { "not cleanly" });
    if !clean {
        return Err("a server did not stop cleanly".into());
    }
    Ok(runs)
}

/// Runs a scenario as the Consumer: the final state and completion code.
fn run_one(
    consumer: &Node,
    world: &DemoWorld,
    scenario: &Scenario,
) -> Result<(ProcessState, Option<CompletionCode>), NodeError> {
    match scenario.transaction {
        TransactionType::BaselineInquiry => {
            let purchase = consumer.pay(&world.startup_url(&demo::inquiry_purchase()), None)?;
            let status = consumer.inquire(&purchase.iotp_trans_id, InquiryType::Payment, None)?;
            Ok((status.process_state, status.completion_code))
        }
        TransactionType::BaselinePing => {
            let answer = consumer.ping(&world.payment_handler_url(), None)?;
            let state = if answer.code == PingStatusCode::Ok {
                ProcessState::CompletedOk
            } else {
                ProcessState::Failed
            };
            Ok((state, None))
        }
        _ => {
            let o = consumer.pay(&world.startup_url(scenario), None)?;
            Ok((o.process_state, o.completion_code))
        }
    }
}
