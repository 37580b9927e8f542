//! `lint` on public Flux repositories nobody on this project wrote (`tests/data/realrepos/`,
//! each with its licence and the commit it was copied at): every one must lint without exit 2,
//! with exactly the findings in `expected/<repo>[.<policy>].txt` (`file:line rule`, severity
//! appended when not an error), and the sources discovered in it counted by kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use provenance_auditor::lint::read::{read_inputs, Inputs, Limits};
use provenance_auditor::lint::{lint_offline, Inventory};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/realrepos")
}

/// The findings of `lint <repo> [--policy policies/<policy>.yaml]` as `file:line rule`.
fn findings(repo: &str, policy: Option<&str>) -> Result<Vec<String>, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"));
    cmd.current_dir(corpus()).args(["lint", repo, "-o", "json"]);
    if let Some(p) = policy {
        cmd.args(["--policy", &format!("policies/{p}.yaml")]);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all: Vec<Value> = serde_json::from_str(&stdout)
        .map_err(|e| format!("{repo}: exit {code}, not JSON ({e}): {stdout}"))?;
    let errors = all.iter().any(|f| f["severity"] == "error");
    if code == 2 || code != i32::from(errors) {
        return Err(format!("{repo}: exit {code} (errors: {errors}): {stdout}"));
    }
    let mut keys: Vec<String> = all
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or("");
            let file = file.strip_prefix(&format!("{repo}/")).unwrap_or(file);
            let mut k = format!("{file}:{} {}", f["line"], f["rule"].as_str().unwrap_or(""));
            if f["severity"] != "error" {
                k.push_str(&format!(" ({})", f["severity"].as_str().unwrap_or("")));
            }
            k
        })
        .collect();
    keys.sort();
    Ok(keys)
}

fn expected(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(corpus().join(format!("expected/{name}.txt")))
        .unwrap_or_else(|e| panic!("expected/{name}.txt: {e}"));
    let mut keys: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

const REPOS: [&str; 4] = [
    "bjw-s-labs+home-ops",
    "controlplaneio-fluxcd+d1-fleet",
    "fluxcd+flux2-hub-spoke-example",
    "fluxcd+flux2-multi-tenancy",
];

#[test]
fn every_real_repository_lints_with_exactly_its_expected_findings() {
    let cases: Vec<(&str, Option<&str>)> = REPOS
        .iter()
        .map(|r| (*r, None))
        .chain([
            // The fleet's `\d` (Go: [0-9]) is inside the policy's [0-9]: no verify-weaker.
            ("controlplaneio-fluxcd+d1-fleet", Some("d1-fleet-charts")),
            // A stricter policy (only 2.x releases): each cluster's copy is weaker.
            ("controlplaneio-fluxcd+d1-fleet", Some("d1-fleet-stricter")),
            // urlRegex scopes a policy to one publisher's charts.
            ("bjw-s-labs+home-ops", Some("home-ops-bjw-s")),
            // HTTP charts cannot meet a policy that requires verification.
            ("fluxcd+flux2-hub-spoke-example", Some("hub-spoke-charts")),
        ])
        .collect();
    let mut failures = vec![];
    for (repo, policy) in cases {
        let name = policy.map_or(repo.to_string(), |p| format!("{repo}.{p}"));
        match findings(repo, policy) {
            Err(e) => failures.push(e),
            Ok(got) if got != expected(&name) => failures.push(format!(
                "{name}: findings differ\n expected: {:#?}\n got: {got:#?}",
                expected(&name)
            )),
            Ok(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn inventory(repo: &str) -> Inventory {
    let inputs = read_inputs(
        &[corpus().join(repo).display().to_string()],
        &Limits::default(),
    );
    lint_offline(inputs, Inputs::default()).inventory
}

#[test]
fn the_sources_of_each_real_repository_are_all_found() {
    let kinds = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    // home-ops: every app's chart is an OCIRepository behind HelmRelease.spec.chartRef; none
    // verified; the kube-state-metrics values merely mention HelmRepository and Bucket.
    let home = inventory("bjw-s-labs+home-ops");
    assert_eq!(home.by_kind, kinds(&[("OCIRepository", 79)]));
    assert_eq!(
        (home.templated, home.http_charts, home.unverified),
        (0, 0, 79)
    );
    assert!(home.files > 500, "{} files", home.files);
    // d1-fleet: its sources are inside ResourceSets, one per cluster (three FluxInstances).
    let d1 = inventory("controlplaneio-fluxcd+d1-fleet");
    assert_eq!(d1.by_kind, kinds(&[("OCIRepository", 3)]));
    assert_eq!((d1.templated, d1.http_charts, d1.unverified), (3, 0, 0));
    assert_eq!(d1.roots.len(), 3, "{:?}", d1.roots);
    // hub-and-spoke: two of three charts come from HTTP repositories.
    let hub = inventory("fluxcd+flux2-hub-spoke-example");
    assert_eq!(hub.by_kind, kinds(&[("HelmChart", 3)]));
    assert_eq!((hub.templated, hub.http_charts, hub.unverified), (0, 2, 3));
    // multi-tenancy: two clusters bootstrapped under clusters/.
    let mt = inventory("fluxcd+flux2-multi-tenancy");
    assert_eq!(mt.by_kind, kinds(&[("OCIRepository", 1)]));
    assert_eq!(mt.roots.len(), 2, "{:?}", mt.roots);
    for inv in [&home, &d1, &hub, &mt] {
        assert_eq!(inv.unreadable, 0);
    }
}
