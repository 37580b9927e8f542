//! `provenance-auditor verify` with attestations, end to end: the real binary, the real
//! `docker-registry`, attestations made by the real cosign v3.1.2 with a key (SLSA provenance v1
//! and an SPDX SBOM). `--attestation` / `--attestation-condition` decide `attested` and the exit
//! code; without them, what was found is reported with a ready-to-paste `attestations:` block.
//! These tests fail, not skip, when cosign or docker-registry is missing.

mod support;

use std::path::Path;

use support::cli::{cosign_keypair, cosign_sign, run_cosign, verify};
use support::registry::RealRegistry;

const SLSA_V1: &str = r#"{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
 "externalParameters":{"workflow":{"repository":"https://github.com/org/repo","path":".github/workflows/release.yml","ref":"refs/tags/v1.2.3"}},
 "resolvedDependencies":[{"uri":"git+https://github.com/org/repo@refs/tags/v1.2.3","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
 "runDetails":{"builder":{"id":"https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3"}}}"#;
const SPDX: &str = r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app",
 "creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: syft-1.0.0"]},"packages":[{"name":"a","SPDXID":"SPDXRef-a"}]}"#;

/// `cosign attest` with the key in `key_dir`, offline (no log, no signing config).
fn cosign_attest(key_dir: &Path, reference: &str, kind: &str, predicate: &str) {
    let file = key_dir.join(format!("{kind}.json"));
    std::fs::write(&file, predicate).unwrap();
    let file = file.to_string_lossy().into_owned();
    let args = [
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
        reference,
    ];
    let (ok, out) = run_cosign(key_dir, &args);
    assert!(ok, "cosign attest {kind} {reference}: {out}");
}

#[tokio::test]
async fn required_attestations_decide_attested_and_the_exit_code() {
    let reg = RealRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pub_key = cosign_keypair(dir.path(), "key");
    let key_dir = dir.path().join("key");
    let digest = reg.push_artifact("flux/provenance", "v1").await;
    let reference = format!("{}/flux/provenance@{digest}", reg.host());
    cosign_sign(&key_dir, &reference, false);
    cosign_attest(&key_dir, &reference, "slsaprovenance1", SLSA_V1);
    cosign_attest(&key_dir, &reference, "spdxjson", SPDX);
    let key = pub_key.to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec![reference.as_str(), "--key", key.as_str()];
        args.extend_from_slice(extra);
        verify(&args)
    };

    // What was found, typed, and a block to require it.
    let found = run(&[]);
    assert_eq!(found.code, 0, "{found:?}");
    let r = found.result(0);
    assert_eq!(r["verdict"], "Verified", "{found:?}");
    let atts = r["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{found:?}");
    assert!(atts.iter().all(|a| a["verdict"] == "Verified"), "{found:?}");
    let slsa = atts
        .iter()
        .find(|a| a["predicateType"] == "https://slsa.dev/provenance/v1")
        .unwrap();
    assert_eq!(
        slsa["predicate"]["sourceCommit"], "0123456789abcdef0123456789abcdef01234567",
        "{found:?}"
    );
    assert!(r.get("attested").is_none(), "{found:?}");
    let block = r["suggestedAttestations"].as_str().unwrap();
    assert!(
        block.contains("predicateType: 'https://slsa.dev/provenance/v1'")
            && block.contains("https://spdx.dev/Document"),
        "{block}"
    );

    // Required and satisfied: provenance from a tag, and the SBOM (by its cosign name).
    let ok = run(&[
        "--attestation",
        "slsaprovenance1",
        "--attestation",
        "spdxjson",
    ]);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.result(0)["attested"]["reason"], "Attested", "{ok:?}");
    let tag = "predicate.buildDefinition.externalParameters.workflow.ref.startsWith('refs/tags/')";
    let ok = run(&[
        "--attestation",
        "slsaprovenance1",
        "--attestation-condition",
        tag,
    ]);
    assert_eq!(ok.code, 0, "{ok:?}");

    // Missing, failed condition: definite (exit 1), the message names what failed.
    let missing = run(&["--attestation", "cyclonedx"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert_eq!(
        missing.result(0)["attested"]["reason"],
        "AttestationMissing"
    );
    let branch = "predicate.buildDefinition.externalParameters.workflow.ref == 'refs/heads/main'";
    let failed = run(&[
        "--attestation",
        "slsaprovenance1",
        "--attestation-condition",
        branch,
    ]);
    assert_eq!(failed.code, 1, "{failed:?}");
    let attested = &failed.result(0)["attested"];
    assert_eq!(attested["reason"], "AttestationPolicyFailed", "{failed:?}");
    assert!(
        attested["message"]
            .as_str()
            .unwrap()
            .contains("refs/heads/main"),
        "{failed:?}"
    );

    // A condition that cannot be evaluated: could not tell (exit 2), never satisfied.
    let error = run(&[
        "--attestation",
        "slsaprovenance1",
        "--attestation-condition",
        "predicate.noSuchField == 'x'",
    ]);
    assert_eq!(error.code, 2, "{error:?}");
    assert_eq!(error.result(0)["attested"]["status"], "Unknown");
    assert_eq!(error.result(0)["attested"]["reason"], "ConditionError");

    // An invalid expression is a usage error, before any request.
    let invalid = run(&[
        "--attestation",
        "slsaprovenance1",
        "--attestation-condition",
        "a ==",
    ]);
    assert_eq!(invalid.code, 2, "{invalid:?}");
    assert!(invalid.stderr.contains("a =="), "{invalid:?}");
}
