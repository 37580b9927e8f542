use std::collections::BTreeMap;

use kube::core::SelectorExt;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn flux_sharding_selectors_parse_and_select_like_the_api_server() {
    let shard1 = parse("sharding.fluxcd.io/key=shard1").unwrap();
    let rest = parse("!sharding.fluxcd.io/key").unwrap();
    let on1 = labels(&[("sharding.fluxcd.io/key", "shard1")]);
    let on2 = labels(&[("sharding.fluxcd.io/key", "shard2")]);
    let none = labels(&[("app", "podinfo")]);
    assert!(shard1.matches(&on1));
    assert!(!shard1.matches(&on2));
    assert!(!shard1.matches(&none));
    assert!(!rest.matches(&on1));
    assert!(!rest.matches(&on2));
    assert!(rest.matches(&none));
    // What the watch sends is the same selector.
    assert_eq!(shard1.to_string(), "sharding.fluxcd.io/key=shard1");
    assert_eq!(rest.to_string(), "!sharding.fluxcd.io/key");
}

#[test]
fn every_operator_parses() {
    let s = parse("a==1, b!=2,c in (x, y),d notin (z),e,!f").unwrap();
    assert_eq!(
        s.to_string(),
        "a=1,b!=2,c in (x,y),d notin (z),e,!f",
        "{s:?}"
    );
    let keys: Vec<String> = s.clone().into_iter().map(|e| key(&e).to_string()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "f"]);
    assert!(s.matches(&labels(&[("a", "1"), ("c", "y"), ("e", "")])));
    assert!(!s.matches(&labels(&[("a", "1"), ("c", "y"), ("e", ""), ("f", "")])));
    assert!(!s.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "y"), ("e", "")])));
}

#[test]
fn empty_selects_everything() {
    assert!(parse("").unwrap().selects_all());
    assert!(parse("  ").unwrap().selects_all());
}

#[test]
fn malformed_selectors_are_refused() {
    for bad in [
        "a=b,",
        ",a",
        "a in b",
        "a in (b",
        "a=(b)",
        "-a=b",
        "a=b c",
        "Example.com/a=b",
        "/a",
        "a/",
        "!",
        "a=b)",
        &format!("a={}", "v".repeat(64)),
    ] {
        assert!(parse(bad).is_err(), "{bad:?} was accepted");
    }
}
