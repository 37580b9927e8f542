//! Change counters the watches bump, so that periodic work (the sweep of orphaned audits, the
//! policy status) runs only after something it reads changed.
//!
//! At 10,000 sources, fingerprinting every watched object on every tick (to find out that
//! nothing changed) was most of the controller's steady-state CPU. A counter read is free: a
//! tick whose counters did not move since its last complete run does nothing.
//!
//! Ordering: a watch bumps its counter *after* its store took the event in, and a reader takes
//! the counter *before* it reads the stores. A reader that sees the new count therefore sees
//! the new store state; one that raced may do one run more, never one too few.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{Stream, StreamExt};

/// A shared event counter (cheap to clone).
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Counts one change.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    /// The changes counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Passes a watch's items through, counting each one (errors included: a watch that
    /// re-lists after an error may replace its store's content).
    pub fn counting<S: Stream>(&self, stream: S) -> impl Stream<Item = S::Item> {
        let counter = self.clone();
        stream.inspect(move |_| counter.bump())
    }
}

/// The counters of the controller's watches.
#[derive(Clone, Default, Debug)]
pub struct Changes {
    /// Sources, policies and namespaces: what decides which sources a policy matches.
    pub inputs: Counter,
    /// `SourceAudit`s (the controller's own writes included).
    pub audits: Counter,
}

/// What a periodic job saw last time it ran to completion, to tell whether to run again.
#[derive(Debug, Default)]
pub struct LastRun<T>(Option<T>);

impl<T: PartialEq> LastRun<T> {
    /// Whether `now` differs from what the last complete run saw (always true before one).
    pub fn due(&self, now: &T) -> bool {
        self.0.as_ref() != Some(now)
    }

    /// Records a run over `now`; an incomplete run (something to retry) records nothing.
    pub fn ran(&mut self, now: T, complete: bool) {
        self.0 = if complete { Some(now) } else { None };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counting_counts_every_item_after_it_passed() {
        let c = Counter::default();
        let items: Vec<u32> = c.counting(futures::stream::iter([1, 2, 3])).collect().await;
        assert_eq!(items, vec![1, 2, 3]);
        assert_eq!(c.get(), 3);
        let clone = c.clone();
        clone.bump();
        assert_eq!(c.get(), 4, "clones share one count");
    }

    #[test]
    fn a_job_is_due_until_a_complete_run_over_the_same_counts() {
        let mut last = LastRun::default();
        assert!(last.due(&(0, 0)), "never ran");
        last.ran((0, 0), true);
        assert!(!last.due(&(0, 0)));
        assert!(last.due(&(1, 0)), "a watch event since");
        last.ran((1, 0), false);
        assert!(last.due(&(1, 0)), "an incomplete run is retried");
    }
}
