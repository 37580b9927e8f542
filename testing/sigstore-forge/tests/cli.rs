//! The `sigstore-forge` binary, as the demo drives it: init, push-artifact, sign in both
//! formats; the result is read back from the registry and verified with `sigstore-verify`
//! (the cosign cross-check of the same layout is in `cosign_crosscheck.rs`).

use sigstore_forge::push;
use sigstore_forge::testreg::TestRegistry;
use sigstore_forge::LegacySignature;
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};
use std::process::Command;

fn forge(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sigstore-forge"))
        .args(args)
        .output()
        .expect("run sigstore-forge");
    assert!(
        out.status.success(),
        "sigstore-forge {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn init_push_and_sign_both_formats_from_the_command_line() {
    let registry = TestRegistry::start().expect("start docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("forge");
    let state = state.to_str().unwrap();
    forge(&["init", state]);
    let content = dir.path().join("manifests");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("deploy.yaml"), "kind: ConfigMap\n").unwrap();
    let repo = format!("{}/demo", registry.host);
    let digest = forge(&[
        "push-artifact",
        &format!("{repo}:v1"),
        content.to_str().unwrap(),
    ]);
    assert!(digest.starts_with("sha256:"), "{digest}");

    let id = "https://github.com/example/demo/.github/workflows/release.yml@refs/heads/main";
    let issuer = "https://token.actions.githubusercontent.com";
    let reference = format!("{repo}@{digest}");
    for format in ["bundle", "legacy"] {
        forge(&[
            "sign",
            "--dir",
            state,
            "--identity",
            id,
            "--issuer",
            issuer,
            "--format",
            format,
            &reference,
        ]);
    }

    let root = TrustedRoot::from_json(
        &std::fs::read_to_string(dir.path().join("forge/trusted_root.json")).unwrap(),
    )
    .unwrap();
    let verifier = Verifier::new(&root).unwrap();
    let policy = VerificationPolicy::new(id, issuer);

    // The bundle, through the referrers fallback index.
    let (index, _) = push::get_manifest(&repo, &push::digest_tag(&digest, ""))
        .unwrap()
        .expect("fallback index");
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let (referrer, _) =
        push::get_manifest(&repo, index["manifests"][0]["digest"].as_str().unwrap())
            .unwrap()
            .unwrap();
    let referrer: serde_json::Value = serde_json::from_slice(&referrer).unwrap();
    let bundle = push::get_layer(&repo, referrer["layers"][0]["digest"].as_str().unwrap()).unwrap();
    let bundle = Bundle::from_json(std::str::from_utf8(&bundle).unwrap()).unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    verifier
        .verify(Sha256Hash::from_hex(hex).unwrap(), &bundle, &policy)
        .expect("bundle verifies");

    // The legacy layer, rebuilt as a v0.1 bundle from the registry's annotations.
    let (sig, _) = push::get_manifest(&repo, &push::digest_tag(&digest, ".sig"))
        .unwrap()
        .expect(".sig manifest");
    let sig: serde_json::Value = serde_json::from_slice(&sig).unwrap();
    let layer = &sig["layers"][0];
    let payload = push::get_layer(&repo, layer["digest"].as_str().unwrap()).unwrap();
    let legacy = LegacySignature::from_layer(payload.clone(), &layer["annotations"]).unwrap();
    let v01 = Bundle::from_json(&legacy.to_v01_bundle_json()).unwrap();
    verifier
        .verify(payload.as_slice(), &v01, &policy)
        .expect("legacy signature verifies");
    let payload_json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload_json["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        payload_json["critical"]["identity"]["docker-reference"],
        repo.as_str()
    );
}
