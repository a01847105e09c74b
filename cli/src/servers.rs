//! `iotp serve`, and the server processes that `iotp demo` and `iotp bench http` start: each
//! an `iotp serve --config` child of this executable, its standard output and error in
//! `<data dir>/<node>/serve.log`, stopped with SIGTERM (SIGKILL after a grace period).

use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iotp_runtime::Node;
use iotp_runtime::demo::{DemoServer, DemoWorld};
use rustix::process::{Pid, Signal, kill_process};

use crate::ServeArgs;
use crate::output::{self, Outcome};

/// How long a server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// `iotp serve --config NODE.toml`: runs the node until SIGTERM or SIGINT, then stops it
/// cleanly (the message being processed is committed and answered; nothing new is taken).
pub(crate) fn serve(args: &ServeArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            output::complain(format_args!("serve: cannot handle signals: {e}"));
            return Ok(Outcome::Failure);
        }
    };
    let node = match Node::from_file(&args.config) {
        Ok(node) => node,
        Err(e) => {
            output::complain(format_args!("{}: {e}", args.config.display()));
            return Ok(Outcome::Failure);
        }
    };
    writeln!(
        out,
        "iotp serve: {} running (data in {}); SIGTERM or Ctrl-C stops it",
        node.name(),
        node.data_dir().display()
    )?;
    out.flush()?;
    let signal = signals.forever().next();
    node.log(
        iotp_plugin_host::LogLevel::Info,
        &format!("signal {} received: stopping", signal.unwrap_or_default()),
    );
    node.shutdown();
    writeln!(out, "iotp serve: {} stopped", node.name())?;
    Ok(Outcome::Valid)
}

/// A running `iotp serve` child.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    pub(crate) name: String,
    child: Child,
    pub(crate) log: PathBuf,
}

impl ServerProcess {
    /// The process's id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Starts `iotp serve --config CONFIG`, output to `<dir of CONFIG>/serve.log`, and waits
    /// until `port` on 127.0.0.1 accepts connections.
    pub(crate) fn start(name: &str, config: &Path, port: u16) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find iotp itself: {e}"))?;
        let log = config.with_file_name("serve.log");
        let file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start the {name} server: {e}"))?;
        let mut server = ServerProcess {
            name: name.to_owned(),
            child,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the {name} server exited ({status}) before listening: {}",
                    last_lines(&server.log)
                ));
            }
            if Instant::now() > deadline {
                server.kill();
                return Err(format!(
                    "the {name} server did not listen on port {port} within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reaps the child.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after the grace period). True when it
    /// exited cleanly with status 0.
    pub(crate) fn stop(&mut self) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        let pid = Pid::from_child(&self.child);
        if kill_process(pid, Signal::TERM).is_err() {
            self.kill();
            return false;
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        self.kill();
        false
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// The last lines of a log, for an error message.
pub(crate) fn last_lines(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    if lines.is_empty() {
        format!("(nothing in {})", path.display())
    } else {
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// Starts the given servers of a world, in order, reporting progress on standard error.
pub(crate) fn start_all(
    world: &DemoWorld,
    servers: &[DemoServer],
) -> Result<Vec<ServerProcess>, String> {
    let mut running = Vec::new();
    for &server in servers {
        let started = Instant::now();
        let config = world
            .write_server_config(server)
            .map_err(|e| e.to_string())?;
        eprint!("iotp: starting {} ... ", server.name());
        let process = ServerProcess::start(server.name(), &config, world.port(server))
            .inspect_err(|_| eprintln!("failed"))?;
        eprintln!(
            "listening on {} ({} ms)",
            world.base_url(server),
            started.elapsed().as_millis()
        );
        running.push(process);
    }
    Ok(running)
}

/// Stops servers (SIGTERM, in reverse order); false when one did not stop cleanly.
pub(crate) fn stop_all(servers: &mut [ServerProcess]) -> bool {
    let mut clean = true;
    for server in servers.iter_mut().rev() {
        if !server.stop() {
            output::complain(format_args!(
                "the {} server did not stop cleanly (see {})",
                server.name,
                server.log.display()
            ));
            clean = false;
        }
    }
    clean
}
