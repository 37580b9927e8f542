//! What we report about each signature found: where it was, its format, who signed it, the CI
//! claims of its certificate, its log entry, and its own verdict.

use serde::Serialize;
use sigstore_verify::crypto::CertificateInfo;

use super::fulcio::CertificateClaims;

use super::verdict::Verdict;
use crate::registry::SignatureLocation;

/// The signature formats: cosign's two, and the Notary Project's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    /// A Sigstore bundle (cosign v3 default): DSSE envelope around an in-toto statement.
    Bundle,
    /// The legacy cosign format: a layer of the `sha256-<hex>.sig` tag with annotations.
    Legacy,
    /// Helm provenance: an OpenPGP clear-signed `.prov` file beside a chart package.
    #[serde(rename = "helm-prov")]
    HelmProv,
    /// A Notary Project signature (JWS or COSE envelope), as `notation sign` writes.
    Notation,
}

impl SignatureFormat {
    /// The format's name, as in JSON (`bundle`, `legacy`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureFormat::Bundle => "bundle",
            SignatureFormat::Legacy => "legacy",
            SignatureFormat::HelmProv => "helm-prov",
            SignatureFormat::Notation => "notation",
        }
    }
}

/// Who made a signature, as far as the signature itself says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    /// The certificate's SAN (URI or email), for keyless signatures; an OpenPGP key's user ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The certificate's OIDC issuer, for keyless signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `sha256:` fingerprint of the key that verified it (key-signed), when known; for OpenPGP
    /// `openpgp:<fingerprint>` (or `openpgp:<key ID>` when the signature names only that).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// The bundle's public-key hint, for key-signed bundles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_hint: Option<String>,
}

impl Signer {
    /// The signer of a certificate (claims as written, trust is in the verdict).
    pub fn from_certificate(info: &CertificateInfo) -> Self {
        Self {
            subject: info.identity.as_ref().map(|s| s.as_str().to_string()),
            issuer: info.issuer.clone(),
            ..Self::default()
        }
    }

    /// A one-line description, e.g. `https://github.com/o/r/... (issuer https://token...)`.
    pub fn describe(&self) -> String {
        match (
            &self.subject,
            &self.issuer,
            &self.key_fingerprint,
            &self.key_hint,
        ) {
            (Some(s), Some(i), _, _) => format!("{s} (issuer {i})"),
            // An OpenPGP signer: its user ID and key.
            (Some(s), None, Some(fp), _) => format!("{s} (key {fp})"),
            // A Notation signer: its certificate subject, as a trusted identity is written.
            (Some(s), None, _, _) if s.starts_with("x509.subject:") => s.clone(),
            (Some(s), None, _, _) => format!("{s} (no issuer)"),
            (None, _, Some(fp), _) => format!("key {fp}"),
            (None, _, None, Some(h)) => format!("key with hint {h}"),
            _ => "unknown key".into(),
        }
    }
}

/// Fulcio CI claims (certificate extensions 1.3.6.1.4.1.57264.1.9+), when present. The full
/// set (.8–.22) is [`CertificateClaims`]; these are the ones a status shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CiClaims {
    /// Source repository URI (e.g. `https://github.com/org/repo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// Git ref the build ran on (e.g. `refs/heads/main`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_ref: Option<String>,
    /// Commit digest of the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_digest: Option<String>,
    /// The workflow (build configuration) that ran, e.g. `.../.github/workflows/release.yml@refs/heads/main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The event that triggered the build (push, workflow_dispatch, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Link to the CI run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_invocation_uri: Option<String>,
    /// The workflow that signed (`.9`; a reusable workflow when one is used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_uri: Option<String>,
    /// Commit of the signing workflow (`.10`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_digest: Option<String>,
    /// `github-hosted` or `self-hosted` (`.11`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// Owner of the source repository (`.16`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_uri: Option<String>,
    /// Source repository visibility at signing: `public`, `private`, `internal` (`.22`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_visibility: Option<String>,
}

impl CiClaims {
    /// The CI claims a status shows, from a certificate's claims ([`CertificateClaims`], read
    /// once per certificate), or `None` when it carries none.
    pub fn from_claims(c: &CertificateClaims) -> Option<Self> {
        let claims = Self {
            source_repository: c.source_repository_uri.clone(),
            source_repository_ref: c.source_repository_ref.clone(),
            source_repository_digest: c.source_repository_digest.clone(),
            workflow: c
                .build_config_uri
                .clone()
                .or_else(|| c.build_signer_uri.clone()),
            trigger: c.build_trigger.clone(),
            run_invocation_uri: c.run_invocation_uri.clone(),
            build_signer_uri: c.build_signer_uri.clone(),
            build_signer_digest: c.build_signer_digest.clone(),
            runner_environment: c.runner_environment.clone(),
            source_repository_owner_uri: c.source_repository_owner_uri.clone(),
            source_repository_visibility: c.source_repository_visibility_at_signing.clone(),
        };
        (claims != Self::default()).then_some(claims)
    }
}

/// The transparency-log entry a signature carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Rekor log index.
    pub log_index: u64,
    /// Integrated time, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<String>,
}

/// Everything reported about one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureEvidence {
    /// Where it was found.
    pub location: SignatureLocation,
    /// Its format.
    pub format: SignatureFormat,
    /// Who signed it (claims; `verdict` says whether they hold).
    pub signer: Signer,
    /// CI claims from the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiClaims>,
    /// Its transparency-log entry, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlog: Option<LogEntry>,
    /// This signature's own verdict against the policy.
    pub verdict: Verdict,
    /// Why, in words.
    pub message: String,
}
