//! When re-checks run, spread over time instead of all at once.
//!
//! - **Jitter.** A verdict that holds is re-checked once per re-verify interval, not at
//!   `checked + interval` (verdicts first found together would fall due together, every
//!   interval, for ever) but at its own *slot*: the point `phase(key) × interval` of every
//!   interval, the first one after it was checked (at least 1 % of the interval after, at most
//!   the whole interval: it is still checked within its interval). After the first round the
//!   re-checks of any set of verdicts are spread evenly over the interval, however they were
//!   first checked, and a restart keeps every slot (the phase is a hash of the verdict's key).
//!   A negative verdict's backoff ([`super::schedule`]) comes up to 10 % early, by its phase.
//! - **Pacing** ([`Pacer`]): re-checks of a verdict already given start, per registry, at most
//!   [`RECHECKS_PER_SECOND`] a second after a burst of [`RECHECK_BURST`] — the bursts are after
//!   a restart (verdicts that fell due while it was down) and a policy change (every source it
//!   matches is judged again). One over the rate is given a turn: the source is audited again at
//!   that time, its status untouched until then (nothing is written). A first check (a new
//!   source, a new revision) is never paced: new sources go first.
//!
//! Pure functions of the key and Unix seconds, but for the [`Pacer`]'s clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::schedule::{self, Intervals};
use crate::api::VerdictCacheKey;

/// Re-checks started per second and registry once a burst is spent.
pub const RECHECKS_PER_SECOND: u32 = 20;
/// Re-checks started at once on a registry before the rate applies.
pub const RECHECK_BURST: u32 = 20;
/// Turns given out at once, over all registries (a bound on memory: past it, turns are not
/// remembered and a source asks again).
const MAX_TURNS: usize = 100_000;
/// How long after its turn the other sources of a verdict pass without a turn of their own.
const GRACE: Duration = Duration::from_secs(60);

/// The verdict's phase: a fraction of the interval in `[0, 1)`, as parts of 2^32.
pub fn phase(key: &VerdictCacheKey) -> u64 {
    let mut h = Sha256::new();
    for part in [
        &key.registry,
        &key.repository,
        &key.digest,
        &key.policy_fingerprint,
        &key.trust_root_fingerprint,
    ] {
        // Length-prefixed: no two keys hash the same fields.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// When the registry must next be asked about the verdict of `key` (see the module docs;
/// `holds`, `since`, `checked` as in [`schedule::next_check`]).
pub fn next_check(
    key: &VerdictCacheKey,
    holds: bool,
    since: i64,
    checked: i64,
    iv: Intervals,
) -> i64 {
    let plain = schedule::next_check(holds, since, checked, iv);
    let p = phase(key) as i128;
    if !holds {
        let delay = plain.saturating_sub(checked);
        let early = (delay as i128 * p / (10i128 << 32)) as i64;
        return checked.saturating_add((delay - early).max(1));
    }
    let interval = secs(iv.reverify);
    let offset = ((interval as i128 * p) >> 32) as i64;
    // The first slot after `checked`: `checked < slot <= checked + interval`.
    let into = (checked - offset).rem_euclid(interval);
    let gap = interval - into;
    let min_gap = (interval / 100).max(1);
    checked.saturating_add(if gap < min_gap { interval } else { gap })
}

/// Whether the verdict of `key` must be checked at `now` (a `checked` in the future is due).
pub fn is_due(
    key: &VerdictCacheKey,
    holds: bool,
    since: i64,
    checked: i64,
    now: i64,
    iv: Intervals,
) -> bool {
    checked > now || now >= next_check(key, holds, since, checked, iv)
}

/// How long until the verdict of `key` is due (zero when it is).
pub fn due_in(
    key: &VerdictCacheKey,
    holds: bool,
    since: i64,
    checked: i64,
    now: i64,
    iv: Intervals,
) -> Duration {
    if is_due(key, holds, since, checked, now, iv) {
        return Duration::ZERO;
    }
    let left = next_check(key, holds, since, checked, iv).saturating_sub(now);
    Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

/// Gives re-checks their turns, per registry (see the module docs).
pub struct Pacer {
    step: Duration,
    burst: u32,
    lanes: Mutex<HashMap<String, Lane>>,
}

#[derive(Default)]
struct Lane {
    /// When the rate allows the next turn (GCRA's theoretical arrival time).
    next: Option<Instant>,
    /// Turns given out, by verdict: a source told to come back at `t` starts then, and so does
    /// every other source of the same verdict (they share its one re-check) until [`GRACE`]
    /// after it.
    turns: HashMap<VerdictCacheKey, Instant>,
    /// Turns are pruned when there are this many (doubling, so pruning costs O(1) a call).
    prune_at: usize,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(RECHECKS_PER_SECOND, RECHECK_BURST)
    }
}

impl Pacer {
    /// At most `per_second` re-checks a second per registry, after a burst of `burst`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Pacer {
            step: Duration::from_secs(1) / per_second.max(1),
            burst: burst.max(1),
            lanes: Mutex::default(),
        }
    }

    /// `None` when the re-check of `key` on `registry` may start at `now`; else how long until
    /// its turn (given once: asking again before then gives the same turn). The sources sharing
    /// a verdict share its turn.
    pub fn admit(&self, registry: &str, key: &VerdictCacheKey, now: Instant) -> Option<Duration> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let turns: usize = lanes.values().map(|l| l.turns.len()).sum();
        if turns >= MAX_TURNS {
            for l in lanes.values_mut() {
                l.turns.retain(|_, at| *at + GRACE > now);
            }
        }
        let turns: usize = lanes.values().map(|l| l.turns.len()).sum();
        let lane = lanes.entry(registry.to_string()).or_default();
        if lane.turns.len() >= lane.prune_at.max(1024) {
            lane.turns.retain(|_, at| *at + GRACE > now);
            lane.prune_at = lane.turns.len() * 2;
        }
        if let Some(at) = lane.turns.get(key).copied() {
            if at + GRACE <= now {
                lane.turns.remove(key);
            } else {
                return (at > now).then(|| at - now);
            }
        }
        let tolerance = self.step * self.burst;
        let next = lane.next.map_or(now, |n| n.max(now));
        lane.next = Some(next + self.step);
        let at = next.checked_sub(tolerance).map_or(now, |t| t.max(now));
        if turns < MAX_TURNS {
            lane.turns.insert(key.clone(), at);
        }
        (at > now).then(|| at - now)
    }
}

#[cfg(test)]
#[path = "pacing_tests.rs"]
mod tests;
