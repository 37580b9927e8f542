//! The forged material verifies with `sigstore-verify` against the generated trusted root, with
//! every check on (chain, SCT, SET, inclusion proof, checkpoint), and the forgeries fail.

use sigstore_forge::{CiClaims, LeafSpec, PrivateSigstore, SignOptions};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};

const ID: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPO: &str = "127.0.0.1:5000/app";

fn spec() -> LeafSpec {
    let mut spec = LeafSpec::uri(ID, ISSUER);
    spec.ci = CiClaims {
        source_repository_uri: Some("https://github.com/example/app".into()),
        source_repository_ref: Some("refs/heads/main".into()),
        build_signer_uri: Some(ID.into()),
        build_config_uri: Some(ID.into()),
        ..Default::default()
    };
    spec
}

fn verifier(forge: &PrivateSigstore) -> Verifier {
    let root = TrustedRoot::from_json(&forge.trusted_root_json()).expect("trusted root parses");
    Verifier::new(&root).expect("verifier accepts the trusted root")
}

/// Asserts `result` failed with an error whose text contains `reason`.
#[track_caller]
fn fails_with<T: std::fmt::Debug>(result: sigstore_verify::Result<T>, reason: &str) {
    match result {
        Ok(value) => panic!("expected failure ({reason}), got {value:?}"),
        Err(e) => assert!(
            e.to_string().contains(reason),
            "expected {reason:?} in: {e}"
        ),
    }
}

fn digest(d: &str) -> Sha256Hash {
    Sha256Hash::from_hex(d.strip_prefix("sha256:").unwrap()).unwrap()
}

fn verify_bundle(
    forge: &PrivateSigstore,
    json: &str,
    d: &str,
) -> sigstore_verify::Result<sigstore_verify::VerificationResult> {
    let bundle = Bundle::from_json(json).expect("bundle parses");
    verifier(forge).verify(digest(d), &bundle, &VerificationPolicy::any_identity())
}

fn verify_legacy(
    forge: &PrivateSigstore,
    sig: &sigstore_forge::LegacySignature,
) -> sigstore_verify::Result<sigstore_verify::VerificationResult> {
    let bundle = Bundle::from_json(&sig.to_v01_bundle_json()).expect("v0.1 bundle parses");
    verifier(forge).verify(
        sig.payload.as_slice(),
        &bundle,
        &VerificationPolicy::any_identity(),
    )
}

#[test]
fn trusted_root_parses_with_all_sections() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let root = TrustedRoot::from_json(&forge.trusted_root_json()).unwrap();
    assert_eq!(root.tlogs.len(), 1);
    assert_eq!(root.ctlogs.len(), 1);
    assert_eq!(root.certificate_authorities.len(), 1);
    assert_eq!(
        root.certificate_authorities[0]
            .cert_chain
            .certificates
            .len(),
        2
    );
}

#[test]
fn genuine_bundle_verifies_with_every_check_and_reads_back_claims() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge.issue_leaf(&spec()).unwrap();
    let bundle = forge
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    let result = verify_bundle(&forge, &bundle.json, DIGEST).expect("genuine bundle verifies");
    assert!(result.certificate_verified() && result.sct_verified() && result.tlog_verified());
    assert_eq!(result.identity().unwrap().as_str(), ID);
    assert_eq!(result.issuer(), Some(ISSUER));
    let claims = &result.certificate().unwrap().ci_claims;
    assert_eq!(
        claims.source_repository_uri.as_deref(),
        Some("https://github.com/example/app")
    );
    assert_eq!(
        claims.source_repository_ref.as_deref(),
        Some("refs/heads/main")
    );
    assert_eq!(claims.build_signer_uri.as_deref(), Some(ID));
    assert_eq!(claims.build_config_uri.as_deref(), Some(ID));
    let statement: serde_json::Value = serde_json::from_slice(&bundle.statement).unwrap();
    assert_eq!(
        statement["predicateType"],
        sigstore_forge::COSIGN_SIGN_PREDICATE
    );
}

#[test]
fn genuine_legacy_signature_verifies_as_v01_bundle() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge
        .issue_leaf(&LeafSpec::email(
            "dev@example.com",
            "https://accounts.example.com",
        ))
        .unwrap();
    let sig = forge
        .sign_legacy(&leaf, REPO, DIGEST, &SignOptions::default())
        .unwrap();
    let result = verify_legacy(&forge, &sig).expect("genuine legacy signature verifies");
    assert!(result.certificate_verified() && result.sct_verified() && result.tlog_verified());
    assert_eq!(result.identity().unwrap().as_str(), "dev@example.com");
    assert_eq!(result.issuer(), Some("https://accounts.example.com"));
    let payload: serde_json::Value = serde_json::from_slice(&sig.payload).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        DIGEST
    );
    assert_eq!(payload["critical"]["identity"]["docker-reference"], REPO);
}

#[test]
fn leaf_from_an_untrusted_ca_fails() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let rogue = PrivateSigstore::generate("rogue").unwrap();
    let leaf = rogue.issue_leaf(&spec()).unwrap();
    // Logged in the trusted Rekor, but the certificate chains to the rogue CA.
    let bundle = forge
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    fails_with(verify_bundle(&forge, &bundle.json, DIGEST), "UnknownIssuer");
    let sig = forge
        .sign_legacy(&leaf, REPO, DIGEST, &SignOptions::default())
        .unwrap();
    fails_with(verify_legacy(&forge, &sig), "UnknownIssuer");
    // Entirely rogue material verifies against its own root only.
    let rogue_bundle = rogue
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    assert!(verify_bundle(&rogue, &rogue_bundle.json, DIGEST).is_ok());
    fails_with(
        verify_bundle(&forge, &rogue_bundle.json, DIGEST),
        "No log key valid",
    );
}

#[test]
fn bundle_over_another_digest_fails_subject_check() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge.issue_leaf(&spec()).unwrap();
    let opts = SignOptions {
        signed_digest: Some(OTHER.into()),
        ..Default::default()
    };
    let bundle = forge.sign_bundle(&leaf, DIGEST, &opts).unwrap();
    fails_with(
        verify_bundle(&forge, &bundle.json, DIGEST),
        "does not match any subject",
    );
    assert!(
        verify_bundle(&forge, &bundle.json, OTHER).is_ok(),
        "it is a genuine signature of OTHER"
    );
}

#[test]
fn corrupted_set_fails_both_formats() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge.issue_leaf(&spec()).unwrap();
    let opts = SignOptions {
        corrupt_set: true,
        ..Default::default()
    };
    let bundle = forge.sign_bundle(&leaf, DIGEST, &opts).unwrap();
    fails_with(
        verify_bundle(&forge, &bundle.json, DIGEST),
        "SET verification failed",
    );
    let sig = forge.sign_legacy(&leaf, REPO, DIGEST, &opts).unwrap();
    fails_with(verify_legacy(&forge, &sig), "SET verification failed");
}

#[test]
fn swapped_payload_with_genuine_cert_and_set_fails() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge.issue_leaf(&spec()).unwrap();
    let opts = SignOptions {
        swap_payload_digest: Some(OTHER.into()),
        ..Default::default()
    };
    let sig = forge.sign_legacy(&leaf, REPO, DIGEST, &opts).unwrap();
    fails_with(verify_legacy(&forge, &sig), "signature invalid");
    let bundle = forge.sign_bundle(&leaf, DIGEST, &opts).unwrap();
    fails_with(
        verify_bundle(&forge, &bundle.json, OTHER),
        "DSSE signature verification failed",
    );
}

#[test]
fn custom_predicate_type_still_verifies_cryptographically() {
    // sigstore-verify does not check predicateType: the caller must (see sigstore-libraries.md).
    let forge = PrivateSigstore::generate("forge").unwrap();
    let leaf = forge.issue_leaf(&spec()).unwrap();
    let opts = SignOptions {
        predicate_type: Some("https://example.com/other/v1".into()),
        ..Default::default()
    };
    let bundle = forge.sign_bundle(&leaf, DIGEST, &opts).unwrap();
    assert!(verify_bundle(&forge, &bundle.json, DIGEST).is_ok());
    let statement: serde_json::Value = serde_json::from_slice(&bundle.statement).unwrap();
    assert_eq!(statement["predicateType"], "https://example.com/other/v1");
}

#[test]
fn leaf_without_sct_fails_unless_sct_is_skipped() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    let mut spec = spec();
    spec.sct = false;
    let leaf = forge.issue_leaf(&spec).unwrap();
    let bundle = forge
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    fails_with(
        verify_bundle(&forge, &bundle.json, DIGEST),
        "missing SCT extension",
    );
    let parsed = Bundle::from_json(&bundle.json).unwrap();
    let policy = VerificationPolicy::any_identity().skip_sct();
    assert!(verifier(&forge)
        .verify(digest(DIGEST), &parsed, &policy)
        .is_ok());
}

#[test]
fn integrated_time_outside_the_leaf_validity_fails() {
    let forge = PrivateSigstore::generate("forge").unwrap();
    // An expired leaf logged now: the chain is checked at Rekor's integrated time and fails.
    let mut spec = spec();
    let now = time::OffsetDateTime::now_utc();
    spec.not_before = Some(now - time::Duration::minutes(30));
    spec.not_after = Some(now - time::Duration::minutes(20));
    let leaf = forge.issue_leaf(&spec).unwrap();
    let bundle = forge
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    fails_with(verify_bundle(&forge, &bundle.json, DIGEST), "CertExpired");
}

#[test]
fn saved_instance_loads_and_keeps_signing_verifiably() {
    let dir = tempfile::tempdir().unwrap();
    let forge = PrivateSigstore::generate("forge").unwrap();
    forge.save(dir.path()).unwrap();
    let loaded = PrivateSigstore::load(dir.path()).unwrap();
    assert_eq!(loaded.trusted_root_json(), forge.trusted_root_json());
    let leaf = loaded.issue_leaf(&spec()).unwrap();
    let bundle = loaded
        .sign_bundle(&leaf, DIGEST, &SignOptions::default())
        .unwrap();
    assert!(verify_bundle(&forge, &bundle.json, DIGEST).is_ok());
}
