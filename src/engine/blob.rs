//! Verifying a Sigstore bundle over a plain file or digest: the sigstore-conformance client
//! protocol (`verify-bundle`), with the exact identity semantics that suite expects.

use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

use super::trust::TrustRoot;

/// What the bundle must have been signed by.
pub enum BlobSigner {
    /// A certificate with exactly this SAN and OIDC issuer.
    Identity {
        /// Exact SAN.
        identity: String,
        /// Exact issuer.
        issuer: String,
    },
    /// This PEM public key (managed-key bundles; transparency log required).
    Key(String),
}

/// The signed input.
pub enum BlobInput {
    /// The artifact's bytes.
    Bytes(Vec<u8>),
    /// The artifact's sha256 digest.
    Digest(Sha256Hash),
}

/// Verifies `bundle_json` over `input`; `Err` says why not.
pub fn verify_blob(
    bundle_json: &str,
    input: &BlobInput,
    signer: &BlobSigner,
    trust: &TrustRoot,
) -> Result<(), String> {
    let bundle =
        Bundle::from_json(bundle_json).map_err(|e| format!("bundle does not parse: {e}"))?;
    let verifier = trust.verifier();
    let result = match signer {
        BlobSigner::Identity { identity, issuer } => {
            let policy = VerificationPolicy::new(identity.as_str(), issuer.as_str());
            match input {
                BlobInput::Bytes(b) => verifier.verify(b.as_slice(), &bundle, &policy),
                BlobInput::Digest(d) => verifier.verify(*d, &bundle, &policy),
            }
        }
        BlobSigner::Key(pem) => {
            let key = DerPublicKey::from_pem(pem.trim()).map_err(|e| format!("public key: {e}"))?;
            let policy = PublicKeyVerificationPolicy::new(key);
            match input {
                BlobInput::Bytes(b) => verifier.verify(b.as_slice(), &bundle, &policy),
                BlobInput::Digest(d) => verifier.verify(*d, &bundle, &policy),
            }
        }
    };
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// Parses `FILE_OR_DIGEST` as the protocol defines: a digest is `sha256:` + 64 hex and not a
/// path on disk.
pub fn parse_input(arg: &str) -> Result<BlobInput, String> {
    let path = std::path::Path::new(arg);
    if !path.exists() {
        if let Some(hex) = arg.strip_prefix("sha256:") {
            if hex.len() == 64 {
                return Sha256Hash::from_hex(hex)
                    .map(BlobInput::Digest)
                    .map_err(|e| format!("bad digest {arg}: {e}"));
            }
        }
    }
    std::fs::read(path)
        .map(BlobInput::Bytes)
        .map_err(|e| format!("cannot read {arg}: {e}"))
}
