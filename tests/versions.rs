//! One version everywhere a user meets it: the crate, `provenance-auditor --version`, the
//! chart's `appVersion`, the image the chart installs by default, the image `make image` builds
//! and the kustomize manifest's image. A release that bumps one and forgets another fails here, not on a user's cluster.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

/// Where the release workflow pushes the image and the chart pulls it from.
const REPOSITORY: &str = "ghcr.io/provenance-dev/provenance-auditor";
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chart {
    app_version: String,
}

#[derive(Deserialize)]
struct Values {
    image: Image,
}

#[derive(Deserialize)]
struct Image {
    repository: String,
    tag: String,
    digest: String,
}

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_chart_installs_the_crate_version() {
    let chart: Chart = serde_saphyr::from_str(&read("charts/provenance-auditor/Chart.yaml"))
        .expect("Chart.yaml parses");
    assert_eq!(chart.app_version, VERSION, "Chart.yaml appVersion");
    let values: Values = serde_saphyr::from_str(&read("charts/provenance-auditor/values.yaml"))
        .expect("values.yaml parses");
    assert_eq!(
        values.image.repository, REPOSITORY,
        "values.yaml image.repository"
    );
    // Empty means appVersion (templates/_helpers.tpl); a pinned tag must be the same version.
    assert!(
        values.image.tag.is_empty() || values.image.tag == chart.app_version,
        "values.yaml image.tag {:?} is neither empty nor appVersion {}",
        values.image.tag,
        chart.app_version
    );
    // A default digest would pin some other build than the version's.
    assert_eq!(values.image.digest, "", "values.yaml image.digest");
}

#[test]
fn the_binary_reports_the_chart_app_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_provenance-auditor"))
        .arg("--version")
        .output()
        .expect("provenance-auditor --version runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("provenance-auditor {VERSION}")
    );
}

#[test]
fn make_image_builds_the_repository_the_chart_pulls() {
    // hack/image/build.sh tags <REPOSITORY>:<crate version>, the chart's default image.
    let script = read("hack/image/build.sh");
    let want = format!("REPOSITORY={REPOSITORY}");
    assert!(
        script.lines().any(|l| l.trim() == want),
        "hack/image/build.sh has no `{want}`"
    );
}

#[test]
fn the_kustomize_manifest_runs_the_same_image() {
    let manager = read("config/manager/manager.yaml");
    let want = format!("image: {REPOSITORY}:{VERSION}");
    assert!(
        manager.lines().any(|l| l.trim() == want),
        "config/manager/manager.yaml has no `{want}`"
    );
}
