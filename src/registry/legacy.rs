//! The legacy cosign signature layout: tag `sha256-<hex>.sig`, one layer per signature, the
//! layer blob being the "simple signing" payload and the signature material in annotations.
//!
//! Payload blobs are content-addressed, so when the payload cosign would have written for this
//! artifact hashes to the layer digest, those bytes *are* the blob and need not be fetched.

use base64::Engine as _;

use super::bounded::truncate;
use super::budget::Budget;
use super::client::{sha256_digest, RegistryClient};
use super::discovery::{unread_or_fail, Item, Read};
use super::found::FoundLegacy;
use super::manifest::Descriptor;
use super::reference::is_sha256_digest;

const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
const ANN_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// The simple-signing payload cosign signs for `registry/repository@digest`, byte for byte as
/// Go's `json.Marshal` writes cosign's `payload.SimpleContainerImage` with no annotations.
pub fn simple_signing_payload(registry: &str, repository: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":"cosign container image signature"}},"optional":null}}"#,
        go_json_string(&format!("{registry}/{repository}")),
        go_json_string(digest),
    )
    .into_bytes()
}

/// A JSON string literal escaped like Go's encoding/json (which also escapes `<`, `>`, `&`,
/// U+2028 and U+2029), so hashes of reconstructed payloads match what cosign wrote.
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl RegistryClient {
    /// Turns one `.sig` manifest layer into a signature, a malformed-signature record (the
    /// layer's own content is not a usable signature) or an unread one (its payload could not be
    /// read as its digest promises). Only failures to *reach* the registry are errors.
    pub(crate) async fn read_legacy_layer(
        &self,
        registry: &str,
        repository: &str,
        artifact_digest: &str,
        layer: &Descriptor,
        budget: &Budget,
    ) -> Item<FoundLegacy> {
        if !is_sha256_digest(&layer.digest) {
            return Ok(Read::Malformed(format!(
                "layer digest {:?} is not a sha256 digest",
                truncate(&layer.digest)
            )));
        }
        let Some(signature_b64) = layer.annotation(ANN_SIGNATURE) else {
            return Ok(Read::Malformed(format!(
                "layer {} has no {ANN_SIGNATURE} annotation",
                layer.digest
            )));
        };
        if base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_or(true, |s| s.is_empty())
        {
            return Ok(Read::Malformed(format!(
                "layer {}: {ANN_SIGNATURE} is not base64",
                layer.digest
            )));
        }
        let expected = simple_signing_payload(registry, repository, artifact_digest);
        let payload = if sha256_digest(&expected) == layer.digest {
            expected
        } else {
            match self
                .get_blob(registry, repository, &layer.digest, layer.size, budget)
                .await
            {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Ok(Read::Unread(format!(
                        "payload blob {} is listed but missing (HTTP 404)",
                        layer.digest
                    )))
                }
                Err(e) => return unread_or_fail(e),
            }
        };
        let text = |k: &str| layer.annotation(k).map(str::to_string);
        Ok(Read::Found(FoundLegacy {
            layer_digest: layer.digest.clone(),
            payload,
            signature_b64: signature_b64.to_string(),
            certificate_pem: text(ANN_CERTIFICATE),
            chain_pem: text(ANN_CHAIN),
            rekor_bundle_json: text(ANN_BUNDLE),
            rfc3161_timestamp_json: text(ANN_RFC3161),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:3b6c1d0f2e0a2c8c1f5a8a0a4f7ad1b8cbbd6a2f6c5c1a9e9f0c9a7d1e2f3a4b";

    #[test]
    fn payload_matches_gos_json_marshal_layout() {
        let p = simple_signing_payload("127.0.0.1:5000", "flux/app", D);
        let expected = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"127.0.0.1:5000/flux/app\"}},\"image\":{{\"docker-manifest-digest\":\"{D}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
        );
        assert_eq!(String::from_utf8(p.clone()).unwrap(), expected);
        // And it is what serde would read back: the same structure.
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["critical"]["image"]["docker-manifest-digest"], D);
        assert!(v["optional"].is_null());
    }

    #[test]
    fn go_escaping_of_html_characters() {
        assert_eq!(
            go_json_string("a<b>&\"\\\n\u{1}\u{2028}"),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\u2028\""
        );
    }
}
