//! `ProvenancePolicy.spec.lint`: extra demands that only `provenance-auditor lint` checks,
//! on the identity regexes of the `spec.verify` blocks the policy covers.
//!
//! The controller ignores these fields: it judges signatures, and a regex that is too broad is
//! not a signature fact. They live on the policy so that the team that owns the signing
//! requirement also owns how strict its regexes must be.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `lint` demands of the subject regexes of covered sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LintSpec {
    /// Every subject regex must accept only workflow refs that are a 40-hex commit
    /// (`…/.github/workflows/x.yml@<sha>`), never a branch or tag that can move.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pinned_workflow_ref: bool,
    /// Regexes (anchored, whole ref) of the refs a subject may accept, e.g.
    /// `refs/heads/main` or `refs/tags/v[0-9]+\.[0-9]+\.[0-9]+`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_refs: Vec<String>,
}
