//! End-to-end test support for the local stack (`make stack-up`).
//!
//! Every test runs through [`run`]: it gets its own random namespace and scratch directory, its
//! failures dump the namespace's Flux objects, events and the components' log tails, and the
//! namespace is deleted afterwards unless `E2E_KEEP=1`. All waits are condition polls with a
//! timeout ([`Ctx::wait_for`]). When the stack is not up, tests fail (they never skip).

pub mod apiserver;
pub mod attest;
mod auditor;
pub mod campaign;
pub mod cloud;
mod ctx;
mod fixtures;
pub mod helm_repo;
pub mod install;
pub mod notation;
mod object;
pub mod podman;
pub mod prometheus;
pub mod proxy;
#[cfg(test)]
mod proxy_tests;
mod stack;

pub use auditor::*;
pub use ctx::*;
pub use fixtures::{AUDIT, FLUX};
pub use object::*;
pub use stack::*;
