//! Engine evidence → `SourceAudit` status types (the engine has no Kubernetes or schema types).

use crate::api::attestation_status::{
    AttestationStatus, CertificateClaimsStatus, ProvenanceStatus, SbomStatus,
};
use crate::api::source_audit::{
    CiClaimsStatus, CompatibilityNote, OidcIdentity, SignatureStatus, SignerStatus,
    SuggestedVerifyStatus, TlogStatus,
};
use crate::engine::attest::{AttestationEvidence, Predicate, SbomFormat};
use crate::engine::flux_compat::CompatNote;
use crate::engine::suggest::SuggestedVerify;
use crate::engine::{Evaluation, SignatureEvidence, SignatureFormat, Verdict};

/// One signature as the status reports it.
pub fn signature(s: &SignatureEvidence) -> SignatureStatus {
    SignatureStatus {
        format: s.format.as_str().into(),
        location: s.location.to_string(),
        signer: SignerStatus {
            subject: s.signer.subject.clone(),
            issuer: s.signer.issuer.clone(),
            key_fingerprint: s.signer.key_fingerprint.clone(),
            key_hint: s.signer.key_hint.clone(),
        },
        ci: s.ci.as_ref().map(|c| CiClaimsStatus {
            source_repository: c.source_repository.clone(),
            source_repository_ref: c.source_repository_ref.clone(),
            source_repository_digest: c.source_repository_digest.clone(),
            workflow: c.workflow.clone(),
            trigger: c.trigger.clone(),
            run_invocation_uri: c.run_invocation_uri.clone(),
            build_signer_uri: c.build_signer_uri.clone(),
            build_signer_digest: c.build_signer_digest.clone(),
            runner_environment: c.runner_environment.clone(),
            source_repository_owner_uri: c.source_repository_owner_uri.clone(),
            source_repository_visibility: c.source_repository_visibility.clone(),
        }),
        tlog: s.tlog.as_ref().map(|t| TlogStatus {
            // Rekor indexes fit in i64 by a wide margin; saturate rather than wrap if not.
            log_index: i64::try_from(t.log_index).unwrap_or(i64::MAX),
            integrated_time: t.integrated_time.clone(),
        }),
        verdict: s.verdict.as_str().into(),
        message: s.message.clone(),
    }
}

/// The signatures the status lists, and how many more were found: all of them in the order
/// found when they fit in [`super::bounds::MAX_SIGNATURES`], else the ones with the verdict's
/// own reason first. Only the listed ones are converted (a hostile registry can return many
/// large ones; [`super::bounds`] cuts their fields afterwards).
pub fn listed_signatures(e: &Evaluation) -> (Vec<SignatureStatus>, Option<i64>) {
    let max = super::bounds::MAX_SIGNATURES;
    if e.signatures.len() <= max {
        return (e.signatures.iter().map(signature).collect(), None);
    }
    let decisive = e.signatures.iter().filter(|s| s.verdict == e.verdict);
    let others = e.signatures.iter().filter(|s| s.verdict != e.verdict);
    let listed: Vec<SignatureStatus> = decisive.chain(others).take(max).map(signature).collect();
    let omitted = e.signatures.len() - listed.len();
    (listed, Some(i64::try_from(omitted).unwrap_or(i64::MAX)))
}

/// The one-line signer of the signature that decided the verdict (bundles preferred, as Flux).
pub fn decisive_signer(e: &Evaluation) -> Option<String> {
    e.signatures
        .iter()
        .filter(|s| s.verdict == e.verdict)
        .max_by_key(|s| s.format == SignatureFormat::Bundle)
        .map(|s| s.signer.describe())
}

/// The suggested `spec.verify` for the signer found, if any.
pub fn suggestion(e: &Evaluation) -> Option<SuggestedVerifyStatus> {
    SuggestedVerify::from_evidence(&e.signatures).map(|s| SuggestedVerifyStatus {
        provider: s.provider.into(),
        match_oidc_identity: s
            .match_oidc_identity
            .iter()
            .map(|i| OidcIdentity {
                issuer: i.issuer.clone(),
                subject: i.subject.clone(),
            })
            .collect(),
        key_fingerprint: s.key_fingerprint.clone(),
        yaml: s.to_yaml(),
    })
}

/// A Flux compatibility note.
pub fn note(n: &CompatNote) -> CompatibilityNote {
    CompatibilityNote {
        code: n.code.into(),
        message: n.message.clone(),
    }
}

/// One attestation as the status reports it (bounded afterwards by [`super::bounds`]).
pub fn attestation(e: &AttestationEvidence) -> AttestationStatus {
    AttestationStatus {
        predicate_type: e.predicate_type.clone(),
        format: e.format.as_str().into(),
        location: e.location.to_string(),
        signer: SignerStatus {
            subject: e.signer.subject.clone(),
            issuer: e.signer.issuer.clone(),
            key_fingerprint: e.signer.key_fingerprint.clone(),
            key_hint: e.signer.key_hint.clone(),
        },
        certificate: e.certificate.as_ref().map(|c| CertificateClaimsStatus {
            issuer: c.issuer.clone(),
            build_signer_uri: c.build_signer_uri.clone(),
            build_signer_digest: c.build_signer_digest.clone(),
            runner_environment: c.runner_environment.clone(),
            source_repository_uri: c.source_repository_uri.clone(),
            source_repository_digest: c.source_repository_digest.clone(),
            source_repository_ref: c.source_repository_ref.clone(),
            source_repository_identifier: c.source_repository_identifier.clone(),
            source_repository_owner_uri: c.source_repository_owner_uri.clone(),
            source_repository_owner_identifier: c.source_repository_owner_identifier.clone(),
            build_config_uri: c.build_config_uri.clone(),
            build_config_digest: c.build_config_digest.clone(),
            build_trigger: c.build_trigger.clone(),
            run_invocation_uri: c.run_invocation_uri.clone(),
            source_repository_visibility_at_signing: c
                .source_repository_visibility_at_signing
                .clone(),
        }),
        tlog: e.tlog.as_ref().map(|t| TlogStatus {
            log_index: i64::try_from(t.log_index).unwrap_or(i64::MAX),
            integrated_time: t.integrated_time.clone(),
        }),
        provenance: match &e.predicate {
            Some(Predicate::Provenance(p)) => Some(ProvenanceStatus {
                slsa_version: p.slsa_version.clone(),
                builder_id: p.builder_id.clone(),
                build_type: p.build_type.clone(),
                source_repository: p.source_repository.clone(),
                source_commit: p.source_commit.clone(),
                source_ref: p.source_ref.clone(),
                workflow_repository: p.workflow_repository.clone(),
                workflow_path: p.workflow_path.clone(),
                workflow_ref: p.workflow_ref.clone(),
                invocation_id: p.invocation_id.clone(),
            }),
            _ => None,
        },
        sbom: match &e.predicate {
            Some(Predicate::Sbom(s)) => Some(SbomStatus {
                format: match s.format {
                    SbomFormat::Spdx => "spdx",
                    SbomFormat::Cyclonedx => "cyclonedx",
                }
                .into(),
                version: s.version.clone(),
                packages: i64::try_from(s.packages).unwrap_or(i64::MAX),
                generator: s.generator.clone(),
            }),
            _ => None,
        },
        verdict: e.verdict.as_str().into(),
        message: e.message.clone(),
    }
}

/// The attestations the status lists, and how many more were found: the verified ones first
/// (the evidence for `Attested`), then the rest in the order found; only the listed ones are
/// converted.
pub fn listed_attestations(
    evidence: &[AttestationEvidence],
) -> (Vec<AttestationStatus>, Option<i64>) {
    let max = super::bounds::MAX_ATTESTATIONS;
    let verified = evidence.iter().filter(|e| e.verdict == Verdict::Verified);
    let others = evidence.iter().filter(|e| e.verdict != Verdict::Verified);
    let listed: Vec<AttestationStatus> = if evidence.len() <= max {
        evidence.iter().map(attestation).collect()
    } else {
        verified.chain(others).take(max).map(attestation).collect()
    };
    let omitted = evidence.len() - listed.len();
    (
        listed,
        (omitted > 0).then(|| i64::try_from(omitted).unwrap_or(i64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evidence::CiClaims;
    use crate::engine::Verdict;
    use crate::registry::SignatureLocation;

    #[test]
    fn every_ci_claim_the_engine_reads_reaches_the_status() {
        let v = |s: &str| Some(s.to_string());
        let ci = CiClaims {
            source_repository: v("https://github.com/o/r"),
            runner_environment: v("self-hosted"),
            build_signer_uri: v(
                "https://github.com/o/shared/.github/workflows/w.yml@refs/heads/main",
            ),
            build_signer_digest: v("abc"),
            source_repository_owner_uri: v("https://github.com/o"),
            source_repository_visibility: v("private"),
            ..CiClaims::default()
        };
        let s = signature(&SignatureEvidence {
            location: SignatureLocation::ReferrersApi,
            format: SignatureFormat::Bundle,
            signer: Default::default(),
            ci: Some(ci),
            tlog: None,
            verdict: Verdict::Verified,
            message: String::new(),
        });
        let c = s.ci.unwrap();
        assert_eq!(c.runner_environment.as_deref(), Some("self-hosted"));
        assert_eq!(c.build_signer_digest.as_deref(), Some("abc"));
        assert_eq!(
            c.source_repository_owner_uri.as_deref(),
            Some("https://github.com/o")
        );
        assert_eq!(c.source_repository_visibility.as_deref(), Some("private"));
        assert!(c.build_signer_uri.unwrap().contains("/shared/"));
    }
}
