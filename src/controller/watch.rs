//! Wiring: one kube-runtime `Controller` per source kind (re-triggered by policy changes, and
//! by changes of the Secrets they name through [`super::secret_poll`]: the controller may not
//! list or watch Secrets), the policy reflector, readiness, the sweep of audits whose source is
//! gone, and shutdown.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use tokio::sync::watch as signal;

use super::reconcile::{audit_name, backoff, reconcile};
use super::secret_poll::{self, Target};
use super::{source_resource, Context, Error};
use crate::api::{ProvenancePolicy, SourceAudit, SourceKind};

/// How often audits and metric series of deleted sources are looked for (in memory only).
const SWEEP: Duration = Duration::from_secs(2);
/// How long a registry no source uses keeps its request series after its last request.
const REGISTRY_SERIES_IDLE: Duration = Duration::from_secs(600);

/// A future that resolves once `rx` says stop.
// Spelled out so the `Sync` bound that `Controller::graceful_shutdown_on` needs is checked here.
#[allow(clippy::manual_async_fn)]
pub fn stopped(mut rx: signal::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync {
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Says stop on SIGTERM or SIGINT.
pub async fn signals(tx: signal::Sender<bool>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
    let _ = tx.send(true);
}

/// Says stop when the lease is lost: a former leader must not keep writing.
pub async fn stop_when_lost(mut leader: signal::Receiver<bool>, tx: signal::Sender<bool>) {
    let _ = leader.wait_for(|l| !*l).await;
    let _ = tx.send(true);
}

fn policy_resource() -> ApiResource {
    ApiResource::erase::<ProvenancePolicy>(&())
}

/// A reflector over `ProvenancePolicy` objects (untyped, so one bad policy cannot stop it).
pub fn policies(client: Client) -> (Store<DynamicObject>, impl Future<Output = ()>) {
    let ar = policy_resource();
    let writer = reflector::store::Writer::new(ar.clone());
    let reader = writer.as_reader();
    let stream = watcher(Api::all_with(client, &ar), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|e| async move {
            if let Err(e) = e {
                tracing::warn!(error = %e, "watching ProvenancePolicies");
            }
        });
    (reader, stream)
}

/// Runs every controller until stopped; readiness is set once every cache has synced.
pub async fn run_controllers(
    ctx: Arc<Context>,
    kinds: Vec<SourceKind>,
    policy_task: impl Future<Output = ()> + Send + 'static,
    ready: Arc<AtomicBool>,
    concurrency: usize,
    secret_poll_interval: Duration,
    stop: signal::Receiver<bool>,
) -> Result<(), String> {
    let policy_task = tokio::spawn(policy_task);
    let mut stores = vec![];
    let mut runs = vec![];
    let mut targets = vec![];
    // One controller per kind and watched scope (all namespaces, or each allowed one).
    for (kind, api) in kinds.into_iter().flat_map(|kind| {
        let apis = ctx.shard.apis(&ctx.client, &source_resource(kind));
        apis.into_iter().map(move |api| (kind, api))
    }) {
        let (trigger, triggered) = mpsc::unbounded();
        let (store, run) =
            source_controller(ctx.clone(), kind, api, concurrency, triggered, stop.clone());
        targets.push(Target {
            store: store.clone(),
            resource: source_resource(kind),
            trigger,
        });
        stores.push((kind, store));
        runs.push(tokio::spawn(run));
    }
    let poller = tokio::spawn(secret_poll::run(
        ctx.clone(),
        targets,
        secret_poll_interval,
        stop.clone(),
    ));
    let policy_status = {
        let (ctx, stores, ready, mut stop) =
            (ctx.clone(), stores.clone(), ready.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(super::policy::INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {},
                    _ = stop.wait_for(|s| *s) => break,
                }
                // Before the caches sync every policy would look like it matches nothing.
                if ready.load(Ordering::Relaxed) {
                    super::policy::update_all(&ctx, &stores).await;
                }
            }
        })
    };
    let readiness = {
        let (stores, policies) = (stores.clone(), ctx.policy_store.clone());
        async move {
            synced(&policies).await;
            for (_, s) in &stores {
                synced(s).await;
            }
            ready.store(true, Ordering::Relaxed);
            tracing::info!("caches synced");
        }
    };
    let sweeper = tokio::spawn(sweep(ctx.clone(), stores, readiness, stop.clone()));
    for r in runs {
        let _ = r.await;
    }
    sweeper.abort();
    poller.abort();
    policy_status.abort();
    policy_task.abort();
    Ok(())
}

/// Waits for a store's initial list. Re-asks on a short timer: a waiter that starts while the
/// controller's own runner also waits on the same store was seen to miss the wake-up (kube 5).
async fn synced(store: &Store<DynamicObject>) {
    while tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready())
        .await
        .is_err()
    {}
}

fn source_controller(
    ctx: Arc<Context>,
    kind: SourceKind,
    api: Api<DynamicObject>,
    concurrency: usize,
    secret_changes: mpsc::UnboundedReceiver<ObjectRef<DynamicObject>>,
    stop: signal::Receiver<bool>,
) -> (Store<DynamicObject>, impl Future<Output = ()> + Send) {
    let ar = source_resource(kind);
    let client = ctx.client.clone();
    // The shard's label selector: another shard's sources never reach this store.
    let controller = Controller::new_with(api, ctx.shard.watcher_config(), ar.clone())
        .with_config(controller::Config::default().concurrency(concurrency as u16));
    let store = controller.store();
    let (all, all_ar) = (store.clone(), ar.clone());
    let pr = policy_resource();
    let controller = controller
        // Any policy change can change which sources it matches: re-audit all (cheap when the
        // verdict cache still holds).
        .watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &pr),
            pr,
            watcher::Config::default(),
            move |_| refs(&all, &all_ar, |_| true),
        )
        // Not a Secret watch: that would need list/watch on every Secret of the cluster. The
        // poller GETs the Secrets sources and policies name and sends the sources to re-audit.
        .reconcile_on(secret_changes)
        .graceful_shutdown_on(stopped(stop));
    let run = controller
        .run(
            move |obj, ctx| reconcile(with_kind(obj, kind), ctx),
            error_policy,
            ctx,
        )
        .for_each(move |r| async move {
            if let Err(e) = r {
                tracing::debug!(%kind, error = %e, "reconcile");
            }
        });
    (store, run)
}

/// Objects from a list may lack their TypeMeta; the audit reads the kind from it.
fn with_kind(obj: Arc<DynamicObject>, kind: SourceKind) -> Arc<DynamicObject> {
    if obj.types.is_some() {
        return obj;
    }
    let mut o = (*obj).clone();
    o.types = Some(kube::core::TypeMeta {
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: kind.as_str().into(),
    });
    Arc::new(o)
}

fn refs(
    store: &Store<DynamicObject>,
    ar: &ApiResource,
    keep: impl Fn(&DynamicObject) -> bool,
) -> Vec<ObjectRef<DynamicObject>> {
    store
        .state()
        .iter()
        .filter(|o| keep(o))
        .map(|o| ObjectRef::from_obj_with(o.as_ref(), ar.clone()))
        .collect()
}

fn error_policy(obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}/{}",
        obj.types.as_ref().map(|t| t.kind.as_str()).unwrap_or(""),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    );
    let n = ctx.backoff.record(&key, true);
    tracing::warn!(source = %key, error = %err, "audit failed; retrying");
    Action::requeue(backoff(n))
}

/// Deletes the audits and metric series of sources that are gone (garbage collection through
/// owner references also does it, but not when the controller was down or GC is disabled).
async fn sweep(
    ctx: Arc<Context>,
    stores: Vec<(SourceKind, Store<DynamicObject>)>,
    readiness: impl Future<Output = ()>,
    mut stop: signal::Receiver<bool>,
) {
    readiness.await;
    // The shard's audits only: they carry the label keys its selector reads (shard.rs).
    let audit_ar = ApiResource::erase::<SourceAudit>(&());
    let mut audit_stores = vec![];
    let mut watches = vec![];
    for api in ctx.shard.apis(&ctx.client, &audit_ar) {
        let writer = reflector::store::Writer::new(audit_ar.clone());
        audit_stores.push(writer.as_reader());
        let watch = watcher(api, ctx.shard.watcher_config())
            .default_backoff()
            .reflect(writer)
            .for_each(|_| async {});
        watches.push(tokio::spawn(watch));
    }
    for s in &audit_stores {
        synced(s).await;
    }
    let mut gone = super::shard::GoneCheck::default();
    let mut tick = tokio::time::interval(SWEEP);
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.wait_for(|s| *s) => break,
        }
        if !ctx.is_leader() {
            continue;
        }
        let live: HashSet<(String, String, String)> = stores
            .iter()
            .flat_map(|(kind, s)| {
                s.state()
                    .iter()
                    .map(|o| {
                        (
                            kind.as_str().to_string(),
                            o.namespace().unwrap_or_default(),
                            o.name_any(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for m in ctx.metrics.sources() {
            if !live.contains(&(m.kind.clone(), m.namespace.clone(), m.name.clone())) {
                ctx.metrics.remove_source(&m);
                ctx.backoff
                    .forget(&format!("{}/{}/{}", m.kind, m.namespace, m.name));
            }
        }
        ctx.metrics
            .prune_registries(std::time::Instant::now(), REGISTRY_SERIES_IDLE);
        for a in audit_stores.iter().flat_map(|s| s.state()) {
            let ns = a.namespace().unwrap_or_default();
            let source_ref = a.data.pointer("/spec/sourceRef");
            let kind = source_ref
                .and_then(|r| r.get("kind"))
                .and_then(|k| k.as_str());
            let name = source_ref
                .and_then(|r| r.get("name"))
                .and_then(|k| k.as_str());
            let (Some(kind), Some(name)) = (kind, name) else {
                continue;
            };
            if live.contains(&(kind.to_string(), ns.clone(), name.to_string())) {
                continue;
            }
            let Ok(sk) = serde_json::from_value::<SourceKind>(serde_json::json!(kind)) else {
                continue;
            };
            if a.name_any() != audit_name(sk, name) || a.metadata.deletion_timestamp.is_some() {
                continue;
            }
            // A shard's store lacks the sources of the others: one that moved keeps its audit.
            if ctx.shard.is_sharded() && !gone.source_gone(&ctx.client, &a, sk, name).await {
                continue;
            }
            let api: Api<SourceAudit> = Api::namespaced(ctx.client.clone(), &ns);
            // Only the version looked at: an audit another shard took over meanwhile stays.
            let mut dp = DeleteParams::background();
            dp.preconditions = Some(kube::api::Preconditions {
                resource_version: a.metadata.resource_version.clone(),
                uid: a.metadata.uid.clone(),
            });
            match api.delete(&a.name_any(), &dp).await {
                Ok(_) => {
                    tracing::info!(audit = %a.name_any(), namespace = %ns, "source gone: deleted its audit")
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => {
                    tracing::warn!(audit = %a.name_any(), error = %e, "deleting an orphaned audit")
                }
            }
        }
    }
    for w in watches {
        w.abort();
    }
}
