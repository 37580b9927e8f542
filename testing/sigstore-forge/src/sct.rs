//! Embedded Signed Certificate Timestamps (RFC 6962 §3.3), as Fulcio gets them from its CT log.
//!
//! The CT log signs the *precertificate* TBS: the final TBS with the SCT-list extension removed.
//! Verifiers (sigstore-verify, certificate-transparency-go under cosign) rebuild it by parsing the
//! final certificate, dropping that extension and re-encoding, so we compute it the same way:
//! issue the certificate once without the extension, re-encode its TBS with `x509-cert`, sign,
//! then issue it again with the SCT list as the last extension (rcgen writes custom extensions
//! last, and everything else, serial included, is fixed by the parameters).

use crate::Result;
use der::{Decode, Encode};
use rcgen::{CertificateParams, CustomExtension, Issuer, KeyPair, PublicKeyData, SigningKey};
use sha2::{Digest, Sha256};

/// OID of the X.509 extension holding the SCT list.
const SCT_LIST_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// Issues `params` for `subject_key`, signed by `issuer`, with an SCT from `ct_key` embedded.
pub(crate) fn issue_with_sct(
    params: &CertificateParams,
    subject_key: &KeyPair,
    issuer: &Issuer<'_, impl SigningKey>,
    issuer_spki: &[u8],
    ct_key: &KeyPair,
    timestamp_ms: u64,
) -> Result<rcgen::Certificate> {
    let precert = params.signed_by(subject_key, issuer)?;
    let parsed = x509_cert::Certificate::from_der(precert.der())?;
    let tbs = parsed.tbs_certificate.to_der()?;

    let issuer_key_hash = Sha256::digest(issuer_spki);
    let mut signed = vec![0u8, 0u8]; // version v1, signature_type certificate_timestamp
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    signed.extend_from_slice(&issuer_key_hash);
    push_len(&mut signed, tbs.len(), 3);
    signed.extend_from_slice(&tbs);
    signed.extend_from_slice(&0u16.to_be_bytes()); // no CT extensions
    let signature = ct_key.sign(&signed)?;

    let log_id = Sha256::digest(ct_key.subject_public_key_info());
    let mut sct = vec![0u8]; // version v1
    sct.extend_from_slice(&log_id);
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes()); // extensions
    sct.extend_from_slice(&[4, 3]); // SHA-256, ECDSA
    push_len(&mut sct, signature.len(), 2);
    sct.extend_from_slice(&signature);

    let mut list = Vec::new();
    push_len(&mut list, sct.len() + 2, 2);
    push_len(&mut list, sct.len(), 2);
    list.extend_from_slice(&sct);
    // The extension value is an OCTET STRING wrapping the TLS-encoded list.
    let content = der::asn1::OctetString::new(list)?.to_der()?;

    let mut with_sct = params.clone();
    with_sct
        .custom_extensions
        .push(CustomExtension::from_oid_content(SCT_LIST_OID, content));
    Ok(with_sct.signed_by(subject_key, issuer)?)
}

/// Appends `len` big-endian in `width` bytes (TLS vector length prefix).
fn push_len(out: &mut Vec<u8>, len: usize, width: usize) {
    let bytes = (len as u64).to_be_bytes();
    out.extend_from_slice(&bytes[8 - width..]);
}
