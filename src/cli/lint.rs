//! `lint`: check Flux manifests for a wrong or missing `spec.verify` before Flux sees them.
//! Reads only files and stdin; talks to no cluster and no registry.

use clap::Args;

use crate::lint::input::read_inputs;
use crate::lint::output::{render, Format};

/// Arguments of `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// YAML files, directories (recursively, `*.yaml`/`*.yml`) or `-` for stdin.
    #[arg(required = true, value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// More files or directories with ProvenancePolicy objects (repeat).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `lint`: 0 no error findings, 1 error findings, 2 an input could not be read or parsed.
pub fn run(args: LintArgs) -> u8 {
    let read = read_inputs(&args.paths).and_then(|objects| {
        let policies = read_inputs(&args.policies)?;
        crate::lint::lint(&objects, &policies)
    });
    match read {
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_ERROR
        }
        Ok(report) => {
            print!("{}", render(&report, args.output));
            if report.has_errors() {
                super::EXIT_NOT_VERIFIED
            } else {
                super::EXIT_VERIFIED
            }
        }
    }
}
