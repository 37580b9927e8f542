//! The few OCI / Docker manifest shapes discovery reads, parsed leniently where one bad field
//! should only spoil one signature (annotations), strictly where the structure itself is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::bounded::{json_error, truncate};

/// OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (also the referrers API response type).
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header for manifest reads: every manifest kind Flux artifacts and cosign use.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The artifact type of a Notary Project signature manifest (read in `super::notation`; here so
/// that what discovery remembers of a referrers listing can name it without depending on the
/// reader).
pub const NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// True for the media types Sigstore bundles are published under: the current
/// `application/vnd.dev.sigstore.bundle.v0.3+json` and the older
/// `application/vnd.dev.sigstore.bundle+json;version=0.x` form.
pub fn is_sigstore_bundle_media_type(media_type: &str) -> bool {
    let m: String = media_type.chars().filter(|c| !c.is_whitespace()).collect();
    let m = m.to_ascii_lowercase();
    if let Some(rest) = m.strip_prefix("application/vnd.dev.sigstore.bundle+json;version=0.") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    }
    if let Some(rest) = m
        .strip_prefix("application/vnd.dev.sigstore.bundle.v0.")
        .and_then(|r| r.strip_suffix("+json"))
    {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    }
    false
}

/// A content descriptor (manifest layer, config or index entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: String,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Values kept as JSON so a non-string annotation spoils one signature, not the manifest.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, serde_json::Value>>,
}

impl Descriptor {
    /// The annotation's value if it is present and a string.
    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key)?.as_str()
    }
}

/// An image manifest (OCI or Docker schema 2): only the parts discovery needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ImageManifest {
    pub layers: Vec<Descriptor>,
}

/// An image index / manifest list (and the referrers API response).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ImageIndex {
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kind {
    #[serde(default)]
    media_type: Option<serde_json::Value>,
}

/// Refuses documents that declare themselves to be another kind, before their fields are read
/// (so the error says "wrong kind" rather than "missing field").
fn check_kind(bytes: &[u8], allowed: [&str; 2], expected: &str) -> Result<(), String> {
    let kind: Kind =
        serde_json::from_slice(bytes).map_err(|e| format!("not {expected}: {}", json_error(&e)))?;
    match kind.media_type {
        None => Ok(()),
        Some(serde_json::Value::String(m)) if allowed.contains(&m.as_str()) => Ok(()),
        Some(other) => Err(format!(
            "expected {expected}, got media type {}",
            truncate(&other.to_string())
        )),
    }
}

/// Parses an index (OCI index or Docker manifest list).
pub(crate) fn parse_index(bytes: &[u8]) -> Result<ImageIndex, String> {
    check_kind(
        bytes,
        [OCI_INDEX, DOCKER_MANIFEST_LIST],
        "an OCI image index",
    )?;
    serde_json::from_slice(bytes).map_err(|e| format!("not an OCI image index: {}", json_error(&e)))
}

/// Parses an image manifest (OCI or Docker schema 2).
pub(crate) fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, String> {
    check_kind(bytes, [OCI_MANIFEST, DOCKER_MANIFEST], "an image manifest")?;
    serde_json::from_slice(bytes).map_err(|e| format!("not an image manifest: {}", json_error(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_bundle_media_types_only() {
        for ok in [
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.dev.sigstore.bundle+json;version=0.3",
            "application/vnd.dev.sigstore.bundle+json; version=0.2",
        ] {
            assert!(is_sigstore_bundle_media_type(ok), "{ok}");
        }
        for no in [
            "application/vnd.dev.sigstore.bundle.v0.+json",
            "application/vnd.dev.sigstore.bundle+json;version=1.0",
            "application/vnd.in-toto+json",
            "application/spdx+json",
            "",
        ] {
            assert!(!is_sigstore_bundle_media_type(no), "{no}");
        }
    }

    #[test]
    fn parsers_reject_the_wrong_document_kind() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(parse_index(idx).is_ok());
        assert!(parse_manifest(idx).is_err());
        let man = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"digest":"sha256:00","annotations":{"n":1,"s":"v"}}]}"#;
        let m = parse_manifest(man).unwrap();
        assert_eq!(m.layers[0].annotation("s"), Some("v"));
        assert_eq!(m.layers[0].annotation("n"), None);
        assert!(parse_index(man).is_err());
        assert!(parse_index(b"garbage").is_err());
    }
}
