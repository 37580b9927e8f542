//! The verification engine: for one OCI artifact digest, who signed it and does that satisfy a
//! policy? No Kubernetes types here; the CLI and the controller are thin front ends.
//!
//! The pipeline is I/O at the ends and pure in the middle: resolve and discover signatures
//! (registry) → convert each into a [`candidate::Candidate`] → judge each against the policy
//! → aggregate into one [`Verdict`] with the evidence.

pub mod attest;
pub mod blob;
pub mod bundle;
pub mod candidate;
pub mod claims;
pub mod evidence;
pub mod flux_compat;
pub mod judge;
pub mod legacy;
pub mod policy;
pub mod regex_memo;
pub mod report;
pub mod suggest;
pub mod trust;
pub mod verdict;

use sigstore_verify::types::Sha256Hash;

use crate::registry::{DiscoverOptions, Discovery, ImageRef, RegistryClient, RegistryError};
pub use evidence::{SignatureEvidence, SignatureFormat, Signer};
pub use policy::{IdentityRule, Policy, PublicKey};
pub use report::ArtifactReport;
pub use trust::TrustRoot;
pub use verdict::Verdict;

/// Judges every signature discovered for `digest` and aggregates the verdict. Pure.
pub fn evaluate(
    discovery: &Discovery,
    digest: &str,
    policy: &Policy,
    trust: &TrustRoot,
) -> Evaluation {
    let hash = match digest
        .strip_prefix("sha256:")
        .and_then(|h| Sha256Hash::from_hex(h).ok())
    {
        Some(hash) => hash,
        None => {
            return Evaluation {
                verdict: Verdict::DigestMismatch,
                message: format!("{digest:?} is not a sha256 digest"),
                signatures: vec![],
                flux_compatibility: vec![],
                attested: None,
            }
        }
    };
    let subject = judge::Subject { digest, hash };
    let mut signatures = Vec::new();
    let converted = discovery
        .bundles
        .iter()
        .map(bundle::candidate)
        .chain(discovery.legacy.iter().map(legacy::candidate));
    for c in converted {
        signatures.push(match c {
            Ok(c) => judge::judge(&c, &subject, policy, trust),
            Err(u) => SignatureEvidence {
                location: u.location,
                format: u.format,
                signer: Signer::default(),
                ci: None,
                tlog: None,
                verdict: Verdict::SignatureInvalid,
                message: u.detail,
            },
        });
    }
    for m in &discovery.malformed {
        let format = match m.location {
            crate::registry::SignatureLocation::LegacyTag => SignatureFormat::Legacy,
            _ => SignatureFormat::Bundle,
        };
        signatures.push(SignatureEvidence {
            location: m.location,
            format,
            signer: Signer::default(),
            ci: None,
            tlog: None,
            verdict: Verdict::SignatureInvalid,
            message: m.detail.clone(),
        });
    }
    let verdict = verdict::aggregate(signatures.iter().map(|s| s.verdict));
    let message = match signatures
        .iter()
        .filter(|s| s.verdict == verdict)
        .max_by_key(|s| s.format == SignatureFormat::Bundle)
    {
        None => "no cosign signature found (referrers, sha256-<hex> tag fallback, legacy .sig tag)"
            .to_string(),
        Some(best) => format!("{} signature: {}", best.format.as_str(), best.message),
    };
    // From a discovery cut short, only a verifying signature is conclusive: whatever was not
    // read might be the one that verifies (see `Discovery::incomplete`).
    let (verdict, message) = match discovery.incomplete_summary() {
        Some(why) if verdict != Verdict::Verified => (
            Verdict::RegistryUnavailable,
            format!("signature discovery incomplete ({why}); among what was read: {message}"),
        ),
        _ => (verdict, message),
    };
    let flux_compatibility = flux_compat::notes(policy, &signatures);
    Evaluation {
        verdict,
        message,
        signatures,
        flux_compatibility,
        attested: None,
    }
}

/// The pure result of judging an artifact's signatures.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The artifact-level verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub message: String,
    /// Every signature found, with its own verdict.
    pub signatures: Vec<SignatureEvidence>,
    /// Where Flux would judge differently.
    pub flux_compatibility: Vec<flux_compat::CompatNote>,
    /// The attestations found and the `Attested` judgement, when they were judged (the
    /// verifier sets it on the combined evaluation; it is cached with the verdict).
    pub attested: Option<Box<attest::require::Attested>>,
}

/// The verdict a registry error means: never `Unsigned`.
pub fn registry_verdict(e: &RegistryError) -> Verdict {
    match e {
        RegistryError::Authentication { .. } => Verdict::AuthenticationFailed,
        _ => Verdict::RegistryUnavailable,
    }
}

/// Resolves, discovers and judges one reference: the whole pipeline for the CLI.
pub async fn verify_reference(
    client: &RegistryClient,
    image: &ImageRef,
    policy: &Policy,
    trust: &TrustRoot,
) -> ArtifactReport {
    verify(
        client,
        image,
        policy,
        trust,
        &[],
        DiscoverOptions::default(),
    )
    .await
}

/// [`verify_reference`], also reporting the attestations found and, when `requirements` are
/// given, whether they hold (`attested`); then the legacy `sha256-<hex>.att` tag is searched
/// too (one more request; bundle attestations come with the signatures' referrer listing).
pub async fn verify_reference_with(
    client: &RegistryClient,
    image: &ImageRef,
    policy: &Policy,
    trust: &TrustRoot,
    requirements: &[attest::require::Requirement],
) -> ArtifactReport {
    // The legacy `.att` tag (one more request) only when attestations are required: without
    // `--attestation`, the report lists those the signatures' referrer listing found.
    let options = DiscoverOptions {
        legacy_attestations: !requirements.is_empty(),
    };
    verify(client, image, policy, trust, requirements, options).await
}

async fn verify(
    client: &RegistryClient,
    image: &ImageRef,
    policy: &Policy,
    trust: &TrustRoot,
    requirements: &[attest::require::Requirement],
    options: DiscoverOptions,
) -> ArtifactReport {
    let digest = match client.resolve_digest(image).await {
        Ok(d) => d,
        Err(e) => {
            return ArtifactReport::error(image, None, policy, registry_verdict(&e), e.to_string())
        }
    };
    match client
        .discover_with(&image.registry, &image.repository, &digest, options)
        .await
    {
        Ok(discovery) => {
            let mut report = ArtifactReport::new(
                image,
                &digest,
                policy,
                evaluate(&discovery, &digest, policy, trust),
            );
            let found = attest::evaluate(&discovery, &digest, policy, trust);
            if !requirements.is_empty() {
                let pairs: Vec<_> = requirements.iter().map(|r| (r, found.as_slice())).collect();
                let incomplete = discovery.attestations_incomplete_summary();
                report.attested =
                    Some(attest::require::judge(&pairs, incomplete.as_deref()).into());
            }
            report.attestations = found;
            report
        }
        Err(e) => ArtifactReport::error(
            image,
            Some(&digest),
            policy,
            registry_verdict(&e),
            e.to_string(),
        ),
    }
}
