//! `iotp plugin inspect PLUGIN [--json]`: what a plugin library's descriptor says (name,
//! version, kind, ABI version) and, for a payment scheme, what it claims (roles, protocols,
//! brands, directions, authentication algorithms, calls, test instruments), read without
//! calling any function of the plugin ([`iotp_plugin_host::inspect`],
//! [`iotp_plugin_host::read_claims`]).
//!
//! Exit 0 for a plugin this host can start; 1 for an IOTP plugin it cannot (a descriptor of
//! another ABI version, too small or invalid, an unknown kind, no entry point, a payment
//! scheme whose claims are missing or unreadable); 2 when the file cannot be loaded as a plugin
//! at all (missing, not a shared library, no descriptor).

use std::io::{self, Write};
use std::path::Path;

use iotp::payapi::claims::{PluginClaims, TestInstrument};
use iotp_plugin_host::{Descriptor, IOTP_PLUGIN_ABI_VERSION, LoadError, PluginKind};
use serde::Serialize;

use crate::PluginInspectArgs;
use crate::output::{self, Outcome};

/// Runs the command.
pub(crate) fn inspect(args: &PluginInspectArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let read = iotp_plugin_host::inspect(&args.plugin).and_then(|descriptor| {
        let claims = match descriptor.kind {
            PluginKind::PaymentScheme => {
                Some(iotp_plugin_host::read_claims(&args.plugin, &descriptor)?)
            }
            PluginKind::Transport => None,
        };
        Ok((descriptor, claims))
    });
    let (descriptor, claims) = match read {
        Ok(read) => read,
        Err(e) => {
            output::complain(format_args!("{e}"));
            return Ok(outcome_of(&e));
        }
    };
    if args.json {
        print_json(&args.plugin, &descriptor, claims.as_ref(), out)?;
    } else {
        print_text(&args.plugin, &descriptor, claims.as_ref(), out)?;
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
    /// A payment scheme's claims; null for a transport.
    claims: Option<ClaimsJson<'a>>,
}

/// A payment scheme's claims, as `IotpPluginClaims` has them.
#[derive(Debug, Serialize)]
struct ClaimsJson<'a> {
    software_id: &'a str,
    roles: Vec<&'a str>,
    protocols: &'a [String],
    brands: &'a [String],
    directions: Vec<&'a str>,
    auth_algorithms: &'a [String],
    calls: &'a [String],
    test_instruments: Vec<TestInstrumentJson<'a>>,
}

#[derive(Debug, Serialize)]
struct TestInstrumentJson<'a> {
    id: &'a str,
    process_state: &'a str,
    completion_code: Option<&'a str>,
    exchange_rounds: u32,
    transient: bool,
}

impl<'a> ClaimsJson<'a> {
    fn new(claims: &'a PluginClaims) -> Self {
        ClaimsJson {
            software_id: &claims.software_id,
            roles: claims.roles.iter().map(|r| r.as_str()).collect(),
            protocols: &claims.protocols,
            brands: &claims.brands,
            directions: claims.directions.iter().map(|d| d.as_str()).collect(),
            auth_algorithms: &claims.auth_algorithms,
            calls: &claims.calls,
            test_instruments: claims
                .test_instruments
                .iter()
                .map(|t| TestInstrumentJson {
                    id: &t.id,
                    process_state: t.process_state.as_str(),
                    completion_code: t.completion_code.as_ref().map(|c| c.as_str()),
                    exchange_rounds: t.exchange_rounds,
                    transient: t.transient,
                })
                .collect(),
        }
    }
}

fn print_json(
    path: &Path,
    descriptor: &Descriptor,
    claims: Option<&PluginClaims>,
    out: &mut impl Write,
) -> io::Result<()> {
    let line = DescriptorJson {
        plugin: path.display().to_string(),
        name: &descriptor.name,
        version: &descriptor.version,
        kind: descriptor.kind.name(),
        abi_version: descriptor.abi_version,
        host_abi_version: IOTP_PLUGIN_ABI_VERSION,
        claims: claims.map(ClaimsJson::new),
    };
    output::json_line(out, &line)
}

fn print_text(
    path: &Path,
    descriptor: &Descriptor,
    claims: Option<&PluginClaims>,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "plugin:       {}", path.display())?;
    writeln!(out, "name:         {}", printable(&descriptor.name))?;
    writeln!(out, "version:      {}", printable(&descriptor.version))?;
    writeln!(out, "kind:         {}", descriptor.kind)?;
    writeln!(
        out,
        "ABI version:  {} (this host: {IOTP_PLUGIN_ABI_VERSION})",
        descriptor.abi_version
    )?;
    let Some(claims) = claims else {
        return writeln!(out, "claims:       none (a transport claims nothing)");
    };
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            printable(&items.join(", "))
        }
    };
    let strings = |items: &[String]| list(items.iter().map(String::as_str).collect());
    writeln!(out, "software id:  {}", printable(&claims.software_id))?;
    writeln!(
        out,
        "roles:        {}",
        list(claims.roles.iter().map(|r| r.as_str()).collect())
    )?;
    writeln!(out, "protocols:    {}", strings(&claims.protocols))?;
    writeln!(out, "brands:       {}", strings(&claims.brands))?;
    writeln!(
        out,
        "directions:   {}",
        list(claims.directions.iter().map(|d| d.as_str()).collect())
    )?;
    writeln!(out, "auth:         {}", strings(&claims.auth_algorithms))?;
    writeln!(out, "calls:        {}", strings(&claims.calls))?;
    if claims.test_instruments.is_empty() {
        writeln!(out, "instruments:  none")?;
    }
    for instrument in &claims.test_instruments {
        writeln!(out, "instrument:   {}", instrument_line(instrument))?;
    }
    Ok(())
}

/// `ID: what the payment does`.
fn instrument_line(t: &TestInstrument) -> String {
    let outcome = if t.transient {
        "TransientError every time".to_owned()
    } else {
        let mut outcome = t.process_state.to_string();
        if let Some(code) = &t.completion_code {
            outcome.push(' ');
            outcome.push_str(code.as_str());
        }
        match t.exchange_rounds {
            0 => {}
            1 => outcome.push_str(" after 1 exchange round"),
            n => outcome.push_str(&format!(" after {n} exchange rounds")),
        }
        outcome
    };
    printable(&format!("{}: {outcome}", t.id))
}

/// A plugin's string on one line, whatever it holds.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
