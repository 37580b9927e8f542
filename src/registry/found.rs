//! What discovery hands to the verifier: the signatures found for one artifact digest, where
//! each was found, and the signature objects that exist but could not be read.

use serde::Serialize;

/// Everything found for one artifact digest.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Sigstore bundles (cosign v3 format).
    pub bundles: Vec<FoundBundle>,
    /// Legacy `.sig` signatures.
    pub legacy: Vec<FoundLegacy>,
    /// Problems with individual signature objects that were found but could not be read as
    /// signatures (e.g. a referrer manifest with no bundle layer, a .sig layer missing the
    /// signature annotation). Reported as evidence; never makes the artifact "unsigned".
    pub malformed: Vec<MalformedSignature>,
    /// Why this is not the whole set of signatures: a listing cut short (too many referrer
    /// pages, a next page that cannot be followed, too many objects in one place) or objects
    /// that were listed but could not be read (missing, wrong bytes for their digest, too large,
    /// byte budget spent). Empty means complete.
    ///
    /// The rule for callers: from an incomplete discovery only `Verified` may be concluded (a
    /// verifying signature is positive evidence that no unread object can undo); every other
    /// outcome (`Unsigned`, mismatches, invalid) is indeterminate, since the unread part might
    /// hold the signature that verifies.
    pub incomplete: Vec<Unread>,
}

impl Discovery {
    /// True when nothing at all was found: no signature, no malformed signature object, and
    /// nothing left unread.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
            && self.legacy.is_empty()
            && self.malformed.is_empty()
            && self.incomplete.is_empty()
    }

    /// True when every place was read to its end and every listed object was read.
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty()
    }

    /// A one-line summary of why the discovery is incomplete (bounded), `None` when complete.
    pub fn incomplete_summary(&self) -> Option<String> {
        let first = self.incomplete.first()?;
        let more = self.incomplete.len() - 1;
        Some(if more == 0 {
            format!("{}: {}", first.location, first.detail)
        } else {
            format!("{}: {} (and {more} more)", first.location, first.detail)
        })
    }

    /// Adds another part's findings (bundles, legacy signatures, problems) to this one.
    pub(crate) fn absorb(&mut self, other: Discovery) {
        self.bundles.extend(other.bundles);
        self.legacy.extend(other.legacy);
        self.malformed.extend(other.malformed);
        self.incomplete.extend(other.incomplete);
    }
}

/// A Sigstore bundle attached to the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBundle {
    /// Where it was found.
    pub location: SignatureLocation,
    /// Digest of the referrer manifest that carries it.
    pub manifest_digest: String,
    /// The media type of the bundle layer.
    pub media_type: String,
    /// The bundle JSON (digest-verified against the layer descriptor).
    pub bytes: Vec<u8>,
}

/// A legacy cosign signature (one layer of the `.sig` manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLegacy {
    /// Digest of the layer, i.e. of the payload.
    pub layer_digest: String,
    /// The simple-signing payload that was signed (digest-verified).
    pub payload: Vec<u8>,
    /// Annotation `dev.cosignproject.cosign/signature` (base64).
    pub signature_b64: String,
    /// Annotation `dev.sigstore.cosign/certificate`.
    pub certificate_pem: Option<String>,
    /// Annotation `dev.sigstore.cosign/chain`.
    pub chain_pem: Option<String>,
    /// Annotation `dev.sigstore.cosign/bundle` (the Rekor SET bundle JSON).
    pub rekor_bundle_json: Option<String>,
    /// Annotation `dev.sigstore.cosign/rfc3161timestamp`.
    pub rfc3161_timestamp_json: Option<String>,
}

/// Where a signature object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureLocation {
    /// The OCI 1.1 referrers API.
    ReferrersApi,
    /// The referrers tag fallback `sha256-<hex>`.
    ReferrersTag,
    /// The legacy cosign tag `sha256-<hex>.sig`.
    LegacyTag,
}

impl std::fmt::Display for SignatureLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureLocation::ReferrersApi => "referrers-api",
            SignatureLocation::ReferrersTag => "referrers-tag",
            SignatureLocation::LegacyTag => "legacy-tag",
        })
    }
}

/// Part of a signature place that was not read, and why. Never evidence about the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    /// Where it was listed.
    pub location: SignatureLocation,
    /// What was not read and why (bounded; digests and our own limits, no registry text).
    pub detail: String,
}

/// A signature object that exists but cannot be read as a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedSignature {
    /// Where it was found.
    pub location: SignatureLocation,
    /// What is wrong with it.
    pub detail: String,
}
