//! The pure middle of the controller's pipeline: read the Flux object ([`source`]) → decide
//! which policies apply ([`matching`], [`decide`]) → (fetch and verify: engine, elsewhere) →
//! judge Flux's own enforcement ([`enforced`]) → compute the `SourceAudit` status ([`status`]).
//!
//! Nothing here does I/O or talks to Kubernetes: Secrets and namespace labels are inputs, and
//! the time is a parameter, so every decision is unit-tested from fixtures.

pub mod attestations;
pub mod attested;
pub mod bounds;
pub mod compile;
pub mod compile_notation;
pub mod confirm;
pub mod decide;
pub mod display;
pub mod enforced;
pub mod enforced_notation;
pub mod evidence;
pub mod matching;
pub mod source;
pub mod status;

#[cfg(test)]
pub(crate) mod fixtures;
