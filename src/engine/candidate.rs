//! A signature made uniform: both cosign formats are converted into a [`Candidate`] — what
//! signed it, the bytes and signature for a direct key check, a Sigstore bundle for the full
//! keyless check, and what it claims to be about — so one judge applies the policy to both.

use sigstore_verify::types::{Bundle, DerCertificate, SignatureBytes};

use super::evidence::{LogEntry, SignatureFormat};
use crate::registry::SignatureLocation;

/// The cosign predicate type of an image signature (cosign v3 bundles).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The `critical.type` of a cosign simple-signing payload (legacy format).
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// What key material a signature carries.
#[derive(Debug, Clone)]
pub enum Material {
    /// A signing certificate (keyless, or a key with a certificate): the leaf only.
    Certificate(DerCertificate),
    /// A bare key, identified (unauthenticated) by an optional hint.
    Key {
        /// The bundle's public-key hint, if any.
        hint: Option<String>,
    },
}

/// What the Sigstore library verifies the signature over.
#[derive(Debug, Clone)]
pub enum SignedInput {
    /// The artifact digest (DSSE bundles: the in-toto subject is checked against it).
    ArtifactDigest,
    /// The exact payload bytes (legacy: the simple-signing JSON).
    Payload(Vec<u8>),
}

/// What a signature says it is about, checked only after its cryptography holds.
#[derive(Debug, Clone)]
pub struct Claims {
    /// `sha256:<hex>` digests the signature names (in-toto subjects, or the payload's
    /// `critical.image.docker-manifest-digest`).
    pub digests: Vec<String>,
    /// `Err(description)` when the signed statement is not a cosign image signature.
    pub kind: Result<(), String>,
}

/// One signature, converted and ready to judge.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it was found.
    pub location: SignatureLocation,
    /// Its format.
    pub format: SignatureFormat,
    /// Certificate or key.
    pub material: Material,
    /// The bundle for the Sigstore library; `Err` when one cannot be built (the reason).
    pub bundle: Result<Bundle, String>,
    /// What the bundle's signature covers.
    pub input: SignedInput,
    /// Bytes a key signature covers (DSSE PAE, or the payload) and the signature, for key mode.
    pub signed_bytes: Vec<u8>,
    /// The raw signature.
    pub signature: SignatureBytes,
    /// What it claims to be about.
    pub claims: Claims,
    /// The log entry it carries, if any (claims; verified by the library when required).
    pub tlog: Option<LogEntry>,
}

/// A signature that could not even be converted: reported as `SignatureInvalid`.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// Where it was found.
    pub location: SignatureLocation,
    /// Its format.
    pub format: SignatureFormat,
    /// What is wrong with it.
    pub detail: String,
}

/// The log entry of the first tlog entry of a bundle, as a claim to report.
pub fn log_entry_of(bundle: &Bundle) -> Option<LogEntry> {
    bundle
        .verification_material
        .tlog_entries
        .first()
        .map(|e| LogEntry {
            log_index: e.log_index.get(),
            integrated_time: e.integrated_time.map(|t| t.to_string()),
        })
}
