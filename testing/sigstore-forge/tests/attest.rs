//! Attestations from the forge: a keyless SLSA provenance v1 statement with GitHub-style Fulcio
//! claims verifies offline with `sigstore-verify` and with the real `cosign verify-attestation
//! --trusted-root` (v3.1.2) from a real registry; an
//! unsigned envelope verifies with neither.
//!
//! The cosign half needs `docker-registry` and cosign (`hack/tools.sh cosign`, or `$COSIGN`);
//! it fails, never skips, when either is missing.

use sigstore_forge::predicates::{self, Build, SLSA_PROVENANCE_V1};
use sigstore_forge::push::{self, ArtifactMeta};
use sigstore_forge::testreg::TestRegistry;
use sigstore_forge::{unsigned_bundle_json, LeafSpec, PrivateSigstore, SignOptions};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};
use std::path::{Path, PathBuf};
use std::process::Command;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const REPO: &str = "https://github.com/example/app";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn release() -> Build {
    Build::github(REPO, "refs/tags/v1.2.3")
}

fn leaf(forge: &PrivateSigstore, build: &Build) -> sigstore_forge::Leaf {
    let mut spec = LeafSpec::uri(&build.workflow_identity(), ISSUER);
    spec.ci = build.ci_claims();
    forge.issue_leaf(&spec).unwrap()
}

fn verify(
    forge: &PrivateSigstore,
    json: &str,
) -> Result<sigstore_verify::VerificationResult, String> {
    let root = TrustedRoot::from_json(&forge.trusted_root_json()).unwrap();
    let bundle = Bundle::from_json(json).map_err(|e| format!("bundle does not parse: {e}"))?;
    let digest = Sha256Hash::from_hex(DIGEST.strip_prefix("sha256:").unwrap()).unwrap();
    Verifier::new(&root)
        .unwrap()
        .verify(digest, &bundle, &VerificationPolicy::any_identity())
        .map_err(|e| e.to_string())
}

#[test]
fn a_keyless_provenance_attestation_verifies_offline_with_its_github_claims_and_predicate() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let build = release();
    let predicate = predicates::slsa_provenance_v1(&build);
    let bundle = forge
        .attest(
            &leaf(&forge, &build),
            DIGEST,
            SLSA_PROVENANCE_V1,
            &predicate,
            &SignOptions::default(),
        )
        .unwrap();
    let result = verify(&forge, &bundle.json).expect("the attestation verifies");
    assert!(result.certificate_verified() && result.sct_verified() && result.tlog_verified());
    let claims = &result.certificate().unwrap().ci_claims;
    assert_eq!(claims.source_repository_uri.as_deref(), Some(REPO));
    assert_eq!(
        claims.source_repository_ref.as_deref(),
        Some("refs/tags/v1.2.3")
    );
    assert_eq!(claims.runner_environment.as_deref(), Some("github-hosted"));
    assert_eq!(bundle.predicate_type, SLSA_PROVENANCE_V1);
    let statement: serde_json::Value = serde_json::from_slice(&bundle.statement).unwrap();
    assert_eq!(statement["predicateType"], SLSA_PROVENANCE_V1);
    assert_eq!(
        statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["repository"],
        REPO
    );
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        DIGEST.strip_prefix("sha256:").unwrap()
    );
}

#[test]
fn an_unsigned_envelope_never_verifies() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let predicate = predicates::slsa_provenance_v1(&release());
    let json = unsigned_bundle_json(DIGEST, SLSA_PROVENANCE_V1, &predicate).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["dsseEnvelope"]["signatures"], serde_json::json!([]));
    assert!(
        verify(&forge, &json).is_err(),
        "an unsigned envelope verified"
    );
}

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
        "cosign not found at {path:?}: run `hack/tools.sh cosign`"
    );
    path
}

#[test]
fn cosign_verify_attestation_accepts_it_and_rejects_another_identity() {
    let cosign = cosign_bin();
    let registry = TestRegistry::start().expect("start docker-registry");
    let forge = PrivateSigstore::generate("forge").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, forge.trusted_root_json()).unwrap();
    let file = dir.path().join("content.txt");
    std::fs::write(&file, "attested").unwrap();
    let repo = format!("{}/app", registry.host);
    let digest =
        push::push_artifact(&format!("{repo}:v1"), &file, &ArtifactMeta::default()).unwrap();
    let build = release();
    let predicate = predicates::slsa_provenance_v1(&build);
    let bundle = forge
        .attest(
            &leaf(&forge, &build),
            &digest,
            SLSA_PROVENANCE_V1,
            &predicate,
            &SignOptions::default(),
        )
        .unwrap();
    push::attach_bundle(&repo, &digest, &bundle).unwrap();
    // And an unsigned one beside it: cosign must not count it.
    let unsigned = unsigned_bundle_json(&digest, SLSA_PROVENANCE_V1, &predicate).unwrap();
    push::attach_bundle_json(&repo, &digest, &unsigned, SLSA_PROVENANCE_V1).unwrap();

    // (cosign's --certificate-github-workflow-* flags read the deprecated OIDs .2–.6, which
    // Fulcio no longer writes; the identity is what binds the repository.)
    let run = |identity_re: &str| {
        let out = Command::new(&cosign)
            .args([
                "verify-attestation",
                "--type",
                "slsaprovenance1",
                "--trusted-root",
            ])
            .arg(&root)
            .args(["--certificate-identity-regexp", identity_re])
            .args(["--certificate-oidc-issuer", ISSUER])
            .arg(format!("{repo}@{digest}"))
            .current_dir(dir.path())
            .env("TUF_ROOT", dir.path().join("tuf"))
            .output()
            .expect("run cosign");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run("^https://github\\.com/example/app/");
    assert!(ok, "cosign verify-attestation failed: {text}");
    // cosign prints each verified envelope: exactly one, ours (the unsigned one is not).
    let envelopes: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(envelopes.len(), 1, "{text}");
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelopes[0]["payload"].as_str().unwrap())
        .unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicateType"], SLSA_PROVENANCE_V1);
    let (ok, text) = run("^https://github\\.com/example/other/");
    assert!(!ok, "cosign accepted another repository's identity: {text}");
}
