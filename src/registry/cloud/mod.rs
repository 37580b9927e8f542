//! Registry credentials from the controller's own cloud identity, for Flux sources with
//! `spec.provider: aws | azure | gcp`, the way source-controller gets them:
//!
//! - **aws** ([`aws`]): the pod's credentials (static `AWS_ACCESS_KEY_ID`…, IRSA's web
//!   identity token exchanged at STS `AssumeRoleWithWebIdentity`, or EKS Pod Identity's
//!   container credentials endpoint), then ECR `GetAuthorizationToken` for the account and
//!   region of the registry host.
//! - **gcp** ([`gcp`]): the metadata server's access token (GKE Workload Identity) or
//!   workload identity federation from an `external_account` credentials file
//!   (`GOOGLE_APPLICATION_CREDENTIALS`); `oauth2accesstoken` as the registry user.
//! - **azure** ([`azure`]): workload identity (the federated token file exchanged for an
//!   Entra ID token), exchanged at the registry's `/oauth2/exchange` for an ACR refresh token.
//!
//! The registry host decides everything: it must parse strictly as the provider's registry
//! ([`host`]); the cloud endpoints (STS, ECR, Entra ID) are derived from it, and the registry
//! credential is scoped to exactly that host. Endpoints can be replaced only by the
//! controller's own `--cloud-endpoints-file` ([`endpoints`], for tests against emulators),
//! never by anything a source says. Tokens are cached ([`cache`]) until shortly before they
//! expire, and never appear in an error, a log line or a `Debug` output.

pub mod aws;
pub mod azure;
mod cache;
pub mod endpoints;
pub mod gcp;
pub mod host;
mod http;
mod sigv4;
mod xml;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::docker_config::DockerConfig;
pub use endpoints::CloudEndpoints;
pub use host::CloudRegistry;

/// A cloud whose registry identity Flux's `spec.provider` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Amazon ECR.
    Aws,
    /// Azure Container Registry.
    Azure,
    /// Google Artifact Registry / Container Registry.
    Gcp,
}

impl Provider {
    /// `aws`, `azure`, `gcp` → the provider; `generic` (or anything else) → `None`.
    pub fn from_flux(s: &str) -> Option<Provider> {
        match s {
            "aws" => Some(Provider::Aws),
            "azure" => Some(Provider::Azure),
            "gcp" => Some(Provider::Gcp),
            _ => None,
        }
    }

    /// Flux's name of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Gcp => "gcp",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no registry credential could be had from the cloud identity. Never names a token or a
/// credential, never quotes a cloud endpoint's answer beyond a bounded error code.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The registry host is not one of the provider's registries: no credential is sent to it.
    #[error("provider {provider}: {host} is not a {provider} registry host, so no {provider} credentials are sent to it")]
    NotProviderRegistry {
        /// The provider.
        provider: Provider,
        /// The host (bounded, DNS characters only).
        host: String,
    },
    /// A case the provider supports that this auditor does not.
    #[error("provider {provider}: {what} is not supported")]
    Unsupported {
        /// The provider.
        provider: Provider,
        /// What.
        what: String,
    },
    /// The controller has no identity of this cloud (the environment names none).
    #[error("provider {provider}: no {provider} identity for the controller: {detail}")]
    NoIdentity {
        /// The provider.
        provider: Provider,
        /// What is missing.
        detail: String,
    },
    /// A token or credentials file could not be read.
    #[error("provider {provider}: reading the {what} {path}: {source}")]
    File {
        /// The provider.
        provider: Provider,
        /// Which file.
        what: &'static str,
        /// Its path (the controller's own configuration).
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A cloud endpoint could not be reached or timed out.
    #[error("provider {provider}: {service} unreachable: {detail}")]
    Unreachable {
        /// The provider.
        provider: Provider,
        /// `STS`, `ECR`, `metadata server`, …
        service: &'static str,
        /// What failed (no credential).
        detail: String,
    },
    /// A cloud endpoint refused: its HTTP status and, when it gave one, its error code.
    #[error("provider {provider}: {service} refused the request (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused {
        /// The provider.
        provider: Provider,
        /// The service.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The error code it named (`AccessDenied`, `invalid_grant`, …), bounded.
        code: Option<String>,
    },
    /// A cloud endpoint answered 2xx with something that is not what the protocol says.
    #[error("provider {provider}: {service} answered with {detail}")]
    BadResponse {
        /// The provider.
        provider: Provider,
        /// The service.
        service: &'static str,
        /// What is wrong (never the body).
        detail: String,
    },
    /// The controller's own configuration is unusable (an endpoints file, a credentials file).
    #[error("provider {provider}: {detail}")]
    Config {
        /// The provider.
        provider: Provider,
        /// What is wrong.
        detail: String,
    },
}

/// A registry credential obtained from the cloud identity, scoped to one host.
#[derive(Clone)]
pub struct CloudLogin {
    /// The host the credential is for (and only sent to).
    host: String,
    username: String,
    password: String,
}

impl CloudLogin {
    /// The host it is for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The credential as a Docker config with this one host.
    pub fn docker_config(&self) -> DockerConfig {
        DockerConfig::basic(&self.host, &self.username, &self.password)
    }

    /// A digest of the credential (to key a client built with it; reveals nothing).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [&self.host, &self.username, &self.password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

impl fmt::Debug for CloudLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudLogin")
            .field("host", &self.host)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A username and password for a registry, and until when they may be used.
#[derive(Clone)]
pub(crate) struct RegistryToken {
    pub(crate) username: String,
    pub(crate) password: String,
    /// When the cloud says it expires (`None`: unknown, used once, never cached).
    pub(crate) expires: Option<SystemTime>,
}

/// Where the controller's cloud identity comes from: the process environment, read once at
/// start (what EKS, GKE and AKS inject into the controller's pod), never a source's.
#[derive(Clone, Default)]
pub struct CloudEnv {
    vars: std::collections::BTreeMap<String, String>,
}

/// The variables read (so nothing else of the environment is kept).
const ENV_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
];

impl CloudEnv {
    /// The cloud identity variables of this process.
    pub fn from_process() -> Self {
        Self::from_pairs(
            ENV_VARS
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))),
        )
    }

    /// From explicit pairs (tests); only the known variables are kept.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        CloudEnv {
            vars: pairs
                .into_iter()
                .filter(|(k, v)| ENV_VARS.contains(&k.as_str()) && !v.is_empty())
                .collect(),
        }
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.vars.get(k).map(String::as_str)
    }
}

impl fmt::Debug for CloudEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: AWS_SECRET_ACCESS_KEY is one of them.
        f.debug_struct("CloudEnv")
            .field("set", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Gets registry credentials from the controller's cloud identity, caching them.
#[derive(Clone)]
pub struct CloudCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    env: CloudEnv,
    endpoints: CloudEndpoints,
    http: http::CloudHttp,
    cache: cache::TokenCache,
}

impl fmt::Debug for CloudCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudCredentials")
            .field("env", &self.inner.env)
            .field("endpoints_overridden", &!self.inner.endpoints.is_empty())
            .finish()
    }
}

impl CloudCredentials {
    /// Credentials from `env` (the controller's process, see [`CloudEnv::from_process`]), each
    /// cloud request bounded by `timeout`; `endpoints` replaces the cloud endpoints (tests only).
    pub fn new(env: CloudEnv, endpoints: CloudEndpoints, timeout: Duration) -> Self {
        CloudCredentials {
            inner: Arc::new(Inner {
                env,
                endpoints,
                http: http::CloudHttp::new(timeout),
                cache: cache::TokenCache::default(),
            }),
        }
    }

    /// From this process's environment and, when given, the endpoints file.
    pub fn from_process(
        endpoints_file: Option<&PathBuf>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let endpoints = match endpoints_file {
            Some(p) => CloudEndpoints::from_file(p)?,
            None => CloudEndpoints::default(),
        };
        Ok(Self::new(CloudEnv::from_process(), endpoints, timeout))
    }

    /// The credential for registry `host` (`host[:port]` as in the reference) with
    /// `provider`'s identity. A host that is not the provider's registry is refused.
    pub async fn login(&self, provider: Provider, host: &str) -> Result<CloudLogin, CloudError> {
        // A test alias stands for a cloud host (the endpoints file only): the credential is
        // issued for the cloud host and sent to the alias.
        let cloud_host = self.inner.endpoints.alias(host).unwrap_or(host);
        let registry = host::parse(provider, cloud_host)?;
        let key = cache_key(&registry);
        let token = self
            .inner
            .cache
            .get_or_fetch(&key, || self.fetch(&registry))
            .await?;
        Ok(CloudLogin {
            host: host.to_ascii_lowercase(),
            username: token.username,
            password: token.password,
        })
    }

    async fn fetch(&self, registry: &CloudRegistry) -> Result<RegistryToken, CloudError> {
        let i = &self.inner;
        match registry {
            CloudRegistry::Ecr(ecr) => {
                aws::registry_token(&i.http, &i.env, &i.endpoints, ecr).await
            }
            CloudRegistry::Gcp { .. } => gcp::registry_token(&i.http, &i.env, &i.endpoints).await,
            CloudRegistry::Acr { host, cloud } => {
                azure::registry_token(&i.http, &i.env, &i.endpoints, host, *cloud).await
            }
        }
    }
}

/// What a registry token is valid for: ECR tokens per account and region, one GCP token for
/// every registry, ACR refresh tokens per registry.
fn cache_key(r: &CloudRegistry) -> String {
    match r {
        CloudRegistry::Ecr(_) | CloudRegistry::Acr { .. } => r.to_string(),
        CloudRegistry::Gcp { .. } => "gcp".into(),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
