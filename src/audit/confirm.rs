//! `provenance-auditor confirm`'s decision as a pure state machine: fed with what the command
//! observed of each selected source (and its `SourceAudit`) at an instant, it says whether the
//! staged-rollout gate has passed, has failed, or must keep waiting — and why, per source.
//!
//! Rules:
//! - A source counts as Ready only for its **current** generation: `status.observedGeneration
//!   == metadata.generation` and `Ready=True` (and Ready's own `observedGeneration`, when set, is
//!   the generation too). Otherwise Flux has not processed the new spec yet.
//! - The clock of a Ready source starts at the later of Ready's `lastTransitionTime` and the
//!   moment this gate first saw it Ready at its current generation, and restarts whenever it
//!   stops being so. So an old `lastTransitionTime` never counts, and a flap between two
//!   observations still restarts the clock (its `lastTransitionTime` moves).
//! - `Ready=False` for the current generation fails the gate at once (a reconciliation halt,
//!   e.g. Flux's `VerificationError`). A `Ready=False` left over from an older generation is
//!   only a reason to wait: Flux has not looked at the new spec yet.
//! - With `require_verified`, the source's `SourceAudit` must say `Verified=True`; it is only
//!   believed when it is about the source's current revision and current generation
//!   (`status.sourceGeneration`) — right after `spec.verify` is switched on, the audit still
//!   describes the source without it. (A status from before `sourceGeneration` existed is
//!   believed when its `Enforced` condition is `VerifyMissing` exactly when the source has no
//!   `spec.verify`.) A current audit with `Verified=False` fails the gate at once.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::source::FluxSource;
use crate::api::{SourceAuditStatus, SourceKind};
use crate::vocabulary::{reasons, types};

/// A selected source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId {
    /// `OCIRepository` or `HelmChart`.
    pub kind: SourceKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What was seen of a source's `SourceAudit`.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditSeen {
    /// `--require-verified` is off: the audit is not looked at.
    NotRequired,
    /// There is no `SourceAudit` for the source (yet).
    Missing,
    /// The audit's status.
    Status(Box<SourceAuditStatus>),
}

/// One source as observed at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The source, as read.
    pub source: FluxSource,
    /// `status.observedGeneration` (not part of [`FluxSource`]).
    pub observed_generation: Option<i64>,
    /// Its `SourceAudit`.
    pub audit: AuditSeen,
}

impl Observation {
    /// The source's identity.
    pub fn id(&self) -> SourceId {
        SourceId {
            kind: self.source.kind,
            namespace: self.source.namespace.clone(),
            name: self.source.name.clone(),
        }
    }
}

/// Where one source stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Halted: `Ready=False` for the current generation, or a current audit says
    /// `Verified=False`. `condition` says which (`Ready=False`, `SourceAudit Verified=False`).
    Failed {
        /// The failing condition, e.g. `Ready=False`.
        condition: String,
        /// Its reason, e.g. `VerificationError`.
        reason: String,
        /// Its message.
        message: String,
    },
    /// Ready at its current generation for `held` so far; `pending` says what else it waits
    /// for (the audit), if anything.
    Ready {
        /// How long it has held Ready, as counted by the gate.
        held: Duration,
        /// What the audit still lacks, with `require_verified`.
        pending: Option<String>,
    },
    /// Not Ready at its current generation, and why.
    Waiting(String),
}

/// The gate's overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every source held Ready (and verified) for the required time.
    Passed,
    /// At least one source halted.
    Failed,
    /// Keep observing.
    Pending,
}

/// The gate: the required hold time, whether audits must verify, and when each source was
/// first seen Ready at its current generation.
#[derive(Debug, Clone)]
pub struct Gate {
    hold: Duration,
    require_verified: bool,
    ready_seen: BTreeMap<SourceId, (Option<i64>, Timestamp)>,
    known: BTreeMap<SourceId, ()>,
}

/// Every source's state at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The required hold time.
    pub hold: Duration,
    /// Each source's state, ordered by kind, namespace and name.
    pub states: Vec<(SourceId, State)>,
}

impl Gate {
    /// A gate requiring `hold` of continuous readiness (and `Verified=True` audits when
    /// `require_verified`).
    pub fn new(hold: Duration, require_verified: bool) -> Self {
        Self {
            hold,
            require_verified,
            ready_seen: BTreeMap::new(),
            known: BTreeMap::new(),
        }
    }

    /// Feeds the sources observed at `now` (all selected ones, in any order). A source seen
    /// before and missing now is reported as waiting (it was deleted or unlabelled).
    pub fn observe(&mut self, now: Timestamp, observations: &[Observation]) -> Report {
        let mut states = BTreeMap::new();
        for o in observations {
            let id = o.id();
            self.known.insert(id.clone(), ());
            let state = self.judge(&id, o, now);
            states.insert(id, state);
        }
        for id in self.known.keys() {
            if !states.contains_key(id) {
                self.ready_seen.remove(id);
                states.insert(
                    id.clone(),
                    State::Waiting("no longer found (deleted, or no longer selected)".into()),
                );
            }
        }
        Report {
            hold: self.hold,
            states: states.into_iter().collect(),
        }
    }

    fn judge(&mut self, id: &SourceId, o: &Observation, now: Timestamp) -> State {
        let s = &o.source;
        let generation = s.generation;
        let Some(ready) = &s.ready else {
            self.ready_seen.remove(id);
            return State::Waiting("no Ready condition yet".into());
        };
        // Ready's own observedGeneration, when Flux set it, says which spec it is about.
        let stale = ready.observed_generation.filter(|g| Some(*g) != generation);
        match ready.status.as_str() {
            "False" => {
                self.ready_seen.remove(id);
                if let Some(g) = stale {
                    return State::Waiting(format!(
                        "Ready=False {} is about generation {g}; Flux has not processed generation {} yet",
                        ready.reason,
                        show(generation)
                    ));
                }
                State::Failed {
                    condition: "Ready=False".into(),
                    reason: ready.reason.clone(),
                    message: ready.message.clone(),
                }
            }
            "True" if stale.is_some() || o.observed_generation != generation => {
                self.ready_seen.remove(id);
                State::Waiting(format!(
                    "generation {} not yet processed by Flux (observedGeneration {})",
                    show(generation),
                    show(o.observed_generation)
                ))
            }
            "True" => {
                let first_seen = match self.ready_seen.get(id) {
                    Some((g, t)) if *g == generation => *t,
                    _ => {
                        self.ready_seen.insert(id.clone(), (generation, now));
                        now
                    }
                };
                let transition = ready
                    .last_transition_time
                    .as_deref()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                let since = transition.map_or(first_seen, |t| t.max(first_seen));
                let held = Duration::from_millis(
                    u64::try_from(now.as_millisecond() - since.as_millisecond()).unwrap_or(0),
                );
                match self.audit(o) {
                    AuditState::Fine => State::Ready {
                        held,
                        pending: None,
                    },
                    AuditState::Pending(why) => State::Ready {
                        held,
                        pending: Some(why),
                    },
                    AuditState::Failed(reason, message) => State::Failed {
                        condition: "SourceAudit Verified=False".into(),
                        reason,
                        message,
                    },
                }
            }
            other => {
                self.ready_seen.remove(id);
                let mut why = format!("Ready={other} {}", ready.reason);
                if !ready.message.is_empty() {
                    why = format!("{why}: {}", ready.message);
                }
                // A current audit that says Verified=False halts the rollout even while Flux
                // is still busy: it will not get better by waiting.
                match self.audit(o) {
                    AuditState::Failed(reason, message) => State::Failed {
                        condition: "SourceAudit Verified=False".into(),
                        reason,
                        message,
                    },
                    _ => State::Waiting(why),
                }
            }
        }
    }

    fn audit(&self, o: &Observation) -> AuditState {
        if !self.require_verified {
            return AuditState::Fine;
        }
        let status = match &o.audit {
            AuditSeen::NotRequired => return AuditState::Fine,
            AuditSeen::Missing => {
                return AuditState::Pending(
                    "no SourceAudit yet (is the provenance-auditor controller running?)".into(),
                )
            }
            AuditSeen::Status(s) => s,
        };
        let revision = o.source.artifact_revision.as_deref();
        if revision.is_none() || status.flux_revision.as_deref() != revision {
            return AuditState::Pending(format!(
                "SourceAudit is about revision {}, not yet {}",
                status.flux_revision.as_deref().unwrap_or("(none)"),
                revision.unwrap_or("(none)")
            ));
        }
        if let Some(g) = status.source_generation {
            if Some(g) != o.source.generation {
                return AuditState::Pending(format!(
                    "SourceAudit is about generation {g} of the source, not yet {}",
                    o.source
                        .generation
                        .map_or("(none)".into(), |g| g.to_string())
                ));
            }
        } else {
            // A status written before `sourceGeneration` existed: judge by whether it saw
            // the source's spec.verify (its Enforced reason is VerifyMissing exactly when not).
            let enforced = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::ENFORCED);
            let saw_verify = enforced.map(|c| c.reason != reasons::VERIFY_MISSING);
            if saw_verify != Some(o.source.verify.is_some()) {
                return AuditState::Pending(
                    "SourceAudit not yet updated for the source's current spec.verify".into(),
                );
            }
        }
        match status
            .conditions
            .iter()
            .find(|c| c.type_ == types::VERIFIED)
        {
            Some(c) if c.status == "True" => AuditState::Fine,
            Some(c) if c.status == "False" => {
                AuditState::Failed(c.reason.clone(), c.message.clone())
            }
            Some(c) => AuditState::Pending(format!(
                "SourceAudit Verified={} {}: {}",
                c.status, c.reason, c.message
            )),
            None => AuditState::Pending("SourceAudit has no Verified condition yet".into()),
        }
    }
}

enum AuditState {
    Fine,
    Pending(String),
    Failed(String, String),
}

fn show(g: Option<i64>) -> String {
    g.map_or_else(|| "-".into(), |g| g.to_string())
}

impl Report {
    /// Passed when every source held long enough (with nothing pending), failed when any
    /// halted, else pending. No source at all is pending: there is nothing to confirm.
    pub fn verdict(&self) -> Verdict {
        if self
            .states
            .iter()
            .any(|(_, s)| matches!(s, State::Failed { .. }))
        {
            return Verdict::Failed;
        }
        let confirmed =
            |s: &State| matches!(s, State::Ready { held, pending: None } if *held >= self.hold);
        if !self.states.is_empty() && self.states.iter().all(|(_, s)| confirmed(s)) {
            Verdict::Passed
        } else {
            Verdict::Pending
        }
    }

    /// One line for stderr while waiting, e.g. `2/3 sources Ready for 1m20s of 5m; waiting for
    /// apps/podinfo: Ready=Unknown Progressing`.
    pub fn progress_line(&self) -> String {
        let held: Vec<Duration> = self
            .states
            .iter()
            .filter_map(|(_, s)| match s {
                State::Ready { held, .. } => Some(*held),
                _ => None,
            })
            .collect();
        let mut line = format!("{}/{} sources Ready", held.len(), self.states.len());
        if let Some(min) = held.iter().min() {
            line += &format!(
                " for {} of {}",
                fmt_duration((*min).min(self.hold)),
                fmt_duration(self.hold)
            );
        }
        let waiting = self.unconfirmed_reasons(false);
        if let Some((id, why)) = waiting.first() {
            line += &format!("; waiting for {id}: {why}");
            if waiting.len() > 1 {
                line += &format!(" (and {} more)", waiting.len() - 1);
            }
        }
        line
    }

    /// The halted sources: `OCIRepository apps/podinfo: Ready=False VerificationError: …`.
    pub fn failures(&self) -> Vec<String> {
        self.states
            .iter()
            .filter_map(|(id, s)| match s {
                State::Failed {
                    condition,
                    reason,
                    message,
                } => Some(format!("{} {id}: {condition} {reason}: {message}", id.kind)),
                _ => None,
            })
            .collect()
    }

    /// Every source not confirmed yet, and why (also those only lacking time).
    pub fn unconfirmed(&self) -> Vec<String> {
        self.unconfirmed_reasons(true)
            .into_iter()
            .map(|(id, why)| format!("{} {id}: {why}", id.kind))
            .collect()
    }

    fn unconfirmed_reasons(&self, with_held: bool) -> Vec<(&SourceId, String)> {
        self.states
            .iter()
            .filter_map(|(id, s)| {
                let why = match s {
                    State::Waiting(why) => why.clone(),
                    State::Ready {
                        pending: Some(p), ..
                    } => p.clone(),
                    State::Ready {
                        held,
                        pending: None,
                    } if with_held && *held < self.hold => {
                        format!(
                            "Ready for {} of {}",
                            fmt_duration(*held),
                            fmt_duration(self.hold)
                        )
                    }
                    _ => return None,
                };
                Some((id, why))
            })
            .collect()
    }
}

/// A duration as kubectl prints ages: `45s`, `1m20s`, `5m`, `1h2m`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
#[path = "confirm_tests.rs"]
mod tests;
