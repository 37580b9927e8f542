//! Legacy cosign signatures (`sha256-<hex>.sig` tag layers) into [`Candidate`]s.
//!
//! A legacy signature is converted to a Sigstore bundle v0.1 — the leaf certificate only (a
//! root inside the chain annotation must not become trusted by being passed along), the
//! signature over sha256(payload), and the Rekor SET as the inclusion promise — so the same
//! library verifies both formats. The simple-signing payload's
//! `critical.image.docker-manifest-digest` is the signature's claim about which image it signs;
//! Flux never compares it with the artifact digest, we do.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sigstore_verify::types::{Bundle, DerCertificate, SignatureBytes};

use super::candidate::{
    log_entry_of, Candidate, Claims, Material, SignedInput, Unreadable, SIMPLE_SIGNING_TYPE,
};
use super::evidence::SignatureFormat;
use crate::registry::{FoundLegacy, SignatureLocation};

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// The `dev.sigstore.cosign/bundle` annotation: Rekor's answer, with its SET.
#[derive(Deserialize)]
pub(crate) struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub set: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

/// The part of Rekor's answer its SET signs (canonical JSON of these four fields).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RekorPayload {
    pub body: String,
    pub integrated_time: i64,
    pub log_index: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// The `dev.sigstore.cosign/rfc3161timestamp` annotation.
#[derive(Deserialize)]
pub(crate) struct Rfc3161Annotation {
    #[serde(rename = "SignedRFC3161Timestamp")]
    pub signed: String,
}

/// The kind and version a Rekor entry body declares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryHeader {
    pub kind: String,
    pub api_version: String,
}

/// Converts a legacy signature found in the registry.
pub fn candidate(found: &FoundLegacy) -> Result<Candidate, Unreadable> {
    let bad = |detail: String| Unreadable {
        location: SignatureLocation::LegacyTag,
        format: SignatureFormat::Legacy,
        // Library and serde errors quote the registry's bytes: bounded (issue 9).
        detail: crate::registry::bounded::cap(detail),
    };
    let payload: SimpleSigning = serde_json::from_slice(&found.payload).map_err(|e| {
        bad(format!(
            "payload is not a cosign simple-signing document: {e}"
        ))
    })?;
    let signature = B64
        .decode(found.signature_b64.trim())
        .map_err(|_| bad("signature annotation is not base64".into()))?;
    let leaf = match &found.certificate_pem {
        Some(pem) if !pem.trim().is_empty() => Some(
            DerCertificate::from_pem(first_pem_block(pem))
                .map_err(|e| bad(format!("certificate annotation: {e}")))?,
        ),
        _ => None,
    };
    let material = match &leaf {
        Some(cert) => Material::Certificate(cert.clone()),
        None => Material::Key { hint: None },
    };
    let bundle = to_v01_bundle(found, leaf.as_ref(), &signature);
    let tlog = bundle.as_ref().ok().and_then(log_entry_of);
    let kind = if payload.critical.kind == SIMPLE_SIGNING_TYPE {
        Ok(())
    } else {
        Err(format!(
            "payload type {:?} is not {SIMPLE_SIGNING_TYPE:?}",
            payload.critical.kind
        ))
    };
    Ok(Candidate {
        location: SignatureLocation::LegacyTag,
        format: SignatureFormat::Legacy,
        material,
        bundle,
        input: SignedInput::Payload(found.payload.clone()),
        signed_bytes: found.payload.clone(),
        signature: SignatureBytes::new(signature),
        claims: Claims {
            digests: vec![payload.critical.image.digest],
            kind,
        },
        tlog,
    })
}

/// The first PEM block of a (possibly concatenated) PEM text.
pub(crate) fn first_pem_block(pem: &str) -> &str {
    const END: &str = "-----END CERTIFICATE-----";
    match pem.find(END) {
        Some(i) => &pem[..i + END.len()],
        None => pem,
    }
}

/// Builds the v0.1 bundle the library verifies; `Err` says why none can be built.
fn to_v01_bundle(
    found: &FoundLegacy,
    leaf: Option<&DerCertificate>,
    signature: &[u8],
) -> Result<Bundle, String> {
    let material = match leaf {
        Some(cert) => {
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(cert.as_bytes())}]}})
        }
        None => json!({"publicKey": {"hint": ""}}),
    };
    let mut tlog_entries = vec![];
    if let Some(annotation) = &found.rekor_bundle_json {
        tlog_entries.push(tlog_entry(annotation)?);
    }
    let mut timestamps = vec![];
    if let Some(annotation) = &found.rfc3161_timestamp_json {
        let ts: Rfc3161Annotation = serde_json::from_str(annotation)
            .map_err(|e| format!("RFC 3161 timestamp annotation: {e}"))?;
        timestamps.push(json!({"signedTimestamp": ts.signed}));
    }
    if tlog_entries.is_empty() {
        return Err("no transparency-log entry (Rekor bundle annotation): nothing proves when it was signed".into());
    }
    let mut verification_material = json!({"tlogEntries": tlog_entries});
    if let (Some(obj), Some(m)) = (verification_material.as_object_mut(), material.as_object()) {
        obj.extend(m.clone());
        if !timestamps.is_empty() {
            obj.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": timestamps}),
            );
        }
    }
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": verification_material,
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(&found.payload))},
            "signature": B64.encode(signature),
        },
    });
    Bundle::from_json(&bundle.to_string())
        .map_err(|e| format!("cannot form a bundle from the signature: {e}"))
}

/// Converts the cosign Rekor bundle annotation into a bundle tlog entry.
pub(crate) fn tlog_entry(annotation: &str) -> Result<serde_json::Value, String> {
    let rekor: RekorBundle = serde_json::from_str(annotation)
        .map_err(|e| format!("Rekor bundle annotation does not parse: {e}"))?;
    let body = B64
        .decode(rekor.payload.body.trim())
        .map_err(|_| "Rekor entry body is not base64".to_string())?;
    let header: EntryHeader = serde_json::from_slice(&body)
        .map_err(|e| format!("Rekor entry body does not parse: {e}"))?;
    let log_id = hex::decode(rekor.payload.log_id.trim())
        .map_err(|_| "Rekor log ID is not hex".to_string())?;
    Ok(json!({
        "logIndex": rekor.payload.log_index.to_string(),
        "logId": {"keyId": B64.encode(log_id)},
        "kindVersion": {"kind": header.kind, "version": header.api_version},
        "integratedTime": rekor.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": rekor.set},
        "canonicalizedBody": B64.encode(&body),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(payload: &str, sig: &str) -> FoundLegacy {
        FoundLegacy {
            layer_digest: String::new(),
            payload: payload.as_bytes().to_vec(),
            signature_b64: sig.into(),
            certificate_pem: None,
            chain_pem: None,
            rekor_bundle_json: None,
            rfc3161_timestamp_json: None,
        }
    }

    const PAYLOAD: &str = r#"{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"cosign container image signature"},"optional":null}"#;

    #[test]
    fn key_signature_without_log_still_converts_for_key_mode() {
        let c = candidate(&found(PAYLOAD, "AAAA")).unwrap();
        assert_eq!(c.claims.digests, ["sha256:aa"]);
        assert!(c.claims.kind.is_ok());
        assert!(matches!(c.material, Material::Key { .. }));
        assert!(c.bundle.unwrap_err().contains("no transparency-log entry"));
    }

    #[test]
    fn garbage_payload_is_unreadable_not_a_panic() {
        let err = candidate(&found("{not json", "AAAA")).unwrap_err();
        assert!(err.detail.contains("simple-signing"), "{}", err.detail);
    }

    #[test]
    fn garbage_signature_annotation_is_unreadable() {
        let err = candidate(&found(PAYLOAD, "%%% not base64")).unwrap_err();
        assert!(err.detail.contains("not base64"));
    }

    #[test]
    fn garbage_certificate_annotation_is_unreadable() {
        let mut f = found(PAYLOAD, "AAAA");
        f.certificate_pem =
            Some("-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n".into());
        // Parses as PEM but is no certificate: converted, and the judge rejects it.
        let c = candidate(&f);
        assert!(c.is_ok() || c.unwrap_err().detail.contains("certificate"));
        f.certificate_pem = Some("garbage".into());
        assert!(candidate(&f)
            .unwrap_err()
            .detail
            .contains("certificate annotation"));
    }

    #[test]
    fn garbage_rekor_bundle_leaves_no_bundle_with_a_reason() {
        let mut f = found(PAYLOAD, "AAAA");
        f.rekor_bundle_json = Some("{}".into());
        let c = candidate(&f).unwrap();
        assert!(c.bundle.unwrap_err().contains("Rekor bundle annotation"));
    }

    #[test]
    fn other_payload_types_are_flagged() {
        let p = PAYLOAD.replace("cosign container image signature", "something else");
        let c = candidate(&found(&p, "AAAA")).unwrap();
        assert!(c.claims.kind.is_err());
    }
}
