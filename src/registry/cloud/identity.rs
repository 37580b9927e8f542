//! What every provider reads (the process's cloud identity variables) and gives (a registry
//! username and password with their expiry).

use std::fmt;
use std::time::SystemTime;

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
