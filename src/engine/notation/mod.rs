//! Notary Project (Notation) signatures, verified as Flux's `provider: notation` verifies them
//! (source-controller runs notation-go): the envelope (JWS or COSE) and its signature, the
//! certificate chain by the Notary Project's rules, the trust policy statement for the
//! artifact's repository with its verification level, the trust store, the trusted identities,
//! the expiry and the signing certificate's validity.
//!
//! Pure: the envelope bytes come from discovery ([`crate::registry::FoundNotation`]), the
//! trust policy and certificates from the caller ([`NotationPolicy`]), and the time of
//! verification is an input.
//!
//! RFC 3161 timestamp countersignatures are verified where a statement with a `tsa` trust store
//! needs one (`timestamp`, `tsa_chain`): the signing chain must then be valid at the TSA's time.
//!
//! Not checked here (each fails closed where the level enforces it): OCSP/CRL revocation (a
//! chain naming a responder or distribution point gives "could not tell" where revocation is
//! enforced) and verification plugins.

pub mod certs;
mod cose;
pub mod dn;
pub mod envelope;
pub mod read;
pub mod timestamp;
pub mod trust_policy;
mod verify;

mod store;
mod tsa_chain;

pub use certs::Cert;
pub use store::NotationPolicy;
pub use trust_policy::TrustPolicy;
pub use verify::{judge, Signature};

/// The artifact type of a Notary Project signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The key of the trust policy in a Secret or directory (Flux's name).
pub const TRUST_POLICY_KEY: &str = "trustpolicy.json";

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tsa_tests;
