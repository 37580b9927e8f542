//! Registry credentials from a Docker `config.json` / Kubernetes `.dockerconfigjson`.
//!
//! Only the inline `auths` map is understood; credential helpers are a workstation feature and
//! never appear in the Secrets Flux reads. Secrets are kept out of `Debug` and every error text.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

use super::error::RegistryError;

/// Credentials for registries, keyed by normalised host (`host[:port]`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    auths: BTreeMap<String, Credential>,
}

/// One registry's credential.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Username and password (sent as HTTP Basic to the registry or its token endpoint).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken { token: String },
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl DockerConfig {
    /// Parses the JSON content of a `config.json` or `.dockerconfigjson`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RegistryError> {
        // serde_json's error text quotes no input beyond a position, so it is safe to show.
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::Config(format!("docker config is not valid JSON: {e}")))?;
        let mut auths = BTreeMap::new();
        for (key, entry) in raw.auths {
            let host = normalize_host(&key);
            if host.is_empty() {
                return Err(RegistryError::Config(format!(
                    "docker config has an auths entry with no host: {key:?}"
                )));
            }
            if let Some(cred) = credential_from(&host, entry)? {
                auths.insert(host, cred);
            }
        }
        Ok(DockerConfig { auths })
    }

    /// Adds the hosts of `other` that this config does not have yet: the first configured
    /// credential for a host wins, like the order of Kubernetes imagePullSecrets.
    pub fn merge(&mut self, other: DockerConfig) {
        for (host, cred) in other.auths {
            self.auths.entry(host).or_insert(cred);
        }
    }

    /// Hosts that have credentials (never the credentials themselves).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.auths.keys().map(String::as_str)
    }

    /// True when no host has credentials.
    pub fn is_empty(&self) -> bool {
        self.auths.is_empty()
    }

    pub(crate) fn credential_for(&self, registry: &str) -> Option<&Credential> {
        self.auths.get(&normalize_host(registry))
    }
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("hosts", &self.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credential::IdentityToken { .. } => write!(f, "IdentityToken {{ <redacted> }}"),
        }
    }
}

fn credential_from(host: &str, e: RawAuth) -> Result<Option<Credential>, RegistryError> {
    if let Some(token) = e.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken { token }));
    }
    if let Some(auth) = e.auth.filter(|a| !a.is_empty()) {
        // Never echo the value: it is the secret.
        let bad = || {
            RegistryError::Config(format!(
                "docker config auth for {host} is not base64(user:password)"
            ))
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (e.username, e.password) {
        (Some(username), Some(password)) if !username.is_empty() => {
            Ok(Some(Credential::Basic { username, password }))
        }
        // An entry with nothing usable (e.g. `{}` written by `docker login` with a helper).
        _ => Ok(None),
    }
}

/// `https://host/v1/`, `http://host`, `host/` and `host` all name `host`.
pub(crate) fn normalize_host(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or_default();
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_the_three_entry_shapes_and_normalises_keys() {
        let json = format!(
            r#"{{"auths":{{
                "https://index.example.com/v1/":{{"auth":"{}"}},
                "reg.example.com:5000":{{"username":"bob","password":"pw:with:colons"}},
                "http://tok.example.com":{{"auth":"","identitytoken":"refresh-xyz"}},
                "empty.example.com":{{}}
            }}}}"#,
            b64("alice:s3cret:x")
        );
        let c = DockerConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(
            c.credential_for("index.example.com"),
            Some(&Credential::Basic {
                username: "alice".into(),
                password: "s3cret:x".into()
            })
        );
        assert_eq!(
            c.credential_for("REG.example.com:5000"),
            Some(&Credential::Basic {
                username: "bob".into(),
                password: "pw:with:colons".into()
            })
        );
        assert_eq!(
            c.credential_for("tok.example.com"),
            Some(&Credential::IdentityToken {
                token: "refresh-xyz".into()
            })
        );
        assert_eq!(c.credential_for("empty.example.com"), None);
        assert_eq!(c.hosts().count(), 3);
    }

    #[test]
    fn debug_and_errors_never_show_secrets() {
        let json = format!(
            r#"{{"auths":{{"a.example.com":{{"auth":"{}"}},"b.example.com":{{"identitytoken":"tok-SECRET"}}}}}}"#,
            b64("user:pw-SECRET")
        );
        let c = DockerConfig::from_json(json.as_bytes()).unwrap();
        let dbg = format!("{c:?} {:?}", c.credential_for("a.example.com"));
        assert!(
            dbg.contains("a.example.com") && dbg.contains("user"),
            "{dbg}"
        );
        assert!(
            !dbg.contains("SECRET") && !dbg.contains(&b64("user:pw-SECRET")),
            "{dbg}"
        );

        let bad = r#"{"auths":{"c.example.com":{"auth":"bm9jb2xvbg-SECRET"}}}"#;
        let err = DockerConfig::from_json(bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.example.com") && !err.contains("SECRET"),
            "{err}"
        );
        let no_colon = format!(
            r#"{{"auths":{{"c.example.com":{{"auth":"{}"}}}}}}"#,
            b64("SECRET")
        );
        let err = DockerConfig::from_json(no_colon.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn rejects_non_json_and_accepts_empty() {
        assert!(matches!(
            DockerConfig::from_json(b"not json"),
            Err(RegistryError::Config(_))
        ));
        assert!(DockerConfig::from_json(b"{}").unwrap().is_empty());
    }

    #[test]
    fn merge_keeps_the_first_credential_for_a_host() {
        let first =
            DockerConfig::from_json(br#"{"auths":{"r.io":{"username":"first","password":"p"}}}"#)
                .unwrap();
        let second = DockerConfig::from_json(
            br#"{"auths":{"r.io":{"username":"second","password":"p"},"s.io":{"username":"s","password":"p"}}}"#,
        )
        .unwrap();
        let mut c = first;
        c.merge(second);
        assert!(
            matches!(c.credential_for("r.io"), Some(Credential::Basic { username, .. }) if username == "first")
        );
        assert!(c.credential_for("s.io").is_some());
    }
}
