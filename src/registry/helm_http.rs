//! An HTTP(S) Helm chart repository as Flux's source-controller reads it: `index.yaml`, a
//! chart package, and the package's `.prov` beside it, with the HelmRepository's credentials.
//!
//! Flux's rules, kept exactly: Basic credentials (`secretRef` `username`/`password`) and the TLS
//! client certificate (`certSecretRef` or the deprecated `secretRef` `certFile`/`keyFile`) go
//! only to the repository's own origin (scheme, host, port); to a chart URL on another origin
//! only with `passCredentials: true`. A redirect to another origin drops the `Authorization`
//! header. Plain `http://` repositories are allowed, as Flux allows them.
//!
//! Everything a repository sends is untrusted and bounded: `index.yaml` (Flux's default limit,
//! [`MAX_INDEX_BYTES`], and a YAML work budget), the package (hashed as it streams, never
//! kept; [`MAX_PACKAGE_BYTES`]) and the `.prov` ([`MAX_PROV_BYTES`]). Only a definite 404 on the
//! `.prov`, with the index and the package answering, says "no provenance": any other failure
//! is an error (could not tell).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::bounded;
use super::budget::Budget;
use super::error::RegistryError;
use super::http::{build_http_client_with, read_limited, status_error, transport_error};

/// Largest `index.yaml` read: source-controller's default `--helm-index-max-size` (50 MiB).
pub const MAX_INDEX_BYTES: usize = 50 << 20;

/// Largest chart package read: source-controller's default `--helm-chart-max-size` (10 MiB).
pub const MAX_PACKAGE_BYTES: usize = 10 << 20;

/// Largest `.prov` read (real ones are a few KiB).
pub const MAX_PROV_BYTES: usize = 256 << 10;

/// YAML events one `index.yaml` may cost (roughly 25 per chart version, so ample for the
/// largest public indexes and still a bound on the work a hostile one can cause).
const MAX_INDEX_EVENTS: usize = 20_000_000;

/// How to reach one chart repository.
#[derive(Clone, Default)]
pub struct HelmRepoOptions {
    /// Timeout of each request, body included.
    pub timeout: Duration,
    /// Basic credentials (`username`, `password`).
    pub basic: Option<(String, String)>,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// TLS client certificate chain and key (PEM, concatenated).
    pub identity_pem: Option<Vec<u8>>,
    /// `spec.passCredentials`: also send the credentials to chart URLs on other origins.
    pub pass_credentials: bool,
}

impl std::fmt::Debug for HelmRepoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelmRepoOptions")
            .field("timeout", &self.timeout)
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "identity",
                &self.identity_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("pass_credentials", &self.pass_credentials)
            .finish()
    }
}

/// One chart version as `index.yaml` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartEntry {
    /// The package URL (the entry's first `urls` item, resolved against the repository URL).
    pub url: Url,
    /// The entry's `digest` (the package's SHA-256 hex, as the publisher wrote it), if any.
    pub digest: Option<String>,
}

/// A downloaded package, hashed as it streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPackage {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size.
    pub bytes: usize,
}

/// A client for one chart repository.
#[derive(Clone)]
pub struct HelmRepoClient {
    repo: Url,
    /// With the TLS client certificate (the repository's own origin, or any with
    /// `passCredentials`), and without.
    with_identity: Option<reqwest::Client>,
    plain: reqwest::Client,
    opts: HelmRepoOptions,
}

impl std::fmt::Debug for HelmRepoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HelmRepoClient({} {:?})", self.repo, self.opts)
    }
}

#[derive(Deserialize)]
struct RawIndex {
    entries: Option<BTreeMap<String, Vec<RawEntry>>>,
}

#[derive(Deserialize)]
struct RawEntry {
    version: Option<String>,
    urls: Option<Vec<String>>,
    digest: Option<String>,
}

impl HelmRepoClient {
    /// A client for the repository at `url` (`http://` or `https://`).
    pub fn new(url: &str, opts: HelmRepoOptions) -> Result<Self, RegistryError> {
        let repo = Url::parse(url)
            .map_err(|e| RegistryError::Config(format!("{}: {e}", bounded::truncate(url))))?;
        if !matches!(repo.scheme(), "http" | "https") || repo.host_str().is_none() {
            return Err(RegistryError::Config(format!(
                "{} is not an http(s) chart repository URL",
                bounded::truncate(url)
            )));
        }
        let timeout = if opts.timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            opts.timeout
        };
        let plain = build_http_client_with(timeout, opts.ca_pem.as_deref(), None)?;
        let with_identity = opts
            .identity_pem
            .as_deref()
            .map(|id| build_http_client_with(timeout, opts.ca_pem.as_deref(), Some(id)))
            .transpose()?;
        Ok(Self {
            repo,
            with_identity,
            plain,
            opts,
        })
    }

    /// The repository URL.
    pub fn url(&self) -> &Url {
        &self.repo
    }

    fn host(url: &Url) -> String {
        match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        }
    }

    /// Whether credentials may go to `url`: its origin is the repository's, or
    /// `passCredentials` says any.
    pub fn sends_credentials_to(&self, url: &Url) -> bool {
        self.opts.pass_credentials || url.origin() == self.repo.origin()
    }

    async fn get(&self, url: &Url, what: &str) -> Result<reqwest::Response, RegistryError> {
        self.send(reqwest::Method::GET, url, what).await
    }

    /// One request, with the credentials only where [`Self::sends_credentials_to`] allows.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = Self::host(url);
        let trusted = self.sends_credentials_to(url);
        let http = match (&self.with_identity, trusted) {
            (Some(c), true) => c,
            _ => &self.plain,
        };
        let mut req = http.request(method, url.clone());
        if let (Some((user, pass)), true) = (&self.opts.basic, trusted) {
            req = req.basic_auth(user, Some(pass));
        }
        req.send()
            .await
            .map_err(|e| transport_error(&host, what, e))
    }

    async fn read(
        &self,
        url: &Url,
        what: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let host = Self::host(url);
        let resp = self.get(url, what).await?;
        match resp.status() {
            StatusCode::OK => read_limited(&host, what, resp, limit, &Budget::new(limit))
                .await
                .map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(status_error(&host, s, what)),
        }
    }

    /// The index entry of `chart` at exactly `version` (what Flux recorded as the revision).
    pub async fn chart_entry(
        &self,
        chart: &str,
        version: &str,
    ) -> Result<ChartEntry, RegistryError> {
        let base = with_trailing_slash(&self.repo);
        let index_url = base
            .join("index.yaml")
            .map_err(|e| RegistryError::Config(format!("index URL: {e}")))?;
        let host = Self::host(&index_url);
        let body = self
            .read(&index_url, "index.yaml", MAX_INDEX_BYTES)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                registry: host.clone(),
                what: "index.yaml".into(),
            })?;
        entry_in_index(&body, &base, chart, version)
            .map_err(|e| e.into_registry_error(&host, chart, version))
    }

    /// Downloads the package, hashing it as it streams (its bytes are not kept). A 404 is
    /// `NotFound`: the chart Flux fetched is gone, and nothing can be told about it.
    pub async fn package(&self, url: &Url) -> Result<FetchedPackage, RegistryError> {
        let host = Self::host(url);
        let what = "the chart package";
        let mut resp = self.get(url, what).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(RegistryError::NotFound {
                    registry: host,
                    what: format!("chart package {}", bounded::truncate(url.path())),
                })
            }
            s => return Err(status_error(&host, s, what)),
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_PACKAGE_BYTES as u64)
        {
            return Err(RegistryError::limit(
                &host,
                format!("{what} exceeds {MAX_PACKAGE_BYTES} bytes"),
            ));
        }
        let announced = resp.content_length();
        let (mut hasher, mut n) = (Sha256::new(), 0usize);
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    n += c.len();
                    if n > MAX_PACKAGE_BYTES {
                        return Err(RegistryError::limit(
                            &host,
                            format!("{what} exceeds {MAX_PACKAGE_BYTES} bytes"),
                        ));
                    }
                    hasher.update(&c);
                }
                Ok(None) => break,
                Err(e) => return Err(transport_error(&host, &format!("reading {what}"), e)),
            }
        }
        if announced.is_some_and(|a| a != n as u64) {
            return Err(RegistryError::unavailable(
                &host,
                format!("{what} cut short"),
            ));
        }
        Ok(FetchedPackage {
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            bytes: n,
        })
    }

    /// Whether the package answers (a HEAD): `Ok(())` for 200, `NotFound` for 404, an error
    /// otherwise. What makes a missing `.prov` a definite "unsigned" without downloading the
    /// package: the package is there, its provenance is not.
    pub async fn package_exists(&self, url: &Url) -> Result<(), RegistryError> {
        let host = Self::host(url);
        let what = "the chart package";
        let resp = self.send(reqwest::Method::HEAD, url, what).await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
                registry: host,
                what: format!("chart package {}", bounded::truncate(url.path())),
            }),
            s => Err(status_error(&host, s, what)),
        }
    }

    /// The `.prov` beside a package (`<package URL>.prov`, as Helm finds it): `None` only for
    /// a definite 404.
    pub async fn prov(&self, package: &Url) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = prov_url(package)?;
        self.read(&url, "the .prov", MAX_PROV_BYTES).await
    }
}

/// `<package URL>.prov` (the query, if any, kept after the path as Helm's string append
/// would not: a signed URL's query must stay a query).
pub fn prov_url(package: &Url) -> Result<Url, RegistryError> {
    let mut u = package.clone();
    u.set_path(&format!("{}.prov", package.path()));
    Ok(u)
}

fn with_trailing_slash(u: &Url) -> Url {
    let mut u = u.clone();
    if !u.path().ends_with('/') {
        u.set_path(&format!("{}/", u.path()));
    }
    u
}

/// Why an index does not give the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    /// Not a Helm index (YAML error, budget spent, no `entries`).
    Malformed(String),
    /// The index does not list that chart version.
    Missing,
    /// The entry has no usable URL.
    BadUrl(String),
}

impl IndexError {
    fn into_registry_error(self, host: &str, chart: &str, version: &str) -> RegistryError {
        match self {
            IndexError::Malformed(d) => {
                RegistryError::invalid(host, format!("index.yaml is not a Helm index: {d}"))
            }
            IndexError::Missing => RegistryError::NotFound {
                registry: host.to_string(),
                what: format!(
                    "chart {} version {} in index.yaml",
                    bounded::truncate(chart),
                    bounded::truncate(version)
                ),
            },
            IndexError::BadUrl(d) => {
                RegistryError::invalid(host, format!("index.yaml entry URL: {d}"))
            }
        }
    }
}

/// The entry of `chart` at `version` in an index, its URL resolved against `base` (the
/// repository URL with a trailing slash). Pure; bounded by the YAML budget.
pub fn entry_in_index(
    body: &[u8],
    base: &Url,
    chart: &str,
    version: &str,
) -> Result<ChartEntry, IndexError> {
    let text = std::str::from_utf8(body).map_err(|_| IndexError::Malformed("not UTF-8".into()))?;
    let options = serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_events: MAX_INDEX_EVENTS,
        },
    };
    let index: RawIndex = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| IndexError::Malformed(bounded::truncate(&e.without_snippet().to_string())))?;
    let entry = index
        .entries
        .ok_or_else(|| IndexError::Malformed("no entries".into()))?
        .remove(chart)
        .and_then(|versions| {
            versions
                .into_iter()
                .find(|v| v.version.as_deref() == Some(version))
        })
        .ok_or(IndexError::Missing)?;
    let first = entry
        .urls
        .and_then(|u| u.into_iter().next())
        .ok_or_else(|| IndexError::BadUrl("the entry lists no URL".into()))?;
    let url = base
        .join(&first)
        .map_err(|e| IndexError::BadUrl(format!("{}: {e}", bounded::truncate(&first))))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IndexError::BadUrl(format!(
            "{} is not an http(s) URL",
            bounded::truncate(&first)
        )));
    }
    Ok(ChartEntry {
        url,
        digest: entry.digest,
    })
}

#[cfg(test)]
#[path = "helm_http_tests.rs"]
mod tests;
