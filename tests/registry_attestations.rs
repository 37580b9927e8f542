//! Attestations on the real `docker-registry` (no referrers API, so the `sha256-<hex>` tag
//! fallback): made by the real cosign v3.1.2 with a key in both formats, and a real public
//! SLSA-generator attestation (legacy `.att`, Rekor `intoto` 0.0.1) pushed from its OCI layout.
//! Discovered, verified and read into typed evidence; never counted as signatures. These tests
//! fail, not skip, when cosign or docker-registry is missing.

mod support;

use std::path::Path;

use provenance_auditor::engine::attest::{self, Predicate, SbomFormat};
use provenance_auditor::engine::{self, IdentityRule, Policy, PublicKey, TrustRoot, Verdict};
use provenance_auditor::registry::{
    DiscoverOptions, RegistryClient, RegistryOptions, SignatureLocation,
};
use support::cli::{cosign_keypair, cosign_sign, run_cosign};
use support::registry::RealRegistry;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/attestations");
const WITH_ATT: DiscoverOptions = DiscoverOptions {
    legacy_attestations: true,
    within_budget: false,
};

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default()).unwrap()
}

const SLSA_V1: &str = r#"{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
 "externalParameters":{"workflow":{"repository":"https://github.com/org/repo","path":".github/workflows/release.yml","ref":"refs/tags/v1.2.3"}},
 "resolvedDependencies":[{"uri":"git+https://github.com/org/repo@refs/tags/v1.2.3","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
 "runDetails":{"builder":{"id":"https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3"},"metadata":{"invocationId":"https://github.com/org/repo/actions/runs/1/attempts/1"}}}"#;
const SPDX: &str = r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app",
 "creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: syft-1.0.0"]},"packages":[{"name":"a","SPDXID":"SPDXRef-a"},{"name":"b","SPDXID":"SPDXRef-b"}]}"#;
const CYCLONEDX: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
 "metadata":{"tools":{"components":[{"type":"application","name":"trivy","version":"0.50.0"}]}},"components":[{"type":"library","name":"a"},{"type":"library","name":"b"},{"type":"library","name":"c"}]}"#;

/// `cosign attest` with the key in `key_dir`, offline (no log, no signing config).
fn cosign_attest(key_dir: &Path, reference: &str, kind: &str, predicate: &str, legacy: bool) {
    let file = key_dir.join(format!("{kind}.json"));
    std::fs::write(&file, predicate).unwrap();
    let file = file.to_string_lossy().into_owned();
    let mut args = vec![
        "attest",
        "--yes",
        "--key",
        "cosign.key",
        "--type",
        kind,
        "--predicate",
        &file,
        "--tlog-upload=false",
        "--use-signing-config=false",
    ];
    if legacy {
        args.push("--new-bundle-format=false");
    }
    args.push(reference);
    let (ok, out) = run_cosign(key_dir, &args);
    assert!(ok, "cosign attest {kind} {reference}: {out}");
}

fn key_policy(pub_path: &Path) -> Policy {
    let pem = std::fs::read_to_string(pub_path).unwrap();
    Policy::Keys {
        keys: vec![PublicKey::from_pem("cosign.pub", pem.as_bytes()).unwrap()],
        require_tlog: false,
    }
}

#[tokio::test]
async fn cosign_key_attestations_in_both_formats_are_discovered_verified_and_typed() {
    let reg = RealRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pub_key = cosign_keypair(dir.path(), "key");
    let key_dir = dir.path().join("key");
    let digest = reg.push_artifact("flux/attested", "v1").await;
    let reference = format!("{}/flux/attested@{digest}", reg.host());
    cosign_sign(&key_dir, &reference, false);
    for legacy in [false, true] {
        cosign_attest(&key_dir, &reference, "slsaprovenance1", SLSA_V1, legacy);
        cosign_attest(&key_dir, &reference, "spdxjson", SPDX, legacy);
        cosign_attest(&key_dir, &reference, "cyclonedx", CYCLONEDX, legacy);
    }

    let c = client();
    // The first discovery on a registry probes its referrers API (absent here): not counted.
    c.discover(reg.host(), "flux/attested", &digest)
        .await
        .unwrap();
    // Signatures only: the attestations are sorted out of the same listing, at no extra cost.
    let before = c.requests_made();
    let d = c
        .discover(reg.host(), "flux/attested", &digest)
        .await
        .unwrap();
    let plain = c.requests_made() - before;
    assert_eq!(
        (d.bundles.len(), d.attestations.len(), d.legacy.len()),
        (1, 3, 0),
        "{d:?}"
    );
    assert!(d.legacy_attestations.is_empty() && !d.attestations_complete());
    // The .att tag on request: one manifest and one blob per layer more.
    let before = c.requests_made();
    let d = c
        .discover_with(reg.host(), "flux/attested", &digest, WITH_ATT)
        .await
        .unwrap();
    let with_att = c.requests_made() - before;
    assert_eq!(with_att, plain + 1 + 3, "requests: {plain} vs {with_att}");
    eprintln!("requests per discovery: {plain} without the .att tag, {with_att} with it");
    assert_eq!(d.legacy_attestations.len(), 3, "{d:?}");
    assert!(d.attestations_complete(), "{:?}", d.attestations_incomplete);

    let policy = key_policy(&pub_key);
    let trust = TrustRoot::public_good().unwrap();
    // The signature verdict sees one signature, whatever else is attached.
    let e = engine::evaluate(&d, &digest, &policy, &trust);
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert_eq!(e.signatures.len(), 1, "{:?}", e.signatures);

    let ev = attest::evaluate(&d, &digest, &policy, &trust);
    assert_eq!(ev.len(), 6);
    for (i, a) in ev.iter().enumerate() {
        assert_eq!(a.verdict, Verdict::Verified, "{i}: {}", a.message);
        assert!(a.statement.is_some());
        let want = if i < 3 {
            SignatureLocation::ReferrersTag
        } else {
            SignatureLocation::LegacyAttestationTag
        };
        assert_eq!(a.location, want);
    }
    for half in [&ev[..3], &ev[3..]] {
        let of = |t: &str| half.iter().find(|a| a.predicate_type == t).unwrap();
        let Some(Predicate::Provenance(p)) = &of("https://slsa.dev/provenance/v1").predicate else {
            panic!("{half:?}")
        };
        assert_eq!(
            p.source_commit.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(p.workflow_ref.as_deref(), Some("refs/tags/v1.2.3"));
        assert_eq!(
            of("https://slsa.dev/provenance/v1").summary().as_deref(),
            Some("built from github.com/org/repo@0123456789abcdef0123456789abcdef01234567 by .github/workflows/release.yml@refs/tags/v1.2.3")
        );
        let Some(Predicate::Sbom(s)) = &of("https://spdx.dev/Document").predicate else {
            panic!("{half:?}")
        };
        assert_eq!(
            (s.format, s.packages, s.generator.as_deref()),
            (SbomFormat::Spdx, 2, Some("syft-1.0.0"))
        );
        let Some(Predicate::Sbom(s)) = &of("https://cyclonedx.org/bom").predicate else {
            panic!("{half:?}")
        };
        assert_eq!(
            (s.format, s.packages, s.generator.as_deref()),
            (SbomFormat::Cyclonedx, 3, Some("trivy 0.50.0"))
        );
    }

    // Another key: no attestation verifies, none is read.
    let other = cosign_keypair(dir.path(), "other");
    for a in attest::evaluate(&d, &digest, &key_policy(&other), &trust) {
        assert_eq!(a.verdict, Verdict::KeyMismatch, "{}", a.message);
        assert!(a.predicate.is_none() && a.statement.is_none());
    }
    // Another digest: the statements are about this one.
    let elsewhere = reg.push_artifact("flux/attested", "v2").await;
    for a in attest::evaluate(&d, &elsewhere, &policy, &trust) {
        assert_eq!(a.verdict, Verdict::DigestMismatch, "{}", a.message);
    }
}

#[tokio::test]
async fn an_artifact_with_only_an_sbom_is_unsigned_not_a_broken_signature() {
    let reg = RealRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pub_key = cosign_keypair(dir.path(), "key");
    let digest = reg.push_artifact("flux/sbom-only", "v1").await;
    let reference = format!("{}/flux/sbom-only@{digest}", reg.host());
    cosign_attest(&dir.path().join("key"), &reference, "spdxjson", SPDX, false);
    let d = client()
        .discover(reg.host(), "flux/sbom-only", &digest)
        .await
        .unwrap();
    let e = engine::evaluate(
        &d,
        &digest,
        &key_policy(&pub_key),
        &TrustRoot::public_good().unwrap(),
    );
    assert_eq!(e.verdict, Verdict::Unsigned, "{}", e.message);
    assert!(e.signatures.is_empty(), "{:?}", e.signatures);
    assert_eq!(d.attestations.len(), 1);
}

/// Pushes an OCI image layout (`cosign save` output): every blob, then the image manifests, the
/// index, and the legacy attestation manifest under `sha256-<index hex>.att`.
async fn push_layout(reg: &RealRegistry, repo: &str, layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        reg.push_blob(repo, &std::fs::read(entry.unwrap().path()).unwrap())
            .await;
    }
    let mut image_index = None;
    let mut attestation = None;
    for m in index["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap().to_string();
        match m["annotations"]["kind"].as_str() {
            Some("dev.cosignproject.cosign/imageIndex") => image_index = Some(digest),
            Some("dev.cosignproject.cosign/atts") => attestation = Some(digest),
            _ => {}
        }
    }
    let (image_index, attestation) = (image_index.unwrap(), attestation.unwrap());
    let idx: serde_json::Value = serde_json::from_slice(&blob(&image_index)).unwrap();
    for m in idx["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        let media_type = m["mediaType"].as_str().unwrap();
        reg.push_manifest(repo, d, media_type, &blob(d)).await;
    }
    let oci_index = "application/vnd.oci.image.index.v1+json";
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    reg.push_manifest(repo, &image_index, oci_index, &blob(&image_index))
        .await;
    let tag = format!("{}.att", image_index.replacen(':', "-", 1));
    reg.push_manifest(repo, &tag, oci_manifest, &blob(&attestation))
        .await;
    image_index
}

// Origin: slsa-framework/slsa-verifier testdata (see tests/data/attestations/SOURCE.md).
#[tokio::test]
async fn the_slsa_generators_legacy_attestation_verifies_for_the_image_index_digest() {
    let reg = RealRegistry::start();
    let layout = Path::new(DATA).join("slsa-github-generator-container-v1.9.0");
    let digest = push_layout(
        &reg,
        "example-package",
        &layout.join("container_workflow_dispatch"),
    )
    .await;
    assert_eq!(
        digest,
        std::fs::read_to_string(layout.join("container_workflow_dispatch.digest"))
            .unwrap()
            .trim()
    );
    let d = client()
        .discover_with(reg.host(), "example-package", &digest, WITH_ATT)
        .await
        .unwrap();
    assert_eq!(d.legacy_attestations.len(), 1, "{d:?}");
    assert!(d.attestations_complete());
    let builder = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0";
    let policy = Policy::Keyless {
        identities: vec![IdentityRule::new(
            "^https://token.actions.githubusercontent.com$",
            &format!("^{}$", regex::escape(builder)),
        )
        .unwrap()],
    };
    let trust = TrustRoot::public_good().unwrap();
    let [a] = &attest::evaluate(&d, &digest, &policy, &trust)[..] else {
        panic!()
    };
    assert_eq!(a.verdict, Verdict::Verified, "{}", a.message);
    assert_eq!(a.predicate_type, "https://slsa.dev/provenance/v0.2");
    let Some(Predicate::Provenance(p)) = &a.predicate else {
        panic!("{a:?}")
    };
    assert_eq!(p.builder_id.as_deref(), Some(builder));
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/slsa-framework/example-package")
    );
    assert_eq!(
        p.source_commit.as_deref(),
        Some("2bcaa7495e1cbd11fbd4f598d857b3a6f18df933")
    );
    assert_eq!(
        p.workflow_path.as_deref(),
        Some(".github/workflows/verifier-e2e.all.workflow_dispatch.main.all.slsa3.yml")
    );
    let cert = a.certificate.as_ref().unwrap();
    assert_eq!(
        cert.source_repository_uri.as_deref(),
        Some("https://github.com/slsa-framework/example-package")
    );
    assert_eq!(cert.runner_environment.as_deref(), Some("github-hosted"));
    let summary = a.summary().unwrap();
    assert!(
        summary.starts_with(
            "built from github.com/slsa-framework/example-package@2bcaa7495e1cbd11fbd4f598d857b3a6f18df933 by "
        ) && summary.ends_with(" on github-hosted"),
        "{summary}"
    );

    // Another identity, another digest: not Verified.
    let wrong = Policy::Keyless {
        identities: vec![IdentityRule::new(".*", "^https://github.com/someone-else/").unwrap()],
    };
    let [a] = &attest::evaluate(&d, &digest, &wrong, &trust)[..] else {
        panic!()
    };
    assert_eq!(a.verdict, Verdict::IdentityMismatch, "{}", a.message);
    let other = format!("sha256:{}", "ab".repeat(32));
    let [a] = &attest::evaluate(&d, &other, &policy, &trust)[..] else {
        panic!()
    };
    assert_eq!(a.verdict, Verdict::DigestMismatch, "{}", a.message);
}
