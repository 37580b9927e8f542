//! `lint`: check Flux manifests for a wrong or missing `spec.verify` before Flux sees them.
//! Reads only files and stdin; with `--live` it also asks each source's registry.

use std::path::PathBuf;

use clap::Args;

use crate::lint::output::{render, Format};
use crate::lint::read::{read_inputs, Limits};
use crate::registry::{DockerConfig, RegistryClient, RegistryOptions};

/// Arguments of `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// YAML files, directories (recursively, `*.yaml`/`*.yml`) or `-` for stdin.
    #[arg(required = true, value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// More files or directories with ProvenancePolicy objects (repeat).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<String>,
    /// Also resolve each source's ref in its registry and verify it against the source's own
    /// spec.verify, as source-controller will (live-would-halt, live-unverifiable).
    #[arg(long)]
    pub live: bool,
    /// Docker `config.json` with registry credentials for --live (default: none; lint never
    /// reads your ~/.docker/config.json unless told to).
    #[arg(long, value_name = "FILE", requires = "live")]
    pub registry_config: Option<PathBuf>,
    /// A registry to reach over plain HTTP with --live (loopback registries always are).
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        requires = "live"
    )]
    pub insecure_registries: Vec<String>,
    /// Timeout of each registry request with --live.
    #[arg(long, default_value = "30s", value_parser = super::duration::parse_duration)]
    pub timeout: std::time::Duration,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    /// Bytes one input file may have (larger files are not read: exit 2).
    #[arg(long, default_value_t = Limits::default().file_bytes, value_name = "BYTES")]
    pub max_file_bytes: u64,
    /// Bytes all input files together may have.
    #[arg(long, default_value_t = Limits::default().total_bytes, value_name = "BYTES")]
    pub max_total_bytes: u64,
}

/// Runs `lint`: 0 no error findings, 1 error findings, 2 an input could not be read or parsed
/// (the findings of the other inputs are still printed).
pub async fn run(args: LintArgs) -> u8 {
    let client = if args.live {
        match client(&args) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e}");
                return super::EXIT_ERROR;
            }
        }
    } else {
        None
    };
    let limits = Limits {
        file_bytes: args.max_file_bytes,
        total_bytes: args.max_total_bytes,
        ..Limits::default()
    };
    let inputs = read_inputs(&args.paths, &limits);
    let policies = read_inputs(&args.policies, &limits);
    let report = crate::lint::lint(inputs, policies, client.as_ref()).await;
    print!("{}", render(&report, args.output));
    if report.incomplete() {
        // An input we could not read may hold what decides: never "clean", never just "failed".
        super::EXIT_ERROR
    } else if report.has_errors() {
        super::EXIT_NOT_VERIFIED
    } else {
        super::EXIT_VERIFIED
    }
}

fn client(args: &LintArgs) -> Result<RegistryClient, String> {
    let mut opts = RegistryOptions {
        insecure_registries: args.insecure_registries.clone(),
        timeout: args.timeout,
        ..RegistryOptions::default()
    };
    if let Some(path) = &args.registry_config {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        opts.credentials =
            DockerConfig::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    RegistryClient::new(opts).map_err(|e| e.to_string())
}
