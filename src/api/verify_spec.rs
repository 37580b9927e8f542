//! `ProvenancePolicy.spec.verify` (and an attestation requirement's `verify`): who must have
//! signed, in Flux's `spec.verify` shape with namespaced Secret references, and
//! `matchCertificate`, the certificate claims a keyless signer must also carry.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::source_audit::OidcIdentity;

/// The signing requirement, in Flux's `spec.verify` shape with namespaced Secret references.
///
/// It must name who may sign: a key Secret, or identities with non-empty regexes. With neither
/// it would accept any certificate the trust root knows (an attacker's own CI workflow too), so
/// the API server refuses it (these CEL rules); `decide::compile_policy` applies the same rule
/// to one stored earlier (`Ready=False/PolicyInvalid`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(
    validation = Rule::new(
        "has(self.secretRef) || has(self.openpgp) || (has(self.matchOIDCIdentity) && size(self.matchOIDCIdentity) > 0)"
    )
    .message(
        "verify must name a key (secretRef, openpgp) or at least one identity \
         (matchOIDCIdentity): with none, any signer would be accepted"
    ),
    validation = Rule::new(
        "!has(self.provider) || self.provider != 'notation' || has(self.secretRef)"
    )
    .message(
        "provider notation needs a secretRef: a Secret with trustpolicy.json and the trust \
         store's certificates (*.crt, *.pem)"
    ),
    validation = Rule::new(
        "!has(self.matchOIDCIdentity) || self.matchOIDCIdentity.all(i, size(i.issuer) > 0 && size(i.subject) > 0)"
    )
    .message(
        "every matchOIDCIdentity entry needs a non-empty issuer and subject regex: \
         an empty regex matches any signer"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerify {
    /// `cosign` (default) or `notation`.
    #[serde(default)]
    pub provider: VerifyProvider,
    /// cosign: a Secret whose `*.pub` entries are the accepted keys; when set, identities are
    /// ignored (as in Flux). notation: a Secret with `trustpolicy.json` and the trust store's
    /// certificates (`*.crt`, `*.pem`), Flux's layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NamespacedSecretRef>,
    /// Accepted keyless identities (any entry; issuer and subject both match, unanchored).
    // maxItems bounds the CEL rule's cost: without it the API server refuses the CRD once this
    // shape is nested in `attestations[]` (its cost estimate multiplies by the list's size).
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 16))]
    pub match_oidc_identity: Vec<OidcIdentity>,
    /// A Secret with `trusted_root.json` for a private Sigstore; public-good when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<NamespacedSecretRef>,
    /// Certificate claims a keyless signer must also carry (whole-value regexes), like cosign's
    /// `--certificate-github-workflow-*` flags; unmet → `IdentityMismatch` naming the claim.
    /// Flux cannot check them, so a policy with them is stricter than any `spec.verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_certificate: Option<CertificateMatch>,
    /// The OpenPGP keys that may sign Helm charts from HTTP repositories (their `.prov`, as
    /// `helm package --sign` makes and `helm verify` checks). Such a chart is judged by these
    /// keys only; an OCI artifact by the cosign keys and identities only. A policy that
    /// matches an HTTP chart and names no OpenPGP key accepts no signer of it. Only in a
    /// policy's own `verify` (not an attestation requirement's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openpgp: Option<OpenPgpVerify>,
}

/// Who may sign Helm provenance files: OpenPGP public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenPgpVerify {
    /// A Secret whose every entry is a keyring: armored or binary OpenPGP public keys, any
    /// entry name (the layout of Flux's GitRepository `spec.verify.secretRef`, so one key
    /// Secret serves both). Any of its keys (or their signing subkeys) may sign.
    pub secret_ref: NamespacedSecretRef,
}

/// The signature provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyProvider {
    /// Sigstore cosign (bundles and legacy `.sig`).
    #[default]
    Cosign,
    /// Notary Project signatures (`notation sign`), judged by a trust policy.
    Notation,
}

/// A Secret anywhere in the cluster (policies are cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct NamespacedSecretRef {
    /// The Secret's namespace.
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

impl std::fmt::Display for NamespacedSecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Certificate claims a keyless signer must carry (beside `matchOIDCIdentity`), like cosign's
/// `--certificate-github-workflow-*` flags. Each regex must match the claim whole; an absent
/// claim never matches. A key (`secretRef`) ignores them, as it ignores identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateMatch {
    /// Source repository URI (Fulcio `.12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// Source ref (`.14`), e.g. `refs/tags/v.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// Source commit (`.13`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// Build signer URI (`.9`): the workflow that signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_workflow: Option<String>,
    /// Build config URI (`.18`): the calling workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config: Option<String>,
    /// Build trigger (`.20`), e.g. `push`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Runner environment (`.11`): `github-hosted` or `self-hosted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
}
