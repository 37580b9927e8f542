//! The command-line front end: argument parsing and exit codes, nothing else of substance.
//!
//! Exit codes are part of the interface: 0 = everything verified; 1 = at least one artifact is
//! definitely not verified; 2 = could not tell (usage, registry or trust-root error).

pub mod crds;
pub mod duration;
pub mod run;
pub mod verify;
pub mod verify_bundle;

use clap::{Parser, Subcommand};

/// Exit code: every artifact verified.
pub const EXIT_VERIFIED: u8 = 0;
/// Exit code: at least one artifact is definitely not verified.
pub const EXIT_NOT_VERIFIED: u8 = 1;
/// Exit code: could not tell (usage, registry, trust-root error).
pub const EXIT_ERROR: u8 = 2;

/// Independently audits who signed the OCI artifacts your Flux sources fetch.
#[derive(Debug, Parser)]
#[command(name = "provenance-auditor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify the cosign signatures of OCI artifacts (`host/repo:tag`, `host/repo@sha256:…`, `oci://…`).
    Verify(verify::VerifyArgs),
    /// Verify a Sigstore bundle over a file or digest (the sigstore-conformance client protocol).
    VerifyBundle(verify_bundle::VerifyBundleArgs),
    /// Print the SourceAudit and ProvenancePolicy CRDs as YAML.
    Crds(crds::CrdsArgs),
    /// Run the controller: audit every Flux OCIRepository and HelmChart, keep SourceAudits current.
    Run(run::RunArgs),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Verify(args) => verify::run(args).await,
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::Crds(args) => crds::run(args),
        Command::Run(args) => run::run(args).await,
    }
}
