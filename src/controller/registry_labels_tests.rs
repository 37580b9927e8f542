use super::*;
use crate::controller::metrics::SourceLabels;

fn source(name: &str) -> SourceLabels {
    SourceLabels {
        namespace: "apps".into(),
        name: name.into(),
        kind: "OCIRepository".into(),
    }
}

#[test]
fn common_codes_stay_others_become_their_class() {
    assert_eq!(code_label(Some(200)), "200");
    assert_eq!(code_label(Some(429)), "429");
    assert_eq!(code_label(Some(503)), "503");
    assert_eq!(code_label(Some(299)), "2xx");
    assert_eq!(code_label(Some(418)), "4xx");
    assert_eq!(code_label(Some(599)), "5xx");
    assert_eq!(code_label(Some(999)), "other");
    assert_eq!(code_label(Some(42)), "other");
    assert_eq!(code_label(None), "error");
}

#[test]
fn every_status_a_registry_can_send_maps_to_a_small_fixed_set() {
    let labels: BTreeSet<&str> = (0..=u16::MAX).map(|s| code_label(Some(s))).collect();
    assert!(labels.len() <= CODES.len() + 6, "{labels:?}");
    // The dashboard's "not 2xx" panel selects code!~"2..": every success must match it.
    for s in 200..300 {
        let l = code_label(Some(s));
        assert!(l.len() == 3 && l.starts_with('2'), "{s} -> {l}");
    }
}

#[test]
fn hosts_beyond_the_cap_and_implausible_ones_are_other() {
    let mut set = RegistryLabelSet::<SourceLabels>::default();
    let now = Instant::now();
    for n in 0..1000 {
        let host = format!("r{n}.example.com");
        let label = set.label(&host, "200", now);
        if n < MAX_REGISTRIES {
            assert_eq!(label, host);
        } else {
            assert_eq!(label, OTHER);
        }
    }
    assert_eq!(set.hosts().len(), MAX_REGISTRIES);
    let mut set = RegistryLabelSet::<SourceLabels>::default();
    assert_eq!(set.label(&"a".repeat(10_000), "200", now), OTHER);
    assert_eq!(set.label("evil\"}\n", "200", now), OTHER);
    assert_eq!(set.label("127.0.0.1:5000", "200", now), "127.0.0.1:5000");
}

#[test]
fn a_registry_no_source_uses_is_pruned_once_idle() {
    let mut set = RegistryLabelSet::<SourceLabels>::default();
    let t0 = Instant::now();
    let idle = Duration::from_secs(600);
    set.label("used.example.com", "200", t0);
    set.label("gone.example.com", "200", t0);
    set.label("gone.example.com", "error", t0);
    set.set_source(&source("a"), Some("used.example.com"));
    // A new source's first requests come before its gauges: not pruned while recent.
    assert!(set.prune(t0 + Duration::from_secs(5), idle).is_empty());
    let mut pruned = set.prune(t0 + idle, idle);
    pruned.sort();
    assert_eq!(
        pruned,
        [
            ("gone.example.com".to_string(), "200".to_string()),
            ("gone.example.com".to_string(), "error".to_string())
        ]
    );
    assert_eq!(
        set.hosts(),
        BTreeSet::from(["used.example.com".to_string()])
    );
    // The last source using it goes: pruned too, and its slot is free again.
    set.set_source(&source("a"), None);
    assert_eq!(set.prune(t0 + idle, idle).len(), 1);
    assert!(set.hosts().is_empty());
}

#[test]
fn host_of_reads_oci_urls() {
    assert_eq!(host_of("oci://ghcr.io/org/app"), Some("ghcr.io"));
    assert_eq!(
        host_of("oci://127.0.0.1:5000/a/b:v1"),
        Some("127.0.0.1:5000")
    );
    assert_eq!(host_of("oci://"), None);
    assert_eq!(host_of("nohost"), None);
}
