//! Fulcio's certificate claims (OIDs 1.3.6.1.4.1.57264.1.8–.22): the one home of what a
//! keyless signer's certificate says about the CI run that signed, read once per certificate
//! for signatures and attestations alike.

use serde::Serialize;
use sigstore_verify::crypto::CertificateInfo;

use crate::registry::bounded::cut_chars;

/// Characters kept of each claim (the same bound as an attestation's predicate fields).
pub const MAX_CLAIM: usize = 512;

/// Every Fulcio certificate claim (OIDs 1.3.6.1.4.1.57264.1.8–.22), as written in the
/// certificate. Field names follow Fulcio's `docs/oid-info.md`, camelCase in JSON and CEL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateClaims {
    /// The certificate's SAN (URI or email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `.8` OIDC issuer (or `.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `.9` build signer URI (the workflow that signed; a reusable workflow when one is used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_uri: Option<String>,
    /// `.10` build signer digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_digest: Option<String>,
    /// `.11` runner environment: `github-hosted` or `self-hosted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// `.12` source repository URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_uri: Option<String>,
    /// `.13` source repository digest (commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_digest: Option<String>,
    /// `.14` source repository ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_ref: Option<String>,
    /// `.15` source repository identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_identifier: Option<String>,
    /// `.16` source repository owner URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_uri: Option<String>,
    /// `.17` source repository owner identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_owner_identifier: Option<String>,
    /// `.18` build config URI (the calling workflow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_config_uri: Option<String>,
    /// `.19` build config digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_config_digest: Option<String>,
    /// `.20` build trigger (event name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_trigger: Option<String>,
    /// `.21` run invocation URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_invocation_uri: Option<String>,
    /// `.22` source repository visibility at signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_visibility_at_signing: Option<String>,
}

impl CertificateClaims {
    /// Every claim of a parsed certificate, as written (trust is in the verdict). Each value is
    /// cut to [`MAX_CLAIM`] characters: a certificate is registry content until its chain has
    /// been checked.
    pub fn from_info(info: &CertificateInfo) -> Self {
        let c = &info.ci_claims;
        let clip = |v: &Option<String>| v.as_deref().map(|s| cut_chars(s, MAX_CLAIM));
        Self {
            subject: info
                .identity
                .as_ref()
                .map(|s| cut_chars(s.as_str(), MAX_CLAIM)),
            issuer: clip(&info.issuer),
            build_signer_uri: clip(&c.build_signer_uri),
            build_signer_digest: clip(&c.build_signer_digest),
            runner_environment: clip(&c.runner_environment),
            source_repository_uri: clip(&c.source_repository_uri),
            source_repository_digest: clip(&c.source_repository_digest),
            source_repository_ref: clip(&c.source_repository_ref),
            source_repository_identifier: clip(&c.source_repository_identifier),
            source_repository_owner_uri: clip(&c.source_repository_owner_uri),
            source_repository_owner_identifier: clip(&c.source_repository_owner_identifier),
            build_config_uri: clip(&c.build_config_uri),
            build_config_digest: clip(&c.build_config_digest),
            build_trigger: clip(&c.build_trigger),
            run_invocation_uri: clip(&c.run_invocation_uri),
            source_repository_visibility_at_signing: clip(
                &c.source_repository_visibility_at_signing,
            ),
        }
    }
}
