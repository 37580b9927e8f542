//! Writes the namespaces' reports: on the leader, every [`TICK`] for the namespaces whose
//! results changed, once each of their sources has been audited since start; server-side
//! apply (one request creates or replaces), delete when no audited source is left. A failed
//! write (the CRD is not installed, RBAC, an outage) is logged, counted and retried after
//! [`RETRY`]; it never touches a verdict.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::ResourceExt;
use serde_json::Value;
use tokio::sync::watch as signal;

use super::document::REPORT_LABEL;
use super::Reports;
use crate::api::SourceKind;
use crate::controller::{Context, MANAGER};

/// How often changed namespaces are written (at most once per tick each).
pub const TICK: Duration = Duration::from_secs(5);
/// How long after a failed write the next attempt waits.
pub const RETRY: Duration = Duration::from_secs(30);

/// What a report says, for "has it changed": its summary and results.
fn fingerprint(doc: &Value) -> String {
    format!("{}\n{}", doc["summary"], doc["results"])
}

/// Runs until stopped.
pub async fn run(
    ctx: Arc<Context>,
    reports: Arc<Reports>,
    stores: Vec<(SourceKind, Store<DynamicObject>)>,
    ready: Arc<AtomicBool>,
    mut stop: signal::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    let ar = reports.format.api_resource();
    // namespace → fingerprint of the report as written (or found at start).
    let mut written: Option<HashMap<String, String>> = None;
    let mut retry_after = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.wait_for(|s| *s) => return,
        }
        if !ready.load(Ordering::Relaxed) || !ctx.is_leader() || Instant::now() < retry_after {
            continue;
        }
        let known = match &mut written {
            Some(w) => w,
            None => match existing(&ctx, &reports, &ar).await {
                Ok(found) => {
                    // A report whose namespace has no audited source left goes.
                    for ns in found.keys() {
                        reports.mark_dirty(ns);
                    }
                    written.insert(found)
                }
                Err(e) => {
                    failed(&ctx, &format!("listing {}s", ar.kind), &e);
                    retry_after = Instant::now() + RETRY;
                    continue;
                }
            },
        };
        let dirty = reports.take_dirty();
        if dirty.is_empty() {
            continue;
        }
        let live = live_sources(&stores, &dirty);
        for ns in dirty {
            let complete = live
                .get(&ns)
                .is_none_or(|s| s.iter().all(|(k, n)| reports.has(*k, &ns, n)));
            if !complete {
                // Not every source audited since start: no partial report.
                reports.mark_dirty(&ns);
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ar);
            let result = match reports.document(&ns) {
                None => {
                    if known.remove(&ns).is_none() {
                        continue;
                    }
                    match api.delete(&reports.name, &DeleteParams::default()).await {
                        Ok(_) => {
                            ctx.metrics.integrations.report_write("deleted");
                            Ok(())
                        }
                        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                Some((doc, omitted)) => {
                    let print = fingerprint(&doc);
                    if known.get(&ns) == Some(&print) {
                        continue;
                    }
                    let pp = PatchParams::apply(MANAGER).force();
                    match api.patch(&reports.name, &pp, &Patch::Apply(&doc)).await {
                        Ok(_) => {
                            if omitted > 0 {
                                tracing::info!(namespace = %ns, omitted, "report cut to its size limit (the summary counts every result)");
                            }
                            ctx.metrics.integrations.report_write("written");
                            known.insert(ns.clone(), print);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(e) = result {
                if crate::controller::api_errors::namespace_terminating(&e) {
                    known.remove(&ns);
                    continue;
                }
                failed(
                    &ctx,
                    &format!("writing {} {ns}/{}", ar.kind, reports.name),
                    &e,
                );
                reports.mark_dirty(&ns);
                retry_after = Instant::now() + RETRY;
            }
        }
    }
}

fn failed(ctx: &Context, what: &str, e: &kube::Error) {
    ctx.metrics.integrations.report_write("failed");
    tracing::warn!(error = %e, "{what} failed; retrying in {}s (verdicts are not affected)", RETRY.as_secs());
}

/// Our reports as they are in the cluster (this shard's name), with their fingerprints.
async fn existing(
    ctx: &Context,
    reports: &Reports,
    ar: &kube::core::ApiResource,
) -> Result<HashMap<String, String>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), ar);
    let lp = ListParams::default().labels(&format!("{REPORT_LABEL}={}", reports.name));
    let list = api.list(&lp).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|o| o.name_any() == reports.name)
        .filter_map(|o| {
            let ns = o.namespace()?;
            let doc =
                serde_json::json!({"summary": o.data["summary"], "results": o.data["results"]});
            Some((ns, fingerprint(&doc)))
        })
        .collect())
}

/// The sources of the given namespaces this controller watches.
fn live_sources(
    stores: &[(SourceKind, Store<DynamicObject>)],
    namespaces: &[String],
) -> BTreeMap<String, BTreeSet<(SourceKind, String)>> {
    let wanted: BTreeSet<&str> = namespaces.iter().map(String::as_str).collect();
    let mut live: BTreeMap<String, BTreeSet<(SourceKind, String)>> = BTreeMap::new();
    for (kind, store) in stores {
        for o in store.state() {
            let Some(ns) = o.namespace() else { continue };
            if wanted.contains(ns.as_str()) && o.metadata.deletion_timestamp.is_none() {
                live.entry(ns).or_default().insert((*kind, o.name_any()));
            }
        }
    }
    live
}
