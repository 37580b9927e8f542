//! Writing to a plain-HTTP registry on 127.0.0.1 exactly as Flux and cosign lay things out:
//! Flux OCI artifacts, cosign legacy `.sig` signatures, and cosign v3 bundles attached as OCI
//! 1.1 referrers through the `sha256-<hex>` tag fallback (for registries without the referrers
//! API, which is what cosign and Flux then read).
//!
//! References are `HOST/REPO` (+ `:TAG` for [`push_artifact`]); HOST is `127.0.0.1:<port>`.

use crate::{sha256_digest, LegacySignature, Result, SignedBundle};
use serde_json::{json, Value};
use std::path::Path;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const BUNDLE_V03: &str = crate::dsse::BUNDLE_V03_MEDIA_TYPE;

/// An HTTP agent that reports every status instead of turning 4xx/5xx into errors.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}

/// Annotations of a Flux artifact.
#[derive(Debug, Clone)]
pub struct ArtifactMeta {
    /// `org.opencontainers.image.source`.
    pub source: String,
    /// `org.opencontainers.image.revision`, e.g. `main@sha1:<hex>`.
    pub revision: String,
    /// `org.opencontainers.image.created`, RFC 3339.
    pub created: String,
}

impl Default for ArtifactMeta {
    fn default() -> Self {
        Self {
            source: "https://github.com/example/app".into(),
            revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }
}

/// `HOST/REPO[:TAG]` → (`HOST`, `REPO`, tag).
fn split(reference: &str) -> Result<(&str, &str, Option<&str>)> {
    let (host, rest) = reference
        .split_once('/')
        .ok_or_else(|| format!("reference {reference:?} has no HOST/"))?;
    Ok(match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (host, repo, Some(tag)),
        _ => (host, rest, None),
    })
}

fn check(resp: &mut ureq::http::Response<ureq::Body>, what: &str) -> Result<()> {
    if resp.status().is_success() {
        return Ok(());
    }
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Err(format!("{what}: HTTP {}: {body}", resp.status()).into())
}

/// Uploads a blob (monolithic POST + PUT) unless the registry has it; returns its digest.
fn put_blob(agent: &ureq::Agent, host: &str, repo: &str, data: &[u8]) -> Result<String> {
    let digest = sha256_digest(data);
    let head = agent
        .head(format!("http://{host}/v2/{repo}/blobs/{digest}"))
        .call()?;
    if head.status() == 200 {
        return Ok(digest);
    }
    let mut start = agent
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .send_empty()?;
    check(&mut start, "start blob upload")?;
    let location = start
        .headers()
        .get("location")
        .ok_or("blob upload: no Location")?
        .to_str()?
        .to_string();
    let location = if location.starts_with('/') {
        format!("http://{host}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut put = agent
        .put(format!("{location}{sep}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .send(data)?;
    check(&mut put, "finish blob upload")?;
    Ok(digest)
}

/// PUTs a manifest at `reference` (tag or digest); returns its digest.
fn put_manifest(
    agent: &ureq::Agent,
    host: &str,
    repo: &str,
    reference: &str,
    manifest: &Value,
) -> Result<String> {
    let bytes = serde_json::to_vec(manifest)?;
    let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
    let mut resp = agent
        .put(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media_type)
        .send(&bytes[..])?;
    check(&mut resp, &format!("put manifest {repo}:{reference}"))?;
    Ok(sha256_digest(&bytes))
}

/// Fetches a manifest (bytes and media type) by tag or digest; `None` when it does not exist.
pub fn get_manifest(repo_ref: &str, reference: &str) -> Result<Option<(Vec<u8>, String)>> {
    let (host, repo, _) = split(repo_ref)?;
    let mut resp = agent()
        .get(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header(
            "accept",
            format!(
                "{OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json"
            ),
        )
        .call()?;
    if resp.status() == 404 {
        return Ok(None);
    }
    check(&mut resp, &format!("get manifest {repo}:{reference}"))?;
    let media_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    Ok(Some((resp.body_mut().read_to_vec()?, media_type)))
}

fn get_blob(host: &str, repo: &str, digest: &str) -> Result<Vec<u8>> {
    let mut resp = agent()
        .get(format!("http://{host}/v2/{repo}/blobs/{digest}"))
        .call()?;
    check(&mut resp, &format!("get blob {digest}"))?;
    Ok(resp.body_mut().read_to_vec()?)
}

/// A gzipped tar of `path` (a file, or a directory's contents), with fixed mtimes and owners so
/// equal content gives an equal layer.
pub fn tar_gz(path: &Path) -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    if path.is_dir() {
        tar.append_dir_all(".", path)?;
    } else {
        let name = path.file_name().ok_or("file has no name")?;
        tar.append_path_with_name(path, name)?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Pushes a Flux artifact (config `{}` of the Flux config type, one tar+gzip layer of `content`,
/// the OCI source/revision/created annotations) at `HOST/REPO:TAG`; returns the manifest digest.
pub fn push_artifact(reference: &str, content: &Path, meta: &ArtifactMeta) -> Result<String> {
    push_artifact_layer(reference, &tar_gz(content)?, meta)
}

/// [`push_artifact`] with a ready tar+gzip layer.
pub fn push_artifact_layer(reference: &str, layer: &[u8], meta: &ArtifactMeta) -> Result<String> {
    let (host, repo, tag) = split(reference)?;
    let agent = agent();
    let config = b"{}";
    let config_digest = put_blob(&agent, host, repo, config)?;
    let layer_digest = put_blob(&agent, host, repo, layer)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": FLUX_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": FLUX_CONTENT, "digest": layer_digest, "size": layer.len()}],
        "annotations": {
            "org.opencontainers.image.created": meta.created,
            "org.opencontainers.image.revision": meta.revision,
            "org.opencontainers.image.source": meta.source
        }
    });
    let digest = sha256_digest(&serde_json::to_vec(&manifest)?);
    put_manifest(&agent, host, repo, tag.unwrap_or(&digest), &manifest)
}

/// The tag cosign derives from a digest: `sha256:<hex>` → `sha256-<hex>` + `suffix`.
pub fn digest_tag(digest: &str, suffix: &str) -> String {
    format!("{}{suffix}", digest.replacen(':', "-", 1))
}

/// Attaches a legacy signature as cosign does: one more layer in the manifest at tag
/// `sha256-<hex>.sig` (created if absent), its config listing the layers' diff IDs. Returns the
/// new `.sig` manifest digest.
pub fn attach_legacy(repo_ref: &str, digest: &str, sig: &LegacySignature) -> Result<String> {
    let (host, repo, _) = split(repo_ref)?;
    let agent = agent();
    let tag = digest_tag(digest, ".sig");
    let mut layers = match get_manifest(repo_ref, &tag)? {
        Some((bytes, _)) => serde_json::from_slice::<Value>(&bytes)?["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let layer_digest = put_blob(&agent, host, repo, &sig.payload)?;
    layers.push(json!({
        "mediaType": SIMPLE_SIGNING,
        "size": sig.payload.len(),
        "digest": layer_digest,
        "annotations": {
            "dev.cosignproject.cosign/signature": sig.signature_b64,
            "dev.sigstore.cosign/bundle": sig.bundle_annotation,
            "dev.sigstore.cosign/certificate": sig.cert_pem,
            "dev.sigstore.cosign/chain": sig.chain_pem
        }
    }));
    let config = cosign_config(&layers);
    let config_digest = put_blob(&agent, host, repo, &config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": layers
    });
    put_manifest(&agent, host, repo, &tag, &manifest)
}

/// The image config go-containerregistry writes for `empty.Image` + appended layers (cosign's
/// `.sig` images): zero times, one history entry and one diff ID per layer.
fn cosign_config(layers: &[Value]) -> Vec<u8> {
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|_| json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    let config = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {}
    });
    serde_json::to_vec(&config).expect("JSON values serialize")
}

/// Attaches a bundle as cosign v3 does on a registry without the referrers API: a manifest with
/// `artifactType` bundle v0.3, `subject` = the artifact, the bundle as its one layer, pushed by
/// digest; then the referrers fallback index at tag `sha256-<hex>` lists it (created or
/// appended). Returns the referrer manifest digest.
pub fn attach_bundle(repo_ref: &str, digest: &str, bundle: &SignedBundle) -> Result<String> {
    attach_bundle_json(repo_ref, digest, &bundle.json, &bundle.predicate_type)
}

/// [`attach_bundle`] for any bundle JSON (e.g. [`crate::unsigned_bundle_json`]), announced with
/// `predicate_type` in the referrer's annotations (which only hints: a verifier takes the type
/// from the verified statement).
pub fn attach_bundle_json(
    repo_ref: &str,
    digest: &str,
    bundle_json: &str,
    predicate_type: &str,
) -> Result<String> {
    let (host, repo, _) = split(repo_ref)?;
    let agent = agent();
    let (subject_bytes, subject_type) =
        get_manifest(repo_ref, digest)?.ok_or_else(|| format!("{repo_ref}@{digest} not found"))?;
    let empty = b"{}";
    let empty_digest = put_blob(&agent, host, repo, empty)?;
    let layer_digest = put_blob(&agent, host, repo, bundle_json.as_bytes())?;
    let annotations = json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": predicate_type,
        "org.opencontainers.image.created": crate::ca::now()
            .format(&time::format_description::well_known::Rfc3339)?
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        // cosign repeats the artifactType inside the config descriptor; copied as is.
        "config": {"mediaType": OCI_EMPTY, "size": empty.len(), "digest": empty_digest, "artifactType": BUNDLE_V03},
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle_json.len(), "digest": layer_digest}],
        "subject": {"mediaType": subject_type, "size": subject_bytes.len(), "digest": digest},
        "annotations": annotations
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let referrer = put_manifest(
        &agent,
        host,
        repo,
        &sha256_digest(&manifest_bytes),
        &manifest,
    )?;

    let tag = digest_tag(digest, "");
    let mut index = match get_manifest(repo_ref, &tag)? {
        Some((bytes, _)) => serde_json::from_slice::<Value>(&bytes)?,
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let entries = index["manifests"]
        .as_array_mut()
        .ok_or("fallback index has no manifests")?;
    entries.retain(|m| m["digest"] != referrer.as_str());
    entries.push(json!({
        "mediaType": OCI_MANIFEST,
        "size": manifest_bytes.len(),
        "digest": referrer,
        "artifactType": BUNDLE_V03
    }));
    put_manifest(&agent, host, repo, &tag, &index)?;
    Ok(referrer)
}

/// Reads back the layer blob of a manifest (for tests comparing with cosign's output).
pub fn get_layer(repo_ref: &str, digest: &str) -> Result<Vec<u8>> {
    let (host, repo, _) = split(repo_ref)?;
    get_blob(host, repo, digest)
}
