//! What a complete discovery read of each signature place, by digest ([`Seen`]): enough to ask
//! the registry later whether anything changed without reading it again
//! ([`super::RegistryClient::recheck`]).
//!
//! Each place is remembered by what identifies its content:
//! - the `sha256-<hex>` referrers tag, `.sig` and `.att` tags: the digest of the manifest read
//!   (computed from its bytes, never taken from a header), or that the tag was absent (404);
//! - the referrers API: the sorted digests of the signature referrers it listed, cosign bundles
//!   and Notation signatures alike (what discovery reads from it; other artifact types are
//!   ignored there, so they are here).
//!
//! Everything below a remembered digest is content-addressed (the index lists manifests by
//! digest, the manifests list blobs by digest), so the same digests mean the same bytes. Only a
//! complete discovery is remembered: from one cut short, the next check reads everything again.
//! At most [`super::discovery::MAX_SIGNATURES_PER_PLACE`] referrer digests are kept (a longer
//! list makes the discovery incomplete), so one `Seen` is a few kilobytes at most.

/// What one complete discovery read (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub(crate) bundles: BundlePlace,
    pub(crate) legacy: Tag,
    /// The `.att` tag; `None` when it was not read (not asked for, or not read completely).
    pub(crate) attestations: Option<Tag>,
    /// Manifest GETs the discovery made: what reading everything again is expected to cost.
    pub manifest_gets: u32,
}

/// Where the bundles were listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BundlePlace {
    /// The referrers API, listing these signature referrers (sorted, deduplicated).
    Api(Vec<String>),
    /// The `sha256-<hex>` tag fallback. `api_asked`: the referrers API was asked too and said
    /// it is not there (an artifact with nothing at all, on a registry thought to lack it).
    Tag { tag: Tag, api_asked: bool },
}

/// A tag as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    /// 404.
    Absent,
    /// The manifest's digest, computed from its bytes.
    Manifest(String),
}

impl Seen {
    /// Whether the discovery found nothing at all in any place it read.
    pub(crate) fn nothing_anywhere(&self) -> bool {
        let bundles_absent = match &self.bundles {
            BundlePlace::Api(list) => list.is_empty(),
            BundlePlace::Tag { tag, .. } => *tag == Tag::Absent,
        };
        bundles_absent
            && self.legacy == Tag::Absent
            && self.attestations.as_ref().is_none_or(|t| *t == Tag::Absent)
    }
}

/// The referrers discovery reads among listed descriptors, as remembered: sorted, deduplicated
/// digests of the cosign bundles and the Notation signatures. A referrer of either kind added
/// or deleted is a change; any other artifact type (an SBOM, …) is not.
pub(crate) fn signature_digests<'a>(
    entries: impl IntoIterator<Item = &'a super::manifest::Descriptor>,
) -> Vec<String> {
    let mut v: Vec<String> = entries
        .into_iter()
        .filter(|d| {
            d.artifact_type.as_deref().is_some_and(|t| {
                super::manifest::is_sigstore_bundle_media_type(t)
                    || t == super::manifest::NOTARY_SIGNATURE
            })
        })
        .map(|d| d.digest.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
impl Seen {
    /// A remembered discovery of a legacy signature at `.sig` manifest `n`, for other rooms'
    /// tests.
    pub(crate) fn example(n: u8) -> Self {
        Seen {
            bundles: BundlePlace::Tag {
                tag: Tag::Absent,
                api_asked: false,
            },
            legacy: Tag::Manifest(format!("sha256:{n:064x}")),
            attestations: None,
            manifest_gets: 2,
        }
    }
}
