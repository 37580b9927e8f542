//! Discovery: every cosign signature attached to one artifact digest, from all three places.
//!
//! Bundles (cosign v3) come from the OCI 1.1 referrers API, or from its tag fallback
//! `sha256-<hex>` on registries without it; legacy signatures come from `sha256-<hex>.sig`.
//! Notation signatures are read from the same referrers listing (`super::notation`).
//! Both halves run concurrently, and an error in either is an error for the whole discovery:
//! a signature store we could not read means "could not check", never "unsigned".
//!
//! What a failure means is decided here, once:
//! - the connection failing (reset, short body, timeout, stall, 5xx, 429), credentials refused,
//!   or a listing (referrers page, tag index, `.sig` manifest) that cannot be read or parsed:
//!   the discovery fails (indeterminate);
//! - a listing cut short (more than [`MAX_REFERRER_PAGES`] pages, a next page that cannot be
//!   followed, more than [`MAX_SIGNATURES_PER_PLACE`] objects) or a listed object that cannot
//!   be read as its digest promises (404, wrong bytes, too large, byte budget spent): the
//!   discovery is *incomplete* ([`Discovery::incomplete`]), from which only `Verified` may be
//!   concluded;
//! - a listed object read completely, with the right digest, that is not a usable signature
//!   (unparseable manifest, no bundle layer, bad annotations): malformed, i.e. a definite
//!   "broken signature";
//! - the deadline passing: the discovery fails as a `Limit` error (indeterminate).

use futures::{stream, StreamExt as _};
use reqwest::{Method, StatusCode};
use tokio::sync::OwnedMutexGuard;

use super::bounded::truncate;
use super::budget::{Budget, Call, Purpose};
use super::bundle_kind::is_attestation_bundle;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::found::{
    DiscoverOptions, Discovery, FoundBundle, MalformedSignature, SignatureLocation, Unread,
};
use super::http::{read_limited, status_error};
use super::manifest::{
    is_sigstore_bundle_media_type, parse_index, parse_manifest, Descriptor, OCI_INDEX,
};
use super::next_link::{next_link, Next};
use super::reference::{is_repository, is_sha256_digest};
use super::seen::{signature_digests, BundlePlace, Seen, Tag};

/// Signature objects fetched at the same time within one place.
const CONCURRENCY: usize = 4;
/// Signature objects read per place; the rest leave the discovery incomplete.
pub(crate) const MAX_SIGNATURES_PER_PLACE: usize = 64;
/// Referrers API pages followed; a longer list leaves the discovery incomplete.
pub(crate) const MAX_REFERRER_PAGES: usize = 8;

/// What reading one listed signature object gave.
pub(crate) enum Read<T> {
    /// A signature.
    Found(T),
    /// Read completely and digest-verified, but not a usable signature (definite).
    Malformed(String),
    /// Not read: missing, wrong bytes, too large, over budget (indeterminate).
    Unread(String),
}

pub(crate) type Item<T> = Result<Read<T>, RegistryError>;

/// A listed object the registry answered for but that could not be used as its digest promises
/// is unread; a failing connection or refused credentials end the whole discovery.
pub(crate) fn unread_or_fail<T>(e: RegistryError) -> Item<T> {
    match e {
        RegistryError::InvalidResponse { detail, .. } | RegistryError::Limit { detail, .. } => {
            Ok(Read::Unread(detail))
        }
        e => Err(e),
    }
}

/// Whether (and how) to ask the referrers API of a registry.
enum ApiPlan {
    /// Known to be absent: go to the tag fallback.
    Skip,
    /// Known to be present.
    Ask,
    /// Unknown: this discovery probes, holding the registry's gate until the first answer.
    Probe(OwnedMutexGuard<()>),
}

impl RegistryClient {
    /// Finds every cosign signature of `repository@digest` in `registry`: bundles via the
    /// referrers API (or its tag fallback) and legacy `.sig` signatures, concurrently, within the
    /// discovery's byte budget and deadline ([`super::RegistryOptions`]).
    ///
    /// Signatures only: the legacy attestation tag is not searched (see [`Self::discover_with`]).
    pub async fn discover(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Discovery, RegistryError> {
        self.discover_with(registry, repository, digest, DiscoverOptions::default())
            .await
    }

    /// [`Self::discover`], with attestations: bundle attestations always come from the
    /// referrers listing read for signatures (no extra request); with
    /// [`DiscoverOptions::legacy_attestations`] the `sha256-<hex>.att` tag is read too (one more
    /// manifest request, concurrently with the rest, and one blob per attestation).
    pub async fn discover_with(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        options: DiscoverOptions,
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
        let deadline = self.inner.opts.discovery_deadline;
        let call = Call {
            purpose: Purpose::Discover,
            deferrable: options.within_budget,
        };
        let budget = Budget::with_call(self.inner.opts.discovery_byte_budget, call);
        let found = tokio::time::timeout(
            deadline,
            self.discover_within(registry, repository, digest, options, &budget),
        )
        .await;
        let Ok(found) = found else {
            tracing::warn!(
                registry,
                repository,
                digest,
                ?deadline,
                "signature discovery passed its deadline; the verdict is indeterminate"
            );
            return Err(RegistryError::limit(
                registry,
                format!("signature discovery did not finish within {deadline:?}"),
            ));
        };
        let d = found?;
        if let Some(why) = d.incomplete_summary() {
            tracing::warn!(
                registry,
                repository,
                digest,
                unread = d.incomplete.len(),
                why,
                "signature discovery incomplete; only a verifying signature counts"
            );
        }
        Ok(d)
    }

    async fn discover_within(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        options: DiscoverOptions,
        budget: &Budget,
    ) -> Result<Discovery, RegistryError> {
        let ((mut d, skipped_api, mut bundles_place), (legacy, legacy_tag)) = tokio::try_join!(
            self.discover_bundles(registry, repository, digest, budget),
            self.discover_legacy(registry, repository, digest, budget)
        )?;
        d.absorb(legacy);
        // The .att tag after the signatures, from what is left of the byte budget: however
        // large a hostile .att is, it cannot starve a signature read (attestations never
        // change the signature verdict). One more round trip, only when asked.
        let (attestations, att_tag) = if options.legacy_attestations {
            let budget = budget.for_purpose(Purpose::Attestation);
            self.discover_legacy_attestations(registry, repository, digest, &budget)
                .await
        } else {
            let not_searched = Discovery {
                attestations_incomplete: vec![Unread {
                    location: SignatureLocation::LegacyAttestationTag,
                    detail: "not searched (the discovery was not asked for attestations)".into(),
                }],
                ..Discovery::default()
            };
            (not_searched, None)
        };
        d.absorb(attestations);
        if d.is_empty() && skipped_api {
            // "No referrers API" was remembered from another repository. Before answering
            // "nothing here", make sure: a 404 there may have meant "no such repository" on a
            // registry that does have the API. Costs one request, only for unsigned artifacts.
            bundles_place = BundlePlace::Tag {
                tag: Tag::Absent,
                api_asked: true,
            };
            if let Some((entries, cut)) = self
                .referrers_api(registry, repository, digest, budget, None)
                .await?
            {
                bundles_place = BundlePlace::Api(signature_digests(&entries));
                d.absorb(
                    self.read_bundles(
                        registry,
                        repository,
                        SignatureLocation::ReferrersApi,
                        entries,
                        budget,
                    )
                    .await?,
                );
                d.incomplete.extend(cut);
            }
        }
        d.seen = d.is_complete().then(|| Seen {
            bundles: bundles_place,
            legacy: legacy_tag,
            attestations: att_tag,
            manifest_gets: budget.manifest_gets(),
        });
        Ok(d)
    }

    /// The registry's probe gate (one per registry, created on first use).
    fn probe_gate(&self, registry: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.inner
            .probe_gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(registry.to_string())
            .or_default()
            .clone()
    }

    /// Only the first discovery on a registry of unknown support probes the referrers API;
    /// concurrent ones on the same registry wait for its first answer (keeps a batch at the
    /// per-verification request budget), and no other registry ever waits for it.
    async fn referrers_plan(&self, registry: &str) -> ApiPlan {
        let known = |c: &Self| {
            c.referrers_support_known(registry).then(|| {
                if c.knows_no_referrers_api(registry) {
                    ApiPlan::Skip
                } else {
                    ApiPlan::Ask
                }
            })
        };
        if let Some(plan) = known(self) {
            return plan;
        }
        let guard = self.probe_gate(registry).lock_owned().await;
        match known(self) {
            // Answered while we waited.
            Some(plan) => plan,
            None => ApiPlan::Probe(guard),
        }
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

    /// Bundles from the referrers API, else from the `sha256-<hex>` tag; also whether the API
    /// was skipped because the registry is known to lack it, and where they were listed.
    async fn discover_bundles(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        budget: &Budget,
    ) -> Result<(Discovery, bool, BundlePlace), RegistryError> {
        let (from_api, skipped) = match self.referrers_plan(registry).await {
            ApiPlan::Skip => (None, true),
            ApiPlan::Ask => (
                self.referrers_api(registry, repository, digest, budget, None)
                    .await?,
                false,
            ),
            ApiPlan::Probe(gate) => (
                self.referrers_api(registry, repository, digest, budget, Some(gate))
                    .await?,
                false,
            ),
        };
        let (location, entries, cut, place) = match from_api {
            Some((entries, cut)) => {
                let place = BundlePlace::Api(signature_digests(&entries));
                (SignatureLocation::ReferrersApi, entries, cut, place)
            }
            None => {
                let tag = digest.replacen(':', "-", 1);
                match self
                    .fetch_manifest(registry, repository, &tag, budget)
                    .await?
                {
                    None => {
                        let place = BundlePlace::Tag {
                            tag: Tag::Absent,
                            api_asked: false,
                        };
                        return Ok((Discovery::default(), skipped, place));
                    }
                    Some((index_digest, _, bytes)) => {
                        let idx = parse_index(&bytes).map_err(|e| {
                            RegistryError::invalid(registry, format!("referrers tag {tag}: {e}"))
                        })?;
                        let place = BundlePlace::Tag {
                            tag: Tag::Manifest(index_digest),
                            api_asked: false,
                        };
                        (
                            SignatureLocation::ReferrersTag,
                            idx.manifests,
                            Vec::new(),
                            place,
                        )
                    }
                }
            }
        };
        let mut d = self
            .read_bundles(registry, repository, location, entries, budget)
            .await?;
        d.incomplete.extend(cut);
        Ok((d, skipped, place))
    }

    /// Reads the bundle referrers among `entries` (other artifact types are ignored).
    async fn read_bundles(
        &self,
        registry: &str,
        repository: &str,
        location: SignatureLocation,
        entries: Vec<Descriptor>,
        budget: &Budget,
    ) -> Result<Discovery, RegistryError> {
        let notation = self
            .read_notation(registry, repository, location, &entries, budget)
            .await?;
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
        let (found, malformed, incomplete) = self
            .read_each(location, wanted, |d| {
                self.read_bundle(registry, repository, location, d, budget)
            })
            .await?;
        // Attestations share the listing (and its limits) but are never signature candidates.
        let (attestations, bundles) = found
            .into_iter()
            .partition(|b: &FoundBundle| is_attestation_bundle(&b.bytes));
        let mut d = Discovery {
            bundles,
            malformed,
            incomplete,
            attestations,
            ..Discovery::default()
        };
        d.absorb(notation);
        Ok(d)
    }

    /// The referrers API's entries and what cut the list short, or `None` when the registry
    /// does not have the API (remembered per registry so later discoveries skip the probe).
    /// `gate`, when this discovery is the registry's prober, is released as soon as the first
    /// page has told whether the API exists.
    pub(super) async fn referrers_api(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        budget: &Budget,
        mut gate: Option<OwnedMutexGuard<()>>,
    ) -> Result<Option<(Vec<Descriptor>, Vec<Unread>)>, RegistryError> {
        let mut path = format!("{repository}/referrers/{digest}");
        let mut entries = Vec::new();
        let mut cut = Vec::new();
        let mut page = 0;
        loop {
            let resp = self
                .send_v2(
                    registry,
                    repository,
                    Method::GET,
                    &path,
                    OCI_INDEX,
                    budget.call(),
                )
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
            if page == 0 {
                self.set_no_referrers_api(registry, false);
                gate.take();
            }
            let next = next_link(&resp);
            let what = format!("referrers index of {digest}");
            let body = read_limited(
                registry,
                &what,
                resp,
                self.inner.opts.max_manifest_bytes,
                budget,
            )
            .await?;
            let idx = parse_index(&body)
                .map_err(|e| RegistryError::invalid(registry, format!("{what}: {e}")))?;
            entries.extend(idx.manifests);
            let unread = |detail: String| Unread {
                location: SignatureLocation::ReferrersApi,
                detail,
            };
            match next {
                Next::End => break,
                Next::Follow(p) if page + 1 < MAX_REFERRER_PAGES => {
                    path = p;
                    page += 1;
                }
                Next::Follow(_) => {
                    cut.push(unread(format!(
                        "the referrers list has more than {MAX_REFERRER_PAGES} pages; the rest was not read"
                    )));
                    break;
                }
                Next::Unfollowable(why) => {
                    cut.push(unread(format!(
                        "the referrers list continues, but its next page {why}"
                    )));
                    break;
                }
            }
        }
        Ok(Some((entries, cut)))
    }

    /// One referrer: its manifest, its bundle layer, the bundle blob.
    async fn read_bundle(
        &self,
        registry: &str,
        repository: &str,
        location: SignatureLocation,
        desc: Descriptor,
        budget: &Budget,
    ) -> Item<FoundBundle> {
        if !is_sha256_digest(&desc.digest) {
            return Ok(Read::Malformed(format!(
                "referrer digest {:?} is not a sha256 digest",
                truncate(&desc.digest)
            )));
        }
        let bytes = match self
            .fetch_manifest(registry, repository, &desc.digest, budget)
            .await
        {
            Ok(Some((_, _, bytes))) => bytes,
            Ok(None) => {
                return Ok(Read::Unread(format!(
                    "referrer manifest {} is listed but missing (HTTP 404)",
                    desc.digest
                )))
            }
            Err(e) => return unread_or_fail(e),
        };
        let manifest = match parse_manifest(&bytes) {
            Ok(m) => m,
            Err(e) => return Ok(Read::Malformed(format!("referrer {}: {e}", desc.digest))),
        };
        let Some(layer) = manifest.layers.iter().find(|l| {
            l.media_type
                .as_deref()
                .is_some_and(is_sigstore_bundle_media_type)
        }) else {
            return Ok(Read::Malformed(format!(
                "referrer {} has no Sigstore bundle layer",
                desc.digest
            )));
        };
        if !is_sha256_digest(&layer.digest) {
            return Ok(Read::Malformed(format!(
                "referrer {}: bundle layer digest is not sha256",
                desc.digest
            )));
        }
        let bundle = match self
            .get_blob(registry, repository, &layer.digest, layer.size, budget)
            .await
        {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(Read::Unread(format!(
                    "bundle blob {} is listed but missing (HTTP 404)",
                    layer.digest
                )))
            }
            Err(e) => return unread_or_fail(e),
        };
        Ok(Read::Found(FoundBundle {
            location,
            manifest_digest: desc.digest,
            media_type: layer.media_type.clone().unwrap_or_default(),
            bytes: bundle,
        }))
    }

    /// Legacy signatures from `sha256-<hex>.sig`, and the tag as it was read.
    async fn discover_legacy(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        budget: &Budget,
    ) -> Result<(Discovery, Tag), RegistryError> {
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        let Some((sig_digest, _, bytes)) = self
            .fetch_manifest(registry, repository, &tag, budget)
            .await?
        else {
            return Ok((Discovery::default(), Tag::Absent));
        };
        let manifest = parse_manifest(&bytes)
            .map_err(|e| RegistryError::invalid(registry, format!("signature tag {tag}: {e}")))?;
        let (legacy, malformed, incomplete) = self
            .read_each(
                SignatureLocation::LegacyTag,
                manifest.layers,
                |layer| async move {
                    self.read_legacy_layer(registry, repository, digest, &layer, budget)
                        .await
                },
            )
            .await?;
        let found = Discovery {
            legacy,
            malformed,
            incomplete,
            ..Discovery::default()
        };
        Ok((found, Tag::Manifest(sig_digest)))
    }

    /// Reads up to [`MAX_SIGNATURES_PER_PLACE`] objects a few at a time, sorting signatures
    /// from malformed and unread ones and stopping at the first error.
    pub(crate) async fn read_each<T, F, Fut>(
        &self,
        location: SignatureLocation,
        items: Vec<Descriptor>,
        read: F,
    ) -> Result<(Vec<T>, Vec<MalformedSignature>, Vec<Unread>), RegistryError>
    where
        F: Fn(Descriptor) -> Fut,
        Fut: std::future::Future<Output = Item<T>>,
    {
        let total = items.len();
        let mut results = stream::iter(items.into_iter().take(MAX_SIGNATURES_PER_PLACE))
            .map(read)
            .buffered(CONCURRENCY);
        let (mut found, mut malformed, mut unread) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(r) = results.next().await {
            match r? {
                Read::Found(t) => found.push(t),
                Read::Malformed(detail) => malformed.push(MalformedSignature { location, detail }),
                Read::Unread(detail) => unread.push(Unread { location, detail }),
            }
        }
        if total > MAX_SIGNATURES_PER_PLACE {
            unread.push(Unread {
                location,
                detail: format!(
                    "{total} signature objects; only the first {MAX_SIGNATURES_PER_PLACE} were read"
                ),
            });
        }
        Ok((found, malformed, unread))
    }
}
