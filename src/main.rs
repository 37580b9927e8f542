//! The `provenance-auditor` binary: parses arguments and hands over to [`provenance_auditor::cli`].

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = provenance_auditor::cli::Cli::parse();
    std::process::ExitCode::from(provenance_auditor::cli::run(cli).await)
}
