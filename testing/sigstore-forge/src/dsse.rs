//! cosign v3 signatures: a Sigstore bundle v0.3 holding a DSSE envelope with an in-toto
//! statement about the image digest, and a Rekor `dsse` 0.0.1 entry with SET and inclusion proof.

use crate::ca::{Leaf, PrivateSigstore};
use crate::tlog::LogEntry;
use crate::{b64, Result, SignOptions};
use rcgen::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The DSSE payload type cosign v3 uses (and sigstore-verify requires).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of a cosign v3 image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Media type of a v0.3 bundle (also the referrer's artifactType).
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A cosign v3 signature bundle.
#[derive(Debug, Clone)]
pub struct SignedBundle {
    /// The bundle JSON (`application/vnd.dev.sigstore.bundle.v0.3+json`).
    pub json: String,
    /// The in-toto statement inside the envelope.
    pub statement: Vec<u8>,
    /// Its predicate type (the referrer manifest carries it as an annotation).
    pub predicate_type: String,
    /// The Rekor entry.
    pub entry: LogEntry,
}

/// DSSE pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The in-toto statement cosign v3 signs: one subject with only the digest (cosign v3.1 writes
/// no `name`) and empty annotations, the predicate (empty for a signature).
fn statement(
    name: Option<&str>,
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Result<Vec<u8>> {
    let hex_digest = hex::encode(crate::parse_digest(digest)?);
    let mut subject = json!({"digest": {"sha256": hex_digest}, "annotations": {}});
    if let Some(name) = name {
        subject["name"] = name.into();
    }
    let value = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": predicate_type,
        "predicate": predicate
    });
    Ok(serde_json::to_vec(&value)?)
}

impl PrivateSigstore {
    /// Signs `digest` (`sha256:<hex>`) as cosign v3 does: DSSE over an in-toto statement
    /// (predicate [`COSIGN_SIGN_PREDICATE`]), logged as a Rekor `dsse` 0.0.1 entry.
    pub fn sign_bundle(
        &self,
        leaf: &Leaf,
        digest: &str,
        opts: &SignOptions,
    ) -> Result<SignedBundle> {
        crate::parse_digest(digest)?;
        let predicate_type = opts
            .predicate_type
            .clone()
            .unwrap_or_else(|| COSIGN_SIGN_PREDICATE.to_string());
        let name = opts.subject_name.as_deref();
        let empty = json!({});
        let predicate = opts.predicate.as_ref().unwrap_or(&empty);
        let signed_digest = opts.signed_digest.as_deref().unwrap_or(digest);
        let signed_statement = statement(name, signed_digest, &predicate_type, predicate)?;
        let signature = leaf
            .key
            .sign(&pae(IN_TOTO_PAYLOAD_TYPE, &signed_statement))?;
        let envelope = json!({
            "payload": b64(&signed_statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": b64(&signature)}]
        });
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(serde_json::to_vec(&envelope)?))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&signed_statement))},
                "signatures": [{"signature": b64(&signature), "verifier": b64(&leaf.cert_pem)}]
            }
        });
        let entry = self.log_entry("dsse", &body, opts)?;
        let statement = match &opts.swap_payload_digest {
            Some(other) => statement(name, other, &predicate_type, predicate)?,
            None => signed_statement,
        };
        let bundle = json!({
            "mediaType": BUNDLE_V03_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": b64(&leaf.cert_der)},
                "tlogEntries": [entry.bundle_json(true)],
                "timestampVerificationData": {}
            },
            "dsseEnvelope": {
                "payload": b64(&statement),
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": b64(&signature)}]
            }
        });
        Ok(SignedBundle {
            json: serde_json::to_string(&bundle)?,
            statement,
            predicate_type,
            entry,
        })
    }

    /// An attestation as `cosign attest` (v3, bundle format) and `actions/attest-build-provenance`
    /// write it: [`Self::sign_bundle`] with `predicate_type` and `predicate` as the statement's;
    /// `opts` still makes the forgeries (another digest, a swapped payload, …).
    pub fn attest(
        &self,
        leaf: &Leaf,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
        opts: &SignOptions,
    ) -> Result<SignedBundle> {
        let opts = SignOptions {
            predicate_type: Some(predicate_type.to_string()),
            predicate: Some(predicate.clone()),
            ..opts.clone()
        };
        self.sign_bundle(leaf, digest, &opts)
    }
}

/// A plain, unsigned attestation in bundle shape: the in-toto statement about `digest` in a
/// DSSE envelope with no signature, and no verification material (no certificate, no key, no
/// log entry). What anyone with push access can write: it must never count as attested.
pub fn unsigned_bundle_json(
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Result<String> {
    let statement = statement(None, digest, predicate_type, predicate)?;
    let bundle = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {"tlogEntries": [], "timestampVerificationData": {}},
        "dsseEnvelope": {
            "payload": b64(&statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": []
        }
    });
    Ok(serde_json::to_string(&bundle)?)
}
