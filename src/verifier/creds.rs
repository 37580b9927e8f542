//! The Secrets an audit reads (keys, trusted roots, pull credentials, CA bundles), and which
//! Secret changes concern which source. The registry client built from them is
//! [`super::pipeline::Verifier::registry_client_for`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::Client;

use crate::api::ProvenancePolicySpec;
use crate::audit::decide::Secrets;
use crate::audit::source::FluxSource;
use crate::error::Error;

pub use super::secret_cache::SecretKey;
use super::secret_cache::{SecretCache, SecretData};

/// Why the credentials a source pulls with could not be put together: the audit is then
/// `Verified=Unknown/AuthenticationFailed` with this message (it never names a credential).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The source's ServiceAccount could not be read.
    #[error("reading ServiceAccount {account}: {source}")]
    ServiceAccountUnreadable {
        /// `namespace/name`.
        account: String,
        /// The API error.
        source: kube::Error,
    },
    /// The source's ServiceAccount does not exist.
    #[error("ServiceAccount {0} not found")]
    ServiceAccountMissing(String),
    /// A pull or CA Secret could not be read.
    #[error("reading Secret {secret}: {source}")]
    SecretUnreadable {
        /// `namespace/name`.
        secret: String,
        /// The API error.
        source: kube::Error,
    },
    /// A pull or CA Secret does not exist.
    #[error("Secret {0} not found")]
    SecretMissing(String),
    /// A pull Secret holds neither Docker config layout.
    #[error("Secret {0} has neither .dockerconfigjson nor .dockercfg")]
    NotDockerConfig(String),
    /// A pull Secret's Docker config does not parse.
    #[error("Secret {secret}: {source}")]
    BadDockerConfig {
        /// `namespace/name`.
        secret: String,
        /// What is wrong with it.
        source: crate::registry::RegistryError,
    },
    /// A HelmRepository's `secretRef` has a username without a password (or the reverse), or
    /// one that is not UTF-8.
    #[error("Secret {0} must hold both username and password (UTF-8) for basic auth")]
    BadBasicAuth(String),
    /// A TLS Secret has a client certificate without its key (or the reverse).
    #[error("Secret {0} must hold both the client certificate and its key")]
    BadClientCertificate(String),
    /// No registry credential from the cloud identity (`spec.provider`).
    #[error("{0}")]
    Cloud(#[from] crate::registry::cloud::CloudError),
    /// `spec.serviceAccountName` with a cloud provider: Flux's object-level workload identity,
    /// which would need the controller to create ServiceAccount tokens.
    #[error("spec.serviceAccountName {account} with provider {provider} (object-level workload identity) is not supported: the auditor uses its own cloud identity only, and would need to create ServiceAccount tokens for this")]
    ObjectLevelIdentity {
        /// `namespace/name`.
        account: String,
        /// The provider.
        provider: crate::registry::cloud::Provider,
    },
    /// The registry client could not be built from them (e.g. a CA bundle that is not one).
    #[error("{0}")]
    Client(crate::registry::RegistryError),
}

/// What a HelmRepository contributes to a HelmChart's audit.
#[derive(Debug, Clone)]
pub struct HelmRepo {
    /// `spec.url` (`oci://…`, or `http(s)://…` for an HTTP repository).
    pub url: String,
    /// `spec.type` is `oci` (else an HTTP repository: `default` or absent).
    pub oci: bool,
    /// `spec.secretRef.name`.
    pub secret_ref: Option<String>,
    /// `spec.certSecretRef.name`.
    pub cert_secret_ref: Option<String>,
    /// `spec.insecure` (OCI only).
    pub insecure: bool,
    /// `spec.passCredentials` (HTTP only): credentials also to chart URLs on other hosts.
    pub pass_credentials: bool,
    /// The annotation `provenance.dev/oci-mirror` (HTTP only): where the same charts are
    /// published in an OCI registry.
    pub oci_mirror: Option<String>,
    /// `spec.provider` (`generic` when absent).
    pub provider: String,
}

impl HelmRepo {
    /// Reads a HelmRepository: OCI (`spec.type: oci`) or HTTP (`default` or absent); `None`
    /// for another type or a malformed one.
    pub fn from_dynamic(obj: &DynamicObject) -> Option<Self> {
        let spec = obj.data.get("spec")?;
        let oci = match spec.get("type").and_then(|t| t.as_str()) {
            Some("oci") => true,
            None | Some("default") => false,
            Some(_) => return None,
        };
        let name = |k: &str| {
            spec.pointer(&format!("/{k}/name"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let flag = |k: &str| spec.get(k).and_then(|v| v.as_bool()) == Some(true);
        Some(Self {
            url: spec.get("url")?.as_str()?.to_string(),
            oci,
            secret_ref: name("secretRef"),
            cert_secret_ref: name("certSecretRef"),
            insecure: flag("insecure"),
            pass_credentials: flag("passCredentials"),
            oci_mirror: obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(super::helm_twin::OCI_MIRROR_ANNOTATION))
                .cloned(),
            provider: spec
                .get("provider")
                .and_then(|v| v.as_str())
                .unwrap_or("generic")
                .to_string(),
        })
    }
}

/// Every Secret the verification needs: the policies' keys and trusted roots, and the source's
/// own `spec.verify` Secrets (in its namespace).
pub fn secrets_needed(
    source: &FluxSource,
    matching: &[(&str, &ProvenancePolicySpec)],
) -> BTreeSet<SecretKey> {
    let mut out = BTreeSet::new();
    for (_, p) in matching {
        for r in p.secret_refs() {
            out.insert((r.namespace.clone(), r.name.clone()));
        }
    }
    if let Some(v) = &source.verify {
        for n in [&v.secret_ref, &v.trusted_root_secret_ref]
            .into_iter()
            .flatten()
        {
            out.insert((source.namespace.clone(), n.clone()));
        }
    }
    out
}

/// Reads the Secrets, from `cache` while it holds them current (see [`SecretCache`]); a missing
/// one is simply absent (`decide` says which and why).
pub async fn fetch_secrets(
    client: &Client,
    cache: Option<&SecretCache>,
    keys: &BTreeSet<SecretKey>,
) -> Result<Secrets, Error> {
    let mut out = Secrets::new();
    for (ns, name) in keys {
        if let Some(data) = read_secret(client, cache, ns, name).await? {
            out.insert((ns.clone(), name.clone()), data.as_ref().clone());
        }
    }
    Ok(out)
}

/// One Secret's data, `None` when it does not exist: from `cache` while it holds it current,
/// else a quorum GET whose answer the cache keeps.
pub async fn read_secret(
    client: &Client,
    cache: Option<&SecretCache>,
    ns: &str,
    name: &str,
) -> Result<Option<Arc<SecretData>>, kube::Error> {
    let key = (ns.to_string(), name.to_string());
    if let Some(hit) = cache.and_then(|c| c.get(&key, Instant::now())) {
        return Ok(hit);
    }
    let started = Instant::now();
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?;
    let version = secret
        .as_ref()
        .and_then(|s| s.metadata.resource_version.clone());
    let data = secret.map(|s| {
        Arc::new(
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<SecretData>(),
        )
    });
    if let Some(c) = cache {
        match (&data, version) {
            (None, _) => {
                c.insert(key, started, None);
            }
            (Some(d), Some(v)) => {
                c.insert(key, started, Some((v, d.clone())));
            }
            // Without a version no poll could confirm or invalidate it: not kept.
            (Some(_), None) => {}
        }
    }
    Ok(data)
}

/// Whether a change to Secret `(ns, name)` can change this source's audit.
pub fn source_uses_secret(source: &FluxSource, ns: &str, name: &str) -> bool {
    if source.namespace != ns {
        return false;
    }
    let n = Some(name.to_string());
    source.secret_ref == n
        || source.cert_secret_ref == n
        || source
            .verify
            .as_ref()
            .is_some_and(|v| v.secret_ref == n || v.trusted_root_secret_ref == n)
        // Pull secrets via a ServiceAccount are not mapped by name: any change in the namespace
        // of a source that uses a ServiceAccount re-audits it (cheap: the verdict is cached).
        || source.service_account_name.is_some()
}

/// Whether a policy reads Secret `(ns, name)`.
pub fn policy_uses_secret(policy: &ProvenancePolicySpec, ns: &str, name: &str) -> bool {
    policy
        .secret_refs()
        .any(|r| r.namespace == ns && r.name == name)
}
