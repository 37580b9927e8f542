use super::*;
use crate::audit::decide::decide;
use crate::audit::fixtures::{
    self, evaluated, evaluation, failed, for_decision, keyless_signature, secrets, DIGEST,
};
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
    compute(
        prev,
        &AuditInput {
            source: src,
            decision: &decision,
            outcome: &for_decision(outcome, &decision, now),
            location: &Location::default(),
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
    let s = run(None, &src, evaluated(&e), now);
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
    let outage = failed(
        Some(DIGEST),
        reasons::REGISTRY_UNAVAILABLE,
        "connection refused",
    );
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
fn the_last_verdict_survives_repeated_could_not_tell_outcomes() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let mut s = before.clone();
    for (i, reason) in [
        reasons::REGISTRY_UNAVAILABLE,
        reasons::RECHECK_OVERDUE,
        reasons::RECHECK_OVERDUE,
    ]
    .into_iter()
    .enumerate()
    {
        let now = t(&format!("2026-11-27T1{}:00:00Z", i + 3));
        s = run(
            Some(&s),
            &src,
            failed(Some(DIGEST), reason, "no answer"),
            &now,
        );
        let v = cond(&s, "Verified");
        assert_eq!((v.status.as_str(), v.reason.as_str()), ("Unknown", reason));
        assert_eq!(
            v.message.matches("; last verdict ").count(),
            1,
            "round {i}: {}",
            v.message
        );
        assert!(v.message.contains("last verdict Verified"), "{}", v.message);
        let kept = s.last_verdict.as_ref().expect("the last verdict is kept");
        assert_eq!(
            (kept.status.as_str(), kept.reason.as_str()),
            ("True", "Verified")
        );
        assert_eq!(s.signatures, before.signatures);
        assert_eq!(s.last_verified_time, before.last_verified_time);
    }
    // A fresh verdict is the condition itself: nothing kept beside it.
    let e = evaluation(Verdict::Verified, vec![]);
    let fresh = run(Some(&s), &src, evaluated(&e), &t("2026-11-27T17:00:00Z"));
    assert_eq!(cond(&fresh, "Verified").status, "True");
    assert_eq!(fresh.last_verdict, None);
}

#[test]
fn a_kept_verdict_with_a_reason_outside_the_vocabulary_is_not_read_back() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let outage = || failed(Some(DIGEST), reasons::REGISTRY_UNAVAILABLE, "refused");
    let mut s = run(Some(&before), &src, outage(), &t("2026-11-27T13:00:00Z"));
    s.last_verdict.as_mut().unwrap().reason = "TrustMe".into();
    let next = run(Some(&s), &src, outage(), &t("2026-11-27T14:00:00Z"));
    assert!(!cond(&next, "Verified").message.contains("last verdict"));
    assert_eq!(next.last_verdict, None);
}

#[test]
fn evidence_of_another_digest_is_not_kept() {
    let (src, before) = verified_status(&t("2026-11-27T12:00:00Z"));
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let outage = failed(Some(other), reasons::REGISTRY_UNAVAILABLE, "timeout");
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
        evaluated(&e),
        &t("2026-11-27T13:00:00Z"),
    );
    assert_eq!(cond(&again, "Verified").last_transition_time, first);
    let bad = evaluation(Verdict::KeyMismatch, vec![]);
    let third = t("2026-11-27T14:00:00Z");
    let after = run(Some(&again), &src, evaluated(&bad), &third);
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
        Outcome::Unchanged,
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
    let out = || evaluated(&e);
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
    let s = run(None, &src, evaluated(&e), &t("2026-11-27T12:00:00Z"));
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
        "resolved by the auditor from ghcr.io/org/charts/podinfo:6.0.3; Flux resolves the tag itself and records only the version"
    );
}

// --- hostile input: the status stays bounded --------------------------------------------------

/// `bytes` of the text that costs the most once serialized: quotes and backslashes (escaped to
/// two bytes each), NULs (six), and a two-byte character to cut in half.
fn hostile_of(bytes: usize) -> String {
    "\"\\\u{0}é".repeat(bytes / 5)
}

/// 2 MiB of it: a legacy payload string as large as the registry client reads.
fn hostile() -> String {
    hostile_of(2 * 1024 * 1024)
}

fn hostile_signature(n: usize) -> crate::engine::SignatureEvidence {
    use crate::engine::evidence::{CiClaims, LogEntry};
    // Two signatures with 2 MiB in every field, the rest with 4 KiB (all of them at 2 MiB
    // would take 24 GiB of test memory, and prove nothing more).
    let h = Some(if n < 2 {
        hostile()
    } else {
        hostile_of(4 * 1024)
    });
    let mut s = keyless_signature(
        SignatureFormat::Legacy,
        if n == 777 {
            Verdict::Verified
        } else {
            Verdict::SignatureInvalid
        },
    );
    s.message = h.clone().unwrap_or_default();
    s.signer.subject = h.clone();
    s.signer.issuer = h.clone();
    s.signer.key_fingerprint = h.clone();
    s.signer.key_hint = h.clone();
    s.ci = Some(CiClaims {
        source_repository: h.clone(),
        source_repository_ref: h.clone(),
        source_repository_digest: h.clone(),
        workflow: h.clone(),
        trigger: h.clone(),
        run_invocation_uri: h.clone(),
        build_signer_uri: h.clone(),
        build_signer_digest: h.clone(),
        runner_environment: h.clone(),
        source_repository_owner_uri: h.clone(),
        source_repository_visibility: h.clone(),
    });
    s.tlog = Some(LogEntry {
        log_index: u64::MAX,
        integrated_time: h,
    });
    s
}

/// Every field that registry or signature content fills, at its largest: 1000 signatures (two
/// of 2 MiB strings), a 2 MiB verdict message, 100 compatibility notes, a 2 MiB URL and revision.
fn hostile_status(now: &Time) -> (FluxSource, SourceAuditStatus) {
    let mut src = fixtures::source(&fixtures::oci_repository());
    src.artifact_revision = Some(hostile());
    let mut e = evaluation(
        Verdict::Verified,
        (0..1000).map(hostile_signature).collect(),
    );
    e.message = hostile();
    e.flux_compatibility = (0..100)
        .map(|n| crate::engine::flux_compat::CompatNote {
            code: "MultipleIdentities",
            message: if n == 0 {
                hostile()
            } else {
                hostile_of(4 * 1024)
            },
        })
        .collect();
    let decision = decide(&src, &[], &secrets());
    let s = compute(
        None,
        &AuditInput {
            source: &src,
            decision: &decision,
            outcome: &for_decision(evaluated(&e), &decision, now),
            location: &Location {
                url: Some(hostile()),
                chart_reference: Some(hostile()),
                ..Location::default()
            },
            generation: Some(1),
            now,
        },
    );
    (src, s)
}

fn assert_bounded(s: &SourceAuditStatus) {
    let size = serde_json::to_vec(s).unwrap().len();
    assert!(
        size <= crate::audit::bounds::MAX_STATUS_BYTES,
        "status of {size} bytes"
    );
    for c in &s.conditions {
        assert!(c.message.len() <= crate::audit::bounds::MAX_MESSAGE);
    }
    assert!(s.signer.as_ref().is_none_or(|x| x.len() <= 512));
    assert!(s.signatures.len() <= crate::audit::bounds::MAX_SIGNATURES);
}

#[test]
fn a_status_from_hostile_maximal_input_stays_well_under_the_api_limit() {
    let now = t("2026-11-27T12:00:00Z");
    let (_, s) = hostile_status(&now);
    assert_bounded(&s);
    // The verdict itself survives the cuts, and the evidence for it is listed first.
    assert_eq!(cond(&s, "Verified").status, "True");
    assert_eq!(s.digest.as_deref(), Some(DIGEST));
    assert_eq!(s.signatures[0].verdict, "Verified");
    let listed = s.signatures.len() as i64;
    assert_eq!(listed + s.signatures_omitted.unwrap(), 1000);
    // A cut identity would suggest another signer: no suggestion rather than a wrong one.
    assert_eq!(s.suggested_verify, None);
}

#[test]
fn a_hostile_previous_status_quoted_in_a_failure_stays_bounded() {
    // The previous status is tenant-writable: its message and evidence are untrusted too.
    let now = t("2026-11-27T12:00:00Z");
    let (src, mut before) = verified_status(&now);
    for c in &mut before.conditions {
        c.message = hostile();
    }
    before.signatures = vec![before.signatures[0].clone(); 5000];
    before.signatures[0].message = hostile();
    before.signer = Some(hostile());
    let outage = failed(Some(DIGEST), reasons::REGISTRY_UNAVAILABLE, hostile());
    let s = run(Some(&before), &src, outage, &t("2026-11-27T13:00:00Z"));
    assert_bounded(&s);
    assert_eq!(cond(&s, "Verified").status, "Unknown");
    let cached = run(Some(&before), &src, Outcome::Unchanged, &now);
    assert_bounded(&cached);
}
