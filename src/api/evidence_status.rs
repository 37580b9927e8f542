//! Who signed and where it was logged, as the status reports it for signatures and
//! attestations alike.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A signer's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignerStatus {
    /// Certificate SAN (keyless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// OIDC issuer (keyless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `sha256:` fingerprint of the verifying key (key-signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// The bundle's public-key hint (key-signed bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hint: Option<String>,
}

/// A Rekor entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlogStatus {
    /// Log index (int64: the API server knows no unsigned format).
    pub log_index: i64,
    /// Integrated time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<String>,
}
