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
                .join("tests/data/sigstore-conformance/bundle-verify")
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

/// Exit codes of the contract in `src/cli/mod.rs`.
const VERIFIED: i32 = 0;
const REJECTED: i32 = 1;
const COULD_NOT_TELL: i32 = 2;

/// `_fail` cases whose failure is an input the check needs, not the bundle: a trust root or key
/// that cannot be used means the client could not tell (exit 2), never "this bundle is bad"
/// (exit 1). Each with why.
const UNUSABLE_INPUT_CASES: [(&str, &str); 2] = [
    (
        "trust-root-tlog-missing-validity-start_fail",
        "the trusted root's log key has no validFor.start: a malformed trust root",
    ),
    (
        "managed-key-wrong-key_fail",
        "key.pub is not a PEM key (its base64 ends in `++++wrongkey==`): a malformed key",
    ),
];

/// The exit code a case must give.
fn expected_exit(name: &str) -> i32 {
    if !name.ends_with("_fail") {
        VERIFIED
    } else if UNUSABLE_INPUT_CASES.iter().any(|(case, _)| *case == name) {
        COULD_NOT_TELL
    } else {
        REJECTED
    }
}

/// Runs one case; returns the client's exit code.
fn run_case(case: &Path, artifact: &Path, as_digest: bool) -> i32 {
    run_case_with(
        case,
        &case.join("bundle.sigstore.json"),
        artifact,
        as_digest,
    )
}

/// Runs one case with another bundle file (to test unreadable inputs).
fn run_case_with(case: &Path, bundle: &Path, artifact: &Path, as_digest: bool) -> i32 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"));
    cmd.arg("verify-bundle").arg("--bundle").arg(bundle);
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
    out.status.code().expect("exited, not killed")
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
        let want = expected_exit(&name);
        let artifact = if case.join("artifact").exists() {
            case.join("artifact")
        } else {
            dir.join("a.txt")
        };
        for as_digest in [false, true] {
            let got = run_case(case, &artifact, as_digest);
            if got == want {
                passed += 1;
            } else {
                failures.push(format!(
                    "{name} ({}): exit {got}, expected {want}",
                    if as_digest { "digest" } else { "file" },
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

/// Inputs the client cannot use are "could not tell" (exit 2), never a rejection (exit 1) nor a
/// pass: a missing bundle or artifact file, a trust root that is missing or not JSON.
#[test]
fn unusable_inputs_exit_2_not_1() {
    let dir = vectors_dir();
    let case = dir.join("happy-path-v0.3");
    let artifact = dir.join("a.txt");
    assert_eq!(
        run_case(&case, &artifact, false),
        VERIFIED,
        "the baseline verifies"
    );
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.json");
    assert_eq!(
        run_case_with(&case, &missing, &artifact, false),
        COULD_NOT_TELL,
        "unreadable bundle"
    );
    assert_eq!(
        run_case(&case, &tmp.path().join("no-artifact"), false),
        COULD_NOT_TELL,
        "unreadable artifact"
    );
    // A case with a trust root of its own, given one that is not JSON.
    let with_root = dir.join("rekor2-happy-path");
    assert!(with_root.join("trusted_root.json").exists());
    let copy = tmp.path().join("case");
    std::fs::create_dir(&copy).unwrap();
    for f in ["bundle.sigstore.json", "identity", "issuer"] {
        if with_root.join(f).exists() {
            std::fs::copy(with_root.join(f), copy.join(f)).unwrap();
        }
    }
    let artifact = if with_root.join("artifact").exists() {
        with_root.join("artifact")
    } else {
        artifact
    };
    std::fs::copy(
        with_root.join("trusted_root.json"),
        copy.join("trusted_root.json"),
    )
    .unwrap();
    assert_eq!(
        run_case(&copy, &artifact, false),
        VERIFIED,
        "the copy verifies"
    );
    std::fs::write(copy.join("trusted_root.json"), "{not json").unwrap();
    assert_eq!(
        run_case(&copy, &artifact, false),
        COULD_NOT_TELL,
        "malformed trust root"
    );
    // A malformed bundle is the thing under test: rejected.
    std::fs::write(copy.join("bundle.sigstore.json"), "{not json").unwrap();
    std::fs::copy(
        with_root.join("trusted_root.json"),
        copy.join("trusted_root.json"),
    )
    .unwrap();
    assert_eq!(
        run_case(&copy, &artifact, false),
        REJECTED,
        "malformed bundle"
    );
}
