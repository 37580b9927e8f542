//! One chart package URL verified for the CLI (`verify https://…/<chart>-<version>.tgz`):
//! download and hash the package, fetch the `.prov` beside it, judge it. The only I/O of the
//! Helm half of the engine, like [`crate::engine::verify_reference`] for OCI.
//!
//! As `helm verify` does, the `.prov` must sign the package's file name and SHA-256; beyond
//! `helm verify`, the name and version it signs must be those of the file name
//! (`<name>-<version>.tgz`, as `helm package` names it), so a `.prov` of another chart whose
//! digest happens to be listed cannot pass.

use super::keyring::Keyring;
use super::prov;
use super::verify::{evaluate_prov, Package};
use crate::engine::registry_verdict;
use crate::engine::report::ArtifactReport;
use crate::registry::{HelmRepoClient, HelmRepoOptions};

/// Verifies the chart package at `url` against `keyring` (`None`: report who signed) at
/// `now` (Unix seconds).
pub async fn verify_package_url(
    url: &str,
    opts: HelmRepoOptions,
    keyring: Option<&Keyring>,
    now: i64,
) -> ArtifactReport {
    let policy = keyring.map_or_else(|| "no policy".to_string(), Keyring::describe);
    let error = |e: crate::registry::RegistryError| {
        ArtifactReport::for_url(
            url,
            None,
            policy.clone(),
            registry_verdict(&e),
            e.to_string(),
        )
    };
    // The package's own directory stands for the repository: credentials (none from the
    // CLI yet) and the origin rule apply to it.
    let client = match HelmRepoClient::new(url, opts) {
        Ok(c) => c,
        Err(e) => return error(e),
    };
    let package_url = client.url().clone();
    let fetched = match client.package(&package_url).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let prov_bytes = match client.prov(&package_url).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let file_name = package_url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default()
        .to_string();
    let (name, version) = expected_chart(&file_name, prov_bytes.as_deref());
    let package = Package {
        file_name: &file_name,
        name: &name,
        version: &version,
        digest: &fetched.digest,
    };
    let e = evaluate_prov(prov_bytes.as_deref(), &package, keyring, now);
    ArtifactReport::from_evaluation(url, &fetched.digest, policy, e)
}

/// The chart name and version a package file name stands for: the signed ones when the file
/// is named `<name>-<version>.tgz` after them, else the file's stem (which then cannot
/// match, and the verdict says what the `.prov` is about instead).
fn expected_chart(file_name: &str, prov_bytes: Option<&[u8]>) -> (String, String) {
    let signed = prov_bytes
        .and_then(|b| prov::parse(b).ok())
        .and_then(|p| p.body.ok())
        .map(|b| b.metadata);
    match signed {
        Some(m) if file_name == format!("{}-{}.tgz", m.name, m.version) => (m.name, m.version),
        _ => (
            file_name.trim_end_matches(".tgz").to_string(),
            String::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &[u8] = include_bytes!("../../../tests/data/helm/signed.prov");

    #[test]
    fn the_file_name_must_be_the_signed_chart_and_version() {
        assert_eq!(
            expected_chart("demo-0.1.0.tgz", Some(SIGNED)),
            ("demo".into(), "0.1.0".into())
        );
        assert_eq!(
            expected_chart("evil-0.1.0.tgz", Some(SIGNED)),
            ("evil-0.1.0".into(), String::new())
        );
        assert_eq!(expected_chart("demo-0.1.0.tgz", None).1, "");
    }
}
