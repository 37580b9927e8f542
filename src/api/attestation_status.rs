//! `SourceAudit.status.attestations[]`: every attestation found on the audited digest, as typed
//! evidence (SLSA provenance, SBOM shape, the signer's Fulcio claims) with its own verdict. All
//! of it is registry content: bounded in `audit::bounds` before it reaches the status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::evidence_status::{SignerStatus, TlogStatus};

/// One attestation found on the artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestationStatus {
    /// The statement's predicate type (empty when unreadable).
    #[serde(default)]
    pub predicate_type: String,
    /// `bundle` or `legacy` (cosign v2 `.att` tag).
    #[serde(default)]
    pub format: String,
    /// `referrers-api`, `referrers-tag` or `legacy-tag`.
    #[serde(default)]
    pub location: String,
    /// Who signed it, as it claims (the verdict says whether the claim holds).
    #[serde(default)]
    pub signer: SignerStatus,
    /// The signer certificate's Fulcio claims (keyless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateClaimsStatus>,
    /// The transparency-log entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog: Option<TlogStatus>,
    /// SLSA provenance, when that is the predicate (and the attestation verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ProvenanceStatus>,
    /// An SBOM's shape, when that is the predicate (and the attestation verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomStatus>,
    /// This attestation's verdict (a `Verified` reason: `Verified`, `Unsigned`,
    /// `IdentityMismatch`, `DigestMismatch`, …).
    #[serde(default)]
    pub verdict: String,
    /// Why, in words.
    #[serde(default)]
    pub message: String,
}

/// Fulcio certificate claims (OIDs 1.3.6.1.4.1.57264.1.8–.22), Fulcio's names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateClaimsStatus {
    /// `.8` OIDC issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `.9` build signer URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_signer_uri: Option<String>,
    /// `.10` build signer digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_signer_digest: Option<String>,
    /// `.11` runner environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// `.12` source repository URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_uri: Option<String>,
    /// `.13` source repository digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_digest: Option<String>,
    /// `.14` source repository ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_ref: Option<String>,
    /// `.15` source repository identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_identifier: Option<String>,
    /// `.16` source repository owner URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_uri: Option<String>,
    /// `.17` source repository owner identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_identifier: Option<String>,
    /// `.18` build config URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config_uri: Option<String>,
    /// `.19` build config digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config_digest: Option<String>,
    /// `.20` build trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_trigger: Option<String>,
    /// `.21` run invocation URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_invocation_uri: Option<String>,
    /// `.22` source repository visibility at signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_visibility_at_signing: Option<String>,
}

/// SLSA build provenance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceStatus {
    /// `v1` or `v0.2`.
    #[serde(default)]
    pub slsa_version: String,
    /// The builder id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    /// The build type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// The source repository built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// The source commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// The source ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// The workflow's repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_repository: Option<String>,
    /// The workflow's path (or v0.2 entry point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_path: Option<String>,
    /// The workflow's ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ref: Option<String>,
    /// The build's invocation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
}

/// An SBOM's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SbomStatus {
    /// `spdx` or `cyclonedx`.
    #[serde(default)]
    pub format: String,
    /// `spdxVersion` / `specVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Packages (SPDX) or components (CycloneDX).
    #[serde(default)]
    pub packages: i64,
    /// The generating tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
}
