//! Runs the real `provenance-auditor` binary and real `cosign`, and reads their results.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What one `provenance-auditor verify -o json` run said.
pub struct VerifyRun {
    /// Process exit code.
    pub code: i32,
    /// The parsed JSON document.
    pub json: Value,
    /// Standard error, for assertion messages.
    pub stderr: String,
}

impl VerifyRun {
    /// The first result's verdict.
    pub fn verdict(&self) -> &str {
        self.result(0)["verdict"].as_str().unwrap_or("<none>")
    }

    /// The i-th result.
    pub fn result(&self, i: usize) -> &Value {
        &self.json["results"][i]
    }

    /// The first result's signatures.
    pub fn signatures(&self) -> Vec<Value> {
        self.result(0)["signatures"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for VerifyRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n{}\nstderr: {}",
            self.code,
            serde_json::to_string_pretty(&self.json).unwrap_or_default(),
            self.stderr
        )
    }
}

/// `provenance-auditor verify -o json ARGS…`.
pub fn verify(args: &[&str]) -> VerifyRun {
    let out = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"))
        .arg("verify")
        .args(["-o", "json", "--timeout", "5s"])
        .args(args)
        .output()
        .expect("run provenance-auditor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    VerifyRun {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

/// The real cosign binary (`$COSIGN`, else the project's per-machine cache). Panics with the
/// command to install it: these tests must fail, not skip, without it.
pub fn cosign() -> PathBuf {
    let path = std::env::var_os("COSIGN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let out = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/tools.sh"))
                .args(["path", "cosign"])
                .output()
                .expect("hack/tools.sh path cosign");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        });
    assert!(
        path.is_file(),
        "cosign not found at {}: run `bash hack/tools.sh cosign` (or `make tools`)",
        path.display()
    );
    path
}

/// Runs cosign with an empty key password and isolated home; returns (success, combined output).
pub fn run_cosign(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(cosign())
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join("tuf"))
        .output()
        .expect("run cosign");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Generates a cosign key pair named `name` in `dir`; returns the public key path.
pub fn cosign_keypair(dir: &Path, name: &str) -> PathBuf {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    let (ok, out) = run_cosign(&sub, &["generate-key-pair"]);
    assert!(ok, "cosign generate-key-pair: {out}");
    sub.join("cosign.pub")
}

/// Signs `reference` (`HOST/REPO@sha256:…`) with the key pair in `key_dir`, offline.
pub fn cosign_sign(key_dir: &Path, reference: &str, legacy: bool) {
    let mut args = vec![
        "sign",
        "--yes",
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--use-signing-config=false",
    ];
    if legacy {
        args.push("--new-bundle-format=false");
    }
    args.push(reference);
    let (ok, out) = run_cosign(key_dir, &args);
    assert!(ok, "cosign sign {reference}: {out}");
}
