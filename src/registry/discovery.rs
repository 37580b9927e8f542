//! Discovery: every cosign signature attached to one artifact digest, from all three places.
//!
//! Bundles (cosign v3) come from the OCI 1.1 referrers API, or from its tag fallback
//! `sha256-<hex>` on registries without it; legacy signatures come from `sha256-<hex>.sig`.
//! Both halves run concurrently, and an error in either is an error for the whole discovery:
//! a signature store we could not read means "could not check", never "unsigned".

use futures::{stream, StreamExt as _};
use reqwest::{Method, StatusCode};

use super::client::RegistryClient;
use super::error::RegistryError;
use super::found::{Discovery, FoundBundle, FoundLegacy, MalformedSignature, SignatureLocation};
use super::http::{read_limited, status_error};
use super::legacy::truncate;
use super::manifest::{
    is_sigstore_bundle_media_type, parse_index, parse_manifest, Descriptor, OCI_INDEX,
};
use super::reference::{is_repository, is_sha256_digest};

/// Signature objects fetched at the same time within one place.
const CONCURRENCY: usize = 4;
/// Signature objects read per place; more is reported as malformed rather than fetched.
const MAX_SIGNATURES_PER_PLACE: usize = 64;
/// Referrers API pages followed.
const MAX_REFERRER_PAGES: usize = 8;

type Item<T> = Result<Result<T, MalformedSignature>, RegistryError>;

impl RegistryClient {
    /// Finds every cosign signature of `repository@digest` in `registry`: bundles via the
    /// referrers API (or its tag fallback) and legacy `.sig` signatures, concurrently.
    pub async fn discover(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Discovery, RegistryError> {
        if !is_sha256_digest(digest) {
            return Err(RegistryError::Config(format!(
                "not a sha256 digest: {:?}",
                truncate(digest)
            )));
        }
        if !is_repository(repository) {
            return Err(RegistryError::Config(format!(
                "invalid repository {:?}",
                truncate(repository)
            )));
        }
        // Only the first discovery on a registry probes for the referrers API; concurrent ones
        // wait for its answer (keeps a batch at the per-verification request budget).
        let _gate = if self.referrers_support_known(registry) {
            None
        } else {
            Some(self.inner.probe_gate.lock().await)
        };
        let skipped_probe = self.knows_no_referrers_api(registry);
        let (bundles, legacy) = tokio::join!(
            self.discover_bundles(registry, repository, digest, !skipped_probe, true),
            self.discover_legacy(registry, repository, digest)
        );
        let mut d = Discovery::default();
        let (b, bm) = bundles?;
        let (l, lm) = legacy?;
        (d.bundles, d.legacy) = (b, l);
        d.malformed.extend(bm);
        d.malformed.extend(lm);
        if d.is_empty() && skipped_probe {
            // "No referrers API" was remembered from another repository. Before answering
            // "nothing here", make sure: a 404 there may have meant "no such repository" on a
            // registry that does have the API. Costs one request, only for unsigned artifacts.
            let (b, bm) = self
                .discover_bundles(registry, repository, digest, true, false)
                .await?;
            d.bundles = b;
            d.malformed.extend(bm);
        }
        Ok(d)
    }

    fn knows_no_referrers_api(&self, registry: &str) -> bool {
        let set = self
            .inner
            .no_referrers_api
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        set.contains(registry)
    }

    fn referrers_support_known(&self, registry: &str) -> bool {
        let set = self
            .inner
            .referrers_known
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        set.contains(registry)
    }

    fn set_no_referrers_api(&self, registry: &str, absent: bool) {
        self.inner
            .referrers_known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registry.to_string());
        let mut set = self
            .inner
            .no_referrers_api
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if absent {
            set.insert(registry.to_string());
        } else {
            set.remove(registry);
        }
    }

    /// Bundles from the referrers API (when `probe`), else (when `tag_fallback`) from the
    /// `sha256-<hex>` tag.
    async fn discover_bundles(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        probe: bool,
        tag_fallback: bool,
    ) -> Result<(Vec<FoundBundle>, Vec<MalformedSignature>), RegistryError> {
        let from_api = if probe {
            self.referrers_api(registry, repository, digest).await?
        } else {
            None
        };
        let (location, entries) = match from_api {
            Some(entries) => (SignatureLocation::ReferrersApi, entries),
            None if !tag_fallback => return Ok((Vec::new(), Vec::new())),
            None => {
                let tag = digest.replacen(':', "-", 1);
                match self.get_manifest(registry, repository, &tag).await? {
                    None => return Ok((Vec::new(), Vec::new())),
                    Some((_, _, bytes)) => {
                        let idx = parse_index(&bytes).map_err(|e| {
                            RegistryError::invalid(registry, format!("referrers tag {tag}: {e}"))
                        })?;
                        (SignatureLocation::ReferrersTag, idx.manifests)
                    }
                }
            }
        };
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<Descriptor> = entries
            .into_iter()
            .filter(|d| {
                d.artifact_type
                    .as_deref()
                    .is_some_and(is_sigstore_bundle_media_type)
            })
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        let results = self
            .read_each(location, wanted, |d| {
                self.read_bundle(registry, repository, location, d)
            })
            .await?;
        Ok(results)
    }

    /// The referrers API's entries, or `None` when the registry does not have the API
    /// (remembered per registry so later discoveries skip the probe).
    async fn referrers_api(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let mut path = format!("{repository}/referrers/{digest}");
        let mut entries = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let resp = self
                .send_v2(registry, repository, Method::GET, &path, OCI_INDEX)
                .await?;
            let status = resp.status();
            if page == 0 && matches!(status.as_u16(), 400 | 404 | 405 | 501) {
                tracing::debug!(
                    registry,
                    status = status.as_u16(),
                    "no referrers API; using the tag fallback"
                );
                self.set_no_referrers_api(registry, true);
                return Ok(None);
            }
            if status != StatusCode::OK {
                return Err(status_error(registry, status, "referrers API"));
            }
            let next = next_link(&resp);
            let what = format!("referrers index of {digest}");
            let body =
                read_limited(registry, &what, resp, self.inner.opts.max_manifest_bytes).await?;
            let idx = parse_index(&body)
                .map_err(|e| RegistryError::invalid(registry, format!("{what}: {e}")))?;
            entries.extend(idx.manifests);
            match next {
                Some(p) => path = p,
                None => break,
            }
        }
        self.set_no_referrers_api(registry, false);
        Ok(Some(entries))
    }

    /// One referrer: its manifest, its bundle layer, the bundle blob.
    async fn read_bundle(
        &self,
        registry: &str,
        repository: &str,
        location: SignatureLocation,
        desc: Descriptor,
    ) -> Item<FoundBundle> {
        let malformed = |detail: String| Ok(Err(MalformedSignature { location, detail }));
        if !is_sha256_digest(&desc.digest) {
            return malformed(format!(
                "referrer digest {:?} is not a sha256 digest",
                truncate(&desc.digest)
            ));
        }
        let bytes = match self.get_manifest(registry, repository, &desc.digest).await {
            Ok(Some((_, _, bytes))) => bytes,
            Ok(None) => {
                return malformed(format!(
                    "referrer manifest {} is missing (HTTP 404)",
                    desc.digest
                ))
            }
            Err(RegistryError::InvalidResponse { detail, .. }) => return malformed(detail),
            Err(e) => return Err(e),
        };
        let manifest = match parse_manifest(&bytes) {
            Ok(m) => m,
            Err(e) => return malformed(format!("referrer {}: {e}", desc.digest)),
        };
        let Some(layer) = manifest.layers.iter().find(|l| {
            l.media_type
                .as_deref()
                .is_some_and(is_sigstore_bundle_media_type)
        }) else {
            return malformed(format!(
                "referrer {} has no Sigstore bundle layer",
                desc.digest
            ));
        };
        if !is_sha256_digest(&layer.digest) {
            return malformed(format!(
                "referrer {}: bundle layer digest is not sha256",
                desc.digest
            ));
        }
        let bundle = match self
            .get_blob(registry, repository, &layer.digest, layer.size)
            .await
        {
            Ok(Some(b)) => b,
            Ok(None) => {
                return malformed(format!(
                    "bundle blob {} is missing (HTTP 404)",
                    layer.digest
                ))
            }
            Err(RegistryError::InvalidResponse { detail, .. }) => return malformed(detail),
            Err(e) => return Err(e),
        };
        Ok(Ok(FoundBundle {
            location,
            manifest_digest: desc.digest,
            media_type: layer.media_type.clone().unwrap_or_default(),
            bytes: bundle,
        }))
    }

    /// Legacy signatures from `sha256-<hex>.sig`.
    async fn discover_legacy(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<(Vec<FoundLegacy>, Vec<MalformedSignature>), RegistryError> {
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        let Some((_, _, bytes)) = self.get_manifest(registry, repository, &tag).await? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let manifest = parse_manifest(&bytes)
            .map_err(|e| RegistryError::invalid(registry, format!("signature tag {tag}: {e}")))?;
        self.read_each(
            SignatureLocation::LegacyTag,
            manifest.layers,
            |layer| async move {
                self.read_legacy_layer(registry, repository, digest, &layer)
                    .await
            },
        )
        .await
    }

    /// Reads up to [`MAX_SIGNATURES_PER_PLACE`] objects a few at a time, splitting signatures
    /// from malformed ones and stopping at the first error.
    async fn read_each<T, F, Fut>(
        &self,
        location: SignatureLocation,
        items: Vec<Descriptor>,
        read: F,
    ) -> Result<(Vec<T>, Vec<MalformedSignature>), RegistryError>
    where
        F: Fn(Descriptor) -> Fut,
        Fut: std::future::Future<Output = Item<T>>,
    {
        let total = items.len();
        let results: Vec<Item<T>> = stream::iter(items.into_iter().take(MAX_SIGNATURES_PER_PLACE))
            .map(read)
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let (mut found, mut malformed) = (Vec::new(), Vec::new());
        for r in results {
            match r? {
                Ok(t) => found.push(t),
                Err(m) => malformed.push(m),
            }
        }
        if total > MAX_SIGNATURES_PER_PLACE {
            malformed.push(MalformedSignature {
                location,
                detail: format!("{total} signature objects; only the first {MAX_SIGNATURES_PER_PLACE} were read"),
            });
        }
        Ok((found, malformed))
    }
}

/// The `rel="next"` target of a referrers page as a path under `/v2/`, if on the same registry.
fn next_link(resp: &reqwest::Response) -> Option<String> {
    let link = resp.headers().get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        if !params.replace(' ', "").contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = match target.strip_prefix("/v2/") {
            Some(p) => p.to_string(),
            None => {
                let url = reqwest::Url::parse(target).ok()?;
                let same = url.host_str() == resp.url().host_str()
                    && url.port_or_known_default() == resp.url().port_or_known_default();
                let p = url.path().strip_prefix("/v2/")?.to_string();
                let q = url.query().map(|q| format!("?{q}")).unwrap_or_default();
                return same.then(|| format!("{p}{q}"));
            }
        };
        Some(path)
    })
}
