//! The transport's own cost: `THREADS` threads each `send` 6 KB messages to a server of the
//! same process whose handler echoes them (no engine, no database), for `SECONDS`; prints
//! exchanges/s and the process's CPU time (user + system, both sides of every exchange) and
//! voluntary context switches per exchange.
//!
//! ```sh
//! cargo build --release -p iotp-transport-http --example exchanges
//! target/release/examples/exchanges target/release/libiotp_transport_http.so [THREADS] [SECONDS]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iotp_plugin_host::{ErrorStatus, HostServices, LogLevel, PluginLibrary};

/// Host services with nothing but a (silent) log.
struct Quiet;

impl HostServices for Quiet {
    fn kv_get(&self, _key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_put(&self, _key: &str, _value: &[u8]) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_insert_if_absent(&self, _key: &str, _value: &[u8]) -> Result<bool, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_delete(&self, _key: &str) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn callback(&self, _document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn now_unix_millis(&self) -> i64 {
        0
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(7);
    }
}

/// The process's CPU time (user + system, all threads) from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command (which is in parentheses): utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Voluntary context switches of the process's live threads.
fn voluntary_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let library = args
        .next()
        .ok_or("usage: exchanges PLUGIN.so [THREADS] [SECONDS]")?;
    let threads: usize = args
        .next()
        .map_or(Ok(8), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let seconds: u64 = args
        .next()
        .map_or(Ok(5), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let library = PluginLibrary::open(&library).map_err(|e| e.to_string())?;
    let services: Arc<dyn HostServices + Send + Sync> = Arc::new(Quiet);
    let server = library.start(services.clone()).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("iotp-exchanges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bound = dir.join("bound");
    let config = format!(
        r#"{{"listeners": [{{"addr": "127.0.0.1:0"}}], "bound_file": {}}}"#,
        serde_json::to_string(&bound).map_err(|e| e.to_string())?
    );
    server
        .serve(
            &Quiet,
            config.as_bytes(),
            Arc::new(|message: &[u8]| Ok(message.to_vec())),
        )
        .map_err(|e| e.to_string())?;
    let addr = std::fs::read_to_string(&bound).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    let location = format!("http://{}/", addr.trim());
    let client = Arc::new(library.start(services).map_err(|e| e.to_string())?);
    let message = Arc::new(vec![b'x'; 6_000]);
    // Warm up: connections, runtimes.
    for _ in 0..threads {
        client
            .send(&Quiet, &location, &message)
            .map_err(|e| e.to_string())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (cpu0, switches0, start) = (cpu_time(), voluntary_switches(), Instant::now());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (client, location, message) = (client.clone(), location.clone(), message.clone());
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match client.send(&Quiet, &location, &message) {
                        Ok(reply) if reply.len() == message.len() => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("a failed exchange: {:?}", other.map(|r| r.len())),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    let switches = voluntary_switches() - switches0;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| "a thread failed")?;
    }
    let (elapsed, cpu) = (start.elapsed(), cpu_time() - cpu0);
    let n = done.load(Ordering::Relaxed).max(1);
    println!(
        "{threads} threads: {:.0} exchanges/s, {:.1} µs CPU per exchange, {:.2} voluntary switches per exchange",
        n as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
        switches as f64 / n as f64
    );
    Ok(())
}
