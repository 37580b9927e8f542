//! Attestations: signed in-toto statements about the audited digest (SLSA provenance, SBOMs,
//! anything else), found beside its signatures. A signature says who signed a digest; an
//! attestation says what built it and from where. Attestations never change the signature
//! verdict: they are judged here, on their own, and feed the `Attested` condition.
//!
//! Two halves: [`evaluate`] verifies every attestation found against one identity (the policy's
//! `verify` identity, or a requirement's own) and reads its predicate into typed evidence;
//! the requirement half (a policy's `attestations:` list, CEL conditions) decides `Attested`
//! from that evidence.
//!
//! Verification is the signatures' own: each attestation is converted into the same
//! [`Candidate`](super::candidate::Candidate) and judged by [`super::judge`] (key, certificate
//! chain, transparency log, identity), except legacy attestations logged as Rekor `intoto`
//! 0.0.1, which the library cannot represent ([`intoto`]).

pub mod built_from;
pub mod cel;
mod cel_cost;
mod convert;
pub mod evidence;
mod intoto;
pub mod predicate;
pub mod require;

pub use evidence::{
    AttestationEvidence, CertificateClaims, Predicate, Provenance, Sbom, SbomFormat,
};

use serde_json::Value;
use sigstore_verify::crypto::parse_certificate_info;
use sigstore_verify::types::Sha256Hash;

use super::candidate::Material;
use super::evidence::{SignatureFormat, Signer};
use super::judge::{self, Subject};
use super::{Policy, TrustRoot, Verdict};
use crate::registry::bounded::{cap, cut_chars};
use crate::registry::{Discovery, SignatureLocation};
use convert::{Converted, NotJudged};

/// Verifies every attestation in `discovery` against `identity` and the trust root, binds
/// each statement's subject to `digest`, and reads its predicate. Pure; one entry per
/// attestation found (unreadable ones included, with a non-Verified verdict).
///
/// Contract for the requirement half and the controller: the result's order is the
/// discovery's order (bundle attestations, then `.att` layers, then malformed `.att` layers),
/// and an attestation's `verdict` is `Verified` only when its signature verifies under
/// `identity` and the trust root and its statement names `digest`. Whether the list is the
/// whole set is the discovery's to say ([`Discovery::attestations_complete`]): from an
/// incomplete one, "missing" or "failed" is indeterminate.
pub fn evaluate(
    discovery: &Discovery,
    digest: &str,
    identity: &Policy,
    trust: &TrustRoot,
) -> Vec<AttestationEvidence> {
    let hash = digest
        .strip_prefix("sha256:")
        .and_then(|h| Sha256Hash::from_hex(h).ok());
    let subject = hash.map(|hash| Subject { digest, hash });
    let mut out = Vec::new();
    for b in &discovery.attestations {
        out.push(judge_one(
            convert::bundle(b),
            b.location,
            SignatureFormat::Bundle,
            None,
            subject.as_ref(),
            identity,
            trust,
        ));
    }
    for l in &discovery.legacy_attestations {
        out.push(judge_one(
            convert::legacy(l),
            SignatureLocation::LegacyAttestationTag,
            SignatureFormat::Legacy,
            l.chain_pem.as_deref(),
            subject.as_ref(),
            identity,
            trust,
        ));
    }
    for m in &discovery.attestations_malformed {
        out.push(unjudged(
            m.location,
            SignatureFormat::Legacy,
            Verdict::SignatureInvalid,
            m.detail.clone(),
        ));
    }
    out
}

fn unjudged(
    location: SignatureLocation,
    format: SignatureFormat,
    verdict: Verdict,
    message: String,
) -> AttestationEvidence {
    AttestationEvidence {
        location,
        format,
        predicate_type: String::new(),
        signer: Signer::default(),
        certificate: None,
        tlog: None,
        predicate: None,
        verdict,
        message: cap(message),
        statement: None,
    }
}

fn judge_one(
    converted: Result<Converted, NotJudged>,
    location: SignatureLocation,
    format: SignatureFormat,
    chain_pem: Option<&str>,
    subject: Option<&Subject<'_>>,
    policy: &Policy,
    trust: &TrustRoot,
) -> AttestationEvidence {
    let c = match converted {
        Ok(c) => c,
        Err(NotJudged::Unsigned(why)) => {
            return unjudged(location, format, Verdict::Unsigned, why);
        }
        Err(NotJudged::Unreadable(why)) => {
            return unjudged(location, format, Verdict::SignatureInvalid, why);
        }
    };
    let predicate_type = c
        .statement
        .get("predicateType")
        .and_then(Value::as_str)
        .map(|t| cut_chars(t, predicate::MAX_FIELD))
        .unwrap_or_default();
    let Some(subject) = subject else {
        let mut e = unjudged(
            location,
            format,
            Verdict::DigestMismatch,
            "the audited digest is not a sha256 digest".into(),
        );
        e.predicate_type = predicate_type;
        return e;
    };
    let cert_info = match &c.candidate.material {
        Material::Certificate(der) => parse_certificate_info(der).ok(),
        Material::Key { .. } => None,
    };
    let certificate = cert_info.as_ref().map(CertificateClaims::from_info);
    let (verdict, message, signer, tlog) = match (&c.intoto, &c.candidate.material, policy) {
        // A key policy judges the signature alone (Flux's key mode), which needs no bundle.
        (Some(_), Material::Certificate(der), p) if !matches!(p, Policy::Keys { .. }) => {
            let signer = cert_info
                .as_ref()
                .map(Signer::from_certificate)
                .unwrap_or_default();
            let (v, m) = match &cert_info {
                None => (
                    Verdict::SignatureInvalid,
                    "certificate does not parse".to_string(),
                ),
                Some(info) => intoto_verdict(&c, der, info, chain_pem, subject, p, trust, &signer),
            };
            (v, m, signer, c.candidate.tlog.clone())
        }
        _ => {
            let e = judge_signatures(&c, subject, policy, trust);
            (e.verdict, e.message, e.signer, e.tlog)
        }
    };
    let message = match policy {
        Policy::Keys { .. } => message,
        _ if c.signatures > 1 => format!(
            "{message} (the envelope has {} signatures; keyless, only the first, the one its \
             certificate is for, is checked)",
            c.signatures
        ),
        _ => message,
    };
    // Signed content is only read once its signature holds (NoPolicy: valid under the trust
    // root, but no identity was given to check it against).
    let trusted = matches!(verdict, Verdict::Verified | Verdict::NoPolicy);
    let predicate = trusted.then(|| {
        predicate::read(
            &predicate_type,
            c.statement.get("predicate").unwrap_or(&Value::Null),
        )
    });
    AttestationEvidence {
        location,
        format,
        predicate_type,
        signer,
        certificate,
        tlog,
        predicate,
        verdict,
        message: cap(message),
        statement: trusted.then(|| std::sync::Arc::new(c.statement)),
    }
}

/// A key policy tries every signature of the envelope (bounded by
/// [`convert::MAX_DSSE_SIGNATURES`]) against every key: `[another key's signature, the policy
/// key's signature]` verifies. The first one that verifies decides; when none does, the first
/// signature's verdict stands, saying how many were tried. Any other policy judges the first.
fn judge_signatures(
    c: &Converted,
    subject: &Subject<'_>,
    policy: &Policy,
    trust: &TrustRoot,
) -> crate::engine::SignatureEvidence {
    let first = judge::judge(&c.candidate, subject, policy, trust);
    if first.verdict == Verdict::Verified || !matches!(policy, Policy::Keys { .. }) {
        return first;
    }
    if let Some(verified) = c
        .others
        .iter()
        .map(|o| judge::judge(o, subject, policy, trust))
        .find(|e| e.verdict == Verdict::Verified)
    {
        return verified;
    }
    if c.signatures < 2 {
        return first;
    }
    let tried = c.signatures.min(convert::MAX_DSSE_SIGNATURES);
    let mut e = first;
    e.message = format!(
        "{} (none of the envelope's {} signatures verifies with the policy's keys{})",
        e.message,
        c.signatures,
        if tried < c.signatures {
            format!("; the first {tried} were tried")
        } else {
            String::new()
        }
    );
    e
}

/// The manual `intoto` 0.0.1 path: cryptography and log, then the subject, then the identity.
#[allow(clippy::too_many_arguments)]
fn intoto_verdict(
    c: &Converted,
    leaf: &sigstore_verify::types::DerCertificate,
    info: &sigstore_verify::crypto::CertificateInfo,
    chain_pem: Option<&str>,
    subject: &Subject<'_>,
    policy: &Policy,
    trust: &TrustRoot,
    signer: &Signer,
) -> (Verdict, String) {
    if let Err(e) = intoto::verify(c, leaf, info, chain_pem, trust) {
        return e;
    }
    if !c
        .candidate
        .claims
        .digests
        .iter()
        .any(|d| d == subject.digest)
    {
        return (
            Verdict::DigestMismatch,
            format!(
                "statement is about {}, not {}",
                describe_digests(&c.candidate.claims.digests),
                subject.digest
            ),
        );
    }
    judge::identity_verdict_of(
        policy,
        info.identity.as_ref().map(|s| s.as_str().to_string()),
        info.issuer.clone(),
        signer,
        Some(info),
    )
}

fn describe_digests(digests: &[String]) -> String {
    match digests {
        [] => "no sha256 digest".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "test_keys.rs"]
pub(crate) mod test_keys;

#[cfg(test)]
#[path = "multisig_tests.rs"]
mod multisig_tests;

#[cfg(test)]
#[path = "peer_tests.rs"]
mod peer_tests;
