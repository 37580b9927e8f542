//! Telling a bundle attestation from a bundle signature: both are DSSE in-toto statements in
//! the same referrers list, and only the statement's (signed) predicate type tells them apart.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;

/// The predicate type of a cosign image signature (a bundle with it is a signature).
const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleShape {
    dsse_envelope: Option<EnvelopeShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeShape {
    payload: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementShape {
    predicate_type: String,
}

/// True when a bundle (bytes as fetched) holds a DSSE in-toto statement whose predicate type
/// is not a cosign image signature: an attestation. Anything else — a message signature, a
/// cosign signature statement, or bytes that do not parse this far — stays a signature
/// candidate and is judged (and, if broken, reported) as one, as before attestations existed.
///
/// The predicate type read here is signed content (the DSSE payload), so which judge sees a
/// bundle is decided by what its signer wrote, not by a manifest annotation anyone could set.
pub(crate) fn is_attestation_bundle(bytes: &[u8]) -> bool {
    let Ok(shape) = serde_json::from_slice::<BundleShape>(bytes) else {
        return false;
    };
    let Some(envelope) = shape.dsse_envelope else {
        return false;
    };
    let Ok(payload) = B64.decode(envelope.payload.trim()) else {
        return false;
    };
    serde_json::from_slice::<StatementShape>(&payload)
        .is_ok_and(|s| s.predicate_type != COSIGN_SIGN_PREDICATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(statement: &str) -> Vec<u8> {
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
                             "payload": B64.encode(statement), "signatures": []}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_sbom_statement_is_an_attestation_and_a_cosign_signature_is_not() {
        assert!(is_attestation_bundle(&bundle_with(
            r#"{"predicateType":"https://spdx.dev/Document","subject":[]}"#
        )));
        assert!(!is_attestation_bundle(&bundle_with(
            r#"{"predicateType":"https://sigstore.dev/cosign/sign/v1","subject":[]}"#
        )));
    }

    #[test]
    fn anything_unreadable_stays_a_signature_candidate() {
        for bytes in [
            b"not json".to_vec(),
            br#"{"messageSignature":{}}"#.to_vec(),
            br#"{"dsseEnvelope":{"payload":"%%%"}}"#.to_vec(),
            bundle_with("not a statement"),
            bundle_with(r#"{"predicateType":7}"#),
        ] {
            assert!(!is_attestation_bundle(&bytes));
        }
    }
}
