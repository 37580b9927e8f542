//! `verify`: resolve, discover and judge one or more references concurrently, print the reports.
//! A reference that is an `http(s)://` URL is a Helm chart package, judged by its `.prov`
//! against `--keyring` (as `helm verify` names it).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use futures::StreamExt;

use crate::engine::attest::require::Requirement;
use crate::engine::helm::{verify_package_url, Keyring};
use crate::engine::{
    verify_reference_with, ArtifactReport, IdentityRule, Policy, PublicKey, TrustRoot, Verdict,
};
use crate::registry::cloud::{CloudCredentials, Provider};
use crate::registry::{DockerConfig, HelmRepoOptions, ImageRef, RegistryClient, RegistryOptions};

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
    /// References: `host/repo:tag`, `host/repo@sha256:…` or `oci://host/repo:tag`; or a Helm
    /// chart package URL `https://HOST/PATH/<chart>-<version>.tgz` (its `.prov` beside it).
    #[arg(required = true, value_name = "REF")]
    pub refs: Vec<String>,
    /// OpenPGP public keys (armored or binary, e.g. Helm's `pubring.gpg`) a chart package's
    /// `.prov` must be signed with (repeat: any key in any keyring may match).
    #[arg(long = "keyring", value_name = "FILE")]
    pub keyrings: Vec<PathBuf>,
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
    /// Verify Notary Project signatures: a directory with `trustpolicy.json` and the trust
    /// store's certificates (`*.crt`, `*.pem`), the layout of the Secret Flux reads.
    #[arg(
        long = "notation-config",
        value_name = "DIR",
        conflicts_with_all = ["keys", "identity_regexps", "issuer_regexps"]
    )]
    pub notation_config: Option<PathBuf>,
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
    /// Require an attestation of this predicate type (`https://slsa.dev/provenance/v1`, or a
    /// cosign `--type` name: `slsaprovenance1`, `spdxjson`, `cyclonedx`, …), signed as the
    /// signature must be (--key or the identity flags); repeat for several.
    #[arg(long = "attestation", value_name = "TYPE")]
    pub attestation_types: Vec<String>,
    /// A CEL condition every required attestation must satisfy (over `statement`,
    /// `predicate`, `subject`, `certificate`); repeat for several (all must hold).
    #[arg(long = "attestation-condition", value_name = "EXPR")]
    pub attestation_conditions: Vec<String>,
    /// Registry credentials from this machine's cloud identity, as Flux's `spec.provider`
    /// gets them (IRSA, EKS Pod Identity or AWS keys in the environment; the GCE/GKE metadata
    /// server or GOOGLE_APPLICATION_CREDENTIALS workload identity federation; Azure workload
    /// identity), for every reference on that cloud's registry (other hosts are refused).
    #[arg(long, value_enum, value_name = "CLOUD")]
    pub provider: Option<CloudProvider>,
    /// Test only: replace the cloud endpoints with emulators on loopback (docs/cloud.md).
    #[arg(long, hide = true, value_name = "FILE")]
    pub cloud_endpoints_file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

/// The clouds of `--provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudProvider {
    /// Amazon ECR.
    Aws,
    /// Azure Container Registry.
    Azure,
    /// Google Artifact Registry and Container Registry.
    Gcp,
}

impl From<CloudProvider> for Provider {
    fn from(p: CloudProvider) -> Provider {
        match p {
            CloudProvider::Aws => Provider::Aws,
            CloudProvider::Azure => Provider::Azure,
            CloudProvider::Gcp => Provider::Gcp,
        }
    }
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
    let prepared = match prepare(&args).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_ERROR;
        }
    };
    let Prepared {
        targets,
        policy,
        trust,
        client,
        required,
        keyring,
        helm,
    } = prepared;
    let (policy, trust, required) = (Arc::new(policy), Arc::new(trust), Arc::new(required));
    let keyring = Arc::new(keyring);
    let mut reports: Vec<ArtifactReport> = futures::stream::iter(targets)
        .map(|target| {
            let (client, policy, trust, required, keyring, helm) = (
                client.clone(),
                policy.clone(),
                trust.clone(),
                required.clone(),
                keyring.clone(),
                helm.clone(),
            );
            async move {
                match target {
                    Target::Image(image) => {
                        verify_reference_with(&client, &image, &policy, &trust, &required).await
                    }
                    Target::Package(url) => {
                        let now = crate::cluster::now().0.as_second();
                        verify_package_url(&url, helm, keyring.as_ref().as_ref(), now).await
                    }
                }
            }
        })
        .buffered(args.concurrency.max(1))
        .collect()
        .await;
    if required.is_empty() {
        for r in &mut reports {
            r.suggested_attestations = super::attestations::suggested_block(&r.attestations);
        }
    }
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
    worst(
        exit_code(reports.iter().map(|r| r.verdict)),
        attested_exit_code(&reports),
    )
}

/// The exit code the `Attested` judgements call for alone (same contract as the verdicts':
/// `1` a required attestation definitely fails, `2` one could not be checked).
pub fn attested_exit_code(reports: &[ArtifactReport]) -> u8 {
    let statuses: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.attested.as_ref().map(|a| a.status))
        .collect();
    if statuses.contains(&"False") {
        super::EXIT_NOT_VERIFIED
    } else if statuses.contains(&"Unknown") {
        super::EXIT_ERROR
    } else {
        super::EXIT_VERIFIED
    }
}

/// Two exit codes combined: a definite failure (`1`) outranks could-not-tell (`2`), which
/// outranks success (`0`).
pub fn worst(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        c if c == super::EXIT_NOT_VERIFIED => 2,
        c if c == super::EXIT_ERROR => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
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

/// What one reference names.
enum Target {
    /// An OCI artifact.
    Image(ImageRef),
    /// A Helm chart package URL.
    Package(String),
}

/// Everything `verify` needs, read from the arguments once.
struct Prepared {
    targets: Vec<Target>,
    policy: Policy,
    trust: TrustRoot,
    client: RegistryClient,
    required: Vec<Requirement>,
    /// `--keyring` files, if any (else a package's signer is reported, unchecked).
    keyring: Option<Keyring>,
    helm: HelmRepoOptions,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn prepare(args: &VerifyArgs) -> Result<Prepared, String> {
    let targets = args
        .refs
        .iter()
        .map(|r| {
            if r.starts_with("https://") || r.starts_with("http://") {
                return Ok(Target::Package(r.clone()));
            }
            r.parse::<ImageRef>()
                .map(Target::Image)
                .map_err(|e| format!("{r}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = policy(args)?;
    let required =
        super::attestations::requirements(&args.attestation_types, &args.attestation_conditions)?;
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
    // The cloud's credentials first: asked for by name, they win over a Docker config's.
    if let Some(p) = args.provider {
        let cloud =
            CloudCredentials::from_process(args.cloud_endpoints_file.as_ref(), args.timeout)?;
        for image in targets.iter().filter_map(|t| match t {
            Target::Image(i) => Some(i),
            Target::Package(_) => None,
        }) {
            if opts.credentials.hosts().any(|h| h == image.registry) {
                continue;
            }
            let login = cloud
                .login(p.into(), &image.registry)
                .await
                .map_err(|e| format!("{image}: {e}"))?;
            opts.credentials.merge(login.docker_config());
        }
    }
    if let Some(path) = docker_config_path(args) {
        let bytes = read(&path)?;
        opts.credentials.merge(
            DockerConfig::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    if let Some(path) = &args.registry_ca {
        opts.extra_ca_pem = Some(read(path)?);
    }
    let helm = HelmRepoOptions {
        timeout: args.timeout,
        ca_pem: opts.extra_ca_pem.clone(),
        ..HelmRepoOptions::default()
    };
    let keyring = if args.keyrings.is_empty() {
        None
    } else {
        let files = args
            .keyrings
            .iter()
            .map(|p| Ok((p.display().to_string(), read(p)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Some(Keyring::read(&files).map_err(|e| e.to_string())?)
    };
    let client = RegistryClient::new(opts).map_err(|e| e.to_string())?;
    Ok(Prepared {
        targets,
        policy,
        trust,
        client,
        required,
        keyring,
        helm,
    })
}

fn policy(args: &VerifyArgs) -> Result<Policy, String> {
    if let Some(dir) = &args.notation_config {
        return super::notation_config::load(dir);
    }
    if !args.keys.is_empty() {
        let keys = args
            .keys
            .iter()
            .map(|path| {
                let pem = read(path)?;
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

    #[test]
    fn a_failed_attestation_fails_the_run_like_a_failed_signature() {
        use crate::engine::report::AttestedReport;
        use crate::registry::ImageRef;
        let image: ImageRef = "127.0.0.1:5000/app:v1".parse().unwrap();
        let report = |attested: Option<(&'static str, &'static str)>| {
            let mut r = ArtifactReport::error(
                &image,
                None,
                &Policy::None,
                Verdict::Verified,
                String::new(),
            );
            r.attested = attested.map(|(status, reason)| AttestedReport {
                status,
                reason,
                message: String::new(),
            });
            r
        };
        let run = |rs: &[ArtifactReport]| {
            worst(
                exit_code(rs.iter().map(|r| r.verdict)),
                attested_exit_code(rs),
            )
        };
        assert_eq!(run(&[report(None)]), 0);
        assert_eq!(run(&[report(Some(("True", "Attested")))]), 0);
        assert_eq!(run(&[report(Some(("False", "AttestationMissing")))]), 1);
        assert_eq!(run(&[report(Some(("Unknown", "ConditionError")))]), 2);
        assert_eq!(
            run(&[
                report(Some(("Unknown", "ConditionError"))),
                report(Some(("False", "AttestationInvalid")))
            ]),
            1
        );
    }
}
