use std::collections::BTreeMap;

use super::*;

const KEY: &str = "sharding.fluxcd.io/key";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unsharded_owns_everything_and_keeps_the_lease_name() {
    let s = Shard::new(None, &[]).unwrap();
    assert!(!s.is_sharded());
    assert!(s.owns("any", &labels(&[(KEY, "shard1")])));
    assert_eq!(s.lease_name("provenance-auditor"), "provenance-auditor");
    assert!(s
        .audit_labels(&labels(&[(KEY, "shard1"), ("app", "x")]))
        .is_empty());
    assert!(s.watcher_config().label_selector.is_none());
    let empty = Shard::new(Some(""), &["".into()]).unwrap();
    assert!(!empty.is_sharded());
}

#[test]
fn shards_and_the_remainder_partition_sources() {
    let s1 = Shard::new(Some(&format!("{KEY}=shard1")), &[]).unwrap();
    let s2 = Shard::new(Some(&format!("{KEY}=shard2")), &[]).unwrap();
    let rest = Shard::new(Some(&format!("!{KEY}")), &[]).unwrap();
    for (source, owner) in [
        (labels(&[(KEY, "shard1")]), 0),
        (labels(&[(KEY, "shard2"), ("app", "x")]), 1),
        (labels(&[("app", "x")]), 2),
    ] {
        let owners: Vec<usize> = [&s1, &s2, &rest]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.owns("apps", &source))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(owners, [owner], "{source:?}");
        // The audit's labels select the audit with the same selector as its source.
        let shard = [&s1, &s2, &rest][owner];
        let audit = shard.audit_labels(&source);
        assert!(shard.owns("apps", &audit), "{audit:?}");
        assert!(
            !audit.contains_key("app"),
            "only the keys the selector reads: {audit:?}"
        );
    }
    assert_eq!(
        s1.watcher_config().label_selector.as_deref(),
        Some("sharding.fluxcd.io/key=shard1")
    );
}

#[test]
fn each_shard_has_its_own_lease() {
    let names: Vec<String> = [
        Shard::new(Some(&format!("{KEY}=shard1")), &[]),
        Shard::new(Some(&format!("{KEY}=shard2")), &[]),
        Shard::new(Some(&format!("!{KEY}")), &[]),
        Shard::new(None, &["a".into()]),
        Shard::new(None, &["b".into()]),
        Shard::new(None, &["a".into(), "b".into()]),
    ]
    .into_iter()
    .map(|s| s.unwrap().lease_name("provenance-auditor"))
    .collect();
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.len() <= 63 && n.starts_with("provenance-auditor-")));
    // The same shard, however spelled, keeps its Lease across restarts.
    assert_eq!(
        Shard::new(None, &["b".into(), "a".into(), "a".into()])
            .unwrap()
            .lease_name("provenance-auditor"),
        names[5]
    );
}

#[test]
fn the_namespace_allow_list_scopes_the_watches() {
    let s = Shard::new(None, &["team-b".into(), " team-a ".into()]).unwrap();
    assert!(s.is_sharded());
    assert!(s.owns_namespace("team-a") && s.owns_namespace("team-b"));
    assert!(!s.owns_namespace("team-c"));
    assert_eq!(s.describe(), "namespaces team-a,team-b");
    assert!(Shard::new(None, &["Team_A".into()]).is_err());
    assert!(Shard::new(Some("a in b"), &[]).is_err());
}
