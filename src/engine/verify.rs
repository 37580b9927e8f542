//! One reference verified for the CLI: resolve its digest, discover its signatures (and
//! attestations) in the registry, judge them ([`super::evaluate`]) and report.

use super::evaluate::{evaluate, registry_verdict};
use super::report::ArtifactReport;
use super::{attest, Policy, TrustRoot};
use crate::registry::{DiscoverOptions, ImageRef, RegistryClient};

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
        ..DiscoverOptions::default()
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
                // CEL conditions wait for their evaluator thread: not on an async worker.
                report.attested = Some(
                    attest::cel::off_the_async_workers(|| {
                        attest::require::judge(&pairs, incomplete.as_deref())
                    })
                    .into(),
                );
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
