//! `iotp bench http`: complete purchases per second over loopback HTTP; `iotp bench read`: the
//! time to read (parse and fully validate) a message, with this executable's allocator.
//!
//! For `bench http`:
//! Starts a Merchant and a Payment Handler as `iotp serve` processes (mock scheme, durable
//! SQLite stores, plain HTTP, no signatures) and runs `--concurrency` Consumers in this
//! process for `--seconds`, each paying the brand-independent, payment-only purchase (three
//! messages: startup request → TPO with Offer Response, Payment Request → Payment Response)
//! again and again. The Consumers' store is in memory: what is measured is the servers' work
//! with their durable stores, the HTTP exchanges and the Consumers' engine.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iotp::msg::codes::ProcessState;
use iotp_runtime::demo::{self, DemoServer, DemoWorld};
use iotp_runtime::{Node, NodeApps};
use serde::Serialize;

use crate::network::plugin_dir;
use crate::output::{self, Outcome};
use crate::servers;
use crate::{BenchHttpArgs, BenchReadArgs};

/// The figures.
#[derive(Debug, Serialize)]
struct BenchJson {
    seconds: f64,
    concurrency: usize,
    purchases: usize,
    failures: usize,
    purchases_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU time (user and system) per purchase of each process over the measured seconds, in
    /// ms; absent where `/proc` cannot tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_ms_per_purchase: Option<CpuJson>,
}

/// CPU time per purchase of each process, in ms.
#[derive(Debug, Serialize)]
struct CpuJson {
    payment_handler: f64,
    merchant: f64,
    /// This process: the Consumers and their HTTP client.
    consumers: f64,
}

/// The CPU time (user and system, all threads) a process has used, in seconds, from
/// `/proc/<pid>/stat` (fields 14 and 15, in the kernel's USER_HZ of 100 ticks per second).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) is in parentheses and may hold spaces: count from its end.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// [`cpu_seconds`] of the Payment Handler, the Merchant and this process.
fn cpu_now(servers: &[servers::ServerProcess]) -> Option<[f64; 3]> {
    let of = |name: &str| {
        let server = servers.iter().find(|s| s.name == name)?;
        cpu_seconds(&server.id().to_string())
    };
    Some([
        of(DemoServer::PaymentHandler.name())?,
        of(DemoServer::Merchant.name())?,
        cpu_seconds("self")?,
    ])
}

/// Runs the benchmark.
pub(crate) fn run(args: &BenchHttpArgs, out: &mut impl Write) -> io::Result<Outcome> {
    match measure(args) {
        Ok(figures) => {
            if args.json {
                output::json_line(out, &figures)?;
            } else {
                writeln!(
                    out,
                    "{} complete purchases in {:.1} s with {} consumers: {:.0} purchases/s; \
                     latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
                    figures.purchases,
                    figures.seconds,
                    figures.concurrency,
                    figures.purchases_per_second,
                    figures.p50_ms,
                    figures.p99_ms,
                    figures.max_ms,
                    figures.failures
                )?;
                if let Some(c) = &figures.cpu_ms_per_purchase {
                    writeln!(
                        out,
                        "CPU per purchase (user + system): Payment Handler {:.3} ms, Merchant \
                         {:.3} ms, Consumers {:.3} ms; {:.3} ms in all",
                        c.payment_handler,
                        c.merchant,
                        c.consumers,
                        c.payment_handler + c.merchant + c.consumers
                    )?;
                }
            }
            Ok(if figures.failures == 0 && figures.purchases > 0 {
                Outcome::Valid
            } else {
                Outcome::Invalid
            })
        }
        Err(e) => {
            output::complain(format_args!("bench http: {e}"));
            Ok(Outcome::Failure)
        }
    }
}

/// One file's reading figures.
#[derive(Debug, Serialize)]
struct ReadJson<'a> {
    file: &'a str,
    bytes: usize,
    reads: u64,
    us_per_read: f64,
    /// Problems the read reports (errors and warnings): building them is part of the work.
    errors: usize,
}

/// Runs `bench read`: each file for `--seconds` after a short warm-up.
pub(crate) fn read(args: &BenchReadArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let limits = iotp::Limits::default();
    let mut buf = Vec::new();
    for path in &args.files {
        match crate::input::read_limited(path, &limits, &mut buf) {
            Ok(None) => {}
            Ok(Some(too_large)) => {
                output::complain(format_args!("{}: {}", path.display(), too_large.message));
                return Ok(Outcome::Failure);
            }
            Err(e) => {
                output::complain_file(path, &e);
                return Ok(Outcome::Failure);
            }
        }
        let errors = iotp::Report::read(&buf, &limits).errors.len();
        let budget = Duration::from_secs(args.seconds.max(1));
        let warm_up = Instant::now();
        while warm_up.elapsed() < budget / 10 {
            std::hint::black_box(iotp::Report::read(std::hint::black_box(&buf), &limits));
        }
        let start = Instant::now();
        let mut reads = 0u64;
        // Timed in batches of 64 reads, so that reading the clock costs nothing measurable.
        while start.elapsed() < budget {
            for _ in 0..64 {
                std::hint::black_box(iotp::Report::read(std::hint::black_box(&buf), &limits));
            }
            reads += 64;
        }
        let figures = ReadJson {
            file: &path.to_string_lossy(),
            bytes: buf.len(),
            reads,
            us_per_read: start.elapsed().as_secs_f64() * 1e6 / reads as f64,
            errors,
        };
        if args.json {
            output::json_line(out, &figures)?;
        } else {
            writeln!(
                out,
                "{}: {} bytes, {:.2} us per read ({} reads, {} problems reported)",
                figures.file, figures.bytes, figures.us_per_read, figures.reads, figures.errors
            )?;
        }
    }
    Ok(Outcome::Valid)
}

fn measure(args: &BenchHttpArgs) -> Result<BenchJson, String> {
    if args.concurrency == 0 || args.seconds == 0 {
        return Err("--seconds and --concurrency must be at least 1".into());
    }
    let plugin_dir = plugin_dir(args.plugin_dir.as_deref())?;
    let temp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let world =
        DemoWorld::new(temp.path(), &plugin_dir, "mock", false).map_err(|e| e.to_string())?;
    let mut servers =
        servers::start_all(&world, &[DemoServer::PaymentHandler, DemoServer::Merchant])?;
    let consumer = Arc::new(
        Node::open(
            world.consumer_config(args.concurrency, true),
            NodeApps::default(),
        )
        .map_err(|e| format!("the Consumer: {e}"))?,
    );
    let url = world.startup_url(&demo::inquiry_purchase());

    // Warm-up: connections, caches, the servers' first SQLite pages.
    for _ in 0..args.concurrency.min(8) {
        let o = consumer
            .pay(&url, Some(Duration::from_secs(30)))
            .map_err(|e| format!("warm-up purchase: {e}"))?;
        if o.process_state != ProcessState::CompletedOk {
            return Err(format!("warm-up purchase ended {}", o.process_state));
        }
    }
    eprintln!(
        "iotp: bench http: {} consumers for {} s against {url} ...",
        args.concurrency, args.seconds
    );
    let cpu_at_start = cpu_now(&servers);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let consumer = consumer.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match consumer.pay(&url, Some(Duration::from_secs(30))) {
                        Ok(o) if o.process_state == ProcessState::CompletedOk => {
                            latencies.push(t.elapsed());
                        }
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.join().map_err(|_| "a consumer thread panicked")?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let purchases = latencies.len().max(1) as f64;
    let cpu = cpu_at_start.zip(cpu_now(&servers)).map(|(a, b)| {
        let per = |i: usize| (b[i] - a[i]) * 1000.0 / purchases;
        CpuJson {
            payment_handler: per(0),
            merchant: per(1),
            consumers: per(2),
        }
    });
    consumer.shutdown();
    servers::stop_all(&mut servers);
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    Ok(BenchJson {
        seconds: elapsed,
        concurrency: args.concurrency,
        purchases: latencies.len(),
        failures,
        purchases_per_second: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        cpu_ms_per_purchase: cpu,
    })
}
