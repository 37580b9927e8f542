//! The certificate chain of a timestamp authority, as notation-go checks it: built from the TSA
//! signing certificate through the certificates the token carries to a certificate of the
//! statement's `tsa` trust store (Go's `x509.Certificate.Verify` at the timestamp's `genTime`,
//! with the timeStamping extended key usage), then checked by the Notary Project's timestamping
//! rules (notation-core-go's `ValidateTimestampingCertChain`).
//!
//! The rules: leaf first, each certificate issued by the next, ending in a self-signed root; a
//! single certificate must be self-signed. The leaf is not a CA, has a key usage (critical or
//! not) with digitalSignature and none of the encipherment, agreement or certificate/CRL signing
//! bits, exactly one extended key usage, timeStamping, marked critical, and a supported key
//! (RSA 2048/3072/4096, ECDSA P-256/P-384/P-521). CAs have basic constraints CA (path length
//! respected) and a key usage with keyCertSign. Every certificate is valid at `genTime`, and an
//! intermediate's extended key usage, when present, allows timeStamping.

use x509_cert::der::oid::db::rfc5280;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};

use super::certs::{Cert, MAX_CHAIN};

/// `anyExtendedKeyUsage` (RFC 5280 4.2.1.12).
const ANY_EKU: x509_cert::der::oid::ObjectIdentifier =
    x509_cert::der::oid::ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// Why a TSA chain is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChainError {
    /// It reaches no certificate of the trust store, or a certificate is not valid at `genTime`.
    Untrusted(String),
    /// It breaks the timestamping certificate rules.
    Invalid(String),
}

/// Builds and checks the chain of `leaf` (a certificate of the token) through `carried` (the
/// token's certificates) to one of `trusted`, valid at `at` (Unix seconds). Leaf first.
pub(super) fn verify(
    leaf: &Cert,
    carried: &[Cert],
    trusted: &[Cert],
    at: i64,
) -> Result<Vec<Cert>, ChainError> {
    let chain = build(leaf, carried, trusted)?;
    for (i, c) in chain.iter().enumerate() {
        let (from, to) = c.validity();
        if at < from || at > to {
            return Err(ChainError::Untrusted(format!(
                "TSA certificate {} is not valid at the timestamp's time",
                c.subject()
            )));
        }
        if i > 0 {
            intermediate_allows_time_stamping(c).map_err(ChainError::Invalid)?;
        }
    }
    rules(&chain).map_err(ChainError::Invalid)?;
    Ok(chain)
}

fn build(leaf: &Cert, carried: &[Cert], trusted: &[Cert]) -> Result<Vec<Cert>, ChainError> {
    let in_store = |c: &Cert| trusted.iter().any(|t| t.der == c.der);
    let mut chain = vec![leaf.clone()];
    while chain.len() <= MAX_CHAIN {
        let last = chain.last().expect("the chain starts with the leaf");
        if in_store(last) {
            return Ok(chain);
        }
        if let Some(anchor) = trusted.iter().find(|t| last.issued_by(t).is_ok()) {
            chain.push(anchor.clone());
            return Ok(chain);
        }
        let next = carried
            .iter()
            .find(|c| !chain.iter().any(|k| k.der == c.der) && last.issued_by(c).is_ok());
        match next {
            Some(c) => chain.push(c.clone()),
            None => break,
        }
    }
    Err(ChainError::Untrusted(format!(
        "the TSA certificate {} does not chain to a certificate of the tsa trust store",
        leaf.subject()
    )))
}

fn intermediate_allows_time_stamping(c: &Cert) -> Result<(), String> {
    let Some(eku) = extended_key_usage(c)? else {
        return Ok(());
    };
    if eku
        .0
        .iter()
        .any(|o| *o == rfc5280::ID_KP_TIME_STAMPING || *o == ANY_EKU)
    {
        return Ok(());
    }
    Err(format!(
        "{}: its extended key usage does not allow timeStamping",
        c.subject()
    ))
}

fn extended_key_usage(c: &Cert) -> Result<Option<ExtendedKeyUsage>, String> {
    c.extension(rfc5280::ID_CE_EXT_KEY_USAGE)
        .map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()))
        .transpose()
        .map_err(|e| format!("{}: extended key usage does not parse: {e}", c.subject()))
}

fn key_usage(c: &Cert) -> Result<KeyUsage, String> {
    let ext = c
        .extension(rfc5280::ID_CE_KEY_USAGE)
        .ok_or_else(|| format!("{}: key usage extension must be present", c.subject()))?;
    KeyUsage::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("{}: key usage does not parse: {e}", c.subject()))
}

/// notation-core-go's timestamping chain rules.
fn rules(chain: &[Cert]) -> Result<(), String> {
    let same_name = |c: &Cert| c.parsed.tbs_certificate.issuer == c.parsed.tbs_certificate.subject;
    if let [only] = chain {
        only.signature_by(only)
            .map_err(|e| format!("invalid self-signed TSA certificate: {e}"))?;
        if !same_name(only) {
            return Err(format!(
                "{}: a single TSA certificate must be self-signed",
                only.subject()
            ));
        }
        return leaf_rules(only);
    }
    let last = chain.len() - 1;
    for (i, c) in chain.iter().enumerate() {
        if i == last {
            c.issued_by(c).map_err(|e| {
                format!("the TSA chain must end with a valid self-signed root: {e}")
            })?;
        } else {
            if c.issued_by(c).is_ok() {
                return Err(format!(
                    "{}: only the last certificate of the TSA chain may be self-signed",
                    c.subject()
                ));
            }
            c.issued_by(&chain[i + 1])?;
        }
        if i == 0 {
            leaf_rules(c)?;
        } else {
            ca_rules(c, i - 1)?;
        }
    }
    Ok(())
}

fn leaf_rules(c: &Cert) -> Result<(), String> {
    if c.is_ca()? {
        return Err(format!(
            "{}: the TSA signing certificate must not be a CA",
            c.subject()
        ));
    }
    let ku = key_usage(c)?;
    if !ku.0.contains(KeyUsages::DigitalSignature) {
        return Err(format!(
            "{}: key usage must include digitalSignature",
            c.subject()
        ));
    }
    let forbidden = KeyUsages::KeyEncipherment
        | KeyUsages::DataEncipherment
        | KeyUsages::KeyAgreement
        | KeyUsages::KeyCertSign
        | KeyUsages::CRLSign
        | KeyUsages::EncipherOnly
        | KeyUsages::DecipherOnly;
    if !(ku.0 & forbidden).is_empty() {
        return Err(format!(
            "{}: key usage must be digitalSignature only",
            c.subject()
        ));
    }
    time_stamping_only(c)?;
    c.key_spec()
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", c.subject()))
}

/// RFC 3161 2.3: exactly one extended key usage, timeStamping, in a critical extension.
pub(super) fn time_stamping_only(c: &Cert) -> Result<(), String> {
    let ext = c.extension(rfc5280::ID_CE_EXT_KEY_USAGE);
    let eku = extended_key_usage(c)?;
    let only = eku
        .as_ref()
        .is_some_and(|e| e.0.len() == 1 && e.0[0] == rfc5280::ID_KP_TIME_STAMPING);
    if !only {
        return Err(format!(
            "{}: the TSA certificate must have timeStamping as its only extended key usage",
            c.subject()
        ));
    }
    if !ext.is_some_and(|e| e.critical) {
        return Err(format!(
            "{}: the TSA certificate's extended key usage must be marked critical",
            c.subject()
        ));
    }
    Ok(())
}

fn ca_rules(c: &Cert, expected_path_len: usize) -> Result<(), String> {
    let bc = c.basic_constraints()?.filter(|b| b.ca).ok_or_else(|| {
        format!(
            "{}: a CA certificate needs basic constraints with CA set",
            c.subject()
        )
    })?;
    if let Some(max) = bc.path_len_constraint {
        if (max as usize) < expected_path_len {
            return Err(format!(
                "{}: path length {max} is shorter than the chain below it ({expected_path_len})",
                c.subject()
            ));
        }
    }
    if !key_usage(c)?.0.contains(KeyUsages::KeyCertSign) {
        return Err(format!(
            "{}: a CA's key usage must include keyCertSign",
            c.subject()
        ));
    }
    Ok(())
}
