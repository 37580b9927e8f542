//! Reading a verified statement's predicate into typed evidence: SLSA provenance v1 and v0.2,
//! SPDX and CycloneDX SBOMs, anything else as [`Predicate::Other`].
//!
//! Lenient by design: a predicate is signed content, but its fields are whatever the builder
//! wrote, so a missing or oddly typed field is simply absent from the evidence, never an error.
//! Every string kept is cut to [`MAX_FIELD`] characters.

use serde_json::Value;

use super::evidence::{Predicate, Provenance, Sbom, SbomFormat};
use crate::registry::bounded::cut_chars;

/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SLSA provenance v0.2.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SPDX documents (also versioned: `…/Document/v2.3`).
pub const SPDX_PREFIX: &str = "https://spdx.dev/Document";
/// CycloneDX BOMs (also versioned: `…/bom/v1.4`).
pub const CYCLONEDX_PREFIX: &str = "https://cyclonedx.org/bom";

/// Characters kept of any one field read from a predicate.
pub const MAX_FIELD: usize = 512;

/// The predicate of a statement of type `predicate_type`.
pub fn read(predicate_type: &str, predicate: &Value) -> Predicate {
    if predicate_type == SLSA_PROVENANCE_V1 {
        Predicate::Provenance(slsa_v1(predicate))
    } else if predicate_type == SLSA_PROVENANCE_V02 {
        Predicate::Provenance(slsa_v02(predicate))
    } else if is_versioned(predicate_type, SPDX_PREFIX) {
        Predicate::Sbom(spdx(predicate))
    } else if is_versioned(predicate_type, CYCLONEDX_PREFIX) {
        Predicate::Sbom(cyclonedx(predicate))
    } else {
        Predicate::Other
    }
}

/// `uri` itself or `uri/…` (a versioned form), not merely a string starting with it.
fn is_versioned(uri: &str, prefix: &str) -> bool {
    uri.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| cut_chars(s, MAX_FIELD))
}

/// A git dependency URI (`git+https://github.com/o/r@refs/tags/v1`) split into the repository
/// (`https://github.com/o/r`) and the ref.
fn split_git_uri(uri: &str) -> (String, Option<String>) {
    let bare = uri.strip_prefix("git+").unwrap_or(uri);
    // The ref follows the last '@' after the host (URIs with user info are not git sources).
    match bare.rsplit_once('@') {
        Some((repo, r)) if repo.contains("://") && !r.is_empty() => {
            (repo.to_string(), Some(r.to_string()))
        }
        _ => (bare.to_string(), None),
    }
}

fn slsa_v1(p: &Value) -> Provenance {
    let workflow = |k: &str| text(p, &["buildDefinition", "externalParameters", "workflow", k]);
    // The source: the first resolved dependency with a git commit (actions/attest writes one).
    let source = p
        .pointer("/buildDefinition/resolvedDependencies")
        .and_then(Value::as_array)
        .and_then(|deps| {
            deps.iter()
                .find(|d| d.pointer("/digest/gitCommit").is_some())
                .or_else(|| deps.first())
        });
    let (source_repository, source_ref) = source
        .and_then(|d| text(d, &["uri"]))
        .map(|u| split_git_uri(&u))
        .map_or((None, None), |(r, rf)| (Some(r), rf));
    Provenance {
        slsa_version: "v1".into(),
        builder_id: text(p, &["runDetails", "builder", "id"]),
        build_type: text(p, &["buildDefinition", "buildType"]),
        source_repository,
        source_commit: source.and_then(|d| text(d, &["digest", "gitCommit"])),
        source_ref,
        workflow_repository: workflow("repository"),
        workflow_path: workflow("path"),
        workflow_ref: workflow("ref"),
        invocation_id: text(p, &["runDetails", "metadata", "invocationId"]),
        runner_environment: text(
            p,
            &[
                "buildDefinition",
                "internalParameters",
                "github",
                "runner_environment",
            ],
        ),
    }
}

fn slsa_v02(p: &Value) -> Provenance {
    let config = |path: &[&str]| {
        let mut full = vec!["invocation", "configSource"];
        full.extend_from_slice(path);
        text(p, &full)
    };
    let (source_repository, source_ref) = config(&["uri"])
        .map(|u| split_git_uri(&u))
        .map_or((None, None), |(r, rf)| (Some(r), rf));
    Provenance {
        slsa_version: "v0.2".into(),
        builder_id: text(p, &["builder", "id"]),
        build_type: text(p, &["buildType"]),
        source_repository,
        source_commit: config(&["digest", "sha1"]),
        source_ref,
        workflow_path: config(&["entryPoint"]),
        invocation_id: text(p, &["metadata", "buildInvocationId"]),
        ..Provenance::default()
    }
}

fn count(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_array).map_or(0, |a| a.len() as u64)
}

fn spdx(p: &Value) -> Sbom {
    let generator = p
        .pointer("/creationInfo/creators")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .filter_map(Value::as_str)
                .find_map(|c| c.strip_prefix("Tool:"))
        })
        .map(|t| cut_chars(t.trim(), MAX_FIELD));
    Sbom {
        format: SbomFormat::Spdx,
        version: text(p, &["spdxVersion"]),
        packages: count(p.get("packages")),
        generator,
    }
}

fn cyclonedx(p: &Value) -> Sbom {
    // `metadata.tools` is a list of {vendor,name,version} (≤1.4) or {components: […]} (1.5+).
    let tools = p.pointer("/metadata/tools");
    let first_tool = tools
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .or_else(|| tools.and_then(|t| t.pointer("/components/0")));
    let generator = first_tool.and_then(|t| {
        let name = text(t, &["name"])?;
        Some(match text(t, &["version"]) {
            Some(v) => cut_chars(&format!("{name} {v}"), MAX_FIELD),
            None => name,
        })
    });
    Sbom {
        format: SbomFormat::Cyclonedx,
        version: text(p, &["specVersion"]),
        packages: count(p.get("components")),
        generator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slsa_v1_from_actions_attest() {
        let p = json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"repository": "https://github.com/o/r",
                    "path": ".github/workflows/release.yml", "ref": "refs/tags/v1.2.3"}},
                "internalParameters": {"github": {"runner_environment": "github-hosted"}},
                "resolvedDependencies": [{"uri": "git+https://github.com/o/r@refs/tags/v1.2.3",
                    "digest": {"gitCommit": "abc123"}}]
            },
            "runDetails": {"builder": {"id": "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1.2.3"},
                "metadata": {"invocationId": "https://github.com/o/r/actions/runs/1/attempts/1"}}
        });
        let Predicate::Provenance(v) = read(SLSA_PROVENANCE_V1, &p) else {
            panic!()
        };
        assert_eq!(v.slsa_version, "v1");
        assert_eq!(
            v.source_repository.as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(v.source_ref.as_deref(), Some("refs/tags/v1.2.3"));
        assert_eq!(v.source_commit.as_deref(), Some("abc123"));
        assert_eq!(
            v.workflow_path.as_deref(),
            Some(".github/workflows/release.yml")
        );
        assert_eq!(v.runner_environment.as_deref(), Some("github-hosted"));
        assert!(v.invocation_id.unwrap().ends_with("attempts/1"));
    }

    #[test]
    fn slsa_v02_config_source() {
        let p = json!({"builder": {"id": "b"}, "buildType": "t",
            "invocation": {"configSource": {"uri": "git+https://github.com/o/r@refs/tags/v1",
                "digest": {"sha1": "2bcaa749"}, "entryPoint": ".github/workflows/x.yml"}}});
        let Predicate::Provenance(v) = read(SLSA_PROVENANCE_V02, &p) else {
            panic!()
        };
        assert_eq!(
            (
                v.builder_id.as_deref(),
                v.source_commit.as_deref(),
                v.source_ref.as_deref()
            ),
            (Some("b"), Some("2bcaa749"), Some("refs/tags/v1"))
        );
        assert_eq!(v.workflow_path.as_deref(), Some(".github/workflows/x.yml"));
    }

    #[test]
    fn sboms_match_by_prefix_and_count_packages() {
        let spdx = json!({"spdxVersion": "SPDX-2.3", "packages": [{}, {}],
            "creationInfo": {"creators": ["Organization: x", "Tool: syft-1.0"]}});
        for t in [
            "https://spdx.dev/Document",
            "https://spdx.dev/Document/v2.3",
        ] {
            assert_eq!(
                read(t, &spdx),
                Predicate::Sbom(Sbom {
                    format: SbomFormat::Spdx,
                    version: Some("SPDX-2.3".into()),
                    packages: 2,
                    generator: Some("syft-1.0".into())
                })
            );
        }
        let cdx = json!({"specVersion": "1.5", "components": [{}],
            "metadata": {"tools": {"components": [{"name": "trivy", "version": "0.5"}]}}});
        let Predicate::Sbom(s) = read("https://cyclonedx.org/bom/v1.5", &cdx) else {
            panic!()
        };
        assert_eq!((s.packages, s.generator.as_deref()), (1, Some("trivy 0.5")));
        assert_eq!(
            read("https://spdx.dev/DocumentX", &spdx),
            Predicate::Other,
            "a prefix is not a version"
        );
    }

    #[test]
    fn odd_shapes_are_absent_fields_never_errors() {
        for p in [
            json!(null),
            json!([1, 2]),
            json!({"buildDefinition": 7}),
            json!({"runDetails": {"builder": {"id": 7}}}),
        ] {
            let Predicate::Provenance(v) = read(SLSA_PROVENANCE_V1, &p) else {
                panic!()
            };
            assert!(v.builder_id.is_none() && v.source_repository.is_none());
        }
        let long = "x".repeat(10_000);
        let Predicate::Provenance(v) = read(SLSA_PROVENANCE_V02, &json!({"builder": {"id": long}}))
        else {
            panic!()
        };
        assert!(v.builder_id.unwrap().chars().count() <= MAX_FIELD + 1);
    }
}
