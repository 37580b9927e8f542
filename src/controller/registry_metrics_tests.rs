//! The registry half of the controller's metrics: requests by purpose, manifest GETs per host,
//! pauses and budgets, and that a host's series go with it.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::registry::{BudgetSpec, Purpose, Throttle};

fn record(host: &str, method: &'static str, purpose: Purpose, manifest_get: bool) -> RequestRecord {
    RequestRecord {
        registry: host.into(),
        method,
        status: Some(200),
        purpose,
        manifest_get,
        paused_until: None,
    }
}

#[test]
fn requests_are_counted_by_method_and_purpose_and_manifest_gets_by_host() {
    let m = Metrics::new();
    m.registry_request(&record("docker.io", "HEAD", Purpose::Recheck, false));
    m.registry_request(&record("docker.io", "HEAD", Purpose::Recheck, false));
    m.registry_request(&record("docker.io", "GET", Purpose::Discover, true));
    m.registry_request(&record("ghcr.io", "GET", Purpose::Attestation, false));
    let text = m.encode();
    for line in [
        r#"provenance_registry_requests_by_purpose_total{method="HEAD",purpose="recheck"} 2"#,
        r#"provenance_registry_requests_by_purpose_total{method="GET",purpose="discover"} 1"#,
        r#"provenance_registry_requests_by_purpose_total{method="GET",purpose="attestation"} 1"#,
        r#"provenance_registry_manifest_gets_total{registry="docker.io"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert!(
        !text.contains(r#"provenance_registry_manifest_gets_total{registry="ghcr.io"}"#),
        "a blob or listing GET is not a manifest GET: {text}"
    );
}

#[test]
fn a_pause_is_exported_with_its_end() {
    let m = Metrics::new();
    let until = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    m.registry_request(&RequestRecord {
        status: Some(429),
        paused_until: Some(until),
        ..record("ghcr.io", "GET", Purpose::Discover, true)
    });
    let text = m.encode();
    assert!(
        text.contains(r#"provenance_registry_paused_until_seconds{registry="ghcr.io"} 2000000000"#),
        "{text}"
    );
    assert!(text.contains(r#"provenance_registry_pauses_total{registry="ghcr.io"} 1"#));
    assert!(text.contains(r#"provenance_registry_requests_total{registry="ghcr.io",code="429"} 1"#));
}

#[test]
fn budgets_are_read_when_the_metrics_are_encoded() {
    let m = Metrics::new();
    let t = Throttle::new(vec![BudgetSpec {
        host: "docker.io".into(),
        limit: 80,
        window: Duration::from_secs(6 * 3600),
    }])
    .unwrap();
    m.watch_budgets(t.clone());
    let text = m.encode();
    assert!(
        text.contains(r#"provenance_registry_budget_remaining{registry="docker.io"} 80"#),
        "{text}"
    );
    assert!(text.contains(r#"provenance_registry_budget_limit{registry="docker.io"} 80"#));
    // What the registry client counts shows at the next scrape.
    t.take("registry-1.docker.io", false, Instant::now())
        .unwrap();
    t.take("index.docker.io", true, Instant::now()).unwrap();
    let text = m.encode();
    assert!(
        text.contains(r#"provenance_registry_budget_remaining{registry="docker.io"} 78"#),
        "{text}"
    );
}

#[test]
fn a_registry_no_source_uses_loses_its_host_series_once_idle() {
    let m = Metrics::new();
    m.registry_request(&RequestRecord {
        paused_until: Some(UNIX_EPOCH + Duration::from_secs(5)),
        ..record("gone.example", "GET", Purpose::Discover, true)
    });
    assert!(m.encode().contains("gone.example"));
    m.prune_registries(
        Instant::now() + Duration::from_secs(3600),
        Duration::from_secs(600),
    );
    let text = m.encode();
    assert!(!text.contains("gone.example"), "{text}");
}
