//! Kubernetes access that both front ends share: the controller (`run`) and the one-shot
//! commands (`audit`, `confirm`, policy loading). A client from a kubeconfig, the API resources
//! of Flux's source kinds, the readable `ProvenancePolicy` specs among watched or listed
//! objects, and the clock as the API server stores it.
//!
//! Nothing here runs a controller; the CLI imports this module, never controller internals.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;

use crate::api::{PolicySet, SourceKind};

/// Why no Kubernetes client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read.
    #[error("reading {path}: {message}")]
    ReadKubeconfig {
        /// The file given.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The kubeconfig file could not be used.
    #[error("{path}: {message}")]
    Kubeconfig {
        /// The file given.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No configuration could be inferred (in-cluster, `$KUBECONFIG`, `~/.kube/config`).
    #[error("{0}")]
    Infer(String),
}

/// A client from a kubeconfig file, else in-cluster or `$KUBECONFIG` / `~/.kube/config`; its
/// default namespace is the context's namespace (else `default`).
pub async fn kube_client(path: Option<&std::path::Path>) -> Result<Client, ClientError> {
    let config = match path {
        Some(p) => {
            let path = p.display().to_string();
            let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| {
                ClientError::ReadKubeconfig {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| ClientError::Kubeconfig {
                    path,
                    message: e.to_string(),
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ClientError::Infer(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| ClientError::Infer(e.to_string()))
}

/// A Flux source-controller kind at `source.toolkit.fluxcd.io/v1`.
pub fn flux_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "source.toolkit.fluxcd.io",
        "v1",
        kind,
    ))
}

/// The API resource of a source kind.
pub fn source_resource(kind: SourceKind) -> ApiResource {
    flux_resource(kind.as_str())
}

/// Now, to the second: the API server stores times to the second, so comparing a status we
/// computed with the one we read back must not differ in nanoseconds.
pub fn now() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now()))
}

/// Unix seconds as an API time.
pub fn time(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap_or_default())
}

/// The policies among `objs`, for the controller and `audit` alike: the readable ones as
/// `(name, spec)` and the unreadable ones by name; `unreadable` hears of each one whose spec
/// does not parse. One bad policy never hides the rest, and it is never taken for no policy:
/// the verifier judges every source `Unknown` while one exists.
pub fn readable<'a>(
    objs: impl IntoIterator<Item = &'a DynamicObject>,
    mut unreadable: impl FnMut(&str, &serde_json::Error),
) -> PolicySet {
    let (mut specs, mut bad) = (vec![], vec![]);
    for p in objs {
        let Some(name) = p.metadata.name.clone() else {
            continue;
        };
        let spec = p.data.get("spec").cloned().unwrap_or_default();
        match serde_json::from_value(spec) {
            Ok(spec) => specs.push((name, spec)),
            Err(e) => {
                unreadable(&name, &e);
                bad.push((name, e.to_string()));
            }
        }
    }
    PolicySet::new(specs, bad)
}
