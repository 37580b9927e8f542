//! Test keys and statements: a P-256 key that signs DSSE envelopes, cosign payloads and bundles
//! the way cosign does, for tests that need signatures by a key other than the policy's.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::json;

use crate::engine::bundle::IN_TOTO_PAYLOAD_TYPE;
use crate::engine::policy::PublicKey;
use crate::registry::FoundLegacyAttestation;

/// The artifact digest the tests audit.
pub const DIGEST: &str = "sha256:5b146084201148bf151871fa779767f013c47706d031106af0d727fb5b88f5ac";

/// A throwaway ECDSA P-256 key.
pub struct Key(EcdsaKeyPair);

impl Key {
    /// A new random key.
    pub fn new() -> Self {
        Self(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
    }

    /// The DER SubjectPublicKeyInfo: a bare public key.
    pub fn spki(&self) -> Vec<u8> {
        self.0.public_key().as_der().unwrap().as_ref().to_vec()
    }

    /// The PEM `PUBLIC KEY` block, as `cosign generate-key-pair` writes it.
    pub fn pem(&self) -> String {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            B64.encode(self.spki())
        )
    }

    /// The key as a policy names it.
    pub fn public(&self, name: &str) -> PublicKey {
        PublicKey::from_pem(name, self.pem().as_bytes()).unwrap()
    }

    /// A signature of `bytes` (base64).
    pub fn sign_raw(&self, bytes: &[u8]) -> String {
        B64.encode(self.0.sign(&SystemRandom::new(), bytes).unwrap().as_ref())
    }

    /// A DSSE signature of an in-toto `payload` (base64), over its PAE.
    pub fn sign(&self, payload: &[u8]) -> String {
        self.sign_raw(&sigstore_verify::types::pae(IN_TOTO_PAYLOAD_TYPE, payload))
    }
}

/// An in-toto statement of `predicate_type` about `digest`.
pub fn statement_of(digest: &str, predicate_type: &str) -> Vec<u8> {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": {"buildDefinition": {"buildType": "test"}},
    })
    .to_string()
    .into_bytes()
}

/// SLSA provenance v1 about `digest`.
pub fn statement(digest: &str) -> Vec<u8> {
    statement_of(digest, "https://slsa.dev/provenance/v1")
}

/// A legacy `.att` layer: `payload` under `signatures` (base64 DSSE signatures), with the
/// certificate annotation given.
pub fn att_layer(
    payload: &[u8],
    signatures: &[String],
    certificate_pem: Option<String>,
) -> FoundLegacyAttestation {
    let envelope = json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": B64.encode(payload),
        "signatures": signatures.iter().map(|s| json!({"keyid": "", "sig": s})).collect::<Vec<_>>(),
    });
    FoundLegacyAttestation {
        layer_digest: "sha256:00".into(),
        envelope: envelope.to_string().into_bytes(),
        certificate_pem,
        chain_pem: None,
        rekor_bundle_json: None,
        rfc3161_timestamp_json: None,
        predicate_type_hint: None,
    }
}
