//! Flux notifications: a verdict change posted to notification-controller's event endpoint
//! (`--flux-notification-url`, e.g. `http://notification-controller.flux-system.svc.cluster.local./`)
//! in Flux's own event format, so an existing `Alert` with
//! `eventSources: [{kind: OCIRepository, name: '*'}]` forwards it to its `Provider` (Slack,
//! Teams, a generic webhook, …) with no change to Flux's CRDs or RBAC.
//!
//! The body is Flux's `event.toolkit.fluxcd.io` `Event` (`github.com/fluxcd/pkg/apis/event`
//! `v1beta1.Event`): the involved object is the Flux source (with its UID), severity `error` for
//! a definite finding against the artifact and `info` otherwise (an outage is never an
//! `error`), reporting controller `provenance-auditor`. notification-controller keeps only
//! metadata keys prefixed with the involved object's API group and drops `<group>/digest` and
//! `<group>/checksum`, so ours are `source.toolkit.fluxcd.io/revision`, `…/auditedDigest`,
//! `…/signer` and `…/verdict`.
//!
//! Posting never touches a verdict and never blocks a reconcile: events go into a bounded
//! queue (a full queue drops and counts), one worker posts them with a timeout and retries a
//! failure (transport error, 408, 429, 5xx) with exponential back-off; any other answer is
//! counted as rejected. Logs name the endpoint's host only: a URL may carry a token.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use tokio::sync::mpsc;

use super::integration_metrics::IntegrationMetrics;

/// How many notifications may wait to be posted.
pub const QUEUE: usize = 1024;
/// Each POST's timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Delays between the attempts of one notification (so at most five attempts).
pub const BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
    Duration::from_secs(60),
];
/// notification-controller's limit on a message (`v1beta1.Event`).
pub const MAX_MESSAGE: usize = 39_000;

/// Flux's `v1beta1.Event`, as notification-controller decodes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxEvent {
    /// The Flux source.
    pub involved_object: ObjectReference,
    /// `info` or `error`.
    pub severity: &'static str,
    /// When the change was seen.
    pub timestamp: Time,
    /// What changed, in words.
    pub message: String,
    /// `Provenance<Reason>`.
    pub reason: String,
    /// `<group>/revision`, `<group>/auditedDigest`, `<group>/signer`, `<group>/verdict`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// `provenance-auditor`.
    pub reporting_controller: String,
    /// The pod, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

/// The endpoint, as given: `http(s)://host[:port]/path`. `Err` says why not (without echoing
/// the URL, which may hold a token).
pub fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| format!("--flux-notification-url is not a URL ({e})"))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(u),
        _ => Err("--flux-notification-url must be an http:// or https:// URL with a host".into()),
    }
}

/// The endpoint's `scheme://host:port`, for logs.
pub fn describe(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// What an answer of notification-controller means for a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Taken (it answers 202 whether or not an `Alert` matched).
    Sent,
    /// Worth another attempt.
    Retry,
    /// Refused for good (malformed, forbidden): counted, not retried.
    Rejected,
}

/// Classifies an HTTP status.
pub fn classify(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Sent,
        408 | 429 | 500..=599 => Answer::Retry,
        _ => Answer::Rejected,
    }
}

/// The sending side: enqueues without waiting.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: mpsc::Sender<FluxEvent>,
    metrics: IntegrationMetrics,
}

impl Notifier {
    /// A notifier posting to `url`, and its worker (spawn it; it ends when every sender is gone).
    pub fn new(
        url: reqwest::Url,
        metrics: IntegrationMetrics,
    ) -> Result<(Self, impl std::future::Future<Output = ()>), String> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("flux notifications: {e}"))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let worker = worker(client, url, rx, metrics.clone(), BACKOFF.to_vec());
        Ok((Self { tx, metrics }, worker))
    }

    /// Queues one notification; a full queue drops it (counted).
    pub fn send(&self, event: FluxEvent) {
        if self.tx.try_send(event).is_err() {
            self.metrics.notification("dropped");
            tracing::warn!("flux notification queue full: notification dropped");
        }
    }
}

/// Posts every queued notification in turn, retrying each along `backoff`.
pub async fn worker(
    client: reqwest::Client,
    url: reqwest::Url,
    mut rx: mpsc::Receiver<FluxEvent>,
    metrics: IntegrationMetrics,
    backoff: Vec<Duration>,
) {
    let endpoint = describe(&url);
    while let Some(event) = rx.recv().await {
        let mut delays = backoff.iter();
        loop {
            let answer = match client.post(url.clone()).json(&event).send().await {
                Ok(r) => classify(r.status().as_u16()),
                Err(e) => {
                    // reqwest's error names the URL; say only what kind of failure it was.
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else {
                        "transport"
                    };
                    tracing::debug!(%endpoint, failure = kind, "posting a flux notification");
                    Answer::Retry
                }
            };
            match answer {
                Answer::Sent => {
                    metrics.notification("sent");
                    break;
                }
                Answer::Rejected => {
                    metrics.notification("rejected");
                    tracing::warn!(%endpoint, source = ?event.involved_object.name, "flux notification rejected");
                    break;
                }
                Answer::Retry => match delays.next() {
                    Some(d) => {
                        metrics.notification_retry();
                        tokio::time::sleep(*d).await;
                    }
                    None => {
                        metrics.notification("failed");
                        tracing::warn!(%endpoint, source = ?event.involved_object.name, "flux notification failed after retries");
                        break;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
