//! Keyless legacy attestations logged as Rekor `intoto` 0.0.1 entries (cosign before v2.2.3,
//! e.g. the SLSA GitHub generator up to v1.9), which sigstore-verify cannot represent. The same
//! checks, in the same order, by hand:
//!
//! 1. the entry's SET verifies with a Rekor key of the trust root valid at its integrated time
//!    (the signed-entry timestamp authenticates the body and the time);
//! 2. the entry describes this attestation: its `publicKey` is the leaf certificate, its
//!    `payloadHash` is the SHA-256 of the statement and its `hash` the SHA-256 of the envelope
//!    (the layer's bytes, as cosign logged them);
//! 3. the leaf chains to a Fulcio CA of the trust root valid at that time, with the code-signing
//!    EKU, and was valid then (as cosign does: expired certificates verify at the log's time);
//! 4. the DSSE signature (over the PAE) verifies with the leaf's key.
//!
//! 5. with a trust root that names CT logs, the certificate's embedded SCT verifies
//!    ([`sct`]).
//!
#[path = "sct.rs"]
mod sct;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sigstore_verify::crypto::{verify_signature, CertificateInfo, SigningScheme};
use sigstore_verify::types::{DerCertificate, SignatureBytes};

use super::convert::Converted;
use crate::engine::legacy::first_pem_block;
use crate::engine::{TrustRoot, Verdict};
use crate::registry::bounded::truncate;

/// Code signing EKU, 1.3.6.1.5.5.7.3.3 (DER value bytes).
const ID_KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

#[derive(Deserialize)]
struct Body {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    spec: Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    content: Content,
    public_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    #[serde(default)]
    hash: Option<Hash>,
    payload_hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

type Fail = (Verdict, String);

fn invalid(why: impl Into<String>) -> Fail {
    (Verdict::SignatureInvalid, why.into())
}

fn untrusted(why: impl Into<String>) -> Fail {
    (Verdict::UntrustedSigner, why.into())
}

/// Verifies a keyless `intoto` 0.0.1 attestation; the leaf's certificate info on success.
pub(crate) fn verify(
    converted: &Converted,
    leaf: &DerCertificate,
    info: &CertificateInfo,
    chain_pem: Option<&str>,
    trust: &TrustRoot,
) -> Result<(), Fail> {
    let Converted {
        candidate: c,
        intoto: rekor,
        payload,
        envelope,
        ..
    } = converted;
    let rekor = rekor
        .as_ref()
        .ok_or_else(|| untrusted("Rekor bundle annotation does not parse"))?;
    let time = rekor.payload.integrated_time;
    // 1. The SET, with a key of a log the root names, valid at the integrated time.
    let log_id =
        hex::decode(rekor.payload.log_id.trim()).map_err(|_| invalid("Rekor log ID is not hex"))?;
    if !trust.knows_log(&log_id) {
        return Err(untrusted(format!(
            "logged in a transparency log ({}) that the trust root ({}) does not name",
            truncate(&rekor.payload.log_id),
            trust.description()
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if time <= 0 || time > now + 60 {
        return Err(invalid("Rekor integrated time is not a plausible time"));
    }
    let keys: Vec<_> = trust
        .trusted_root()
        .tlogs
        .iter()
        .filter(|l| l.log_id.key_id.as_bytes() == log_id.as_slice())
        .filter(|l| {
            l.public_key.valid_for.is_none_or(|r| {
                r.start.as_second() <= time && r.end.is_none_or(|e| time <= e.as_second())
            })
        })
        .map(|l| l.public_key.raw_bytes.clone())
        .collect();
    if keys.is_empty() {
        return Err(untrusted(
            "no key of that transparency log is valid at the entry's integrated time",
        ));
    }
    let body_b64 = rekor.payload.body.trim();
    if !body_b64
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Err(invalid("Rekor entry body is not base64"));
    }
    // The SET signs the canonical JSON (RFC 8785: sorted keys, no spaces) of these four fields;
    // all are base64, hex or integers, so no escaping applies.
    let canonical = format!(
        r#"{{"body":"{body_b64}","integratedTime":{time},"logID":"{}","logIndex":{}}}"#,
        hex::encode(&log_id),
        rekor.payload.log_index
    );
    let set = B64
        .decode(rekor.set.trim())
        .map_err(|_| invalid("Rekor SET is not base64"))?;
    let set = SignatureBytes::new(set);
    let set_ok = keys.iter().any(|k| {
        [
            SigningScheme::EcdsaP256Sha256,
            SigningScheme::EcdsaP384Sha384,
        ]
        .into_iter()
        .any(|s| verify_signature(k, canonical.as_bytes(), &set, s).is_ok())
    });
    if !set_ok {
        return Err(invalid(
            "the Rekor SET does not verify with the log's key (the entry was not logged as shown)",
        ));
    }
    // 2. The entry is about this statement and this certificate.
    let body: Body = B64
        .decode(body_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("Rekor entry body does not parse as an intoto entry"))?;
    if body.kind != "intoto" || body.api_version != "0.0.1" {
        return Err(invalid("Rekor entry is not an intoto 0.0.1 entry"));
    }
    let h = &body.spec.content.payload_hash;
    if h.algorithm != "sha256" || h.value != hex::encode(Sha256::digest(payload)) {
        return Err(invalid(
            "the Rekor entry is about another statement (payload hash differs)",
        ));
    }
    match &body.spec.content.hash {
        Some(h) if h.algorithm == "sha256" && h.value == hex::encode(Sha256::digest(envelope)) => {}
        Some(_) => {
            return Err(invalid(
                "the Rekor entry is about another envelope (envelope hash differs)",
            ))
        }
        None => return Err(invalid("the Rekor entry carries no envelope hash")),
    }
    let logged = B64
        .decode(body.spec.public_key.trim())
        .ok()
        .and_then(|pem| String::from_utf8(pem).ok())
        .and_then(|pem| DerCertificate::from_pem(first_pem_block(&pem)).ok())
        .ok_or_else(|| invalid("Rekor entry's public key is not a certificate"))?;
    if logged.as_bytes() != leaf.as_bytes() {
        return Err(invalid(
            "the Rekor entry names another certificate than the attestation's",
        ));
    }
    // 3. The chain, at the integrated time.
    let issuer_spki = chain(leaf, chain_pem, time, trust)?;
    if !(info.not_before.as_second() <= time && time <= info.not_after.as_second()) {
        return Err(untrusted(
            "the certificate was not valid when the entry was logged",
        ));
    }
    if trust.requires_sct() {
        sct::verify(leaf.as_bytes(), &issuer_spki, trust).map_err(untrusted)?;
    }
    // 4. The signature.
    let scheme = info.key_algorithm.default_signing_scheme();
    verify_signature(&info.public_key, &c.signed_bytes, &c.signature, scheme)
        .map_err(|_| invalid("DSSE signature does not verify with the certificate's key"))
}

/// The leaf chains to a Fulcio CA of the root valid at `time`, with the code-signing EKU; the
/// DER SubjectPublicKeyInfo of the certificate that issued it (for the SCT).
fn chain(
    leaf: &DerCertificate,
    chain_pem: Option<&str>,
    time: i64,
    trust: &TrustRoot,
) -> Result<Vec<u8>, Fail> {
    let anchors_der: Vec<CertificateDer<'static>> = trust
        .trusted_root()
        .certificate_authorities
        .iter()
        .filter(|ca| {
            ca.valid_for.is_none_or(|r| {
                r.start.as_second() <= time && r.end.is_none_or(|e| time <= e.as_second())
            })
        })
        .flat_map(|ca| ca.cert_chain.certificates.iter())
        .map(|c| CertificateDer::from(c.raw_bytes.as_bytes().to_vec()))
        .collect();
    let anchors: Vec<_> = anchors_der
        .iter()
        .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
        .collect();
    if anchors.is_empty() {
        return Err(untrusted(format!(
            "no certificate authority of the trust root ({}) was valid when the entry was logged",
            trust.description()
        )));
    }
    // Intermediates from the annotation are only path candidates: trust comes from the anchors.
    let intermediates: Vec<CertificateDer<'static>> = chain_pem
        .map(pem_blocks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| DerCertificate::from_pem(&p).ok())
        .map(|c| CertificateDer::from(c.as_bytes().to_vec()))
        .collect();
    let leaf_der = CertificateDer::from(leaf.as_bytes());
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|_| invalid("certificate does not parse"))?;
    let path = ee
        .verify_for_usage(
            sigstore_verify::crypto::WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(time as u64)),
            webpki::KeyUsage::required(ID_KP_CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| {
            untrusted(format!(
                "certificate does not chain to the trust root ({}) at the entry's time: {e}",
                trust.description()
            ))
        })?;
    // The leaf's direct issuer: the nearest intermediate, or the anchor itself (Fulcio's
    // intermediates are anchors in trusted roots), whose SPKI webpki keeps without its
    // SEQUENCE header.
    match path.intermediate_certificates().next() {
        Some(issuer) => Ok(issuer.subject_public_key_info().as_ref().to_vec()),
        None => {
            use x509_cert::der::{Any, Encode, Tag};
            Any::new(
                Tag::Sequence,
                path.anchor().subject_public_key_info.as_ref(),
            )
            .and_then(|a| a.to_der())
            .map_err(|_| invalid("cannot encode the issuer's key"))
        }
    }
}

/// The PEM certificate blocks of a concatenated PEM text (at most a few).
fn pem_blocks(pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    pem.split_inclusive(END)
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .take(8)
        .map(|b| b.trim().to_string())
        .collect()
}
