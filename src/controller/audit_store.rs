//! The in-memory copy of the `SourceAudit`s the controller reads instead of a GET per reconcile:
//! a compact, typed snapshot of each one rather than its JSON tree.
//!
//! At 10,000 sources the audits held as `DynamicObject`s (a `serde_json::Value` per field, a
//! `String` per key) were the largest part of the controller's memory, and every reconcile
//! turned its audit back into a typed `SourceAudit` (serialise, then parse) to read the previous
//! status. Here each watch event is parsed once into [`StoredAudit`], keeping only what the
//! readers need (the reconcile's previous status, owner and labels; the sweep's identity and
//! source reference).
//!
//! The watch itself stays untyped and the conversion cannot fail: a tenant may write anything
//! into `sourceaudits/status`, and one malformed audit must neither stop the watch nor be taken
//! for a status. It is kept as [`StoredStatus::Unparseable`], and the reconcile falls back to a
//! GET for it as it would for an audit the store does not know.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use kube::Resource;
use serde_json::Value;

use crate::api::{SourceAudit, SourceAuditSpec, SourceAuditStatus, SourceRef};

/// What the store knows of an audit's status.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredStatus {
    /// No status yet (absent or `null`).
    Absent,
    /// The status as the controller's type reads it (boxed: `Absent` audits stay small).
    Parsed(Box<SourceAuditStatus>),
    /// A status that does not parse as a `SourceAuditStatus` (someone else wrote it): the
    /// store cannot stand for the audit.
    Unparseable,
}

/// A `SourceAudit` as the store keeps it: the metadata its readers use, the source it names
/// (`None` when `spec.sourceRef` does not parse) and the status parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAudit {
    /// Name, namespace, uid, resourceVersion, generation, labels, ownerReferences and
    /// deletionTimestamp; nothing else.
    pub metadata: ObjectMeta,
    /// `spec.sourceRef`, when it parses.
    pub source_ref: Option<SourceRef>,
    /// `status`.
    pub status: StoredStatus,
}

impl Resource for StoredAudit {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        SourceAudit::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        SourceAudit::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        SourceAudit::version(dt)
    }
    fn api_version(dt: &()) -> Cow<'_, str> {
        SourceAudit::api_version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        SourceAudit::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl From<DynamicObject> for StoredAudit {
    fn from(mut o: DynamicObject) -> Self {
        let m = &mut o.metadata;
        let metadata = ObjectMeta {
            name: m.name.take(),
            namespace: m.namespace.take(),
            uid: m.uid.take(),
            resource_version: m.resource_version.take(),
            generation: m.generation,
            labels: m.labels.take(),
            owner_references: m.owner_references.take(),
            deletion_timestamp: m.deletion_timestamp.take(),
            ..ObjectMeta::default()
        };
        let source_ref = o
            .data
            .get_mut("spec")
            .and_then(|s| s.get_mut("sourceRef"))
            .map(Value::take)
            .and_then(|r| serde_json::from_value(r).ok());
        let status = match o.data.get_mut("status").map(Value::take) {
            None | Some(Value::Null) => StoredStatus::Absent,
            Some(s) => match serde_json::from_value(s) {
                Ok(s) => StoredStatus::Parsed(Box::new(s)),
                Err(_) => StoredStatus::Unparseable,
            },
        };
        Self {
            metadata,
            source_ref,
            status,
        }
    }
}

impl StoredAudit {
    /// The audit as a GET would type it, or `None` when its spec or status does not parse (the
    /// caller then GETs it, as it would have to for a typed answer).
    pub fn to_source_audit(&self) -> Option<SourceAudit> {
        let status = match &self.status {
            StoredStatus::Absent => None,
            StoredStatus::Parsed(s) => Some(s.as_ref().clone()),
            StoredStatus::Unparseable => return None,
        };
        Some(SourceAudit {
            metadata: self.metadata.clone(),
            spec: SourceAuditSpec {
                source_ref: self.source_ref.clone()?,
            },
            status,
        })
    }
}

/// A watch event of untyped audits as the store takes it.
pub fn compact(e: watcher::Event<DynamicObject>) -> watcher::Event<StoredAudit> {
    use watcher::Event::*;
    match e {
        Apply(o) => Apply(o.into()),
        Delete(o) => Delete(o.into()),
        InitApply(o) => InitApply(o.into()),
        Init => Init,
        InitDone => InitDone,
    }
}

#[cfg(test)]
#[path = "audit_store_tests.rs"]
mod tests;
