use super::*;
use crate::audit::decide::decide;
use crate::audit::fixtures::{self, evaluation, keyless_signature, secrets, DIGEST};
use crate::engine::{SignatureFormat, Verdict};
use crate::vocabulary::reasons;

fn t(s: &str) -> Time {
    Time(s.parse().unwrap())
}

fn cond<'a>(s: &'a SourceAuditStatus, type_: &str) -> &'a Condition {
    s.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

fn run(
    prev: Option<&SourceAuditStatus>,
    src: &FluxSource,
    outcome: Outcome,
    now: &Time,
) -> SourceAuditStatus {
    let decision = decide(src, &[], &secrets());
    compute_status(
        prev,
        &AuditInput {
            source: src,
            url: Some(src.url.clone()),
            digest_note: None,
            decision: &decision,
            outcome,
            generation: Some(1),
            now,
        },
    )
}

fn verified_status(now: &Time) -> (FluxSource, SourceAuditStatus) {
    let src = fixtures::source(&fixtures::oci_repository());
    let e = evaluation(
        Verdict::Verified,
        vec![keyless_signature(
            SignatureFormat::Bundle,
            Verdict::Verified,
        )],
    );
    let s = run(
        None,
        &src,
        Outcome::Evaluated {
            digest: DIGEST,
            evaluation: &e,
        },
        now,
    );
    (src, s)
}

#[test]
fn verified_source_reports_signer_conditions_and_cache_key() {
    let now = t("2026-11-27T12:00:00Z");
    let (_, s) = verified_status(&now);
    assert_eq!(cond(&s, "Verified").status, "True");
    assert_eq!(cond(&s, "Ready").reason, reasons::SUCCEEDED);
    assert_eq!(cond(&s, "Enforced").reason, reasons::ENFORCED);
    assert_eq!(cond(&s, "FluxAgrees").reason, reasons::AGREES);
    assert!(s.signer.as_deref().unwrap().contains("github.com/org/repo"));
    assert_eq!(s.policies, ["spec.verify"]);
    assert_eq!(s.digest.as_deref(), Some(DIGEST));
    assert_eq!(s.verdict_cache.as_ref().unwrap().digest, DIGEST);
    assert_eq!(s.last_verified_time, Some(now));
    assert!(s
        .suggested_verify
        .as_ref()
        .unwrap()
        .yaml
        .contains("matchOIDCIdentity"));
    assert_eq!(s.signatures[0].format, "bundle");
}

#[test]
fn unknown_verdict_keeps_previous_evidence() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let later = t("2026-11-27T13:00:00Z");
    let outage = Outcome::Failed {
        digest: Some(DIGEST),
        reason: reasons::REGISTRY_UNAVAILABLE,
        message: "connection refused".into(),
    };
    let s = run(Some(&before), &src, outage, &later);
    let v = cond(&s, "Verified");
    assert_eq!(
        (v.status.as_str(), v.reason.as_str()),
        ("Unknown", "RegistryUnavailable")
    );
    assert!(v.message.contains("last verdict Verified"), "{}", v.message);
    assert_eq!(s.signatures, before.signatures);
    assert_eq!(s.signer, before.signer);
    assert_eq!(s.last_verified_time, before.last_verified_time);
    assert_eq!(cond(&s, "Ready").status, "False");
    assert_eq!(cond(&s, "FluxAgrees").status, "Unknown");
}

#[test]
fn evidence_of_another_digest_is_not_kept() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let outage = Outcome::Failed {
        digest: Some(other),
        reason: reasons::REGISTRY_UNAVAILABLE,
        message: "timeout".into(),
    };
    let s = run(Some(&before), &src, outage, &t("2026-11-27T13:00:00Z"));
    assert!(s.signatures.is_empty() && s.signer.is_none() && s.verdict_cache.is_none());
    assert_eq!(s.digest.as_deref(), Some(other));
}

#[test]
fn transition_time_only_moves_when_status_changes() {
    let first = t("2026-11-27T12:00:00Z");
    let (src, before) = verified_status(&first);
    let e = evaluation(Verdict::Verified, vec![]);
    let again = run(
        Some(&before),
        &src,
        Outcome::Evaluated {
            digest: DIGEST,
            evaluation: &e,
        },
        &t("2026-11-27T13:00:00Z"),
    );
    assert_eq!(cond(&again, "Verified").last_transition_time, first);
    let bad = evaluation(Verdict::KeyMismatch, vec![]);
    let third = t("2026-11-27T14:00:00Z");
    let after = run(
        Some(&again),
        &src,
        Outcome::Evaluated {
            digest: DIGEST,
            evaluation: &bad,
        },
        &third,
    );
    assert_eq!(cond(&after, "Verified").last_transition_time, third);
    assert_eq!(
        cond(&after, "FluxAgrees").reason,
        reasons::FLUX_VERIFIED_AUDIT_FAILED
    );
    // Ready stayed True (the audit is complete either way).
    assert_eq!(cond(&after, "Ready").last_transition_time, first);
}

#[test]
fn cached_verdict_keeps_the_previous_result() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let s = run(
        Some(&before),
        &src,
        Outcome::Cached,
        &t("2026-11-27T13:00:00Z"),
    );
    assert_eq!(cond(&s, "Verified").status, "True");
    assert_eq!(s.last_verified_time, before.last_verified_time);
    assert_eq!(s.verdict_cache, before.verdict_cache);
}

#[test]
fn source_ready_counts_transitions_and_keeps_since() {
    let (mut src, s1) = verified_status(&t("2026-11-27T12:00:00Z"));
    let r1 = s1.source_ready.clone().unwrap();
    assert_eq!((r1.status.as_str(), r1.transitions), ("True", 0));
    assert_eq!(r1.since, Some(t("2026-11-27T10:00:00Z")));
    let e = evaluation(Verdict::Verified, vec![]);
    let out = || Outcome::Evaluated {
        digest: DIGEST,
        evaluation: &e,
    };
    let same = run(Some(&s1), &src, out(), &t("2026-11-27T12:30:00Z"));
    assert_eq!(same.source_ready, s1.source_ready);
    let ready = src.ready.as_mut().unwrap();
    ready.status = "False".into();
    ready.last_transition_time = None;
    let now = t("2026-11-27T13:00:00Z");
    let s2 = run(Some(&same), &src, out(), &now);
    let r2 = s2.source_ready.unwrap();
    assert_eq!(
        (r2.status.as_str(), r2.transitions, r2.since),
        ("False", 1, Some(now))
    );
}

#[test]
fn unsigned_source_without_policy_is_verified_false_and_not_enforced() {
    let src = fixtures::source(&fixtures::oci_repository_unverified());
    let e = evaluation(Verdict::Unsigned, vec![]);
    let s = run(
        None,
        &src,
        Outcome::Evaluated {
            digest: DIGEST,
            evaluation: &e,
        },
        &t("2026-11-27T12:00:00Z"),
    );
    assert_eq!(cond(&s, "Verified").reason, reasons::UNSIGNED);
    assert_eq!(cond(&s, "Enforced").reason, reasons::VERIFY_MISSING);
    assert_eq!(cond(&s, "FluxAgrees").reason, reasons::FLUX_DOES_NOT_VERIFY);
    assert!(s.policies.is_empty() && s.signer.is_none());
}

#[test]
fn helm_chart_digest_carries_the_tag_note() {
    let note = helm_digest_note("ghcr.io/org/charts/podinfo:6.0.3");
    assert_eq!(
        note,
        "resolved by the auditor from ghcr.io/org/charts/podinfo:6.0.3; Flux verifies by tag"
    );
}
