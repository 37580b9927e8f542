//! The cheap re-check: has anything a verdict was judged from changed since a complete
//! discovery read it ([`Seen`])? Asked with `HEAD`s of the tags (`Docker-Content-Digest`) and, on
//! a registry with the referrers API, one `GET` of its listing, never a manifest `GET` or a blob.
//!
//! The rule, place by place (see [`Seen`] for what is remembered):
//! - a tag (`sha256-<hex>`, `.sig`, `.att`): `HEAD` → `404` is "absent", a `2xx` with a
//!   well-formed `Docker-Content-Digest` is that digest; the same answer as remembered is
//!   unchanged, anything else is changed. A `2xx` without the header, or a status a registry
//!   should not send there (`405`, `400`…), is *unknown*, and unknown is changed: the caller
//!   then reads everything again. ETags are not used: they are not content digests unless a
//!   registry says so, and a weak one never is;
//! - the referrers API (`HEAD` on it is not universally supported): its listing is read again
//!   (a `GET`, not a manifest) and its signature referrers (cosign bundles, Notation
//!   signatures) compared; a listing cut short is changed;
//! - the `.att` tag is asked about only when the caller needs attestations, and is changed when
//!   it was not read last time;
//! - where the registry's referrers support is now known to differ from what the discovery
//!   used, and (as in discovery) when nothing at all was found on a registry thought to lack
//!   the API, the API is asked too.
//!
//! Failures are not changes: a transport error, `5xx`, `429`, refused credentials or a paused
//! host fail the re-check like a discovery (`Unknown`, never the remembered verdict).
//!
//! **Why a registry cannot abuse this.** What is remembered is bound to what it proves: each
//! digest is of bytes this client read completely and verified against that digest, and the
//! caller keeps it with the verdict judged from exactly those bytes, under one policy and trust
//! root. A `HEAD` that answers the remembered digest therefore re-uses a verdict the registry
//! already served us whole and we judged; it cannot make an unverified signature verified. A
//! registry that lies in a `HEAD` (claims the old digest while the tag moved) can hide a change
//! from us — a signature added or deleted — but so could it by serving the old bytes to a `GET`:
//! it gains nothing it did not have.

use futures::TryFutureExt as _;
use reqwest::{Method, StatusCode};

use super::bounded::truncate;
use super::budget::{Budget, Call, Purpose};
use super::client::{header_digest, RegistryClient};
use super::error::RegistryError;
use super::found::DiscoverOptions;
use super::http::status_error;
use super::manifest::MANIFEST_ACCEPT;
use super::reference::{is_repository, is_sha256_digest};
use super::seen::{signature_digests, BundlePlace, Seen, Tag};

/// What a re-check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Every place answers as remembered: the verdict judged from them still holds.
    Unchanged,
    /// Something changed or could not be told by a cheap answer (what, for the logs): read
    /// everything again.
    Changed(String),
}

/// One place's answer.
type Place = Result<Option<String>, RegistryError>;

impl RegistryClient {
    /// Asks whether anything `seen` remembers of `repository@digest` changed (see the module
    /// docs); `options` as the discovery that would follow (the `.att` tag is asked about only
    /// with [`DiscoverOptions::legacy_attestations`]). Its requests are [`Purpose::Recheck`].
    pub async fn recheck(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        seen: &Seen,
        options: DiscoverOptions,
    ) -> Result<Recheck, RegistryError> {
        if !is_sha256_digest(digest) || !is_repository(repository) {
            return Err(RegistryError::Config(format!(
                "not a repository and digest: {:?}@{:?}",
                truncate(repository),
                truncate(digest)
            )));
        }
        if options.legacy_attestations && seen.attestations.is_none() {
            return Ok(Recheck::Changed(
                "the .att tag was not read last time".into(),
            ));
        }
        let deadline = self.inner.opts.discovery_deadline;
        let call = Call {
            purpose: Purpose::Recheck,
            deferrable: true,
        };
        let budget = Budget::with_call(self.inner.opts.discovery_byte_budget, call);
        let asked = self.recheck_within(registry, repository, digest, seen, options, &budget);
        match tokio::time::timeout(deadline, asked).await {
            Ok(r) => r,
            Err(_) => Err(RegistryError::limit(
                registry,
                format!("the re-check did not finish within {deadline:?}"),
            )),
        }
    }

    async fn recheck_within(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        seen: &Seen,
        options: DiscoverOptions,
        budget: &Budget,
    ) -> Result<Recheck, RegistryError> {
        let hex = digest.replacen(':', "-", 1);
        let api_now = self.referrers_api_known(registry);
        let bundles = async {
            match &seen.bundles {
                BundlePlace::Api(_) if api_now == Some(false) => Ok(Some(
                    "the registry no longer has the referrers API".to_string(),
                )),
                BundlePlace::Tag { .. } if api_now == Some(true) => {
                    Ok(Some("the registry has the referrers API now".to_string()))
                }
                BundlePlace::Api(list) => {
                    self.listing_changed(registry, repository, digest, list, budget)
                        .await
                }
                BundlePlace::Tag { tag, .. } => {
                    let answer = self.head_tag(registry, repository, &hex, budget).await?;
                    Ok(differs("referrers tag", tag, answer))
                }
            }
        };
        let sig = format!("{hex}.sig");
        let legacy = self
            .head_tag(registry, repository, &sig, budget)
            .map_ok(|answer| differs(".sig tag", &seen.legacy, answer));
        let attestations = async {
            match (&seen.attestations, options.legacy_attestations) {
                (Some(remembered), true) => {
                    let att = budget.for_purpose(Purpose::Attestation);
                    let answer = self
                        .head_tag(registry, repository, &format!("{hex}.att"), &att)
                        .await?;
                    Ok(differs(".att tag", remembered, answer))
                }
                _ => Ok(None),
            }
        };
        let (b, l, a): (Place, Place, Place) = tokio::join!(bundles, legacy, attestations);
        // A failure anywhere fails the whole re-check, as it would a discovery.
        let changes: Vec<String> = [b?, l?, a?].into_iter().flatten().collect();
        if let Some(first) = changes.into_iter().next() {
            return Ok(Recheck::Changed(first));
        }
        let api_asked = matches!(
            seen.bundles,
            BundlePlace::Tag {
                api_asked: true,
                ..
            }
        );
        if api_asked && seen.nothing_anywhere() {
            // As discovery does for an artifact with nothing at all: a 404 of the tag fallback
            // may hide signatures in a referrers API the registry was thought to lack.
            if let Some(c) = self
                .listing_changed(registry, repository, digest, &[], budget)
                .await?
            {
                return Ok(Recheck::Changed(c));
            }
        }
        Ok(Recheck::Unchanged)
    }

    /// `Some(true)`/`Some(false)` when the registry's referrers-API support is known.
    fn referrers_api_known(&self, registry: &str) -> Option<bool> {
        let known = self
            .inner
            .referrers_known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(registry);
        let absent = self
            .inner
            .no_referrers_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(registry);
        known.then_some(!absent)
    }

    /// Whether the referrers API now lists other bundle referrers than `remembered` (`None`
    /// when it lists the same; an API that is not there counts as an empty listing).
    async fn listing_changed(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        remembered: &[String],
        budget: &Budget,
    ) -> Result<Option<String>, RegistryError> {
        let listed = self
            .referrers_api(registry, repository, digest, budget, None)
            .await?;
        Ok(match listed {
            None if remembered.is_empty() => None,
            None => Some("the referrers API no longer answers".into()),
            Some((_, cut)) if !cut.is_empty() => Some("the referrers listing is cut short".into()),
            Some((entries, _)) if signature_digests(&entries) == remembered => None,
            Some(_) => Some("the referrers listing changed".into()),
        })
    }

    /// `HEAD` of a manifest tag: `Some(Absent)` on 404, `Some(digest)` on a `2xx` with a
    /// well-formed `Docker-Content-Digest`, `None` when the answer tells neither.
    async fn head_tag(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        budget: &Budget,
    ) -> Result<Option<Tag>, RegistryError> {
        let path = format!("{repository}/manifests/{tag}");
        let resp = self
            .send_v2(
                registry,
                repository,
                Method::HEAD,
                &path,
                MANIFEST_ACCEPT,
                budget.call(),
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Some(Tag::Absent));
        }
        if status.is_success() {
            return Ok(header_digest(&resp).map(Tag::Manifest));
        }
        if matches!(status.as_u16(), 401 | 403 | 429 | 500..=599) {
            return Err(status_error(
                registry,
                status,
                &format!("HEAD of tag {tag}"),
            ));
        }
        Ok(None)
    }
}

/// What changed at a tag (`None`: the same as remembered).
fn differs(place: &str, remembered: &Tag, answer: Option<Tag>) -> Option<String> {
    match answer {
        Some(a) if a == *remembered => None,
        Some(_) => Some(format!("the {place} changed")),
        None => Some(format!("the {place}'s HEAD answer gives no digest")),
    }
}

#[cfg(test)]
#[path = "recheck_tests.rs"]
mod tests;
