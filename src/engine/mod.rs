//! The verification engine: for one OCI artifact digest, who signed it and does that satisfy a
//! policy? No Kubernetes types here; the CLI and the controller are thin front ends.
//!
//! The pipeline is I/O at the ends and pure in the middle: resolve and discover signatures
//! (registry) → convert each into a [`candidate::Candidate`] → judge each against the policy
//! → aggregate into one [`Verdict`] with the evidence.

pub mod attest;
pub mod blob;
pub mod bundle;
pub mod candidate;
pub mod claims;
mod evaluate;
pub mod evidence;
pub mod fingerprint;
pub mod flux_compat;
pub mod fulcio;
pub mod helm;
pub mod judge;
pub mod legacy;
pub mod notation;
pub mod policy;
mod policy_error;
pub mod regex_inclusion;
pub mod regex_memo;
pub mod report;
pub mod suggest;
pub mod trust;
pub mod verdict;
mod verify;

pub use evaluate::{evaluate, registry_verdict, Evaluation};
pub use evidence::{SignatureEvidence, SignatureFormat, Signer};
pub use policy::{IdentityRule, Policy, PublicKey};
pub use report::ArtifactReport;
pub use trust::TrustRoot;
pub use verdict::Verdict;
pub use verify::{verify_reference, verify_reference_with};

// The engine's verdicts from what a (hostile or faulty) registry serves, end to end through the
// registry client against the registry test server.
#[cfg(test)]
mod registry_fault_tests;
#[cfg(test)]
mod registry_verdict_tests;
