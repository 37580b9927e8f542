//! Private-root keyless signatures (a test CA with Fulcio extensions, a test Rekor and CT log,
//! a generated `trusted_root.json`) in both cosign formats, cross-checked against real cosign,
//! and the forgery corpus: each forgery rejected with the right verdict.

mod support;

use sigstore_forge::push::{attach_bundle, attach_legacy, push_artifact_layer, ArtifactMeta};
use sigstore_forge::testreg::TestRegistry;
use sigstore_forge::{CiClaims, Leaf, LeafSpec, PrivateSigstore, SignOptions};
use support::cli::{run_cosign, verify, VerifyRun};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main";
const EVIL_WORKFLOW: &str =
    "https://github.com/org/repo-evil/.github/workflows/release.yml@refs/heads/main";
const ANCHORED_ISSUER: &str = r"^https://token\.actions\.githubusercontent\.com$";
const ANCHORED_WORKFLOW: &str =
    r"^https://github\.com/org/repo/\.github/workflows/release\.yml@refs/heads/main$";

struct World {
    dir: tempfile::TempDir,
    registry: TestRegistry,
    sigstore: PrivateSigstore,
    root: String,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sigstore = PrivateSigstore::generate("private").expect("private sigstore");
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
        let registry = TestRegistry::start().expect("docker-registry");
        World {
            root: root.display().to_string(),
            dir,
            registry,
            sigstore,
        }
    }

    fn leaf(&self, identity: &str) -> Leaf {
        let mut spec = LeafSpec::uri(identity, ISSUER);
        spec.ci = CiClaims {
            source_repository_uri: Some("https://github.com/org/repo".into()),
            source_repository_ref: Some("refs/heads/main".into()),
            build_config_uri: Some(identity.into()),
            ..CiClaims::default()
        };
        self.sigstore.issue_leaf(&spec).expect("leaf")
    }

    /// Pushes a unique artifact at `repo:v1`; returns (`HOST/REPO`, digest).
    fn artifact(&self, repo: &str) -> (String, String) {
        let repo_ref = format!("{}/{repo}", self.registry.host);
        let layer = format!("content of {repo}").into_bytes();
        let digest =
            push_artifact_layer(&format!("{repo_ref}:v1"), &layer, &ArtifactMeta::default())
                .expect("push");
        (repo_ref, digest)
    }

    /// Signs `repo_ref@digest` in the legacy format with `sigstore` and attaches it.
    fn attach_legacy_by(
        &self,
        sigstore: &PrivateSigstore,
        leaf: &Leaf,
        repo_ref: &str,
        digest: &str,
        opts: &SignOptions,
    ) {
        let sig = sigstore
            .sign_legacy(leaf, repo_ref, digest, opts)
            .expect("sign legacy");
        attach_legacy(repo_ref, digest, &sig).expect("attach legacy");
    }

    /// Signs `repo_ref@digest` as a Sigstore bundle with `sigstore` and attaches it.
    fn attach_bundle_by(
        &self,
        sigstore: &PrivateSigstore,
        leaf: &Leaf,
        repo_ref: &str,
        digest: &str,
        opts: &SignOptions,
    ) {
        let bundle = sigstore
            .sign_bundle(leaf, digest, opts)
            .expect("sign bundle");
        attach_bundle(repo_ref, digest, &bundle).expect("attach bundle");
    }

    fn verify_anchored(&self, reference: &str) -> VerifyRun {
        verify(&[
            "--trusted-root",
            &self.root,
            "--certificate-identity-regexp",
            ANCHORED_WORKFLOW,
            "--certificate-oidc-issuer-regexp",
            ANCHORED_ISSUER,
            reference,
        ])
    }
}

#[test]
fn private_root_keyless_signatures_verify_in_both_formats_with_evidence() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, bundle_digest) = w.artifact("keyless/bundle");
    let signed = w
        .sigstore
        .sign_bundle(&leaf, &bundle_digest, &SignOptions::default())
        .unwrap();
    attach_bundle(&repo, &bundle_digest, &signed).unwrap();
    let (repo2, legacy_digest) = w.artifact("keyless/legacy");
    let sig = w
        .sigstore
        .sign_legacy(&leaf, &repo2, &legacy_digest, &SignOptions::default())
        .unwrap();
    attach_legacy(&repo2, &legacy_digest, &sig).unwrap();

    for (reference, format) in [
        (format!("{repo}@{bundle_digest}"), "bundle"),
        (format!("{repo2}@{legacy_digest}"), "legacy"),
    ] {
        let run = w.verify_anchored(&reference);
        assert_eq!((run.code, run.verdict()), (0, "Verified"), "{run:?}");
        let s = &run.signatures()[0];
        assert_eq!(s["format"], format);
        assert_eq!(s["signer"]["subject"], WORKFLOW);
        assert_eq!(s["signer"]["issuer"], ISSUER);
        assert_eq!(s["ci"]["sourceRepository"], "https://github.com/org/repo");
        assert_eq!(s["ci"]["sourceRepositoryRef"], "refs/heads/main");
        assert_eq!(s["ci"]["workflow"], WORKFLOW);
        assert!(s["tlog"]["logIndex"].is_u64(), "{run:?}");
        assert!(s["tlog"]["integratedTime"].is_string(), "{run:?}");
        let suggested = &run.result(0)["suggestedVerify"]["matchOIDCIdentity"][0];
        assert_eq!(suggested["subject"], ANCHORED_WORKFLOW);
        assert_eq!(suggested["issuer"], ANCHORED_ISSUER);
    }
}

#[test]
fn cosign_accepts_the_same_private_root_signatures() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, bundle_digest) = w.artifact("xcheck/bundle");
    w.attach_bundle_by(
        &w.sigstore,
        &leaf,
        &repo,
        &bundle_digest,
        &SignOptions::default(),
    );
    let (repo2, legacy_digest) = w.artifact("xcheck/legacy");
    w.attach_legacy_by(
        &w.sigstore,
        &leaf,
        &repo2,
        &legacy_digest,
        &SignOptions::default(),
    );
    for (reference, legacy) in [
        (format!("{repo}@{bundle_digest}"), false),
        (format!("{repo2}@{legacy_digest}"), true),
    ] {
        let mut args = vec![
            "verify",
            "--trusted-root",
            &w.root,
            "--certificate-identity-regexp",
            ANCHORED_WORKFLOW,
            "--certificate-oidc-issuer-regexp",
            ANCHORED_ISSUER,
        ];
        if legacy {
            args.push("--new-bundle-format=false");
        }
        args.push(&reference);
        let (ok, out) = run_cosign(w.dir.path(), &args);
        assert!(ok, "cosign verify {reference}: {out}");
        assert_eq!(w.verify_anchored(&reference).verdict(), "Verified");
    }
}

#[test]
fn another_signer_is_an_identity_mismatch_that_names_the_signer() {
    let w = World::new();
    let (repo, digest) = w.artifact("mismatch/app");
    let leaf = w.leaf("https://github.com/other/project/.github/workflows/ci.yml@refs/heads/main");
    w.attach_bundle_by(&w.sigstore, &leaf, &repo, &digest, &SignOptions::default());
    let run = w.verify_anchored(&format!("{repo}@{digest}"));
    assert_eq!(
        (run.code, run.verdict()),
        (1, "IdentityMismatch"),
        "{run:?}"
    );
    assert!(
        run.result(0)["message"]
            .as_str()
            .unwrap()
            .contains("github.com/other/project"),
        "{run:?}"
    );
    // No `spec.verify` that would accept the refused signer is offered (issue 9 item 11).
    assert!(run.result(0)["suggestedVerify"].is_null(), "{run:?}");
}

#[test]
fn identity_near_misses_are_rejected_with_and_without_anchors() {
    let w = World::new();
    let (repo, digest) = w.artifact("nearmiss/app");
    let evil = w.leaf(EVIL_WORKFLOW);
    w.attach_bundle_by(&w.sigstore, &evil, &repo, &digest, &SignOptions::default());
    let reference = format!("{repo}@{digest}");
    let with = |subject: &str| {
        verify(&[
            "--trusted-root",
            &w.root,
            "--certificate-identity-regexp",
            subject,
            "--certificate-oidc-issuer-regexp",
            ISSUER,
            &reference,
        ])
    };
    // The full workflow identity, unanchored and anchored: repo-evil never matches.
    assert_eq!(with(WORKFLOW).verdict(), "IdentityMismatch");
    assert_eq!(with(ANCHORED_WORKFLOW).verdict(), "IdentityMismatch");
    assert_eq!(
        with(r"^https://github\.com/org/repo/").verdict(),
        "IdentityMismatch"
    );
    // A bare repository prefix, unanchored, matches repo-evil under Go's MatchString — exactly
    // what Flux and cosign would accept. We agree on the verdict and flag the weak regex.
    let weak = with("https://github.com/org/repo");
    assert_eq!(weak.verdict(), "Verified", "{weak:?}");
    let notes = weak.result(0)["fluxCompatibility"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        notes.iter().any(|n| n["code"] == "UnanchoredRegex"),
        "{weak:?}"
    );
}

#[test]
fn a_signature_chained_to_an_untrusted_ca_is_an_untrusted_signer() {
    let w = World::new();
    let rogue = PrivateSigstore::generate("rogue").unwrap();
    let leaf = rogue.issue_leaf(&LeafSpec::uri(WORKFLOW, ISSUER)).unwrap();
    let (repo, digest) = w.artifact("untrusted/bundle");
    w.attach_bundle_by(&rogue, &leaf, &repo, &digest, &SignOptions::default());
    let (repo2, digest2) = w.artifact("untrusted/legacy");
    w.attach_legacy_by(&rogue, &leaf, &repo2, &digest2, &SignOptions::default());
    for reference in [format!("{repo}@{digest}"), format!("{repo2}@{digest2}")] {
        let run = w.verify_anchored(&reference);
        assert_eq!((run.code, run.verdict()), (1, "UntrustedSigner"), "{run:?}");
    }
}

#[test]
fn genuine_signatures_about_another_digest_are_digest_mismatches() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, digest) = w.artifact("digest/target");
    let (_, other) = w.artifact("digest/other");
    // Legacy: genuine certificate and SET, payload naming the other digest, attached here.
    let opts = SignOptions {
        signed_digest: Some(other.clone()),
        ..SignOptions::default()
    };
    w.attach_legacy_by(&w.sigstore, &leaf, &repo, &digest, &opts);
    let run = w.verify_anchored(&format!("{repo}@{digest}"));
    assert_eq!(run.verdict(), "DigestMismatch", "{run:?}");
    assert!(
        run.result(0)["message"].as_str().unwrap().contains(&other),
        "{run:?}"
    );

    // Bundle: a valid bundle for the other digest copied onto this one.
    let (repo2, digest2) = w.artifact("digest/copied");
    let opts = SignOptions {
        signed_digest: Some(other.clone()),
        ..SignOptions::default()
    };
    w.attach_bundle_by(&w.sigstore, &leaf, &repo2, &digest2, &opts);
    let run = w.verify_anchored(&format!("{repo2}@{digest2}"));
    assert_eq!((run.code, run.verdict()), (1, "DigestMismatch"), "{run:?}");
}

#[test]
fn an_attestation_is_not_a_signature() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, digest) = w.artifact("predicate/app");
    let opts = SignOptions {
        predicate_type: Some("https://slsa.dev/provenance/v1".into()),
        ..SignOptions::default()
    };
    w.attach_bundle_by(&w.sigstore, &leaf, &repo, &digest, &opts);
    let run = w.verify_anchored(&format!("{repo}@{digest}"));
    // An attestation is judged as an attestation (engine::attest), never as a signature: an
    // artifact carrying only provenance is unsigned, not "signed for another digest".
    assert_eq!((run.code, run.verdict()), (1, "Unsigned"), "{run:?}");
    assert!(run.signatures().is_empty(), "{run:?}");

    // Signed too: the attestation does not spoil the signature's verdict.
    w.attach_bundle_by(&w.sigstore, &leaf, &repo, &digest, &SignOptions::default());
    let run = w.verify_anchored(&format!("{repo}@{digest}"));
    assert_eq!((run.code, run.verdict()), (0, "Verified"), "{run:?}");
    assert_eq!(run.signatures().len(), 1, "{run:?}");
}

#[test]
fn tampered_signatures_are_invalid() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, digest) = w.artifact("tamper/set");
    let opts = SignOptions {
        corrupt_set: true,
        ..SignOptions::default()
    };
    w.attach_legacy_by(&w.sigstore, &leaf, &repo, &digest, &opts);
    let run = w.verify_anchored(&format!("{repo}@{digest}"));
    assert_eq!(
        (run.code, run.verdict()),
        (1, "SignatureInvalid"),
        "{run:?}"
    );

    let (repo2, digest2) = w.artifact("tamper/payload");
    let (_, other) = w.artifact("tamper/other");
    let opts = SignOptions {
        swap_payload_digest: Some(other),
        ..SignOptions::default()
    };
    w.attach_legacy_by(&w.sigstore, &leaf, &repo2, &digest2, &opts);
    let run = w.verify_anchored(&format!("{repo2}@{digest2}"));
    assert_eq!(
        (run.code, run.verdict()),
        (1, "SignatureInvalid"),
        "{run:?}"
    );
}

#[test]
fn flux_incompatibilities_are_reported_separately_from_the_verdict() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, digest) = w.artifact("compat/app");
    // A broken bundle hides a valid legacy signature from Flux.
    let broken = SignOptions {
        signed_digest: Some(w.artifact("compat/other").1),
        ..SignOptions::default()
    };
    w.attach_bundle_by(&w.sigstore, &leaf, &repo, &digest, &broken);
    w.attach_legacy_by(&w.sigstore, &leaf, &repo, &digest, &SignOptions::default());
    let run = verify(&[
        "--trusted-root",
        &w.root,
        "--certificate-identity-regexp",
        ANCHORED_WORKFLOW,
        "--certificate-oidc-issuer-regexp",
        ANCHORED_ISSUER,
        "--certificate-identity-regexp",
        "^someone-else$",
        "--certificate-oidc-issuer-regexp",
        ANCHORED_ISSUER,
        &format!("{repo}@{digest}"),
    ]);
    assert_eq!(
        run.verdict(),
        "Verified",
        "the identity list is OR: {run:?}"
    );
    let codes: Vec<String> = run.result(0)["fluxCompatibility"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_string())
        .collect();
    assert!(
        codes.contains(&"MultipleIdentities".to_string()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"BundleHidesLegacy".to_string()),
        "{codes:?}"
    );
}

#[test]
fn a_certificate_signature_verifies_in_key_mode_with_its_key_and_the_log_required() {
    let w = World::new();
    let leaf = w.leaf(WORKFLOW);
    let (repo, digest) = w.artifact("keymode/app");
    w.attach_legacy_by(&w.sigstore, &leaf, &repo, &digest, &SignOptions::default());
    // The leaf's public key, as a cosign user would export it from the certificate.
    let cert = w.dir.path().join("leaf.pem");
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let key = w.dir.path().join("leaf.pub");
    std::fs::write(&key, &out.stdout).unwrap();
    let reference = format!("{repo}@{digest}");
    let key = key.display().to_string();
    for extra in [&[][..], &["--require-tlog"][..]] {
        let run = verify(
            &[
                &["--trusted-root", &w.root, "--key", &key][..],
                extra,
                &[&reference],
            ]
            .concat(),
        );
        assert_eq!(
            (run.code, run.verdict()),
            (0, "Verified"),
            "{extra:?}: {run:?}"
        );
    }
}
