//! Trust roots: the Sigstore public-good root embedded in `sigstore-trust-root`, or a
//! `trusted_root.json` of a private Sigstore instance. Verification never needs the network.

use sha2::{Digest, Sha256};
use sigstore_verify::trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_verify::Verifier;

/// A trust root prepared for verification, with a fingerprint so verdicts can be cached by it.
pub struct TrustRoot {
    verifier: Verifier,
    /// The parsed root, for the checks the verifier cannot do (legacy `intoto` 0.0.1 entries).
    root: TrustedRoot,
    fingerprint: String,
    has_ct_logs: bool,
    /// Key IDs of the transparency logs the root trusts.
    known_logs: Vec<Vec<u8>>,
    description: String,
}

/// Why a trust root could not be used.
#[derive(Debug, thiserror::Error)]
#[error("trust root {source_name}: {detail}")]
pub struct TrustRootError {
    /// Where the root came from (file name, Secret, "public-good").
    pub source_name: String,
    /// What is wrong with it.
    pub detail: String,
}

impl TrustRoot {
    /// The Sigstore public-good root, as embedded in the `sigstore-trust-root` crate.
    pub fn public_good() -> Result<Self, TrustRootError> {
        Self::from_json(
            "public-good (embedded)",
            SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes(),
        )
    }

    /// Parses a `trusted_root.json` (private Sigstore, or a newer public-good snapshot).
    pub fn from_json(source_name: &str, json: &[u8]) -> Result<Self, TrustRootError> {
        let err = |detail: String| TrustRootError {
            source_name: source_name.to_string(),
            detail,
        };
        let text = std::str::from_utf8(json).map_err(|_| err("not UTF-8".into()))?;
        let root = TrustedRoot::from_json(text).map_err(|e| err(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            verifier,
            root: root.clone(),
            fingerprint: format!("sha256:{}", hex::encode(Sha256::digest(json))),
            has_ct_logs: !root.ctlogs.is_empty(),
            known_logs: root
                .tlogs
                .iter()
                .map(|l| l.log_id.key_id.as_bytes().to_vec())
                .collect(),
            description: source_name.to_string(),
        })
    }

    /// Reads and parses a `trusted_root.json` file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, TrustRootError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TrustRootError {
            source_name: name.clone(),
            detail: e.to_string(),
        })?;
        Self::from_json(&name, &bytes)
    }

    /// The prepared verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The parsed `trusted_root.json` (Fulcio CAs, Rekor keys).
    pub fn trusted_root(&self) -> &TrustedRoot {
        &self.root
    }

    /// `sha256:` of the root's JSON: changes whenever the root changes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether certificates must carry an SCT: only if the root names CT logs to check it
    /// against. A private Sigstore without a CT log (common) cannot issue one, and cosign needs
    /// `--insecure-ignore-sct` for the same reason.
    pub fn requires_sct(&self) -> bool {
        self.has_ct_logs
    }

    /// Whether the root trusts the transparency log with this key ID.
    pub fn knows_log(&self, key_id: &[u8]) -> bool {
        self.known_logs.iter().any(|k| k == key_id)
    }

    /// Where the root came from, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot")
            .field("description", &self.description)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_public_good_root_loads_and_requires_scts() {
        let root = TrustRoot::public_good().expect("embedded root");
        assert!(root.requires_sct());
        assert!(root.fingerprint().starts_with("sha256:"));
    }

    #[test]
    fn garbage_root_is_a_clear_error() {
        let err = TrustRoot::from_json("test", b"{\"not\": \"a root\"").unwrap_err();
        assert_eq!(err.source_name, "test");
        assert!(!err.detail.is_empty());
    }
}
