//! The command-line front end: argument parsing and exit codes, nothing else of substance.
//!
//! Exit codes are part of the interface: 0 = everything verified; 1 = at least one artifact is
//! definitely not verified; 2 = could not tell (usage, registry or trust-root error).

pub mod attestations;
pub mod audit;
pub mod confirm;
pub mod crds;
pub mod duration;
pub mod lint;
pub mod notation_config;
pub mod policies;
pub mod run;
pub mod table;
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
    /// Audit every Flux OCIRepository and HelmChart once, as the controller would; installs and writes nothing.
    #[command(after_help = AUDIT_HELP)]
    Audit(audit::AuditArgs),
    /// Wait until the selected Flux sources have held Ready=True for a while (the staged-rollout gate).
    #[command(after_help = CONFIRM_HELP)]
    Confirm(confirm::ConfirmArgs),
    /// Check Flux manifests for a wrong or missing spec.verify, before Flux sees them (docs/lint.md).
    #[command(after_help = LINT_HELP)]
    Lint(lint::LintArgs),
}

const AUDIT_HELP: &str = "\
Exit codes (as for verify): 0 every source is Verified=True; 1 at least one is Verified=False
(definitely not verified); 2 otherwise: some could not be told (Verified=Unknown: registry down,
authentication, not fetched by Flux yet), no source was found at all (e.g. a typo in -n), or an
error. The JSON output is described in docs/commands.md.";

const CONFIRM_HELP: &str = "\
Exit codes: 0 every selected source held Ready=True for its current generation continuously
for --for (and, with --require-verified, its SourceAudit says Verified=True for its current
revision); 1 as soon as one is Ready=False (a reconciliation halt, e.g. VerificationError) or
its SourceAudit says Verified=False; 2 on timeout, when nothing is selected, or on an error.
Progress goes to stderr every 5 s.";

const LINT_HELP: &str = "\
Exit codes: 0 no finding of severity error; 1 at least one; 2 an input could not be read or
parsed (the message names the file and line). Rules and examples: docs/lint.md.";

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Verify(args) => verify::run(args).await,
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::Crds(args) => crds::run(args),
        Command::Run(args) => run::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Confirm(args) => confirm::run(args).await,
        Command::Lint(args) => lint::run(args).await,
    }
}
