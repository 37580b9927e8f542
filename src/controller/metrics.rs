//! The controller's Prometheus metrics (prometheus-client, OpenMetrics text).
//!
//! Labels are bounded: namespace/name/kind of sources that exist (their series are removed when
//! the source is deleted), reasons from [`crate::vocabulary`], verdict names, registry hosts of
//! current sources ([`registry_labels`]) or named by `--registry-budget`, HTTP status classes,
//! request methods and purposes. Never an error's text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::integration_metrics::IntegrationMetrics;
use super::registry_labels::{code_label, RegistryLabelSet};
use crate::registry::RequestRecord;
use crate::verifier::metrics::VerifierMetrics;

/// Identifies one audited source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The source's namespace.
    pub namespace: String,
    /// The source's name.
    pub name: String,
    /// `OCIRepository` or `HelmChart`.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerifiedLabels {
    namespace: String,
    name: String,
    kind: String,
    reason: String,
}

/// `provenance_source_info`: one series per source, its value always 1. The signer is one
/// string per source (bounded by the number of sources, like the other per-source series).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    namespace: String,
    name: String,
    kind: String,
    signer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PurposeLabels {
    method: String,
    purpose: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    reason: String,
}

/// What one reconcile found about a source, for its gauges.
#[derive(Debug, Clone)]
pub struct SourceGauges {
    /// The `Verified` reason (from the vocabulary).
    pub reason: String,
    /// Whether `Verified` is True.
    pub verified: bool,
    /// Whether `Enforced` is True.
    pub enforced: bool,
    /// `FluxAgrees`: `None` when Flux does not verify (the series is then absent).
    pub flux_agrees: Option<bool>,
    /// Whether a matching policy requires the source's own `spec.verify`.
    pub verify_required: bool,
    /// Unix time since which the source has been Ready=True; 0 while it is not.
    pub ready_since: i64,
    /// The decisive signer (`status.signer`), empty when none was found.
    pub signer: String,
    /// The `Attested` reason (from the vocabulary; `NotRequired` when no policy asks for an
    /// attestation).
    pub attested_reason: String,
    /// Whether `Attested` is True.
    pub attested: bool,
    /// The registry host the source's artifact is in, when known: its
    /// `provenance_registry_requests_total` series live as long as a source uses it.
    pub registry: Option<String>,
}

impl SourceGauges {
    /// The gauges to export when the status computed from these could not be written: a
    /// verdict nobody can read in the status is not published as `Verified` (nor as an
    /// agreement with Flux). A definite negative verdict stays: it is fail-closed, and its
    /// alert should fire. A withheld `Verified` reads as not verified, reason
    /// `ArtifactNotReady` (the audit of the current revision is not complete), no signer.
    pub fn withheld(mut self) -> Self {
        if self.verified {
            self.verified = false;
            self.reason = crate::vocabulary::reasons::ARTIFACT_NOT_READY.to_string();
            self.signer = String::new();
            self.flux_agrees = None;
        }
        // The same for an unpublished Attested=True.
        if self.attested {
            self.attested = false;
            self.attested_reason = crate::vocabulary::reasons::ARTIFACT_NOT_READY.to_string();
        }
        self
    }
}

/// Every metric the controller exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    verified: Family<VerifiedLabels, Gauge>,
    /// Same labels as `verified`: the reason is the Attested condition's.
    attested: Family<VerifiedLabels, Gauge>,
    enforced: Family<SourceLabels, Gauge>,
    flux_agrees: Family<SourceLabels, Gauge>,
    verify_required: Family<SourceLabels, Gauge>,
    ready_since: Family<SourceLabels, Gauge>,
    info: Family<InfoLabels, Gauge>,
    /// The verifier's metrics (registered in the same registry).
    verifier: VerifierMetrics,
    /// Events on Flux sources, Flux notifications, policy reports (same registry).
    pub integrations: IntegrationMetrics,
    registry_requests: Family<RegistryLabels, Counter>,
    /// Requests by method and purpose (`discover`, `recheck`, `attestation`, `resolve`).
    requests_by_purpose: Family<PurposeLabels, Counter>,
    /// Manifest GETs per host: what Docker Hub counts as pulls.
    manifest_gets: Family<HostLabels, Counter>,
    /// Unix time until which a host is paused (a `429`, or `503` with `Retry-After`).
    paused_until: Family<HostLabels, Gauge>,
    /// Pauses started per host.
    pauses: Family<HostLabels, Counter>,
    /// Manifest GETs left in a budgeted host's window, and its limit (set when encoding).
    budget_left: Family<HostLabels, Gauge>,
    budget_limit: Family<HostLabels, Gauge>,
    /// The budgets, read when encoding.
    throttle: Mutex<Option<crate::registry::Throttle>>,
    reconciles: Counter,
    reconcile_errors: Family<ErrorLabels, Counter>,
    /// The reason and signer labels currently exported per source, so a change replaces the
    /// series instead of adding one.
    current_reason: Mutex<HashMap<SourceLabels, (String, String)>>,
    /// The Attested reason currently exported per source (same purpose).
    current_attested: Mutex<HashMap<SourceLabels, String>>,
    /// The `registry` and `code` label values exported, and which source uses which registry.
    registries: Mutex<RegistryLabelSet<SourceLabels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            verified: Family::default(),
            attested: Family::default(),
            enforced: Family::default(),
            flux_agrees: Family::default(),
            verify_required: Family::default(),
            ready_since: Family::default(),
            info: Family::default(),
            verifier: VerifierMetrics::register(&mut registry),
            integrations: IntegrationMetrics::register(&mut registry),
            registry_requests: Family::default(),
            requests_by_purpose: Family::default(),
            manifest_gets: Family::default(),
            paused_until: Family::default(),
            pauses: Family::default(),
            budget_left: Family::default(),
            budget_limit: Family::default(),
            throttle: Mutex::default(),
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            current_reason: Mutex::default(),
            current_attested: Mutex::default(),
            registries: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register(
            "provenance_source_verified",
            "Whether the source's artifact is verified (1) or not (0), labelled with the Verified reason",
            m.verified.clone(),
        );
        registry.register(
            "provenance_source_attested",
            "Whether every attestation the source's policies require is present, verified and satisfies its conditions (1) or not (0), labelled with the Attested reason",
            m.attested.clone(),
        );
        registry.register(
            "provenance_source_enforced",
            "Whether Flux itself enforces an equivalent signature check for the source",
            m.enforced.clone(),
        );
        registry.register(
            "provenance_source_flux_agrees",
            "Whether Flux's SourceVerified condition agrees with the audit's verdict",
            m.flux_agrees.clone(),
        );
        registry.register(
            "provenance_source_verify_required",
            "Whether a ProvenancePolicy matching the source requires the source's own spec.verify",
            m.verify_required.clone(),
        );
        registry.register(
            "provenance_source_ready_since_seconds",
            "Unix time since which the source has been Ready=True, 0 while it is not",
            m.ready_since.clone(),
        );
        registry.register(
            "provenance_source_info",
            "Always 1: the source's decisive signer as a label, for tables and joins",
            m.info.clone(),
        );
        registry.register(
            "provenance_registry_requests",
            "HTTP requests made to registries, by registry host (of a current source, else other) and status (common codes as is, others by class, error without a response)",
            m.registry_requests.clone(),
        );
        registry.register(
            "provenance_registry_requests_by_purpose",
            "HTTP requests made to registries, by method (GET, HEAD, POST) and purpose (discover: reading signatures; recheck: asking whether they changed; attestation: the .att tag; resolve: a tag's digest)",
            m.requests_by_purpose.clone(),
        );
        registry.register(
            "provenance_registry_manifest_gets",
            "Manifest and index GETs per registry host: what Docker Hub counts as pulls (HEADs and blobs are not)",
            m.manifest_gets.clone(),
        );
        registry.register(
            "provenance_registry_paused_until_seconds",
            "Unix time until which the registry is paused because it answered 429 (or 503 with Retry-After); in the past once the pause is over",
            m.paused_until.clone(),
        );
        registry.register(
            "provenance_registry_pauses",
            "Pauses of a registry started by a 429 (or 503 with Retry-After)",
            m.pauses.clone(),
        );
        registry.register(
            "provenance_registry_budget_remaining",
            "Manifest GETs left in the registry's request budget window (--registry-budget)",
            m.budget_left.clone(),
        );
        registry.register(
            "provenance_registry_budget_limit",
            "Manifest GETs allowed per window by the registry's request budget (--registry-budget)",
            m.budget_limit.clone(),
        );
        registry.register(
            "provenance_reconciles",
            "Source audits run (reconciles), whatever their outcome: with the process CPU, the cost of one",
            m.reconciles.clone(),
        );
        registry.register(
            "provenance_reconcile_errors",
            "Reconciles that failed, by bounded reason",
            m.reconcile_errors.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Reports the request budgets of `throttle` (read each time the metrics are encoded).
    pub fn watch_budgets(&self, throttle: crate::registry::Throttle) {
        *self.throttle.lock().unwrap_or_else(|e| e.into_inner()) = Some(throttle);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let throttle = self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(t) = throttle {
            let now = Instant::now();
            // One series per budget given on the command line: bounded by the flag.
            for b in t.budgets() {
                let labels = HostLabels {
                    registry: b.host.clone(),
                };
                if let Some(room) = t.room(&b.host, now) {
                    self.budget_left
                        .get_or_create(&labels)
                        .set(i64::from(room.left));
                    self.budget_limit
                        .get_or_create(&labels)
                        .set(i64::from(room.limit));
                }
            }
        }
        let mut out = String::new();
        // Encoding into a String cannot fail except on a formatter bug.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Sets a source's gauges; a changed reason replaces the old series.
    pub fn set_source(&self, source: &SourceLabels, g: &SourceGauges) {
        let mut current = self
            .current_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let labels = (g.reason.clone(), g.signer.clone());
        if let Some((old_reason, old_signer)) = current.insert(source.clone(), labels) {
            if old_reason != g.reason {
                self.verified.remove(&verified_labels(source, &old_reason));
            }
            if old_signer != g.signer {
                self.info.remove(&info_labels(source, &old_signer));
            }
        }
        self.info
            .get_or_create(&info_labels(source, &g.signer))
            .set(1);
        self.verified
            .get_or_create(&verified_labels(source, &g.reason))
            .set(i64::from(g.verified));
        self.enforced
            .get_or_create(source)
            .set(i64::from(g.enforced));
        match g.flux_agrees {
            Some(agrees) => {
                self.flux_agrees
                    .get_or_create(source)
                    .set(i64::from(agrees));
            }
            // Absent, not 0: "Flux does not verify" is not a disagreement to alert on.
            None => {
                self.flux_agrees.remove(source);
            }
        }
        self.verify_required
            .get_or_create(source)
            .set(i64::from(g.verify_required));
        self.ready_since.get_or_create(source).set(g.ready_since);
        drop(current);
        self.set_attested(source, &g.attested_reason, g.attested);
        self.registries_lock()
            .set_source(source, g.registry.as_deref());
    }

    /// Sets a source's `provenance_source_attested`; a changed reason replaces the old series.
    fn set_attested(&self, source: &SourceLabels, reason: &str, attested: bool) {
        let mut current = self.attested_lock();
        if let Some(old) = current.insert(source.clone(), reason.to_string()) {
            if old != reason {
                self.attested.remove(&verified_labels(source, &old));
            }
        }
        self.attested
            .get_or_create(&verified_labels(source, reason))
            .set(i64::from(attested));
    }

    fn attested_lock(&self) -> std::sync::MutexGuard<'_, HashMap<SourceLabels, String>> {
        self.current_attested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Withholds a source's exported verdict when its audit failed before a new one could be
    /// published (see [`SourceGauges::withheld`]): a `Verified` series turns to not verified
    /// and the agreement with Flux is dropped; a negative verdict is left as it is.
    pub fn withhold_source(&self, source: &SourceLabels) {
        let mut current = self
            .current_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.withhold_attested(source);
        let Some((reason, signer)) = current.get(source).cloned() else {
            return;
        };
        let labels = verified_labels(source, &reason);
        let verified = self.verified.get(&labels).is_some_and(|g| g.get() == 1);
        if !verified {
            return;
        }
        self.verified.remove(&labels);
        self.info.remove(&info_labels(source, &signer));
        self.flux_agrees.remove(source);
        let withheld = crate::vocabulary::reasons::ARTIFACT_NOT_READY.to_string();
        self.verified
            .get_or_create(&verified_labels(source, &withheld))
            .set(0);
        self.info.get_or_create(&info_labels(source, "")).set(1);
        current.insert(source.clone(), (withheld, String::new()));
    }

    /// An exported `Attested=True` turns to not attested, reason `ArtifactNotReady` (like
    /// `Verified` in [`Self::withhold_source`]); a negative one is left as it is.
    fn withhold_attested(&self, source: &SourceLabels) {
        let mut current = self.attested_lock();
        let Some(reason) = current.get(source).cloned() else {
            return;
        };
        let labels = verified_labels(source, &reason);
        let attested = self.attested.get(&labels).is_some_and(|g| g.get() == 1);
        if !attested {
            return;
        }
        self.attested.remove(&labels);
        let withheld = crate::vocabulary::reasons::ARTIFACT_NOT_READY.to_string();
        self.attested
            .get_or_create(&verified_labels(source, &withheld))
            .set(0);
        current.insert(source.clone(), withheld);
    }

    /// Removes every series of a deleted source.
    pub fn remove_source(&self, source: &SourceLabels) {
        let mut current = self
            .current_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((reason, signer)) = current.remove(source) {
            self.verified.remove(&verified_labels(source, &reason));
            self.info.remove(&info_labels(source, &signer));
        }
        self.enforced.remove(source);
        self.flux_agrees.remove(source);
        self.verify_required.remove(source);
        self.ready_since.remove(source);
        drop(current);
        if let Some(reason) = self.attested_lock().remove(source) {
            self.attested.remove(&verified_labels(source, &reason));
        }
        self.registries_lock().set_source(source, None);
    }

    /// Removes the request series of registries that no current source uses and that have
    /// not been asked anything for `idle` (the grace lets a new source's first audit, whose
    /// requests come before its gauges, keep its series).
    pub fn prune_registries(&self, now: Instant, idle: Duration) {
        let mut hosts = std::collections::BTreeSet::new();
        for (registry, code) in self.registries_lock().prune(now, idle) {
            hosts.insert(registry.clone());
            self.registry_requests
                .remove(&RegistryLabels { registry, code });
        }
        for registry in hosts {
            let labels = HostLabels { registry };
            self.manifest_gets.remove(&labels);
            self.paused_until.remove(&labels);
            self.pauses.remove(&labels);
        }
    }

    fn registries_lock(&self) -> std::sync::MutexGuard<'_, RegistryLabelSet<SourceLabels>> {
        self.registries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sources that currently have series (to find deleted ones).
    pub fn sources(&self) -> Vec<SourceLabels> {
        let current = self
            .current_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        current.keys().cloned().collect()
    }

    /// How many sources have series (cheaper than [`Self::sources`] when only a change matters).
    pub fn source_count(&self) -> usize {
        self.current_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The verifier's metrics, for the [`crate::verifier::Verifier`] this controller runs.
    pub fn verifier(&self) -> VerifierMetrics {
        self.verifier.clone()
    }

    /// Counts a reconcile (an audit run to its end, or to its error).
    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    /// Counts a failed reconcile; `reason` must be bounded (a category, never error text).
    pub fn reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts one registry HTTP exchange (the [`crate::registry::RegistryClient`] observer).
    pub fn registry_request(&self, r: &RequestRecord) {
        self.registry_request_at(r, Instant::now());
    }

    fn registry_request_at(&self, r: &RequestRecord, now: Instant) {
        let code = code_label(r.status);
        let registry = self.registries_lock().label(&r.registry, code, now);
        self.registry_requests
            .get_or_create(&RegistryLabels {
                registry: registry.clone(),
                code: code.to_string(),
            })
            .inc();
        self.requests_by_purpose
            .get_or_create(&PurposeLabels {
                method: r.method.to_string(),
                purpose: r.purpose.as_str().to_string(),
            })
            .inc();
        let host = HostLabels { registry };
        if r.manifest_get {
            self.manifest_gets.get_or_create(&host).inc();
        }
        if let Some(until) = r.paused_until {
            let secs = until
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            self.paused_until.get_or_create(&host).set(secs);
            self.pauses.get_or_create(&host).inc();
        }
    }
}

fn info_labels(s: &SourceLabels, signer: &str) -> InfoLabels {
    InfoLabels {
        namespace: s.namespace.clone(),
        name: s.name.clone(),
        kind: s.kind.clone(),
        signer: signer.to_string(),
    }
}

fn verified_labels(s: &SourceLabels, reason: &str) -> VerifiedLabels {
    VerifiedLabels {
        namespace: s.namespace.clone(),
        name: s.name.clone(),
        kind: s.kind.clone(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "registry_metrics_tests.rs"]
mod registry_tests;
