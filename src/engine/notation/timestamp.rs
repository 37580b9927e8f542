//! The RFC 3161 timestamp countersignature of a Notary Project signature
//! (`io.cncf.notary.timestampSignature`), verified as notation-go verifies it (tspclient-go):
//! a CMS `SignedData` (DER) holding a `TSTInfo` (version 1) whose messageImprint is the hash
//! (SHA-256/384/512, as it names) of the envelope's signature bytes; one signer (version 1) whose
//! certificate the `SigningCertificateV2` attribute identifies by hash, whose chain reaches the
//! `tsa` trust store at `genTime` ([`super::tsa_chain`]), whose signed attributes carry the
//! content type and the digest of the `TSTInfo`, and whose signature verifies. The answer is the
//! time range the TSA vouches for: `genTime` ± its accuracy (1 s for the ETSI baseline policy
//! when it states none).
//!
//! Bounded: the token's size, its certificates and its signers are capped, and nothing here
//! panics on hostile DER (see the tests' mutations).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString, OctetStringRef};
use der::{Any, Decode, Encode, Sequence, Tagged as _};
use sha2::Digest as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::certs::{Cert, Scheme, MAX_CHAIN};
use super::tsa_chain::{self, ChainError};
use crate::engine::Verdict;

/// Largest timestamp token accepted (a real one with its chain is a few KiB).
pub const MAX_TOKEN_BYTES: usize = 64 << 10;
/// Most signers a token may have (tspclient-go tries each; one is the norm).
const MAX_SIGNERS: usize = 4;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const BASELINE_TIMESTAMP_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// What an authentic timestamp vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// `genTime`, microseconds since the epoch.
    pub gen_time_us: i64,
    /// The accuracy, microseconds: the signing happened within `genTime` ± this.
    pub accuracy_us: i64,
    /// The TSA signing certificate's subject.
    pub tsa: String,
}

impl Timestamp {
    /// Whether the whole range `genTime` ± accuracy lies within `[from, to]` (Unix seconds):
    /// notation-go's `BoundedAfter(notBefore)` and `BoundedBefore(notAfter)`.
    pub fn within(&self, from: i64, to: i64) -> bool {
        let (lo, hi) = (
            self.gen_time_us.saturating_sub(self.accuracy_us),
            self.gen_time_us.saturating_add(self.accuracy_us),
        );
        lo >= from.saturating_mul(1_000_000) && hi <= to.saturating_mul(1_000_000)
    }
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence, Default)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u32>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    /// Kept raw: DER GeneralizedTime may carry fractional seconds, which `der` refuses.
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<Any>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

#[derive(Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial: x509_cert::serial_number::SerialNumber,
}

#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

type Failed = (Verdict, String);

fn invalid(m: impl Into<String>) -> Failed {
    (
        Verdict::SignatureInvalid,
        format!("the timestamp countersignature is invalid: {}", m.into()),
    )
}

/// Verifies the countersignature `token` over the envelope's `signature` against the `tsa`
/// trust store's certificates (`trusted`). A forged, malformed or mismatched token is
/// `SignatureInvalid`; a TSA that does not chain to the store (or is not valid at `genTime`)
/// is `UntrustedSigner`; a TSA chain that names OCSP/CRL endpoints (whose revocation only a
/// network check could answer), or a BER token (indefinite lengths), is `TrustRootError`.
pub fn verify(token: &[u8], signature: &[u8], trusted: &[Cert]) -> Result<Timestamp, Failed> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "it is {} bytes (at most {MAX_TOKEN_BYTES})",
            token.len()
        )));
    }
    let info = ContentInfo::from_der(token).map_err(|e| {
        // An indefinite length is BER, which notation-go converts to DER and this verifier
        // does not read: could not tell, rather than a verdict on bytes it did not parse.
        if token.starts_with(&[0x30, 0x80]) {
            (
                Verdict::TrustRootError,
                "the timestamp countersignature is BER-encoded, which is not supported".into(),
            )
        } else {
            invalid(format!("not DER CMS: {e}"))
        }
    })?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(invalid("not a CMS SignedData"));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| invalid(format!("SignedData does not parse: {e}")))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(invalid("its content is not a TSTInfo"));
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| invalid("it has no TSTInfo"))?
        .decode_as::<OctetStringRef<'_>>()
        .map_err(|e| invalid(format!("its content is not an OCTET STRING: {e}")))?;
    let tst_bytes = content.as_bytes();
    let tst = TstInfo::from_der(tst_bytes)
        .map_err(|e| invalid(format!("TSTInfo does not parse: {e}")))?;
    if tst.version != 1 {
        return Err(invalid(format!(
            "TSTInfo version {} (must be 1)",
            tst.version
        )));
    }
    let imprint_alg = tst.message_imprint.hash_algorithm.oid;
    let imprint = digest(imprint_alg, signature).ok_or_else(|| {
        invalid(format!(
            "message imprint hash {imprint_alg} is not supported"
        ))
    })?;
    if imprint != tst.message_imprint.hashed_message.as_bytes() {
        return Err(invalid(
            "its message imprint is not the hash of this signature (it timestamps another one)",
        ));
    }
    let gen_time_us = generalized_time_us(&tst.gen_time).map_err(invalid)?;
    let accuracy_us = accuracy_us(&tst);
    let carried = certificates(&signed)?;
    let signers: Vec<&SignerInfo> = signed.signer_infos.0.iter().collect();
    if signers.is_empty() {
        return Err(invalid("it has no signer"));
    }
    if signers.len() > MAX_SIGNERS {
        return Err(invalid(format!(
            "it has {} signers (at most {MAX_SIGNERS})",
            signers.len()
        )));
    }
    let gen_time = gen_time_us.div_euclid(1_000_000);
    let mut last = invalid("it has no signer");
    for si in signers {
        match signer(si, tst_bytes, &carried, trusted, gen_time) {
            Ok(chain) => {
                if let Some(c) = chain.iter().find(|c| c.has_revocation_endpoints()) {
                    return Err((
                        Verdict::TrustRootError,
                        format!(
                            "TSA certificate {} names OCSP or CRL endpoints, and its revocation is not checked",
                            c.subject()
                        ),
                    ));
                }
                return Ok(Timestamp {
                    gen_time_us,
                    accuracy_us,
                    tsa: chain[0].subject(),
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One signer: its certificate, chain, signed attributes and signature (tspclient-go's order).
fn signer(
    si: &SignerInfo,
    tst_bytes: &[u8],
    carried: &[Cert],
    trusted: &[Cert],
    gen_time: i64,
) -> Result<Vec<Cert>, Failed> {
    if si.version != cms::content_info::CmsVersion::V1 {
        return Err(invalid(
            "its signer is not identified by issuer and serial number (version 1)",
        ));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| invalid("its signer has no signed attributes"))?;
    let leaf = signing_certificate(si, attrs, carried)?;
    let chain = tsa_chain::verify(leaf, carried, trusted, gen_time).map_err(|e| match e {
        ChainError::Untrusted(m) => (Verdict::UntrustedSigner, m),
        ChainError::Invalid(m) => invalid(m),
    })?;
    let scheme = scheme(si.digest_alg.oid, si.signature_algorithm.oid)
        .ok_or_else(|| invalid("its signature algorithm is not supported"))?;
    let signed = attrs
        .to_der()
        .map_err(|e| invalid(format!("signed attributes do not encode: {e}")))?;
    leaf.verify_with(scheme, &signed, si.signature.as_bytes())
        .map_err(|e| invalid(format!("the TSA's signature {e}")))?;
    let attr = |oid: ObjectIdentifier| -> Result<Option<&Any>, Failed> {
        match attrs.iter().find(|a| a.oid == oid) {
            None => Ok(None),
            Some(a) if a.values.len() == 1 => Ok(a.values.iter().next()),
            Some(_) => Err(invalid(format!(
                "signed attribute {oid} has several values"
            ))),
        }
    };
    let content_type: ObjectIdentifier = attr(ID_CONTENT_TYPE)?
        .ok_or_else(|| invalid("the content-type attribute is missing"))?
        .decode_as()
        .map_err(|e| invalid(format!("content-type attribute: {e}")))?;
    if content_type != ID_CT_TST_INFO {
        return Err(invalid("the content-type attribute is not TSTInfo"));
    }
    let md = attr(ID_MESSAGE_DIGEST)?
        .ok_or_else(|| invalid("the message-digest attribute is missing"))?
        .decode_as::<OctetStringRef<'_>>()
        .map_err(|e| invalid(format!("message-digest attribute: {e}")))?;
    let actual = digest(si.digest_alg.oid, tst_bytes)
        .ok_or_else(|| invalid("the signer's digest algorithm is not supported"))?;
    if md.as_bytes() != actual {
        return Err(invalid("the message digest does not match the TSTInfo"));
    }
    if let Some(t) = attr(ID_SIGNING_TIME)? {
        let t = x509_cert::time::Time::from_der(&t.to_der().map_err(|e| invalid(e.to_string()))?)
            .map_err(|e| invalid(format!("signing-time attribute: {e}")))?;
        let t = t.to_unix_duration().as_secs() as i64;
        if chain
            .iter()
            .any(|c| t < c.validity().0 || t > c.validity().1)
        {
            return Err(invalid(
                "its signing time is outside the TSA certificates' validity",
            ));
        }
    }
    tsa_chain::time_stamping_only(leaf).map_err(invalid)?;
    Ok(chain)
}

/// The certificate `SigningCertificateV2` names (by issuer and serial, else the signer's
/// identifier), whose hash must be the attribute's.
fn signing_certificate<'c>(
    si: &SignerInfo,
    attrs: &cms::signed_data::SignedAttributes,
    carried: &'c [Cert],
) -> Result<&'c Cert, Failed> {
    let v2 = attrs
        .iter()
        .find(|a| a.oid == ID_SIGNING_CERTIFICATE_V2)
        .and_then(|a| a.values.iter().next())
        .ok_or_else(|| invalid("the SigningCertificateV2 attribute is missing"))?
        .decode_as::<SigningCertificateV2>()
        .map_err(|e| invalid(format!("SigningCertificateV2 does not parse: {e}")))?;
    let id = v2
        .certs
        .first()
        .ok_or_else(|| invalid("SigningCertificateV2 names no certificate"))?;
    let (issuer, serial) = match (&id.issuer_serial, &si.sid) {
        (Some(is), _) => {
            let name = is.issuer.iter().find_map(|g| match g {
                GeneralName::DirectoryName(n) => Some(n),
                _ => None,
            });
            (
                name.ok_or_else(|| invalid("SigningCertificateV2 names no issuer"))?,
                &is.serial,
            )
        }
        (None, SignerIdentifier::IssuerAndSerialNumber(is)) => (&is.issuer, &is.serial_number),
        (None, SignerIdentifier::SubjectKeyIdentifier(_)) => {
            return Err(invalid(
                "its signer is not identified by issuer and serial number",
            ))
        }
    };
    let cert = carried
        .iter()
        .find(|c| {
            c.parsed.tbs_certificate.issuer == *issuer
                && c.parsed.tbs_certificate.serial_number == *serial
        })
        .ok_or_else(|| invalid("the TSA signing certificate is not in the token"))?;
    let alg = id.hash_algorithm.as_ref().map_or(SHA256, |a| a.oid);
    let hash = digest(alg, &cert.der)
        .ok_or_else(|| invalid("SigningCertificateV2's hash algorithm is not supported"))?;
    if hash != id.cert_hash.as_bytes() {
        return Err(invalid(
            "the TSA signing certificate does not match the hash in SigningCertificateV2",
        ));
    }
    Ok(cert)
}

fn certificates(signed: &SignedData) -> Result<Vec<Cert>, Failed> {
    let Some(set) = &signed.certificates else {
        return Ok(vec![]);
    };
    if set.0.len() > 2 * MAX_CHAIN {
        return Err(invalid(format!(
            "it carries {} certificates (at most {})",
            set.0.len(),
            2 * MAX_CHAIN
        )));
    }
    set.0
        .iter()
        .map(|c| match c {
            CertificateChoices::Certificate(c) => {
                let der = c.to_der().map_err(|e| invalid(e.to_string()))?;
                Cert::from_der(&der).map_err(invalid)
            }
            CertificateChoices::Other(_) => Err(invalid("it carries a non-X.509 certificate")),
        })
        .collect()
}

/// The scheme of a CMS signer: tspclient-go's `ToSignatureAlgorithm` (rsaEncryption and
/// RSASSA-PSS take the digest algorithm's hash; the others name theirs).
fn scheme(digest_alg: ObjectIdentifier, signature_alg: ObjectIdentifier) -> Option<Scheme> {
    let bits = hash_bits(digest_alg);
    match signature_alg {
        o if o == RSA_ENCRYPTION => bits.map(Scheme::Pkcs1),
        o if o == RSASSA_PSS => bits.map(Scheme::Pss),
        o => Scheme::of_signature_oid(o),
    }
}

fn hash_bits(oid: ObjectIdentifier) -> Option<u16> {
    match oid {
        o if o == SHA256 => Some(256),
        o if o == SHA384 => Some(384),
        o if o == SHA512 => Some(512),
        _ => None,
    }
}

fn digest(oid: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    Some(match hash_bits(oid)? {
        256 => sha2::Sha256::digest(data).to_vec(),
        384 => sha2::Sha384::digest(data).to_vec(),
        _ => sha2::Sha512::digest(data).to_vec(),
    })
}

/// tspclient-go: the stated accuracy, or 1 s under the ETSI baseline policy when none is stated.
fn accuracy_us(tst: &TstInfo) -> i64 {
    let a = tst.accuracy.as_ref();
    let s = a.and_then(|a| a.seconds).unwrap_or(0) as i64;
    let ms = a.and_then(|a| a.millis).unwrap_or(0) as i64;
    let us = a.and_then(|a| a.micros).unwrap_or(0) as i64;
    if s == 0 && ms == 0 && us == 0 && tst.policy == BASELINE_TIMESTAMP_POLICY {
        return 1_000_000;
    }
    s * 1_000_000 + ms * 1_000 + us
}

/// A DER GeneralizedTime (`YYYYMMDDHHMMSS[.f…]Z`) in microseconds since the epoch.
fn generalized_time_us(any: &Any) -> Result<i64, String> {
    if any.tag() != der::Tag::GeneralizedTime {
        return Err("genTime is not a GeneralizedTime".into());
    }
    let s = std::str::from_utf8(any.value()).map_err(|_| "genTime is not text")?;
    let bad = || {
        format!(
            "genTime {:?} is not a UTC GeneralizedTime",
            crate::registry::bounded::truncate(s)
        )
    };
    let body = s.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (body.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| whole[r].parse::<i16>().map_err(|_| bad());
    let dt = jiff::civil::DateTime::new(
        n(0..4)?,
        n(4..6)? as i8,
        n(6..8)? as i8,
        n(8..10)? as i8,
        n(10..12)? as i8,
        n(12..14)? as i8,
        0,
    )
    .map_err(|_| bad())?;
    let secs = dt
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| bad())?
        .timestamp()
        .as_second();
    let micros: i64 = format!("{:0<6}", &fraction[..fraction.len().min(6)])
        .parse()
        .map_err(|_| bad())?;
    Ok(secs * 1_000_000 + micros)
}
