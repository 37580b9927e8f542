//! The compact audit snapshot: what it keeps, and that a malformed audit is recorded as such
//! instead of being taken for a status.

use super::*;
use crate::api::SourceKind;
use kube::api::ApiResource;
use serde_json::json;

fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).expect("a DynamicObject")
}

fn audit(status: Value) -> DynamicObject {
    let mut v = json!({
        "apiVersion": "provenance.dev/v1alpha1",
        "kind": "SourceAudit",
        "metadata": {
            "name": "ocirepository-podinfo",
            "namespace": "apps",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"sharding.fluxcd.io/key": "shard1"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
            "ownerReferences": [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                                 "name": "podinfo", "uid": "src-uid", "controller": true}],
            "managedFields": [{"manager": "provenance-auditor", "operation": "Apply"}],
        },
        "spec": {"sourceRef": {"kind": "OCIRepository", "name": "podinfo"}},
    });
    if !status.is_null() {
        v["status"] = status;
    }
    dynamic(v)
}

fn a_status() -> Value {
    json!({
        "digest": "sha256:0123",
        "signer": "someone",
        "observedGeneration": 3,
        "conditions": [{"type": "Verified", "status": "True", "reason": "Verified", "message": "ok",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3}],
        "seal": "hmac-sha256:v2:00",
    })
}

/// What `previous_audit` returned before the store was compact: the object typed whole.
fn typed_whole(o: &DynamicObject) -> SourceAudit {
    serde_json::from_value(serde_json::to_value(o).unwrap()).unwrap()
}

#[test]
fn a_stored_audit_types_as_the_whole_object_did_for_what_readers_use() {
    let o = audit(a_status());
    let whole = typed_whole(&o);
    let stored = StoredAudit::from(o);
    let typed = stored.to_source_audit().expect("parses");
    assert_eq!(typed.status, whole.status);
    assert_eq!(typed.spec, whole.spec);
    let (m, w) = (&typed.metadata, &whole.metadata);
    assert_eq!(
        (
            &m.name,
            &m.namespace,
            &m.uid,
            &m.resource_version,
            m.generation,
            &m.labels,
            &m.owner_references,
            &m.deletion_timestamp
        ),
        (
            &w.name,
            &w.namespace,
            &w.uid,
            &w.resource_version,
            w.generation,
            &w.labels,
            &w.owner_references,
            &w.deletion_timestamp
        )
    );
    // What nothing reads is not kept.
    assert!(m.annotations.is_none());
    assert!(m.managed_fields.is_none());
}

#[test]
fn an_audit_without_status_is_absent_not_unparseable() {
    let stored = StoredAudit::from(audit(Value::Null));
    assert_eq!(stored.status, StoredStatus::Absent);
    assert_eq!(stored.to_source_audit().unwrap().status, None);
    let mut o = audit(Value::Null);
    o.data["status"] = Value::Null;
    assert_eq!(StoredAudit::from(o).status, StoredStatus::Absent);
}

#[test]
fn a_status_someone_else_wrote_that_does_not_parse_is_never_taken_for_one() {
    for bad in [
        json!({"conditions": "not a list"}),
        json!({"digest": 7}),
        json!("a string"),
        json!({"observedGeneration": "three"}),
    ] {
        let stored = StoredAudit::from(audit(bad.clone()));
        assert_eq!(stored.status, StoredStatus::Unparseable, "{bad}");
        assert!(stored.to_source_audit().is_none(), "{bad}: GET instead");
        // Still identified, so the sweep and the store's key work for it.
        assert_eq!(
            stored.metadata.name.as_deref(),
            Some("ocirepository-podinfo")
        );
        assert_eq!(
            stored.source_ref.as_ref().map(|r| r.kind),
            Some(SourceKind::OciRepository)
        );
    }
}

#[test]
fn an_unknown_source_kind_has_no_source_ref_and_no_typed_audit() {
    let mut o = audit(a_status());
    o.data["spec"]["sourceRef"]["kind"] = json!("GitRepository");
    let stored = StoredAudit::from(o);
    assert!(stored.source_ref.is_none());
    assert!(stored.to_source_audit().is_none());
}

#[test]
fn the_store_keys_a_compact_audit_as_the_untyped_one() {
    let o = audit(a_status());
    let untyped = kube::runtime::reflector::ObjectRef::from_obj_with(
        &o,
        ApiResource::erase::<SourceAudit>(&()),
    );
    let stored = StoredAudit::from(o);
    let compact = kube::runtime::reflector::ObjectRef::from_obj(&stored);
    assert_eq!(compact.name, untyped.name);
    assert_eq!(compact.namespace, untyped.namespace);
    assert_eq!(
        compact,
        kube::runtime::reflector::ObjectRef::<StoredAudit>::new("ocirepository-podinfo")
            .within("apps")
    );
}

#[test]
fn events_keep_their_kind_when_compacted() {
    use kube::runtime::watcher::Event;
    assert!(matches!(compact(Event::Init), Event::Init));
    assert!(matches!(compact(Event::InitDone), Event::InitDone));
    assert!(matches!(
        compact(Event::Delete(audit(Value::Null))),
        Event::Delete(a) if a.metadata.resource_version.as_deref() == Some("42")
    ));
    assert!(matches!(
        compact(Event::Apply(audit(a_status()))),
        Event::Apply(StoredAudit {
            status: StoredStatus::Parsed(_),
            ..
        })
    ));
    assert!(matches!(
        compact(Event::InitApply(audit(a_status()))),
        Event::InitApply(StoredAudit {
            status: StoredStatus::Parsed(_),
            ..
        })
    ));
}
