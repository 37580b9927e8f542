//! A registry's request budget (`--registry-budget docker.io=80/6h`): at most `limit` manifest
//! GETs in any `window`, counted in a sliding window of [`BUCKETS`] buckets.
//!
//! Manifest GETs are what Docker Hub meters as pulls (its documentation: 100 per 6 hours for an
//! anonymous client, per IP; HEAD requests do not count); blob, HEAD and token requests are not
//! counted. The window is kept in buckets so that its memory is fixed whatever the limit, and a
//! request is counted until its whole bucket has left the window: the count can only be higher
//! than the registry's, never lower.

use std::time::{Duration, Instant};

/// Buckets of one window.
pub(crate) const BUCKETS: usize = 60;

/// One host's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    /// The registry host (`docker.io` also stands for `index.docker.io` and
    /// `registry-1.docker.io`).
    pub host: String,
    /// Manifest GETs allowed in any window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl BudgetSpec {
    /// Whether the budget is about requests to `registry` (case-insensitive, Docker Hub's
    /// aliases counted as one).
    pub fn applies_to(&self, registry: &str) -> bool {
        canonical(&self.host) == canonical(registry)
    }
}

/// A host as budgets name it: lowercase, Docker Hub's names as `docker.io`.
pub(crate) fn canonical(host: &str) -> String {
    let h = host.to_ascii_lowercase();
    match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => h,
    }
}

/// The manifest GETs counted in one host's window.
#[derive(Debug)]
pub(crate) struct Window {
    limit: u32,
    width: Duration,
    /// `(start of the bucket, GETs counted in it)`, oldest first; at most [`BUCKETS`] + 1.
    buckets: std::collections::VecDeque<(Instant, u32)>,
}

impl Window {
    pub(crate) fn new(spec: &BudgetSpec) -> Self {
        let width = (spec.window / BUCKETS as u32).max(Duration::from_millis(1));
        Window {
            limit: spec.limit,
            width,
            buckets: Default::default(),
        }
    }

    /// Drops the buckets that have wholly left the window at `now`.
    fn expire(&mut self, now: Instant) {
        let window = self.width * BUCKETS as u32;
        while let Some((start, _)) = self.buckets.front() {
            if now.saturating_duration_since(*start + self.width) >= window {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }

    /// GETs counted in the window at `now`.
    pub(crate) fn used(&mut self, now: Instant) -> u32 {
        self.expire(now);
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// GETs still allowed at `now`.
    pub(crate) fn left(&mut self, now: Instant) -> u32 {
        self.limit.saturating_sub(self.used(now))
    }

    /// When at least `n` more GETs will be allowed (now if they are).
    pub(crate) fn room_at(&mut self, n: u32, now: Instant) -> Instant {
        let mut left = self.left(now);
        let window = self.width * BUCKETS as u32;
        for (start, count) in &self.buckets {
            if left >= n {
                break;
            }
            left = left.saturating_add(*count);
            if left >= n {
                return *start + self.width + window;
            }
        }
        if left >= n {
            now
        } else {
            // More than the limit itself: never, as far as this window goes.
            now + window
        }
    }

    /// Counts one GET at `now`.
    pub(crate) fn count(&mut self, now: Instant) {
        self.expire(now);
        match self.buckets.back_mut() {
            Some((start, n)) if now < *start + self.width => *n = n.saturating_add(1),
            _ => self.buckets.push_back((now, 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(limit: u32, window: u64) -> BudgetSpec {
        BudgetSpec {
            host: "docker.io".into(),
            limit,
            window: Duration::from_secs(window),
        }
    }

    #[test]
    fn docker_hubs_names_share_one_budget() {
        let s = spec(1, 60);
        for h in ["docker.io", "Registry-1.docker.io", "index.docker.io"] {
            assert!(s.applies_to(h), "{h}");
        }
        assert!(!s.applies_to("ghcr.io"));
        assert!(!s.applies_to("docker.io.evil.example"));
    }

    #[test]
    fn counts_up_to_the_limit_and_frees_room_as_buckets_leave_the_window() {
        let t0 = Instant::now();
        let mut w = Window::new(&spec(3, 60));
        for i in 0..3 {
            w.count(t0 + Duration::from_secs(i));
        }
        assert_eq!(w.left(t0 + Duration::from_secs(5)), 0);
        // The first GET's bucket (t0..t0+1s) leaves the window one bucket width after 60 s.
        let free = w.room_at(1, t0 + Duration::from_secs(5));
        assert_eq!(free, t0 + Duration::from_secs(61));
        assert_eq!(
            w.left(t0 + Duration::from_secs(60)),
            0,
            "still inside the window"
        );
        assert_eq!(w.left(free), 1);
        assert_eq!(w.left(t0 + Duration::from_secs(200)), 3);
        assert_eq!(
            w.room_at(2, t0 + Duration::from_secs(200)),
            t0 + Duration::from_secs(200)
        );
    }

    #[test]
    fn the_count_is_never_below_the_true_count_in_the_window() {
        // Whatever the spacing, a GET made less than a window ago is still counted.
        let t0 = Instant::now();
        let mut w = Window::new(&spec(1000, 60));
        let times: Vec<Instant> = (0..500)
            .map(|i| t0 + Duration::from_millis(i * 397))
            .collect();
        for t in &times {
            w.count(*t);
        }
        for probe in (0..300).map(|s| t0 + Duration::from_millis(s * 1000)) {
            let truth = times
                .iter()
                .filter(|t| **t <= probe && probe.duration_since(**t) < Duration::from_secs(60))
                .count() as u32;
            assert!(w.used(probe) >= truth, "at {probe:?}");
        }
        assert!(w.buckets.len() <= BUCKETS + 1, "memory is fixed");
    }

    #[test]
    fn more_than_the_limit_is_never_room() {
        let t0 = Instant::now();
        let mut w = Window::new(&spec(2, 60));
        assert_eq!(w.room_at(3, t0), t0 + Duration::from_secs(60));
    }
}
