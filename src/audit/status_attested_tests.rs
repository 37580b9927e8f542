//! The `Attested` condition in the status, and how it feeds `Ready`.

use super::*;
use crate::audit::decide::decide;
use crate::audit::fixtures::{
    self, evaluated, evaluation, failed, for_decision, keyless_signature, policy, secrets, DIGEST,
};
use crate::engine::attest::require::Attested;
use crate::engine::attest::{AttestationEvidence, CertificateClaims, Predicate, Provenance};
use crate::engine::{SignatureFormat, Signer, Verdict};
use crate::registry::SignatureLocation;
use crate::vocabulary::reasons;

const REQUIRING: &str = r#"
verify:
  matchOIDCIdentity:
    - issuer: "^https://token\\.actions\\.githubusercontent\\.com$"
      subject: "^https://github\\.com/org/repo/"
attestations:
  - predicateType: https://slsa.dev/provenance/v1
    sourceRef: refs/tags/v.*
"#;

fn now() -> Time {
    Time("2026-12-01T12:00:00Z".parse().unwrap())
}

fn cond<'a>(s: &'a SourceAuditStatus, type_: &str) -> &'a Condition {
    s.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

fn provenance(verdict: Verdict) -> AttestationEvidence {
    AttestationEvidence {
        location: SignatureLocation::ReferrersApi,
        format: SignatureFormat::Bundle,
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        signer: Signer::default(),
        certificate: Some(CertificateClaims {
            source_repository_uri: Some("https://github.com/org/repo".into()),
            source_repository_digest: Some("0123abcd".into()),
            ..CertificateClaims::default()
        }),
        tlog: None,
        predicate: Some(Predicate::Provenance(Provenance {
            slsa_version: "v1".into(),
            ..Provenance::default()
        })),
        verdict,
        message: "m".into(),
        statement: None,
    }
}

fn compute(
    prev: Option<&SourceAuditStatus>,
    requiring: bool,
    outcome: Outcome,
) -> SourceAuditStatus {
    let src = fixtures::source(&fixtures::oci_repository());
    let spec = policy(REQUIRING);
    let matching = if requiring {
        vec![("prov", &spec)]
    } else {
        vec![]
    };
    let decision = decide(&src, &matching, &secrets());
    super::compute(
        prev,
        &AuditInput {
            source: &src,
            decision: &decision,
            outcome: &for_decision(outcome, &decision, &now()),
            location: &Location::default(),
            generation: Some(1),
            now: &now(),
        },
    )
}

fn verified_with(attested: Option<Attested>) -> crate::engine::Evaluation {
    let mut e = evaluation(
        Verdict::Verified,
        vec![keyless_signature(
            SignatureFormat::Bundle,
            Verdict::Verified,
        )],
    );
    e.attested = attested.map(Box::new);
    e
}

fn judged(status: Status, reason: &'static str, evidence: Vec<AttestationEvidence>) -> Attested {
    Attested {
        judgement: Judgement::new(status, reason, format!("{reason} because")),
        evidence,
    }
}

#[test]
fn signed_but_without_the_required_provenance_is_verified_not_attested_and_not_ready() {
    let e = verified_with(Some(judged(
        Status::False,
        reasons::ATTESTATION_MISSING,
        vec![],
    )));
    let s = compute(None, true, evaluated(&e));
    assert_eq!(cond(&s, "Verified").status, "True");
    let a = cond(&s, "Attested");
    assert_eq!(
        (a.status.as_str(), a.reason.as_str()),
        ("False", reasons::ATTESTATION_MISSING)
    );
    let r = cond(&s, "Ready");
    assert_eq!(
        (r.status.as_str(), r.reason.as_str()),
        ("False", reasons::ATTESTATION_MISSING)
    );
    assert!(
        r.message.contains("AttestationMissing because"),
        "{}",
        r.message
    );
}

#[test]
fn attested_provenance_is_listed_with_the_commit_it_was_built_from() {
    let e = verified_with(Some(judged(
        Status::True,
        reasons::ATTESTED,
        vec![
            provenance(Verdict::IdentityMismatch),
            provenance(Verdict::Verified),
        ],
    )));
    let s = compute(None, true, evaluated(&e));
    assert_eq!(cond(&s, "Attested").status, "True");
    assert_eq!(cond(&s, "Ready").status, "True");
    assert_eq!(s.attestations.len(), 2);
    assert_eq!(s.attestations[1].verdict, "Verified");
    assert_eq!(
        s.attestations[1]
            .certificate
            .as_ref()
            .unwrap()
            .source_repository_digest
            .as_deref(),
        Some("0123abcd")
    );
    assert_eq!(
        s.built_from.as_deref(),
        Some("github.com/org/repo@0123abcd")
    );
}

#[test]
fn a_condition_error_is_unknown_and_ready_waits() {
    let e = verified_with(Some(judged(
        Status::Unknown,
        reasons::CONDITION_ERROR,
        vec![],
    )));
    let s = compute(None, true, evaluated(&e));
    assert_eq!(cond(&s, "Attested").status, "Unknown");
    let r = cond(&s, "Ready");
    assert_eq!(
        (r.status.as_str(), r.reason.as_str()),
        ("False", reasons::PROGRESSING)
    );
}

#[test]
fn no_requirement_is_not_required_whatever_happened() {
    let e = verified_with(None);
    let s = compute(None, false, evaluated(&e));
    let a = cond(&s, "Attested");
    assert_eq!(
        (a.status.as_str(), a.reason.as_str()),
        ("True", reasons::ATTESTATION_NOT_REQUIRED)
    );
    let failure = failed(Some(DIGEST), reasons::REGISTRY_UNAVAILABLE, "down");
    let s = compute(None, false, failure);
    assert_eq!(
        cond(&s, "Attested").reason,
        reasons::ATTESTATION_NOT_REQUIRED
    );
}

#[test]
fn a_registry_outage_is_unknown_and_keeps_the_last_attestation_evidence() {
    let e = verified_with(Some(judged(
        Status::True,
        reasons::ATTESTED,
        vec![provenance(Verdict::Verified)],
    )));
    let before = compute(None, true, evaluated(&e));
    let failure = failed(Some(DIGEST), reasons::REGISTRY_UNAVAILABLE, "down");
    let s = compute(Some(&before), true, failure);
    let a = cond(&s, "Attested");
    assert_eq!(
        (a.status.as_str(), a.reason.as_str()),
        ("Unknown", reasons::REGISTRY_UNAVAILABLE)
    );
    assert_eq!(s.attestations, before.attestations);
    assert_eq!(s.built_from, before.built_from);
    // A policy that cannot be applied: Unknown/PolicyInvalid, never NotRequired.
    let invalid = failed(None, reasons::POLICY_INVALID, "bad CEL");
    let s = compute(None, true, invalid);
    assert_eq!(cond(&s, "Attested").reason, reasons::POLICY_INVALID);
}

#[test]
fn a_cached_verdict_keeps_the_previous_attested_condition_and_its_time() {
    let e = verified_with(Some(judged(
        Status::False,
        reasons::ATTESTATION_POLICY_FAILED,
        vec![],
    )));
    let before = compute(None, true, evaluated(&e));
    let s = compute(Some(&before), true, Outcome::Unchanged);
    assert_eq!(cond(&s, "Attested"), cond(&before, "Attested"));
    assert_eq!(cond(&s, "Ready").reason, reasons::ATTESTATION_POLICY_FAILED);
}

#[test]
fn a_source_of_a_policy_with_invalid_cel_is_attested_unknown_policy_invalid() {
    let src = fixtures::source(&fixtures::oci_repository());
    let bad = policy(&format!(
        "{REQUIRING}    conditions:\n      - expression: \"predicate.x ==\"\n"
    ));
    let decision = decide(&src, &[("prov", &bad)], &secrets());
    let why = decision.invalid_message().unwrap();
    assert!(why.contains("predicate.x =="), "{why}");
    let s = super::compute(
        None,
        &AuditInput {
            source: &src,
            decision: &decision,
            outcome: &failed(None, reasons::POLICY_INVALID, why),
            location: &Location::default(),
            generation: Some(1),
            now: &now(),
        },
    );
    for t in ["Verified", "Attested"] {
        let c = cond(&s, t);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("Unknown", reasons::POLICY_INVALID),
            "{t}"
        );
    }
    assert!(cond(&s, "Attested").message.contains("predicate.x =="));
}

#[test]
fn built_from_stays_empty_when_an_any_signer_spec_verify_decided() {
    let e = verified_with(Some(judged(
        Status::True,
        reasons::ATTESTATION_NOT_REQUIRED,
        vec![provenance(Verdict::Verified)],
    )));
    let built_from = |source: serde_json::Value| {
        let src = fixtures::source(&source);
        let decision = decide(&src, &[], &secrets());
        super::compute(
            None,
            &AuditInput {
                source: &src,
                decision: &decision,
                outcome: &for_decision(evaluated(&e), &decision, &now()),
                location: &Location::default(),
                generation: Some(1),
                now: &now(),
            },
        )
        .built_from
    };
    // `spec.verify` without `matchOIDCIdentity`: any signer of the trust root, so anyone's
    // provenance would be "verified".
    assert_eq!(built_from(fixtures::oci_repository_keyless(&[])), None);
    // The same provenance under an identity the source names.
    assert_eq!(
        built_from(fixtures::oci_repository_keyless(&[(
            "^https://token\\.actions\\.githubusercontent\\.com$",
            "^https://github\\.com/org/repo/",
        )]))
        .as_deref(),
        Some("github.com/org/repo@0123abcd")
    );
}
