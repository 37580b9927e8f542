//! One Helm chart package judged by its `.prov`, purely: each signature against the policy's
//! OpenPGP keys, and the signed body against the package (its SHA-256, name and version).
//!
//! The verdicts are the cosign ones: `Verified`, `Unsigned` (no `.prov` at all),
//! `KeyMismatch` (signed, by a key the policy does not name), `SignatureInvalid` (it does not
//! verify, or its key is expired, revoked or refused), `DigestMismatch` (a valid signature over
//! another package, chart or version), and without a policy `UntrustedSigner` (who signed, by
//! key ID and user ID, unchecked: a key nobody named proves nothing).

use pgp::packet::Signature;

use super::keyring::{unix_to_rfc3339, weak_hash, ComponentKey, Keyring};
use super::prov::{self, ProvBody};
use crate::engine::evidence::{SignatureEvidence, SignatureFormat, Signer};
use crate::engine::verdict::{self, Verdict};
use crate::engine::Evaluation;
use crate::registry::bounded;
use crate::registry::SignatureLocation;

/// The package the `.prov` must be about.
#[derive(Debug, Clone)]
pub struct Package<'a> {
    /// The file name the `files:` entry must have: the package URL's last segment, as
    /// `helm verify` uses the file's base name.
    pub file_name: &'a str,
    /// The chart's name.
    pub name: &'a str,
    /// The chart's version.
    pub version: &'a str,
    /// `sha256:<hex>` of the package bytes compared.
    pub digest: &'a str,
}

/// Judges a chart package by its `.prov` (`None`: a definite "there is none") against
/// `keyring` (`None`: no policy, only who signed is reported; an empty keyring accepts no one),
/// at `now` (Unix seconds). Pure.
pub fn evaluate_prov(
    prov: Option<&[u8]>,
    package: &Package<'_>,
    keyring: Option<&Keyring>,
    now: i64,
) -> Evaluation {
    let Some(bytes) = prov else {
        return evaluation(
            Verdict::Unsigned,
            "no Helm provenance file (.prov) beside the package".into(),
            vec![],
        );
    };
    let parsed = match prov::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            let ev = evidence(Signer::default(), Verdict::SignatureInvalid, e.to_string());
            return evaluation(Verdict::SignatureInvalid, e.to_string(), vec![ev]);
        }
    };
    let about = parsed
        .body
        .as_ref()
        .map_err(ToString::to_string)
        .and_then(|b| about_package(b, package));
    let signatures: Vec<SignatureEvidence> = parsed
        .signatures
        .iter()
        .map(|sig| judge(sig, &parsed.signed_text, &about, keyring, now))
        .collect();
    let verdict = verdict::aggregate(signatures.iter().map(|s| s.verdict));
    let message = signatures
        .iter()
        .find(|s| s.verdict == verdict)
        .map_or_else(String::new, |s| {
            format!("helm-prov signature: {}", s.message)
        });
    evaluation(verdict, message, signatures)
}

fn evaluation(verdict: Verdict, message: String, signatures: Vec<SignatureEvidence>) -> Evaluation {
    Evaluation {
        verdict,
        message,
        signatures,
        flux_compatibility: vec![],
        attested: None,
    }
}

fn evidence(signer: Signer, verdict: Verdict, message: String) -> SignatureEvidence {
    SignatureEvidence {
        location: SignatureLocation::HelmProv,
        format: SignatureFormat::HelmProv,
        signer,
        ci: None,
        tlog: None,
        verdict,
        message: bounded::cap(message),
    }
}

/// Whether the signed body is about this package: the `files:` entry for its file name holds
/// its SHA-256, and the metadata names the chart and version.
fn about_package(body: &ProvBody, p: &Package<'_>) -> Result<(), String> {
    let listed = || {
        let names: Vec<String> = body
            .files
            .keys()
            .take(4)
            .map(|n| bounded::truncate(n))
            .collect();
        names.join(", ")
    };
    let Some(sum) = body.files.get(p.file_name) else {
        return Err(format!(
            "the .prov signs no file named {} (it lists {})",
            p.file_name,
            listed()
        ));
    };
    if !sum.eq_ignore_ascii_case(p.digest) {
        return Err(format!(
            "the .prov signs {} as {}, the package is {}",
            p.file_name,
            bounded::truncate(sum),
            p.digest
        ));
    }
    let m = &body.metadata;
    if m.name != p.name || m.version != p.version {
        return Err(format!(
            "the .prov is about chart {} version {}, not {} {}",
            bounded::truncate(&m.name),
            bounded::truncate(&m.version),
            p.name,
            p.version
        ));
    }
    Ok(())
}

/// Who a signature says made it: its issuer fingerprint or key ID, and the signer's user ID
/// subpacket when present (untrusted text, bounded).
fn claimed_signer(sig: &Signature) -> Signer {
    let key = sig
        .issuer_fingerprint()
        .first()
        .map(|f| format!("openpgp:{f:X}"))
        .or_else(|| {
            sig.issuer_key_id()
                .first()
                .map(|k| format!("openpgp:{}", hex::encode_upper(k.as_ref())))
        });
    Signer {
        subject: sig
            .signers_userid()
            .map(|u| bounded::truncate(&String::from_utf8_lossy(u))),
        key_fingerprint: key,
        ..Signer::default()
    }
}

fn judge(
    sig: &Signature,
    signed_text: &str,
    about: &Result<(), String>,
    keyring: Option<&Keyring>,
    now: i64,
) -> SignatureEvidence {
    let claimed = claimed_signer(sig);
    let who = claimed
        .key_fingerprint
        .clone()
        .unwrap_or_else(|| "a key it does not name".into());
    let Some(keyring) = keyring else {
        let body = match about {
            Ok(()) => "its body names this package".to_string(),
            Err(e) => format!("unverified, its body does not match: {e}"),
        };
        return evidence(
            claimed,
            Verdict::UntrustedSigner,
            format!(
                "signed with OpenPGP key {who}; no policy names an OpenPGP key, so the signature \
                 cannot be checked ({body}); give its public key: verify --keyring, or a \
                 policy's verify.openpgp"
            ),
        );
    };
    let Some((cert, key, material)) = keyring.find(sig) else {
        return evidence(
            claimed,
            Verdict::KeyMismatch,
            format!(
                "signed with OpenPGP key {who}, not one the policy accepts ({})",
                keyring.describe()
            ),
        );
    };
    let signer = Signer {
        subject: cert.user_id.as_deref().map(bounded::truncate),
        key_fingerprint: Some(format!("openpgp:{}", cert.fingerprint)),
        ..Signer::default()
    };
    let named = format!(
        "OpenPGP key {}{}",
        cert.fingerprint,
        if key.subkey {
            format!(" (subkey {})", key.fingerprint)
        } else {
            String::new()
        }
    );
    let invalid = |why: String| evidence(signer.clone(), Verdict::SignatureInvalid, why);
    if weak_hash(sig.hash_alg()) {
        return invalid(format!(
            "the signature by {named} uses {}, which is refused",
            sig.hash_alg()
                .map_or("no known hash".into(), |h| h.to_string())
        ));
    }
    let checked = std::panic::catch_unwind(|| match material {
        ComponentKey::Primary(k) => sig.verify(&k.primary_key, signed_text.as_bytes()),
        ComponentKey::Subkey(k) => sig.verify(k.as_ref(), signed_text.as_bytes()),
    });
    if !matches!(checked, Ok(Ok(()))) {
        return invalid(format!(
            "the signature does not verify with {named}: the .prov was altered or is not \
             signed by that key"
        ));
    }
    let signed = sig.created().map_or(0, |t| i64::from(t.as_secs()));
    if let Some(why) = key.unusable_at(signed, now) {
        return invalid(format!("signed with {named}, but {why}"));
    }
    if let Some(d) = sig.signature_expiration_time().filter(|d| d.as_secs() > 0) {
        let expires = signed + i64::from(d.as_secs());
        if now >= expires {
            return invalid(format!(
                "the signature by {named} expired at {}",
                unix_to_rfc3339(expires)
            ));
        }
    }
    match about {
        Ok(()) => evidence(
            signer,
            Verdict::Verified,
            format!("signed with {named}, over this package's SHA-256, name and version"),
        ),
        Err(e) => evidence(
            signer,
            Verdict::DigestMismatch,
            format!("signed with {named}, but {e}"),
        ),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
