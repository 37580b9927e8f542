//! Cross-check with the real cosign (v3.1.2) in a real registry: what the forge signs and
//! attaches, `cosign verify --trusted-root` accepts, in both formats, with SCT and
//! transparency-log checks on; the forgeries it rejects; and the attachments have the layout
//! cosign itself writes (and append to cosign's own).
//!
//! Needs `docker-registry` and cosign (`hack/tools.sh cosign`, or `$COSIGN`); fails, never
//! skips, when either is missing.

use serde_json::Value;
use sigstore_forge::push::{self, ArtifactMeta};
use sigstore_forge::testreg::TestRegistry;
use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

const ID: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The cosign binary: `$COSIGN`, else the one `hack/tools.sh` built for this machine.
fn cosign_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("COSIGN") {
        return PathBuf::from(path);
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/tools.sh");
    let out = Command::new("bash")
        .arg(&tools)
        .args(["path", "cosign"])
        .output()
        .expect("run hack/tools.sh");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "cosign not found at {path:?}: run `hack/tools.sh cosign` or set COSIGN=/path/to/cosign"
    );
    path
}

/// One test's world: a registry, an instance with its trusted root on disk, a cosign home.
struct World {
    registry: TestRegistry,
    forge: PrivateSigstore,
    dir: tempfile::TempDir,
    cosign: PathBuf,
}

impl World {
    fn new() -> Self {
        let cosign = cosign_bin();
        let registry = TestRegistry::start().expect("start docker-registry");
        let forge = PrivateSigstore::generate("forge").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("trusted_root.json"),
            forge.trusted_root_json(),
        )
        .unwrap();
        Self {
            registry,
            forge,
            dir,
            cosign,
        }
    }

    fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.host)
    }

    /// Pushes a small Flux artifact to `<host>/<name>:v1`; returns its digest.
    fn artifact(&self, name: &str) -> String {
        let file = self.dir.path().join(format!("{name}.txt"));
        std::fs::write(&file, name).unwrap();
        push::push_artifact(
            &format!("{}:v1", self.repo(name)),
            &file,
            &ArtifactMeta::default(),
        )
        .unwrap()
    }

    fn cosign(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.cosign)
            .args(args)
            .current_dir(self.dir.path())
            .env("TUF_ROOT", self.dir.path().join("tuf"))
            .env("COSIGN_PASSWORD", "")
            .output()
            .expect("run cosign");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `cosign verify --trusted-root` with identity/issuer regexps plus `extra` flags.
    fn verify(
        &self,
        reference: &str,
        identity_re: &str,
        issuer_re: &str,
        extra: &[&str],
    ) -> (bool, String) {
        let root = self.dir.path().join("trusted_root.json");
        let mut args = vec![
            "verify",
            "--trusted-root",
            root.to_str().unwrap(),
            "--certificate-identity-regexp",
            identity_re,
            "--certificate-oidc-issuer-regexp",
            issuer_re,
        ];
        args.extend_from_slice(extra);
        args.push(reference);
        self.cosign(&args)
    }

    fn assert_verifies(&self, reference: &str) {
        let (ok, out) = self.verify(
            reference,
            "^https://github\\.com/example/app/",
            "^https://token\\.actions\\.githubusercontent\\.com$",
            &[],
        );
        assert!(ok, "cosign verify should pass for {reference}:\n{out}");
        let (ok, out) = self.verify(reference, "github\\.com/other/", "token\\.actions", &[]);
        assert!(
            // cosign names the certificate's identity when only the identity check failed.
            !ok && out.contains(ID),
            "wrong identity must fail on the identity:\n{out}"
        );
        let (ok, out) = self.verify(
            reference,
            "github\\.com/example/",
            "accounts\\.google\\.com",
            &[],
        );
        assert!(!ok, "wrong issuer must fail:\n{out}");
    }

    fn assert_rejected(&self, reference: &str, why: &str, reason: &str) {
        let (ok, out) = self.verify(reference, ".", ".", &[]);
        assert!(!ok, "cosign verify must reject {why}:\n{out}");
        assert!(
            out.contains(reason),
            "{why} must fail because {reason:?}:\n{out}"
        );
    }
}

#[test]
fn cosign_verifies_forged_keyless_bundle_offline() {
    let w = World::new();
    let digest = w.artifact("bundle");
    let leaf = w.forge.issue_leaf(&LeafSpec::uri(ID, ISSUER)).unwrap();
    let bundle = w
        .forge
        .sign_bundle(&leaf, &digest, &SignOptions::default())
        .unwrap();
    push::attach_bundle(&w.repo("bundle"), &digest, &bundle).unwrap();
    w.assert_verifies(&format!("{}@{digest}", w.repo("bundle")));
}

#[test]
fn cosign_verifies_forged_keyless_legacy_signature_offline() {
    let w = World::new();
    let digest = w.artifact("legacy");
    let leaf = w.forge.issue_leaf(&LeafSpec::uri(ID, ISSUER)).unwrap();
    let sig = w
        .forge
        .sign_legacy(&leaf, &w.repo("legacy"), &digest, &SignOptions::default())
        .unwrap();
    push::attach_legacy(&w.repo("legacy"), &digest, &sig).unwrap();
    w.assert_verifies(&format!("{}@{digest}", w.repo("legacy")));
}

/// Each forgery on its own artifact, in the format named by the repository.
#[test]
fn cosign_rejects_the_forgeries() {
    let w = World::new();
    let rogue = PrivateSigstore::generate("rogue").unwrap();
    let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let mut no_sct = LeafSpec::uri(ID, ISSUER);
    no_sct.sct = false;
    let genuine = w.forge.issue_leaf(&LeafSpec::uri(ID, ISSUER)).unwrap();
    let untrusted = rogue.issue_leaf(&LeafSpec::uri(ID, ISSUER)).unwrap();
    let unlogged_ct = w.forge.issue_leaf(&no_sct).unwrap();
    let genuine_opts = SignOptions::default();
    let corrupt = SignOptions {
        corrupt_set: true,
        ..Default::default()
    };
    let other_digest = SignOptions {
        signed_digest: Some(other.into()),
        ..Default::default()
    };
    let swapped = SignOptions {
        swap_payload_digest: Some(other.into()),
        ..Default::default()
    };
    // (case, leaf, options, cosign's reason for the bundle, for the legacy signature)
    let cases: Vec<(&str, &sigstore_forge::Leaf, &SignOptions, &str, &str)> = vec![
        (
            "untrusted-ca",
            &untrusted,
            &genuine_opts,
            "leaf certificate verification failed",
            "leaf certificate verification failed",
        ),
        ("no-sct", &unlogged_ct, &genuine_opts, "SCT", "SCT"),
        (
            "corrupt-set",
            &genuine,
            &corrupt,
            "not enough verified log entries",
            "unable to verify SET",
        ),
        (
            "other-digest",
            &genuine,
            &other_digest,
            "does not match any digest in statement",
            "invalid or missing digest in claim",
        ),
        (
            "swapped-payload",
            &genuine,
            &swapped,
            "payload hash",
            "matching bundle to payload",
        ),
    ];
    let mut no_sct_refs = Vec::new();
    for (case, leaf, opts, bundle_reason, legacy_reason) in cases {
        for (format, reason) in [("bundle", bundle_reason), ("legacy", legacy_reason)] {
            let name = format!("{case}-{format}");
            let digest = w.artifact(&name);
            let repo = w.repo(&name);
            if format == "bundle" {
                let bundle = w.forge.sign_bundle(leaf, &digest, opts).unwrap();
                push::attach_bundle(&repo, &digest, &bundle).unwrap();
            } else {
                let sig = w.forge.sign_legacy(leaf, &repo, &digest, opts).unwrap();
                push::attach_legacy(&repo, &digest, &sig).unwrap();
            }
            let reference = format!("{repo}@{digest}");
            w.assert_rejected(&reference, &name, reason);
            if case == "no-sct" {
                no_sct_refs.push(reference);
            }
        }
    }
    // The SCT is really what failed the no-sct case: waiving it makes cosign accept.
    for reference in no_sct_refs {
        let (ok, out) = w.verify(&reference, ".", ".", &["--insecure-ignore-sct"]);
        assert!(
            ok,
            "{reference} should pass with --insecure-ignore-sct:\n{out}"
        );
    }
}

/// Normalizes what legitimately differs between two signatures (digests, sizes, times,
/// signature material) so manifests can be compared for layout.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k.as_str() {
                    "digest" | "size" | "org.opencontainers.image.created" => {
                        (k.clone(), Value::from("<x>"))
                    }
                    "annotations"
                        if map.contains_key("mediaType")
                            && map["mediaType"]
                                == "application/vnd.dev.cosign.simplesigning.v1+json" =>
                    {
                        (k.clone(), Value::from("<signature annotations>"))
                    }
                    _ => (k.clone(), shape(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn manifest(repo: &str, reference: &str) -> Value {
    let (bytes, _) = push::get_manifest(repo, reference)
        .unwrap()
        .expect("manifest exists");
    serde_json::from_slice(&bytes).unwrap()
}

/// cosign (key mode, no tlog) signs first; the forge's keyless signature is attached after it.
/// Both must keep verifying, and the forge's manifests must have cosign's layout.
#[test]
fn attachments_have_cosign_layout_and_append_to_cosign_signatures() {
    let w = World::new();
    let (ok, out) = w.cosign(&["generate-key-pair"]);
    assert!(ok, "cosign generate-key-pair:\n{out}");
    let leaf = w.forge.issue_leaf(&LeafSpec::uri(ID, ISSUER)).unwrap();
    for format in ["bundle", "legacy"] {
        let repo = w.repo(format);
        let digest = w.artifact(format);
        let reference = format!("{repo}@{digest}");
        let mut args = vec![
            "sign",
            "--yes",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
        ];
        if format == "legacy" {
            args.push("--new-bundle-format=false");
        }
        args.push(&reference);
        let (ok, out) = w.cosign(&args);
        assert!(ok, "cosign sign ({format}):\n{out}");

        if format == "legacy" {
            let tag = push::digest_tag(&digest, ".sig");
            let theirs = manifest(&repo, &tag);
            let sig = w
                .forge
                .sign_legacy(&leaf, &repo, &digest, &SignOptions::default())
                .unwrap();
            push::attach_legacy(&repo, &digest, &sig).unwrap();
            let ours = manifest(&repo, &tag);
            assert_eq!(
                ours["layers"][0], theirs["layers"][0],
                "cosign's layer is kept first"
            );
            assert_eq!(shape(&ours["layers"][1]), shape(&theirs["layers"][0]));
            assert_eq!(shape(&ours["config"]), shape(&theirs["config"]));
            let mut expected = theirs.clone();
            expected["layers"]
                .as_array_mut()
                .unwrap()
                .push(theirs["layers"][0].clone());
            assert_eq!(shape(&ours), shape(&expected));
            // cosign's payload for this digest is byte-identical to the forge's.
            let their_payload =
                push::get_layer(&repo, theirs["layers"][0]["digest"].as_str().unwrap()).unwrap();
            assert_eq!(their_payload, sig.payload);
            // The config lists both layers as cosign (go-containerregistry) writes it.
            let their_config: Value = serde_json::from_slice(
                &push::get_layer(&repo, theirs["config"]["digest"].as_str().unwrap()).unwrap(),
            )
            .unwrap();
            let our_config: Value = serde_json::from_slice(
                &push::get_layer(&repo, ours["config"]["digest"].as_str().unwrap()).unwrap(),
            )
            .unwrap();
            let mut expected = their_config.clone();
            expected["rootfs"]["diff_ids"]
                .as_array_mut()
                .unwrap()
                .push(ours["layers"][1]["digest"].clone());
            expected["history"]
                .as_array_mut()
                .unwrap()
                .push(their_config["history"][0].clone());
            assert_eq!(our_config, expected);
        } else {
            let tag = push::digest_tag(&digest, "");
            let their_index = manifest(&repo, &tag);
            let theirs = manifest(
                &repo,
                their_index["manifests"][0]["digest"].as_str().unwrap(),
            );
            let bundle = w
                .forge
                .sign_bundle(&leaf, &digest, &SignOptions::default())
                .unwrap();
            let referrer = push::attach_bundle(&repo, &digest, &bundle).unwrap();
            let our_index = manifest(&repo, &tag);
            let entries = our_index["manifests"].as_array().unwrap();
            assert_eq!(entries.len(), 2, "{our_index}");
            assert_eq!(
                entries[0], their_index["manifests"][0],
                "cosign's entry is kept first"
            );
            assert_eq!(entries[1]["digest"], referrer.as_str());
            assert_eq!(shape(&entries[1]), shape(&entries[0]));
            assert_eq!(shape(&manifest(&repo, &referrer)), shape(&theirs));
        }

        let root = w.dir.path().join("trusted_root.json");
        let (ok, out) = w.cosign(&[
            "verify",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog",
            "--trusted-root",
            root.to_str().unwrap(),
            &reference,
        ]);
        assert!(ok, "cosign's own {format} signature still verifies:\n{out}");
        w.assert_verifies(&reference);
    }
}
