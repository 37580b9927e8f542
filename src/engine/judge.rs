//! Judges one [`Candidate`] against a [`Policy`]: cryptography first, then what the signature
//! is about (digest and statement type), then who signed it. Pure: no I/O.

use sigstore_verify::crypto::{
    parse_certificate_info, verify_signature, KeyAlgorithm, SigningScheme,
};
use sigstore_verify::error::{CertificateError, TimestampError, TransparencyLogError};
use sigstore_verify::types::{Artifact, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult};

use super::candidate::{Candidate, Material, SignedInput};
use super::evidence::{CiClaims, SignatureEvidence, Signer};
use super::policy::{short_fp, Policy, PublicKey};
use super::trust::TrustRoot;
use super::verdict::Verdict;

/// The artifact a signature must be about.
pub struct Subject<'a> {
    /// `sha256:<hex>` manifest digest.
    pub digest: &'a str,
    /// The same digest, parsed.
    pub hash: Sha256Hash,
}

/// Judges one signature.
pub fn judge(
    c: &Candidate,
    subject: &Subject<'_>,
    policy: &Policy,
    trust: &TrustRoot,
) -> SignatureEvidence {
    let cert_info = match &c.material {
        Material::Certificate(der) => parse_certificate_info(der).ok(),
        Material::Key { .. } => None,
    };
    let mut signer = match (&cert_info, &c.material) {
        (Some(info), _) => Signer::from_certificate(info),
        (None, Material::Key { hint }) => Signer {
            key_hint: hint.clone(),
            ..Signer::default()
        },
        (None, Material::Certificate(_)) => Signer::default(),
    };
    let ci = cert_info
        .as_ref()
        .and_then(|i| CiClaims::from_fulcio(&i.ci_claims));
    let (verdict, message) = match policy {
        Policy::Keys { keys, require_tlog } => {
            match key_check(c, subject, keys, *require_tlog, trust) {
                Ok(key) => {
                    signer.key_fingerprint = Some(key.fingerprint.clone());
                    claims_check(c, subject).map_or_else(
                        |(v, m)| (v, m),
                        |()| {
                            (
                                Verdict::Verified,
                                format!(
                                    "signed with key {} ({})",
                                    key.name,
                                    short_fp(&key.fingerprint)
                                ),
                            )
                        },
                    )
                }
                Err(e) => e,
            }
        }
        Policy::Keyless { .. } | Policy::None if cert_info.is_some() => {
            match keyless_check(c, subject, trust) {
                Err(e) => e,
                Ok(result) => match claims_check(c, subject) {
                    Err(e) => e,
                    Ok(()) => identity_verdict(policy, &result, &signer),
                },
            }
        }
        Policy::Keyless { .. } => match &c.material {
            Material::Key { .. } => (
                Verdict::IdentityMismatch,
                format!(
                    "signed with a key ({}), not by a keyless identity",
                    signer.describe()
                ),
            ),
            Material::Certificate(_) => (
                Verdict::SignatureInvalid,
                "certificate does not parse".into(),
            ),
        },
        Policy::None => match &c.material {
            Material::Key { .. } => (
                Verdict::NoPolicy,
                "signed with a key; give its public key to verify the signature".into(),
            ),
            Material::Certificate(_) => (
                Verdict::SignatureInvalid,
                "certificate does not parse".into(),
            ),
        },
    };
    SignatureEvidence {
        location: c.location,
        format: c.format,
        signer,
        ci,
        tlog: c.tlog.clone(),
        verdict,
        message,
    }
}

/// After a valid keyless signature about this artifact: does the signer satisfy the policy?
fn identity_verdict(
    policy: &Policy,
    result: &VerificationResult,
    signer: &Signer,
) -> (Verdict, String) {
    let subject = result
        .identity()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let issuer = result.issuer().unwrap_or_default();
    let identities = match policy {
        Policy::Keyless { identities } => identities.as_slice(),
        _ => &[],
    };
    match policy {
        Policy::None => (
            Verdict::NoPolicy,
            format!(
                "valid signature by {}; no policy to check it against",
                signer.describe()
            ),
        ),
        _ if identities.is_empty() || identities.iter().any(|r| r.matches(issuer, &subject)) => (
            Verdict::Verified,
            format!("signed by {}", signer.describe()),
        ),
        _ => (
            Verdict::IdentityMismatch,
            format!(
                "valid signature by {}, which the policy ({}) does not accept",
                signer.describe(),
                policy.describe()
            ),
        ),
    }
}

/// Is the signature about this artifact, and is it a cosign image signature?
fn claims_check(c: &Candidate, subject: &Subject<'_>) -> Result<(), (Verdict, String)> {
    if !c.claims.digests.iter().any(|d| d == subject.digest) {
        let named = if c.claims.digests.is_empty() {
            "no digest".to_string()
        } else {
            c.claims.digests.join(", ")
        };
        return Err((
            Verdict::DigestMismatch,
            format!("signature is about {named}, not {}", subject.digest),
        ));
    }
    c.claims
        .kind
        .clone()
        .map_err(|why| (Verdict::DigestMismatch, why))
}

/// Key mode: the first policy key the signature verifies with.
fn key_check<'k>(
    c: &Candidate,
    subject: &Subject<'_>,
    keys: &'k [PublicKey],
    require_tlog: bool,
    trust: &TrustRoot,
) -> Result<&'k PublicKey, (Verdict, String)> {
    let mut last_error = None;
    for key in keys {
        let outcome = if require_tlog {
            library_key_check(c, subject, key, trust)
        } else {
            // Flux's key mode ignores the transparency log (IgnoreTlog), and the library refuses
            // bundles without signing-time evidence, so check the signature directly.
            direct_key_check(c, key)
        };
        match outcome {
            Ok(()) => return Ok(key),
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error
        .map(|e| format!(" (last error: {e})"))
        .unwrap_or_default();
    Err((
        Verdict::KeyMismatch,
        format!("not signed with {}{why}", describe_keys(keys)),
    ))
}

fn describe_keys(keys: &[PublicKey]) -> String {
    if keys.is_empty() {
        return "any key (the policy has none)".into();
    }
    let names: Vec<String> = keys
        .iter()
        .map(|k| format!("{} ({})", k.name, short_fp(&k.fingerprint)))
        .collect();
    format!("key {}", names.join(" or "))
}

/// Signature schemes a key may have been used with: cosign signs with SHA-256 whatever the
/// curve, while the Sigstore default for P-384 is SHA-384.
fn schemes(algorithm: KeyAlgorithm) -> Vec<SigningScheme> {
    let default = algorithm.default_signing_scheme();
    match algorithm {
        KeyAlgorithm::EcdsaP384 => vec![SigningScheme::EcdsaP384Sha256, default],
        _ => vec![default],
    }
}

fn direct_key_check(c: &Candidate, key: &PublicKey) -> Result<(), String> {
    let ok = schemes(key.algorithm)
        .into_iter()
        .any(|scheme| verify_signature(&key.der, &c.signed_bytes, &c.signature, scheme).is_ok());
    if ok {
        Ok(())
    } else {
        Err("signature does not verify with this key".into())
    }
}

fn library_key_check(
    c: &Candidate,
    subject: &Subject<'_>,
    key: &PublicKey,
    trust: &TrustRoot,
) -> Result<(), String> {
    let bundle = c.bundle.as_ref().map_err(|why| why.clone())?;
    if let Material::Certificate(_) = c.material {
        // A certificate-bearing signature checked against a key (cosign --key with
        // --certificate): the key must have made the signature, and the log must hold it — the
        // library checks the entry only through the certificate path, so take that path.
        direct_key_check(c, key)?;
        return keyless_check(c, subject, trust)
            .map(|_| ())
            .map_err(|(_, why)| why);
    }
    let policy = PublicKeyVerificationPolicy::new(key.der.clone());
    let verifier = trust.verifier();
    let result = match &c.input {
        SignedInput::ArtifactDigest => {
            verifier.verify(Artifact::from(subject.hash), bundle, &policy)
        }
        SignedInput::Payload(bytes) => verifier.verify(bytes.as_slice(), bundle, &policy),
    };
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// Keyless: chain to the trust root, log entry, SCT (if the root has CT logs), signature.
fn keyless_check(
    c: &Candidate,
    subject: &Subject<'_>,
    trust: &TrustRoot,
) -> Result<VerificationResult, (Verdict, String)> {
    let bundle = c
        .bundle
        .as_ref()
        .map_err(|why| (Verdict::UntrustedSigner, why.clone()))?;
    // The library reports an unknown log as a bad inclusion promise; say what it means.
    if let Some(entry) = bundle
        .verification_material
        .tlog_entries
        .iter()
        .find(|e| !trust.knows_log(e.log_id.key_id.as_bytes()))
    {
        return Err((
            Verdict::UntrustedSigner,
            format!(
                "logged in a transparency log ({}) that the trust root ({}) does not name",
                hex::encode(entry.log_id.key_id.as_bytes()),
                trust.description()
            ),
        ));
    }
    let mut policy = VerificationPolicy::any_identity();
    if !trust.requires_sct() {
        policy = policy.skip_sct();
    }
    let verifier = trust.verifier();
    let result = match &c.input {
        SignedInput::ArtifactDigest => {
            verifier.verify(Artifact::from(subject.hash), bundle, &policy)
        }
        SignedInput::Payload(bytes) => verifier.verify(bytes.as_slice(), bundle, &policy),
    };
    result.map_err(|e| (classify(&e), e.to_string()))
}

/// Maps a library error to the verdict it means for the artifact.
pub fn classify(e: &sigstore_verify::Error) -> Verdict {
    use sigstore_verify::Error as E;
    match e {
        E::ArtifactMismatch(_) => Verdict::DigestMismatch,
        E::Certificate(
            CertificateError::ChainInvalid(_)
            | CertificateError::NoValidAuthority { .. }
            | CertificateError::Sct(_),
        ) => Verdict::UntrustedSigner,
        E::TransparencyLog(TransparencyLogError::UnknownLog { .. }) => Verdict::UntrustedSigner,
        E::Timestamp(TimestampError::NoVerifiedTimestamp(_)) => Verdict::UntrustedSigner,
        E::Bundle(
            sigstore_verify::bundle::Error::MissingSigningTimeEvidence
            | sigstore_verify::bundle::Error::MissingInclusionPromise(_),
        ) => Verdict::UntrustedSigner,
        E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
            Verdict::TrustRootError
        }
        _ => Verdict::SignatureInvalid,
    }
}
