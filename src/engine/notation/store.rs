//! A Notation policy: the trust policy and its trust store's certificates, from the files of a
//! Secret or directory in Flux's layout, with the fingerprint the verdict cache keys on.

use sha2::{Digest, Sha256};

use super::certs::Cert;
use super::trust_policy::TrustPolicy;

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
