//! The controller's own API, `provenance.dev/v1alpha1`: `SourceAudit` (namespaced, one per
//! audited source, written only by the controller) and `ProvenancePolicy` (cluster-scoped,
//! written by users). CRD YAML is generated from these types (`provenance-auditor crds`).

pub mod attestation_spec;
pub mod attestation_status;
pub mod evidence_status;
pub mod lint_spec;
pub mod policy_set;
pub mod provenance_policy;
pub mod source_audit;
pub mod verify_spec;

use kube::CustomResourceExt;

pub use attestation_spec::{AttestationCondition, AttestationRequirement};
pub use lint_spec::LintSpec;
pub use policy_set::{PolicySet, UnreadablePolicy};
pub use provenance_policy::{
    PolicyMatch, ProvenancePolicy, ProvenancePolicySpec, ProvenancePolicyStatus,
};
pub use source_audit::{
    AuditedSource, LastVerdict, OidcIdentity, SourceAudit, SourceAuditSpec, SourceAuditStatus,
    SourceKind, SourceReady, SourceRef, VerdictCacheKey,
};
pub use verify_spec::{
    CertificateMatch, NamespacedSecretRef, OpenPgpVerify, PolicyVerify, VerifyProvider,
};

/// The API group.
pub const GROUP: &str = "provenance.dev";
/// The API version.
pub const VERSION: &str = "v1alpha1";

/// Both CRDs, in a stable order (`SourceAudit`, `ProvenancePolicy`).
pub fn crds(
) -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![SourceAudit::crd(), ProvenancePolicy::crd()]
}
