//! What discovery hands to the verifier: the signatures and attestations found for one artifact
//! digest, where each was found, and the objects that exist but could not be read.

use serde::Serialize;

use super::seen::Seen;

/// Everything found for one artifact digest.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Sigstore bundles (cosign v3 format).
    pub bundles: Vec<FoundBundle>,
    /// Legacy `.sig` signatures.
    pub legacy: Vec<FoundLegacy>,
    /// Notary Project (Notation) signatures, from the same referrers listing as the bundles.
    pub notation: Vec<FoundNotation>,
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
    /// Attestations in the Sigstore bundle format: bundles from the referrers list (API or
    /// `sha256-<hex>` tag) whose DSSE statement is not a cosign image signature (SBOMs, SLSA
    /// provenance, …). They come from the listing already read for signatures (no extra
    /// request), and are never judged as signatures.
    pub attestations: Vec<FoundBundle>,
    /// Attestations from the legacy cosign tag `sha256-<hex>.att` (one DSSE envelope per layer).
    /// Searched only when asked ([`DiscoverOptions::legacy_attestations`]).
    pub legacy_attestations: Vec<FoundLegacyAttestation>,
    /// `.att` layers read completely that are not usable attestations (definite, like
    /// [`Discovery::malformed`]). Never affects the signature verdict.
    pub attestations_malformed: Vec<MalformedSignature>,
    /// Why the set of attestations may be incomplete beyond [`Discovery::incomplete`] (which
    /// also applies to attestations: an unread referrer may be one): the `.att` tag not searched,
    /// unreadable, cut short, or a layer not read. Never affects the signature verdict. Use
    /// [`Discovery::attestations_complete`] / [`Discovery::attestations_incomplete_summary`].
    pub attestations_incomplete: Vec<Unread>,
    /// What this discovery read of each place, when it read everything (`None` when it is
    /// incomplete): what [`super::RegistryClient::recheck`] asks about next time.
    pub seen: Option<Seen>,
}

/// What a discovery searches besides signatures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// Also read the legacy cosign attestation tag `sha256-<hex>.att`: one more manifest
    /// request (and one blob per attestation). Off by default, so signature-only callers pay
    /// nothing; when off, the discovery's attestations are marked incomplete ("not searched"),
    /// so a caller that needs attestations and forgot to ask gets an indeterminate answer,
    /// never "none".
    pub legacy_attestations: bool,
    /// This discovery re-checks a verdict already given (not a first check): its manifest GETs
    /// past the registry's request budget are refused ([`super::RegistryError::Paused`]) rather
    /// than counted, so the verdict can be kept as overdue.
    pub within_budget: bool,
}

impl Discovery {
    /// True when nothing at all was found: no signature, no malformed signature object, and
    /// nothing left unread.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
            && self.legacy.is_empty()
            && self.notation.is_empty()
            && self.malformed.is_empty()
            && self.incomplete.is_empty()
            && self.attestations.is_empty()
            && self.legacy_attestations.is_empty()
            && self.attestations_malformed.is_empty()
    }

    /// True when every place attestations may be was read to its end: the referrers listing
    /// (shared with signatures) and the `.att` tag. From an incomplete set of attestations only
    /// a positive finding (a verified attestation that satisfies a requirement) may be
    /// concluded; "missing" or "failed" is indeterminate.
    pub fn attestations_complete(&self) -> bool {
        self.incomplete.is_empty() && self.attestations_incomplete.is_empty()
    }

    /// A one-line summary of why the attestations may be incomplete (bounded), `None` when
    /// [`Discovery::attestations_complete`].
    pub fn attestations_incomplete_summary(&self) -> Option<String> {
        let mut all = self.incomplete.iter().chain(&self.attestations_incomplete);
        let first = all.next()?;
        let more = all.count();
        Some(if more == 0 {
            format!("{}: {}", first.location, first.detail)
        } else {
            format!("{}: {} (and {more} more)", first.location, first.detail)
        })
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
        self.notation.extend(other.notation);
        self.malformed.extend(other.malformed);
        self.incomplete.extend(other.incomplete);
        self.attestations.extend(other.attestations);
        self.legacy_attestations.extend(other.legacy_attestations);
        self.attestations_malformed
            .extend(other.attestations_malformed);
        self.attestations_incomplete
            .extend(other.attestations_incomplete);
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

/// A Notary Project signature: the envelope layer of a referrer of artifact type
/// `application/vnd.cncf.notary.signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundNotation {
    /// Where it was found.
    pub location: SignatureLocation,
    /// Digest of the signature manifest.
    pub manifest_digest: String,
    /// The envelope media type (`application/jose+json` or `application/cose`).
    pub media_type: String,
    /// The envelope (digest-verified against the layer descriptor).
    pub envelope: Vec<u8>,
    /// `registry/repository` it was read from: the trust policy's registry scope.
    pub scope: String,
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

/// A legacy cosign attestation: one layer of the `sha256-<hex>.att` manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLegacyAttestation {
    /// Digest of the layer, i.e. of the envelope.
    pub layer_digest: String,
    /// The DSSE envelope JSON (digest-verified against the layer descriptor).
    pub envelope: Vec<u8>,
    /// Annotation `dev.sigstore.cosign/certificate` (PEM leaf).
    pub certificate_pem: Option<String>,
    /// Annotation `dev.sigstore.cosign/chain`.
    pub chain_pem: Option<String>,
    /// Annotation `dev.sigstore.cosign/bundle` (the Rekor SET bundle JSON).
    pub rekor_bundle_json: Option<String>,
    /// Annotation `dev.sigstore.cosign/rfc3161timestamp`.
    pub rfc3161_timestamp_json: Option<String>,
    /// Annotation `predicateType` (a hint only: the verified statement's type is what counts).
    pub predicate_type_hint: Option<String>,
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
    /// The legacy cosign attestation tag `sha256-<hex>.att`.
    #[serde(rename = "legacy-att-tag")]
    LegacyAttestationTag,
    /// A Helm chart's provenance file, `<package URL>.prov`, beside the package in an HTTP
    /// chart repository.
    HelmProv,
}

impl std::fmt::Display for SignatureLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureLocation::ReferrersApi => "referrers-api",
            SignatureLocation::ReferrersTag => "referrers-tag",
            SignatureLocation::LegacyTag => "legacy-tag",
            SignatureLocation::LegacyAttestationTag => "legacy-att-tag",
            SignatureLocation::HelmProv => "helm-prov",
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
