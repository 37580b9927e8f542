//! Legacy cosign signatures: the content of one layer of a `sha256-<hex>.sig` manifest, and its
//! conversion to the v0.1 Sigstore bundle a verifier builds from it.

use crate::ca::{Leaf, PrivateSigstore};
use crate::tlog::LogEntry;
use crate::{b64, Result, SignOptions};
use rcgen::SigningKey;
use serde_json::json;
use sha2::{Digest, Sha256};

/// What a cosign legacy `.sig` layer holds.
#[derive(Debug, Clone)]
pub struct LegacySignature {
    /// The layer blob: simple-signing JSON.
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`: base64 DER ECDSA over `payload`.
    pub signature_b64: String,
    /// `dev.sigstore.cosign/certificate`: the leaf, PEM.
    pub cert_pem: String,
    /// `dev.sigstore.cosign/chain`: intermediate + root, PEM.
    pub chain_pem: String,
    /// `dev.sigstore.cosign/bundle`: the Rekor SET and entry.
    pub bundle_annotation: String,
    /// The Rekor entry behind the annotation.
    pub entry: LogEntry,
    /// The leaf, DER.
    pub cert_der: Vec<u8>,
}

/// cosign's simple-signing payload, byte for byte as cosign writes it.
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{docker_reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

impl PrivateSigstore {
    /// Signs `digest` (`sha256:<hex>`) of `docker_reference` (`HOST/REPO`) as cosign's legacy
    /// format does, with a hashedrekord 0.0.1 entry in this instance's Rekor.
    pub fn sign_legacy(
        &self,
        leaf: &Leaf,
        docker_reference: &str,
        digest: &str,
        opts: &SignOptions,
    ) -> Result<LegacySignature> {
        crate::parse_digest(digest)?;
        let signed_digest = opts.signed_digest.as_deref().unwrap_or(digest);
        let signed_payload = simple_signing_payload(docker_reference, signed_digest);
        let signature = leaf.key.sign(&signed_payload)?;
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&signed_payload))}},
                "signature": {"content": b64(&signature), "publicKey": {"content": b64(&leaf.cert_pem)}}
            }
        });
        let entry = self.log_entry("hashedrekord", &body, opts)?;
        let payload = match &opts.swap_payload_digest {
            Some(other) => simple_signing_payload(docker_reference, other),
            None => signed_payload,
        };
        Ok(LegacySignature {
            payload,
            signature_b64: b64(&signature),
            cert_pem: leaf.cert_pem.clone(),
            chain_pem: leaf.chain_pem.clone(),
            bundle_annotation: entry.cosign_annotation(),
            entry,
            cert_der: leaf.cert_der.clone(),
        })
    }
}

impl LegacySignature {
    /// Reads a `.sig` layer back: its blob and its annotations (as in the manifest). Useful to
    /// check what a registry holds, e.g. with [`Self::to_v01_bundle_json`].
    pub fn from_layer(payload: Vec<u8>, annotations: &serde_json::Value) -> Result<Self> {
        use base64::Engine;
        let text = |key: &str| -> Result<String> {
            Ok(annotations[key]
                .as_str()
                .ok_or_else(|| format!("layer has no {key} annotation"))?
                .to_string())
        };
        let b64d = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
        let cert_pem = text("dev.sigstore.cosign/certificate")?;
        let bundle_annotation = text("dev.sigstore.cosign/bundle")?;
        let rekor: serde_json::Value = serde_json::from_str(&bundle_annotation)?;
        let field = |key: &str| rekor["Payload"][key].clone();
        let entry = LogEntry {
            kind: "hashedrekord".into(),
            version: "0.0.1".into(),
            body: b64d(field("body").as_str().ok_or("bundle annotation: no body")?)?,
            integrated_time: field("integratedTime")
                .as_i64()
                .ok_or("bundle annotation: no integratedTime")?,
            log_index: field("logIndex")
                .as_i64()
                .ok_or("bundle annotation: no logIndex")?,
            log_id: hex::decode(
                field("logID")
                    .as_str()
                    .ok_or("bundle annotation: no logID")?,
            )?
            .try_into()
            .map_err(|_| "bundle annotation: logID is not 32 bytes")?,
            set: b64d(
                rekor["SignedEntryTimestamp"]
                    .as_str()
                    .ok_or("bundle annotation: no SET")?,
            )?,
            // Not carried by the annotation: the legacy format has no inclusion proof.
            root_hash: [0; 32],
            checkpoint: String::new(),
        };
        Ok(Self {
            payload,
            signature_b64: text("dev.cosignproject.cosign/signature")?,
            cert_der: pem::parse(&cert_pem)?.into_contents(),
            cert_pem,
            chain_pem: text("dev.sigstore.cosign/chain").unwrap_or_default(),
            bundle_annotation,
            entry,
        })
    }

    /// The v0.1 bundle (`application/vnd.dev.sigstore.bundle+json;version=0.1`) a verifier builds
    /// from the layer: leaf only, message signature over SHA-256(payload), the hashedrekord entry
    /// with the SET as inclusion promise. Verify it against the payload bytes.
    pub fn to_v01_bundle_json(&self) -> String {
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": {
                "x509CertificateChain": {"certificates": [{"rawBytes": b64(&self.cert_der)}]},
                "tlogEntries": [self.entry.bundle_json(false)],
                "timestampVerificationData": {"rfc3161Timestamps": []}
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(Sha256::digest(&self.payload))},
                "signature": self.signature_b64
            }
        });
        serde_json::to_string(&bundle).expect("JSON values serialize")
    }
}
