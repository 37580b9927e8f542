//! Metrics of what the controller tells other tools: events on Flux sources, Flux
//! notifications and policy reports. Labels are a fixed set of results, never an error's text.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The counters, registered in the controller's registry.
#[derive(Clone, Debug, Default)]
pub struct IntegrationMetrics {
    source_events: Family<ResultLabels, Counter>,
    notifications: Family<ResultLabels, Counter>,
    notification_retries: Counter,
    report_writes: Family<ResultLabels, Counter>,
}

impl IntegrationMetrics {
    /// Creates the counters and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "provenance_source_events",
            "Verdict changes recorded as events on the Flux sources, by result (published, failed, deferred by the rate limit)",
            m.source_events.clone(),
        );
        registry.register(
            "provenance_flux_notifications",
            "Verdict changes posted to Flux's notification-controller, by result (sent, rejected by it, failed after retries, dropped from a full queue)",
            m.notifications.clone(),
        );
        registry.register(
            "provenance_flux_notification_retries",
            "Retries of posts to Flux's notification-controller",
            m.notification_retries.clone(),
        );
        registry.register(
            "provenance_report_writes",
            "Policy reports written, by result (written, deleted, failed)",
            m.report_writes.clone(),
        );
        m
    }

    /// Counts a source event (`published`, `failed`, `deferred`).
    pub fn source_event(&self, result: &'static str) {
        self.source_events
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a notification's fate (`sent`, `rejected`, `failed`, `dropped`).
    pub fn notification(&self, result: &'static str) {
        self.notifications
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a retried post.
    pub fn notification_retry(&self) {
        self.notification_retries.inc();
    }

    /// Counts a report write (`written`, `deleted`, `failed`).
    pub fn report_write(&self, result: &'static str) {
        self.report_writes
            .get_or_create(&ResultLabels { result })
            .inc();
    }
}
