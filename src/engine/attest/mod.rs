//! Attestations: signed in-toto statements about the audited digest (SLSA provenance, SBOMs,
//! anything else), found beside its signatures. A signature says who signed a digest; an
//! attestation says what built it and from where. Attestations never change the signature
//! verdict: they are judged here, on their own, and feed the `Attested` condition.
//!
//! Two halves: [`evaluate`] verifies every attestation found against one identity (the policy's
//! `verify` identity, or a requirement's own) and reads its predicate into typed evidence;
//! the requirement half (a policy's `attestations:` list, CEL conditions) decides `Attested`
//! from that evidence.

pub mod built_from;
pub mod cel;
pub mod evidence;
pub mod require;

pub use evidence::{
    AttestationEvidence, CertificateClaims, Predicate, Provenance, Sbom, SbomFormat,
};

use super::{Policy, TrustRoot};
use crate::registry::Discovery;

/// Verifies every attestation in `discovery` against `identity` and the trust root, binds
/// each statement's subject to `digest`, and reads its predicate. Pure; one entry per
/// attestation found (unreadable ones included, with a non-Verified verdict).
///
/// Contract for the requirement half and the controller: the result's order is the
/// discovery's order, and an attestation's `verdict` is `Verified` only when its signature
/// verifies under `identity` and the trust root and its statement names `digest`.
pub fn evaluate(
    discovery: &Discovery,
    digest: &str,
    identity: &Policy,
    trust: &TrustRoot,
) -> Vec<AttestationEvidence> {
    // Filled in by the attestation-discovery work; an empty list means "none found".
    let _ = (discovery, digest, identity, trust);
    Vec::new()
}
