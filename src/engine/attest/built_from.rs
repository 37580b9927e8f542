//! What a verified provenance attestation says about where the artifact came from:
//! `github.com/org/repo@<commit>` (the status's `builtFrom`, a `-o wide` column; `verify`'s
//! longer line is `AttestationEvidence::summary`).
//!
//! The certificate's claims come first: Fulcio wrote them from the CI's OIDC token, while the
//! predicate is written by the build itself. They also name the calling repository for a
//! reusable workflow (whose predicate and signer name the called workflow's repository).
//! Only verified attestations are described: an unverified one says nothing.

use super::{AttestationEvidence, Predicate};
use crate::engine::Verdict;

/// `host/org/repo@commit` from a verified provenance attestation, if it names one.
pub fn built_from(e: &AttestationEvidence) -> Option<String> {
    let (repo, commit) = source(e)?;
    Some(match commit {
        Some(c) => format!("{repo}@{c}"),
        None => repo,
    })
}

/// The first verified provenance attestation's `builtFrom`.
pub fn first_built_from(evidence: &[AttestationEvidence]) -> Option<String> {
    evidence.iter().find_map(built_from)
}

fn provenance(e: &AttestationEvidence) -> Option<&super::Provenance> {
    match (&e.verdict, &e.predicate) {
        (Verdict::Verified, Some(Predicate::Provenance(p))) => Some(p),
        _ => None,
    }
}

fn source(e: &AttestationEvidence) -> Option<(String, Option<String>)> {
    let p = provenance(e)?;
    let cert = e.certificate.as_ref();
    let repo = cert
        .and_then(|c| c.source_repository_uri.clone())
        .or_else(|| p.source_repository.clone())?;
    let commit = cert
        .and_then(|c| c.source_repository_digest.clone())
        .or_else(|| p.source_commit.clone());
    Some((strip_scheme(&repo).to_string(), commit))
}

fn strip_scheme(uri: &str) -> &str {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    uri.split_once("://").map_or(uri, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::attest::{CertificateClaims, Provenance};
    use crate::engine::{SignatureFormat, Signer};
    use crate::registry::SignatureLocation;

    fn evidence(verdict: Verdict, cert: Option<CertificateClaims>) -> AttestationEvidence {
        AttestationEvidence {
            location: SignatureLocation::ReferrersApi,
            format: SignatureFormat::Bundle,
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            signer: Signer::default(),
            certificate: cert,
            tlog: None,
            predicate: Some(Predicate::Provenance(Provenance {
                slsa_version: "v1".into(),
                source_repository: Some("https://github.com/called/workflows".into()),
                source_commit: Some("ffff".into()),
                workflow_path: Some(".github/workflows/build.yml".into()),
                workflow_ref: Some("refs/tags/v2".into()),
                ..Provenance::default()
            })),
            verdict,
            message: String::new(),
            statement: None,
        }
    }

    fn github() -> CertificateClaims {
        CertificateClaims {
            source_repository_uri: Some("https://github.com/org/repo".into()),
            source_repository_digest: Some("0123abcd".into()),
            build_config_uri: Some(
                "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3".into(),
            ),
            build_signer_uri: Some(
                "https://github.com/called/workflows/.github/workflows/build.yml@refs/tags/v2"
                    .into(),
            ),
            runner_environment: Some("github-hosted".into()),
            ..CertificateClaims::default()
        }
    }

    #[test]
    fn the_certificate_names_the_calling_repository() {
        let e = evidence(Verdict::Verified, Some(github()));
        assert_eq!(built_from(&e).unwrap(), "github.com/org/repo@0123abcd");
    }

    #[test]
    fn a_key_signed_provenance_is_described_from_its_predicate() {
        let e = evidence(Verdict::Verified, None);
        assert_eq!(built_from(&e).unwrap(), "github.com/called/workflows@ffff");
    }

    #[test]
    fn an_unverified_attestation_says_nothing() {
        for v in [
            Verdict::IdentityMismatch,
            Verdict::Unsigned,
            Verdict::DigestMismatch,
        ] {
            let e = evidence(v, Some(github()));
            assert_eq!(built_from(&e), None);
        }
        assert_eq!(first_built_from(&[evidence(Verdict::Unsigned, None)]), None);
    }
}
