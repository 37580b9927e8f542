//! Per-source verification, shared by both front ends: the controller (`run`, which then writes
//! the status, events and metrics) and `provenance-auditor audit` (which prints it).
//!
//! - [`mode`]: the [`Verifier`] both front ends build, one-shot or the controller's.
//! - [`metrics`]: its metrics (verifications by verdict, their duration, cache hits).
//! - [`pipeline`]: one source judged: policies → artifact → verdict cache or registry + engine
//!   → the `SourceAudit` status, writing nothing.
//! - [`cache`]: the verdict cache, keyed by (registry, repository, digest, policy fingerprint,
//!   trust-root fingerprint), each verdict with its age.
//! - [`schedule`]: when a verdict must be checked against the registry again (no verdict is
//!   kept forever: a negative one on a backoff from one minute, every one at least once per
//!   `--reverify-interval`).
//! - [`pacing`]: re-checks spread over the interval (each verdict at its own slot) and, per
//!   registry, bursts of them paced.
//! - [`remembered`]: what each cached verdict was judged from, in the registry; [`recheck`]: the
//!   due re-check that asks whether it changed, and what a paused registry means for a verdict.
//! - [`seal`]: which previous statuses may be read back (only those the controller sealed).
//! - [`clients`]: per-source registry clients, reused while their inputs are unchanged.
//! - [`creds`]: the Secrets an audit reads and which Secret changes concern which source.
//! - `helm_http`: a chart from an HTTP Helm repository, judged by its `.prov`; `helm_twin`:
//!   the same chart in an OCI registry, when its HelmRepository names one.
//! - [`secret_cache`]: their data kept between audits while the Secret poller confirms it.
//! - [`limits`]: global and per-registry concurrency limits (per-registry slot first).

pub mod cache;
pub mod clients;
pub mod creds;
pub mod found;
mod helm_http;
mod helm_twin;
pub mod limits;
pub mod metrics;
pub mod mode;
pub mod outcome;
pub mod pacing;
pub mod pipeline;
pub mod recheck;
pub mod remembered;
pub mod schedule;
pub mod seal;
pub mod secret_cache;

pub use cache::VerdictCache;
pub use mode::{Mode, Verifier, VerifierBuilder, Watched};
pub use pipeline::{needs_namespace_labels, Judged, NamespaceLabels};
