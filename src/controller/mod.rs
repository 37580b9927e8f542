//! The running controller (`provenance-auditor run`): watches Flux `OCIRepository` and
//! `HelmChart` objects and `ProvenancePolicy` objects, polls the Secrets they name, and keeps one `SourceAudit` per
//! source up to date ([`reconcile`]), with metrics and health endpoints ([`http`]) and optional
//! leader election ([`leader`]).
//!
//! Sources are watched as `DynamicObject`s and parsed tolerantly by `audit::source`, so one
//! malformed object is reported and skipped, never a stopped watch. Policies are watched the
//! same way for the same reason.

pub mod api_errors;
pub mod audit_store;
pub mod changes;
pub mod flux_events;
pub mod http;
pub mod integration_metrics;
pub mod label_selector;
pub mod leader;
pub mod metrics;
pub mod notify;
pub mod parsed_policies;
pub mod policy;
pub mod policy_changes;
pub mod reconcile;
pub mod registry_labels;
pub mod reports;
pub mod secret_poll;
pub mod shard;
pub mod state;
pub mod status_patch;
pub mod text;
mod watch;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::Client;

use crate::api::SourceKind;
use crate::cluster::{kube_client, source_resource};
use crate::registry::{Observer, RegistryClient, RegistryOptions};
use crate::verifier::schedule::Intervals;
use crate::verifier::secret_cache::SecretCache;
use crate::verifier::{Verifier, Watched};
pub use reports::Format as ReportFormat;
pub use state::Backoff;

/// The field manager of every write, and the events' reporting controller.
pub const MANAGER: &str = "provenance-auditor";

/// How the controller runs (the `run` subcommand's flags).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A kubeconfig file; in-cluster or `$KUBECONFIG` when absent.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Re-audit every source this often even if nothing changed.
    pub resync: Duration,
    /// Registry verifications running at once.
    pub concurrency: usize,
    /// Registry verifications running at once against any one registry.
    pub registry_concurrency: usize,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Hold a Lease before writing.
    pub leader_elect: bool,
    /// The Lease's namespace.
    pub leader_election_namespace: String,
    /// Registry request timeout.
    pub registry_timeout: Duration,
    /// How often the Secrets sources and policies name are checked for changes (zero: never;
    /// the resync still re-reads them).
    pub secret_poll_interval: Duration,
    /// Every verdict is checked against the registry again at least this often.
    pub reverify: Duration,
    /// The first re-check of a negative verdict (then doubling).
    pub min_recheck_delay: Duration,
    /// Namespace of the Secret holding the key that seals statuses (the controller's own).
    pub verdict_key_namespace: String,
    /// Name of that Secret (created when absent).
    pub verdict_key_secret: String,
    /// Audit only the sources this label selector selects (see [`shard`]).
    pub watch_label_selector: Option<String>,
    /// Audit only the sources of these namespaces (empty: all).
    pub watch_namespaces: Vec<String>,
    /// The Lease name; `None` derives it from the shard ([`shard::Shard::lease_name`]).
    pub leader_election_id: Option<String>,
    /// Test only: cloud endpoints replaced by emulators on loopback.
    pub cloud_endpoints_file: Option<std::path::PathBuf>,
    /// Flux notification-controller's event endpoint, to post verdict changes to ([`notify`]).
    pub flux_notification_url: Option<String>,
    /// The policy reports to write ([`reports`]); `None`: none.
    pub reports: Option<reports::Format>,
    /// Per-registry budgets of manifest GETs: a re-check that would pass one is reported as
    /// overdue instead of made (first checks always go first).
    pub registry_budgets: Vec<crate::registry::BudgetSpec>,
}

/// What every reconcile shares.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Verifies one source (policies, registry, engine, status), writing nothing.
    pub verifier: Verifier,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Who publishes the events (see [`Context::recorder`]).
    pub reporter: Reporter,
    /// `ProvenancePolicy` objects, as watched.
    pub policy_store: Store<DynamicObject>,
    /// Their specs, parsed once per change (see [`Context::policies`]).
    pub parsed_policies: parsed_policies::ParsedPolicies,
    /// `SourceAudit` objects, as watched, in compact form ([`audit_store`]): an audit's previous
    /// status without a GET per reconcile.
    pub audit_store: Store<audit_store::StoredAudit>,
    /// The version of each audit as last written or read (when the audit store may stand for it).
    pub written: state::Written,
    /// Secret data kept between audits while the Secret poller confirms it (TTL: the poll
    /// interval or the resync, the shorter; zero when polling is off: every audit GETs); the
    /// verifier reads through the same cache.
    pub secrets: Arc<SecretCache>,
    /// Consecutive failures per source.
    pub backoff: Backoff,
    /// The periodic re-audit interval.
    pub resync: Duration,
    /// `Some` under leader election: false once the lease is lost.
    pub leader: Option<tokio::sync::watch::Receiver<bool>>,
    /// The sources this controller audits.
    pub shard: shard::Shard,
    /// Bumped by the watches: periodic jobs run only after a change.
    pub changes: changes::Changes,
    /// Which verdict changes are announced on the Flux sources ([`flux_events`]).
    pub source_events: flux_events::Gate,
    /// Posts the same changes to Flux's notification-controller, when configured.
    pub notifier: Option<notify::Notifier>,
    /// The policy reports, when written ([`reports`]).
    pub reports: Option<Arc<reports::Reports>>,
}

impl Context {
    /// Whether this replica may write.
    pub fn is_leader(&self) -> bool {
        self.leader.as_ref().is_none_or(|rx| *rx.borrow())
    }

    /// An event recorder for one audit's events. Not one shared for the life of the controller:
    /// kube-runtime's recorder keeps every event it published for six minutes (to count
    /// repeats as a series) and walks all of them on every publish, which at 10,000 new
    /// sources was 30 MiB and quadratic work. An audit publishes only when its verdict changes,
    /// so there is hardly a repeat to count.
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.client.clone(), self.reporter.clone())
    }

    /// Every readable policy as `(name, spec)`; an unparseable one is skipped with a log line
    /// (once per change of the policies: parsed only when the store changed).
    pub fn policies(&self) -> parsed_policies::Policies {
        self.parsed_policies
            .get(self.policy_store.state(), |state| {
                crate::cluster::readable(
                    state.iter().map(|p| p.as_ref()),
                    |name, e| tracing::warn!(policy = %name, error = %e, "unreadable ProvenancePolicy"),
                )
            })
    }

    /// A namespace's labels, only for counting a policy's `matchedSources` (no verdict depends
    /// on it): empty when the namespace is gone or its labels cannot be read. Verdicts use
    /// [`Verifier::namespace_labels`], which fails closed.
    pub async fn namespace_labels(&self, ns: &str) -> std::collections::BTreeMap<String, String> {
        self.verifier
            .namespace_labels(ns)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// Runs the controller until SIGTERM/SIGINT (or a lost lease). Returns an error message on
/// start-up failure.
pub async fn run(opts: RunOptions) -> Result<(), String> {
    let shard = shard::Shard::new(opts.watch_label_selector.as_deref(), &opts.watch_namespaces)?;
    tracing::info!(shard = %shard.describe(), "auditing the sources of");
    let notification_url = opts
        .flux_notification_url
        .as_deref()
        .map(notify::parse_url)
        .transpose()?;
    let client = kube_client(opts.kubeconfig.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let metrics = Arc::new(metrics::Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let standby = Arc::new(AtomicBool::new(opts.leader_elect));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = http::serve(
        opts.metrics_addr,
        http::HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
            standby: standby.clone(),
        },
        watch::stopped(stop_rx.clone()),
    )
    .await
    .map_err(|e| format!("binding {}: {e}", opts.metrics_addr))?;
    let server = tokio::spawn(serving);
    tokio::spawn(watch::signals(stop_tx.clone()));
    let leader = if opts.leader_elect {
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
                std::process::id()
            )
        });
        let cfg = leader::LeaseConfig {
            namespace: opts.leader_election_namespace.clone(),
            name: opts
                .leader_election_id
                .clone()
                .unwrap_or_else(|| shard.lease_name(MANAGER)),
            identity,
            duration: Duration::from_secs(15),
        };
        let mut stopped = stop_rx.clone();
        let lead = tokio::select! {
            l = leader::acquire(client.clone(), cfg) => l,
            _ = stopped.wait_for(|s| *s) => return Ok(()),
        };
        // Leading now: ready again only once this replica's caches have synced.
        standby.store(false, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(watch::stop_when_lost(lead.subscribe(), stop_tx.clone()));
        Some(lead)
    } else {
        None
    };
    let throttle =
        crate::registry::Throttle::new(opts.registry_budgets.clone()).map_err(|e| e.to_string())?;
    metrics.watch_budgets(throttle.clone());
    let registry = RegistryClient::new(RegistryOptions {
        timeout: opts.registry_timeout,
        throttle,
        ..RegistryOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let m = metrics.clone();
    let observer: Observer = Arc::new(move |r| m.registry_request(r));
    let registry = registry.with_observer(observer.clone());
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let sealer = match crate::verifier::seal::load_or_create(
        &client,
        &opts.verdict_key_namespace,
        &opts.verdict_key_secret,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            // Costs registry requests after each restart, never a trusted forged status.
            tracing::warn!(error = %e, "no verdict key: statuses are not sealed and none is read back, every restart re-verifies every source");
            crate::verifier::seal::Sealer::none()
        }
    };
    let notifier = match notification_url {
        Some(url) => {
            tracing::info!(endpoint = %notify::describe(&url), "posting verdict changes to Flux's notification-controller");
            let (n, worker) = notify::Notifier::new(url, metrics.integrations.clone())?;
            tokio::spawn(worker);
            Some(n)
        }
        None => None,
    };
    // Per shard, like the Lease: two shards auditing one namespace write two reports.
    let reports = opts
        .reports
        .map(|f| Arc::new(reports::Reports::new(f, shard.lease_name(MANAGER))));
    let changes = changes::Changes::default();
    let (policy_store, policy_task, policy_changes) =
        watch::policies(client.clone(), changes.inputs.clone());
    let (feeds, audit_store, namespace_store) = watch::Feeds::new(policy_task, policy_changes);
    // No longer than the resync either: a shorter resync re-read every Secret before.
    let secrets = Arc::new(SecretCache::new(opts.secret_poll_interval.min(opts.resync)));
    let verifier = Verifier::builder(client.clone(), registry)
        .limits(opts.concurrency, opts.registry_concurrency)
        .intervals(Intervals {
            resync: opts.resync,
            reverify: opts.reverify,
            first_recheck: opts.min_recheck_delay,
        })
        .sealer(sealer)
        // `spec.provider` sources with the controller's own cloud identity (its pod's).
        .cloud(crate::registry::cloud::CloudCredentials::from_process(
            opts.cloud_endpoints_file.as_ref(),
            opts.registry_timeout,
        )?)
        .controller(Watched {
            namespaces: namespace_store,
            secrets: secrets.clone(),
            clients: Default::default(),
            metrics: metrics.verifier(),
            observer: Some(observer),
        })
        .build();
    let ctx = Arc::new(Context {
        client: client.clone(),
        verifier,
        metrics,
        reporter,
        policy_store,
        parsed_policies: Default::default(),
        audit_store,
        written: state::Written::default(),
        secrets,
        backoff: Backoff::default(),
        resync: opts.resync,
        leader: leader.as_ref().map(leader::Leadership::subscribe),
        shard,
        changes,
        source_events: flux_events::Gate::default(),
        notifier,
        reports,
    });
    tracing::info!("starting watches");
    let mut kinds = vec![SourceKind::OciRepository];
    if crd_served(&client, SourceKind::HelmChart).await {
        kinds.push(SourceKind::HelmChart);
    } else {
        tracing::warn!("the HelmChart CRD is not served: auditing OCIRepositories only");
    }
    let result = watch::run_controllers(
        ctx,
        kinds,
        feeds,
        ready,
        opts.concurrency,
        opts.secret_poll_interval,
        stop_rx,
    )
    .await;
    let _ = stop_tx.send(true);
    // Every write is done: hand the lease over now rather than after it expires.
    if let Some(lead) = leader {
        lead.release().await;
    }
    let _ = server.await;
    result
}

/// Whether the API server serves a source kind (the HelmChart CRD may be absent).
async fn crd_served(client: &Client, kind: SourceKind) -> bool {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &source_resource(kind));
    let lp = ListParams::default().limit(1);
    match tokio::time::timeout(Duration::from_secs(15), api.list_metadata(&lp)).await {
        Ok(Ok(_)) => true,
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => false,
        // Anything else (RBAC, a slow API server) is not "absent": let the watch report it.
        Ok(Err(_)) | Err(_) => true,
    }
}
