//! Registry authentication: `WWW-Authenticate` challenge parsing, the Docker token flow, and
//! the caches that let later requests authenticate up front instead of paying a 401 round trip.
//!
//! Tokens and credentials only ever live in `HeaderValue`s marked sensitive; no error text or log
//! line is built from them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, Url};
use serde::Deserialize;

use super::client::RegistryClient;
use super::docker_config::Credential;
use super::error::RegistryError;
use super::http::{is_loopback_host, read_limited, status_error};

/// Token endpoint responses are tiny; anything bigger is not a token.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;
/// The Docker token spec's default lifetime when `expires_in` is absent.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire so a request never races the expiry.
const EXPIRY_SLACK: Duration = Duration::from_secs(5);

/// One parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased scheme (`bearer`, `basic`, ...).
    pub scheme: String,
    /// Lowercased parameter names → unquoted values.
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` header value, which may hold several challenges:
/// `Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push", Basic realm="r"`.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A token followed by '=' is a parameter of the current challenge; otherwise a new scheme.
        let name_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        if let (Some(value_part), false) = (after.strip_prefix('='), name.is_empty()) {
            let (value, remaining) = parse_value(value_part.trim_start());
            if let Some(ch) = out.last_mut() {
                ch.params.insert(name.to_ascii_lowercase(), value);
            }
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        } else {
            if !name.is_empty() {
                out.push(Challenge {
                    scheme: name.to_ascii_lowercase(),
                    params: BTreeMap::new(),
                });
            }
            rest = after.trim_start_matches(',').trim_start();
            if name.is_empty() && after.len() == rest.len() {
                // Nothing consumed (e.g. a stray '='): skip one char so parsing always ends.
                let mut chars = rest.chars();
                chars.next();
                rest = chars.as_str();
            }
        }
    }
    out
}

/// Parses a quoted-string (with backslash escapes) or a bare token; returns it and the rest.
fn parse_value(s: &str) -> (String, &str) {
    if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match (escaped, c) {
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => return (value, &body[i + 1..]),
                (false, c) => value.push(c),
            }
        }
        (value, "") // unterminated: take what there is
    } else {
        let end = s.find(',').unwrap_or(s.len());
        (s[..end].trim().to_string(), &s[end..])
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<i64>,
}

/// Extracts the bearer token and its lifetime from a token endpoint response.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<(HeaderValue, Duration), String> {
    let t: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| "token endpoint returned something other than a token".to_string())?;
    let token = t
        .token
        .filter(|s| !s.is_empty())
        .or(t.access_token.filter(|s| !s.is_empty()))
        .ok_or("token endpoint response has no token")?;
    let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        "token endpoint returned a token that is not a valid header value".to_string()
    })?;
    header.set_sensitive(true);
    let lifetime = match t.expires_in {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => DEFAULT_TOKEN_LIFETIME,
    };
    Ok((header, lifetime))
}

/// Per-client authentication state, shared by all clones of a [`RegistryClient`].
#[derive(Default)]
pub(crate) struct AuthState {
    /// Bearer tokens per (registry, repository).
    tokens: Mutex<HashMap<(String, String), (HeaderValue, Instant)>>,
    /// Registries that asked for Basic auth: later requests send credentials up front.
    basic_hosts: Mutex<HashSet<String>>,
    /// Serialises token fetches so concurrent requests that all got a 401 share one token.
    fetching: tokio::sync::Mutex<()>,
}

impl AuthState {
    fn cached_token(&self, registry: &str, repository: &str) -> Option<HeaderValue> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let key = (registry.to_string(), repository.to_string());
        match map.get(&key) {
            Some((h, until)) if Instant::now() < *until => Some(h.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    fn store_token(&self, registry: &str, repository: &str, h: HeaderValue, lifetime: Duration) {
        let until = Instant::now()
            + lifetime
                .saturating_sub(EXPIRY_SLACK)
                .max(Duration::from_secs(1));
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((registry.to_string(), repository.to_string()), (h, until));
    }

    fn is_basic_host(&self, registry: &str) -> bool {
        self.basic_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(registry)
    }

    fn mark_basic_host(&self, registry: &str) {
        self.basic_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registry.to_string());
    }
}

fn basic_header(username: &str, password: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    // Base64 output is always a valid header value.
    let mut h = HeaderValue::from_str(&format!("Basic {enc}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    h.set_sensitive(true);
    h
}

impl RegistryClient {
    /// The Authorization header to send up front, if an earlier exchange told us what works.
    pub(crate) fn upfront_auth(&self, registry: &str, repository: &str) -> Option<HeaderValue> {
        let auth = &self.inner.auth;
        if let Some(t) = auth.cached_token(registry, repository) {
            return Some(t);
        }
        if auth.is_basic_host(registry) {
            if let Some(Credential::Basic { username, password }) =
                self.inner.credentials.credential_for(registry)
            {
                return Some(basic_header(username, password));
            }
        }
        None
    }

    /// Answers a 401: returns the header to retry with, or an Authentication error when there is
    /// no way to succeed. `sent` is what the failed request carried.
    pub(crate) async fn answer_challenge(
        &self,
        registry: &str,
        repository: &str,
        resp: &Response,
        sent: Option<&HeaderValue>,
    ) -> Result<HeaderValue, RegistryError> {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let cred = self.inner.credentials.credential_for(registry);
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let _guard = self.inner.auth.fetching.lock().await;
            // Another request may have fetched a token while we waited: use it if it is new to us.
            if let Some(t) = self.inner.auth.cached_token(registry, repository) {
                if Some(&t) != sent {
                    return Ok(t);
                }
            }
            let (header, lifetime) = self.fetch_token(registry, repository, bearer, cred).await?;
            self.inner
                .auth
                .store_token(registry, repository, header.clone(), lifetime);
            return Ok(header);
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match cred {
                Some(Credential::Basic { username, password }) => {
                    let h = basic_header(username, password);
                    if sent == Some(&h) {
                        return Err(RegistryError::auth(registry, "credentials were rejected (HTTP 401)"));
                    }
                    self.inner.auth.mark_basic_host(registry);
                    Ok(h)
                }
                Some(Credential::IdentityToken { .. }) => Err(RegistryError::auth(
                    registry,
                    "registry asks for Basic auth but only an identity token is configured",
                )),
                None => Err(RegistryError::auth(
                    registry,
                    "registry requires credentials (HTTP 401, Basic) and none are configured for it",
                )),
            };
        }
        Err(RegistryError::auth(
            registry,
            "HTTP 401 without a usable Bearer or Basic challenge",
        ))
    }

    /// Gets a token from the challenge's realm (GET with Basic credentials if we have them, or the
    /// OAuth2 refresh-token POST for an identity token).
    async fn fetch_token(
        &self,
        registry: &str,
        repository: &str,
        ch: &Challenge,
        cred: Option<&Credential>,
    ) -> Result<(HeaderValue, Duration), RegistryError> {
        let realm = ch
            .params
            .get("realm")
            .ok_or_else(|| RegistryError::auth(registry, "Bearer challenge without a realm"))?;
        let mut url = Url::parse(realm)
            .map_err(|_| RegistryError::auth(registry, "Bearer challenge realm is not a URL"))?;
        let plain_ok = url.host_str().is_some_and(is_loopback_host)
            || url.host_str().is_some_and(|h| {
                let hp = url.port().map_or(h.to_string(), |p| format!("{h}:{p}"));
                self.inner
                    .opts
                    .insecure_registries
                    .iter()
                    .any(|i| i.eq_ignore_ascii_case(&hp))
            });
        match url.scheme() {
            "https" => {}
            "http" if plain_ok => {}
            _ => {
                return Err(RegistryError::auth(
                    registry,
                    format!(
                        "refusing token realm {}://{} (not https)",
                        url.scheme(),
                        url.host_str().unwrap_or("?")
                    ),
                ))
            }
        }
        let default_scope = format!("repository:{repository}:pull");
        let scope = ch.params.get("scope").cloned().unwrap_or(default_scope);
        let service = ch.params.get("service").cloned();
        let what = "token request";
        let request = match cred {
            Some(Credential::IdentityToken { token }) => {
                let mut form = Url::parse("http://form.invalid/")
                    .map_err(|_| RegistryError::Config("url".into()))?;
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token");
                    q.append_pair("client_id", "provenance-auditor");
                    q.append_pair("scope", &scope);
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("refresh_token", token);
                }
                let body = form.query().unwrap_or_default().to_string();
                self.inner
                    .http
                    .request(Method::POST, url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            other => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", &scope);
                }
                let mut r = self.inner.http.request(Method::GET, url);
                if let Some(Credential::Basic { username, password }) = other {
                    r = r.header(AUTHORIZATION, basic_header(username, password));
                }
                r
            }
        };
        let method = if matches!(cred, Some(Credential::IdentityToken { .. })) {
            "POST"
        } else {
            "GET"
        };
        let resp = self
            .send_counted(registry, method, request)
            .await
            .map_err(|e| match e {
                RegistryError::Unavailable { registry, detail } => RegistryError::Unavailable {
                    registry,
                    detail: format!("token endpoint: {detail}"),
                },
                other => other,
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status.as_u16() {
                400..=499 if status.as_u16() != 429 => RegistryError::auth(
                    registry,
                    format!(
                        "token endpoint refused to issue a token (HTTP {})",
                        status.as_u16()
                    ),
                ),
                _ => status_error(registry, status, "token endpoint"),
            });
        }
        let body = read_limited(registry, what, resp, MAX_TOKEN_RESPONSE).await?;
        parse_token_response(&body).map_err(|d| RegistryError::auth(registry, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quoted_commas_and_several_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="reg.example.com",scope="repository:a/b:pull,push", Basic realm="x\"y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example.com/token");
        assert_eq!(c[0].params["service"], "reg.example.com");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].params["realm"], "x\"y");
    }

    #[test]
    fn parses_bare_tokens_case_and_garbage_without_panicking() {
        let c = parse_challenges("BASIC Realm=registry");
        assert_eq!(
            c,
            vec![Challenge {
                scheme: "basic".into(),
                params: [("realm".into(), "registry".into())].into()
            }]
        );
        for junk in [
            "",
            "=",
            "==,,",
            "Bearer realm=\"unterminated",
            "\"",
            "Bearer ,,, =x",
            "é=ü",
        ] {
            let _ = parse_challenges(junk);
        }
        assert_eq!(
            parse_challenges("Bearer realm=\"unterminated")[0].params["realm"],
            "unterminated"
        );
    }

    #[test]
    fn token_responses() {
        let (h, life) = parse_token_response(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer abc");
        assert!(h.is_sensitive());
        assert_eq!(life, Duration::from_secs(300));
        let (h, life) = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer xyz");
        assert_eq!(life, DEFAULT_TOKEN_LIFETIME);
        assert!(parse_token_response(br#"{"token":""}"#).is_err());
        assert!(parse_token_response(b"<html>").is_err());
        let err = parse_token_response(b"{\"token\":\"bad\\nSECRET\"}").unwrap_err();
        assert!(!err.contains("SECRET"));
    }
}
