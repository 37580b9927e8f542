//! Notary Project (Notation) signatures among an artifact's referrers: manifests of artifact
//! type `application/vnd.cncf.notary.signature` whose one layer is the signature envelope
//! (`application/jose+json` or `application/cose`). They come from the same listing as the
//! cosign bundles (the referrers API, or its `sha256-<hex>` tag fallback, which notation also
//! writes), read within the same per-place limit and byte budget, and never disturb them.

use super::bounded::truncate;
use super::budget::Budget;
use super::client::RegistryClient;
use super::discovery::{unread_or_fail, Item, Read};
use super::error::RegistryError;
use super::found::{Discovery, FoundNotation, SignatureLocation};
use super::manifest::{parse_manifest, Descriptor};
use super::reference::is_sha256_digest;

pub use super::manifest::NOTARY_SIGNATURE;
/// How every malformed Notation signature's detail begins (so a report can name its format).
pub const NOTATION_MALFORMED: &str = "Notation signature ";
/// The envelope media types a signature layer may have.
pub const NOTARY_ENVELOPES: [&str; 2] = ["application/jose+json", "application/cose"];

impl RegistryClient {
    /// Reads the Notation signatures among `entries` (other artifact types are ignored).
    pub(crate) async fn read_notation(
        &self,
        registry: &str,
        repository: &str,
        location: SignatureLocation,
        entries: &[Descriptor],
        budget: &Budget,
    ) -> Result<Discovery, RegistryError> {
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<Descriptor> = entries
            .iter()
            .filter(|d| d.artifact_type.as_deref() == Some(NOTARY_SIGNATURE))
            .filter(|d| seen.insert(d.digest.clone()))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(Discovery::default());
        }
        let (notation, malformed, incomplete) = self
            .read_each(location, wanted, |d| {
                self.read_notation_signature(registry, repository, location, d, budget)
            })
            .await?;
        Ok(Discovery {
            notation,
            malformed,
            incomplete,
            ..Discovery::default()
        })
    }

    /// One signature manifest, its envelope layer, the envelope blob.
    async fn read_notation_signature(
        &self,
        registry: &str,
        repository: &str,
        location: SignatureLocation,
        desc: Descriptor,
        budget: &Budget,
    ) -> Item<FoundNotation> {
        let malformed = |m: String| Ok(Read::Malformed(format!("{NOTATION_MALFORMED}{m}")));
        if !is_sha256_digest(&desc.digest) {
            return malformed(format!(
                "digest {:?} is not a sha256 digest",
                truncate(&desc.digest)
            ));
        }
        let bytes = match self
            .fetch_manifest(registry, repository, &desc.digest, budget)
            .await
        {
            Ok(Some((_, _, bytes))) => bytes,
            Ok(None) => {
                return Ok(Read::Unread(format!(
                    "Notation signature manifest {} is listed but missing (HTTP 404)",
                    desc.digest
                )))
            }
            Err(e) => return unread_or_fail(e),
        };
        let manifest = match parse_manifest(&bytes) {
            Ok(m) => m,
            Err(e) => return malformed(format!("{}: {e}", desc.digest)),
        };
        let layer = match manifest.layers.as_slice() {
            [layer] => layer,
            layers => {
                return malformed(format!(
                    "{} has {} layers (a signature has exactly one)",
                    desc.digest,
                    layers.len()
                ))
            }
        };
        let media_type = layer.media_type.clone().unwrap_or_default();
        if !NOTARY_ENVELOPES.contains(&media_type.as_str()) {
            return malformed(format!(
                "{}: layer media type {:?} is not a signature envelope",
                desc.digest,
                truncate(&media_type)
            ));
        }
        if !is_sha256_digest(&layer.digest) {
            return malformed(format!("{}: envelope digest is not sha256", desc.digest));
        }
        let envelope = match self
            .get_blob(registry, repository, &layer.digest, layer.size, budget)
            .await
        {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(Read::Unread(format!(
                    "Notation envelope {} is listed but missing (HTTP 404)",
                    layer.digest
                )))
            }
            Err(e) => return unread_or_fail(e),
        };
        Ok(Read::Found(FoundNotation {
            location,
            manifest_digest: desc.digest,
            media_type,
            envelope,
            scope: format!("{registry}/{repository}"),
        }))
    }
}
