//! `lint --live`: resolve each source's ref in its registry and verify the artifact there
//! against the source's **own** `spec.verify` with the engine — what source-controller will do
//! with it on its next reconcile. The check teams otherwise run by hand with `cosign verify`
//! and a wrong-subject negative control.
//!
//! `live-would-halt` (error): Flux would refuse the artifact — no signature its verify accepts,
//! or a verify block the artifact's signature format defeats (several identities against a
//! cosign v3 bundle). `live-unverifiable` (warning): the registry could not be asked (down,
//! authentication, a ref lint cannot resolve); never reported as "unsigned".

use super::discover::Declared;
use super::finding::{rules, Finding};
use crate::api::SourceKind;
use crate::audit::decide::{decide, Secrets, TrustRootInput};
use crate::engine::{verify_reference, TrustRoot, Verdict};
use crate::registry::{ImageRef, RegistryClient};

/// Compatibility notes (engine `flux_compat`) that mean source-controller fails the artifact.
const HALTING: &[&str] = &[
    "NoIdentities",
    "MultipleIdentities",
    "EmptyRegex",
    "BundleHidesLegacy",
];

/// The reference Flux pulls for a declaration, or why lint cannot name it.
pub fn reference(d: &Declared) -> Result<String, String> {
    let image = d
        .url
        .strip_prefix("oci://")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            if d.url.is_empty() {
                "its OCI URL is unknown (the HelmRepository is not in the inputs)".to_string()
            } else {
                format!("{} is not an oci:// URL", d.url)
            }
        })?;
    match d.source.kind {
        SourceKind::OciRepository => {
            let r = &d.source.reference;
            if let Some(digest) = &r.digest {
                Ok(format!("{image}@{digest}"))
            } else if let Some(range) = &r.semver {
                Err(format!(
                    "spec.ref.semver {range:?}: lint does not list tags to resolve a range; pin a tag or digest to check it live"
                ))
            } else {
                Ok(format!("{image}:{}", r.tag.as_deref().unwrap_or("latest")))
            }
        }
        SourceKind::HelmChart => {
            let version = d
                .source
                .chart
                .as_ref()
                .and_then(|c| c.version.clone())
                .unwrap_or_else(|| "*".into());
            // An exact version is MAJOR.MINOR.PATCH (then -pre / +build); anything else is
            // a range Flux resolves against the tag list.
            let core = version.split(['-', '+']).next().unwrap_or("");
            let exact = core.split('.').count() == 3
                && core
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if exact {
                // Helm pushes `+` as `_`: OCI tags cannot hold `+`.
                Ok(format!("{image}:{}", version.replace('+', "_")))
            } else {
                Err(format!(
                    "chart version {version:?} is a range: lint does not list tags to resolve it"
                ))
            }
        }
    }
}

/// `live-would-halt` / `live-unverifiable` for every declaration with a cosign `spec.verify`.
pub async fn check(
    sources: &[Declared],
    secrets: &Secrets,
    client: &RegistryClient,
) -> Vec<Finding> {
    let mut out = vec![];
    for d in sources {
        let Some(v) = &d.source.verify else {
            continue;
        };
        if v.provider != "cosign" {
            continue;
        }
        let unverifiable = |why: String| {
            Finding::error(
                rules::LIVE_UNVERIFIABLE,
                d.at(""),
                d.display(),
                format!("could not check the artifact live: {why}"),
                "check registry reachability and credentials (--registry-config, --insecure-registry), then run again",
            )
            .warning()
        };
        let reference = match reference(d) {
            Ok(r) => r,
            Err(why) => {
                out.push(unverifiable(why));
                continue;
            }
        };
        let image: ImageRef = match reference.parse() {
            Ok(i) => i,
            Err(e) => {
                out.push(unverifiable(format!("{reference}: {e}")));
                continue;
            }
        };
        let decision = decide(&d.source, &[], secrets);
        let applied = match decision.source_verify {
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                out.push(unverifiable(format!(
                    "spec.verify cannot be compiled offline: {e}"
                )));
                continue;
            }
            None => continue,
        };
        let trust = match &applied.trust_root {
            TrustRootInput::PublicGood => TrustRoot::public_good(),
            TrustRootInput::Json { secret, json } => TrustRoot::from_json(secret, json),
        };
        let trust = match trust {
            Ok(t) => t,
            Err(e) => {
                out.push(unverifiable(format!("trust root: {e}")));
                continue;
            }
        };
        let report = verify_reference(client, &image, &applied.policy, &trust).await;
        if report.verdict.is_indeterminate() {
            out.push(unverifiable(format!("{reference}: {}", report.message)));
            continue;
        }
        let halting: Vec<&str> = report
            .flux_compatibility
            .iter()
            .filter(|n| HALTING.contains(&n.code))
            .map(|n| n.message.as_str())
            .collect();
        let why = if report.verdict != Verdict::Verified {
            Some(format!("{:?}: {}", report.verdict, report.message))
        } else if !halting.is_empty() {
            Some(halting.join("; "))
        } else {
            None
        };
        if let Some(why) = why {
            out.push(Finding::error(
                rules::LIVE_WOULD_HALT,
                d.at(""),
                d.display(),
                format!(
                    "source-controller would refuse {reference}{}: {why}",
                    report
                        .digest
                        .as_deref()
                        .map(|dg| format!(" ({dg})"))
                        .unwrap_or_default()
                ),
                // Never "accept the signer found": it may be the attacker.
                "sign the artifact with the identity spec.verify names, or correct spec.verify (exactly one matchOIDCIdentity entry for cosign v3 bundles)",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::discover::discover;
    use crate::lint::input::parse_text;

    const SOURCES: &str = r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: by-digest, namespace: a}
spec: {url: oci://r.example/x, ref: {tag: v1, digest: "sha256:abc"}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: by-tag, namespace: a}
spec: {url: oci://r.example/x, ref: {tag: v1}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: default, namespace: a}
spec: {url: oci://r.example/x}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: range, namespace: a}
spec: {url: oci://r.example/x, ref: {semver: ">=1.0.0"}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: a}
spec: {type: oci, url: oci://r.example/charts}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: a}
spec:
  chart:
    spec: {chart: app, version: 1.2.3+build.1, sourceRef: {kind: HelmRepository, name: charts}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: ranged, namespace: a}
spec:
  chart:
    spec: {chart: app, version: 1.2.x, sourceRef: {kind: HelmRepository, name: charts}}
"#;

    #[test]
    fn the_reference_flux_pulls() {
        let objects = parse_text("s.yaml", SOURCES).unwrap();
        let refs: Vec<Result<String, String>> =
            discover(&objects).sources.iter().map(reference).collect();
        assert_eq!(
            refs[0].as_deref(),
            Ok("r.example/x@sha256:abc"),
            "digest wins"
        );
        assert_eq!(refs[1].as_deref(), Ok("r.example/x:v1"));
        assert_eq!(refs[2].as_deref(), Ok("r.example/x:latest"));
        assert!(refs[3].as_ref().unwrap_err().contains("semver"));
        assert_eq!(refs[4].as_deref(), Ok("r.example/charts/app:1.2.3_build.1"));
        assert!(refs[5].as_ref().unwrap_err().contains("range"));
    }
}
