//! Verifying a Sigstore bundle over a plain file or digest: the sigstore-conformance client
//! protocol (`verify-bundle`), with the exact identity semantics that suite expects.

use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

use super::judge::classify;
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

/// Why a bundle was not verified: the two classes the CLI's exit codes keep apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFailure {
    /// The bundle is definitely not a valid signature over the input by the signer (malformed,
    /// wrong signature, wrong identity, untrusted chain or log): exit 1.
    Rejected(String),
    /// Could not tell: an input the check needs (trust root, key) is unusable: exit 2.
    Indeterminate(String),
}

impl std::fmt::Display for BlobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobFailure::Rejected(why) | BlobFailure::Indeterminate(why) => f.write_str(why),
        }
    }
}

/// Verifies `bundle_json` over `input`; `Err` says why not, and which class of failure it is.
///
/// A bundle that does not parse is rejected (it is the thing under test); a key that does not
/// parse, or a library error about the trust root, is indeterminate.
pub fn verify_blob(
    bundle_json: &str,
    input: &BlobInput,
    signer: &BlobSigner,
    trust: &TrustRoot,
) -> Result<(), BlobFailure> {
    let bundle = Bundle::from_json(bundle_json)
        .map_err(|e| BlobFailure::Rejected(format!("bundle does not parse: {e}")))?;
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
            let key = DerPublicKey::from_pem(pem.trim())
                .map_err(|e| BlobFailure::Indeterminate(format!("public key: {e}")))?;
            let policy = PublicKeyVerificationPolicy::new(key);
            match input {
                BlobInput::Bytes(b) => verifier.verify(b.as_slice(), &bundle, &policy),
                BlobInput::Digest(d) => verifier.verify(*d, &bundle, &policy),
            }
        }
    };
    result.map(|_| ()).map_err(|e| {
        if classify(&e).is_indeterminate() {
            BlobFailure::Indeterminate(e.to_string())
        } else {
            BlobFailure::Rejected(e.to_string())
        }
    })
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
