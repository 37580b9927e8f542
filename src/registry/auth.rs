//! Registry authentication state: the bearer tokens and Basic hosts that let later requests
//! authenticate up front instead of paying a 401 round trip, and the token endpoint's answer.
//! How a client answers a challenge with them is [`super::client_auth`].
//!
//! Tokens and credentials only ever live in `HeaderValue`s marked sensitive; no error text or log
//! line is built from them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::HeaderValue;
use serde::Deserialize;

/// Token endpoint responses are tiny; anything bigger is not a token.
pub(super) const MAX_TOKEN_RESPONSE: usize = 1 << 20;
/// The Docker token spec's default lifetime when `expires_in` is absent.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire so a request never races the expiry.
const EXPIRY_SLACK: Duration = Duration::from_secs(5);

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

/// Per-client authentication state, shared by all clones of a `RegistryClient`.
#[derive(Default)]
pub(crate) struct AuthState {
    /// Bearer tokens per (registry, repository).
    tokens: Mutex<HashMap<(String, String), (HeaderValue, Instant)>>,
    /// Registries that asked for Basic auth: later requests send credentials up front.
    basic_hosts: Mutex<HashSet<String>>,
    /// Per registry, serialises token fetches so concurrent requests that all got a 401 share
    /// one token (and a slow token endpoint only delays its own registry).
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AuthState {
    pub(super) fn fetch_lock(&self, registry: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(registry.to_string()).or_default().clone()
    }

    pub(super) fn cached_token(&self, registry: &str, repository: &str) -> Option<HeaderValue> {
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

    pub(super) fn store_token(
        &self,
        registry: &str,
        repository: &str,
        h: HeaderValue,
        lifetime: Duration,
    ) {
        let until = Instant::now()
            + lifetime
                .saturating_sub(EXPIRY_SLACK)
                .max(Duration::from_secs(1));
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((registry.to_string(), repository.to_string()), (h, until));
    }

    pub(super) fn is_basic_host(&self, registry: &str) -> bool {
        self.basic_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(registry)
    }

    pub(super) fn mark_basic_host(&self, registry: &str) {
        self.basic_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registry.to_string());
    }
}

pub(super) fn basic_header(username: &str, password: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    // Base64 output is always a valid header value.
    let mut h = HeaderValue::from_str(&format!("Basic {enc}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    h.set_sensitive(true);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

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
