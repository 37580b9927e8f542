use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::json;

use super::*;

const DIGEST: &str = "sha256:eab415a4e5ef0000000000000000000000000000000000000000000000000000";

/// A status as the controller writes it: Verified (and optionally Attested) with their reasons.
fn status(
    verified: (&str, &str),
    attested: Option<(&str, &str)>,
    digest: &str,
) -> SourceAuditStatus {
    let cond = |t: &str, (s, r): (&str, &str)| {
        json!({"type": t, "status": s, "reason": r, "message": format!("{r} in words"),
               "lastTransitionTime": "2026-12-01T10:00:00Z"})
    };
    let mut conditions = vec![cond("Verified", verified)];
    if let Some(a) = attested {
        conditions.push(cond("Attested", a));
    }
    serde_json::from_value(json!({
        "digest": digest,
        "fluxRevision": format!("v1@{digest}"),
        "signer": "https://github.com/example/infra-fork/.github/workflows/publish.yml@refs/heads/main",
        "conditions": conditions,
    }))
    .unwrap()
}

fn event(s: &SourceAuditStatus) -> SourceEvent {
    source_event(s).expect("an event")
}

#[test]
fn identity_mismatch_is_an_error_warning_with_digest_and_signer() {
    let e = event(&status(("False", "IdentityMismatch"), None, DIGEST));
    assert_eq!(e.reason, "ProvenanceIdentityMismatch");
    assert!(e.warning && e.error);
    assert!(
        e.message.starts_with(&format!(
            "IdentityMismatch for {DIGEST}, signed by https://github.com/example/infra-fork/"
        )),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with(": IdentityMismatch in words"),
        "{}",
        e.message
    );
    assert_eq!(e.metadata["digest"], DIGEST);
    assert_eq!(e.metadata["revision"], format!("v1@{DIGEST}"));
    assert_eq!(e.metadata["verdict"], "IdentityMismatch");
}

#[test]
fn verified_is_normal_info_and_an_outage_is_a_warning_but_not_an_error() {
    let ok = event(&status(
        ("True", "Verified"),
        Some(("True", "NotRequired")),
        DIGEST,
    ));
    assert_eq!(ok.reason, "ProvenanceVerified");
    assert!(!ok.warning && !ok.error);
    let outage = event(&status(("Unknown", "RegistryUnavailable"), None, DIGEST));
    assert_eq!(outage.reason, "ProvenanceRegistryUnavailable");
    assert!(
        outage.warning && !outage.error,
        "an outage is never a finding"
    );
}

#[test]
fn a_verified_signature_with_a_missing_attestation_is_announced_as_the_attestation() {
    let e = event(&status(
        ("True", "Verified"),
        Some(("False", "AttestationMissing")),
        DIGEST,
    ));
    assert_eq!(e.reason, "ProvenanceAttestationMissing");
    assert!(e.warning && e.error);
}

#[test]
fn nothing_is_announced_before_flux_fetched_an_artifact() {
    assert_eq!(
        source_event(&status(("Unknown", "ArtifactNotReady"), None, DIGEST)),
        None
    );
    assert_eq!(source_event(&SourceAuditStatus::default()), None);
}

#[test]
fn the_note_is_bounded_on_a_char_boundary() {
    let mut s = status(("False", "Unsigned"), None, DIGEST);
    s.conditions[0].message = "é".repeat(2000);
    let e = event(&s);
    assert!(e.message.len() <= MAX_NOTE);
    assert!(e.message.ends_with('é'));
}

#[test]
fn only_a_change_is_published_and_a_restart_announces_nothing_again() {
    let t = Instant::now();
    let gate = Gate::new(t);
    let unsigned = status(("False", "Unsigned"), None, DIGEST);
    let e = event(&unsigned);
    assert!(matches!(
        gate.admit("a", None, &e, t),
        Admit::Publish { undo: None }
    ));
    // The next audit (previous = the written status) finds nothing new.
    assert_eq!(gate.admit("a", Some(&unsigned), &e, t), Admit::Unchanged);
    // Another process (a restart, a new leader) reads the same status: nothing either.
    let restarted = Gate::new(t);
    assert_eq!(
        restarted.admit("a", Some(&unsigned), &e, t),
        Admit::Unchanged
    );
    // A change is published, with what to undo.
    let fixed = event(&status(("True", "Verified"), None, DIGEST));
    assert!(matches!(
        restarted.admit("a", Some(&unsigned), &fixed, t),
        Admit::Publish { undo: Some(_) }
    ));
    // The same reason about another digest is a change too.
    let other = event(&status(
        ("True", "Verified"),
        None,
        &DIGEST.replace("eab4", "0000"),
    ));
    assert!(matches!(
        restarted.admit("a", None, &other, t),
        Admit::Publish { .. }
    ));
}

#[test]
fn a_first_verdict_is_announced_only_when_it_is_not_verified() {
    let t = Instant::now();
    let gate = Gate::new(t);
    let ok = event(&status(("True", "Verified"), None, DIGEST));
    assert_eq!(gate.admit("new", None, &ok, t), Admit::Unchanged);
    let bad = event(&status(("False", "Unsigned"), None, DIGEST));
    assert!(matches!(
        gate.admit("new", None, &bad, t),
        Admit::Publish { .. }
    ));
}

#[test]
fn a_failed_publication_is_retried_by_the_next_audit() {
    let t = Instant::now();
    let gate = Gate::new(t);
    let unsigned = status(("False", "Unsigned"), None, DIGEST);
    let e = event(&unsigned);
    let Admit::Publish { undo } = gate.admit("a", None, &e, t) else {
        panic!("published")
    };
    gate.failed("a", undo);
    // The status now says Unsigned, but the event never made it: announce it again.
    assert!(matches!(
        gate.admit("a", Some(&unsigned), &e, t),
        Admit::Publish { .. }
    ));
}

#[test]
fn the_rate_limit_defers_a_change_to_a_later_audit_without_losing_it() {
    let t = Instant::now();
    let gate = Gate::new(t);
    let before = status(("True", "Verified"), None, DIGEST);
    let after = event(&status(("False", "IdentityMismatch"), None, DIGEST));
    let burst = BURST as usize;
    for i in 0..burst {
        let r = gate.admit(&format!("s{i}"), Some(&before), &after, t);
        assert!(matches!(r, Admit::Publish { .. }), "{i}: {r:?}");
    }
    // The bucket is empty: the next source's change waits.
    assert_eq!(
        gate.admit("late", Some(&before), &after, t),
        Admit::Deferred
    );
    // Its next audit (the status already says IdentityMismatch) still announces it, once a
    // token is back.
    let written = status(("False", "IdentityMismatch"), None, DIGEST);
    assert_eq!(
        gate.admit("late", Some(&written), &after, t),
        Admit::Deferred
    );
    let later = t + Duration::from_millis((1000.0 / PER_SECOND) as u64 + 1);
    assert!(matches!(
        gate.admit("late", Some(&written), &after, later),
        Admit::Publish { .. }
    ));
    assert_eq!(
        gate.admit("late", Some(&written), &after, later),
        Admit::Unchanged
    );
}

#[test]
fn a_forgotten_source_starts_from_its_previous_status_again() {
    let t = Instant::now();
    let gate = Gate::new(t);
    let e = event(&status(("False", "Unsigned"), None, DIGEST));
    assert!(matches!(
        gate.admit("a", None, &e, t),
        Admit::Publish { .. }
    ));
    gate.forget("a");
    assert!(matches!(
        gate.admit("a", None, &e, t),
        Admit::Publish { .. }
    ));
}

fn source_ref() -> ObjectReference {
    ObjectReference {
        api_version: Some("source.toolkit.fluxcd.io/v1".into()),
        kind: Some("OCIRepository".into()),
        name: Some("unsigned".into()),
        namespace: Some("demo".into()),
        uid: Some("0b7a6c3e-1111-2222-3333-444455556666".into()),
        ..Default::default()
    }
}

fn change(error: bool) -> SourceEvent {
    SourceEvent {
        warning: true,
        error,
        reason: "ProvenanceUnsigned".into(),
        message: "Unsigned for sha256:685b: no signature".into(),
        metadata: [
            ("revision", "v1@sha256:685b".to_string()),
            ("digest", "sha256:685b".to_string()),
            ("verdict", "Unsigned".to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

#[test]
fn the_body_is_fluxs_event_with_group_prefixed_metadata() {
    let e = flux_event(
        source_ref(),
        &change(true),
        crate::cluster::time(1_764_000_000),
        Some("pod-1".into()),
    );
    let v = serde_json::to_value(&e).unwrap();
    // The fields of github.com/fluxcd/pkg/apis/event/v1beta1.Event, and no others.
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "involvedObject",
            "message",
            "metadata",
            "reason",
            "reportingController",
            "reportingInstance",
            "severity",
            "timestamp"
        ]
    );
    assert_eq!(v["severity"], "error");
    assert_eq!(v["reportingController"], "provenance-auditor");
    assert_eq!(v["involvedObject"]["kind"], "OCIRepository");
    assert_eq!(
        v["involvedObject"]["uid"],
        "0b7a6c3e-1111-2222-3333-444455556666"
    );
    assert_eq!(v["timestamp"], "2025-11-24T16:00:00Z");
    assert_eq!(
        v["metadata"],
        json!({
            "source.toolkit.fluxcd.io/revision": "v1@sha256:685b",
            // Not `<group>/digest`: notification-controller drops that key.
            "source.toolkit.fluxcd.io/auditedDigest": "sha256:685b",
            "source.toolkit.fluxcd.io/verdict": "Unsigned",
        })
    );
    let outage = flux_event(source_ref(), &change(false), crate::cluster::time(0), None);
    assert_eq!(outage.severity, "info");
    assert!(serde_json::to_value(&outage)
        .unwrap()
        .get("reportingInstance")
        .is_none());
}
