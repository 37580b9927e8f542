//! Attestations made uniform: a bundle attestation or a legacy `.att` layer into the same
//! [`Candidate`] signatures use (so one judge checks key, certificate, log and identity), plus
//! the statement itself for the predicate and CEL.
//!
//! A legacy layer becomes a Sigstore bundle v0.1 with its DSSE envelope as content, like a
//! legacy signature: leaf certificate only, the Rekor SET as inclusion promise. cosign logged
//! attestations as Rekor `dsse` 0.0.1 since v2.2.3, which the library verifies; older ones are
//! `intoto` 0.0.1, which it cannot represent: those carry their entry to [`super::intoto`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore_verify::types::{Bundle, DerCertificate, SignatureBytes, SignatureContent};

use crate::engine::bundle::{attestation_candidate, IN_TOTO_PAYLOAD_TYPE};
use crate::engine::candidate::{log_entry_of, Candidate, Claims, Material, SignedInput};
use crate::engine::evidence::SignatureFormat;
use crate::engine::legacy::{
    first_pem_block, tlog_entry, EntryHeader, RekorBundle, Rfc3161Annotation,
};
use crate::registry::bounded::{cap, json_error};
use crate::registry::{FoundBundle, FoundLegacyAttestation, SignatureLocation};

/// An attestation ready to judge.
pub(crate) struct Converted {
    /// The signature, as signatures are judged.
    pub candidate: Candidate,
    /// The in-toto statement (signed content; trusted only once the signature verifies).
    pub statement: Value,
    /// The statement's exact bytes (the DSSE payload).
    pub payload: Vec<u8>,
    /// A Rekor `intoto` 0.0.1 entry, verified by hand ([`super::intoto`]).
    pub intoto: Option<RekorBundle>,
    /// The same statement under the envelope's other signatures (at most
    /// [`MAX_DSSE_SIGNATURES`] in all), tried in key mode when the first does not verify.
    pub others: Vec<Candidate>,
    /// How many signatures the envelope has (all of them, tried or not).
    pub signatures: usize,
    /// The legacy layer's envelope bytes as stored (a Rekor `intoto` entry's `hash` is theirs).
    pub envelope: Vec<u8>,
}

/// Signatures of one DSSE envelope tried against the policy's keys: any may be the policy
/// key's (`[another key's, the policy key's]`), but a hostile envelope's list is not worth
/// unbounded work.
pub(crate) const MAX_DSSE_SIGNATURES: usize = 8;

/// Why an attestation cannot be judged at all.
pub(crate) enum NotJudged {
    /// A DSSE envelope without a signature: `Unsigned`.
    Unsigned(String),
    /// Not readable as a signed statement: `SignatureInvalid`.
    Unreadable(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
    #[serde(default)]
    keyid: Option<String>,
}

/// The subject digests (`sha256:<hex>`) a statement names.
pub(crate) fn subject_digests(statement: &Value) -> Vec<String> {
    statement
        .get("subject")
        .and_then(Value::as_array)
        .map(|subjects| {
            subjects
                .iter()
                .filter_map(|s| s.pointer("/digest/sha256")?.as_str())
                .map(|h| format!("sha256:{}", h.to_ascii_lowercase()))
                .collect()
        })
        .unwrap_or_default()
}

fn statement_of(payload: &[u8]) -> Result<Value, NotJudged> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| {
        NotJudged::Unreadable(format!(
            "in-toto statement does not parse: {}",
            json_error(&e)
        ))
    })?;
    if !v.is_object() || !v.get("predicateType").is_some_and(Value::is_string) {
        return Err(NotJudged::Unreadable(
            "in-toto statement has no predicateType".into(),
        ));
    }
    Ok(v)
}

/// A bundle attestation.
pub(crate) fn bundle(found: &FoundBundle) -> Result<Converted, NotJudged> {
    let candidate = match attestation_candidate(found) {
        Ok(c) => c,
        Err(u) => {
            // The library refuses an envelope without exactly one signature; say which.
            if bundle_has_no_signature(&found.bytes) {
                return Err(NotJudged::Unsigned(
                    "DSSE envelope without a signature".into(),
                ));
            }
            return Err(NotJudged::Unreadable(u.detail));
        }
    };
    let payload = match &candidate.bundle {
        Ok(b) => match &b.content {
            SignatureContent::DsseEnvelope(e) => e.payload.as_bytes().to_vec(),
            _ => return Err(NotJudged::Unreadable("not a DSSE bundle".into())),
        },
        Err(why) => return Err(NotJudged::Unreadable(why.clone())),
    };
    Ok(Converted {
        candidate,
        statement: statement_of(&payload)?,
        payload,
        intoto: None,
        others: vec![],
        signatures: 1,
        envelope: vec![],
    })
}

fn bundle_has_no_signature(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| {
        v.pointer("/dsseEnvelope/signatures")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    })
}

/// A legacy `.att` layer.
pub(crate) fn legacy(found: &FoundLegacyAttestation) -> Result<Converted, NotJudged> {
    let bad = |d: String| NotJudged::Unreadable(cap(d));
    let envelope: Envelope = serde_json::from_slice(&found.envelope)
        .map_err(|e| bad(format!("DSSE envelope does not parse: {}", json_error(&e))))?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(bad(format!(
            "DSSE payload type {:?} is not an in-toto statement",
            crate::registry::bounded::truncate(&envelope.payload_type)
        )));
    }
    let payload = B64
        .decode(envelope.payload.trim())
        .map_err(|_| bad("DSSE payload is not base64".into()))?;
    let statement = statement_of(&payload)?;
    if envelope.signatures.is_empty() {
        return Err(NotJudged::Unsigned(
            "DSSE envelope without a signature".into(),
        ));
    }
    let leaf = match &found.certificate_pem {
        Some(pem) if !pem.trim().is_empty() => Some(
            DerCertificate::from_pem(first_pem_block(pem))
                .map_err(|e| bad(format!("certificate annotation: {e}")))?,
        ),
        _ => None,
    };
    let is_intoto = matches!(log_kind(found), Some((k, v)) if k == "intoto" && v == "0.0.1");
    let intoto: Option<RekorBundle> = is_intoto
        .then_some(found.rekor_bundle_json.as_deref())
        .flatten()
        .and_then(|a| serde_json::from_str(a).ok());
    let claims = Claims {
        digests: subject_digests(&statement),
        kind: Ok(()),
    };
    let candidate_for = |sig: &EnvelopeSignature| -> Result<Candidate, NotJudged> {
        let signature = B64
            .decode(sig.sig.trim())
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("DSSE signature is not base64".into()))?;
        let material = match &leaf {
            Some(cert) => Material::Certificate(cert.clone()),
            None => Material::Key { hint: None },
        };
        let bundle = if is_intoto {
            Err("logged as a Rekor intoto 0.0.1 entry (checked without a bundle)".into())
        } else {
            to_v01_bundle(found, &envelope, sig, leaf.as_ref())
        };
        let tlog = match (&bundle, &intoto) {
            (Ok(b), _) => log_entry_of(b),
            (Err(_), Some(r)) => Some(crate::engine::evidence::LogEntry {
                log_index: u64::try_from(r.payload.log_index).unwrap_or(0),
                integrated_time: Some(r.payload.integrated_time.to_string()),
            }),
            _ => None,
        };
        Ok(Candidate {
            location: SignatureLocation::LegacyAttestationTag,
            format: SignatureFormat::Legacy,
            material,
            bundle,
            input: SignedInput::ArtifactDigest,
            signed_bytes: sigstore_verify::types::pae(&envelope.payload_type, &payload),
            signature: SignatureBytes::new(signature),
            claims: claims.clone(),
            tlog,
        })
    };
    let mut tried = envelope.signatures.iter().take(MAX_DSSE_SIGNATURES);
    let Some(first) = tried.next() else {
        return Err(NotJudged::Unsigned(
            "DSSE envelope without a signature".into(),
        ));
    };
    let candidate = candidate_for(first)?;
    // Another signature that is not even base64 is left out: it could not verify anyway.
    let others = tried.filter_map(|s| candidate_for(s).ok()).collect();
    Ok(Converted {
        candidate,
        statement,
        payload,
        intoto,
        others,
        signatures: envelope.signatures.len(),
        envelope: found.envelope.clone(),
    })
}

/// The kind and version of the layer's Rekor entry, if it has a readable one.
fn log_kind(found: &FoundLegacyAttestation) -> Option<(String, String)> {
    let rekor: RekorBundle = serde_json::from_str(found.rekor_bundle_json.as_deref()?).ok()?;
    let body = B64.decode(rekor.payload.body.trim()).ok()?;
    let h: EntryHeader = serde_json::from_slice(&body).ok()?;
    Some((h.kind, h.api_version))
}

/// The v0.1 bundle the library verifies; `Err` says why none can be built.
fn to_v01_bundle(
    found: &FoundLegacyAttestation,
    envelope: &Envelope,
    signature: &EnvelopeSignature,
    leaf: Option<&DerCertificate>,
) -> Result<Bundle, String> {
    let annotation = found.rekor_bundle_json.as_deref().ok_or_else(|| {
        "no transparency-log entry (Rekor bundle annotation): nothing proves when it was signed"
            .to_string()
    })?;
    let material = match leaf {
        Some(cert) => {
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(cert.as_bytes())}]}})
        }
        None => json!({"publicKey": {"hint": ""}}),
    };
    let mut verification_material = json!({"tlogEntries": [tlog_entry(annotation)?]});
    if let (Some(obj), Some(m)) = (verification_material.as_object_mut(), material.as_object()) {
        obj.extend(m.clone());
        // A timestamp authority's answer, when cosign had one: the library requires it to verify.
        if let Some(ts) = &found.rfc3161_timestamp_json {
            let ts: Rfc3161Annotation = serde_json::from_str(ts)
                .map_err(|e| format!("RFC 3161 timestamp annotation: {}", json_error(&e)))?;
            obj.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": [{"signedTimestamp": ts.signed}]}),
            );
        }
    }
    let mut sig = json!({"sig": signature.sig.trim()});
    if let Some(k) = signature.keyid.as_deref().filter(|k| !k.is_empty()) {
        sig["keyid"] = json!(k);
    }
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": verification_material,
        "dsseEnvelope": {
            "payloadType": envelope.payload_type,
            "payload": envelope.payload.trim(),
            "signatures": [sig],
        },
    });
    Bundle::from_json(&bundle.to_string())
        .map_err(|e| cap(format!("cannot form a bundle from the attestation: {e}")))
}
