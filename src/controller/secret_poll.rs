//! Re-audits a source soon after a Secret it depends on changes, without the right to list or
//! watch Secrets.
//!
//! A list or watch of Secrets needs RBAC `list`/`watch` on every Secret of the cluster, and RBAC
//! cannot tell a metadata-only list from a full one: whoever holds the grant can read every
//! Secret's data. So the controller keeps only `get`, and polls the Secrets its sources and
//! policies *name*: every `--secret-poll-interval` one metadata-only GET per named Secret (and
//! one GET per ServiceAccount a source pulls with), answered from the API server's watch cache
//! (`resourceVersion=0`), never from etcd. A changed `resourceVersion` (or a Secret appearing or
//! disappearing) re-audits the sources that use it. Each poll also confirms or drops the data
//! audits keep in `Context::secrets` (`verifier::secret_cache`): an audit GETs a Secret only
//! when the last poll or GET of it is older than one poll interval, or it changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DynamicObject, GetParams};
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use tokio::sync::watch as signal;

use super::Context;
use crate::api::ProvenancePolicySpec;
use crate::audit::source::FluxSource;
use crate::verifier::creds::{policy_uses_secret, source_uses_secret, SecretKey};
use crate::verifier::secret_cache::SecretCache;

/// What a poll found: a Secret's `resourceVersion`, `None` when it does not exist.
pub type Observed = BTreeMap<SecretKey, Option<String>>;

/// The Secrets `source` names directly (ServiceAccount pull secrets are added by the poll).
pub fn source_secrets(source: &FluxSource) -> BTreeSet<SecretKey> {
    let ns = &source.namespace;
    let verify = source.verify.as_ref();
    [
        source.secret_ref.as_ref(),
        source.cert_secret_ref.as_ref(),
        verify.and_then(|v| v.secret_ref.as_ref()),
        verify.and_then(|v| v.trusted_root_secret_ref.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(|n| (ns.clone(), n.clone()))
    .collect()
}

/// The Secrets a policy names.
pub fn policy_secrets(policy: &ProvenancePolicySpec) -> BTreeSet<SecretKey> {
    policy
        .secret_refs()
        .map(|r| (r.namespace.clone(), r.name.clone()))
        .collect()
}

/// The `resourceVersion` last seen of each named Secret.
#[derive(Debug, Default)]
pub struct Versions {
    seen: BTreeMap<SecretKey, Option<String>>,
}

impl Versions {
    /// Records a poll and returns the Secrets that changed since the previous one. A Secret
    /// seen for the first time is not a change (its user is audited when it appears); one no
    /// longer named is forgotten; one whose read failed (absent from `observed` but still in
    /// `named`) keeps its last version, so the next successful read compares with it.
    pub fn update(&mut self, named: &BTreeSet<SecretKey>, observed: &Observed) -> Vec<SecretKey> {
        self.seen.retain(|k, _| named.contains(k));
        let mut changed = vec![];
        for (key, version) in observed {
            match self.seen.insert(key.clone(), version.clone()) {
                Some(before) if before != *version => changed.push(key.clone()),
                _ => {}
            }
        }
        changed
    }
}

/// The sources to re-audit after `changed`: every source when a policy's Secret changed (any
/// policy may match any source), else the sources that use one of them.
pub fn affected<'a>(
    changed: &[SecretKey],
    policies: &[(String, ProvenancePolicySpec)],
    sources: impl IntoIterator<Item = (&'a DynamicObject, FluxSource)>,
) -> Vec<&'a DynamicObject> {
    let by_policy = changed.iter().any(|(ns, name)| {
        policies
            .iter()
            .any(|(_, p)| policy_uses_secret(p, ns, name))
    });
    sources
        .into_iter()
        .filter(|(_, s)| {
            by_policy
                || changed
                    .iter()
                    .any(|(ns, name)| source_uses_secret(s, ns, name))
        })
        .map(|(o, _)| o)
        .collect()
}

/// One source kind's store and the channel that asks its controller to re-audit an object.
pub struct Target {
    /// The kind's reflector store.
    pub store: Store<DynamicObject>,
    /// The kind's API resource (for the object references).
    pub resource: ApiResource,
    /// Feeds the kind's `Controller::reconcile_on`.
    pub trigger: UnboundedSender<ObjectRef<DynamicObject>>,
}

/// Polls until stopped; `interval` zero disables polling (the resync alone picks changes up).
pub async fn run(
    ctx: std::sync::Arc<Context>,
    targets: Vec<Target>,
    interval: Duration,
    mut stop: signal::Receiver<bool>,
) {
    if interval.is_zero() {
        // Keep the triggers open (an ended trigger stream is harmless today, but nothing
        // should depend on that) and do nothing.
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let mut versions = Versions::default();
    let mut index = SourceIndex::default();
    let mut indexed = super::changes::LastRun::default();
    // A typo such as 1ms must not turn into a stream of GETs.
    let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.wait_for(|s| *s) => break,
        }
        let policies = ctx.policies();
        // Only after a watch event (with nothing changed, not even a walk over the stores), and
        // then only the sources that changed since are parsed again.
        let seen = ctx.changes.inputs.get();
        if indexed.due(&seen) {
            index.refresh(&targets);
            indexed.ran(seen, true);
        }
        let named = named_secrets(&ctx.client, &policies, index.uses()).await;
        // Drops the cached data of every changed Secret before its users are re-audited.
        let observed = read_versions(&ctx.client, &ctx.secrets, &named).await;
        ctx.secrets.sweep(&named, Instant::now());
        let changed = versions.update(&named, &observed);
        if changed.is_empty() {
            continue;
        }
        tracing::debug!(
            secrets = changed.len(),
            "named Secrets changed: re-auditing their sources"
        );
        for t in &targets {
            let parsed: Vec<(std::sync::Arc<DynamicObject>, FluxSource)> = t
                .store
                .state()
                .into_iter()
                .filter_map(|o| FluxSource::from_dynamic(&o).ok().map(|s| (o, s)))
                .collect();
            let of_kind = parsed.iter().map(|(o, s)| (o.as_ref(), s.clone()));
            for o in affected(&changed, &policies, of_kind) {
                let _ = t
                    .trigger
                    .unbounded_send(ObjectRef::from_obj_with(o, t.resource.clone()));
            }
        }
    }
}

/// What a source names: its own Secrets and the ServiceAccount it pulls with.
type Uses = (BTreeSet<SecretKey>, Option<(String, String)>);

/// What each source names, by uid, as of its `resourceVersion`: a poll parses only the sources
/// that changed since the previous one.
#[derive(Default)]
struct SourceIndex {
    by_uid: HashMap<String, (Option<String>, Uses)>,
}

impl SourceIndex {
    fn refresh(&mut self, targets: &[Target]) {
        let mut next = HashMap::with_capacity(self.by_uid.len());
        for t in targets {
            for o in t.store.state() {
                let Some(uid) = o.metadata.uid.clone() else {
                    continue;
                };
                let version = &o.metadata.resource_version;
                let entry = match self.by_uid.remove(&uid) {
                    Some(e) if e.0 == *version => e,
                    _ => match FluxSource::from_dynamic(&o) {
                        Ok(s) => (
                            version.clone(),
                            (
                                source_secrets(&s),
                                s.service_account_name
                                    .as_ref()
                                    .map(|sa| (s.namespace.clone(), sa.clone())),
                            ),
                        ),
                        Err(_) => continue,
                    },
                };
                next.insert(uid, entry);
            }
        }
        self.by_uid = next;
    }

    fn uses(&self) -> impl Iterator<Item = &Uses> {
        self.by_uid.values().map(|(_, u)| u)
    }
}

/// Every Secret named by a policy or a source, with the pull secrets of the ServiceAccounts
/// sources use (a ServiceAccount that cannot be read adds none; the audit reports it).
async fn named_secrets<'a>(
    client: &Client,
    policies: &[(String, ProvenancePolicySpec)],
    sources: impl Iterator<Item = &'a Uses>,
) -> BTreeSet<SecretKey> {
    let mut named: BTreeSet<SecretKey> = policies
        .iter()
        .flat_map(|(_, p)| policy_secrets(p))
        .collect();
    let mut accounts = BTreeSet::new();
    for (secrets, account) in sources {
        named.extend(secrets.iter().cloned());
        if let Some(sa) = account {
            accounts.insert(sa.clone());
        }
    }
    for (ns, sa) in accounts {
        let api = Api::<ServiceAccount>::namespaced(client.clone(), &ns);
        if let Ok(sa) = api.get_with(&sa, &GetParams::any()).await {
            named.extend(
                sa.image_pull_secrets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| (ns.clone(), r.name)),
            );
        }
    }
    named
}

/// The `resourceVersion` of each Secret, metadata only, from the API server's cache, each
/// told to `cache` as soon as read (confirming or dropping its data). A failed read is left out
/// (no change is inferred from an error, and the cached data is not confirmed).
async fn read_versions(
    client: &Client,
    cache: &SecretCache,
    named: &BTreeSet<SecretKey>,
) -> Observed {
    let mut out = Observed::new();
    for (ns, name) in named {
        let api = Api::<Secret>::namespaced(client.clone(), ns);
        let started = Instant::now();
        match api.get_metadata_opt_with(name, &GetParams::any()).await {
            Ok(found) => {
                let key = (ns.clone(), name.clone());
                let version = found.and_then(|m| m.metadata.resource_version);
                cache.observe(&key, version.clone(), started, Instant::now());
                out.insert(key, version);
            }
            Err(e) => {
                tracing::debug!(namespace = %ns, secret = %name, error = %e, "polling a named Secret");
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "secret_poll_tests.rs"]
mod tests;
