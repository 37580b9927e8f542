use serde_json::json;

use super::*;

fn key(ns: &str, name: &str) -> SecretKey {
    (ns.to_string(), name.to_string())
}

fn object(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": spec,
    }))
    .unwrap()
}

fn sources() -> Vec<DynamicObject> {
    vec![
        object(
            "keyed",
            json!({"url": "oci://r.example/a", "secretRef": {"name": "regcred"},
                   "verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}}),
        ),
        object("plain", json!({"url": "oci://r.example/b"})),
    ]
}

fn parsed(objs: &[DynamicObject]) -> Vec<(&DynamicObject, FluxSource)> {
    objs.iter()
        .map(|o| (o, FluxSource::from_dynamic(o).unwrap()))
        .collect()
}

fn names(objs: Vec<&DynamicObject>) -> Vec<String> {
    objs.iter()
        .map(|o| o.metadata.name.clone().unwrap())
        .collect()
}

fn policy() -> ProvenancePolicySpec {
    serde_json::from_value(json!({
        "match": {},
        "verify": {"provider": "cosign",
                   "secretRef": {"namespace": "security", "name": "keys"}},
    }))
    .unwrap()
}

#[test]
fn a_source_names_its_pull_key_and_ca_secrets() {
    let objs = sources();
    let s = &parsed(&objs)[0].1;
    assert_eq!(
        source_secrets(s),
        BTreeSet::from([key("apps", "regcred"), key("apps", "cosign-pub")])
    );
    assert_eq!(
        policy_secrets(&policy()),
        BTreeSet::from([key("security", "keys")])
    );
}

#[test]
fn only_a_changed_version_is_a_change() {
    let mut v = Versions::default();
    let named = BTreeSet::from([key("apps", "a"), key("apps", "b")]);
    let first = Observed::from([
        (key("apps", "a"), Some("1".into())),
        (key("apps", "b"), None),
    ]);
    // The first sight of a Secret is the baseline, not a change.
    assert!(v.update(&named, &first).is_empty());
    assert!(v.update(&named, &first).is_empty());
    let second = Observed::from([
        (key("apps", "a"), Some("2".into())),
        // Created since: a change too (a missing key Secret now exists).
        (key("apps", "b"), Some("7".into())),
    ]);
    assert_eq!(
        v.update(&named, &second),
        [key("apps", "a"), key("apps", "b")]
    );
    // Deleted: a change.
    let third = Observed::from([
        (key("apps", "a"), None),
        (key("apps", "b"), Some("7".into())),
    ]);
    assert_eq!(v.update(&named, &third), [key("apps", "a")]);
}

#[test]
fn a_failed_read_is_no_change_and_the_next_read_compares_with_the_last_seen() {
    let mut v = Versions::default();
    let named = BTreeSet::from([key("apps", "a")]);
    v.update(
        &named,
        &Observed::from([(key("apps", "a"), Some("1".into()))]),
    );
    // The read failed: absent from what was observed.
    assert!(v.update(&named, &Observed::new()).is_empty());
    assert_eq!(
        v.update(
            &named,
            &Observed::from([(key("apps", "a"), Some("2".into()))])
        ),
        [key("apps", "a")]
    );
}

#[test]
fn a_secret_no_longer_named_is_forgotten() {
    let mut v = Versions::default();
    let a = BTreeSet::from([key("apps", "a")]);
    v.update(&a, &Observed::from([(key("apps", "a"), Some("1".into()))]));
    v.update(&BTreeSet::new(), &Observed::new());
    // Named again later: a new baseline, not a change against the old version.
    assert!(v
        .update(&a, &Observed::from([(key("apps", "a"), Some("9".into()))]))
        .is_empty());
}

#[test]
fn a_source_secret_re_audits_its_source_and_a_policy_secret_every_source() {
    let objs = sources();
    let policies = vec![("keys".to_string(), policy())];
    assert_eq!(
        names(affected(
            &[key("apps", "cosign-pub")],
            &policies,
            parsed(&objs)
        )),
        ["keyed"]
    );
    assert!(affected(&[key("other", "cosign-pub")], &policies, parsed(&objs)).is_empty());
    assert_eq!(
        names(affected(
            &[key("security", "keys")],
            &policies,
            parsed(&objs)
        )),
        ["keyed", "plain"]
    );
}
