//! provenance-auditor: independently audits who signed the OCI artifacts Flux sources fetch.
//!
//! - [`registry`]: OCI distribution access and signature discovery (all three places).
//! - [`engine`]: the verification engine (no Kubernetes types).
//! - [`cli`]: the command-line front end.
//! - [`verifier`]: one source's verification, shared by `run` and `audit`.
//! - [`controller`]: the running Kubernetes controller (`provenance-auditor run`).

#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod engine;
pub mod error;
pub mod lint;
pub mod registry;
pub mod verifier;
pub mod vocabulary;
