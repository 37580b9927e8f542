//! Attestations beside signatures: reading cosign v2's legacy attestation tag
//! `sha256-<hex>.att` (one DSSE envelope per layer, the signature material in annotations).
//! Telling a bundle attestation from a bundle signature is [`super::bundle_kind`].
//!
//! Attestations never change the signature verdict, so nothing here fails a discovery: a `.att`
//! tag that cannot be read leaves the *attestations* incomplete
//! ([`super::Discovery::attestations_incomplete`]), and the signatures stand as read.

use super::bounded::truncate;
use super::budget::Budget;
use super::client::RegistryClient;
use super::discovery::{unread_or_fail, Item, Read};
use super::found::{Discovery, FoundLegacyAttestation, SignatureLocation, Unread};
use super::manifest::{parse_manifest, Descriptor};
use super::reference::is_sha256_digest;
use super::seen::Tag;

/// The media type of a `.att` layer.
pub(crate) const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
const ANN_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";
const ANN_PREDICATE_TYPE: &str = "predicateType";

impl RegistryClient {
    /// Legacy attestations from `sha256-<hex>.att`, and the tag as it was read when it was read
    /// completely. Never an error: what cannot be read is recorded in
    /// [`Discovery::attestations_incomplete`] (bounded, registry text truncated).
    pub(crate) async fn discover_legacy_attestations(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        budget: &Budget,
    ) -> (Discovery, Option<Tag>) {
        let location = SignatureLocation::LegacyAttestationTag;
        let unread = |detail: String| {
            let d = Discovery {
                attestations_incomplete: vec![Unread { location, detail }],
                ..Discovery::default()
            };
            (d, None)
        };
        let tag = format!("{}.att", digest.replacen(':', "-", 1));
        let (att_digest, bytes) = match self
            .fetch_manifest(registry, repository, &tag, budget)
            .await
        {
            Ok(Some((d, _, bytes))) => (d, bytes),
            Ok(None) => return (Discovery::default(), Some(Tag::Absent)),
            Err(e) => {
                return unread(format!(
                    "attestation tag {tag} could not be read: {}",
                    super::bounded::cap(e.to_string())
                ))
            }
        };
        let manifest = match parse_manifest(&bytes) {
            Ok(m) => m,
            Err(e) => return unread(format!("attestation tag {tag}: {e}")),
        };
        let read = self
            .read_each(location, manifest.layers, |layer| async move {
                self.read_attestation_layer(registry, repository, &layer, budget)
                    .await
            })
            .await;
        match read {
            Ok((legacy_attestations, attestations_malformed, attestations_incomplete)) => {
                let complete = attestations_incomplete.is_empty();
                let d = Discovery {
                    legacy_attestations,
                    attestations_malformed,
                    attestations_incomplete,
                    ..Discovery::default()
                };
                (d, complete.then_some(Tag::Manifest(att_digest)))
            }
            Err(e) => unread(format!(
                "attestation tag {tag}: a layer could not be read: {}",
                super::bounded::cap(e.to_string())
            )),
        }
    }

    /// One `.att` layer: its DSSE envelope blob and the signature material annotations.
    async fn read_attestation_layer(
        &self,
        registry: &str,
        repository: &str,
        layer: &Descriptor,
        budget: &Budget,
    ) -> Item<FoundLegacyAttestation> {
        if !is_sha256_digest(&layer.digest) {
            return Ok(Read::Malformed(format!(
                "attestation layer digest {:?} is not a sha256 digest",
                truncate(&layer.digest)
            )));
        }
        let media_type = layer.media_type.as_deref().unwrap_or_default();
        if media_type != DSSE_ENVELOPE_MEDIA_TYPE {
            return Ok(Read::Malformed(format!(
                "attestation layer {} has media type {:?}, not {DSSE_ENVELOPE_MEDIA_TYPE}",
                layer.digest,
                truncate(media_type)
            )));
        }
        let envelope = match self
            .get_blob(registry, repository, &layer.digest, layer.size, budget)
            .await
        {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(Read::Unread(format!(
                    "attestation blob {} is listed but missing (HTTP 404)",
                    layer.digest
                )))
            }
            Err(e) => return unread_or_fail(e),
        };
        let text = |k: &str| layer.annotation(k).map(str::to_string);
        Ok(Read::Found(FoundLegacyAttestation {
            layer_digest: layer.digest.clone(),
            envelope,
            certificate_pem: text(ANN_CERTIFICATE),
            chain_pem: text(ANN_CHAIN),
            rekor_bundle_json: text(ANN_BUNDLE),
            rfc3161_timestamp_json: text(ANN_RFC3161),
            predicate_type_hint: text(ANN_PREDICATE_TYPE),
        }))
    }
}
