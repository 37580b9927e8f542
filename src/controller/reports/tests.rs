use serde_json::{json, Value};

use super::results::{failed, results, Outcome, ReportResult, Subject};
use super::*;
use crate::audit::decide::Decision;

const DIGEST: &str = "sha256:ee97750e39ed0000000000000000000000000000000000000000000000000000";

fn subject(name: &str) -> Subject {
    Subject {
        kind: SourceKind::OciRepository,
        namespace: "demo".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

/// A status with Verified (and Enforced, Attested) as the controller writes them.
fn status(
    verified: (&str, &str),
    enforced: (&str, &str),
    attested: (&str, &str),
    extra: Value,
) -> crate::api::SourceAuditStatus {
    let cond = |t: &str, (s, r): (&str, &str)| {
        json!({"type": t, "status": s, "reason": r, "message": format!("{r} in words"),
               "lastTransitionTime": "2026-12-01T10:00:00Z"})
    };
    let mut v = json!({
        "digest": DIGEST,
        "fluxRevision": format!("v1@{DIGEST}"),
        "signer": "https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main",
        "policies": ["demo-github-actions"],
        "signatures": [{"format": "bundle", "location": "referrers-tag", "verdict": verified.1,
                        "signer": {"subject": "x", "issuer": "https://token.actions.githubusercontent.com"}}],
        "conditions": [cond("Verified", verified), cond("Enforced", enforced), cond("Attested", attested)],
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    serde_json::from_value(v).unwrap()
}

fn outcomes(rs: &[ReportResult]) -> Vec<(&str, Outcome)> {
    rs.iter().map(|r| (r.rule, r.result)).collect()
}

fn plain(verified: (&str, &str)) -> Vec<ReportResult> {
    of("app", verified)
}

/// The results of source `name` with the given verdict.
fn of(name: &str, verified: (&str, &str)) -> Vec<ReportResult> {
    let s = status(
        verified,
        ("False", "VerifyMissing"),
        ("True", "NotRequired"),
        json!({}),
    );
    results(&subject(name), &s, &Decision::default())
}

#[test]
fn a_verified_source_passes_signature_and_identity_with_its_evidence() {
    let rs = plain(("True", "Verified"));
    use Outcome::*;
    assert_eq!(
        outcomes(&rs),
        [
            ("signature", Pass),
            ("identity", Pass),
            ("enforced", Warn),
            ("provenance", Skip),
            ("sbom", Skip)
        ]
    );
    let sig = &rs[0];
    assert_eq!(sig.properties["digest"], DIGEST);
    assert_eq!(
        sig.properties["issuer"],
        "https://token.actions.githubusercontent.com"
    );
    assert!(sig.properties["signer"].contains("example/infra"));
    assert_eq!(sig.policy, "demo-github-actions");
    assert_eq!(sig.resources[0].kind, "OCIRepository");
    assert_eq!(sig.resources[0].uid, "uid-app");
    assert_eq!(sig.timestamp.map(|t| t.seconds), Some(1_796_119_200));
}

#[test]
fn unsigned_fails_the_signature_and_a_wrong_signer_fails_the_identity() {
    use Outcome::*;
    assert_eq!(
        &outcomes(&plain(("False", "Unsigned")))[..2],
        [("signature", Fail), ("identity", Skip)]
    );
    for r in ["IdentityMismatch", "KeyMismatch", "UntrustedSigner"] {
        assert_eq!(
            &outcomes(&plain(("False", r)))[..2],
            [("signature", Pass), ("identity", Fail)],
            "{r}"
        );
    }
    assert_eq!(
        &outcomes(&plain(("False", "NoPolicy")))[..2],
        [("signature", Pass), ("identity", Skip)]
    );
}

#[test]
fn what_the_audit_could_not_tell_is_error_never_fail() {
    for r in [
        "RegistryUnavailable",
        "AuthenticationFailed",
        "TrustRootError",
        "PolicyInvalid",
        "InputUnavailable",
        "SomethingNew",
    ] {
        let rs = plain(("Unknown", r));
        assert_eq!(
            &outcomes(&rs)[..2],
            [("signature", Outcome::Error), ("identity", Outcome::Error)],
            "{r}"
        );
        assert!(rs.iter().all(|x| x.result != Outcome::Fail), "{r}: {rs:?}");
    }
    let not_yet = plain(("Unknown", "ArtifactNotReady"));
    assert!(
        not_yet.iter().all(|x| x.result == Outcome::Skip),
        "{not_yet:?}"
    );
    let f = failed(
        &subject("app"),
        "the audit failed (KubernetesAPI); retrying",
    );
    assert!(f.iter().all(|x| x.result == Outcome::Error) && f.len() == 5);
}

#[test]
fn verified_provenance_passes_with_builder_and_commit() {
    let s = status(
        ("True", "Verified"),
        ("True", "Enforced"),
        ("True", "NotRequired"),
        json!({"attestations": [{"predicateType": "https://slsa.dev/provenance/v1", "verdict": "Verified",
            "provenance": {"slsaVersion": "v1", "builderId": "https://github.com/actions/runner/github-hosted",
                           "sourceRepository": "https://github.com/example/infra", "sourceCommit": "0123abcd"}}]}),
    );
    let rs = results(&subject("app"), &s, &Decision::default());
    let prov = rs.iter().find(|r| r.rule == "provenance").unwrap();
    assert_eq!(prov.result, Outcome::Pass);
    assert_eq!(
        prov.properties["builder"],
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(prov.properties["commit"], "0123abcd");
    assert_eq!(
        rs.iter().find(|r| r.rule == "enforced").unwrap().result,
        Outcome::Pass
    );
}

#[test]
fn messages_and_properties_are_bounded() {
    let long = "x".repeat(10_000);
    let mut s = status(
        ("False", "Unsigned"),
        ("False", "VerifyMissing"),
        ("True", "NotRequired"),
        json!({}),
    );
    s.conditions[0].message = long.clone();
    s.signer = Some(long);
    let rs = results(&subject("app"), &s, &Decision::default());
    assert!(rs.iter().all(|r| r.message.len() <= results::MAX_MESSAGE));
    assert!(rs.iter().all(|r| r
        .properties
        .values()
        .all(|v| v.len() <= results::MAX_PROPERTY)));
}

fn reports() -> Reports {
    Reports::new(Format::OpenReports, "provenance-auditor".into())
}

#[test]
fn the_report_counts_every_result_and_is_rewritten_only_on_change() {
    let r = reports();
    r.record(&subject("good"), of("good", ("True", "Verified")));
    r.record(&subject("bad"), of("bad", ("False", "Unsigned")));
    assert_eq!(r.take_dirty(), ["demo"]);
    let (doc, omitted) = r.document("demo").unwrap();
    assert_eq!(omitted, 0);
    assert_eq!(doc["apiVersion"], "openreports.io/v1alpha1");
    assert_eq!(doc["kind"], "Report");
    assert_eq!(doc["source"], "provenance-auditor");
    assert_eq!(
        doc["metadata"]["labels"][document::REPORT_LABEL],
        "provenance-auditor"
    );
    assert_eq!(
        doc["summary"],
        json!({"pass": 2, "fail": 1, "warn": 2, "error": 0, "skip": 5})
    );
    // Failures first.
    assert_eq!(doc["results"][0]["result"], "fail");
    assert_eq!(doc["results"][0]["resources"][0]["name"], "bad");
    // The same verdicts again: nothing to write.
    r.record(&subject("good"), of("good", ("True", "Verified")));
    assert!(r.take_dirty().is_empty());
    // A changed verdict, a gone source: rewrite.
    r.record(&subject("good"), of("good", ("False", "IdentityMismatch")));
    assert_eq!(r.take_dirty(), ["demo"]);
    r.retain(|_, _, n| n != "bad");
    assert_eq!(r.take_dirty(), ["demo"]);
    assert!(!r.has(SourceKind::OciRepository, "demo", "bad"));
    r.forget(SourceKind::OciRepository, "demo", "good");
    assert_eq!(r.take_dirty(), ["demo"]);
    assert!(
        r.document("demo").is_none(),
        "no source left: the report goes"
    );
}

#[test]
fn policyreport_is_the_same_results_without_the_report_level_source() {
    let r = Reports::new(Format::PolicyReport, "provenance-auditor-0123456789".into());
    r.record(&subject("good"), of("good", ("True", "Verified")));
    let (doc, _) = r.document("demo").unwrap();
    assert_eq!(doc["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(doc["kind"], "PolicyReport");
    assert!(doc.get("source").is_none());
    assert_eq!(doc["metadata"]["name"], "provenance-auditor-0123456789");
    assert_eq!(doc["results"][0]["source"], "provenance-auditor");
}

#[test]
fn thousands_of_sources_stay_under_the_object_size_limit_with_an_exact_summary() {
    let r = reports();
    let n = 5_000;
    for i in 0..n {
        let verdict = if i % 10 == 0 {
            ("False", "Unsigned")
        } else {
            ("True", "Verified")
        };
        let name = format!("source-{i:05}-with-a-fairly-long-name");
        r.record(&subject(&name), of(&name, verdict));
    }
    let (doc, omitted) = r.document("demo").unwrap();
    let size = doc.to_string().len();
    assert!(size < 1024 * 1024, "{size} bytes");
    assert!(omitted > 0);
    assert_eq!(
        doc["metadata"]["annotations"][document::OMITTED],
        omitted.to_string()
    );
    let s = &doc["summary"];
    let total: u64 = ["pass", "fail", "warn", "error", "skip"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, 5 * n as u64);
    assert_eq!(s["fail"], 500);
    // Every failure is kept; what is cut are passes and the like.
    let kept_fail = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["result"] == "fail")
        .count();
    assert_eq!(kept_fail, 500);
}

#[test]
fn the_document_is_the_same_for_the_same_results() {
    let a = reports();
    let b = reports();
    for name in ["x", "y", "z"] {
        a.record(&subject(name), of(name, ("True", "Verified")));
    }
    for name in ["z", "x", "y"] {
        b.record(&subject(name), of(name, ("True", "Verified")));
    }
    assert_eq!(a.document("demo").unwrap().0, b.document("demo").unwrap().0);
}

#[test]
fn the_reports_flag_names_three_formats() {
    assert_eq!(Format::parse("openreports"), Ok(Some(Format::OpenReports)));
    assert_eq!(
        Format::parse("policyreport"),
        Ok(Some(Format::PolicyReport))
    );
    assert_eq!(Format::parse("none"), Ok(None));
    assert!(Format::parse("kyverno").is_err());
}
