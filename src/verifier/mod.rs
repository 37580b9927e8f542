//! Per-source verification, shared by both front ends: the controller (`run`, which then writes
//! the status, events and metrics) and `provenance-auditor audit` (which prints it).
//!
//! - [`pipeline`]: one source judged: policies → artifact → verdict cache or registry + engine
//!   → the `SourceAudit` status, writing nothing.
//! - [`cache`]: the verdict cache.
//! - [`creds`]: the Secrets an audit reads and which Secret changes concern which source.
//! - [`limits`]: per-registry concurrency limits.

pub mod cache;
pub mod creds;
pub mod limits;
pub mod pipeline;

pub use cache::VerdictCache;
pub use pipeline::{needs_namespace_labels, Judged, Verifier};
