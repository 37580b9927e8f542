//! The sigstore-conformance bundle-verification vectors, driven through `verify-bundle` exactly
//! as the upstream suite drives a client: every case as a file and as a digest (140 results).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("PA_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/sigstore-conformance/bundle-verify")
        });
    assert!(
        dir.is_dir(),
        "conformance vectors not found at {} (set PA_CONFORMANCE_DIR)",
        dir.display()
    );
    dir
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Runs one case; returns whether the client said "verified".
fn run_case(case: &Path, artifact: &Path, as_digest: bool) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"));
    cmd.arg("verify-bundle")
        .arg("--bundle")
        .arg(case.join("bundle.sigstore.json"));
    if case.join("key.pub").exists() {
        cmd.arg("--key").arg(case.join("key.pub"));
    } else {
        let identity =
            read_trimmed(&case.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into());
        let issuer = read_trimmed(&case.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into());
        cmd.args([
            "--certificate-identity",
            &identity,
            "--certificate-oidc-issuer",
            &issuer,
        ]);
    }
    if case.join("trusted_root.json").exists() {
        cmd.arg("--trusted-root")
            .arg(case.join("trusted_root.json"));
    }
    if as_digest {
        let bytes = std::fs::read(artifact).expect("artifact");
        cmd.arg(format!("sha256:{}", hex::encode(Sha256::digest(bytes))));
    } else {
        cmd.arg(artifact);
    }
    let out = cmd.output().expect("run provenance-auditor");
    out.status.success()
}

#[test]
fn all_conformance_vectors_give_the_expected_result_as_file_and_as_digest() {
    let dir = vectors_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("bundle.sigstore.json").exists())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 70, "expected the 70 upstream cases");
    let mut failures = vec![];
    let mut passed = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expect_ok = !name.ends_with("_fail");
        let artifact = if case.join("artifact").exists() {
            case.join("artifact")
        } else {
            dir.join("a.txt")
        };
        for as_digest in [false, true] {
            let ok = run_case(case, &artifact, as_digest);
            if ok == expect_ok {
                passed += 1;
            } else {
                failures.push(format!(
                    "{name} ({}): expected {}",
                    if as_digest { "digest" } else { "file" },
                    if expect_ok { "pass" } else { "fail" }
                ));
            }
        }
    }
    println!("conformance: {passed}/140");
    assert!(
        failures.is_empty(),
        "{} of 140 wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, 140);
}
