//! Predicate bodies for test attestations, shaped like the real producers':
//! `actions/attest-build-provenance` (SLSA provenance v1), slsa-github-generator (v0.2), and the
//! SPDX / CycloneDX SBOMs `cosign attest --type spdxjson|cyclonedx` carries. Only the fields a
//! verifier reads are filled; values come from [`Build`].

use serde_json::{json, Value};

/// `https://slsa.dev/provenance/v1`.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `https://slsa.dev/provenance/v0.2`.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// `https://spdx.dev/Document` (cosign `--type spdxjson`).
pub const SPDX: &str = "https://spdx.dev/Document";
/// `https://cyclonedx.org/bom` (cosign `--type cyclonedx`).
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// GitHub Actions' build type for `attest-build-provenance`.
pub const GITHUB_WORKFLOW_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";

/// What a GitHub workflow run knows about itself (the OIDC token's claims).
#[derive(Debug, Clone)]
pub struct Build {
    /// `https://github.com/o/r`.
    pub repository: String,
    /// `refs/tags/v1.2.3`, `refs/heads/main`.
    pub git_ref: String,
    /// The 40-hex commit.
    pub commit: String,
    /// `.github/workflows/release.yml`.
    pub workflow_path: String,
    /// `github-hosted` or `self-hosted`.
    pub runner_environment: String,
    /// The run's number (in the invocation id).
    pub run_id: u64,
}

impl Build {
    /// A release build of `repository` at `git_ref` by `.github/workflows/release.yml` on a
    /// GitHub-hosted runner, at a fixed commit.
    pub fn github(repository: &str, git_ref: &str) -> Self {
        Self {
            repository: repository.to_string(),
            git_ref: git_ref.to_string(),
            commit: "4f2e1c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e".to_string(),
            workflow_path: ".github/workflows/release.yml".to_string(),
            runner_environment: "github-hosted".to_string(),
            run_id: 1_234_567_890,
        }
    }

    /// The workflow's identity, `https://github.com/o/r/.github/workflows/x.yml@<ref>`: the
    /// SAN and build signer URI (`.9`) of the certificate GitHub's Fulcio issues for it.
    pub fn workflow_identity(&self) -> String {
        format!(
            "{}/{}@{}",
            self.repository, self.workflow_path, self.git_ref
        )
    }

    /// The Fulcio CI claims of this run's certificate (`.9`–`.22`), as GitHub's OIDC token
    /// yields them (no reusable workflow: build signer = build config).
    pub fn ci_claims(&self) -> crate::CiClaims {
        let owner = self
            .repository
            .rsplit_once('/')
            .map_or(self.repository.as_str(), |(o, _)| o);
        crate::CiClaims {
            build_signer_uri: Some(self.workflow_identity()),
            build_signer_digest: Some(self.commit.clone()),
            runner_environment: Some(self.runner_environment.clone()),
            source_repository_uri: Some(self.repository.clone()),
            source_repository_digest: Some(self.commit.clone()),
            source_repository_ref: Some(self.git_ref.clone()),
            source_repository_identifier: Some("700000001".into()),
            source_repository_owner_uri: Some(owner.to_string()),
            source_repository_owner_identifier: Some("700000000".into()),
            build_config_uri: Some(self.workflow_identity()),
            build_config_digest: Some(self.commit.clone()),
            build_trigger: Some("push".into()),
            run_invocation_uri: Some(self.invocation_id()),
            source_repository_visibility_at_signing: Some("public".into()),
        }
    }

    /// `https://github.com/o/r/actions/runs/<id>/attempts/1`.
    pub fn invocation_id(&self) -> String {
        format!(
            "{}/actions/runs/{}/attempts/1",
            self.repository, self.run_id
        )
    }
}

/// SLSA provenance v1 as `actions/attest-build-provenance` writes it.
pub fn slsa_provenance_v1(b: &Build) -> Value {
    json!({
        "buildDefinition": {
            "buildType": GITHUB_WORKFLOW_BUILD_TYPE,
            "externalParameters": {"workflow": {
                "repository": b.repository, "path": b.workflow_path, "ref": b.git_ref
            }},
            "internalParameters": {"github": {
                "event_name": "push", "repository_id": "700000001",
                "repository_owner_id": "700000000", "runner_environment": b.runner_environment
            }},
            "resolvedDependencies": [{
                "uri": format!("git+{}@{}", b.repository, b.git_ref),
                "digest": {"gitCommit": b.commit}
            }]
        },
        "runDetails": {
            // `https://github.com/<job_workflow_ref>`: the workflow identity.
            "builder": {"id": b.workflow_identity()},
            "metadata": {"invocationId": b.invocation_id()}
        }
    })
}

/// SLSA provenance v0.2 as slsa-github-generator writes it.
pub fn slsa_provenance_v02(b: &Build) -> Value {
    json!({
        "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {
            "uri": format!("git+{}@{}", b.repository, b.git_ref),
            "digest": {"sha1": b.commit},
            "entryPoint": b.workflow_path
        }},
        "materials": [{"uri": format!("git+{}@{}", b.repository, b.git_ref), "digest": {"sha1": b.commit}}]
    })
}

/// An SPDX 2.3 document with `packages` packages, generated by `syft`.
pub fn spdx(packages: usize) -> Value {
    let list: Vec<Value> = (0..packages)
        .map(|i| json!({"SPDXID": format!("SPDXRef-Package-{i}"), "name": format!("pkg-{i}"), "versionInfo": "1.0.0", "downloadLocation": "NOASSERTION"}))
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "artifact", "documentNamespace": "https://example.com/spdx/artifact",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Organization: example", "Tool: syft-1.20.0"]},
        "packages": list
    })
}

/// A CycloneDX 1.5 BOM with `components` components, generated by `syft`.
pub fn cyclonedx(components: usize) -> Value {
    let list: Vec<Value> = (0..components)
        .map(|i| json!({"type": "library", "name": format!("pkg-{i}"), "version": "1.0.0"}))
        .collect();
    json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"tools": {"components": [{"type": "application", "name": "syft", "version": "1.20.0"}]}},
        "components": list
    })
}
