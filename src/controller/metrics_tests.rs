//! The metrics' series: what each source exports, and what is withheld or removed.

use super::*;

fn podinfo() -> SourceLabels {
    SourceLabels {
        namespace: "apps".into(),
        name: "podinfo".into(),
        kind: "OCIRepository".into(),
    }
}

fn gauges(reason: &str, verified: bool) -> SourceGauges {
    SourceGauges {
        reason: reason.into(),
        verified,
        enforced: false,
        flux_agrees: Some(true),
        verify_required: false,
        ready_since: 1_700_000_000,
        signer: "https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main"
            .into(),
        registry: Some("127.0.0.1:5000".into()),
        attested_reason: "NotRequired".into(),
        attested: false,
    }
}

fn attested(reason: &str, attested: bool) -> SourceGauges {
    SourceGauges {
        attested_reason: reason.into(),
        attested,
        ..gauges("Verified", true)
    }
}

fn request(registry: &str, status: Option<u16>) -> RequestRecord {
    RequestRecord {
        registry: registry.into(),
        method: "GET",
        status,
        purpose: crate::registry::Purpose::Discover,
        manifest_get: true,
        paused_until: None,
    }
}

#[test]
fn a_verdict_that_could_not_be_written_is_not_published_as_verified() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Unsigned", false));
    // The new verdict is Verified, but the status patch failed: not published as such.
    m.set_source(&podinfo(), &gauges("Verified", true).withheld());
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_verified{namespace="apps",name="podinfo",kind="OCIRepository",reason="ArtifactNotReady"} 0"#
    ), "{text}");
    assert!(!text.contains(r#"reason="Verified""#), "{text}");
    assert!(
        !text.contains(r#"reason="Unsigned""#),
        "the old verdict stays: {text}"
    );
    assert!(!text.contains("provenance_source_flux_agrees{"), "{text}");
    // A negative verdict is published even so: fail closed, and its alert fires.
    let g = gauges("KeyMismatch", false).withheld();
    assert_eq!((g.reason.as_str(), g.verified), ("KeyMismatch", false));
}

#[test]
fn a_failed_audit_withholds_an_exported_verified() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Verified", true));
    m.withhold_source(&podinfo());
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_verified{namespace="apps",name="podinfo",kind="OCIRepository",reason="ArtifactNotReady"} 0"#
    ), "{text}");
    assert!(!text.contains(r#"reason="Verified""#), "{text}");
    assert!(!text.contains("example/infra"), "{text}");
    assert!(!text.contains("provenance_source_flux_agrees{"), "{text}");
    // Withheld, then written: back to the verdict, with no leftover series.
    m.set_source(&podinfo(), &gauges("Verified", true));
    let text = m.encode();
    assert!(!text.contains("ArtifactNotReady"), "{text}");
    // A negative verdict is left alone.
    m.set_source(&podinfo(), &gauges("Unsigned", false));
    m.withhold_source(&podinfo());
    assert!(m.encode().contains(r#"reason="Unsigned"} 0"#));
}

#[test]
fn registry_series_are_bounded_and_pruned_with_their_sources() {
    let m = Metrics::new();
    let t0 = Instant::now();
    m.set_source(&podinfo(), &gauges("Verified", true));
    m.registry_request_at(&request("127.0.0.1:5000", Some(200)), t0);
    m.registry_request_at(&request("127.0.0.1:5000", Some(418)), t0);
    for n in 0..1000u16 {
        let host = format!("r{n}.evil.example");
        m.registry_request_at(&request(&host, Some(100 + n)), t0);
    }
    let text = m.encode();
    let series = text
        .lines()
        .filter(|l| l.starts_with("provenance_registry_requests_total{"))
        .count();
    // 64 hosts (one code each here, two for the source's) and `other` with at most every
    // code label: not 1000 hosts times 900 codes.
    assert!(series <= 64 + 1 + 30, "{series} series");
    assert!(
        text.contains(
            r#"provenance_registry_requests_total{registry="127.0.0.1:5000",code="4xx"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"registry="other""#), "{text}");
    // The evil hosts have no source: gone once idle; the source's registry stays.
    let idle = Duration::from_secs(600);
    m.prune_registries(t0 + idle, idle);
    let text = m.encode();
    assert!(!text.contains("evil.example"), "{text}");
    assert!(
        text.contains(r#"registry="127.0.0.1:5000",code="200"} 1"#),
        "{text}"
    );
    // Its source deleted: gone too.
    m.remove_source(&podinfo());
    m.prune_registries(t0 + idle, idle);
    assert!(!m.encode().contains("127.0.0.1:5000"));
}

#[test]
fn a_changed_signer_replaces_the_info_series() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Verified", true));
    let mut g = gauges("IdentityMismatch", false);
    g.signer = "https://github.com/evil/fork/.github/workflows/x.yml@refs/heads/main".into();
    m.set_source(&podinfo(), &g);
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_info{namespace="apps",name="podinfo",kind="OCIRepository",signer="https://github.com/evil/fork/.github/workflows/x.yml@refs/heads/main"} 1"#
    ), "{text}");
    assert!(!text.contains("example/infra"), "{text}");
}

#[test]
fn a_changed_reason_replaces_the_series_instead_of_adding_one() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Verified", true));
    m.set_source(&podinfo(), &gauges("Unsigned", false));
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_verified{namespace="apps",name="podinfo",kind="OCIRepository",reason="Unsigned"} 0"#
    ), "{text}");
    assert!(!text.contains(r#"reason="Verified""#), "{text}");
}

#[test]
fn a_deleted_source_leaves_no_series() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Verified", true));
    m.remove_source(&podinfo());
    let text = m.encode();
    assert!(!text.contains("podinfo"), "{text}");
    assert!(m.sources().is_empty());
}

#[test]
fn flux_agrees_is_absent_when_flux_does_not_verify() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &gauges("Verified", true));
    let mut g = gauges("Verified", true);
    g.flux_agrees = None;
    m.set_source(&podinfo(), &g);
    let text = m.encode();
    assert!(!text.contains("provenance_source_flux_agrees{"), "{text}");
    assert!(
        text.contains("provenance_source_verify_required{"),
        "{text}"
    );
}

#[test]
fn counters_carry_the_documented_names() {
    let m = Metrics::new();
    m.verifier()
        .verification(crate::engine::Verdict::Verified, 0.1);
    m.verifier().cache_hit();
    m.reconcile_error("Kubernetes");
    m.registry_request(&request("127.0.0.1:5000", Some(200)));
    let text = m.encode();
    for name in [
        r#"provenance_verifications_total{result="Verified"} 1"#,
        "provenance_verification_cache_hits_total 1",
        r#"provenance_reconcile_errors_total{reason="Kubernetes"} 1"#,
        r#"provenance_registry_requests_total{registry="127.0.0.1:5000",code="200"} 1"#,
        "provenance_verification_duration_seconds_count 1",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

#[test]
fn attested_follows_the_attested_condition_and_a_changed_reason_replaces_its_series() {
    let m = Metrics::new();
    m.set_source(&podinfo(), &attested("NotRequired", false));
    assert!(m.encode().contains(
        r#"provenance_source_attested{namespace="apps",name="podinfo",kind="OCIRepository",reason="NotRequired"} 0"#
    ));
    m.set_source(&podinfo(), &attested("AttestationMissing", false));
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_attested{namespace="apps",name="podinfo",kind="OCIRepository",reason="AttestationMissing"} 0"#
    ), "{text}");
    assert!(!text.contains(r#"reason="NotRequired""#), "{text}");
    // Verified and Attested are separate series: the source stays Verified.
    assert!(text.contains(
        r#"provenance_source_verified{namespace="apps",name="podinfo",kind="OCIRepository",reason="Verified"} 1"#
    ), "{text}");
    m.set_source(&podinfo(), &attested("Attested", true));
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_attested{namespace="apps",name="podinfo",kind="OCIRepository",reason="Attested"} 1"#
    ), "{text}");
    assert!(!text.contains("AttestationMissing"), "{text}");
}

#[test]
fn an_unpublished_or_failed_attested_is_withheld_and_a_deleted_source_has_none() {
    let g = attested("Attested", true).withheld();
    assert_eq!(
        (g.attested_reason.as_str(), g.attested),
        ("ArtifactNotReady", false)
    );
    let g = attested("AttestationPolicyFailed", false).withheld();
    assert_eq!(
        (g.attested_reason.as_str(), g.attested),
        ("AttestationPolicyFailed", false)
    );
    let m = Metrics::new();
    m.set_source(&podinfo(), &attested("Attested", true));
    m.withhold_source(&podinfo());
    let text = m.encode();
    assert!(text.contains(
        r#"provenance_source_attested{namespace="apps",name="podinfo",kind="OCIRepository",reason="ArtifactNotReady"} 0"#
    ), "{text}");
    assert!(!text.contains(r#"reason="Attested""#), "{text}");
    m.remove_source(&podinfo());
    assert!(!m.encode().contains("podinfo"));
}
