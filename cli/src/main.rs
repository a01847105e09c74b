//! `iotp`: validate, format and inspect IOTP v1.0 (RFC 2801) messages from the command line,
//! run nodes (`serve`), pay (`pay`), run the demo and the HTTP benchmark.
//!
//! Exit codes, for every subcommand: 0 when every document is valid (warnings allowed), 1 when a
//! document is invalid, 2 on a usage error or an I/O error (a file that cannot be read, or
//! output that cannot be written). For `demo`: 0 when every scenario completed, 1 otherwise.
//! For `plugin inspect`: 0 for a plugin this host can start, 1 for an IOTP plugin it cannot
//! (another ABI version, a broken descriptor, a payment scheme without readable claims), 2
//! when the file is no plugin at all. For `conformance`: 0 when every required scenario
//! passes, 1 when one fails, 2 when the plugin cannot be loaded. For `serve`: 0 after a clean
//! stop, 2 when the node cannot start. For `pay`: 0 when the transaction completed, 1 when it
//! ended otherwise, 2 when it could not run. For `bench http`: 0 when every purchase completed.
//!
//! All protocol work is the core's (`iotp`); this crate reads files, chooses what to print and
//! turns outcomes into exit codes.

mod bench;
mod conformance;
mod demo;
mod input;
mod inspect;
mod network;
mod output;
mod pay;
mod plugin;
mod servers;
mod validate;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::output::Outcome;

/// mimalloc for the `iotp` executable: reading a message allocates a few hundred small strings,
/// and glibc's allocator is a quarter of a read's time (the README's figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Validate, format and inspect IOTP v1.0 (RFC 2801) messages; run nodes, pay, run the demo.
#[derive(Debug, Parser)]
#[command(name = "iotp", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check documents against the IOTP DTD and the rules of RFC 2801.
    ///
    /// Prints `FILE: valid` or `FILE: invalid` and one indented line per problem, or with
    /// `--json` one JSON object per file and line. Exit 0 when all are valid (warnings allowed),
    /// 1 when any is invalid, 2 when a file cannot be read.
    Validate(ValidateArgs),
    /// Write a message in canonical form to standard output.
    ///
    /// Prints nothing on standard output and the problems on standard error (exit 1) when the
    /// message is not valid.
    Fmt(FmtArgs),
    /// Show a document as a tree, with element references resolved.
    ///
    /// One line per element, indented by depth; each reference attribute is followed by the
    /// elements it names. Problems found by validation are listed first (exit 1 then).
    Inspect(InspectArgs),
    /// Run every demo transaction over HTTP between separate processes.
    ///
    /// Starts Merchant, Payment Handler, Delivery Handler and an all-in-one shop as `iotp
    /// serve` processes on loopback ports (SQLite stores; TLS from a local CA for the
    /// handlers), and runs one scenario per baseline transaction and per purchase variant as
    /// the Consumer, once per payment scheme plugin. With `--in-process`, between in-memory
    /// engines instead (mock scheme). Progress goes to standard error; prints a table, or with
    /// `--json` one JSON object per scenario and line. Exit 0 when every scenario ends
    /// CompletedOk, 1 otherwise, 2 when the demo cannot run.
    Demo(DemoArgs),
    /// Run a node (roles, store, plugins, transport) from its TOML configuration until SIGTERM
    /// or SIGINT.
    ///
    /// A configuration that cannot be used stops it at once with a message naming the
    /// setting (exit 2).
    Serve(ServeArgs),
    /// Pay as the Consumer: start at a Merchant's pay URL and run the transaction to its end.
    ///
    /// Prints the outcome and the receipts, or with `--json` one JSON object {"iotp_trans_id",
    /// "trans_type", "outcome", "end", "completion_code", "next_net_locn", "receipts"}. Exit 0
    /// when the transaction completed, 1 when it ended otherwise, 2 when it could not run.
    Pay(PayArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Work with plugins: shared libraries of payment schemes and transports.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Certify a payment scheme plugin: run the conformance kit's scenarios on it.
    ///
    /// Loads the plugin, reads what it claims (roles, brands, protocols, directions, calls,
    /// test instruments), plays the other roles with the real engine and runs the scenarios
    /// those claims imply. Prints a table (id, RFC sections, required or optional, result,
    /// message), or with `--json` one JSON object; `--junit FILE` also writes JUnit XML. Exit 0
    /// when every required scenario passes, 1 when one fails, 2 when the plugin cannot be
    /// loaded.
    Conformance(conformance::ConformanceArgs),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Show a plugin's descriptor (name, version, kind, ABI version) and a payment scheme's
    /// claims without running it.
    ///
    /// Reads the static descriptor the library exports, with a payment scheme's claims
    /// document (roles, protocols, brands, directions, authentication algorithms, calls, test
    /// instruments); no function of the plugin is called, so a plugin built for another ABI is
    /// never executed. Prints one `key: value` line per field, or with `--json` one JSON
    /// object. Exit 0 for a plugin this host can start, 1 for an IOTP plugin it cannot
    /// (another ABI version, a broken descriptor, no entry point, a payment scheme whose claims
    /// are missing or unreadable), 2 when the file cannot be loaded as a plugin (missing, not a
    /// shared library, no descriptor).
    Inspect(PluginInspectArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Complete purchases per second over loopback HTTP: a Merchant and a Payment Handler as
    /// `iotp serve` processes (mock scheme, durable SQLite, plain HTTP), Consumers in this
    /// process. Prints purchases/s and latency percentiles.
    Http(BenchHttpArgs),
    /// Reading speed: each file read (parsed and fully validated, as `iotp validate` does) again
    /// and again in this process for `--seconds`. Prints the mean time per read.
    Read(BenchReadArgs),
}

#[derive(Debug, Args)]
struct BenchReadArgs {
    /// The documents to read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// How long to read each file.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// One JSON line per file: {"file", "bytes", "reads", "us_per_read", "errors"}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchHttpArgs {
    /// How long to measure.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Consumers paying at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// One JSON object: {"seconds", "concurrency", "purchases", "failures",
    /// "purchases_per_second", "p50_ms", "p99_ms", "max_ms", "cpu_ms_per_purchase":
    /// {"payment_handler", "merchant", "consumers"}} (the CPU part only where /proc tells).
    /// (Without it: the figures as text, then each process's CPU time per purchase.)
    #[arg(long)]
    json: bool,
    /// Where the plugins are (default: next to this executable).
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The node's configuration (TOML).
    #[arg(long, value_name = "NODE.toml")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct PayArgs {
    /// The Merchant's pay URL (its startup request).
    #[arg(value_name = "URL")]
    url: String,
    /// Who pays and how (TOML: org_id, name, scheme, instrument, brand, trust, data_dir).
    #[arg(long, value_name = "FILE")]
    wallet: Option<PathBuf>,
    /// The brand to pay with (BrandId); default: the wallet's, else the first offered.
    #[arg(long, value_name = "B")]
    brand: Option<String>,
    /// A CA certificate (PEM) to trust for https net locations (repeatable; added to the
    /// wallet's).
    #[arg(long, value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// Give up after this many seconds (default: the engine's retransmission schedule).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// One JSON object.
    #[arg(long)]
    json: bool,
    /// Where the plugins are (default: next to this executable).
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PluginInspectArgs {
    /// One JSON object: {"plugin", "name", "version", "kind", "abi_version",
    /// "host_abi_version", "claims"}; "claims" is null for a transport, otherwise
    /// {"software_id", "roles", "protocols", "brands", "directions", "auth_algorithms",
    /// "calls", "test_instruments": [{"id", "process_state", "completion_code",
    /// "exchange_rounds", "transient"}]}.
    #[arg(long)]
    json: bool,
    /// The plugin library (a file name alone is a file of the current directory).
    #[arg(value_name = "PLUGIN")]
    plugin: PathBuf,
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Largest document accepted, in bytes; larger files are refused (MsgTooLarge) unread.
    #[arg(long, value_name = "BYTES", default_value_t = iotp::Limits::default().max_message_bytes)]
    max_size: usize,
}

impl LimitArgs {
    fn limits(&self) -> iotp::Limits {
        iotp::Limits {
            max_message_bytes: self.max_size,
            ..iotp::Limits::default()
        }
    }
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// One JSON object per file and line: {"file", "valid", "errors": [...]}.
    #[arg(long)]
    json: bool,
    /// Treat the files as the messages of one transaction and also check them together.
    #[arg(long)]
    transaction: bool,
    /// Accept any IOTP element as the root (like `xmllint --dtdvalid`), not only IotpMessage.
    #[arg(long)]
    fragment: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// The documents to check.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct FmtArgs {
    #[command(flatten)]
    limits: LimitArgs,
    /// The message to format.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct InspectArgs {
    #[command(flatten)]
    limits: LimitArgs,
    /// The document to show.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Run Consumer, Merchant, Payment and Delivery Handler in this process, between
    /// in-memory engines, instead of as processes over HTTP.
    #[arg(long)]
    in_process: bool,
    /// A payment scheme plugin to run the demo with (`mock` loads libiotp_scheme_mock.so;
    /// repeatable). Default: every scheme plugin in the plugin directory.
    #[arg(long, value_name = "NAME")]
    scheme: Vec<String>,
    /// Keep each role's database, configuration and logs under DIR/<role>/ (default: a
    /// temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the plugins are (default: next to this executable).
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
    /// One JSON object per scenario and line: {"transaction", "variant", "outcome",
    /// "messages"[, "completion_code"]}.
    #[arg(long)]
    json: bool,
    /// Write every message to DIR/NN-<transaction>-<variant>/NNN-<sender>-to-<receiver>.xml.
    #[arg(long, value_name = "DIR")]
    transcript: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                Outcome::Failure.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, &mut out),
        Command::Fmt(args) => fmt(args, &mut out),
        Command::Inspect(args) => inspect::run(args, &mut out),
        Command::Demo(args) => demo::run(args, &mut out),
        Command::Serve(args) => servers::serve(args, &mut out),
        Command::Pay(args) => pay::run(args, &mut out),
        Command::Bench(BenchCommand::Http(args)) => bench::run(args, &mut out),
        Command::Bench(BenchCommand::Read(args)) => bench::read(args, &mut out),
        Command::Plugin(PluginCommand::Inspect(args)) => plugin::inspect(args, &mut out),
        Command::Conformance(args) => conformance::run(args, &mut out),
    };
    let outcome = result.and_then(|outcome| out.flush().map(|()| outcome));
    match outcome {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            // A closed pipe (`iotp inspect big.xml | head`) is not worth a message.
            if e.kind() != io::ErrorKind::BrokenPipe {
                output::complain(format_args!("cannot write output: {e}"));
            }
            Outcome::Failure.into()
        }
    }
}

/// `iotp fmt FILE`.
fn fmt(args: &FmtArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let limits = args.limits.limits();
    let mut buf = Vec::new();
    let report = match input::read_report(&args.file, &limits, &mut buf, iotp::Report::read) {
        Ok(report) => report,
        Err(e) => {
            output::complain_file(&args.file, &e);
            return Ok(Outcome::Failure);
        }
    };
    let problems = output::problems_to_stderr(&args.file, &report.errors);
    match &report.message {
        Some(message) if report.is_valid() => {
            let xml = message.to_xml();
            out.write_all(xml.as_bytes())?;
            if !xml.ends_with('\n') {
                out.write_all(b"\n")?;
            }
            Ok(Outcome::Valid)
        }
        _ => {
            if !problems {
                output::complain(format_args!("{}: not an IOTP message", args.file.display()));
            }
            Ok(Outcome::Invalid)
        }
    }
}
