//! Judges one [`Candidate`] against a [`Policy`]: cryptography first, then what the signature
//! is about (digest and statement type), then who signed it. Pure: no I/O.

use sigstore_verify::crypto::{
    parse_certificate_info, verify_signature, CertificateInfo, KeyAlgorithm, SigningScheme,
};
use sigstore_verify::error::{CertificateError, TimestampError, TransparencyLogError};
use sigstore_verify::types::{Artifact, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult};

use super::candidate::{Candidate, Material, SignedInput};
use super::evidence::{CiClaims, SignatureEvidence, Signer};
use super::fulcio::CertificateClaims;
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
        .and_then(|i| CiClaims::from_claims(&CertificateClaims::from_info(i)));
    let (verdict, message) = match (policy, &c.material) {
        (Policy::Keys { keys, require_tlog }, _) => {
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
        (_, Material::Certificate(_)) if cert_info.is_none() => (
            Verdict::SignatureInvalid,
            "certificate does not parse".into(),
        ),
        (_, Material::Certificate(_)) => match keyless_check(c, subject, trust) {
            Err(e) => e,
            Ok(result) => match claims_check(c, subject) {
                Err(e) => e,
                Ok(()) => identity_verdict(policy, &result, &signer, cert_info.as_ref()),
            },
        },
        (_, Material::Key { .. }) => unchecked_key(policy, &signer),
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

/// A key signature when the policy names no key: nothing can check its cryptography (the key
/// is not in the signature, only an unauthenticated hint), so nothing it says — who signed, or
/// which digest — may decide a verdict that claims more. It cannot establish a signer from the
/// trust root: `UntrustedSigner`, which ranks below every verdict about a checked signature, so
/// an attached blob that merely looks key-signed never outranks a real finding.
fn unchecked_key(policy: &Policy, signer: &Signer) -> (Verdict, String) {
    let what = signer.describe();
    let why = match policy {
        Policy::Keyless { .. } => {
            "the policy accepts keyless identities only, and names no key to check it with"
        }
        _ => "no policy names a key, so its signature cannot be checked (give its public key: verify --key, or a policy's secretRef)",
    };
    (
        Verdict::UntrustedSigner,
        format!("signed with a key ({what}), not with a certificate from the trust root: {why}"),
    )
}

/// After a valid keyless signature about this artifact: does the signer satisfy the policy?
///
/// A certificate that names no subject (SAN) or no OIDC issuer is refused whatever the policy:
/// matched as the empty string, it would satisfy any regex that accepts "" (`.*`, `^.*$`).
///
/// An identity with `matchCertificate` claims also needs them in the certificate: unmet, the
/// verdict is `IdentityMismatch` naming the claim.
fn identity_verdict(
    policy: &Policy,
    result: &VerificationResult,
    signer: &Signer,
    cert: Option<&CertificateInfo>,
) -> (Verdict, String) {
    identity_verdict_of(
        policy,
        result.identity().map(|s| s.as_str().to_string()),
        result.issuer().map(str::to_string),
        signer,
        cert,
    )
}

/// [`identity_verdict`] from the certificate's subject and issuer, for checks made without the
/// library's result (legacy `intoto` 0.0.1 attestations).
pub(crate) fn identity_verdict_of(
    policy: &Policy,
    subject: Option<String>,
    issuer: Option<String>,
    signer: &Signer,
    cert: Option<&CertificateInfo>,
) -> (Verdict, String) {
    let subject = subject.filter(|s| !s.is_empty());
    let issuer = issuer.filter(|s| !s.is_empty());
    let (subject, issuer) = match (subject, issuer) {
        (Some(s), Some(i)) => (s, i),
        (subject, _) => {
            let missing = if subject.is_none() {
                "no subject (SAN)"
            } else {
                "no OIDC issuer"
            };
            return (
                Verdict::IdentityMismatch,
                format!(
                    "valid signature, but its certificate names {missing}: no identity can be \
                     matched, so no policy accepts it"
                ),
            );
        }
    };
    match policy {
        Policy::Keyless { identities } if identities.is_empty() => (
            Verdict::Verified,
            format!(
                "valid signature by {}; no identity was checked: spec.verify names none, which \
                 is Flux's any-signer mode (any certificate from the trust root is accepted)",
                signer.describe()
            ),
        ),
        Policy::Keyless { identities }
            if identities.iter().any(|r| r.matches(&issuer, &subject)) =>
        {
            let claims = cert.map(super::claims::from_certificate);
            let checks: Vec<Result<(), String>> = identities
                .iter()
                .filter(|r| r.matches(&issuer, &subject))
                .map(|r| r.certificate.check(claims.as_ref()))
                .collect();
            match checks.iter().find_map(|c| c.as_ref().err()) {
                Some(unmet) if checks.iter().all(Result::is_err) => (
                    Verdict::IdentityMismatch,
                    format!(
                        "valid signature by {}, but matchCertificate is not met: {unmet}",
                        signer.describe()
                    ),
                ),
                _ => (
                    Verdict::Verified,
                    format!("signed by {}", signer.describe()),
                ),
            }
        }
        Policy::Keyless { .. } | Policy::Keys { .. } | Policy::Notation(_) => (
            Verdict::IdentityMismatch,
            format!(
                "valid signature by {}, which the policy ({}) does not accept",
                signer.describe(),
                policy.describe()
            ),
        ),
        Policy::None => (
            Verdict::NoPolicy,
            format!(
                "valid signature by {}; no policy to check it against",
                signer.describe()
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
///
/// The signature is checked against each key directly first: only a key that made it can turn
/// a later failure into something other than `KeyMismatch`. With `require_tlog`, the library
/// then checks the log entry for that key, and its failure is classified like any other
/// (`UntrustedSigner` for a missing or unknown log entry, `SignatureInvalid` for a broken one):
/// "signed with your key, but not logged" is not "signed with another key".
fn key_check<'k>(
    c: &Candidate,
    subject: &Subject<'_>,
    keys: &'k [PublicKey],
    require_tlog: bool,
    trust: &TrustRoot,
) -> Result<&'k PublicKey, (Verdict, String)> {
    let mut log_failure = None;
    for key in keys {
        if direct_key_check(c, key).is_err() {
            continue;
        }
        if !require_tlog {
            // Flux's key mode ignores the transparency log (IgnoreTlog), and the library refuses
            // bundles without signing-time evidence, so the direct check is the whole check.
            return Ok(key);
        }
        match library_key_check(c, subject, key, trust) {
            Ok(()) => return Ok(key),
            Err((verdict, why)) => {
                log_failure.get_or_insert((
                    verdict,
                    format!(
                        "signed with key {} ({}), but the full check with its transparency-log entry failed: {why}",
                        key.name,
                        short_fp(&key.fingerprint)
                    ),
                ));
            }
        }
    }
    Err(log_failure.unwrap_or_else(|| {
        (
            Verdict::KeyMismatch,
            format!(
                "not signed with {} (the signature does not verify with it)",
                describe_keys(keys)
            ),
        )
    }))
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

/// The library's check of a key signature with its log entry; `Err` is classified.
fn library_key_check(
    c: &Candidate,
    subject: &Subject<'_>,
    key: &PublicKey,
    trust: &TrustRoot,
) -> Result<(), (Verdict, String)> {
    let bundle = c
        .bundle
        .as_ref()
        .map_err(|why| (Verdict::UntrustedSigner, why.clone()))?;
    if let Material::Certificate(_) = c.material {
        // A certificate-bearing signature checked against a key (cosign --key with
        // --certificate): the key made the signature (checked by the caller), and the log must
        // hold it — the library checks the entry only through the certificate path, so take it.
        return keyless_check(c, subject, trust).map(|_| ());
    }
    let policy = PublicKeyVerificationPolicy::new(key.der.clone());
    let verifier = trust.verifier();
    let result = match &c.input {
        SignedInput::ArtifactDigest => {
            verifier.verify(Artifact::from(subject.hash), bundle, &policy)
        }
        SignedInput::Payload(bytes) => verifier.verify(bytes.as_slice(), bundle, &policy),
    };
    result
        .map(|_| ())
        .map_err(|e| (classify(&e), e.to_string()))
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
        // Evidence the log or a timestamp authority should have given is absent: nothing
        // trusted vouches for the signature (the signature itself may be fine).
        E::Bundle(
            sigstore_verify::bundle::Error::MissingSigningTimeEvidence
            | sigstore_verify::bundle::Error::MissingInclusionPromise(_)
            | sigstore_verify::bundle::Error::MissingInclusionProof(_)
            | sigstore_verify::bundle::Error::MissingTimestamp,
        ) => Verdict::UntrustedSigner,
        E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
            Verdict::TrustRootError
        }
        _ => Verdict::SignatureInvalid,
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
