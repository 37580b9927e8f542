//! The requirement half: each reason of the `Attested` condition from evidence, and that a
//! could-not-tell is never a pass.

use serde_json::json;

use super::*;
use crate::engine::attest::CertificateClaims;
use crate::engine::claims::Claim;
use crate::engine::{SignatureFormat, Signer};
use crate::registry::SignatureLocation;

const SLSA1: &str = "https://slsa.dev/provenance/v1";

fn github(repo: &str, git_ref: &str, runner: &str) -> CertificateClaims {
    CertificateClaims {
        subject: Some(format!(
            "https://github.com/{repo}/.github/workflows/release.yml@{git_ref}"
        )),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        source_repository_uri: Some(format!("https://github.com/{repo}")),
        source_repository_ref: Some(git_ref.into()),
        build_signer_uri: Some(format!(
            "https://github.com/{repo}/.github/workflows/release.yml@{git_ref}"
        )),
        runner_environment: Some(runner.into()),
        ..CertificateClaims::default()
    }
}

fn attestation(
    predicate_type: &str,
    verdict: Verdict,
    cert: CertificateClaims,
) -> AttestationEvidence {
    AttestationEvidence {
        location: SignatureLocation::ReferrersApi,
        format: SignatureFormat::Bundle,
        predicate_type: predicate_type.into(),
        signer: Signer {
            subject: cert.subject.clone(),
            issuer: cert.issuer.clone(),
            ..Signer::default()
        },
        certificate: Some(cert),
        tlog: None,
        predicate: None,
        verdict,
        message: format!("{verdict} for the test"),
        statement: (verdict == Verdict::Verified).then(|| {
            std::sync::Arc::new(json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "app", "digest": {"sha256": "ab"}}],
                "predicateType": predicate_type,
                "predicate": {"buildDefinition": {"externalParameters": {"workflow": {"ref": "refs/tags/v1.2.3"}}}}
            }))
        }),
    }
}

fn good() -> AttestationEvidence {
    attestation(
        SLSA1,
        Verdict::Verified,
        github("org/repo", "refs/tags/v1.2.3", "github-hosted"),
    )
}

/// `gh attestation verify --repo org/repo --source-ref 'refs/tags/v*' --deny-self-hosted-runners`.
fn short_form(conditions: &[&str]) -> Requirement {
    Requirement::new(
        "policy p attestations[0]",
        "slsaprovenance1",
        CertificateRule::new([
            (Claim::SourceRepository, r"https://github\.com/org/repo"),
            (Claim::SourceRef, r"refs/tags/v.*"),
            (Claim::RunnerEnvironment, "github-hosted"),
        ])
        .unwrap(),
        conditions
            .iter()
            .map(|c| Condition::compile(c, None).unwrap())
            .collect(),
    )
}

fn attested(r: &Requirement, evidence: &[AttestationEvidence]) -> Judgement {
    judge(&[(r, evidence)], None)
}

#[test]
fn the_right_provenance_is_attested_and_one_satisfying_attestation_suffices() {
    let r = short_form(&[
        "predicate.buildDefinition.externalParameters.workflow.ref.startsWith('refs/tags/')",
    ]);
    let j = attested(&r, &[good()]);
    assert_eq!(
        (j.status, j.reason),
        (Status::True, reasons::ATTESTED),
        "{}",
        j.message
    );
    let branch = attestation(
        SLSA1,
        Verdict::Verified,
        github("org/repo", "refs/heads/main", "github-hosted"),
    );
    let j = attested(&r, &[branch, good()]);
    assert_eq!(j.status, Status::True, "{}", j.message);
}

#[test]
fn each_short_form_failure_names_the_claim() {
    let r = short_form(&[]);
    for (cert, named) in [
        (
            github("org/other", "refs/tags/v1", "github-hosted"),
            "sourceRepository",
        ),
        (
            github("org/repo-evil", "refs/tags/v1", "github-hosted"),
            "sourceRepository",
        ),
        (
            github("org/repo", "refs/heads/main", "github-hosted"),
            "sourceRef",
        ),
        (
            github("org/repo", "refs/tags/v1", "self-hosted"),
            "runnerEnvironment",
        ),
    ] {
        let j = attested(&r, &[attestation(SLSA1, Verdict::Verified, cert)]);
        assert_eq!(j.status, Status::False, "{named}");
        assert_eq!(j.reason, reasons::ATTESTATION_POLICY_FAILED);
        assert!(j.message.contains(named), "{named}: {}", j.message);
        assert!(
            j.message.contains("policy p attestations[0]"),
            "{}",
            j.message
        );
    }
}

#[test]
fn a_failed_cel_condition_is_named() {
    let r = short_form(&[
        "statement.predicate.buildDefinition.externalParameters.workflow.ref == 'refs/tags/v9'",
    ]);
    let j = attested(&r, &[good()]);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::ATTESTATION_POLICY_FAILED)
    );
    assert!(j.message.contains("refs/tags/v9"), "{}", j.message);
}

#[test]
fn attestations_that_do_not_verify_are_invalid_not_missing() {
    let r = short_form(&[]);
    let cert = github("org/repo", "refs/tags/v1", "github-hosted");
    for verdict in [
        Verdict::DigestMismatch,
        Verdict::IdentityMismatch,
        Verdict::Unsigned,
        Verdict::SignatureInvalid,
    ] {
        let j = attested(&r, &[attestation(SLSA1, verdict, cert.clone())]);
        assert_eq!(
            (j.status, j.reason),
            (Status::False, reasons::ATTESTATION_INVALID),
            "{verdict}"
        );
        assert!(j.message.contains(verdict.as_str()), "{}", j.message);
    }
}

#[test]
fn another_predicate_type_is_missing_and_no_requirement_is_not_required() {
    let r = short_form(&[]);
    let sbom = attestation(
        "https://spdx.dev/Document",
        Verdict::Verified,
        github("org/repo", "refs/tags/v1", "github-hosted"),
    );
    let j = attested(&r, &[sbom]);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::ATTESTATION_MISSING)
    );
    let j = attested(&r, &[]);
    assert_eq!(j.reason, reasons::ATTESTATION_MISSING);
    let j = judge(&[], None);
    assert_eq!(
        (j.status, j.reason),
        (Status::True, reasons::ATTESTATION_NOT_REQUIRED)
    );
}

#[test]
fn sbom_roots_accept_versions_and_aliases_resolve() {
    let spdx = Requirement::new("r", "spdxjson", CertificateRule::default(), vec![]);
    assert!(spdx.accepts_type("https://spdx.dev/Document"));
    assert!(spdx.accepts_type("https://spdx.dev/Document/v2.3"));
    assert!(!spdx.accepts_type("https://spdx.dev/DocumentEvil"));
    let cdx = Requirement::new(
        "r",
        "https://cyclonedx.org/bom",
        CertificateRule::default(),
        vec![],
    );
    assert!(cdx.accepts_type("https://cyclonedx.org/bom/v1.5"));
    // Provenance versions are different predicates, not versions of one.
    let slsa = Requirement::new(
        "r",
        "https://slsa.dev/provenance/v0.2",
        CertificateRule::default(),
        vec![],
    );
    assert!(!slsa.accepts_type("https://slsa.dev/provenance/v1"));
    assert_eq!(canonical_type("slsaprovenance1"), SLSA1);
}

#[test]
fn could_not_tell_is_unknown_never_true_or_false() {
    // A condition that errors on the only verified attestation.
    let r = short_form(&["predicate.no.such.key == 'x'"]);
    let j = attested(&r, &[good()]);
    assert_eq!(
        (j.status, j.reason),
        (Status::Unknown, reasons::CONDITION_ERROR),
        "{}",
        j.message
    );
    // A non-boolean result.
    let r = short_form(&["statement.predicateType"]);
    assert_eq!(attested(&r, &[good()]).reason, reasons::CONDITION_ERROR);
    // Discovery cut short and nothing satisfies: Unknown; something satisfies: True.
    let r = short_form(&[]);
    let j = judge(&[(&r, &[])], Some("byte budget spent"));
    assert_eq!(
        (j.status, j.reason),
        (Status::Unknown, reasons::REGISTRY_UNAVAILABLE)
    );
    assert!(j.message.contains("byte budget"), "{}", j.message);
    assert_eq!(judge(&[(&r, &[good()])], Some("cut")).status, Status::True);
    // An attestation whose fetch failed might be the one.
    let mut unread = attestation(
        "",
        Verdict::RegistryUnavailable,
        CertificateClaims::default(),
    );
    unread.certificate = None;
    let j = attested(&r, &[unread]);
    assert_eq!(
        (j.status, j.reason),
        (Status::Unknown, reasons::REGISTRY_UNAVAILABLE)
    );
}

#[test]
fn a_key_signed_attestation_cannot_meet_a_certificate_claim() {
    let r = short_form(&[]);
    let mut keyed = good();
    keyed.certificate = None;
    let j = attested(&r, &[keyed.clone()]);
    assert_eq!(j.reason, reasons::ATTESTATION_POLICY_FAILED);
    assert!(j.message.contains("carries no"), "{}", j.message);
    // Without a short form it is attested by its verified signature alone.
    let plain = Requirement::new("r", SLSA1, CertificateRule::default(), vec![]);
    assert_eq!(attested(&plain, &[keyed]).status, Status::True);
}

#[test]
fn every_requirement_must_be_met_and_a_definite_failure_outranks_unknown() {
    let provenance = short_form(&[]);
    let sbom = Requirement::new(
        "policy p attestations[1]",
        "spdxjson",
        CertificateRule::default(),
        vec![],
    );
    let erroring = Requirement::new(
        "policy q attestations[0]",
        SLSA1,
        CertificateRule::default(),
        vec![Condition::compile("predicate.nope", None).unwrap()],
    );
    let evidence = [good()];
    let j = judge(&[(&provenance, &evidence), (&sbom, &evidence)], None);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::ATTESTATION_MISSING)
    );
    assert!(j.message.contains("attestations[1]"), "{}", j.message);
    let j = judge(&[(&erroring, &evidence), (&sbom, &evidence)], None);
    assert_eq!(j.status, Status::False, "{}", j.message);
    let j = judge(&[(&provenance, &evidence), (&erroring, &evidence)], None);
    assert_eq!(j.status, Status::Unknown, "{}", j.message);
}

#[test]
fn the_fingerprint_covers_type_claims_and_conditions() {
    let a = short_form(&[]);
    let b = short_form(&["true"]);
    let c = Requirement::new("x", SLSA1, CertificateRule::default(), vec![]);
    assert_ne!(a.fingerprint_text(), b.fingerprint_text());
    assert_ne!(a.fingerprint_text(), c.fingerprint_text());
    // The name (where it is written) is not part of what is judged.
    let mut renamed = a.clone();
    renamed.name = "elsewhere".into();
    assert_eq!(a.fingerprint_text(), renamed.fingerprint_text());
}

#[test]
fn an_unsigned_envelope_of_no_trusted_type_is_missing_and_the_message_says_unsigned() {
    // The engine keeps no predicate type from a statement nobody signed (anyone could claim
    // any type), so it is not "of the type"; the message still says what was there.
    let r = short_form(&[]);
    let mut unsigned = attestation("", Verdict::Unsigned, CertificateClaims::default());
    unsigned.certificate = None;
    let j = attested(&r, &[unsigned]);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::ATTESTATION_MISSING)
    );
    assert!(j.message.contains("1 Unsigned"), "{}", j.message);
}
