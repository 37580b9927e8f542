use super::*;
use serde_json::{json, Value};

const T0: &str = "2026-01-01T10:00:00Z";
const DIGEST: &str = "sha256:3b6c0d2b6b1f6e0c6f1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a4938271";

fn at(secs: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + k8s_openapi::jiff::SignedDuration::from_secs(secs)
}

fn rfc3339(secs: i64) -> String {
    at(secs).to_string()
}

/// An OCIRepository `name` at `generation`, Flux having observed `observed`, Ready as given.
fn source(name: &str, generation: i64, observed: i64, ready: Option<Value>) -> FluxSource {
    let mut conditions = vec![];
    if let Some(r) = ready {
        conditions.push(r);
    }
    FluxSource::from_value(&json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "apps", "generation": generation},
        "spec": {"url": "oci://registry.example/apps/podinfo", "ref": {"tag": "v1"}},
        "status": {
            "observedGeneration": observed,
            "artifact": {"revision": format!("v1@{DIGEST}")},
            "conditions": conditions,
        },
    }))
    .unwrap()
}

fn ready(status: &str, reason: &str, since: i64, generation: i64) -> Option<Value> {
    Some(json!({
        "type": "Ready", "status": status, "reason": reason, "message": format!("{reason} message"),
        "lastTransitionTime": rfc3339(since), "observedGeneration": generation,
    }))
}

/// `status.observedGeneration` is read by the command next to the FluxSource.
fn obs_gen(source: FluxSource, observed: i64) -> Observation {
    Observation {
        source,
        observed_generation: Some(observed),
        audit: AuditSeen::NotRequired,
    }
}

fn ok(name: &str, since: i64) -> Observation {
    obs_gen(source(name, 2, 2, ready("True", "Succeeded", since, 2)), 2)
}

const FIVE_MIN: Duration = Duration::from_secs(300);

#[test]
fn a_source_ready_before_confirm_started_must_still_be_seen_ready_for_the_whole_duration() {
    let mut gate = Gate::new(FIVE_MIN, false);
    // Ready since an hour before confirm started: the old transition time does not count.
    let r = gate.observe(at(0), &[ok("podinfo", -3600)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert_eq!(
        r.states[0].1,
        State::Ready {
            held: Duration::ZERO,
            pending: None
        }
    );
    let r = gate.observe(at(299), &[ok("podinfo", -3600)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    let r = gate.observe(at(300), &[ok("podinfo", -3600)]);
    assert_eq!(r.verdict(), Verdict::Passed);
}

#[test]
fn the_clock_starts_at_the_later_ready_transition_when_it_happened_after_confirm_first_looked() {
    let mut gate = Gate::new(FIVE_MIN, false);
    gate.observe(at(0), &[ok("podinfo", -10)]);
    // Between two observations Ready flapped and came back at t=100: the clock restarts there.
    let r = gate.observe(at(200), &[ok("podinfo", 100)]);
    assert_eq!(
        r.states[0].1,
        State::Ready {
            held: Duration::from_secs(100),
            pending: None
        }
    );
    assert_eq!(
        gate.observe(at(399), &[ok("podinfo", 100)]).verdict(),
        Verdict::Pending
    );
    assert_eq!(
        gate.observe(at(400), &[ok("podinfo", 100)]).verdict(),
        Verdict::Passed
    );
}

#[test]
fn a_new_generation_not_yet_observed_by_flux_does_not_count_as_ready() {
    let mut gate = Gate::new(Duration::from_secs(10), false);
    // spec.verify was just switched on: generation 3, Flux still reports generation 2 Ready.
    let s = source("podinfo", 3, 2, ready("True", "Succeeded", -600, 2));
    let r = gate.observe(at(0), &[obs_gen(s.clone(), 2)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    match &r.states[0].1 {
        State::Waiting(why) => assert!(why.contains("generation 3"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Even much later, as long as Flux has not processed it.
    assert_eq!(
        gate.observe(at(100), &[obs_gen(s, 2)]).verdict(),
        Verdict::Pending
    );
    // Flux processed generation 3 at t=105 (Ready went Unknown then True): count from t=110,
    // when the gate first saw it.
    let s = source("podinfo", 3, 3, ready("True", "Succeeded", 105, 3));
    let r = gate.observe(at(110), &[obs_gen(s.clone(), 3)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert_eq!(
        gate.observe(at(119), &[obs_gen(s.clone(), 3)]).verdict(),
        Verdict::Pending
    );
    assert_eq!(
        gate.observe(at(120), &[obs_gen(s, 3)]).verdict(),
        Verdict::Passed
    );
}

#[test]
fn status_observed_generation_behind_fails_nothing_but_stops_the_clock() {
    let mut gate = Gate::new(Duration::from_secs(10), false);
    gate.observe(at(0), &[ok("podinfo", 0)]);
    // The spec changes at t=5: generation 3 is not observed yet, the clock is reset.
    let s = source("podinfo", 3, 2, ready("True", "Succeeded", 0, 3));
    let r = gate.observe(at(5), &[obs_gen(s, 2)]);
    assert!(matches!(r.states[0].1, State::Waiting(_)), "{r:?}");
    // Back at generation 3 from t=20: the earlier 5 s do not count.
    let s = source("podinfo", 3, 3, ready("True", "Succeeded", 0, 3));
    assert_eq!(
        gate.observe(at(20), &[obs_gen(s.clone(), 3)]).verdict(),
        Verdict::Pending
    );
    assert_eq!(
        gate.observe(at(29), &[obs_gen(s.clone(), 3)]).verdict(),
        Verdict::Pending
    );
    assert_eq!(
        gate.observe(at(30), &[obs_gen(s, 3)]).verdict(),
        Verdict::Passed
    );
}

#[test]
fn ready_false_for_the_current_generation_fails_at_once_with_reason_and_message() {
    let mut gate = Gate::new(FIVE_MIN, false);
    // Flux does not advance status.observedGeneration on a verification failure.
    let s = source("podinfo", 3, 2, ready("False", "VerificationError", 1, 3));
    let r = gate.observe(at(2), &[ok("other", 0), obs_gen(s, 2)]);
    assert_eq!(r.verdict(), Verdict::Failed);
    let failures = r.failures();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].starts_with("OCIRepository apps/podinfo: Ready=False VerificationError: "),
        "{failures:?}"
    );
    assert!(failures[0].contains("VerificationError message"));
}

#[test]
fn ready_false_left_from_an_older_generation_is_a_reason_to_wait_not_to_fail() {
    let mut gate = Gate::new(FIVE_MIN, false);
    // The user just fixed the spec (generation 4); the failure is about generation 3.
    let s = source("podinfo", 4, 2, ready("False", "VerificationError", 1, 3));
    let r = gate.observe(at(2), &[obs_gen(s, 2)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    match &r.states[0].1 {
        State::Waiting(why) => assert!(why.contains("generation 3"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_progressing_source_is_waited_for_and_named_in_the_progress_line() {
    let mut gate = Gate::new(FIVE_MIN, false);
    gate.observe(at(0), &[ok("a", 0), ok("b", 0)]);
    let progressing = source("podinfo", 2, 2, ready("Unknown", "Progressing", 0, 2));
    let r = gate.observe(at(80), &[ok("a", 0), ok("b", 0), obs_gen(progressing, 2)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert_eq!(
        r.progress_line(),
        "2/3 sources Ready for 1m20s of 5m; waiting for apps/podinfo: Ready=Unknown Progressing: Progressing message"
    );
    let missing = source("fresh", 1, -1, None);
    let r = gate.observe(at(81), &[obs_gen(missing, -1)]);
    assert!(
        r.progress_line()
            .starts_with("0/4 sources Ready; waiting for apps/a: no longer found"),
        "{}",
        r.progress_line()
    );
}

#[test]
fn a_source_that_stops_being_ready_restarts_its_clock() {
    let mut gate = Gate::new(Duration::from_secs(60), false);
    gate.observe(at(0), &[ok("podinfo", 0)]);
    let progressing = source("podinfo", 2, 2, ready("Unknown", "Progressing", 30, 2));
    gate.observe(at(30), &[obs_gen(progressing, 2)]);
    // Back to True, but the transition time was not updated (seen in the wild): the gate's own
    // observation restarts the clock anyway.
    let r = gate.observe(at(40), &[ok("podinfo", 0)]);
    assert_eq!(
        r.states[0].1,
        State::Ready {
            held: Duration::ZERO,
            pending: None
        }
    );
    assert_eq!(
        gate.observe(at(99), &[ok("podinfo", 0)]).verdict(),
        Verdict::Pending
    );
    assert_eq!(
        gate.observe(at(100), &[ok("podinfo", 0)]).verdict(),
        Verdict::Passed
    );
}

#[test]
fn a_deleted_source_is_not_confirmed_and_is_named() {
    let mut gate = Gate::new(Duration::from_secs(1), false);
    gate.observe(at(0), &[ok("a", 0), ok("b", 0)]);
    let r = gate.observe(at(10), &[ok("a", 0)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert_eq!(
        r.unconfirmed(),
        vec!["OCIRepository apps/b: no longer found (deleted, or no longer selected)".to_string()]
    );
}

#[test]
fn nothing_selected_never_passes() {
    let mut gate = Gate::new(Duration::ZERO, false);
    assert_eq!(gate.observe(at(0), &[]).verdict(), Verdict::Pending);
}

#[test]
fn a_clock_skewed_transition_in_the_future_counts_as_zero() {
    let mut gate = Gate::new(Duration::from_secs(10), false);
    let r = gate.observe(at(0), &[ok("podinfo", 30)]);
    assert_eq!(
        r.states[0].1,
        State::Ready {
            held: Duration::ZERO,
            pending: None
        }
    );
}

fn audit(revision: &str, verified: (&str, &str), enforced_reason: &str) -> AuditSeen {
    let cond = |t: &str, s: &str, r: &str| {
        json!({"type": t, "status": s, "reason": r, "message": format!("{r} message"),
               "lastTransitionTime": T0})
    };
    AuditSeen::Status(Box::new(
        serde_json::from_value(json!({
            "fluxRevision": revision,
            "conditions": [
                cond("Verified", verified.0, verified.1),
                cond("Enforced", if enforced_reason == "Enforced" { "True" } else { "False" }, enforced_reason),
            ],
        }))
        .unwrap(),
    ))
}

fn verified_source(name: &str, audit: AuditSeen) -> Observation {
    let mut s = source(name, 2, 2, ready("True", "Succeeded", 0, 2));
    s.verify = Some(crate::audit::source::SourceVerify {
        provider: "cosign".into(),
        secret_ref: Some("cosign-pub".into()),
        ..Default::default()
    });
    Observation {
        source: s,
        observed_generation: Some(2),
        audit,
    }
}

#[test]
fn require_verified_waits_for_a_verified_audit_of_the_current_revision() {
    let current = format!("v1@{DIGEST}");
    let mut gate = Gate::new(Duration::from_secs(10), true);
    let r = gate.observe(at(0), &[verified_source("podinfo", AuditSeen::Missing)]);
    assert!(
        r.progress_line().contains("no SourceAudit yet"),
        "{}",
        r.progress_line()
    );
    // Held long enough, but the audit is about the previous revision.
    let old = audit("v0@sha256:00", ("True", "Verified"), "Enforced");
    let r = gate.observe(at(20), &[verified_source("podinfo", old)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert!(
        r.unconfirmed()[0].contains("not yet v1@"),
        "{:?}",
        r.unconfirmed()
    );
    let unknown = audit(&current, ("Unknown", "RegistryUnavailable"), "Enforced");
    let r = gate.observe(at(21), &[verified_source("podinfo", unknown)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert!(r.unconfirmed()[0].contains("Verified=Unknown RegistryUnavailable"));
    let good = audit(&current, ("True", "Verified"), "Enforced");
    assert_eq!(
        gate.observe(at(22), &[verified_source("podinfo", good)])
            .verdict(),
        Verdict::Passed
    );
}

#[test]
fn an_audit_from_before_spec_verify_was_switched_on_is_not_believed() {
    let current = format!("v1@{DIGEST}");
    let mut gate = Gate::new(Duration::from_secs(10), true);
    // Before the switch the audit judged the source without spec.verify: NoPolicy. That is
    // stale for a source that now has spec.verify, so it must not fail the gate.
    let stale = audit(&current, ("False", "NoPolicy"), "VerifyMissing");
    let r = gate.observe(at(0), &[verified_source("podinfo", stale)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert!(
        r.unconfirmed()[0].contains("spec.verify"),
        "{:?}",
        r.unconfirmed()
    );
}

fn with_source_generation(seen: AuditSeen, generation: i64) -> AuditSeen {
    match seen {
        AuditSeen::Status(mut s) => {
            s.source_generation = Some(generation);
            AuditSeen::Status(s)
        }
        other => other,
    }
}

#[test]
fn an_audit_of_an_older_source_generation_is_not_believed_even_when_it_says_verified() {
    let current = format!("v1@{DIGEST}");
    let mut gate = Gate::new(Duration::from_secs(10), true);
    // Generation 1 (before the spec change) was audited; the source is at generation 2.
    let old = with_source_generation(audit(&current, ("False", "KeyMismatch"), "Enforced"), 1);
    let r = gate.observe(at(0), &[verified_source("podinfo", old)]);
    assert_eq!(r.verdict(), Verdict::Pending);
    assert!(
        r.unconfirmed()[0].contains("generation 1 of the source, not yet 2"),
        "{:?}",
        r.unconfirmed()
    );
    let current_gen = with_source_generation(audit(&current, ("True", "Verified"), "Enforced"), 2);
    assert_eq!(
        gate.observe(at(20), &[verified_source("podinfo", current_gen)])
            .verdict(),
        Verdict::Passed
    );
}

#[test]
fn a_current_audit_saying_not_verified_fails_at_once_with_its_reason() {
    let current = format!("v1@{DIGEST}");
    let mut gate = Gate::new(FIVE_MIN, true);
    let bad = audit(&current, ("False", "KeyMismatch"), "Enforced");
    let r = gate.observe(at(0), &[verified_source("podinfo", bad)]);
    assert_eq!(r.verdict(), Verdict::Failed);
    assert_eq!(
        r.failures(),
        vec!["OCIRepository apps/podinfo: SourceAudit Verified=False KeyMismatch: KeyMismatch message".to_string()]
    );
}

#[test]
fn without_require_verified_the_audit_is_ignored() {
    let current = format!("v1@{DIGEST}");
    let mut gate = Gate::new(Duration::ZERO, false);
    let mut o = verified_source(
        "podinfo",
        audit(&current, ("False", "Unsigned"), "Enforced"),
    );
    assert_eq!(
        gate.observe(at(0), std::slice::from_ref(&o)).verdict(),
        Verdict::Passed
    );
    o.audit = AuditSeen::NotRequired;
    assert_eq!(gate.observe(at(1), &[o]).verdict(), Verdict::Passed);
}

#[test]
fn durations_print_like_kubectl_ages() {
    assert_eq!(fmt_duration(Duration::from_secs(0)), "0s");
    assert_eq!(fmt_duration(Duration::from_secs(45)), "45s");
    assert_eq!(fmt_duration(Duration::from_secs(80)), "1m20s");
    assert_eq!(fmt_duration(Duration::from_secs(300)), "5m");
    assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h2m");
    assert_eq!(fmt_duration(Duration::from_secs(7200)), "2h");
}
