//! One artifact judged, purely: every signature discovered judged against the policy, and the
//! verdict aggregated with its evidence ([`Evaluation`]). The I/O around it is [`super::verify`].

use sigstore_verify::types::Sha256Hash;

use super::evidence::{SignatureEvidence, SignatureFormat, Signer};
use super::flux_compat;
use super::{attest, bundle, judge, legacy, notation, verdict, Policy, TrustRoot, Verdict};
use crate::registry::NOTATION_MALFORMED;
use crate::registry::{Discovery, RegistryError};

/// Judges every signature discovered for `digest` and aggregates the verdict. Pure.
pub fn evaluate(
    discovery: &Discovery,
    digest: &str,
    policy: &Policy,
    trust: &TrustRoot,
) -> Evaluation {
    let hash = match digest
        .strip_prefix("sha256:")
        .and_then(|h| Sha256Hash::from_hex(h).ok())
    {
        Some(hash) => hash,
        None => {
            return Evaluation {
                verdict: Verdict::DigestMismatch,
                message: format!("{digest:?} is not a sha256 digest"),
                signatures: vec![],
                flux_compatibility: vec![],
                attested: None,
            }
        }
    };
    let subject = judge::Subject { digest, hash };
    // Under a Notation trust policy, cosign signatures are still reported (judged against no
    // policy), and the other way round; only the policy's own kind decides the verdict.
    let notation_policy = match policy {
        Policy::Notation(p) => Some(p.as_ref()),
        _ => None,
    };
    let cosign_policy = if notation_policy.is_some() {
        &Policy::None
    } else {
        policy
    };
    let mut signatures = Vec::new();
    let converted = discovery
        .bundles
        .iter()
        .map(bundle::candidate)
        .chain(discovery.legacy.iter().map(legacy::candidate));
    for c in converted {
        signatures.push(match c {
            Ok(c) => judge::judge(&c, &subject, cosign_policy, trust),
            Err(u) => SignatureEvidence {
                location: u.location,
                format: u.format,
                signer: Signer::default(),
                ci: None,
                tlog: None,
                verdict: Verdict::SignatureInvalid,
                message: u.detail,
            },
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for n in &discovery.notation {
        let sig = notation::Signature {
            location: n.location,
            media_type: &n.media_type,
            envelope: &n.envelope,
        };
        signatures.push(notation::judge(
            &sig,
            digest,
            &n.scope,
            notation_policy,
            now,
        ));
    }
    for m in &discovery.malformed {
        let format = match m.location {
            _ if m.detail.starts_with(NOTATION_MALFORMED) => SignatureFormat::Notation,
            crate::registry::SignatureLocation::LegacyTag => SignatureFormat::Legacy,
            _ => SignatureFormat::Bundle,
        };
        signatures.push(SignatureEvidence {
            location: m.location,
            format,
            signer: Signer::default(),
            ci: None,
            tlog: None,
            verdict: Verdict::SignatureInvalid,
            message: m.detail.clone(),
        });
    }
    let deciding = || signatures.iter().filter(|s| answers(s.format, policy));
    let verdict = verdict::aggregate(deciding().map(|s| s.verdict));
    let message = match deciding()
        .filter(|s| s.verdict == verdict)
        .max_by_key(|s| s.format == SignatureFormat::Bundle)
    {
        None if notation_policy.is_some() => {
            let others = signatures.len();
            let mut m = "no Notation signature found (referrers API, sha256-<hex> tag fallback)"
                .to_string();
            if others > 0 {
                m.push_str(&format!(
                    "; {others} cosign signature(s) found, which a Notation trust policy does not accept"
                ));
            }
            m
        }
        None => {
            let mut m =
                "no cosign signature found (referrers, sha256-<hex> tag fallback, legacy .sig tag)"
                    .to_string();
            let others = signatures.len();
            if others > 0 {
                m.push_str(&format!(
                    "; {others} Notation signature(s) found, which this policy does not accept"
                ));
            }
            m
        }
        Some(best) => format!("{} signature: {}", best.format.as_str(), best.message),
    };
    // From a discovery cut short, only a verifying signature is conclusive: whatever was not
    // read might be the one that verifies (see `Discovery::incomplete`).
    let (verdict, message) = match discovery.incomplete_summary() {
        Some(why) if verdict != Verdict::Verified => (
            Verdict::RegistryUnavailable,
            format!("signature discovery incomplete ({why}); among what was read: {message}"),
        ),
        _ => (verdict, message),
    };
    let flux_compatibility = flux_compat::notes(policy, &signatures);
    Evaluation {
        verdict,
        message,
        signatures,
        flux_compatibility,
        attested: None,
    }
}

/// Whether a signature of `format` can satisfy `policy`: a Notation trust policy only a
/// Notation signature, keys and identities only a cosign one, no policy any.
fn answers(format: SignatureFormat, policy: &Policy) -> bool {
    match policy {
        Policy::None => true,
        Policy::Notation(_) => format == SignatureFormat::Notation,
        Policy::Keys { .. } | Policy::Keyless { .. } => format != SignatureFormat::Notation,
    }
}

/// The pure result of judging an artifact's signatures.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The artifact-level verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub message: String,
    /// Every signature found, with its own verdict.
    pub signatures: Vec<SignatureEvidence>,
    /// Where Flux would judge differently.
    pub flux_compatibility: Vec<flux_compat::CompatNote>,
    /// The attestations found and the `Attested` judgement, when they were judged (the
    /// verifier sets it on the combined evaluation; it is cached with the verdict).
    pub attested: Option<Box<attest::require::Attested>>,
}

/// The verdict a registry error means: never `Unsigned`.
pub fn registry_verdict(e: &RegistryError) -> Verdict {
    match e {
        RegistryError::Authentication { .. } => Verdict::AuthenticationFailed,
        _ => Verdict::RegistryUnavailable,
    }
}
