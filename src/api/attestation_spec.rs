//! `ProvenancePolicy.spec.attestations[]`: the attestations (SLSA provenance, SBOMs, …) the
//! matched sources must carry.
//!
//! A requirement is met by one attestation of its `predicateType`, verified under its identity
//! (`verify`, by default the policy's own), whose signer's certificate satisfies the short form
//! (`sourceRepository`, `sourceRef`, `signerWorkflow`, `denySelfHostedRunners`: what
//! `gh attestation verify` checks) and every CEL condition. The claim regexes match the WHOLE
//! claim (they are anchored for you), unlike `matchOIDCIdentity`'s Flux-compatible unanchored
//! ones.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::verify_spec::PolicyVerify;

/// Longest CEL expression accepted (also enforced when the policy is compiled).
pub const MAX_EXPRESSION: usize = 1024;

/// One attestation the matched sources must carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(
    validation = Rule::new("size(self.predicateType) > 0")
        .message("predicateType must name the required predicate (e.g. https://slsa.dev/provenance/v1)")
)]
#[serde(rename_all = "camelCase")]
pub struct AttestationRequirement {
    /// The predicate type (`https://slsa.dev/provenance/v1`, `https://spdx.dev/Document`,
    /// `https://cyclonedx.org/bom`, …, or a cosign `--type` name such as `slsaprovenance1`,
    /// `spdxjson`, `cyclonedx`). The SBOM roots also accept their versions
    /// (`https://spdx.dev/Document/v2.3`).
    pub predicate_type: String,
    /// Who must have signed the attestation, in `spec.verify`'s shape; by default the policy's
    /// own `spec.verify` (identity and trust root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<PolicyVerify>,
    /// Regex the signer certificate's source repository URI (Fulcio `.12`, e.g.
    /// `https://github\.com/org/repo`) must match whole. For a reusable workflow this is the
    /// calling repository, not the workflow's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// Regex the source ref (Fulcio `.14`, e.g. `refs/tags/v.*`) must match whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// Regex the build signer URI (Fulcio `.9`, the workflow that signed, e.g.
    /// `https://github\.com/org/repo/\.github/workflows/release\.yml@.*`) must match whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_workflow: Option<String>,
    /// Refuse attestations made on self-hosted runners: the runner environment claim (Fulcio
    /// `.11`) must be `github-hosted`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deny_self_hosted_runners: bool,
    /// CEL expressions over `statement`, `predicate`, `subject` and `certificate`; all must be
    /// true. An expression that cannot be evaluated makes `Attested` Unknown, never True.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub conditions: Vec<AttestationCondition>,
}

/// A CEL condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(
    validation = Rule::new("size(self.expression) > 0 && size(self.expression) <= 1024")
        .message("expression must be 1 to 1024 characters of CEL")
)]
#[serde(rename_all = "camelCase")]
pub struct AttestationCondition {
    /// A CEL expression that must evaluate to `true`.
    pub expression: String,
    /// What a failure means, for the `Attested` message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub message: Option<String>,
}
