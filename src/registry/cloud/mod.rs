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
mod error;
pub mod gcp;
pub mod host;
mod http;
mod identity;
mod sigv4;
mod xml;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::docker_config::DockerConfig;
pub use endpoints::CloudEndpoints;
pub use error::{CloudError, Provider};
pub use host::CloudRegistry;
pub use identity::CloudEnv;
use identity::RegistryToken;

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
    /// AWS identity credentials (STS, EKS Pod Identity), apart from the ECR tokens made with
    /// them: a failed or expired ECR token does not cost another identity exchange.
    aws_identity: cache::TokenCache<aws::Identity>,
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
                aws_identity: cache::TokenCache::default(),
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
                aws::registry_token(&i.http, &i.env, &i.endpoints, &i.aws_identity, ecr).await
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
