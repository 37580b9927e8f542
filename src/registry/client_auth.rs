//! How a registry client authenticates: answering `WWW-Authenticate` challenges with the
//! Docker token flow or Basic credentials, and sending what worked up front next time (the
//! state is [`super::auth::AuthState`]).
//!
//! Tokens and credentials only ever live in `HeaderValue`s marked sensitive; no error text or log
//! line is built from them.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, Url};

use super::auth::{basic_header, parse_token_response, MAX_TOKEN_RESPONSE};
use super::budget::{Budget, Call};
use super::challenge::{parse_challenges, Challenge};
use super::client::RegistryClient;
use super::docker_config::Credential;
use super::error::RegistryError;
use super::http::{is_loopback_host, read_limited, status_error};

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
        call: Call,
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
            let lock = self.inner.auth.fetch_lock(registry);
            let _guard = lock.lock().await;
            // Another request may have fetched a token while we waited: use it if it is new to us.
            if let Some(t) = self.inner.auth.cached_token(registry, repository) {
                if Some(&t) != sent {
                    return Ok(t);
                }
            }
            let (header, lifetime) = self
                .fetch_token(registry, repository, bearer, cred, call)
                .await?;
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
        call: Call,
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
            .send_counted(registry, method, request, call, false)
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
        let body = read_limited(
            registry,
            what,
            resp,
            MAX_TOKEN_RESPONSE,
            &Budget::unlimited(),
        )
        .await?;
        parse_token_response(&body).map_err(|d| RegistryError::auth(registry, d))
    }
}
