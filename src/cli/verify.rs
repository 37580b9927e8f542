//! `verify`: resolve, discover and judge one or more references concurrently, print the reports.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use futures::StreamExt;

use crate::engine::{
    verify_reference, ArtifactReport, IdentityRule, Policy, PublicKey, TrustRoot, Verdict,
};
use crate::registry::{DockerConfig, ImageRef, RegistryClient, RegistryOptions};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable.
    Text,
    /// The stable JSON document described in docs/verify-json.md.
    Json,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// References: `host/repo:tag`, `host/repo@sha256:…` or `oci://host/repo:tag`.
    #[arg(required = true, value_name = "REF")]
    pub refs: Vec<String>,
    /// A PEM public key the artifact must be signed with (repeat: any may match).
    #[arg(long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
    /// In key mode, also require a verified transparency-log entry (Flux's key mode does not).
    #[arg(long)]
    pub require_tlog: bool,
    /// Keyless: regex the certificate identity (SAN) must match; pair each with an issuer regex (repeat: any pair may match).
    #[arg(
        long = "certificate-identity-regexp",
        value_name = "RE",
        conflicts_with = "keys"
    )]
    pub identity_regexps: Vec<String>,
    /// Keyless: regex the OIDC issuer must match, paired in order with --certificate-identity-regexp.
    #[arg(
        long = "certificate-oidc-issuer-regexp",
        value_name = "RE",
        conflicts_with = "keys"
    )]
    pub issuer_regexps: Vec<String>,
    /// A `trusted_root.json` (private Sigstore) instead of the embedded public-good root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Docker `config.json` / `.dockerconfigjson` with registry credentials
    /// (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json if present).
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) to trust for registry TLS.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// Timeout of each registry request.
    #[arg(long, default_value = "30s", value_parser = super::duration::parse_duration)]
    pub timeout: std::time::Duration,
    /// How many references to verify at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

/// The JSON document `verify -o json` prints.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyOutput<'a> {
    /// Always `provenance.dev/verify/v1`.
    schema: &'static str,
    results: &'a [ArtifactReport],
}

/// Runs `verify`; returns the exit code.
pub async fn run(args: VerifyArgs) -> u8 {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_ERROR;
        }
    };
    let (images, policy, trust, client) = prepared;
    let (policy, trust) = (Arc::new(policy), Arc::new(trust));
    let reports: Vec<ArtifactReport> = futures::stream::iter(images)
        .map(|image| {
            let (client, policy, trust) = (client.clone(), policy.clone(), trust.clone());
            async move { verify_reference(&client, &image, &policy, &trust).await }
        })
        .buffered(args.concurrency.max(1))
        .collect()
        .await;
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&VerifyOutput {
            schema: "provenance.dev/verify/v1",
            results: &reports,
        }) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return super::EXIT_ERROR;
            }
        },
        Output::Text => {
            for r in &reports {
                println!("{}", r.to_text());
            }
        }
    }
    exit_code(reports.iter().map(|r| r.verdict))
}

/// 0 if all verified; 1 if any is definitely not; otherwise 2 (some could not be checked).
pub fn exit_code(verdicts: impl IntoIterator<Item = Verdict>) -> u8 {
    let verdicts: Vec<Verdict> = verdicts.into_iter().collect();
    if verdicts
        .iter()
        .any(|v| *v != Verdict::Verified && !v.is_indeterminate())
    {
        super::EXIT_NOT_VERIFIED
    } else if verdicts.iter().any(|v| v.is_indeterminate()) {
        super::EXIT_ERROR
    } else {
        super::EXIT_VERIFIED
    }
}

type Prepared = (Vec<ImageRef>, Policy, TrustRoot, RegistryClient);

fn prepare(args: &VerifyArgs) -> Result<Prepared, String> {
    let images = args
        .refs
        .iter()
        .map(|r| r.parse::<ImageRef>().map_err(|e| format!("{r}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = policy(args)?;
    let trust = match &args.trusted_root {
        Some(path) => TrustRoot::from_file(path),
        None => TrustRoot::public_good(),
    }
    .map_err(|e| e.to_string())?;
    let mut opts = RegistryOptions {
        insecure_registries: args.insecure_registries.clone(),
        timeout: args.timeout,
        ..RegistryOptions::default()
    };
    if let Some(path) = docker_config_path(args) {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        opts.credentials =
            DockerConfig::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.registry_ca {
        opts.extra_ca_pem =
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
    }
    let client = RegistryClient::new(opts).map_err(|e| e.to_string())?;
    Ok((images, policy, trust, client))
}

fn policy(args: &VerifyArgs) -> Result<Policy, String> {
    if !args.keys.is_empty() {
        let keys = args
            .keys
            .iter()
            .map(|path| {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                PublicKey::from_pem(&path.display().to_string(), &pem).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Policy::Keys {
            keys,
            require_tlog: args.require_tlog,
        });
    }
    if args.identity_regexps.len() != args.issuer_regexps.len() {
        return Err(format!(
            "--certificate-identity-regexp given {} time(s) but --certificate-oidc-issuer-regexp {} time(s): give them in pairs",
            args.identity_regexps.len(),
            args.issuer_regexps.len()
        ));
    }
    if args.identity_regexps.is_empty() {
        return Ok(Policy::None);
    }
    let identities = args
        .issuer_regexps
        .iter()
        .zip(&args.identity_regexps)
        .map(|(issuer, subject)| IdentityRule::new(issuer, subject).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy::Keyless { identities })
}

fn docker_config_path(args: &VerifyArgs) -> Option<PathBuf> {
    if let Some(p) = &args.registry_config {
        return Some(p.clone());
    }
    let default = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json"),
    };
    default.exists().then_some(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_contract() {
        assert_eq!(exit_code([Verdict::Verified, Verdict::Verified]), 0);
        assert_eq!(exit_code([Verdict::Verified, Verdict::Unsigned]), 1);
        assert_eq!(
            exit_code([Verdict::Verified, Verdict::RegistryUnavailable]),
            2
        );
        // A definite failure outranks "could not tell" for another reference.
        assert_eq!(
            exit_code([Verdict::KeyMismatch, Verdict::RegistryUnavailable]),
            1
        );
        assert_eq!(exit_code([Verdict::NoPolicy]), 1);
    }
}
