//! The `lint` fixture corpus: every directory under `tests/lint/` is one case — the inputs
//! (any `*.yaml` layout, policies included) and `expected.txt`, the findings the real binary
//! must print, one `file:line rule` per line (`(warning)`, `(info)` appended for those, and
//! `(acknowledged)` for an error excused in the file), nothing else.
//! An empty `expected.txt` means the case must stay clean (exit 0). An expected `input-error`
//! means exit 2, with the other files' findings still printed.
//!
//! Each case also runs through every output format, so the formats cannot drift from the
//! findings (`json` is the reference; `text`, `github` and `sarif` must locate the same).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "lint/realrepos.rs"]
mod realrepos;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint")
}

fn lint(case: &Path, format: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"))
        .current_dir(case)
        .args(["lint", ".", "-o", format])
        .output()
        .expect("run provenance-auditor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn key(f: &Value) -> String {
    let file = f["file"].as_str().unwrap_or("").trim_start_matches("./");
    let (line, rule) = (
        f["line"].as_u64().unwrap_or(0),
        f["rule"].as_str().unwrap_or(""),
    );
    let mut k = format!("{file}:{line} {rule}");
    match f["severity"].as_str().unwrap_or("") {
        "error" => {}
        other => k.push_str(&format!(" ({other})")),
    }
    if f.get("acknowledged").is_some() {
        k.push_str(" (acknowledged)");
    }
    k
}

fn check_case(case: &Path) -> Result<(), String> {
    let expected_text = std::fs::read_to_string(case.join("expected.txt"))
        .map_err(|e| format!("expected.txt: {e}"))?;
    let mut expected: Vec<String> = expected_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let (code, stdout, stderr) = lint(case, "json");
    let findings: Vec<Value> = serde_json::from_str(&stdout)
        .map_err(|e| format!("exit {code}, not JSON ({e}): {stdout}{stderr}"))?;
    let mut got: Vec<String> = findings.iter().map(key).collect();
    got.sort();
    expected.sort();
    if got != expected {
        let messages: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "  {}:{} {}: {}",
                    f["file"], f["line"], f["rule"], f["message"]
                )
            })
            .collect();
        return Err(format!(
            "findings differ\n expected: {expected:#?}\n got: {got:#?}\n{}",
            messages.join("\n")
        ));
    }
    let errors = findings
        .iter()
        .any(|f| f["severity"] == "error" && f.get("acknowledged").is_none());
    let unreadable = findings.iter().any(|f| f["rule"] == "input-error");
    let want = if unreadable { 2 } else { i32::from(errors) };
    if code != want {
        return Err(format!(
            "exit {code} with errors={errors} unreadable={unreadable}"
        ));
    }
    for f in &findings {
        if f["fix"].as_str().unwrap_or("").is_empty()
            || f["source"].as_str().unwrap_or("").is_empty()
        {
            return Err(format!("a finding without source or fix: {f}"));
        }
    }
    // The other formats locate the same findings.
    let (_, text, _) = lint(case, "text");
    let (_, github, _) = lint(case, "github");
    let (_, sarif, _) = lint(case, "sarif");
    let sarif: Value = serde_json::from_str(&sarif).map_err(|e| format!("SARIF: {e}"))?;
    let results = sarif["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if results.len() != findings.len() {
        return Err(format!("SARIF has {} results", results.len()));
    }
    for f in &findings {
        let (file, line, rule) = (
            f["file"].as_str().unwrap_or(""),
            f["line"].as_u64().unwrap_or(0),
            f["rule"].as_str().unwrap_or(""),
        );
        let t = format!(
            "{file}:{line}: {}[{rule}]",
            f["severity"].as_str().unwrap_or("")
        );
        if !text.contains(&t) {
            return Err(format!("text output lacks {t:?}"));
        }
        let g = format!(
            "file={},line={line},title={rule} ",
            file.replace(':', "%3A").replace(',', "%2C")
        );
        if !github.contains(&g) {
            return Err(format!("github output lacks {g:?}"));
        }
        let s = results.iter().any(|r| {
            r["ruleId"] == rule
                && r["locations"][0]["physicalLocation"]["region"]["startLine"] == line
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    == file.trim_start_matches("./")
        });
        if !s {
            return Err(format!("SARIF lacks {rule} at {file}:{line}"));
        }
    }
    Ok(())
}

#[test]
fn every_fixture_case_produces_exactly_its_expected_findings() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/lint")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the corpus is missing: {cases:?}");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_case(c)
                .err()
                .map(|e| format!("{}: {e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stdin_is_read_and_named() {
    let text = std::fs::read_to_string(corpus().join("verify-missing/sources.yaml")).unwrap();
    let policy = corpus().join("verify-missing/policy.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"))
        .args(["lint", "-", "--policy"])
        .arg(&policy)
        .args(["-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["file"] == "<stdin>" && f["rule"] == "verify-missing"),
        "{findings:?}"
    );
}

#[test]
fn an_unreadable_input_exits_2_and_says_which() {
    let out = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"))
        .args(["lint", "/nonexistent/flux"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/nonexistent/flux:1: error[input-error]"),
        "{stdout}"
    );
    assert!(stdout.contains("incomplete (exit 2)"), "{stdout}");
}
