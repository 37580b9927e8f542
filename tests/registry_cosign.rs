//! Discovery of signatures written by the real cosign v3.1.2 (key mode, no transparency log),
//! in both formats, on the real `docker-registry` (no referrers API, so cosign uses the tag
//! fallback). These tests fail, not skip, when cosign is missing.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use provenance_auditor::registry::{
    is_sigstore_bundle_media_type, simple_signing_payload, RegistryClient, RegistryOptions,
    SignatureLocation,
};
use support::registry::{sha256, RealRegistry};

/// The cosign binary `hack/tools.sh` built for this machine (or `$COSIGN`).
fn cosign_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("COSIGN") {
        return PathBuf::from(p);
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/tools.sh");
    let out = Command::new("bash")
        .arg(&tools)
        .args(["path", "cosign"])
        .output()
        .expect("run hack/tools.sh");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_file(), "cosign v3.1.2 not found at {path:?}: run `bash hack/tools.sh cosign` (or set COSIGN=/path/to/cosign)");
    path
}

/// A registry, a signed-by-cosign world, and a key pair.
struct World {
    reg: RealRegistry,
    dir: tempfile::TempDir,
    cosign: PathBuf,
}

impl World {
    fn new() -> Self {
        let w = World {
            cosign: cosign_bin(),
            reg: RealRegistry::start(),
            dir: tempfile::tempdir().unwrap(),
        };
        w.cosign(&["generate-key-pair"]);
        assert!(w.dir.path().join("cosign.key").is_file());
        w
    }

    fn cosign(&self, args: &[&str]) -> String {
        let out = Command::new(&self.cosign)
            .args(args)
            .current_dir(self.dir.path())
            .env("COSIGN_PASSWORD", "")
            .env("TUF_ROOT", self.dir.path().join("tuf"))
            .env("HOME", self.dir.path())
            .output()
            .expect("run cosign");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "cosign {args:?} failed:\n{text}");
        text
    }

    fn sign(&self, repo: &str, digest: &str, extra: &[&str]) {
        let reference = format!("{}/{repo}@{digest}", self.reg.host());
        let mut args = vec![
            "sign",
            "--yes",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
        ];
        args.extend_from_slice(extra);
        args.push(&reference);
        self.cosign(&args);
    }
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default()).unwrap()
}

#[tokio::test]
async fn finds_the_one_bundle_cosign_v3_attaches_via_the_referrers_tag() {
    let w = World::new();
    let digest = w.reg.push_artifact("flux/bundled", "v1").await;
    w.sign("flux/bundled", &digest, &[]);

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
    w.sign("flux/legacy", &digest, &["--new-bundle-format=false"]);
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
