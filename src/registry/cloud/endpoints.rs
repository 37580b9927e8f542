//! The cloud endpoints a test replaces with emulators on 127.0.0.1: read only from the file the
//! controller (or `verify`) is started with (`--cloud-endpoints-file`), never from a source, a
//! tenant's namespace or the environment. Every URL and alias in it must be a loopback address,
//! so even a misused file cannot send a credential off the machine.
//!
//! ```json
//! {"aws":   {"sts": "http://127.0.0.1:5000", "ecr": "http://127.0.0.1:5000"},
//!  "gcp":   {"metadata": "http://127.0.0.1:8081", "sts": "http://127.0.0.1:8081",
//!            "iamcredentials": "http://127.0.0.1:8081"},
//!  "azure": {"authority": "http://127.0.0.1:8082", "exchange": "http://127.0.0.1:8082"},
//!  "registryAliases": {"127.0.0.1:5001": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}}
//! ```
//!
//! A registry alias makes a loopback registry stand for a cloud registry host: the credential
//! is issued for the cloud host (its account, region, cloud) and sent to the alias.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::Url;
use serde::Deserialize;

use super::super::http::is_loopback_host;

/// Replaced endpoints (empty: the real clouds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloudEndpoints {
    #[serde(default)]
    aws: Aws,
    #[serde(default)]
    gcp: Gcp,
    #[serde(default)]
    azure: Azure,
    #[serde(default)]
    registry_aliases: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Aws {
    sts: Option<String>,
    ecr: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Gcp {
    metadata: Option<String>,
    sts: Option<String>,
    iamcredentials: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Azure {
    authority: Option<String>,
    exchange: Option<String>,
}

/// One endpoint a caller may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// AWS STS (`AssumeRoleWithWebIdentity`).
    AwsSts,
    /// The ECR API (`GetAuthorizationToken`).
    AwsEcr,
    /// The GCE/GKE metadata server.
    GcpMetadata,
    /// Google's Security Token Service (workload identity federation).
    GcpSts,
    /// Google's IAM credentials API (service account impersonation).
    GcpIamCredentials,
    /// The Entra ID authority.
    AzureAuthority,
    /// The ACR `/oauth2/exchange` endpoint (normally the registry host itself).
    AzureExchange,
}

impl CloudEndpoints {
    /// Reads and checks an endpoints file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read cloud endpoints file {}: {e}", path.display()))?;
        Self::from_json(&bytes).map_err(|e| format!("cloud endpoints file {}: {e}", path.display()))
    }

    /// Parses and checks the JSON of an endpoints file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let e: CloudEndpoints = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        for (name, url) in e.urls() {
            let parsed = Url::parse(url).map_err(|_| format!("{name}: not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || !parsed.host_str().is_some_and(is_loopback_host)
            {
                return Err(format!(
                    "{name}: only http(s) URLs on a loopback address are allowed"
                ));
            }
        }
        for alias in e.registry_aliases.keys() {
            if !is_loopback_host(alias) {
                return Err(format!(
                    "registryAliases: {alias} is not a loopback address (only a local registry may stand for a cloud registry)"
                ));
            }
        }
        Ok(e)
    }

    fn urls(&self) -> Vec<(&'static str, &String)> {
        [
            ("aws.sts", &self.aws.sts),
            ("aws.ecr", &self.aws.ecr),
            ("gcp.metadata", &self.gcp.metadata),
            ("gcp.sts", &self.gcp.sts),
            ("gcp.iamcredentials", &self.gcp.iamcredentials),
            ("azure.authority", &self.azure.authority),
            ("azure.exchange", &self.azure.exchange),
        ]
        .into_iter()
        .filter_map(|(n, u)| u.as_ref().map(|u| (n, u)))
        .collect()
    }

    /// True when nothing is replaced.
    pub fn is_empty(&self) -> bool {
        self.urls().is_empty() && self.registry_aliases.is_empty()
    }

    /// The replacement base URL of `endpoint` (without a trailing `/`), if any.
    pub fn get(&self, endpoint: Endpoint) -> Option<&str> {
        let v = match endpoint {
            Endpoint::AwsSts => &self.aws.sts,
            Endpoint::AwsEcr => &self.aws.ecr,
            Endpoint::GcpMetadata => &self.gcp.metadata,
            Endpoint::GcpSts => &self.gcp.sts,
            Endpoint::GcpIamCredentials => &self.gcp.iamcredentials,
            Endpoint::AzureAuthority => &self.azure.authority,
            Endpoint::AzureExchange => &self.azure.exchange,
        };
        v.as_deref().map(|s| s.trim_end_matches('/'))
    }

    /// The cloud registry host a loopback registry stands for.
    pub fn alias(&self, host: &str) -> Option<&str> {
        self.registry_aliases
            .get(&host.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// `default` (an `https://host` base), or its replacement.
    pub(crate) fn base(&self, endpoint: Endpoint, default: String) -> String {
        self.get(endpoint).map(str::to_string).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_and_aliases_are_accepted() {
        let ok = CloudEndpoints::from_json(
            br#"{"aws": {"sts": "http://127.0.0.1:5000/"}, "registryAliases": {"127.0.0.1:5001": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}}"#,
        )
        .unwrap();
        assert_eq!(ok.get(Endpoint::AwsSts), Some("http://127.0.0.1:5000"));
        assert_eq!(ok.get(Endpoint::AwsEcr), None);
        assert_eq!(
            ok.alias("127.0.0.1:5001"),
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert!(!ok.is_empty());
        for bad in [
            r#"{"aws": {"sts": "https://sts.amazonaws.com"}}"#,
            r#"{"gcp": {"metadata": "http://169.254.169.254"}}"#,
            r#"{"azure": {"authority": "file:///etc/passwd"}}"#,
            r#"{"registryAliases": {"evil.example": "gcr.io"}}"#,
            r#"{"aws": {"sts": "http://127.0.0.1:1", "extra": 1}}"#,
            r#"{"other": {}}"#,
        ] {
            assert!(CloudEndpoints::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(CloudEndpoints::default().is_empty());
    }
}
