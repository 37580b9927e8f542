//! `ProvenancePolicy` (cluster-scoped): which sources it covers (`spec.match`) and who must
//! have signed them (`spec.verify`, in Flux's shape so a block can be copied either way).
//!
//! An empty match field means "any": a policy with an empty `match` covers every source, which
//! is how a cluster-wide baseline is written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::attestation_spec::AttestationRequirement;
use super::lint_spec::LintSpec;
use super::source_audit::SourceKind;
use super::verify_spec::{NamespacedSecretRef, PolicyVerify};

/// A signing requirement for the Flux sources it matches.
// Each printcolumn repeats `type_`/`json_path`: not duplicates, separate columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "provenance.dev",
    version = "v1alpha1",
    kind = "ProvenancePolicy",
    shortname = "ppol",
    status = "ProvenancePolicyStatus",
    doc = "Who must have signed the Flux sources a policy matches",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Matched",
        type_ = "integer",
        description = "Sources matched",
        json_path = ".status.matchedSources"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ProvenancePolicySpec {
    /// Which sources the policy covers; every non-empty field must match.
    #[serde(default, rename = "match")]
    pub match_: PolicyMatch,
    /// Who must have signed them.
    pub verify: PolicyVerify,
    /// The source must also carry a `spec.verify` at least as strict as this policy, so that
    /// Flux itself enforces it (reported by the `Enforced` condition).
    #[serde(default)]
    pub require_source_verify: bool,
    /// Extra demands on the identity regexes, checked by `provenance-auditor lint` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintSpec>,
    /// Attestations the sources must carry (SLSA provenance, SBOMs, …): each requirement is met
    /// by one verified attestation of its type satisfying its checks. Reported by the
    /// `Attested` condition, which feeds `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub attestations: Vec<AttestationRequirement>,
}

impl ProvenancePolicySpec {
    /// Every Secret the policy reads: its `verify` key, trust root and OpenPGP keys, and those
    /// of each attestation requirement's own `verify`.
    pub fn secret_refs(&self) -> impl Iterator<Item = &NamespacedSecretRef> {
        std::iter::once(&self.verify)
            .chain(self.attestations.iter().filter_map(|a| a.verify.as_ref()))
            .flat_map(|v| {
                [
                    v.secret_ref.as_ref(),
                    v.trusted_root_secret_ref.as_ref(),
                    v.openpgp.as_ref().map(|o| &o.secret_ref),
                ]
            })
            .flatten()
    }
}

/// Source selection. Empty lists and absent selectors match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatch {
    /// Source kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<SourceKind>,
    /// Namespace names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Labels of the source's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Source name globs (`*` any run, `?` one character).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Labels of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Regex searched (unanchored, like Flux) in the source URL (`oci://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_regex: Option<String>,
}

/// Whether the policy can be applied, and how much it covers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvenancePolicyStatus {
    /// `Ready`: True when valid; False/`PolicyInvalid` with what is wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// How many sources the policy matches.
    #[serde(default)]
    pub matched_sources: i64,
    /// The policy generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
