//! The certificates of a Notary Project signature: the signing chain checked as the Notary
//! Project signature specification (and notation-core-go, which source-controller runs) checks
//! it, the signer's key, and the leaf's subject as a distinguished name.
//!
//! A chain is leaf first and must end in a self-signed root; every certificate is issued by the
//! next; the root and intermediates are CAs (basic constraints CA, critical key usage with
//! keyCertSign, path length respected); the leaf is not a CA, has a critical key usage with
//! digitalSignature and none of the encipherment, agreement or signing-of-certificates bits,
//! an extended key usage (when present) without serverAuth, clientAuth, emailProtection,
//! timeStamping or OCSPSigning, and an RSA 2048/3072/4096 or ECDSA P-256/P-384/P-521 key. A
//! single certificate must be self-signed and satisfy the leaf rules. Trust is decided
//! elsewhere (a certificate of the chain must be in the trust store).

use std::collections::BTreeMap;

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::der::oid::db::{rfc4519, rfc5280, rfc5912};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;

/// The certificates a chain may hold at most (bounded work on hostile input).
pub const MAX_CHAIN: usize = 10;

/// One certificate, parsed once, with its DER.
#[derive(Clone)]
pub struct Cert {
    /// The DER bytes (what trust-store equality compares).
    pub der: Vec<u8>,
    pub(super) parsed: Certificate,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({})", self.subject())
    }
}

/// The key a signature is made with, as the Notary Project names its key specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// RSA of 2048, 3072 or 4096 bits (RSASSA-PSS with SHA-256, -384, -512).
    Rsa(u32),
    /// ECDSA on P-256, P-384 or P-521 (with SHA-256, -384, -512).
    Ec(u32),
}

impl KeySpec {
    /// The envelope algorithm this key signs with (JWS names: PS256 … ES512).
    pub fn algorithm(self) -> &'static str {
        match self {
            KeySpec::Rsa(2048) => "PS256",
            KeySpec::Rsa(3072) => "PS384",
            KeySpec::Rsa(_) => "PS512",
            KeySpec::Ec(256) => "ES256",
            KeySpec::Ec(384) => "ES384",
            KeySpec::Ec(_) => "ES512",
        }
    }
}

/// A signature scheme by padding and SHA-2 hash size, however a structure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// RSASSA-PKCS1-v1_5.
    Pkcs1(u16),
    /// RSASSA-PSS (salt length equal to the hash's).
    Pss(u16),
    /// ECDSA.
    Ecdsa(u16),
}

impl Scheme {
    /// The scheme of a certificate signature algorithm OID (SHA-2 with RSA or ECDSA).
    pub(super) fn of_signature_oid(oid: ObjectIdentifier) -> Option<Self> {
        Some(match oid {
            o if o == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Scheme::Pkcs1(256),
            o if o == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Scheme::Pkcs1(384),
            o if o == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => Scheme::Pkcs1(512),
            o if o == rfc5912::ECDSA_WITH_SHA_256 => Scheme::Ecdsa(256),
            o if o == rfc5912::ECDSA_WITH_SHA_384 => Scheme::Ecdsa(384),
            o if o == rfc5912::ECDSA_WITH_SHA_512 => Scheme::Ecdsa(512),
            _ => return None,
        })
    }
}

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let parsed =
            Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Every certificate of a PEM file (`*.crt` / `*.pem`), or one DER certificate.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Vec<Self>, String> {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN"));
        let Some(text) = text else {
            return Ok(vec![Self::from_der(bytes)?]);
        };
        use rustls_pki_types::pem::PemObject as _;
        let certs: Vec<Self> = rustls_pki_types::CertificateDer::pem_slice_iter(text.as_bytes())
            .map(|c| {
                c.map_err(|e| format!("not PEM: {e}"))
                    .and_then(|c| Self::from_der(c.as_ref()))
            })
            .collect::<Result<_, _>>()?;
        if certs.is_empty() {
            return Err("no CERTIFICATE block".into());
        }
        Ok(certs)
    }

    /// The subject in RFC 4514 form, for messages.
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate.subject.to_string()
    }

    /// Validity as Unix seconds `(not_before, not_after)`.
    pub fn validity(&self) -> (i64, i64) {
        let v = &self.parsed.tbs_certificate.validity;
        let secs = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        (secs(&v.not_before), secs(&v.not_after))
    }

    /// Whether the certificate names an OCSP responder or CRL distribution point (revocation
    /// that only a network check could answer).
    pub fn has_revocation_endpoints(&self) -> bool {
        self.extension(rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS)
            .is_some()
            || self
                .extension(rfc5280::ID_PE_AUTHORITY_INFO_ACCESS)
                .is_some()
    }

    /// The subject's attributes by their short names (`C`, `ST`, `O`, `CN`, …), as the
    /// Notary Project compares `x509.subject` identities. A repeated attribute is an error
    /// (notation rejects such a subject too).
    pub fn subject_attributes(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for rdn in self.parsed.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                let key = short_name(&atv.oid);
                let value = directory_string(&atv.value)
                    .ok_or_else(|| format!("subject attribute {key} is not a string"))?;
                if out.insert(key.clone(), value).is_some() {
                    return Err(format!("subject has attribute {key} more than once"));
                }
            }
        }
        Ok(out)
    }

    /// The key spec of the certificate's public key, when the Notary Project supports it.
    pub fn key_spec(&self) -> Result<KeySpec, String> {
        let spki = &self.parsed.tbs_certificate.subject_public_key_info;
        let alg = spki.algorithm.oid;
        if alg == rfc5912::RSA_ENCRYPTION {
            let bits =
                rsa_modulus_bits(self.public_key_bits()).ok_or("RSA public key does not parse")?;
            return match bits {
                2048 | 3072 | 4096 => Ok(KeySpec::Rsa(bits)),
                b => Err(format!(
                    "RSA key of {b} bits is not supported (2048, 3072, 4096)"
                )),
            };
        }
        if alg == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or("EC key without a named curve")?;
            return match curve {
                c if c == rfc5912::SECP_256_R_1 => Ok(KeySpec::Ec(256)),
                c if c == rfc5912::SECP_384_R_1 => Ok(KeySpec::Ec(384)),
                c if c == rfc5912::SECP_521_R_1 => Ok(KeySpec::Ec(521)),
                c => Err(format!("EC curve {c} is not supported")),
            };
        }
        Err(format!("public key algorithm {alg} is not supported"))
    }

    /// Verifies an envelope signature (`alg` as in JWS) over `message` with this key.
    pub fn verify_envelope_signature(
        &self,
        alg: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let algorithm: &'static dyn VerificationAlgorithm = match alg {
            "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
            "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
            "PS512" => &sig::RSA_PSS_2048_8192_SHA512,
            "ES256" => &sig::ECDSA_P256_SHA256_FIXED,
            "ES384" => &sig::ECDSA_P384_SHA384_FIXED,
            "ES512" => &sig::ECDSA_P521_SHA512_FIXED,
            other => return Err(format!("signature algorithm {other:?} is not supported")),
        };
        UnparsedPublicKey::new(algorithm, self.public_key_bits())
            .verify(message, signature)
            .map_err(|_| "the signature does not verify with the signing certificate's key".into())
    }

    pub(super) fn public_key_bits(&self) -> &[u8] {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    pub(super) fn extension(&self, oid: ObjectIdentifier) -> Option<&x509_cert::ext::Extension> {
        self.parsed
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
    }

    pub(super) fn basic_constraints(&self) -> Result<Option<BasicConstraints>, String> {
        self.extension(rfc5280::ID_CE_BASIC_CONSTRAINTS)
            .map(|e| BasicConstraints::from_der(e.extn_value.as_bytes()))
            .transpose()
            .map_err(|e| format!("{}: basic constraints do not parse: {e}", self.subject()))
    }

    /// The key usage, requiring the extension to be present and critical (the spec's rule).
    fn critical_key_usage(&self) -> Result<KeyUsage, String> {
        let ext = self
            .extension(rfc5280::ID_CE_KEY_USAGE)
            .ok_or_else(|| format!("{}: key usage extension must be present", self.subject()))?;
        if !ext.critical {
            return Err(format!(
                "{}: key usage extension must be marked critical",
                self.subject()
            ));
        }
        KeyUsage::from_der(ext.extn_value.as_bytes())
            .map_err(|e| format!("{}: key usage does not parse: {e}", self.subject()))
    }

    pub(super) fn is_ca(&self) -> Result<bool, String> {
        Ok(self.basic_constraints()?.is_some_and(|b| b.ca))
    }

    /// Whether `issuer` signed this certificate and is named as its issuer (Go's
    /// `CheckSignatureFrom`: the issuer must be a CA allowed to sign certificates).
    pub(super) fn issued_by(&self, issuer: &Cert) -> Result<(), String> {
        if self.parsed.tbs_certificate.issuer != issuer.parsed.tbs_certificate.subject {
            return Err(format!(
                "{} is not issued by {}",
                self.subject(),
                issuer.subject()
            ));
        }
        if !issuer.is_ca()? {
            return Err(format!(
                "{} signed {} but is not a CA",
                issuer.subject(),
                self.subject()
            ));
        }
        if let Some(e) = issuer.extension(rfc5280::ID_CE_KEY_USAGE) {
            let ku = KeyUsage::from_der(e.extn_value.as_bytes())
                .map_err(|e| format!("{}: key usage does not parse: {e}", issuer.subject()))?;
            if !ku.0.contains(KeyUsages::KeyCertSign) {
                return Err(format!(
                    "{} may not sign certificates (no keyCertSign)",
                    issuer.subject()
                ));
            }
        }
        self.signature_by(issuer)
    }

    /// Verifies this certificate's own signature with `signer`'s key.
    pub(super) fn signature_by(&self, signer: &Cert) -> Result<(), String> {
        let tbs = self
            .parsed
            .tbs_certificate
            .to_der()
            .map_err(|e| format!("{}: {e}", self.subject()))?;
        let oid = self.parsed.signature_algorithm.oid;
        let scheme = Scheme::of_signature_oid(oid).ok_or_else(|| {
            format!(
                "{}: certificate signature algorithm {oid} is not supported",
                self.subject()
            )
        })?;
        let signature = self
            .parsed
            .signature
            .as_bytes()
            .ok_or_else(|| format!("{}: signature is not whole bytes", self.subject()))?;
        signer
            .verify_with(scheme, &tbs, signature)
            .map_err(|e| format!("the signature on {}: {e}", self.subject()))
    }

    /// Verifies a signature (`scheme`, ASN.1 ECDSA signatures) over `message` with this
    /// certificate's key; the key must fit the scheme (RSA for PKCS#1 and PSS, ECDSA on P-256,
    /// P-384 or P-521 for ECDSA).
    pub(super) fn verify_with(
        &self,
        scheme: Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let ec_bits = match self.key_spec() {
            Ok(KeySpec::Ec(b)) => b,
            _ => 0,
        };
        let algorithm: &'static dyn VerificationAlgorithm = match (scheme, ec_bits) {
            (Scheme::Pkcs1(256), 0) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (Scheme::Pkcs1(384), 0) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (Scheme::Pkcs1(512), 0) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (Scheme::Pss(256), 0) => &sig::RSA_PSS_2048_8192_SHA256,
            (Scheme::Pss(384), 0) => &sig::RSA_PSS_2048_8192_SHA384,
            (Scheme::Pss(512), 0) => &sig::RSA_PSS_2048_8192_SHA512,
            (Scheme::Ecdsa(256), 256) => &sig::ECDSA_P256_SHA256_ASN1,
            (Scheme::Ecdsa(384), 256) => &sig::ECDSA_P256_SHA384_ASN1,
            (Scheme::Ecdsa(512), 256) => &sig::ECDSA_P256_SHA512_ASN1,
            (Scheme::Ecdsa(256), 384) => &sig::ECDSA_P384_SHA256_ASN1,
            (Scheme::Ecdsa(384), 384) => &sig::ECDSA_P384_SHA384_ASN1,
            (Scheme::Ecdsa(512), 384) => &sig::ECDSA_P384_SHA512_ASN1,
            (Scheme::Ecdsa(256), 521) => &sig::ECDSA_P521_SHA256_ASN1,
            (Scheme::Ecdsa(384), 521) => &sig::ECDSA_P521_SHA384_ASN1,
            (Scheme::Ecdsa(512), 521) => &sig::ECDSA_P521_SHA512_ASN1,
            _ => {
                return Err(format!(
                    "{scheme:?} does not fit the key of {}",
                    self.subject()
                ))
            }
        };
        UnparsedPublicKey::new(algorithm, self.public_key_bits())
            .verify(message, signature)
            .map_err(|_| format!("does not verify with the key of {}", self.subject()))
    }

    fn leaf_rules(&self) -> Result<(), String> {
        if self.is_ca()? {
            return Err(format!(
                "{}: the signing certificate must not be a CA (basic constraints)",
                self.subject()
            ));
        }
        let ku = self.critical_key_usage()?;
        if !ku.0.contains(KeyUsages::DigitalSignature) {
            return Err(format!(
                "{}: key usage must include digitalSignature",
                self.subject()
            ));
        }
        let forbidden = [
            (KeyUsages::KeyEncipherment, "keyEncipherment"),
            (KeyUsages::DataEncipherment, "dataEncipherment"),
            (KeyUsages::KeyAgreement, "keyAgreement"),
            (KeyUsages::KeyCertSign, "keyCertSign"),
            (KeyUsages::CRLSign, "cRLSign"),
            (KeyUsages::EncipherOnly, "encipherOnly"),
            (KeyUsages::DecipherOnly, "decipherOnly"),
        ];
        let found: Vec<&str> = forbidden
            .iter()
            .filter(|(bit, _)| ku.0.contains(*bit))
            .map(|(_, n)| *n)
            .collect();
        if !found.is_empty() {
            return Err(format!(
                "{}: key usage must be digitalSignature only, found {}",
                self.subject(),
                found.join(", ")
            ));
        }
        if let Some(e) = self.extension(rfc5280::ID_CE_EXT_KEY_USAGE) {
            let eku = ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).map_err(|e| {
                format!("{}: extended key usage does not parse: {e}", self.subject())
            })?;
            let excluded = [
                (rfc5280::ID_KP_SERVER_AUTH, "serverAuth"),
                (rfc5280::ID_KP_CLIENT_AUTH, "clientAuth"),
                (rfc5280::ID_KP_EMAIL_PROTECTION, "emailProtection"),
                (rfc5280::ID_KP_TIME_STAMPING, "timeStamping"),
                (rfc5280::ID_KP_OCSP_SIGNING, "OCSPSigning"),
            ];
            for (oid, name) in excluded {
                if eku.0.contains(&oid) {
                    return Err(format!(
                        "{}: extended key usage must not contain {name}",
                        self.subject()
                    ));
                }
            }
        }
        self.key_spec()
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.subject()))
    }

    fn ca_rules(&self, expected_path_len: usize) -> Result<(), String> {
        let bc = self.basic_constraints()?.filter(|b| b.ca).ok_or_else(|| {
            format!(
                "{}: a CA certificate needs basic constraints with CA set",
                self.subject()
            )
        })?;
        if let Some(max) = bc.path_len_constraint {
            if (max as usize) < expected_path_len {
                return Err(format!(
                    "{}: path length {max} is shorter than the chain below it ({expected_path_len})",
                    self.subject()
                ));
            }
        }
        let ku = self.critical_key_usage()?;
        if !ku.0.contains(KeyUsages::KeyCertSign) {
            return Err(format!(
                "{}: a CA's key usage must include keyCertSign",
                self.subject()
            ));
        }
        Ok(())
    }
}

/// Checks a signing chain (leaf first) by the Notary Project's rules, without time: validity
/// at the time of verification or of a timestamp is the authentic-timestamp check.
pub fn validate_code_signing_chain(chain: &[Cert]) -> Result<(), String> {
    match chain {
        [] => Err("the certificate chain is empty".into()),
        _ if chain.len() > MAX_CHAIN => Err(format!(
            "the certificate chain has {} certificates (at most {MAX_CHAIN})",
            chain.len()
        )),
        [only] => {
            only.signature_by(only)
                .map_err(|e| format!("invalid self-signed certificate: {e}"))?;
            if only.parsed.tbs_certificate.issuer != only.parsed.tbs_certificate.subject {
                return Err(format!(
                    "{}: a single certificate must be self-signed (issuer and subject differ)",
                    only.subject()
                ));
            }
            only.leaf_rules()
        }
        _ => {
            let last = chain.len() - 1;
            for (i, cert) in chain.iter().enumerate() {
                if i == last {
                    cert.issued_by(cert).map_err(|e| {
                        format!("the chain must end with a valid self-signed root: {e}")
                    })?;
                } else {
                    if cert.issued_by(cert).is_ok() {
                        return Err(format!(
                            "{}: only the last certificate of the chain may be self-signed",
                            cert.subject()
                        ));
                    }
                    cert.issued_by(&chain[i + 1])?;
                }
                if i == 0 {
                    cert.leaf_rules()?;
                } else {
                    cert.ca_rules(i - 1)?;
                }
            }
            Ok(())
        }
    }
}

fn short_name(oid: &ObjectIdentifier) -> String {
    let known = [
        (rfc4519::CN, "CN"),
        (rfc4519::C, "C"),
        (rfc4519::ST, "ST"),
        (rfc4519::L, "L"),
        (rfc4519::O, "O"),
        (rfc4519::OU, "OU"),
        (rfc4519::SERIAL_NUMBER, "SERIALNUMBER"),
        (rfc4519::STREET, "STREET"),
        (rfc4519::POSTAL_CODE, "POSTALCODE"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| oid.to_string())
}

fn directory_string(any: &x509_cert::der::Any) -> Option<String> {
    if let Ok(s) = Utf8StringRef::try_from(any) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = PrintableStringRef::try_from(any) {
        return Some(s.as_str().to_string());
    }
    Ia5StringRef::try_from(any)
        .ok()
        .map(|s| s.as_str().to_string())
}

/// The bit length of an RSA modulus from a PKCS#1 `RSAPublicKey`.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<u32> {
    use x509_cert::der::asn1::UintRef;
    use x509_cert::der::{Reader as _, SliceReader};
    let mut reader = SliceReader::new(pkcs1).ok()?;
    let modulus = reader
        .sequence(|seq| {
            let m = UintRef::decode(seq)?;
            UintRef::decode(seq)?;
            Ok(m.as_bytes().to_vec())
        })
        .ok()?;
    let first = *modulus.first()?;
    Some((modulus.len() as u32 - 1) * 8 + (8 - first.leading_zeros()))
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
