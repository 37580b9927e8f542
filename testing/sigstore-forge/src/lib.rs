//! A private Sigstore instance for tests and the demo.
//!
//! [`PrivateSigstore`] holds everything a Sigstore deployment would: a Fulcio-like CA (root and
//! intermediate), a Rekor log key and a CT log key. It issues Fulcio-style leaf certificates
//! (SAN identity, OIDC issuer and CI-claim extensions, an embedded SCT), and signs OCI digests in
//! both cosign formats, with Rekor entries (SET, inclusion proof, signed checkpoint) made with the
//! log key it holds. [`PrivateSigstore::trusted_root_json`] describes the instance, so real
//! verifiers (`sigstore-verify`, `cosign verify --trusted-root`) accept what it signs, offline.
//!
//! - [`PrivateSigstore::issue_leaf`] → [`Leaf`]
//! - [`PrivateSigstore::sign_legacy`] → [`LegacySignature`] (cosign `.sig` layer content)
//! - [`PrivateSigstore::sign_bundle`] → [`SignedBundle`] (cosign v3 Sigstore bundle)
//! - [`PrivateSigstore::attest`] → [`SignedBundle`] (a cosign v3 / `attest-build-provenance`
//!   attestation: any predicate type and body, e.g. [`predicates::slsa_provenance_v1`]);
//!   [`unsigned_bundle_json`] the same statement in a DSSE envelope nobody signed.
//! - [`SignOptions`] makes the forgeries of the negative corpus.
//! - [`push`] writes Flux artifacts and attaches signatures exactly as cosign lays them out;
//!   [`testreg`] runs a throwaway `docker-registry` for tests.
//!
//! Test material only: keys live in memory or in plain files.

mod ca;
mod dsse;
mod json;
mod legacy;
pub mod predicates;
pub mod push;
mod sct;
mod state;
pub mod testreg;
mod tlog;

pub use ca::{CiClaims, Identity, Leaf, LeafSpec, PrivateSigstore};
pub use dsse::{
    unsigned_bundle_json, SignedBundle, BUNDLE_V03_MEDIA_TYPE, COSIGN_SIGN_PREDICATE,
    IN_TOTO_PAYLOAD_TYPE,
};
pub use legacy::{simple_signing_payload, LegacySignature};
pub use tlog::LogEntry;

/// Errors are reported as text: this crate only serves tests and the demo.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Knobs for the signing functions; `Default` signs genuinely. Each field makes one forgery of
/// the negative corpus.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Sign (and name in the payload) this digest instead of the one passed: a genuine signature
    /// over another artifact, to be attached to the first one.
    pub signed_digest: Option<String>,
    /// After genuine signing, replace the payload by one naming this digest, keeping signature,
    /// certificate and Rekor entry: the signature no longer verifies.
    pub swap_payload_digest: Option<String>,
    /// In-toto predicate type of a bundle (default [`COSIGN_SIGN_PREDICATE`]).
    pub predicate_type: Option<String>,
    /// In-toto predicate body of a bundle (default `{}`, as a cosign v3 signature has): an
    /// attestation's SLSA provenance, SBOM, … (see [`predicates`]).
    pub predicate: Option<serde_json::Value>,
    /// Flip one bit of the SET (inclusion promise).
    pub corrupt_set: bool,
    /// Rekor integrated time (Unix seconds); default now.
    pub integrated_time: Option<i64>,
    /// In-toto subject name of a bundle (default none, as cosign v3.1 writes).
    pub subject_name: Option<String>,
}

/// `sha256:<hex>` → the 32 bytes; an error for anything else.
pub(crate) fn parse_digest(digest: &str) -> Result<[u8; 32]> {
    let hex_part = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {digest:?} is not sha256:<hex>"))?;
    let bytes = hex::decode(hex_part)?;
    bytes
        .try_into()
        .map_err(|_| format!("digest {digest:?} is not 32 bytes").into())
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub(crate) fn b64(data: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
