//! The registry client against the real Debian `docker-registry` (no referrers API): discovery
//! of hand-built cosign-shaped signatures, request counts, basic auth.

mod support;

use std::sync::Arc;

use provenance_auditor::registry::{
    simple_signing_payload, DockerConfig, ImageRef, RegistryClient, RegistryError, RegistryOptions,
    SignatureLocation,
};
use support::registry::{sha256, RealRegistry};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

fn tag_for(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Attaches a bundle the way cosign v3 does on a registry without the referrers API: a manifest
/// with `subject`, listed in the index tagged `sha256-<hex>`.
async fn attach_bundle(reg: &RealRegistry, repo: &str, subject: &str, bundle: &[u8]) -> String {
    let empty = reg.push_blob(repo, b"{}").await;
    let layer = reg.push_blob(repo, bundle).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": EMPTY, "digest": empty, "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": layer, "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let m = reg
        .push_manifest(repo, &sha256(&bytes), OCI_MANIFEST, &bytes)
        .await;
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": m, "size": bytes.len(), "artifactType": BUNDLE}],
    });
    let ib = serde_json::to_vec(&index).unwrap();
    reg.push_manifest(repo, &tag_for(subject), OCI_INDEX, &ib)
        .await;
    m
}

/// Attaches a legacy `.sig` manifest whose layers carry the given annotations over the payload
/// cosign would have signed.
async fn attach_legacy(
    reg: &RealRegistry,
    repo: &str,
    subject: &str,
    layers: Vec<serde_json::Value>,
) {
    let payload = simple_signing_payload(reg.host(), repo, subject);
    let p = reg.push_blob(repo, &payload).await;
    let config = reg.push_blob(repo, b"{}").await;
    let layers: Vec<_> = layers
        .into_iter()
        .map(|annotations| {
            serde_json::json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": p, "size": payload.len(), "annotations": annotations})
        })
        .collect();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": layers});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    reg.push_manifest(
        repo,
        &format!("{}.sig", tag_for(subject)),
        OCI_MANIFEST,
        &bytes,
    )
    .await;
}

fn client(credentials: DockerConfig) -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        credentials,
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn finds_tag_fallback_bundles_and_legacy_signatures_within_the_request_budget() {
    let reg = RealRegistry::start();
    let repo = "flux/app";
    let bundle_signed = reg.push_artifact(repo, "bundle").await;
    let legacy_signed = reg.push_artifact(repo, "legacy").await;
    let both = reg.push_artifact(repo, "both").await;
    let bundle =
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}"#;
    let m = attach_bundle(&reg, repo, &bundle_signed, bundle).await;
    attach_bundle(&reg, repo, &both, bundle).await;
    let sig = serde_json::json!({"dev.cosignproject.cosign/signature": "c2ln", "dev.sigstore.cosign/certificate": "PEM"});
    attach_legacy(&reg, repo, &legacy_signed, vec![sig.clone()]).await;
    attach_legacy(
        &reg,
        repo,
        &both,
        vec![sig.clone(), serde_json::json!({"unrelated": "x"})],
    )
    .await;

    let records = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = records.clone();
    let c = client(DockerConfig::default())
        .with_observer(Arc::new(move |r| seen.lock().unwrap().push(r.clone())));
    let logged_before = reg.wait_for_requests(1).len();

    // First discovery also learns that this registry has no referrers API (one extra probe).
    let d = c.discover(reg.host(), repo, &both).await.unwrap();
    assert_eq!(
        (d.bundles.len(), d.legacy.len(), d.malformed.len()),
        (1, 1, 1),
        "{d:?}"
    );
    assert_eq!(d.malformed[0].location, SignatureLocation::LegacyTag);
    assert!(
        d.malformed[0]
            .detail
            .contains("dev.cosignproject.cosign/signature"),
        "{:?}",
        d.malformed
    );
    assert_eq!(
        c.requests_made(),
        5,
        "probe + tag + bundle manifest + blob + .sig"
    );

    let start = c.requests_made();
    let d = c.discover(reg.host(), repo, &bundle_signed).await.unwrap();
    let bundle_requests = c.requests_made() - start;
    assert_eq!(d.bundles.len(), 1, "{d:?}");
    let b = &d.bundles[0];
    assert_eq!(
        (
            b.location,
            b.manifest_digest.as_str(),
            b.media_type.as_str()
        ),
        (SignatureLocation::ReferrersTag, m.as_str(), BUNDLE)
    );
    assert_eq!(b.bytes, bundle);
    assert!(d.legacy.is_empty() && d.malformed.is_empty());
    assert!(
        bundle_requests <= 4,
        "bundle-signed discovery took {bundle_requests} requests"
    );
    println!("bundle-signed digest-pinned discovery: {bundle_requests} requests");

    let start = c.requests_made();
    let d = c.discover(reg.host(), repo, &legacy_signed).await.unwrap();
    let legacy_requests = c.requests_made() - start;
    assert_eq!(d.legacy.len(), 1, "{d:?}");
    assert_eq!(
        d.legacy[0].payload,
        simple_signing_payload(reg.host(), repo, &legacy_signed)
    );
    assert_eq!(d.legacy[0].signature_b64, "c2ln");
    assert_eq!(d.legacy[0].certificate_pem.as_deref(), Some("PEM"));
    assert_eq!(
        legacy_requests, 2,
        "tag fallback 404 + .sig; the payload is reconstructed, not fetched"
    );
    println!("legacy-signed digest-pinned discovery: {legacy_requests} requests");

    // The registry's own log agrees with the client's count, and no payload blob was fetched.
    let total = c.requests_made() as usize;
    let lines = reg.wait_for_requests(logged_before + total);
    let ours = &lines[logged_before..];
    assert_eq!(ours.len(), total, "{ours:#?}");
    assert_eq!(
        ours.iter().filter(|l| l.contains("/referrers/")).count(),
        1,
        "{ours:#?}"
    );
    let payload_digest = sha256(&simple_signing_payload(reg.host(), repo, &legacy_signed));
    assert!(
        !ours.iter().any(|l| l.contains(&payload_digest)),
        "{ours:#?}"
    );
    assert_eq!(records.lock().unwrap().len(), total);
}

#[tokio::test]
async fn an_unsigned_artifact_is_an_empty_discovery() {
    let reg = RealRegistry::start();
    let digest = reg.push_artifact("app", "v1").await;
    let d = client(DockerConfig::default())
        .discover(reg.host(), "app", &digest)
        .await
        .unwrap();
    assert!(d.is_empty(), "{d:?}");
}

#[tokio::test]
async fn resolves_tags_and_fetches_manifests() {
    let reg = RealRegistry::start();
    let digest = reg.push_artifact("org/app", "v1").await;
    let c = client(DockerConfig::default());
    let r: ImageRef = format!("oci://{}/org/app:v1", reg.host()).parse().unwrap();
    assert_eq!(c.resolve_digest(&r).await.unwrap(), digest);
    assert_eq!(
        c.requests_made(),
        1,
        "HEAD with Docker-Content-Digest suffices"
    );
    let (d, media_type, bytes) = c
        .get_manifest(reg.host(), "org/app", "v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.as_str(), media_type.as_str()),
        (digest.as_str(), OCI_MANIFEST)
    );
    assert_eq!(sha256(&bytes), digest);
    assert!(c
        .get_manifest(reg.host(), "org/app", "nope")
        .await
        .unwrap()
        .is_none());
    let missing: ImageRef = format!("{}/org/app:nope", reg.host()).parse().unwrap();
    assert!(matches!(
        c.resolve_digest(&missing).await,
        Err(RegistryError::NotFound { .. })
    ));
}

#[tokio::test]
async fn htpasswd_registry_needs_the_right_credentials() {
    let reg = RealRegistry::start_with_htpasswd("auditor", "s3cret-pw");
    let digest = reg.push_artifact("secure/app", "v1").await;
    let sig = serde_json::json!({"dev.cosignproject.cosign/signature": "c2ln"});
    attach_legacy(&reg, "secure/app", &digest, vec![sig]).await;
    let config = |user: &str, pass: &str| {
        DockerConfig::from_json(
            format!(
                r#"{{"auths":{{"http://{}":{{"username":"{user}","password":"{pass}"}}}}}}"#,
                reg.host()
            )
            .as_bytes(),
        )
        .unwrap()
    };

    let c = client(config("auditor", "s3cret-pw"));
    let d = c.discover(reg.host(), "secure/app", &digest).await.unwrap();
    assert_eq!(d.legacy.len(), 1, "{d:?}");
    let first = c.requests_made();
    let d = c.discover(reg.host(), "secure/app", &digest).await.unwrap();
    assert_eq!(d.legacy.len(), 1);
    assert_eq!(
        c.requests_made() - first,
        2,
        "credentials go up front once the registry asked for them"
    );

    for creds in [DockerConfig::default(), config("auditor", "wrong")] {
        let err = client(creds)
            .discover(reg.host(), "secure/app", &digest)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Authentication { .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
