//! Real cosign v3 signs Flux-style OCI artifacts in a real registry (Debian's docker-registry),
//! with keys, in the bundle format and the legacy format; `provenance-auditor verify` must accept
//! each with the right key, report `KeyMismatch` with another, and never call a signed artifact
//! unsigned.

mod support;

use sigstore_forge::push::{push_artifact_layer, ArtifactMeta};
use sigstore_forge::testreg::TestRegistry;
use support::cli::{cosign_keypair, cosign_sign, run_cosign, verify};

/// A Flux artifact with unique content at `HOST/REPO:TAG`; returns its digest.
fn push(registry: &TestRegistry, repo: &str, tag: &str) -> String {
    let layer = format!("flux artifact {repo}:{tag} {}", std::process::id()).into_bytes();
    push_artifact_layer(
        &format!("{}/{repo}:{tag}", registry.host),
        &layer,
        &ArtifactMeta::default(),
    )
    .expect("push artifact")
}

struct Fixture {
    _dir: tempfile::TempDir,
    registry: TestRegistry,
    key_a: String,
    key_b: String,
    bundle_digest: String,
    legacy_digest: String,
    unsigned_digest: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start().expect("start docker-registry");
    let key_a = cosign_keypair(dir.path(), "a");
    let key_b = cosign_keypair(dir.path(), "b");
    let bundle_digest = push(&registry, "flux/bundle", "v1");
    let legacy_digest = push(&registry, "flux/legacy", "v1");
    let unsigned_digest = push(&registry, "flux/unsigned", "v1");
    let key_a_dir = key_a.parent().unwrap();
    cosign_sign(
        key_a_dir,
        &format!("{}/flux/bundle@{bundle_digest}", registry.host),
        false,
    );
    cosign_sign(
        key_a_dir,
        &format!("{}/flux/legacy@{legacy_digest}", registry.host),
        true,
    );
    Fixture {
        key_a: key_a.display().to_string(),
        key_b: key_b.display().to_string(),
        _dir: dir,
        registry,
        bundle_digest,
        legacy_digest,
        unsigned_digest,
    }
}

#[test]
fn cosign_key_signatures_in_both_formats_verify_with_the_right_key_and_mismatch_with_another() {
    let f = fixture();
    let host = &f.registry.host;
    let bundle_ref = format!("{host}/flux/bundle@{}", f.bundle_digest);
    let legacy_ref = format!("{host}/flux/legacy@{}", f.legacy_digest);

    let run = verify(&["--key", &f.key_a, &bundle_ref]);
    assert_eq!((run.code, run.verdict()), (0, "Verified"), "{run:?}");
    let sigs = run.signatures();
    assert_eq!(sigs.len(), 1, "{run:?}");
    assert_eq!(sigs[0]["format"], "bundle");
    assert_eq!(
        sigs[0]["location"], "referrers-tag",
        "docker-registry has no referrers API"
    );
    assert!(sigs[0]["signer"]["keyFingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    let run = verify(&["--key", &f.key_a, &legacy_ref]);
    assert_eq!((run.code, run.verdict()), (0, "Verified"), "{run:?}");
    assert_eq!(run.signatures()[0]["format"], "legacy");
    assert_eq!(run.signatures()[0]["location"], "legacy-tag");

    for r in [&bundle_ref, &legacy_ref] {
        let run = verify(&["--key", &f.key_b, r]);
        assert_eq!((run.code, run.verdict()), (1, "KeyMismatch"), "{run:?}");
    }
    // Several keys: any may match.
    let run = verify(&["--key", &f.key_b, "--key", &f.key_a, &bundle_ref]);
    assert_eq!(run.verdict(), "Verified", "{run:?}");
}

#[test]
fn tags_resolve_and_several_references_are_verified_in_one_run() {
    let f = fixture();
    let host = &f.registry.host;
    let run = verify(&[
        "--key",
        &f.key_a,
        &format!("oci://{host}/flux/bundle:v1"),
        &format!("{host}/flux/legacy:v1"),
        &format!("{host}/flux/unsigned:v1"),
    ]);
    assert_eq!(run.code, 1, "one is unsigned: {run:?}");
    assert_eq!(run.result(0)["digest"], f.bundle_digest.as_str());
    assert_eq!(run.result(0)["verdict"], "Verified");
    assert_eq!(run.result(1)["digest"], f.legacy_digest.as_str());
    assert_eq!(run.result(1)["verdict"], "Verified");
    assert_eq!(run.result(2)["digest"], f.unsigned_digest.as_str());
    assert_eq!(run.result(2)["verdict"], "Unsigned");
    assert_eq!(run.json["schema"], "provenance.dev/verify/v1");
}

#[test]
fn without_a_policy_the_signer_is_reported_but_not_accepted() {
    let f = fixture();
    let run = verify(&[&format!(
        "{}/flux/bundle@{}",
        f.registry.host, f.bundle_digest
    )]);
    // A key signature with no key given cannot be checked: it establishes no signer (issue 9
    // item 10), so it is not NoPolicy ("checked, nothing to judge it against").
    assert_eq!((run.code, run.verdict()), (1, "UntrustedSigner"), "{run:?}");
    assert!(
        run.result(0)["message"]
            .as_str()
            .is_some_and(|m| m.contains("signed with a key")),
        "{run:?}"
    );
    let run = verify(&[&format!("{}/flux/unsigned:v1", f.registry.host)]);
    assert_eq!((run.code, run.verdict()), (1, "Unsigned"), "{run:?}");
}

#[test]
fn cosign_itself_agrees_with_our_key_verdicts() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = &f.registry.host;
    for (reference, legacy) in [
        (format!("{host}/flux/bundle@{}", f.bundle_digest), false),
        (format!("{host}/flux/legacy@{}", f.legacy_digest), true),
    ] {
        let mut args = vec!["verify", "--insecure-ignore-tlog"];
        if legacy {
            args.push("--new-bundle-format=false");
        }
        let (ok, out) = run_cosign(
            dir.path(),
            &[&args[..], &["--key", &f.key_a, &reference]].concat(),
        );
        assert!(ok, "cosign verify with the right key: {out}");
        let (ok, _) = run_cosign(
            dir.path(),
            &[&args[..], &["--key", &f.key_b, &reference]].concat(),
        );
        assert!(
            !ok,
            "cosign verify must reject the wrong key for {reference}"
        );
    }
}

#[test]
fn a_registry_that_is_down_is_never_reported_as_unsigned() {
    let f = fixture();
    let reference = format!("{}/flux/bundle@{}", f.registry.host, f.bundle_digest);
    drop(f.registry);
    let run = verify(&["--key", &f.key_a, &reference]);
    assert_eq!(
        (run.code, run.verdict()),
        (2, "RegistryUnavailable"),
        "{run:?}"
    );
}
