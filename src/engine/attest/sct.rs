//! The embedded SCT of a Fulcio certificate (RFC 6962 §3.2, precertificate entry), for the
//! hand-made `intoto` 0.0.1 check ([`super::intoto`]): the library's own SCT check is not public.
//! Same rule as the library: exactly one SCT, signed by a CT log of the trust root whose key
//! was valid when the SCT was issued, over the precertificate (the TBS certificate without its
//! SCT list) and the issuer's key hash.

use sha2::{Digest, Sha256};
use sigstore_verify::crypto::{verify_signature, SigningScheme};
use sigstore_verify::types::SignatureBytes;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::sct::{HashAlgorithm, SignatureAlgorithm, Version};
use x509_cert::ext::pkix::SignedCertificateTimestampList;
use x509_cert::Certificate;

use crate::engine::TrustRoot;

/// OID of the embedded SCT list extension, 1.3.6.1.4.1.11129.2.4.2.
const CT_PRECERT_SCTS: x509_cert::der::oid::ObjectIdentifier =
    x509_cert::der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Checks the leaf's SCT against the trust root's CT logs; `issuer_spki` is the DER
/// SubjectPublicKeyInfo of the certificate that verifiably issued the leaf.
pub(crate) fn verify(leaf_der: &[u8], issuer_spki: &[u8], trust: &TrustRoot) -> Result<(), String> {
    let cert = Certificate::from_der(leaf_der).map_err(|_| "certificate does not parse")?;
    let list: SignedCertificateTimestampList = match cert.tbs_certificate.get() {
        Ok(Some((_, list))) => list,
        _ => return Err("the certificate carries no SCT".into()),
    };
    let scts = list
        .parse_timestamps()
        .map_err(|_| "the certificate's SCT list does not parse")?;
    let [one] = scts.as_slice() else {
        return Err(format!(
            "the certificate carries {} SCTs, not exactly one",
            scts.len()
        ));
    };
    let sct = one
        .parse_timestamp()
        .map_err(|_| "the certificate's SCT does not parse")?;
    let Version::V1 = sct.version;
    let scheme = match (
        sct.signature.algorithm.hash,
        sct.signature.algorithm.signature,
    ) {
        (HashAlgorithm::Sha256, SignatureAlgorithm::Ecdsa) => SigningScheme::EcdsaP256Sha256,
        (HashAlgorithm::Sha384, SignatureAlgorithm::Ecdsa) => SigningScheme::EcdsaP384Sha384,
        (HashAlgorithm::Sha256, SignatureAlgorithm::Rsa) => SigningScheme::RsaPkcs1Sha256,
        (HashAlgorithm::Sha384, SignatureAlgorithm::Rsa) => SigningScheme::RsaPkcs1Sha384,
        _ => return Err("the SCT uses an unsupported signature algorithm".into()),
    };
    let issued = i64::try_from(sct.timestamp / 1000).map_err(|_| "SCT timestamp out of range")?;
    let keys: Vec<_> = trust
        .trusted_root()
        .ctlogs
        .iter()
        .filter(|l| l.log_id.key_id.as_bytes() == sct.log_id.key_id.as_slice())
        .filter(|l| {
            l.public_key.valid_for.is_none_or(|r| {
                r.start.as_second() <= issued && r.end.is_none_or(|e| issued <= e.as_second())
            })
        })
        .map(|l| l.public_key.raw_bytes.clone())
        .collect();
    if keys.is_empty() {
        return Err("the SCT is from a CT log the trust root does not name (at its time)".into());
    }
    // The precertificate: the TBS certificate without the SCT list.
    let mut tbs = cert.tbs_certificate.clone();
    tbs.extensions = tbs.extensions.map(|exts| {
        exts.into_iter()
            .filter(|e| e.extn_id != CT_PRECERT_SCTS)
            .collect()
    });
    let tbs = tbs
        .to_der()
        .map_err(|_| "cannot encode the precertificate")?;
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or("precertificate too large")?;
    let extensions = sct.extensions.as_slice();
    let ext_len = u16::try_from(extensions.len()).map_err(|_| "SCT extensions too large")?;
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&sct.timestamp.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(&Sha256::digest(issuer_spki));
    signed.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs);
    signed.extend_from_slice(&ext_len.to_be_bytes());
    signed.extend_from_slice(extensions);
    let signature = SignatureBytes::new(sct.signature.signature.as_slice().to_vec());
    if keys
        .iter()
        .any(|k| verify_signature(k, &signed, &signature, scheme).is_ok())
    {
        Ok(())
    } else {
        Err("the SCT's signature does not verify with the CT log's key".into())
    }
}
