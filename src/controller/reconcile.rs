//! One source's audit: the thin I/O shell around the pure `src/audit` functions.
//!
//! read the source → [`crate::verifier::pipeline`] (fetch the policies' and the source's Secrets →
//! `decide` → resolve the digest → verdict cache or registry + `evaluate` → status) → apply the
//! `SourceAudit` → events, metrics. The pipeline writes nothing; `provenance-auditor audit`
//! runs the same one and prints the status instead.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::api_errors::namespace_terminating;
use super::metrics::{SourceGauges, SourceLabels};
use super::reports::results::{self as report_results, Subject};
use super::state::backoff;
use super::status_patch::merge_patch;
use super::text::truncate;
use super::{Context, MANAGER};
use crate::api::{SourceAudit, SourceAuditStatus};
use crate::audit::decide::Decision;
use crate::audit::source::FluxSource;
use crate::error::Error;
use crate::verifier::{needs_namespace_labels, Judged};
use crate::vocabulary::{self as vocab, reasons, types, Status};

/// Audits one source; the returned action schedules the next audit (resync or retry).
pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    // Deciding before the policies are listed would judge the source against no policy — a
    // wrong verdict, and a cache miss that asks the registry (seen right after a restart).
    let policies_listed =
        tokio::time::timeout(Duration::from_secs(2), ctx.policy_store.wait_until_ready()).await;
    if policies_listed.is_err() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let source = match FluxSource::from_dynamic(&obj) {
        Ok(s) => s,
        Err(e) => {
            // A malformed object is reported and left alone until it changes.
            tracing::warn!(object = %obj.name_any(), error = %e, "cannot read Flux source");
            ctx.metrics.reconcile_error("MalformedSource");
            if let (Some(r), Some(s)) = (&ctx.reports, subject_of(&obj)) {
                r.record(
                    &s,
                    report_results::failed(&s, "the Flux source cannot be read"),
                );
            }
            return Ok(Action::await_change());
        }
    };
    let key = source.display();
    let audited = audit(&obj, &source, &ctx).await;
    ctx.metrics.reconciled();
    match audited {
        Ok(Audited { retry, recheck_in }) => {
            let failures = ctx.backoff.record(&key, retry);
            // Back again by the verdict's re-check time (a negative verdict's backoff, the
            // re-verify interval), never later than the resync.
            let next = recheck_in.map_or(ctx.resync, |r| r.min(ctx.resync));
            Ok(match failures {
                0 => Action::requeue(next.max(Duration::from_secs(1))),
                // A registry that asked us to back off is not asked again before its pause ends.
                n => Action::requeue(
                    backoff(n)
                        .max(recheck_in.unwrap_or_default())
                        .min(ctx.resync),
                ),
            })
        }
        Err(e) => {
            // No new verdict was published: the last one must not keep saying Verified.
            ctx.metrics.withhold_source(&labels(&source));
            ctx.metrics.reconcile_error(e.category());
            ctx.backoff.record(&key, true);
            if let Some(r) = &ctx.reports {
                let s = subject(&obj, &source);
                let why = format!("the audit failed ({}); retrying", e.category());
                r.record(&s, report_results::failed(&s, &why));
            }
            Err(e)
        }
    }
}

/// What one audit asks of the next.
#[derive(Debug, Default)]
struct Audited {
    /// The verdict is indeterminate and worth retrying soon.
    retry: bool,
    /// When its definite verdict must be checked against the registry again.
    recheck_in: Option<Duration>,
}

/// Runs the pipeline.
async fn audit(obj: &DynamicObject, source: &FluxSource, ctx: &Context) -> Result<Audited, Error> {
    // A source on its way out gets no new audit; the sweep removes the old one once it is gone.
    if obj.metadata.deletion_timestamp.is_some() {
        forget_report(ctx, source);
        return Ok(Audited::default());
    }
    let verifier = &ctx.verifier;
    let policies = ctx.policies();
    let ns_labels = if needs_namespace_labels(&policies) {
        match verifier.namespace_labels(&source.namespace).await {
            Ok(Some(labels)) => Ok(labels),
            // The namespace is gone, so the source is going with it: nothing to audit.
            Ok(None) => {
                forget_report(ctx, source);
                return Ok(Audited::default());
            }
            Err(why) => Err(why),
        }
    } else {
        Ok(Default::default())
    };
    let audits: Api<SourceAudit> = Api::namespaced(ctx.client.clone(), &source.namespace);
    let name = SourceAudit::name_for(source.kind, &source.name);
    let written_key = format!("{}/{name}", source.namespace);
    let previous = previous_audit(ctx, &audits, &source.namespace, &name).await?;
    let prev_status = previous.as_ref().and_then(|a| a.status.clone());
    let generation = previous.as_ref().and_then(|a| a.metadata.generation);
    let Judged {
        decision,
        outcome: _,
        status,
        recheck_in,
        retry,
    } = verifier
        .judge(
            source,
            &policies,
            &ns_labels,
            prev_status.as_ref(),
            generation,
        )
        .await?;
    if !ctx.is_leader() {
        return Ok(Audited::default());
    }
    // (Re)apply the object when it is new or owned by an earlier source of the same name.
    let owned = previous.as_ref().is_some_and(|a| {
        a.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == obj.metadata.uid.as_ref())
    });
    // A shard's audit carries the labels its selector reads (see shard.rs); a source whose
    // labels changed gets them re-applied.
    let shard_labels = ctx.shard.audit_labels(obj.labels());
    let relabel = previous
        .as_ref()
        .is_some_and(|a| ctx.shard.audit_labels(a.labels()) != shard_labels);
    let mut status = status;
    if !owned || relabel {
        let applied = match previous {
            None => create_audit(&audits, &name, obj, source, &shard_labels).await?,
            Some(_) => apply_audit(&audits, &name, obj, source, &shard_labels).await?,
        };
        ctx.written
            .record(&written_key, applied.metadata.resource_version.clone());
        // A new audit's status was computed before the audit had a generation: stamp the one
        // it got now, or the next audit finds the status changed and writes it all again.
        if applied.metadata.generation != generation {
            restamp(&mut status, applied.metadata.generation);
            ctx.verifier.sealer().seal(source, &mut status);
        }
    }
    if prev_status.as_ref() != Some(&status) {
        let to_json = |s: &SourceAuditStatus| {
            serde_json::to_value(s).map_err(|e| Error::Internal(format!("status: {e}")))
        };
        let old = prev_status.as_ref().map(to_json).transpose()?;
        let patch = json!({"status": merge_patch(old.as_ref(), &to_json(&status)?)});
        let written = audits
            .patch_status(
                &name,
                &PatchParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                },
                &Patch::Merge(&patch),
            )
            .await;
        match written {
            Ok(a) => ctx
                .written
                .record(&written_key, a.metadata.resource_version),
            Err(e) => {
                // The status still holds the previous verdict; the metrics must not (fail
                // closed). Nor may the store's copy stand for the audit now.
                ctx.written.record(&written_key, Some(String::new()));
                ctx.metrics
                    .set_source(&labels(source), &gauges(&status, &decision).withheld());
                return Err(e.into());
            }
        }
    }
    publish_events(ctx, obj, source, &name, prev_status.as_ref(), &status).await;
    if let Some(r) = &ctx.reports {
        let subject = subject(obj, source);
        r.record(
            &subject,
            report_results::results(&subject, &status, &decision),
        );
    }
    ctx.metrics
        .set_source(&labels(source), &gauges(&status, &decision));
    Ok(Audited { retry, recheck_in })
}

/// The `SourceAudit` as it is now: the audit store's copy when it is current (see
/// [`super::state::Written`]), else a GET. Saves a GET per no-op reconcile.
async fn previous_audit(
    ctx: &Context,
    audits: &Api<SourceAudit>,
    namespace: &str,
    name: &str,
) -> Result<Option<SourceAudit>, Error> {
    let key = format!("{namespace}/{name}");
    let store = &ctx.audit_store;
    if store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
    {
        let stored = store.get(&ObjectRef::new(name).within(namespace));
        let version = stored
            .as_ref()
            .and_then(|o| o.metadata.resource_version.as_deref());
        if ctx.written.is_current(&key, version) {
            match stored {
                None => return Ok(None),
                // Typed like a GET would be (parsed once per watch event, not per reconcile);
                // one that does not parse is left to the GET's error.
                Some(o) => {
                    if let Some(a) = o.to_source_audit() {
                        return Ok(Some(a));
                    }
                }
            }
        }
    }
    let found = audits.get_opt(name).await?;
    ctx.written.record(
        &key,
        found
            .as_ref()
            .and_then(|a| a.metadata.resource_version.clone()),
    );
    Ok(found)
}

/// Creates a new `SourceAudit` (spec and owner reference only; the status is written
/// separately): a plain create, which costs kube-apiserver less than an apply. When it exists
/// after all (the audit store had not seen it yet), it is applied instead.
async fn create_audit(
    audits: &Api<SourceAudit>,
    name: &str,
    obj: &DynamicObject,
    source: &FluxSource,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<SourceAudit, Error> {
    let audit: SourceAudit = serde_json::from_value(audit_object(name, obj, source, labels))
        .map_err(|e| Error::Internal(format!("audit object: {e}")))?;
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match audits.create(&pp, &audit).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            apply_audit(audits, name, obj, source, labels).await
        }
        created => Ok(created?),
    }
}

/// Applies the `SourceAudit`'s spec, owner reference and shard labels (an audit left by an
/// earlier source of the same name, or whose source's labels changed).
async fn apply_audit(
    audits: &Api<SourceAudit>,
    name: &str,
    obj: &DynamicObject,
    source: &FluxSource,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<SourceAudit, Error> {
    let audit = audit_object(name, obj, source, labels);
    let applied = audits
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&audit),
        )
        .await?;
    Ok(applied)
}

/// The `SourceAudit` of a source, without status: its spec, its owner reference (the source,
/// so that garbage collection removes it with the source) and the shard's labels.
fn audit_object(
    name: &str,
    obj: &DynamicObject,
    source: &FluxSource,
    labels: &std::collections::BTreeMap<String, String>,
) -> serde_json::Value {
    let owner = json!({
        "apiVersion": obj.types.as_ref().map(|t| t.api_version.clone()).unwrap_or_else(|| "source.toolkit.fluxcd.io/v1".into()),
        "kind": source.kind.as_str(),
        "name": source.name,
        "uid": obj.uid().unwrap_or_default(),
        "controller": true,
    });
    let mut audit = json!({
        "apiVersion": SourceAudit::api_version(&()),
        "kind": SourceAudit::kind(&()),
        "metadata": {"name": name, "namespace": source.namespace, "ownerReferences": [owner]},
        "spec": {"sourceRef": {"kind": source.kind.as_str(), "name": source.name}},
    });
    if !labels.is_empty() {
        audit["metadata"]["labels"] = json!(labels);
    }
    audit
}

/// Sets the audit generation a status describes (its own and its conditions').
fn restamp(status: &mut SourceAuditStatus, generation: Option<i64>) {
    status.observed_generation = generation;
    for c in &mut status.conditions {
        c.observed_generation = generation;
    }
}

/// Events: on the audit when the `Verified` reason changes (not on every resync), and on the
/// Flux source itself (and as a Flux notification) when the verdict changes
/// ([`super::flux_events`]).
async fn publish_events(
    ctx: &Context,
    obj: &DynamicObject,
    source: &FluxSource,
    audit: &str,
    previous: Option<&SourceAuditStatus>,
    status: &SourceAuditStatus,
) {
    super::flux_events::announce(ctx, obj, source, previous, status).await;
    let Some(now) = status.condition(types::VERIFIED) else {
        return;
    };
    let before = previous.and_then(|p| p.condition(types::VERIFIED));
    if before.is_some_and(|b| b.reason == now.reason && b.status == now.status) {
        return;
    }
    // Not fetched yet is a normal state, not a failure worth a Warning.
    let failed = now.status != Status::True.as_str() && now.reason != reasons::ARTIFACT_NOT_READY;
    let type_ = if failed {
        EventType::Warning
    } else {
        EventType::Normal
    };
    let note = truncate(&format!("{}: {}", now.reason, now.message), 1024);
    let ev = Event {
        type_,
        reason: now.reason.clone(),
        note: Some(note),
        action: "Audit".into(),
        secondary: None,
    };
    let audit_ref = SourceAudit::new(
        audit,
        crate::api::SourceAuditSpec {
            source_ref: crate::api::SourceRef {
                kind: source.kind,
                name: source.name.clone(),
            },
        },
    );
    let mut audit_ref = audit_ref.object_ref(&());
    audit_ref.namespace = Some(source.namespace.clone());
    if let Err(e) = ctx.recorder().publish(&ev, &audit_ref).await {
        if namespace_terminating(&e) {
            tracing::debug!(audit, error = %e, "no event: the namespace is being deleted");
        } else {
            tracing::warn!(audit, error = %e, "publishing an event");
        }
    }
}

/// The source a report result is about.
fn subject(obj: &DynamicObject, source: &FluxSource) -> Subject {
    Subject {
        kind: source.kind,
        namespace: source.namespace.clone(),
        name: source.name.clone(),
        uid: obj.uid().unwrap_or_default(),
    }
}

/// The same for a source that does not parse (its kind and name from the watch).
fn subject_of(obj: &DynamicObject) -> Option<Subject> {
    let kind = match obj.types.as_ref()?.kind.as_str() {
        "OCIRepository" => crate::api::SourceKind::OciRepository,
        "HelmChart" => crate::api::SourceKind::HelmChart,
        _ => return None,
    };
    Some(Subject {
        kind,
        namespace: obj.namespace()?,
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    })
}

fn forget_report(ctx: &Context, source: &FluxSource) {
    if let Some(r) = &ctx.reports {
        r.forget(source.kind, &source.namespace, &source.name);
    }
}

/// The metric labels of a source.
pub fn labels(source: &FluxSource) -> SourceLabels {
    SourceLabels {
        namespace: source.namespace.clone(),
        name: source.name.clone(),
        kind: source.kind.as_str().to_string(),
    }
}

fn gauges(status: &SourceAuditStatus, decision: &Decision) -> SourceGauges {
    let is_true = |t: &str| status.condition(t).is_some_and(|c| c.status == "True");
    let reason = status
        .condition(types::VERIFIED)
        .map(|c| c.reason.clone())
        .filter(|r| vocab::is_known_reason(types::VERIFIED, r))
        .unwrap_or_else(|| reasons::ARTIFACT_NOT_READY.to_string());
    SourceGauges {
        reason,
        verified: is_true(types::VERIFIED),
        enforced: is_true(types::ENFORCED),
        flux_agrees: status
            .condition(types::FLUX_AGREES)
            .filter(|c| c.status != Status::Unknown.as_str())
            .map(|c| c.status == Status::True.as_str()),
        verify_required: decision.policies.iter().any(|p| p.require_source_verify),
        ready_since: status
            .source_ready
            .as_ref()
            .filter(|r| r.status == Status::True.as_str())
            .and_then(|r| r.since.as_ref())
            .map_or(0, |t| t.0.as_second()),
        signer: status.signer.clone().unwrap_or_default(),
        // No Attested condition yet (an audit from before attestations were judged, or not
        // complete): not attested, and not a verdict to alert on.
        attested_reason: status
            .condition(types::ATTESTED)
            .map(|c| c.reason.clone())
            .filter(|r| vocab::is_known_reason(types::ATTESTED, r))
            .unwrap_or_else(|| reasons::ARTIFACT_NOT_READY.to_string()),
        attested: is_true(types::ATTESTED),
        registry: status
            .source
            .as_ref()
            .and_then(|s| s.url.as_deref())
            .and_then(super::registry_labels::host_of)
            .map(str::to_string),
    }
}
