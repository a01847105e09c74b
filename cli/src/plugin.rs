//! `iotp plugin inspect PLUGIN [--json]`: what a plugin library's descriptor says (name,
//! version, kind, ABI version), read without calling any function of the plugin
//! ([`iotp_plugin_host::inspect`]).
//!
//! Exit 0 for a plugin this host can start; 1 for an IOTP plugin it cannot (a descriptor of
//! another ABI version, too small or invalid, an unknown kind, no entry point); 2 when the file
//! cannot be loaded as a plugin at all (missing, not a shared library, no descriptor).

use std::io::{self, Write};
use std::path::Path;

use iotp_plugin_host::{Descriptor, IOTP_PLUGIN_ABI_VERSION, LoadError};
use serde::Serialize;

use crate::PluginInspectArgs;
use crate::output::{self, Outcome};

/// What stands for the claims until plugins can declare them.
///
/// TODO(plugin SDK, conformance kit): ABI version 1 gives a plugin no way to declare its claims
/// (roles, brands, protocol ids, directions): the descriptor has no field for them and RFC 3867
/// has no call that returns them (the core's `BridgeInfo` is given by the host, not read from
/// the bridge). Once a way is defined (a field appended to the descriptor, readable without
/// running the plugin, is the natural one), print them here instead of this note.
const CLAIMS_UNAVAILABLE: &str =
    "not available: ABI version 1 has no way for a plugin to declare its claims yet";

/// Runs the command.
pub(crate) fn inspect(args: &PluginInspectArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let descriptor = match iotp_plugin_host::inspect(&args.plugin) {
        Ok(descriptor) => descriptor,
        Err(e) => {
            output::complain(format_args!("{e}"));
            return Ok(outcome_of(&e));
        }
    };
    if args.json {
        print_json(&args.plugin, &descriptor, out)?;
    } else {
        print_text(&args.plugin, &descriptor, out)?;
    }
    Ok(Outcome::Valid)
}

/// 2 when there is no plugin to speak of, 1 when it is one this host cannot use.
fn outcome_of(error: &LoadError) -> Outcome {
    match error {
        LoadError::Open { .. } | LoadError::NoDescriptor { .. } => Outcome::Failure,
        _ => Outcome::Invalid,
    }
}

/// The `--json` line; keys in this order.
#[derive(Debug, Serialize)]
struct DescriptorJson<'a> {
    plugin: String,
    name: &'a str,
    version: &'a str,
    kind: &'a str,
    abi_version: u32,
    host_abi_version: u32,
    /// Always null for now (see [`CLAIMS_UNAVAILABLE`]).
    claims: Option<()>,
}

fn print_json(path: &Path, descriptor: &Descriptor, out: &mut impl Write) -> io::Result<()> {
    let line = DescriptorJson {
        plugin: path.display().to_string(),
        name: &descriptor.name,
        version: &descriptor.version,
        kind: descriptor.kind.name(),
        abi_version: descriptor.abi_version,
        host_abi_version: IOTP_PLUGIN_ABI_VERSION,
        claims: None,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, output::SpacedJson);
    line.serialize(&mut ser)?;
    out.write_all(b"\n")
}

fn print_text(path: &Path, descriptor: &Descriptor, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "plugin:       {}", path.display())?;
    writeln!(out, "name:         {}", printable(&descriptor.name))?;
    writeln!(out, "version:      {}", printable(&descriptor.version))?;
    writeln!(out, "kind:         {}", descriptor.kind)?;
    writeln!(
        out,
        "ABI version:  {} (this host: {IOTP_PLUGIN_ABI_VERSION})",
        descriptor.abi_version
    )?;
    writeln!(out, "claims:       {CLAIMS_UNAVAILABLE}")
}

/// A plugin's string on one line, whatever it holds.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
