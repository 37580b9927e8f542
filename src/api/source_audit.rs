//! `SourceAudit`: one per audited Flux source, in the source's namespace. The spec only names
//! the source; everything the auditor found is in the status.
//!
//! The status is written by the controller and is also its memory: `verdictCache`,
//! `lastVerifiedTime` and the signatures let it skip the registry after a restart until the
//! verdict's re-check is due, but only when `seal` proves the controller wrote the status (the
//! namespace's tenants may be able to write it too; see `crate::verifier::seal`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::attestation_status::AttestationStatus;
pub use super::evidence_status::{SignerStatus, TlogStatus};

/// The Flux source kinds the auditor understands (API `source.toolkit.fluxcd.io/v1`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum SourceKind {
    /// `OCIRepository`: Flux records the digest it fetched.
    #[serde(rename = "OCIRepository")]
    OciRepository,
    /// `HelmChart` from an OCI `HelmRepository`: Flux records the chart version, not the digest.
    HelmChart,
}

impl SourceKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::OciRepository => "OCIRepository",
            SourceKind::HelmChart => "HelmChart",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit of one Flux source.
// Each printcolumn repeats `type_`/`json_path`: not duplicates, separate columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "provenance.dev",
    version = "v1alpha1",
    kind = "SourceAudit",
    namespaced,
    shortname = "saudit",
    status = "SourceAuditStatus",
    doc = "The independent audit of a Flux source's cosign signatures",
    // The default columns fit a 160-column terminal (hack/demo-check.sh checks the demo's
    // table): short signer and digest; the full values are `-o wide` columns (priority 1).
    printcolumn(
        name = "Verified",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Verified")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Verified")].reason"#
    ),
    printcolumn(
        name = "Signer",
        type_ = "string",
        description = "Who signed the artifact, shortened (full: Full Signer)",
        json_path = ".status.shortSigner"
    ),
    printcolumn(
        name = "Enforced",
        type_ = "string",
        description = "Whether Flux enforces an equivalent check",
        json_path = r#".status.conditions[?(@.type=="Enforced")].status"#
    ),
    printcolumn(
        name = "Digest",
        type_ = "string",
        description = "The verified digest, shortened (full: Verified Digest)",
        json_path = ".status.shortDigest"
    ),
    printcolumn(
        name = "Source",
        type_ = "string",
        description = "The artifact's URL",
        json_path = ".status.source.url",
        priority = 1
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        description = "Flux's artifact revision",
        json_path = ".status.fluxRevision",
        priority = 1
    ),
    printcolumn(
        name = "Verified Digest",
        type_ = "string",
        description = "The manifest digest whose signatures were verified",
        json_path = ".status.digest",
        priority = 1
    ),
    printcolumn(
        name = "Full Signer",
        type_ = "string",
        description = "Who signed the artifact",
        json_path = ".status.signer",
        priority = 1
    ),
    printcolumn(
        name = "Attested",
        type_ = "string",
        description = "Whether the attestations the policies require are there and hold",
        json_path = r#".status.conditions[?(@.type=="Attested")].status"#,
        priority = 1
    ),
    printcolumn(
        name = "Built From",
        type_ = "string",
        description = "The repository and commit the artifact was built from (verified provenance)",
        json_path = ".status.builtFrom",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SourceAuditSpec {
    /// The audited source, in the audit's own namespace.
    pub source_ref: SourceRef,
}

/// A Flux source in the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// `OCIRepository` or `HelmChart`.
    pub kind: SourceKind,
    /// The source's name.
    pub name: String,
}

/// What the auditor found. Every field is optional so a partial status always parses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceAuditStatus {
    /// The audited source as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AuditedSource>,
    /// Flux's `status.artifact.revision` when the audit ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux_revision: Option<String>,
    /// The source's `metadata.generation` when the audit ran: a status about an older
    /// generation (e.g. before `spec.verify` was added) is not yet about the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_generation: Option<i64>,
    /// The `sha256:` manifest digest whose signatures were verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `digest` shortened for `kubectl get` (`sha256:<12 hex>`); display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_digest: Option<String>,
    /// How the digest was obtained when Flux does not record it (HelmChart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_note: Option<String>,
    /// Names of the policies applied (`ProvenancePolicy` names, or `spec.verify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The signer of the signature that decided the verdict, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// `signer` shortened for `kubectl get` (e.g. `owner/repo/workflow.yml@ref` for GitHub
    /// Actions, `key sha256:<12 hex>`); display only, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_signer: Option<String>,
    /// Every signature found, with its own verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureStatus>,
    /// How many signatures were found but not listed (the list is bounded; the ones with the
    /// verdict's own reason are listed first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures_omitted: Option<i64>,
    /// A Flux `spec.verify` block that would accept the signer found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_verify: Option<SuggestedVerifyStatus>,
    /// Every attestation found (SLSA provenance, SBOMs, …), with its own verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationStatus>,
    /// How many attestations were found but not listed (the list is bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations_omitted: Option<i64>,
    /// `<repository>@<commit>` the artifact was built from, per its verified SLSA provenance
    /// (for a reusable workflow, the calling repository from the certificate); display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_from: Option<String>,
    /// Where Flux would judge the same artifact differently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flux_compatibility: Vec<CompatibilityNote>,
    /// When the signatures were last checked against the registry (not a cache hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// The last definite `Verified` verdict on `digest`, kept while the checks since could not
    /// decide (`Verified=Unknown`: an outage, a spent budget), however many there were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verdict: Option<LastVerdict>,
    /// The audit's generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Verified`, `Enforced`, `FluxAgrees`, `Attested`.
    // A list map keyed by type, so server-side apply merges conditions by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Continuity of the source's own `Ready` condition, for staged rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ready: Option<SourceReady>,
    /// The key the verdict was computed for; on restart, an equal key in a sealed status whose
    /// re-check is not due yet means no registry request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_cache: Option<VerdictCacheKey>,
    /// `hmac-sha256:v2:<hex>`: the controller's HMAC over the rest of this status, keyed by a
    /// Secret in its own namespace. A status whose seal does not verify is not read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl SourceAudit {
    /// The `SourceAudit` name for a source: the kind keeps an OCIRepository and a HelmChart of
    /// the same name apart.
    pub fn name_for(kind: SourceKind, source_name: &str) -> String {
        format!("{}-{source_name}", kind.as_str().to_lowercase())
    }
}

impl SourceAuditStatus {
    /// The condition of type `type_`, when the status has one.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// The audited source's identity and location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditedSource {
    /// `OCIRepository` or `HelmChart`.
    pub kind: SourceKind,
    /// The source's name.
    pub name: String,
    /// The artifact location (`oci://host/repo`, or `oci://host/repo/chart:version` for charts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One signature found on the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureStatus {
    /// `bundle` (cosign v3) or `legacy` (`.sig` tag).
    pub format: String,
    /// `referrers-api`, `referrers-tag` or `legacy-tag`.
    pub location: String,
    /// Who signed it, as the signature claims (the verdict says whether the claim holds).
    #[serde(default)]
    pub signer: SignerStatus,
    /// CI claims of the signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiClaimsStatus>,
    /// The transparency-log entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog: Option<TlogStatus>,
    /// This signature's verdict (a `Verified` condition reason).
    pub verdict: String,
    /// Why, in words.
    #[serde(default)]
    pub message: String,
}

/// Fulcio CI claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CiClaimsStatus {
    /// Source repository URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// Git ref built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_ref: Option<String>,
    /// Commit digest built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_digest: Option<String>,
    /// Workflow that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Triggering event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Link to the CI run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_invocation_uri: Option<String>,
    /// The workflow that signed (`.9`; a reusable workflow when one is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_signer_uri: Option<String>,
    /// Commit of the signing workflow (`.10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_signer_digest: Option<String>,
    /// `github-hosted` or `self-hosted` (`.11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// Owner of the source repository (`.16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_uri: Option<String>,
    /// Source repository visibility at signing: `public`, `private`, `internal` (`.22`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository_visibility: Option<String>,
}

/// A suggested Flux `spec.verify` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedVerifyStatus {
    /// Always `cosign`.
    pub provider: String,
    /// Exactly one anchored identity for a keyless signer.
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_oidc_identity: Vec<OidcIdentity>,
    /// The key a `secretRef` Secret must hold, for a key signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// The block as YAML, ready to paste under `spec:`.
    #[serde(default)]
    pub yaml: String,
}

/// One `matchOIDCIdentity` entry (regexes, unanchored like Flux's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OidcIdentity {
    /// Issuer regex.
    pub issuer: String,
    /// Subject regex.
    pub subject: String,
}

/// A way Flux would judge differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompatibilityNote {
    /// Stable code (`MultipleIdentities`, `BundleHidesLegacy`, …).
    pub code: String,
    /// What Flux will do.
    pub message: String,
}

/// A definite verdict (`Verified` `True` or `False`) as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastVerdict {
    /// `True` or `False`.
    pub status: String,
    /// The `Verified` reason it gave.
    pub reason: String,
    /// Its message.
    pub message: String,
}

/// How long the source has been in its current `Ready` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceReady {
    /// The source's `Ready` status (`True`, `False`, `Unknown`).
    pub status: String,
    /// When the source's `Ready` last changed to this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// How many times the auditor saw it change.
    #[serde(default)]
    pub transitions: i64,
}

/// The inputs a verdict depends on; unchanged key = the verdict holds until its re-check is
/// due (see `lastVerifiedTime`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictCacheKey {
    /// The registry host the signatures were read from (signatures are per repository: the
    /// same digest in a signed repository and an unsigned mirror has two verdicts).
    #[serde(default)]
    pub registry: String,
    /// The repository the signatures were read from.
    #[serde(default)]
    pub repository: String,
    /// The verified digest.
    pub digest: String,
    /// Fingerprint of every policy applied (keys, identities).
    pub policy_fingerprint: String,
    /// Fingerprint of every trust root used.
    pub trust_root_fingerprint: String,
}
