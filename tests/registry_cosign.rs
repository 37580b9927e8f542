//! Discovery of signatures written by the real cosign v3.1.2 (key mode, no transparency log),
//! in both formats, on the real `docker-registry` (no referrers API, so cosign uses the tag
//! fallback). These tests fail, not skip, when cosign is missing.

mod support;

use provenance_auditor::registry::{
    is_sigstore_bundle_media_type, simple_signing_payload, RegistryClient, RegistryOptions,
    SignatureLocation,
};
use support::cli::{cosign_keypair, cosign_sign};
use support::registry::{sha256, RealRegistry};

/// A registry and a cosign key pair.
struct World {
    reg: RealRegistry,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        cosign_keypair(dir.path(), "key");
        World {
            reg: RealRegistry::start(),
            dir,
        }
    }

    /// Signs `repo@digest` with real cosign: bundle format, or legacy with `legacy`.
    fn sign(&self, repo: &str, digest: &str, legacy: bool) {
        let reference = format!("{}/{repo}@{digest}", self.reg.host());
        cosign_sign(&self.dir.path().join("key"), &reference, legacy);
    }
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default()).unwrap()
}

#[tokio::test]
async fn finds_the_one_bundle_cosign_v3_attaches_via_the_referrers_tag() {
    let w = World::new();
    let digest = w.reg.push_artifact("flux/bundled", "v1").await;
    w.sign("flux/bundled", &digest, false);

    let c = client();
    let d = c
        .discover(w.reg.host(), "flux/bundled", &digest)
        .await
        .unwrap();
    assert_eq!(
        (d.bundles.len(), d.legacy.len(), d.malformed.len()),
        (1, 0, 0),
        "{d:?}"
    );
    let b = &d.bundles[0];
    assert_eq!(b.location, SignatureLocation::ReferrersTag);
    assert!(
        is_sigstore_bundle_media_type(&b.media_type),
        "{}",
        b.media_type
    );
    let json: serde_json::Value = serde_json::from_slice(&b.bytes).expect("bundle is JSON");
    assert!(
        json["mediaType"]
            .as_str()
            .is_some_and(is_sigstore_bundle_media_type),
        "{json}"
    );
    assert!(
        json["dsseEnvelope"].is_object(),
        "cosign v3 signs a DSSE envelope: {json}"
    );

    // Once the missing referrers API is known: tag index + bundle manifest + bundle blob + .sig.
    let before = c.requests_made();
    let again = c
        .discover(w.reg.host(), "flux/bundled", &digest)
        .await
        .unwrap();
    assert_eq!(again.bundles, d.bundles);
    let n = c.requests_made() - before;
    println!("cosign bundle-signed digest-pinned discovery: {n} requests");
    assert_eq!(n, 4);
}

#[tokio::test]
async fn finds_the_legacy_signature_and_reconstructs_its_payload_without_fetching_it() {
    let w = World::new();
    let digest = w.reg.push_artifact("flux/legacy", "v1").await;
    w.sign("flux/legacy", &digest, true);
    let logged_before = w.reg.wait_for_requests(1).len();

    let c = client();
    let d = c
        .discover(w.reg.host(), "flux/legacy", &digest)
        .await
        .unwrap();
    assert_eq!(
        (d.bundles.len(), d.legacy.len(), d.malformed.len()),
        (0, 1, 0),
        "{d:?}"
    );
    let l = &d.legacy[0];
    let expected = simple_signing_payload(w.reg.host(), "flux/legacy", &digest);
    assert_eq!(
        l.layer_digest,
        sha256(&expected),
        "cosign wrote exactly the reconstructed payload"
    );
    assert_eq!(l.payload, expected);
    assert!(!l.signature_b64.is_empty());
    assert!(l.certificate_pem.is_none(), "key mode has no certificate");

    // probe (404) + tag fallback (404) + .sig, and no blob request at all.
    assert_eq!(c.requests_made(), 3);
    let lines = w.reg.wait_for_requests(logged_before + 3);
    let ours = &lines[logged_before..];
    assert!(!ours.iter().any(|l| l.contains("/blobs/")), "{ours:#?}");
    let before = c.requests_made();
    c.discover(w.reg.host(), "flux/legacy", &digest)
        .await
        .unwrap();
    let n = c.requests_made() - before;
    println!("cosign legacy-signed digest-pinned discovery: {n} requests");
    assert_eq!(n, 2);
}
