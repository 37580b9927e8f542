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
//! Not checked here (each fails closed where the level enforces it): RFC 3161 timestamp
//! countersignatures (a statement with a `tsa` trust store that needs one gives "could not
//! tell"), OCSP/CRL revocation (a chain naming a responder or distribution point gives "could
//! not tell" where revocation is enforced) and verification plugins.

pub mod certs;
mod cose;
pub mod dn;
pub mod envelope;
pub mod trust_policy;
mod verify;

use sha2::{Digest, Sha256};

pub use certs::Cert;
pub use trust_policy::TrustPolicy;
pub use verify::{judge, Signature};

/// The artifact type of a Notary Project signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The key of the trust policy in a Secret or directory (Flux's name).
pub const TRUST_POLICY_KEY: &str = "trustpolicy.json";

/// What a Notation signature must satisfy: a trust policy and the certificates of its trust
/// stores (every named store holds all of them, as in Flux).
#[derive(Clone)]
pub struct NotationPolicy {
    /// The validated trust policy.
    pub trust_policy: TrustPolicy,
    /// The trust store's certificates.
    pub certificates: Vec<Cert>,
    /// Where it came from (`Secret ns/name`, a directory), for messages.
    pub source: String,
    /// `sha256:` over the trust policy and the certificates (sorted), for verdict caching.
    pub fingerprint: String,
}

impl std::fmt::Debug for NotationPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotationPolicy({} {})", self.source, self.fingerprint)
    }
}

impl NotationPolicy {
    /// A policy from `trustpolicy.json` and the certificate files (`name` → PEM or DER bytes),
    /// as Flux reads a Secret: every key ending `.crt` or `.pem` is a certificate file; at least
    /// one is required.
    pub fn from_files<'a>(
        source: &str,
        trust_policy: &[u8],
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, String> {
        let policy = TrustPolicy::parse(trust_policy).map_err(|e| format!("{source}: {e}"))?;
        let mut certificates = vec![];
        let mut ders = vec![];
        for (name, bytes) in files {
            if !(name.ends_with(".crt") || name.ends_with(".pem")) {
                continue;
            }
            let certs =
                Cert::from_pem_or_der(bytes).map_err(|e| format!("{source}: {name}: {e}"))?;
            ders.extend(certs.iter().map(|c| c.der.clone()));
            certificates.extend(certs);
        }
        if certificates.is_empty() {
            return Err(format!("{source} has no certificates (*.crt or *.pem)"));
        }
        ders.sort();
        let mut h = Sha256::new();
        h.update(trust_policy);
        for d in &ders {
            h.update(b"\0");
            h.update(d);
        }
        Ok(Self {
            trust_policy: policy,
            certificates,
            source: source.to_string(),
            fingerprint: format!("sha256:{}", hex::encode(h.finalize())),
        })
    }
}

/// A bounded excerpt of untrusted text for messages.
pub(crate) fn short(s: &str) -> String {
    crate::registry::bounded::truncate(s)
}

#[cfg(test)]
mod tests;
