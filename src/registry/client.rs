//! [`RegistryClient`]: the shared, cheaply cloned handle through which every registry request
//! goes, so that authentication, limits, timeouts and request counting are applied uniformly.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sha2::{Digest as _, Sha256};

use super::auth::AuthState;
use super::budget::{Budget, Call, Purpose};
use super::docker_config::DockerConfig;
use super::error::RegistryError;
use super::http::{build_http_client, read_limited, status_error, transport_error, v2_url};
use super::manifest::MANIFEST_ACCEPT;
use super::reference::{is_sha256_digest, ImageRef};
use super::throttle::Throttle;

/// How the client reaches registries.
#[derive(Clone)]
pub struct RegistryOptions {
    /// `host[:port]` entries spoken to over plain HTTP. Loopback hosts (`localhost`, 127.0.0.0/8,
    /// `[::1]`) always are, as with cosign.
    pub insecure_registries: Vec<String>,
    /// Extra trusted CA certificates (PEM, possibly several), added to the platform roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Registry credentials.
    pub credentials: DockerConfig,
    /// Timeout of each HTTP request, body included.
    pub timeout: Duration,
    /// Largest manifest or index accepted.
    pub max_manifest_bytes: usize,
    /// Largest blob accepted (signature payloads, bundles).
    pub max_blob_bytes: usize,
    /// Bytes one discovery may read in all (indexes, manifests, bundles, payloads). When it is
    /// spent the remaining objects are left unread and the discovery is incomplete.
    pub discovery_byte_budget: usize,
    /// Time one discovery may take in all, retries and waits included; past it the discovery
    /// fails as a `Limit` error (indeterminate).
    pub discovery_deadline: Duration,
    /// Per-host pauses (`429`, `Retry-After`) and request budgets, shared by every client
    /// built from these options or their [`RegistryClient::base_options`].
    pub throttle: Throttle,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            extra_ca_pem: None,
            credentials: DockerConfig::default(),
            timeout: Duration::from_secs(30),
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 16 << 20,
            discovery_byte_budget: 32 << 20,
            discovery_deadline: Duration::from_secs(60),
            throttle: Throttle::default(),
        }
    }
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("insecure_registries", &self.insecure_registries)
            .field(
                "extra_ca_pem_bytes",
                &self.extra_ca_pem.as_ref().map(Vec::len),
            )
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("discovery_byte_budget", &self.discovery_byte_budget)
            .field("discovery_deadline", &self.discovery_deadline)
            .field("throttle", &self.throttle)
            .finish()
    }
}

/// What the observer hears about each HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The registry the request was made for (token requests are attributed to the registry
    /// that asked for the token, not to the token endpoint's host).
    pub registry: String,
    /// `GET`, `HEAD` or `POST`.
    pub method: &'static str,
    /// The response status; `None` for a transport error or timeout.
    pub status: Option<u16>,
    /// What the request was made for.
    pub purpose: Purpose,
    /// A `GET` of a manifest or index (`/v2/…/manifests/…`): what Docker Hub counts as a pull.
    pub manifest_get: bool,
    /// When this answer paused the registry (a `429`, or a `503` with `Retry-After`): until
    /// when.
    pub paused_until: Option<SystemTime>,
}

/// Called with every HTTP exchange a client makes (metrics).
pub type Observer = Arc<dyn Fn(&RequestRecord) + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) opts: RegistryOptions,
    pub(crate) credentials: DockerConfig,
    pub(crate) auth: AuthState,
    /// Registries known to lack the referrers API, so discovery goes straight to the tag fallback.
    pub(crate) no_referrers_api: Mutex<HashSet<String>>,
    /// Registries whose referrers-API support is known, either way.
    pub(crate) referrers_known: Mutex<HashSet<String>>,
    /// One gate per registry, held by the discovery that probes a registry of unknown
    /// referrers-API support for that one request only, so that concurrent discoveries on the
    /// same registry wait for its answer instead of all probing, and those on other registries
    /// never wait at all.
    pub(crate) probe_gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    requests: AtomicU64,
}

/// A registry client shared across concurrent verifications (clones share caches and counters).
#[derive(Clone)]
pub struct RegistryClient {
    pub(crate) inner: Arc<Inner>,
    observer: Option<Observer>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.inner.opts)
            .field("requests_made", &self.requests_made())
            .finish()
    }
}

impl RegistryClient {
    /// Builds a client; fails on unusable options (bad CA bundle, zero timeout or limits).
    pub fn new(opts: RegistryOptions) -> Result<Self, RegistryError> {
        if opts.max_manifest_bytes == 0
            || opts.max_blob_bytes == 0
            || opts.discovery_byte_budget == 0
        {
            return Err(RegistryError::Config(
                "size limits must be greater than zero".into(),
            ));
        }
        if opts.discovery_deadline.is_zero() {
            return Err(RegistryError::Config(
                "the discovery deadline must be greater than zero".into(),
            ));
        }
        let http = build_http_client(opts.timeout, opts.extra_ca_pem.as_deref())?;
        let credentials = opts.credentials.clone();
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                opts,
                credentials,
                auth: AuthState::default(),
                no_referrers_api: Mutex::new(HashSet::new()),
                referrers_known: Mutex::new(HashSet::new()),
                probe_gates: Mutex::new(HashMap::new()),
                requests: AtomicU64::new(0),
            }),
            observer: None,
        })
    }

    /// Calls `f` after every HTTP response or transport failure made through this client handle
    /// (and clones made from it afterwards).
    pub fn with_observer(mut self, f: Observer) -> Self {
        self.observer = Some(f);
        self
    }

    /// The options it was built with, minus credentials (a per-source client starts from these,
    /// so `--registry-timeout` and the size limits apply to it too).
    pub fn base_options(&self) -> RegistryOptions {
        RegistryOptions {
            credentials: Default::default(),
            extra_ca_pem: None,
            insecure_registries: vec![],
            ..self.inner.opts.clone()
        }
    }

    /// Total HTTP requests sent by this client and its clones, token requests included
    /// (a followed redirect counts once).
    pub fn requests_made(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The options the client was built with.
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.opts
    }

    /// Sends one request, counting it and telling the observer how it ended. An answer that
    /// pauses the registry (see `throttle`) is returned as that pause's error.
    pub(crate) async fn send_counted(
        &self,
        registry: &str,
        method: &'static str,
        req: RequestBuilder,
        call: Call,
        manifest_get: bool,
    ) -> Result<Response, RegistryError> {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let result = req.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        tracing::debug!(registry, method, ?status, "registry request");
        let pause = result.as_ref().ok().and_then(|r| {
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            let asked = super::retry_after::parse(retry_after, SystemTime::now());
            self.inner
                .opts
                .throttle
                .answered(registry, r.status().as_u16(), asked, Instant::now())
        });
        if let Some(obs) = &self.observer {
            obs(&RequestRecord {
                registry: registry.to_string(),
                method,
                status,
                purpose: call.purpose,
                manifest_get,
                paused_until: match &pause {
                    Some(RegistryError::Paused { until, .. }) => Some(*until),
                    _ => None,
                },
            });
        }
        if let Some(p) = pause {
            tracing::warn!(registry, error = %p, "the registry asked us to back off");
            return Err(p);
        }
        result.map_err(|e| transport_error(registry, &format!("{method} request"), e))
    }

    /// Sends `method /v2/<path>` with authentication: cached credentials up front, then at most
    /// one retry after answering a 401 challenge. Any status other than 401 is returned to the
    /// caller; a 401 that survives authentication is an Authentication error. Nothing is sent
    /// while the registry is paused, nor a manifest GET its budget refuses (`throttle`): both
    /// are a [`RegistryError::Paused`].
    pub(crate) async fn send_v2(
        &self,
        registry: &str,
        repository: &str,
        method: Method,
        path: &str,
        accept: &str,
        call: Call,
    ) -> Result<Response, RegistryError> {
        let url = v2_url(registry, &self.inner.opts.insecure_registries, path)?;
        let method_name: &'static str = if method == Method::HEAD {
            "HEAD"
        } else {
            "GET"
        };
        let throttle = &self.inner.opts.throttle;
        throttle.check(registry, Instant::now())?;
        let manifest_get = method == Method::GET && path.contains("/manifests/");
        if manifest_get {
            throttle.take(registry, call.deferrable, Instant::now())?;
        }
        tracing::debug!(%url, method = method_name, "registry request");
        let build = |auth: Option<&HeaderValue>| {
            let mut r = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, accept);
            if let Some(a) = auth {
                r = r.header(AUTHORIZATION, a.clone());
            }
            r
        };
        let sent = self.upfront_auth(registry, repository);
        let resp = self
            .send_counted(
                registry,
                method_name,
                build(sent.as_ref()),
                call,
                manifest_get,
            )
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let header = self
            .answer_challenge(registry, repository, &resp, sent.as_ref(), call)
            .await?;
        drop(resp);
        let resp = self
            .send_counted(
                registry,
                method_name,
                build(Some(&header)),
                call,
                manifest_get,
            )
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::auth(
                registry,
                "credentials were rejected (HTTP 401 after authenticating)",
            ));
        }
        Ok(resp)
    }

    /// Returns the digest of the artifact `r` names: its pinned digest without any I/O, otherwise
    /// the registry's `Docker-Content-Digest` from a HEAD, falling back to hashing a GET.
    pub async fn resolve_digest(&self, r: &ImageRef) -> Result<String, RegistryError> {
        if let Some(d) = &r.digest {
            return Ok(d.clone());
        }
        let tag = r.tag.as_deref().unwrap_or("latest");
        let reg = r.registry.as_str();
        let path = format!("{}/manifests/{tag}", r.repository);
        let call = Call {
            purpose: Purpose::Resolve,
            deferrable: false,
        };
        let resp = self
            .send_v2(
                reg,
                &r.repository,
                Method::HEAD,
                &path,
                MANIFEST_ACCEPT,
                call,
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                registry: reg.to_string(),
                what: format!("{}:{tag}", r.repository),
            });
        }
        if status.is_success() {
            if let Some(d) = header_digest(&resp) {
                return Ok(d);
            }
        } else if matches!(status.as_u16(), 401 | 403 | 429 | 500..=599) {
            return Err(status_error(reg, status, "manifest HEAD"));
        }
        // HEAD without a usable digest header, or a HEAD-hostile registry (405 etc.): GET it.
        let budget = Budget::with_call(usize::MAX, call);
        match self
            .fetch_manifest(reg, &r.repository, tag, &budget)
            .await?
        {
            Some((digest, _, _)) => Ok(digest),
            None => Err(RegistryError::NotFound {
                registry: reg.to_string(),
                what: format!("{}:{tag}", r.repository),
            }),
        }
    }

    /// Fetches a manifest or index by tag or digest: `(digest, media type, bytes)`, `None` on 404.
    /// The digest is always computed from the bytes; a digest reference or a
    /// `Docker-Content-Digest` header that disagrees with them is an InvalidResponse.
    pub async fn get_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, RegistryError> {
        self.fetch_manifest(registry, repository, reference, &Budget::unlimited())
            .await
    }

    /// [`Self::get_manifest`], charging the bytes read to `budget`.
    pub(crate) async fn fetch_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        budget: &Budget,
    ) -> Result<Option<(String, String, Vec<u8>)>, RegistryError> {
        validate_reference(reference)?;
        let path = format!("{repository}/manifests/{reference}");
        let what = format!("manifest {repository}:{reference}");
        budget.count_manifest_get();
        let resp = self
            .send_v2(
                registry,
                repository,
                Method::GET,
                &path,
                MANIFEST_ACCEPT,
                budget.call(),
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(registry, status, &what));
        }
        let announced = header_digest(&resp);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or_default().trim().to_string());
        let body = read_limited(
            registry,
            &what,
            resp,
            self.inner.opts.max_manifest_bytes,
            budget,
        )
        .await?;
        let digest = sha256_digest(&body);
        if is_sha256_digest(reference) && reference != digest {
            return Err(RegistryError::invalid(
                registry,
                format!("{what}: content has digest {digest}"),
            ));
        }
        if let Some(a) = announced {
            if a != digest {
                return Err(RegistryError::invalid(
                    registry,
                    format!(
                        "{what}: Docker-Content-Digest {a} does not match the content ({digest})"
                    ),
                ));
            }
        }
        // Prefer the document's own mediaType: registries often answer with a generic type.
        let declared = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        let media_type = declared.or(content_type).unwrap_or_default();
        Ok(Some((digest, media_type, body)))
    }

    /// Fetches a blob by digest, verifying size limit, expected size (if known) and digest,
    /// charging the bytes read to `budget`. `Ok(None)` on 404. A body whose digest is not the one
    /// asked for is an InvalidResponse (a broken or hostile store), never a bad signature.
    pub(crate) async fn get_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        expected_size: Option<i64>,
        budget: &Budget,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        validate_reference(digest)?;
        let limit = self.inner.opts.max_blob_bytes;
        let what = format!("blob {digest}");
        if let Some(s) = expected_size {
            if s < 0 || s as u64 > limit as u64 {
                return Err(RegistryError::limit(
                    registry,
                    format!("{what} exceeds {limit} bytes (descriptor size {s})"),
                ));
            }
        }
        let path = format!("{repository}/blobs/{digest}");
        let resp = self
            .send_v2(
                registry,
                repository,
                Method::GET,
                &path,
                "*/*",
                budget.call(),
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(registry, status, &what));
        }
        let body = read_limited(registry, &what, resp, limit, budget).await?;
        let actual = sha256_digest(&body);
        if actual != digest {
            return Err(RegistryError::invalid(
                registry,
                format!("{what}: content has digest {actual}"),
            ));
        }
        if let Some(s) = expected_size {
            if body.len() as u64 != s as u64 {
                return Err(RegistryError::invalid(
                    registry,
                    format!("{what}: {} bytes, descriptor says {s}", body.len()),
                ));
            }
        }
        Ok(Some(body))
    }
}

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The `Docker-Content-Digest` of a response, when it is a well-formed sha256 digest.
pub(crate) fn header_digest(resp: &Response) -> Option<String> {
    let v = resp
        .headers()
        .get("docker-content-digest")?
        .to_str()
        .ok()?
        .trim();
    is_sha256_digest(v).then(|| v.to_string())
}

/// A tag or a sha256 digest, and nothing that could escape the URL path.
fn validate_reference(reference: &str) -> Result<(), RegistryError> {
    let tag_ok = !reference.is_empty()
        && reference.len() <= 128
        && reference
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && !reference.starts_with(['.', '-']);
    if tag_ok || is_sha256_digest(reference) {
        Ok(())
    } else {
        Err(RegistryError::Config(format!(
            "invalid manifest reference {reference:?}"
        )))
    }
}
