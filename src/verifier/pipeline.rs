//! One source's verification, without writing anything: decide the policies (fetching the
//! Secrets they need) → find the artifact (and the registry credentials Flux would use) →
//! verdict cache or registry + engine → the `SourceAudit` status.
//!
//! Shared by the controller (`reconcile`, which then applies the status, events and metrics)
//! and by `provenance-auditor audit` (which prints it), so both reach the same verdicts by the
//! same code. [`Verifier`] ([`super::mode`]) is the little it needs: a client, a registry
//! client, the verdict cache, the concurrency limits, the status sealer and, in the controller,
//! what it watches and keeps.
//!
//! Fail closed on every input that decides which policies apply: when a namespace's labels are
//! needed (a `namespaceSelector`) and cannot be read, the verdict is `Unknown/InputUnavailable`,
//! never a verdict from the smaller set of policies that match without them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::ObjectRef;

use super::cache::{definite, Entry, Lookup};
use super::clients::ClientKey;
use super::creds::{fetch_secrets, read_secret, secrets_needed, CredentialError, HelmRepo};
use super::found::Found;
use super::mode::Verifier;
pub use super::outcome::{cache_key, evaluate_discovery, still_fresh, worth_retrying};
use super::recheck::is_recheck;
use super::schedule::Intervals;
use super::secret_cache::{SecretCache, SecretData};
use crate::api::{PolicySet, ProvenancePolicySpec, SourceAuditStatus, SourceKind, VerdictCacheKey};
use crate::audit::decide::{decide, Decision};
use crate::audit::matching::matches;
use crate::audit::source::{AuditTarget, FluxSource, SourceError};
use crate::audit::status::{compute, AuditInput, Location, Outcome};
use crate::cluster::{self, flux_resource, time};
use crate::engine::{registry_verdict, Verdict};
use crate::error::Error;
use crate::registry::cloud::{CloudLogin, Provider};
use crate::registry::{DockerConfig, ImageRef, RegistryClient};
use crate::vocabulary::{self as vocab, reasons};

/// One source judged: what was decided, what the verification found, and the status.
pub struct Judged {
    /// The policies the source had to satisfy.
    pub decision: Decision,
    /// What verification found for the current revision.
    pub outcome: Outcome,
    /// The `SourceAudit` status computed from them (sealed when the sealer holds a key).
    pub status: SourceAuditStatus,
    /// When the verdict must be checked against the registry again (a definite verdict): the
    /// controller audits the source again no later than this.
    pub recheck_in: Option<Duration>,
    /// The result is indeterminate and worth retrying soon (on the caller's backoff): a verdict
    /// that could not be told, or a definite signature verdict whose `Attested` could not.
    pub retry: bool,
}

/// A namespace's labels, or why they could not be read.
pub type NamespaceLabels = Result<BTreeMap<String, String>, String>;

/// Whether matching `policies` needs namespace labels (a `namespaceSelector`).
pub fn needs_namespace_labels(policies: &[(String, ProvenancePolicySpec)]) -> bool {
    policies
        .iter()
        .any(|(_, p)| p.match_.namespace_selector.is_some())
}

impl Verifier {
    /// Judges `source` against `policies` (all of them; while one is unreadable, which
    /// policies apply cannot be told and the verdict is `Unknown`) given the labels of its
    /// namespace (read only when a policy has a `namespaceSelector`, see
    /// [`needs_namespace_labels`]); `previous` is the status the `SourceAudit` holds (the
    /// controller's memory across restarts, read back only when its seal verifies),
    /// `audit_generation` the audit's own generation.
    pub async fn judge(
        &self,
        source: &FluxSource,
        policies: &PolicySet,
        ns_labels: &NamespaceLabels,
        previous: Option<&SourceAuditStatus>,
        audit_generation: Option<i64>,
    ) -> Result<Judged, Error> {
        let previous = previous.filter(|p| {
            let sealed = self.sealer.verifies(source, p);
            if !sealed && self.sealer.is_active() {
                tracing::debug!(source = %source.display(), "the previous status is not sealed by this controller: not read back");
            }
            sealed
        });
        let mut location = Location::default();
        let mut paced = false;
        // Which policies apply cannot be told while a policy is unreadable (it may match any
        // source) or the namespace's labels are (a `namespaceSelector` may match).
        let cannot_tell = policies
            .unreadable_message()
            .or_else(|| ns_labels.as_ref().err().cloned());
        let (decision, outcome, recheck_in) = match (ns_labels, cannot_tell) {
            (Ok(labels), None) => {
                let mut decision = self.decide(source, policies, labels).await?;
                let (outcome, recheck_in) = match self
                    .find(source, &decision, previous, &mut location)
                    .await?
                {
                    Found::Deferred(wait) => {
                        paced = true;
                        (Outcome::Unchanged, Some(wait))
                    }
                    found => found.split(),
                };
                decision.http_chart = location.http_chart;
                (decision, outcome, recheck_in)
            }
            (labels, why) => {
                // Report every policy that might apply (a superset: `Enforced` can then only
                // under-claim) and no verdict.
                let decision = match labels {
                    Ok(labels) => self.decide(source, policies, labels).await?,
                    Err(_) => {
                        let superset: Vec<(String, ProvenancePolicySpec)> = policies
                            .iter()
                            .map(|(n, p)| {
                                let mut p = p.clone();
                                p.match_.namespace_selector = None;
                                (n.clone(), p)
                            })
                            .collect();
                        self.decide(source, &superset, &BTreeMap::new()).await?
                    }
                };
                let why = why.unwrap_or_default();
                let outcome = Outcome::Unknown {
                    judgement: vocab::verified_unknown(
                        reasons::INPUT_UNAVAILABLE,
                        format!("cannot tell which policies apply: {why}"),
                    ),
                    digest: None,
                };
                (decision, outcome, None)
            }
        };
        // Stamped after the verification, which may have taken a while.
        let now = cluster::now();
        let mut status = compute(
            previous,
            &AuditInput {
                source,
                decision: &decision,
                outcome: &outcome,
                location: &location,
                generation: audit_generation,
                now: &now,
            },
        );
        self.sealer.seal(source, &mut status);
        if let Some(p) = previous.filter(|_| paced) {
            // Waiting for its turn on the registry: the status stays exactly as it was.
            status = p.clone();
        }
        Ok(Judged {
            retry: worth_retrying(&outcome),
            decision,
            outcome,
            status,
            recheck_in,
        })
    }

    /// The policies `source` must satisfy: the matching ones, with the Secrets they read.
    pub async fn decide(
        &self,
        source: &FluxSource,
        policies: &[(String, ProvenancePolicySpec)],
        ns_labels: &BTreeMap<String, String>,
    ) -> Result<Decision, Error> {
        // A chart's urlRegex is matched against its HelmRepository's URL (see match_url), read
        // only when a policy has a urlRegex.
        let url_regex = policies.iter().any(|(_, p)| p.match_.url_regex.is_some());
        let source = &match source
            .chart
            .as_ref()
            .filter(|c| c.source_kind == "HelmRepository")
        {
            Some(c) if url_regex && c.repository_url.is_none() => {
                let ar = flux_resource("HelmRepository");
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), &source.namespace, &ar);
                let repo = api.get_opt(&c.source_name).await?;
                let url = repo.and_then(|r| crate::audit::source::helm_repository_url(&r.data));
                source.clone().with_chart_repository(url)
            }
            _ => source.clone(),
        };
        let matching: Vec<(&str, &ProvenancePolicySpec)> = policies
            .iter()
            .filter(|(_, p)| matches(p, source, ns_labels))
            .map(|(n, p)| (n.as_str(), p))
            .collect();
        let secrets = fetch_secrets(
            &self.client,
            self.secret_cache(),
            &secrets_needed(source, &matching),
        )
        .await?;
        Ok(decide(source, &matching, &secrets))
    }

    /// A namespace's labels for `namespaceSelector`: `Ok(None)` when the namespace does not
    /// exist (then neither does the source: it is being deleted with it), `Err` when they could
    /// not be read (RBAC, an API server fault), which makes the verdict `Unknown`.
    pub async fn namespace_labels(
        &self,
        ns: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        // The watched copy when the namespace watch has listed them: a GET per audit otherwise.
        // A namespace missing from the store may be new: the GET tells.
        if let Some(store) = self.watched().map(|w| &w.namespaces) {
            if store
                .wait_until_ready()
                .now_or_never()
                .is_some_and(|r| r.is_ok())
            {
                if let Some(n) = store.get(&ObjectRef::new(ns)) {
                    return Ok(Some(n.metadata.labels.clone().unwrap_or_default()));
                }
            }
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get_opt(ns).await {
            Ok(n) => Ok(n.map(|n| n.metadata.labels.unwrap_or_default())),
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e, "cannot read namespace labels for a namespaceSelector");
                Err(format!("reading the labels of namespace {ns}: {e}"))
            }
        }
    }

    /// The HelmRepository of a HelmChart, OCI or HTTP (`None` for an OCIRepository, another
    /// source kind or repository type).
    pub async fn helm_repository(&self, s: &FluxSource) -> Result<Option<HelmRepo>, Error> {
        let Some(chart) = &s.chart else {
            return Ok(None);
        };
        if chart.source_kind != "HelmRepository" {
            return Ok(None);
        }
        let ar = flux_resource("HelmRepository");
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &s.namespace, &ar);
        Ok(api
            .get_opt(&chart.source_name)
            .await?
            .as_ref()
            .and_then(HelmRepo::from_dynamic))
    }

    /// What to report for the current revision, and when its verdict must be checked against
    /// the registry again. `previous` must be authenticated (sealed) by the caller.
    pub async fn outcome(
        &self,
        source: &FluxSource,
        decision: &Decision,
        previous: Option<&SourceAuditStatus>,
        location: &mut Location,
    ) -> Result<(Outcome, Option<Duration>), Error> {
        Ok(self
            .find(source, decision, previous, location)
            .await?
            .split())
    }

    async fn find(
        &self,
        source: &FluxSource,
        decision: &Decision,
        previous: Option<&SourceAuditStatus>,
        location: &mut Location,
    ) -> Result<Found, Error> {
        let unknown = |reason: &'static str, msg: String| {
            Found::Outcome(Outcome::Unknown {
                judgement: vocab::verified_unknown(reason, msg),
                digest: None,
            })
        };
        if let Some(msg) = decision.invalid_message() {
            return Ok(unknown(reasons::POLICY_INVALID, msg));
        }
        let helm = self.helm_repository(source).await?;
        if let Some(repo) = helm.as_ref().filter(|h| !h.oci) {
            // A chart from an HTTP repository: its signature is a Helm `.prov` (helm_http.rs).
            return self
                .find_http_chart(source, repo, decision, previous, location)
                .await;
        }
        if source.kind == SourceKind::HelmChart && helm.is_none() {
            return Ok(unknown(
                reasons::ARTIFACT_NOT_READY,
                "the chart's source is not a HelmRepository: neither cosign nor Helm provenance \
                 can sign it"
                    .into(),
            ));
        }
        let target = match source.digest_to_audit(helm.as_ref().map(|h| h.url.as_str())) {
            Ok(t) => t,
            Err(SourceError::NotReady(m)) => return Ok(unknown(reasons::ARTIFACT_NOT_READY, m)),
            Err(e) => return Ok(unknown(reasons::ARTIFACT_NOT_READY, e.to_string())),
        };
        let client = match self.registry_client_for(source, helm.as_ref()).await {
            Ok(c) => c,
            Err(e) => return Ok(unknown(reasons::AUTHENTICATION_FAILED, e.to_string())),
        };
        let (image, digest) = match target {
            AuditTarget::Digest { image, digest } => (image, digest),
            AuditTarget::Tag { reference } => {
                location.url = Some(format!("oci://{reference}"));
                location.chart_reference = Some(reference.clone());
                let r: ImageRef = match reference.parse() {
                    Ok(r) => r,
                    Err(e) => return Ok(unknown(reasons::ARTIFACT_NOT_READY, format!("{e}"))),
                };
                match client.resolve_digest(&r).await {
                    Ok(d) => (r.name(), d),
                    Err(e) => {
                        return Ok(Found::Outcome(Outcome::Unknown {
                            judgement: registry_verdict(&e).judgement(e.to_string()),
                            digest: None,
                        }))
                    }
                }
            }
        };
        let image_ref: ImageRef = format!("{image}@{digest}")
            .parse()
            .map_err(|e| Error::Internal(format!("{image}@{digest}: {e}")))?;
        let key = cache_key(decision, &image_ref, &digest);
        let intervals = self.cache.intervals();
        let now = cluster::now().0.as_second();
        let mut due = None;
        match self.cache.lookup(&key, now) {
            Lookup::Fresh(entry) => {
                self.cache_hit();
                return Ok(cached(entry, digest, key, now, intervals));
            }
            // The verdict's re-check is due: ask the registry.
            Lookup::Due(entry) => due = Some(entry),
            // After a restart the (sealed) status is the cache: same inputs, a definite verdict
            // whose re-check is not due yet → no request.
            Lookup::Miss => {
                if let Some(due) = previous.and_then(|p| still_fresh(p, &key, now, intervals)) {
                    self.cache_hit();
                    return Ok(Found::Scheduled(Outcome::Unchanged, due));
                }
            }
        }
        // A verdict the source already has waits for its turn on the registry (new ones go first).
        let recheck = is_recheck(previous, &digest);
        if let Some(wait) = recheck.then(|| self.paced(&image_ref, &key)).flatten() {
            return Ok(Found::Deferred(wait));
        }
        // One check per key at a time; whoever waited finds the verdict just checked.
        let _flight = self.cache.flight(&key).await;
        let now = cluster::now().0.as_second();
        if let Lookup::Fresh(entry) = self.cache.lookup(&key, now) {
            self.cache_hit();
            return Ok(cached(entry, digest, key, now, intervals));
        }
        let _permits = self.limits.acquire(&image_ref.registry).await;
        let started = Instant::now();
        // The legacy `.att` tag costs one more request: read it only when a policy requires
        // attestations (unread, the attestations are incomplete, so never judged missing).
        let options = crate::registry::DiscoverOptions {
            legacy_attestations: !decision.required_attestations().is_empty(),
            within_budget: recheck,
        };
        if let Some(found) = self
            .recheck_due(&client, &image_ref, &digest, &key, due, options, started)
            .await
        {
            return Ok(found);
        }
        let discovery = match client
            .discover_with(&image_ref.registry, &image_ref.repository, &digest, options)
            .await
        {
            Ok(d) => d,
            Err(e) => return Ok(self.failed(&e, &digest, started)),
        };
        let evaluation = match evaluate_discovery(&discovery, &digest, decision) {
            Ok(e) => e,
            Err(judgement) => {
                return Ok(Found::Outcome(Outcome::Unknown {
                    judgement,
                    digest: Some(digest),
                }))
            }
        };
        self.verification(evaluation.verdict, started);
        // Stamped when the registry answered.
        let checked = cluster::now().0.as_second();
        if !definite(&evaluation) {
            // Either half indeterminate (an `Attested=Unknown` too: one 503 on the `.att` tag):
            // never cached, and what the key held is dropped; retried on the reconcile's own
            // backoff.
            self.cache.forget(&key);
            self.remembered.forget(&key);
            return Ok(Found::Outcome(Outcome::Evaluated {
                digest,
                evaluation,
                key,
                checked: time(checked),
            }));
        }
        let entry = self.cache.insert(key.clone(), evaluation, checked);
        self.remembered
            .put(&key, super::remembered::reusable(&discovery));
        let due = entry.due_in(&key, checked, intervals);
        Ok(Found::Scheduled(
            Outcome::Evaluated {
                digest,
                evaluation: entry.evaluation,
                key,
                checked: time(checked),
            },
            due,
        ))
    }

    /// The registry client for a source, the way Flux pulls it: the shared one, or one with
    /// the source's (or its HelmRepository's) credentials, CA bundle and `insecure` flag.
    /// An `Err` makes the verdict `AuthenticationFailed`.
    pub async fn registry_client_for(
        &self,
        source: &FluxSource,
        helm: Option<&HelmRepo>,
    ) -> Result<RegistryClient, CredentialError> {
        let ns = &source.namespace;
        // A HelmChart pulls with its HelmRepository's settings.
        let (secret_ref, cert_ref, insecure, url, provider) = match helm {
            Some(h) => (
                &h.secret_ref,
                &h.cert_secret_ref,
                h.insecure,
                h.url.as_str(),
                h.provider.as_str(),
            ),
            None => (
                &source.secret_ref,
                &source.cert_secret_ref,
                source.insecure,
                source.url.as_str(),
                source.provider.as_str(),
            ),
        };
        let host = url
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or_default();
        let mut pull = vec![];
        if let Some(n) = secret_ref {
            pull.push(n.clone());
        }
        if let Some(sa) = &source.service_account_name {
            let account = format!("{ns}/{sa}");
            let sa = Api::<ServiceAccount>::namespaced(self.client.clone(), ns)
                .get_opt(sa)
                .await
                .map_err(|source| CredentialError::ServiceAccountUnreadable {
                    account: account.clone(),
                    source,
                })?
                .ok_or(CredentialError::ServiceAccountMissing(account))?;
            pull.extend(
                sa.image_pull_secrets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name),
            );
        }
        let cloud = self.cloud_login(source, provider, host, &pull).await?;
        if pull.is_empty() && cert_ref.is_none() && !insecure && cloud.is_none() {
            return Ok(self.registry.clone());
        }
        // The shared client's timeout and limits (`--registry-timeout`), this source's credentials.
        let mut opts = self.registry.base_options();
        let mut key = ClientKey::default();
        for name in &pull {
            let data = self.secret_data(ns, name).await?;
            for (k, v) in data.iter() {
                key.add(&format!("pull {name} {k}"), v);
            }
            // Each layout with its own parser: the legacy one read as the other would give
            // zero credentials without a word.
            let secret = format!("{ns}/{name}");
            let config = match (data.get(".dockerconfigjson"), data.get(".dockercfg")) {
                (Some(j), _) => DockerConfig::from_json(j),
                (None, Some(c)) => DockerConfig::from_dockercfg(c),
                (None, None) => return Err(CredentialError::NotDockerConfig(secret)),
            }
            .map_err(|source| CredentialError::BadDockerConfig { secret, source })?;
            opts.credentials.merge(config);
        }
        if let Some(name) = cert_ref {
            let data = self.secret_data(ns, name).await?;
            opts.extra_ca_pem = data.get("ca.crt").cloned();
            key.add("ca", opts.extra_ca_pem.as_deref().unwrap_or_default());
        }
        if let Some(login) = &cloud {
            opts.credentials.merge(login.docker_config());
            key.add("cloud", &login.digest());
        }
        if insecure {
            opts.insecure_registries.push(host.to_string());
            key.add("insecure", host.as_bytes());
        }
        let observer = self.watched().and_then(|w| w.observer.clone());
        let build = || {
            let client = RegistryClient::new(opts).map_err(CredentialError::Client)?;
            Ok(match observer {
                Some(o) => client.with_observer(o),
                None => client,
            })
        };
        match self.watched() {
            Some(w) => w.clients.get_or_build(key, build),
            None => build(),
        }
    }

    /// The registry credential of `spec.provider` (`aws`, `azure`, `gcp`) for `host`, the way
    /// source-controller uses it: only when no pull Secret gives credentials (`pull` is
    /// empty); with `spec.serviceAccountName` that is Flux's object-level workload identity,
    /// which is refused. `None` for `generic`.
    async fn cloud_login(
        &self,
        source: &FluxSource,
        provider: &str,
        host: &str,
        pull: &[String],
    ) -> Result<Option<CloudLogin>, CredentialError> {
        let Some(provider) = Provider::from_flux(provider) else {
            return Ok(None);
        };
        if !pull.is_empty() {
            return Ok(None);
        }
        if let Some(sa) = &source.service_account_name {
            return Err(CredentialError::ObjectLevelIdentity {
                account: format!("{}/{sa}", source.namespace),
                provider,
            });
        }
        Ok(Some(self.cloud.login(provider, host).await?))
    }

    pub(super) async fn secret_data(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Arc<SecretData>, CredentialError> {
        let secret = || format!("{ns}/{name}");
        read_secret(&self.client, self.secret_cache(), ns, name)
            .await
            .map_err(|source| CredentialError::SecretUnreadable {
                secret: secret(),
                source,
            })?
            .ok_or_else(|| CredentialError::SecretMissing(secret()))
    }

    pub(super) fn secret_cache(&self) -> Option<&SecretCache> {
        self.watched().map(|w| w.secrets.as_ref())
    }

    pub(super) fn cache_hit(&self) {
        if let Some(w) = self.watched() {
            w.metrics.cache_hit();
        }
    }

    pub(super) fn verification(&self, verdict: Verdict, started: Instant) {
        if let Some(w) = self.watched() {
            w.metrics
                .verification(verdict, started.elapsed().as_secs_f64());
        }
    }
}

/// A verdict from the cache, due for its re-check when its schedule says.
pub(super) fn cached(
    entry: Entry,
    digest: String,
    key: VerdictCacheKey,
    now: i64,
    iv: Intervals,
) -> Found {
    let due = entry.due_in(&key, now, iv);
    Found::Scheduled(
        Outcome::Evaluated {
            digest,
            evaluation: entry.evaluation,
            key,
            checked: time(entry.checked),
        },
        due,
    )
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
