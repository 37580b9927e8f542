//! Wiring: one kube-runtime `Controller` per source kind (re-triggered by policy changes, and
//! by changes of the Secrets they name through [`super::secret_poll`]: the controller may not
//! list or watch Secrets), the policy reflector, readiness, the sweep of audits whose source is
//! gone, and shutdown.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::core::ApiResource;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use tokio::sync::watch as signal;

use super::audit_store::StoredAudit;
use super::policy_changes::PolicyGenerations;
use super::reconcile::reconcile;
use super::secret_poll::{self, Target};
use super::state::backoff;
use super::Context;
use crate::api::{ProvenancePolicy, SourceAudit, SourceKind};
use crate::cluster::source_resource;
use crate::error::Error;

/// `kubectl apply`'s copy of the object it applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
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

/// A reflector over `ProvenancePolicy` objects (untyped, so one bad policy cannot stop it), and
/// a counter bumped after the store took in a change that can re-match sources (see
/// [`super::policy_changes`]).
pub fn policies(
    client: Client,
    counter: super::changes::Counter,
) -> (
    Store<DynamicObject>,
    impl Future<Output = ()>,
    signal::Receiver<u64>,
) {
    let ar = policy_resource();
    let writer = reflector::store::Writer::new(ar.clone());
    let reader = writer.as_reader();
    let (changes_tx, changes) = signal::channel(0u64);
    let mut generations = PolicyGenerations::default();
    let stream = counter
        .counting(
            watcher(Api::all_with(client, &ar), watcher::Config::default())
                .default_backoff()
                .reflect(writer),
        )
        .for_each(move |e| {
            match e {
                Ok(e) => {
                    if generations.changed(&e) {
                        changes_tx.send_modify(|n| *n += 1);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watching ProvenancePolicies"),
            }
            async {}
        });
    (reader, stream, changes)
}

/// The writers of the stores [`Context`] reads (audits, namespaces), fed by [`run_controllers`].
pub struct Feeds {
    audits: reflector::store::Writer<StoredAudit>,
    namespaces: reflector::store::Writer<PartialObjectMeta<Namespace>>,
    /// The policy reflector (see [`policies`]).
    policy_task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Bumped by the policy reflector: re-audits every source.
    policy_changes: signal::Receiver<u64>,
}

impl Feeds {
    /// The writers, with the audit and namespace stores they fill.
    pub fn new(
        policy_task: impl Future<Output = ()> + Send + 'static,
        policy_changes: signal::Receiver<u64>,
    ) -> (
        Self,
        Store<StoredAudit>,
        Store<PartialObjectMeta<Namespace>>,
    ) {
        let audits = reflector::store::Writer::default();
        let namespaces = reflector::store::Writer::default();
        let (a, n) = (audits.as_reader(), namespaces.as_reader());
        (
            Self {
                audits,
                namespaces,
                policy_task: Box::pin(policy_task),
                policy_changes,
            },
            a,
            n,
        )
    }
}

/// Fills the audit store with compact snapshots (see [`super::audit_store`]). Watched untyped and
/// converted per event: a malformed audit is stored as such, never a stopped watch.
async fn watch_audits(
    client: Client,
    config: watcher::Config,
    writer: reflector::store::Writer<StoredAudit>,
    changes: super::changes::Counter,
) {
    let ar = ApiResource::erase::<SourceAudit>(&());
    changes
        .counting(
            watcher(Api::<DynamicObject>::all_with(client, &ar), config)
                .default_backoff()
                .map_ok(super::audit_store::compact)
                .reflect(writer),
        )
        .for_each(|e| async move {
            if let Err(e) = e {
                tracing::warn!(error = %e, "watching SourceAudits");
            }
        })
        .await
}

/// Fills the namespace store (metadata only: labels are all `namespaceSelector` reads), and
/// re-audits the sources of a namespace whose labels changed when a policy selects namespaces
/// by label (a label edit can make a policy match or stop matching them).
async fn watch_namespaces(
    ctx: Arc<Context>,
    writer: reflector::store::Writer<PartialObjectMeta<Namespace>>,
    targets: Vec<(
        Store<DynamicObject>,
        ApiResource,
        mpsc::UnboundedSender<ObjectRef<DynamicObject>>,
    )>,
) {
    let mut seen: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    ctx.changes
        .inputs
        .counting(
            watcher(
                Api::<PartialObjectMeta<Namespace>>::all(ctx.client.clone()),
                watcher::Config::default(),
            )
            .default_backoff()
            .modify(|o| o.managed_fields_mut().clear())
            .reflect(writer),
        )
        .for_each(|e| {
            match e {
                Ok(watcher::Event::Apply(ns) | watcher::Event::InitApply(ns)) => {
                    let name = ns.name_any();
                    let labels = ns.labels().clone();
                    let before = seen.insert(name.clone(), labels.clone());
                    if before.is_some_and(|b| b != labels)
                        && crate::verifier::needs_namespace_labels(&ctx.policies())
                    {
                        for (store, ar, trigger) in &targets {
                            for o in store.state() {
                                if o.namespace().as_deref() == Some(name.as_str()) {
                                    let _ = trigger
                                        .unbounded_send(ObjectRef::from_obj_with(o.as_ref(), ar.clone()));
                                }
                            }
                        }
                    }
                }
                Ok(watcher::Event::Delete(ns)) => {
                    seen.remove(&ns.name_any());
                }
                Ok(_) => {}
                // Without list/watch on namespaces (an older ClusterRole) every audit GETs.
                Err(e) => tracing::warn!(error = %e, "watching namespaces (namespaceSelector labels are read with a GET per audit meanwhile)"),
            }
            async {}
        })
        .await
}

/// One `()` per change the receiver sees after subscribing.
fn each_change(rx: signal::Receiver<u64>) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

/// Runs every controller until stopped; readiness is set once every cache has synced.
pub async fn run_controllers(
    ctx: Arc<Context>,
    kinds: Vec<SourceKind>,
    feeds: Feeds,
    ready: Arc<AtomicBool>,
    concurrency: usize,
    secret_poll_interval: Duration,
    stop: signal::Receiver<bool>,
) -> Result<(), String> {
    let policy_task = tokio::spawn(feeds.policy_task);
    let mut stores = vec![];
    let mut runs = vec![];
    let mut targets = vec![];
    // One controller per kind and watched scope (all namespaces, or each allowed one).
    for (kind, api) in kinds.into_iter().flat_map(|kind| {
        let apis = ctx.shard.apis(&ctx.client, &source_resource(kind));
        apis.into_iter().map(move |api| (kind, api))
    }) {
        let (trigger, triggered) = mpsc::unbounded();
        let (store, run) = source_controller(
            ctx.clone(),
            kind,
            api,
            concurrency,
            triggered,
            feeds.policy_changes.clone(),
            stop.clone(),
        );
        targets.push(Target {
            store: store.clone(),
            resource: source_resource(kind),
            trigger,
        });
        stores.push((kind, store));
        runs.push(tokio::spawn(run));
    }
    let audit_task = tokio::spawn(watch_audits(
        ctx.client.clone(),
        // A shard's audits carry the label keys its selector reads (shard.rs): only its own.
        ctx.shard.watcher_config(),
        feeds.audits,
        ctx.changes.audits.clone(),
    ));
    let namespace_task = tokio::spawn(watch_namespaces(
        ctx.clone(),
        feeds.namespaces,
        targets
            .iter()
            .map(|t| (t.store.clone(), t.resource.clone(), t.trigger.clone()))
            .collect(),
    ));
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
            let mut last = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {},
                    _ = stop.wait_for(|s| *s) => break,
                }
                // Before the caches sync every policy would look like it matches nothing.
                if !ready.load(Ordering::Relaxed) {
                    continue;
                }
                // Recomputed only when an input changed (or could not be checked); the status
                // write itself changes the policy's version, so one more round confirms it.
                let now = super::policy::inputs(&ctx).await;
                if now.is_none() || now != last {
                    let done = super::policy::update_all(&ctx, &stores).await;
                    last = now.filter(|_| done);
                }
            }
        })
    };
    let report_writer = ctx.reports.clone().map(|reports| {
        tokio::spawn(super::reports::writer::run(
            ctx.clone(),
            reports,
            stores.clone(),
            ready.clone(),
            stop.clone(),
        ))
    });
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
    if let Some(w) = report_writer {
        w.abort();
    }
    audit_task.abort();
    namespace_task.abort();
    poller.abort();
    policy_status.abort();
    policy_task.abort();
    Ok(())
}

/// Waits for a store's initial list. Re-asks on a short timer: a waiter that starts while the
/// controller's own runner also waits on the same store was seen to miss the wake-up (kube 5).
async fn synced<K>(store: &Store<K>)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
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
    policy_changes: signal::Receiver<u64>,
    stop: signal::Receiver<bool>,
) -> (Store<DynamicObject>, impl Future<Output = ()> + Send) {
    let ar = source_resource(kind);
    // `Controller::new_with`'s own watch, but without managed fields: at 10,000 sources they were
    // a large part of the controller's memory, and nothing reads them. Nor does anything read
    // `kubectl apply`'s copy of the whole object in an annotation (the source's size again). The
    // shard's label selector: another shard's sources never reach this store.
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let sources = ctx
        .changes
        .inputs
        .counting(
            watcher(api, ctx.shard.watcher_config())
                .default_backoff()
                .modify(|o| {
                    o.managed_fields_mut().clear();
                    if let Some(a) = o.metadata.annotations.as_mut() {
                        a.remove(LAST_APPLIED);
                    }
                })
                .reflect(writer),
        )
        .applied_objects();
    let controller = Controller::for_stream_with(sources, store.clone(), ar.clone())
        .with_config(controller::Config::default().concurrency(concurrency as u16));
    let controller = controller
        // A policy created, deleted or edited can change which sources it matches: re-audit all
        // (cheap when the verdict cache still holds). Its status writes change nothing.
        .reconcile_all_on(each_change(policy_changes))
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
    // The shard's audits only: the audit store watches with the shard's label selector (the
    // audits carry the label keys it reads, shard.rs), and the namespace filter is below.
    let audits = ctx.audit_store.clone();
    synced(&audits).await;
    let mut gone = super::shard::GoneCheck::default();
    let mut tick = tokio::time::interval(SWEEP);
    let mut last = super::changes::LastRun::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.wait_for(|s| *s) => break,
        }
        if !ctx.is_leader() {
            continue;
        }
        // Time-based: runs whether or not anything else changed.
        ctx.metrics
            .prune_registries(std::time::Instant::now(), REGISTRY_SERIES_IDLE);
        // No watch event and no new metric series since the last complete sweep: skip the
        // O(sources) work below, which at 10,000 sources was a steady cost of its own.
        let now = (
            ctx.changes.inputs.get(),
            ctx.changes.audits.get(),
            ctx.metrics.source_count(),
        );
        if !last.due(&now) {
            continue;
        }
        let mut complete = true;
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
                ctx.source_events
                    .forget(&format!("{}/{}/{}", m.kind, m.namespace, m.name));
            }
        }
        if let Some(r) = &ctx.reports {
            r.retain(|k, ns, n| {
                live.contains(&(k.as_str().to_string(), ns.to_string(), n.to_string()))
            });
        }
        for a in audits.state() {
            if !ctx.shard.owns_namespace(&a.namespace().unwrap_or_default()) {
                continue;
            }
            let ns = a.namespace().unwrap_or_default();
            // An unknown kind or a malformed reference: not an audit of a source this sweeps.
            let Some(crate::api::SourceRef { kind: sk, name }) = &a.source_ref else {
                continue;
            };
            let (sk, name) = (*sk, name.as_str());
            if live.contains(&(sk.as_str().to_string(), ns.clone(), name.to_string())) {
                continue;
            }
            if a.name_any() != crate::api::SourceAudit::name_for(sk, name)
                || a.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            // A shard's store lacks the sources of the others: one that moved keeps its audit.
            if ctx.shard.is_sharded() && !gone.source_gone(&ctx.client, a.as_ref(), sk, name).await
            {
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
                    complete = false;
                    tracing::warn!(audit = %a.name_any(), error = %e, "deleting an orphaned audit")
                }
            }
        }
        last.ran(now, complete);
    }
}
