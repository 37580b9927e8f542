//! Sigstore bundles (cosign v3's default image signature format) into [`Candidate`]s.
//!
//! cosign v3 signs an image by wrapping an in-toto statement about the image digest, of
//! predicate type `https://sigstore.dev/cosign/sign/v1`, in a DSSE envelope. The library checks
//! the statement's subject against the digest; the predicate type is ours to check, or any
//! other attestation about the same digest would pass as a signature.

use sigstore_verify::types::bundle::VerificationMaterialContent;
use sigstore_verify::types::{Bundle, SignatureContent, Statement};

use super::candidate::{
    log_entry_of, Candidate, Claims, Material, SignedInput, Unreadable, COSIGN_SIGN_PREDICATE,
};
use super::evidence::SignatureFormat;
use crate::registry::FoundBundle;

pub(crate) const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Converts a bundle found in the registry.
pub fn candidate(found: &FoundBundle) -> Result<Candidate, Unreadable> {
    convert(found, true)
}

/// Converts a bundle attestation: like [`candidate`], but any predicate type is accepted (the
/// statement's type is reported, not required).
pub(crate) fn attestation_candidate(found: &FoundBundle) -> Result<Candidate, Unreadable> {
    convert(found, false)
}

fn convert(found: &FoundBundle, signature: bool) -> Result<Candidate, Unreadable> {
    let bad = |detail: String| Unreadable {
        location: found.location,
        format: SignatureFormat::Bundle,
        // Library and serde errors quote the registry's bytes: bounded (issue 9).
        detail: crate::registry::bounded::cap(detail),
    };
    let text = std::str::from_utf8(&found.bytes).map_err(|_| bad("bundle is not UTF-8".into()))?;
    let bundle = Bundle::from_json(text).map_err(|e| bad(format!("bundle does not parse: {e}")))?;
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err(bad(
            "bundle holds a message signature, not a cosign image signature (DSSE)".into(),
        ));
    };
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(bad(format!(
            "DSSE payload type {:?} is not an in-toto statement",
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes())
        .map_err(|e| bad(format!("in-toto statement does not parse: {e}")))?;
    let digests = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.sha256.as_ref())
        .map(|h| format!("sha256:{}", h.to_hex()))
        .collect();
    let kind = if !signature || statement.predicate_type == COSIGN_SIGN_PREDICATE {
        Ok(())
    } else {
        Err(format!(
            "statement of predicate type {:?} is not a cosign signature ({COSIGN_SIGN_PREDICATE})",
            statement.predicate_type
        ))
    };
    let material = match &bundle.verification_material.content {
        VerificationMaterialContent::Certificate(c) => Material::Certificate(c.raw_bytes.clone()),
        VerificationMaterialContent::X509CertificateChain { certificates } => {
            match certificates.first() {
                Some(leaf) => Material::Certificate(leaf.raw_bytes.clone()),
                None => return Err(bad("bundle has an empty certificate chain".into())),
            }
        }
        VerificationMaterialContent::PublicKey(k) => Material::Key {
            hint: (!k.hint.is_empty()).then(|| k.hint.clone()),
        },
        _ => return Err(bad("bundle has no certificate or public key".into())),
    };
    Ok(Candidate {
        location: found.location,
        format: SignatureFormat::Bundle,
        material,
        input: SignedInput::ArtifactDigest,
        signed_bytes: envelope.pae(),
        signature: envelope.signature.sig.clone(),
        claims: Claims { digests, kind },
        tlog: log_entry_of(&bundle),
        bundle: Ok(bundle),
    })
}
