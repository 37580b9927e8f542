//! Verdicts where platform teams already look: a Kubernetes Event on the Flux source itself
//! (`kubectl describe ocirepository`, `kubectl events --for OCIRepository/NAME`, `flux events`),
//! and the same change as a Flux notification ([`super::notify`]).
//!
//! What is announced is a change of the source's *verdict*: the event reason
//! ([`crate::vocabulary::source_event_reason`]: `ProvenanceVerified`, `ProvenanceUnsigned`, …)
//! together with the digest it is about. A resync, a re-check with the same answer, or a
//! restart announces nothing; neither does an artifact Flux has not fetched yet, nor a source's
//! first verdict when that is `Verified` (a new, verified source is not news; at 10,000 sources
//! it would be 10,000 writes). [`Gate`] deduplicates against what was last announced (or, after a
//! restart, against the previous status) and rate-limits: a change the limit holds back is
//! announced by a later audit of the source (its re-check or resync) of the same process (a
//! restart reads the new verdict from the status and so forgets it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DynamicObject;
use kube::runtime::events::{Event, EventType};
use kube::Resource;

use super::notify::{FluxEvent, MAX_MESSAGE};
use super::text::truncate;
use super::Context;
use crate::api::SourceAuditStatus;
use crate::audit::source::FluxSource;
use crate::vocabulary::{self as vocab, reasons, types, Status};

/// How many source events may be published at once, and then how many per second: a mass
/// change (a policy edit failing every source) must not flood the API server or a chat channel.
pub const BURST: f64 = 100.0;
/// See [`BURST`].
pub const PER_SECOND: f64 = 10.0;
/// The longest event note (Kubernetes allows 1 kB on `events.k8s.io`).
pub const MAX_NOTE: usize = 1024;

/// What one verdict change says, for the event and the Flux notification alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    /// A definite negative verdict, or one that could not be reached (`Warning`).
    pub warning: bool,
    /// A definite finding against the artifact (Flux severity `error`); an outage is `info`.
    pub error: bool,
    /// `Provenance<Reason>`.
    pub reason: String,
    /// One line: reason, digest, signer and the condition's message (at most [`MAX_NOTE`]).
    pub message: String,
    /// `revision`, `digest`, `signer`, `verdict` when known (Flux notification metadata).
    pub metadata: BTreeMap<&'static str, String>,
}

/// The announced identity of a verdict: the event reason and the digest it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerdictKey {
    reason: String,
    digest: Option<String>,
}

/// The event a status announces, when it has a verdict to announce (`None` while Flux has not
/// fetched an artifact, or before the first audit completed).
pub fn source_event(status: &SourceAuditStatus) -> Option<SourceEvent> {
    let verified = status.condition(types::VERIFIED)?;
    if verified.reason == reasons::ARTIFACT_NOT_READY {
        return None;
    }
    let attested = status
        .condition(types::ATTESTED)
        .filter(|c| c.status != Status::True.as_str() && c.reason != reasons::ARTIFACT_NOT_READY);
    // Verified decides first; a verified signature with a missing or failing attestation is
    // announced as the attestation's reason.
    let decisive = if verified.status != Status::True.as_str() {
        (types::VERIFIED, verified)
    } else if let Some(a) = attested {
        (types::ATTESTED, a)
    } else {
        (types::VERIFIED, verified)
    };
    let (type_, cond) = decisive;
    let reason = vocab::source_event_reason(type_, &cond.reason)?;
    let status_of = Status::parse(&cond.status);
    let digest = status.digest.clone();
    let signer = status.signer.clone().filter(|s| !s.is_empty());
    let mut message = cond.reason.clone();
    if let Some(d) = &digest {
        message.push_str(&format!(" for {d}"));
    }
    if let Some(s) = &signer {
        message.push_str(&format!(", signed by {s}"));
    }
    if !cond.message.is_empty() {
        message.push_str(": ");
        message.push_str(&cond.message);
    }
    let mut metadata = BTreeMap::new();
    if let Some(r) = &status.flux_revision {
        metadata.insert("revision", r.clone());
    }
    if let Some(d) = &digest {
        metadata.insert("digest", d.clone());
    }
    if let Some(s) = &signer {
        metadata.insert("signer", s.clone());
    }
    metadata.insert("verdict", cond.reason.clone());
    Some(SourceEvent {
        warning: status_of != Status::True,
        error: status_of == Status::False,
        reason,
        message: truncate(&message, MAX_NOTE),
        metadata,
    })
}

/// The key [`Gate`] compares.
pub fn verdict_key(event: &SourceEvent) -> VerdictKey {
    VerdictKey {
        reason: event.reason.clone(),
        digest: event.metadata.get("digest").cloned(),
    }
}

/// What [`Gate::admit`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Announce it now; should that fail, hand `undo` back to [`Gate::failed`].
    Publish {
        /// What was announced before.
        undo: Option<VerdictKey>,
    },
    /// Nothing changed since the last announcement (or nothing worth one).
    Unchanged,
    /// A change, held back by the rate limit: a later audit announces it.
    Deferred,
}

/// Deduplication per source and a token bucket over all of them.
#[derive(Debug)]
pub struct Gate {
    inner: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    /// What was last announced (or found announced) per source key.
    announced: HashMap<String, VerdictKey>,
    tokens: f64,
    refilled: Instant,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl Gate {
    /// A gate with a full bucket at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            inner: Mutex::new(GateState {
                announced: HashMap::new(),
                tokens: BURST,
                refilled: now,
            }),
        }
    }

    /// Whether the change from `previous` (the status before this audit) to `current` is
    /// announced now, for the source `key`.
    pub fn admit(
        &self,
        key: &str,
        previous: Option<&SourceAuditStatus>,
        current: &SourceEvent,
        now: Instant,
    ) -> Admit {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let want = verdict_key(current);
        let last = match st.announced.get(key) {
            Some(k) => Some(k.clone()),
            // Not announced by this process: the previous status says what was.
            None => previous.and_then(source_event).map(|e| verdict_key(&e)),
        };
        if last.as_ref() == Some(&want) {
            st.announced.insert(key.to_string(), want);
            return Admit::Unchanged;
        }
        if last.is_none() && !current.warning {
            // The first verdict, and a good one: recorded, not announced.
            st.announced.insert(key.to_string(), want);
            return Admit::Unchanged;
        }
        let elapsed = now.saturating_duration_since(st.refilled).as_secs_f64();
        st.tokens = (st.tokens + elapsed * PER_SECOND).min(BURST);
        st.refilled = now;
        if st.tokens < 1.0 {
            // Keep what was announced, so the next audit of this source tries again.
            if let Some(l) = last {
                st.announced.insert(key.to_string(), l);
            }
            return Admit::Deferred;
        }
        st.tokens -= 1.0;
        st.announced.insert(key.to_string(), want);
        Admit::Publish { undo: last }
    }

    /// Undoes an admission whose publication failed, so that a later audit of the source
    /// announces the change again.
    pub fn failed(&self, key: &str, undo: Option<VerdictKey>) {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Nothing announced before: a key no verdict has, so the next audit announces.
        let undo = undo.unwrap_or(VerdictKey {
            reason: String::new(),
            digest: None,
        });
        st.announced.insert(key.to_string(), undo);
    }

    /// Forgets a source that is gone.
    pub fn forget(&self, key: &str) {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        st.announced.remove(key);
    }
}

/// Records a verdict change on the Flux source and posts it to notification-controller, when
/// [`Gate`] admits it. A failed event is retried by a later audit; the notification follows
/// the event (so a retried event is never posted twice).
pub async fn announce(
    ctx: &Context,
    obj: &DynamicObject,
    source: &FluxSource,
    previous: Option<&SourceAuditStatus>,
    status: &SourceAuditStatus,
) {
    let Some(event) = source_event(status) else {
        return;
    };
    let key = source.display();
    let undo = match ctx
        .source_events
        .admit(&key, previous, &event, Instant::now())
    {
        Admit::Unchanged => return,
        Admit::Deferred => {
            ctx.metrics.integrations.source_event("deferred");
            tracing::debug!(source = %key, "source event deferred by the rate limit");
            return;
        }
        Admit::Publish { undo } => undo,
    };
    let reference = obj.object_ref(&crate::cluster::source_resource(source.kind));
    let ev = Event {
        type_: if event.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: event.reason.clone(),
        note: Some(event.message.clone()),
        action: "Audit".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder().publish(&ev, &reference).await {
        if super::api_errors::namespace_terminating(&e) {
            tracing::debug!(source = %key, error = %e, "no event: the namespace is being deleted");
        } else {
            tracing::warn!(source = %key, error = %e, "publishing an event on the source");
            ctx.metrics.integrations.source_event("failed");
            ctx.source_events.failed(&key, undo);
        }
        return;
    }
    ctx.metrics.integrations.source_event("published");
    if let Some(n) = &ctx.notifier {
        n.send(flux_event(
            reference,
            &event,
            crate::cluster::now(),
            ctx.reporter.instance.clone(),
        ));
    }
}

/// The Flux event for a verdict change of the source `source` (its object reference).
pub fn flux_event(
    source: ObjectReference,
    event: &SourceEvent,
    timestamp: Time,
    instance: Option<String>,
) -> FluxEvent {
    // notification-controller keeps the metadata of the involved object's group only.
    let group = source
        .api_version
        .as_deref()
        .and_then(|v| v.split_once('/'))
        .map_or("source.toolkit.fluxcd.io", |(g, _)| g)
        .to_string();
    let metadata = event
        .metadata
        .iter()
        .map(|(k, v)| {
            // `<group>/digest` is dropped by notification-controller (it is the artifact's
            // tarball digest in Flux's own events): ours is the audited manifest digest.
            let k = if *k == "digest" { "auditedDigest" } else { k };
            (format!("{group}/{k}"), v.clone())
        })
        .collect();
    FluxEvent {
        involved_object: source,
        severity: if event.error { "error" } else { "info" },
        timestamp,
        message: truncate(&event.message, MAX_MESSAGE),
        reason: event.reason.clone(),
        metadata,
        reporting_controller: super::MANAGER.to_string(),
        reporting_instance: instance,
    }
}

#[cfg(test)]
#[path = "flux_events_tests.rs"]
mod tests;
