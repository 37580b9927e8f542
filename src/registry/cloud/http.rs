//! The HTTP client of the cloud token endpoints: no redirects (a token request answered with
//! a redirect would carry an identity token to wherever it points), HTTPS only (plain HTTP only
//! on loopback, where the test emulators are), each request and its body bounded.

use std::time::Duration;

use reqwest::{redirect, Method, RequestBuilder, Url};

use super::super::http::is_loopback_host;
use super::error::{CloudError, Provider};

/// Token endpoint answers are small; anything bigger is not one.
const MAX_BODY: usize = 256 << 10;

pub(super) struct CloudHttp {
    client: Result<reqwest::Client, String>,
}

/// A 2xx answer's body, or the refusal.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl CloudHttp {
    pub(super) fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("provenance-auditor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string());
        CloudHttp { client }
    }

    /// A request to `url`, refused unless it is HTTPS (or plain HTTP on loopback).
    pub(super) fn request(
        &self,
        provider: Provider,
        service: &'static str,
        method: Method,
        url: &str,
    ) -> Result<RequestBuilder, CloudError> {
        let parsed = Url::parse(url).map_err(|_| CloudError::Config {
            provider,
            detail: format!("the {service} endpoint is not a URL"),
        })?;
        let loopback = parsed.host_str().is_some_and(is_loopback_host);
        if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
            return Err(CloudError::Config {
                provider,
                detail: format!(
                    "refusing the {service} endpoint {}://{} (not https)",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or("?")
                ),
            });
        }
        let client = self.client.as_ref().map_err(|e| CloudError::Config {
            provider,
            detail: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(client.request(method, parsed))
    }

    /// A plain-HTTP request to a link-local agent the caller has checked (EKS Pod Identity).
    pub(super) fn request_plain(
        &self,
        provider: Provider,
        _service: &'static str,
        method: Method,
        url: Url,
    ) -> Result<RequestBuilder, CloudError> {
        let client = self.client.as_ref().map_err(|e| CloudError::Config {
            provider,
            detail: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(client.request(method, url))
    }

    /// Sends `req`; any answer (2xx or not) with its bounded body, or `Unreachable`.
    pub(super) async fn send(
        &self,
        provider: Provider,
        service: &'static str,
        req: RequestBuilder,
    ) -> Result<Answer, CloudError> {
        let unreachable = |detail: String| CloudError::Unreachable {
            provider,
            service,
            detail,
        };
        let mut resp = req.send().await.map_err(|e| {
            unreachable(if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "cannot connect".into()
            } else {
                "request failed".into()
            })
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|_| unreachable("the answer was cut short".into()))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(CloudError::BadResponse {
                    provider,
                    service,
                    detail: format!("an answer over {} KiB", MAX_BODY >> 10),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends `req` and returns a 2xx answer; any other status is `Refused`, with
    /// the error code `code_of` finds in the body (bounded to a safe word).
    pub(super) async fn ok(
        &self,
        provider: Provider,
        service: &'static str,
        req: RequestBuilder,
        code_of: fn(&[u8]) -> Option<String>,
    ) -> Result<Answer, CloudError> {
        let a = self.send(provider, service, req).await?;
        if (200..300).contains(&a.status) {
            return Ok(a);
        }
        if a.status == 429 || a.status >= 500 {
            return Err(CloudError::Unreachable {
                provider,
                service,
                detail: format!("HTTP {}", a.status),
            });
        }
        Err(CloudError::Refused {
            provider,
            service,
            status: a.status,
            code: code_of(&a.body).and_then(|c| safe_code(&c)),
        })
    }
}

/// An error code as it may be shown: a short word of letters, digits, `_`, `.` and `-` (the
/// codes clouds use: `AccessDenied`, `InvalidIdentityToken`, `invalid_grant`), else nothing.
pub(super) fn safe_code(code: &str) -> Option<String> {
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
    .then(|| code.to_string())
}

/// The `error` of an OAuth2 JSON error answer (`{"error": "invalid_grant", …}`).
pub(super) fn oauth_error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.get("error")? {
        serde_json::Value::String(s) => Some(s.clone()),
        // Google's APIs: {"error": {"status": "PERMISSION_DENIED", …}}.
        serde_json::Value::Object(o) => o.get("status")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Reads a file of the controller's own configuration (a token file), bounded.
pub(super) fn read_token_file(
    provider: Provider,
    what: &'static str,
    path: &str,
) -> Result<String, CloudError> {
    let file_err = |source| CloudError::File {
        provider,
        what,
        path: path.to_string(),
        source,
    };
    let bytes = std::fs::read(path).map_err(file_err)?;
    if bytes.len() > MAX_BODY {
        return Err(CloudError::Config {
            provider,
            detail: format!("the {what} {path} is over {} KiB", MAX_BODY >> 10),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| CloudError::Config {
        provider,
        detail: format!("the {what} {path} is not text"),
    })?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(CloudError::Config {
            provider,
            detail: format!("the {what} {path} is empty"),
        });
    }
    Ok(token)
}

/// An `application/x-www-form-urlencoded` body.
pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = Url::parse("http://form.invalid/").expect("a constant URL");
    s.query_pairs_mut().extend_pairs(pairs);
    s.query().unwrap_or_default().to_string()
}

/// A header value marked sensitive (kept out of reqwest's own debug output).
pub(super) fn sensitive(
    provider: Provider,
    v: &str,
) -> Result<reqwest::header::HeaderValue, CloudError> {
    let mut h = reqwest::header::HeaderValue::from_str(v).map_err(|_| CloudError::Config {
        provider,
        detail: "a credential that is not a valid header value".into(),
    })?;
    h.set_sensitive(true);
    Ok(h)
}
