//! `verify-bundle`: the sigstore-conformance client protocol, so the upstream suite can drive us.
//!
//! `verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL | --key PEM) [--trusted-root FILE] FILE_OR_DIGEST`
//! Exit 0 iff verified; 1 when the bundle is rejected; 2 when an input cannot be used.

use std::path::PathBuf;

use clap::Args;

use crate::engine::blob::{parse_input, verify_blob, BlobFailure, BlobSigner};
use crate::engine::TrustRoot;

/// Arguments of `verify-bundle`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The Sigstore bundle (JSON).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Exact certificate identity (SAN) required.
    #[arg(long, requires = "certificate_oidc_issuer", conflicts_with = "key")]
    pub certificate_identity: Option<String>,
    /// Exact OIDC issuer required.
    #[arg(long, requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// PEM public key (managed-key bundles).
    #[arg(long, required_unless_present = "certificate_identity")]
    pub key: Option<PathBuf>,
    /// A `trusted_root.json` instead of the embedded public-good root.
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// The artifact file, or `sha256:<64 hex>`.
    pub file_or_digest: String,
}

/// Runs `verify-bundle`.
///
/// Exits by the contract in `cli/mod.rs`: 0 verified; 1 the bundle is rejected (malformed, bad
/// signature, wrong signer, untrusted chain or log); 2 could not tell (an unreadable bundle,
/// artifact, key or trust root, a malformed key, trust root or digest argument).
pub fn run(args: VerifyBundleArgs) -> u8 {
    match verify(&args) {
        Ok(()) => {
            println!("OK");
            super::EXIT_VERIFIED
        }
        Err(BlobFailure::Rejected(e)) => {
            eprintln!("verification failed: {e}");
            super::EXIT_NOT_VERIFIED
        }
        Err(BlobFailure::Indeterminate(e)) => {
            eprintln!("error: could not verify: {e}");
            super::EXIT_ERROR
        }
    }
}

fn verify(args: &VerifyBundleArgs) -> Result<(), BlobFailure> {
    let unusable = BlobFailure::Indeterminate;
    let trust = match &args.trusted_root {
        Some(path) => TrustRoot::from_file(path),
        None => TrustRoot::public_good(),
    }
    .map_err(|e| unusable(e.to_string()))?;
    let bundle = std::fs::read_to_string(&args.bundle)
        .map_err(|e| unusable(format!("cannot read {}: {e}", args.bundle.display())))?;
    let signer = match (
        &args.key,
        &args.certificate_identity,
        &args.certificate_oidc_issuer,
    ) {
        (Some(key), _, _) => BlobSigner::Key(
            std::fs::read_to_string(key)
                .map_err(|e| unusable(format!("cannot read {}: {e}", key.display())))?,
        ),
        (None, Some(identity), Some(issuer)) => BlobSigner::Identity {
            identity: identity.clone(),
            issuer: issuer.clone(),
        },
        _ => {
            return Err(unusable(
                "give --key or --certificate-identity with --certificate-oidc-issuer".into(),
            ))
        }
    };
    let input = parse_input(&args.file_or_digest).map_err(unusable)?;
    verify_blob(&bundle, &input, &signer, &trust)
}
