//! What every client built from one [`super::RegistryOptions`] shares about each registry host:
//! a pause the registry asked for, and the host's request budget.
//!
//! - **Back-off.** A `429`, or a `503` with `Retry-After`, pauses the host for every client
//!   and every source at once: until then no request is sent to it and each fails at once with
//!   [`RegistryError::Paused`] (`Unknown`, never a verdict), whose message says until when and
//!   why. The pause is what `Retry-After` asks, at most [`MAX_PAUSE`] (an untrusted header must
//!   not silence a registry for a day); a `429` without it pauses for [`DEFAULT_PAUSE`], doubling
//!   while the host keeps answering `429`, up to the same cap. Nothing is retried in a loop:
//!   the verification fails, and the controller retries on its own schedule.
//! - **Budget** ([`super::request_budget`]): manifest GETs of a re-check are refused once the
//!   host's window is full ([`RegistryError::Paused`] with [`PauseCause::Budget`]), so the
//!   verifier can keep the last verdict as overdue; a first check is never refused (it is
//!   counted, and goes first).
//!
//! Bounded: at most [`MAX_HOSTS`] hosts are remembered (expired pauses are forgotten first);
//! beyond that a host's pause is not recorded, which costs requests, never a verdict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::error::{PauseCause, RegistryError};
use super::request_budget::{canonical, BudgetSpec, Window};

/// The longest pause a registry can ask for.
pub const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);
/// The pause after a `429` without `Retry-After` (doubling on each further one).
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(30);
/// Hosts whose state is kept at once.
pub(crate) const MAX_HOSTS: usize = 1024;

/// Shared per-host state; clones share it.
#[derive(Clone, Default)]
pub struct Throttle {
    inner: Arc<Mutex<State>>,
}

struct State {
    budgets: Vec<BudgetSpec>,
    hosts: HashMap<String, Host>,
    /// One instant and the wall-clock time it was, so that an instant always reads as the same
    /// wall-clock time: a message that names one stays the same across retries (a status that
    /// does not change is not written again).
    anchor: (Instant, SystemTime),
}

impl Default for State {
    fn default() -> Self {
        State {
            budgets: Vec::new(),
            hosts: HashMap::new(),
            anchor: (Instant::now(), SystemTime::now()),
        }
    }
}

#[derive(Default)]
struct Host {
    pause: Option<Pause>,
    /// `429`s in a row without `Retry-After` (doubles the default pause).
    strikes: u32,
    window: Option<Window>,
}

#[derive(Clone)]
struct Pause {
    until: Instant,
    until_wall: SystemTime,
    detail: String,
}

/// A host's request budget as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Manifest GETs still allowed in the window.
    pub left: u32,
    /// The limit of the window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Throttle")
            .field("budgets", &s.budgets)
            .field("hosts", &s.hosts.len())
            .finish()
    }
}

impl Throttle {
    /// A throttle with these budgets (at most one per host).
    pub fn new(budgets: Vec<BudgetSpec>) -> Result<Self, RegistryError> {
        for (i, b) in budgets.iter().enumerate() {
            if b.limit == 0 || b.window.is_zero() {
                return Err(RegistryError::Config(format!(
                    "the budget of {} needs a limit and a window above zero",
                    b.host
                )));
            }
            if budgets[..i].iter().any(|o| o.applies_to(&b.host)) {
                return Err(RegistryError::Config(format!(
                    "two budgets for {}",
                    canonical(&b.host)
                )));
            }
        }
        let t = Throttle::default();
        t.lock().budgets = budgets;
        Ok(t)
    }

    /// The budgets it enforces.
    pub fn budgets(&self) -> Vec<BudgetSpec> {
        self.lock().budgets.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(Paused)` while `registry` is paused.
    pub(crate) fn check(&self, registry: &str, now: Instant) -> Result<(), RegistryError> {
        let mut s = self.lock();
        let key = canonical(registry);
        let Some(host) = s.hosts.get_mut(&key) else {
            return Ok(());
        };
        match &host.pause {
            Some(p) if p.until > now => Err(paused(registry, p, PauseCause::BackOff)),
            Some(_) => {
                host.pause = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a manifest GET to `registry` against its budget, or refuses it when it belongs
    /// to a re-check (`deferrable`) and the window is full.
    pub(crate) fn take(
        &self,
        registry: &str,
        deferrable: bool,
        now: Instant,
    ) -> Result<(), RegistryError> {
        let mut s = self.lock();
        let anchor = s.anchor;
        let Some(spec) = s.budgets.iter().find(|b| b.applies_to(registry)).cloned() else {
            return Ok(());
        };
        let host = s.host(registry);
        let Some(host) = host else {
            return Ok(());
        };
        let w = host.window.get_or_insert_with(|| Window::new(&spec));
        if deferrable && w.left(now) == 0 {
            let at = w.room_at(1, now);
            return Err(over_budget(registry, &spec, wall_clock(anchor, at)));
        }
        w.count(now);
        Ok(())
    }

    /// Whether a re-check expected to cost `expected` manifest GETs fits `registry`'s budget
    /// now; `Err(Paused)` saying when it will, if not. Always `Ok` without a budget.
    pub fn admits(&self, registry: &str, expected: u32, now: Instant) -> Result<(), RegistryError> {
        let mut s = self.lock();
        let anchor = s.anchor;
        let Some(spec) = s.budgets.iter().find(|b| b.applies_to(registry)).cloned() else {
            return Ok(());
        };
        let Some(host) = s.host(registry) else {
            return Ok(());
        };
        let w = host.window.get_or_insert_with(|| Window::new(&spec));
        let expected = expected.clamp(1, spec.limit);
        if w.left(now) >= expected {
            return Ok(());
        }
        let at = w.room_at(expected, now);
        Err(over_budget(registry, &spec, wall_clock(anchor, at)))
    }

    /// The budget of `registry` as it stands, `None` without one.
    pub fn room(&self, registry: &str, now: Instant) -> Option<Room> {
        let mut s = self.lock();
        let spec = s.budgets.iter().find(|b| b.applies_to(registry)).cloned()?;
        let left = match s.host(registry) {
            Some(h) => h.window.get_or_insert_with(|| Window::new(&spec)).left(now),
            None => spec.limit,
        };
        Some(Room {
            left,
            limit: spec.limit,
            window: spec.window,
        })
    }

    /// Notes a response of `registry`: a `429`, or a `503` with `Retry-After`, pauses it (the
    /// returned error is what this and every request until the end of the pause fails with); any
    /// other answer ends a run of `429`s.
    pub(crate) fn answered(
        &self,
        registry: &str,
        status: u16,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Option<RegistryError> {
        let mut s = self.lock();
        let anchor = s.anchor;
        let throttled = status == 429 || (status == 503 && retry_after.is_some());
        if !throttled {
            if let Some(h) = s.hosts.get_mut(&canonical(registry)) {
                h.strikes = 0;
            }
            return None;
        }
        let host = s.host(registry)?;
        let asked = match retry_after {
            Some(d) => {
                host.strikes = 0;
                d
            }
            None => {
                host.strikes = host.strikes.saturating_add(1);
                DEFAULT_PAUSE.saturating_mul(1 << (host.strikes - 1).min(10))
            }
        };
        let wait = asked.min(MAX_PAUSE);
        let until_wall = wall_clock(anchor, now + wait);
        let why = match retry_after {
            Some(d) => format!("HTTP {status} with Retry-After {} s", d.as_secs()),
            None => format!("HTTP {status} without Retry-After"),
        };
        let pause = Pause {
            until: now + wait,
            until_wall,
            detail: format!(
                "rate limited ({why}): every request to it waits until {}",
                httpdate::fmt_http_date(until_wall)
            ),
        };
        let err = paused(registry, &pause, PauseCause::BackOff);
        // A later pause only ever extends the current one.
        if host.pause.as_ref().is_none_or(|p| p.until < pause.until) {
            host.pause = Some(pause);
        }
        Some(err)
    }

    /// The wall-clock end of `registry`'s current pause, if it is paused at `now`.
    pub fn paused_until(&self, registry: &str, now: Instant) -> Option<SystemTime> {
        let s = self.lock();
        let p = s.hosts.get(&canonical(registry))?.pause.as_ref()?;
        (p.until > now).then_some(p.until_wall)
    }
}

impl State {
    /// The state of `registry`, created on first use; `None` when [`MAX_HOSTS`] are kept and
    /// none can be forgotten (never for a host with a budget).
    fn host(&mut self, registry: &str) -> Option<&mut Host> {
        let key = canonical(registry);
        // A budgeted host always has its state (there are only as many as budgets given).
        let budgeted = self.budgets.iter().any(|b| b.applies_to(&key));
        if !budgeted && !self.hosts.contains_key(&key) && self.hosts.len() >= MAX_HOSTS {
            let now = Instant::now();
            let budgets = &self.budgets;
            self.hosts.retain(|h, st| {
                budgets.iter().any(|b| b.applies_to(h))
                    || st.pause.as_ref().is_some_and(|p| p.until > now)
            });
            if self.hosts.len() >= MAX_HOSTS {
                return None;
            }
        }
        Some(self.hosts.entry(key).or_default())
    }
}

fn paused(registry: &str, p: &Pause, cause: PauseCause) -> RegistryError {
    RegistryError::Paused {
        registry: registry.to_string(),
        detail: p.detail.clone(),
        until: p.until_wall,
        cause,
    }
}

/// The wall-clock time of `at`, by the throttle's anchor.
fn wall_clock(anchor: (Instant, SystemTime), at: Instant) -> SystemTime {
    match at.checked_duration_since(anchor.0) {
        Some(d) => anchor.1 + d,
        None => anchor.1 - anchor.0.duration_since(at),
    }
}

/// `6h`, `90m`, `45s`: a window as the flag spells it.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn over_budget(registry: &str, spec: &BudgetSpec, until: SystemTime) -> RegistryError {
    RegistryError::Paused {
        registry: registry.to_string(),
        detail: format!(
            "its request budget ({} manifest GETs per {}) is spent until {}",
            spec.limit,
            human(spec.window),
            httpdate::fmt_http_date(until)
        ),
        until,
        cause: PauseCause::Budget,
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
