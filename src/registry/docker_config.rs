//! Registry credentials from a Docker `config.json` / Kubernetes `.dockerconfigjson`, or the
//! legacy `.dockercfg`.
//!
//! Only inline entries are understood; credential helpers are a workstation feature and
//! never appear in the Secrets Flux reads. Secrets are kept out of `Debug` and every error text.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;

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

/// One `auths` entry, its fields already checked to be strings.
#[derive(Default)]
struct RawAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// The two layouts Kubernetes pull Secrets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `.dockerconfigjson` / `config.json`: `{"auths": {host: entry}}`.
    ConfigJson,
    /// The legacy `.dockercfg`: `{host: entry}` with no `auths` wrapper.
    DockerCfg,
}

impl DockerConfig {
    /// Parses the JSON content of a `config.json` or `.dockerconfigjson` (Secret type
    /// `kubernetes.io/dockerconfigjson`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, RegistryError> {
        Self::parse(bytes, Layout::ConfigJson)
    }

    /// Parses the legacy `.dockercfg` layout (Secret type `kubernetes.io/dockercfg`): the map of
    /// registry → entry at the top level, without the `auths` wrapper.
    pub fn from_dockercfg(bytes: &[u8]) -> Result<Self, RegistryError> {
        Self::parse(bytes, Layout::DockerCfg)
    }

    /// Parses either layout. Errors name a JSON position, an entry's index and (only when it is
    /// a syntactically plausible registry host) its key, never any other input text: a
    /// misplaced credential must not reach a log, an event or a status (serde's own type errors
    /// quote the offending value, so serde never sees the typed shape).
    fn parse(bytes: &[u8], layout: Layout) -> Result<Self, RegistryError> {
        let what = match layout {
            Layout::ConfigJson => "docker config",
            Layout::DockerCfg => ".dockercfg",
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            RegistryError::Config(format!(
                "{what} is not valid JSON ({} error at line {}, column {})",
                match e.classify() {
                    serde_json::error::Category::Eof => "unexpected end",
                    serde_json::error::Category::Syntax => "syntax",
                    serde_json::error::Category::Data => "data",
                    serde_json::error::Category::Io => "read",
                },
                e.line(),
                e.column()
            ))
        })?;
        let serde_json::Value::Object(top) = value else {
            return Err(RegistryError::Config(format!(
                "{what} is not a JSON object"
            )));
        };
        // Each layout read as the other would silently give no credentials: refuse it clearly.
        let looks_legacy = || {
            top.values()
                .any(|v| v.get("auth").is_some() || v.get("username").is_some())
        };
        if layout == Layout::DockerCfg && top.contains_key("auths") {
            return Err(RegistryError::Config(format!(
                "{what} has an \"auths\" map: it is in the .dockerconfigjson layout"
            )));
        }
        if layout == Layout::ConfigJson && !top.contains_key("auths") && looks_legacy() {
            return Err(RegistryError::Config(format!(
                "{what} has registry entries at the top level: it is in the legacy .dockercfg layout"
            )));
        }
        let entries = match layout {
            Layout::DockerCfg => top,
            Layout::ConfigJson => match top.get("auths") {
                None | Some(serde_json::Value::Null) => serde_json::Map::new(),
                Some(serde_json::Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(RegistryError::Config(format!(
                        "{what}: \"auths\" is not an object"
                    )))
                }
            },
        };
        let mut auths = BTreeMap::new();
        for (i, (key, entry)) in entries.iter().enumerate() {
            let name = entry_name(i, key);
            let host = normalize_host(key);
            if host.is_empty() {
                return Err(RegistryError::Config(format!(
                    "{what}: {name} names no registry host"
                )));
            }
            let raw = raw_auth(what, &name, entry)?;
            if let Some(cred) = credential_from(&name, raw)? {
                auths.insert(host, cred);
            }
        }
        Ok(DockerConfig { auths })
    }

    /// A config with one Basic credential for `host` (a registry credential obtained some
    /// other way, e.g. from a cloud identity).
    pub fn basic(host: &str, username: &str, password: &str) -> Self {
        let mut auths = BTreeMap::new();
        auths.insert(
            normalize_host(host),
            Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            },
        );
        DockerConfig { auths }
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

/// How an entry is named in errors: its position, plus its host when the key is unmistakably
/// a registry address (`host[:port]` with a `.`, a numeric port, `localhost` or `[v6]`), so a
/// credential pasted where a host belongs (base64 has no `.`; `user:password` has no numeric
/// port) is never echoed. Only the normalised host is shown, never the rest of the key.
fn entry_name(index: usize, key: &str) -> String {
    let host = normalize_host(key);
    let (name, port) = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) => (addr, rest.strip_prefix(':')),
            None => ("", None),
        },
        None => match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host.as_str(), None),
        },
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let v6 = host.starts_with('[')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    let dns = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && (name.contains('.') || name == "localhost" || port.is_some());
    if port_ok && (v6 || dns) {
        format!("entry {} ({host})", index + 1)
    } else {
        format!("entry {}", index + 1)
    }
}

/// The string fields of one entry; anything but an object of strings is an error that names
/// the field, never its value.
fn raw_auth(what: &str, name: &str, entry: &serde_json::Value) -> Result<RawAuth, RegistryError> {
    let serde_json::Value::Object(obj) = entry else {
        return Err(RegistryError::Config(format!(
            "{what}: {name} is not an object"
        )));
    };
    let field = |k: &str| match obj.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RegistryError::Config(format!(
            "{what}: field {k:?} of {name} is not a string"
        ))),
    };
    Ok(RawAuth {
        auth: field("auth")?,
        username: field("username")?,
        password: field("password")?,
        identitytoken: field("identitytoken")?,
    })
}

fn credential_from(host: &str, e: RawAuth) -> Result<Option<Credential>, RegistryError> {
    if let Some(token) = e.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken { token }));
    }
    if let Some(auth) = e.auth.filter(|a| !a.is_empty()) {
        // Never echo the value: it is the secret.
        let bad = || {
            RegistryError::Config(format!(
                "docker config: the auth of {host} is not base64(user:password)"
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

    /// Issue 9: serde's type errors quote the value, so an `auths` entry written as the bare
    /// base64 string put the credential into the error (and from there into an event).
    #[test]
    fn type_errors_never_quote_the_misplaced_credential() {
        let cred = b64("user:pw-SECRET");
        let cases = [
            format!(r#"{{"auths":{{"r.example.com":"{cred}"}}}}"#),
            format!(r#"{{"auths":"{cred}"}}"#),
            format!(r#"["{cred}"]"#),
            format!(r#"{{"auths":{{"r.example.com":{{"auth":["{cred}"]}}}}}}"#),
            format!(r#"{{"auths":{{"r.example.com":{{"password":{{"x":"{cred}"}}}}}}}}"#),
            format!(r#"{{"auths":{{"{cred}":{{"auth":7}}}}}}"#),
            format!(r#"{{"auths":{{"{cred}":"{cred}"}}}}"#),
            format!(r#"{{"auths":{{"r.example.com":{{"auth":"{cred}"#),
            format!(r#"{{"auths":{{"r.example.com":{{"auth":"{cred}\q"}}}}}}"#),
        ];
        for json in cases {
            for parse in [DockerConfig::from_json, DockerConfig::from_dockercfg] {
                let err = parse(json.as_bytes()).unwrap_err().to_string();
                assert!(
                    !err.contains("SECRET") && !err.contains(&cred) && !err.contains("cHctU0VD"),
                    "{json} -> {err}"
                );
            }
        }
        // The host is still named when it is one, so the operator can find the entry.
        let err = DockerConfig::from_json(cases_first(&cred).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.example.com") && err.contains("not an object"),
            "{err}"
        );
    }

    fn cases_first(cred: &str) -> String {
        format!(r#"{{"auths":{{"r.example.com":"{cred}"}}}}"#)
    }

    /// Issue 9: `.dockercfg` (no `auths` wrapper) used to parse as a config with no `auths`,
    /// i.e. silently no credentials.
    #[test]
    fn dockercfg_layout_is_parsed() {
        let cfg = format!(
            r#"{{"https://r.example.com/v1/":{{"auth":"{}","email":"a@b.c"}},"s.example.com:5000":{{"username":"u","password":"p"}}}}"#,
            b64("alice:pw")
        );
        let c = DockerConfig::from_dockercfg(cfg.as_bytes()).unwrap();
        assert_eq!(
            c.credential_for("r.example.com"),
            Some(&Credential::Basic {
                username: "alice".into(),
                password: "pw".into()
            })
        );
        assert!(c.credential_for("s.example.com:5000").is_some());
        // Read with the wrong parser it would have no credentials: refused instead.
        let err = DockerConfig::from_json(cfg.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".dockercfg layout"), "{err}");
        // And a .dockerconfigjson handed to the .dockercfg parser is refused, not half-read.
        let wrapped = format!(
            r#"{{"auths":{{"r.example.com":{{"auth":"{}"}}}}}}"#,
            b64("a:b")
        );
        assert!(DockerConfig::from_dockercfg(wrapped.as_bytes()).is_err());
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
