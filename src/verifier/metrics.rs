//! The verifier's own metrics: verifications against registries by verdict, how long one
//! takes, verdict-cache hits, and re-checks by result. Registered by whoever serves metrics (the controller) with
//! [`VerifierMetrics::register`]; the one-shot `audit` command has none.
//!
//! Labels are bounded: the verdict names of `engine::Verdict`, never an error's text.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::engine::Verdict;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

/// Counters of the verifications a [`super::Verifier`] runs (clones share the series).
#[derive(Clone, Debug)]
pub struct VerifierMetrics {
    verifications: Family<ResultLabels, Counter>,
    duration: Histogram,
    cache_hits: Counter,
    rechecks: Family<ResultLabels, Counter>,
}

impl VerifierMetrics {
    /// Creates the verifier's metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = VerifierMetrics {
            verifications: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            cache_hits: Counter::default(),
            rechecks: Family::default(),
        };
        registry.register(
            "provenance_verifications",
            "Signature verifications against the registry, by verdict",
            m.verifications.clone(),
        );
        registry.register(
            "provenance_verification_duration_seconds",
            "Time to discover and judge one artifact's signatures",
            m.duration.clone(),
        );
        registry.register(
            "provenance_verification_cache_hits",
            "Audits answered from the verdict cache without asking the registry",
            m.cache_hits.clone(),
        );
        registry.register(
            "provenance_rechecks",
            "Re-checks of due verdicts, by result: unchanged (no manifest or blob read), changed (everything read again), failed, overdue (the registry's request budget is spent), paced (waiting for its turn on its registry)",
            m.rechecks.clone(),
        );
        m
    }

    /// Counts a re-check by result (`unchanged`, `changed`, `failed`, `overdue`, `paced`).
    pub fn recheck(&self, result: &'static str) {
        self.rechecks
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts one verification against the registry and how long it took.
    pub fn verification(&self, verdict: Verdict, seconds: f64) {
        self.verifications
            .get_or_create(&ResultLabels {
                result: verdict.as_str().to_string(),
            })
            .inc();
        self.duration.observe(seconds);
    }

    /// Counts a verdict-cache hit.
    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifications_are_counted_by_verdict_and_cache_hits_apart() {
        let mut registry = Registry::default();
        let m = VerifierMetrics::register(&mut registry);
        m.clone().verification(Verdict::Unsigned, 0.01);
        m.verification(Verdict::Unsigned, 0.02);
        m.cache_hit();
        m.recheck("unchanged");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"provenance_verifications_total{result="Unsigned"} 2"#),
            "{text}"
        );
        assert!(text.contains("provenance_verification_cache_hits_total 1"));
        assert!(text.contains(r#"provenance_rechecks_total{result="unchanged"} 1"#));
        assert!(text.contains("provenance_verification_duration_seconds_count 2"));
    }
}
