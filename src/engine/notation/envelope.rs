//! A Notary Project signature envelope, parsed: JWS (`application/jose+json`, the flattened
//! JSON serialization) or COSE (`application/cose`, a tagged `COSE_Sign1`) into one
//! [`Envelope`] — the signed payload, the bytes the signature covers, the signature, its
//! algorithm, the certificate chain and the signed attributes.
//!
//! The protected header's rules are the Notary Project's: `cty` is the Notary payload type,
//! `io.cncf.notary.signingScheme` is `notary.x509` (with `io.cncf.notary.signingTime`) or
//! `notary.x509.signingAuthority` (with `io.cncf.notary.authenticSigningTime`), and must be
//! listed in `crit`, as must `io.cncf.notary.expiry` when present; every other `crit` entry
//! must be present. A critical attribute nobody here understands (a verification plugin's) makes
//! the signature one this verifier cannot check.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;

use super::certs::{Cert, MAX_CHAIN};

/// The JWS envelope media type.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// The COSE envelope media type.
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The payload content type every Notary Project envelope signs.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Largest envelope accepted (notation's own limit for a signature blob is 4 MiB; ours is the
/// discovery's blob limit, and this bounds the work of a unit caller too).
pub const MAX_ENVELOPE_BYTES: usize = 4 << 20;

pub(super) const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(super) const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(super) const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(super) const EXPIRY: &str = "io.cncf.notary.expiry";
/// The critical attribute that names a verification plugin.
pub(super) const VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";

/// The two signing schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningScheme {
    /// `notary.x509`: the signing time is the signer's claim; a timestamp makes it authentic.
    X509,
    /// `notary.x509.signingAuthority`: the signing authority vouches for the signing time.
    SigningAuthority,
}

/// Why an envelope cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not a well-formed envelope, or one the Notary Project's rules reject (an integrity
    /// failure: `SignatureInvalid`).
    Invalid(String),
    /// Well-formed, but it needs what this verifier does not have (a verification plugin).
    Unsupported(String),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::Invalid(m) | EnvelopeError::Unsupported(m) => f.write_str(m),
        }
    }
}

pub(super) fn invalid(m: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Invalid(m.into())
}

/// One envelope, parsed (nothing verified yet).
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `jws` or `cose`.
    pub format: &'static str,
    /// The signed payload (JSON with `targetArtifact`).
    pub payload: Vec<u8>,
    /// The exact bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    /// The algorithm, by its JWS name (`PS256` … `ES512`).
    pub algorithm: &'static str,
    /// The certificate chain, leaf first.
    pub chain: Vec<Cert>,
    /// The signing scheme.
    pub scheme: SigningScheme,
    /// Signing time (or authentic signing time), Unix seconds.
    pub signing_time: i64,
    /// `io.cncf.notary.expiry`, Unix seconds.
    pub expiry: Option<i64>,
    /// The RFC 3161 timestamp countersignature, when present.
    pub timestamp: Option<Vec<u8>>,
}

/// The signed attributes both formats share, checked by one rule.
pub(super) struct Protected {
    pub algorithm: &'static str,
    pub content_type: Option<String>,
    pub scheme: Option<String>,
    pub signing_time: Option<i64>,
    pub authentic_signing_time: Option<i64>,
    pub expiry: Option<i64>,
    /// Every `crit` entry.
    pub critical: Vec<String>,
    /// Names of the protected attributes besides the Notary ones and `alg`/`cty`/`crit`.
    pub extended: Vec<String>,
}

impl Protected {
    /// The Notary Project's header rules; returns the scheme and signing time.
    pub(super) fn check(&self) -> Result<(SigningScheme, i64), EnvelopeError> {
        if self.content_type.as_deref() != Some(PAYLOAD_CONTENT_TYPE) {
            return Err(invalid(format!(
                "payload content type must be {PAYLOAD_CONTENT_TYPE}"
            )));
        }
        let (scheme, time) = match self.scheme.as_deref() {
            Some("notary.x509") => {
                if self.authentic_signing_time.is_some() {
                    return Err(invalid(format!(
                        "{AUTHENTIC_SIGNING_TIME} must not be present for notary.x509"
                    )));
                }
                let t = self
                    .signing_time
                    .ok_or_else(|| invalid(format!("{SIGNING_TIME} is missing")))?;
                (SigningScheme::X509, t)
            }
            Some("notary.x509.signingAuthority") => {
                if self.signing_time.is_some() {
                    return Err(invalid(format!(
                        "{SIGNING_TIME} must not be present for notary.x509.signingAuthority"
                    )));
                }
                let t = self
                    .authentic_signing_time
                    .ok_or_else(|| invalid(format!("{AUTHENTIC_SIGNING_TIME} is missing")))?;
                (SigningScheme::SigningAuthority, t)
            }
            Some(other) => {
                return Err(invalid(format!(
                    "signing scheme {:?} is not supported",
                    crate::registry::bounded::truncate(other)
                )))
            }
            None => return Err(invalid(format!("{SIGNING_SCHEME} is missing"))),
        };
        if self.critical.is_empty() {
            return Err(invalid("the crit header is missing"));
        }
        let mut must = vec![SIGNING_SCHEME];
        if self.expiry.is_some() {
            must.push(EXPIRY);
        }
        if scheme == SigningScheme::SigningAuthority {
            must.push(AUTHENTIC_SIGNING_TIME);
        }
        for m in &must {
            if !self.critical.iter().any(|c| c == m) {
                return Err(invalid(format!("{m} must be marked critical")));
            }
        }
        for c in &self.critical {
            if must.contains(&c.as_str()) {
                continue;
            }
            if !self.extended.contains(c) {
                return Err(invalid(format!(
                    "{:?} is marked critical but not present",
                    crate::registry::bounded::truncate(c)
                )));
            }
            // A critical attribute is one a verifier must understand; the only extended one
            // the Notary Project defines asks for a plugin, which this verifier does not run.
            return Err(EnvelopeError::Unsupported(if c == VERIFICATION_PLUGIN {
                "the signature requires a verification plugin, which is not supported".into()
            } else {
                format!(
                    "critical attribute {:?} is not understood",
                    crate::registry::bounded::truncate(c)
                )
            }));
        }
        Ok((scheme, time))
    }
}

/// The certificate chain from DER blocks, bounded.
pub(super) fn chain_of(ders: &[Vec<u8>]) -> Result<Vec<Cert>, EnvelopeError> {
    if ders.is_empty() {
        return Err(invalid("the envelope carries no certificate chain"));
    }
    if ders.len() > MAX_CHAIN {
        return Err(invalid(format!(
            "the certificate chain has {} certificates (at most {MAX_CHAIN})",
            ders.len()
        )));
    }
    ders.iter()
        .map(|d| Cert::from_der(d).map_err(invalid))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwsEnvelope {
    payload: String,
    protected: String,
    header: JwsUnprotected,
    signature: String,
}

#[derive(Deserialize)]
struct JwsUnprotected {
    #[serde(default)]
    x5c: Vec<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature", default)]
    timestamp: Option<String>,
}

pub(super) fn parse_jws(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let env: JwsEnvelope = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("JWS envelope does not parse: {e}")))?;
    let b64url = |what: &str, s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid(format!("JWS {what} is not base64url")))
    };
    let protected_raw = b64url("protected header", &env.protected)?;
    let payload = b64url("payload", &env.payload)?;
    let signature = b64url("signature", &env.signature)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&protected_raw)
        .map_err(|e| invalid(format!("JWS protected header does not parse: {e}")))?;
    let text = |k: &str| header.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let time = |k: &str| -> Result<Option<i64>, EnvelopeError> {
        match header.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|t| Some(t.as_second()))
                .ok_or_else(|| invalid(format!("{k} is not an RFC 3339 time"))),
        }
    };
    let algorithm = match text("alg").as_deref() {
        Some("PS256") => "PS256",
        Some("PS384") => "PS384",
        Some("PS512") => "PS512",
        Some("ES256") => "ES256",
        Some("ES384") => "ES384",
        Some("ES512") => "ES512",
        _ => return Err(invalid("JWS alg is missing or not supported")),
    };
    let critical = match header.get("crit") {
        None => vec![],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("JWS crit is not a list of names"))?,
        Some(_) => return Err(invalid("JWS crit is not a list")),
    };
    const KNOWN: [&str; 7] = [
        "alg",
        "cty",
        "crit",
        SIGNING_SCHEME,
        SIGNING_TIME,
        AUTHENTIC_SIGNING_TIME,
        EXPIRY,
    ];
    let protected = Protected {
        algorithm,
        content_type: text("cty"),
        scheme: text(SIGNING_SCHEME),
        signing_time: time(SIGNING_TIME)?,
        authentic_signing_time: time(AUTHENTIC_SIGNING_TIME)?,
        expiry: time(EXPIRY)?,
        critical,
        extended: header
            .keys()
            .filter(|k| !KNOWN.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    let (scheme, signing_time) = protected.check()?;
    let ders = env
        .header
        .x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|_| invalid("an x5c certificate is not base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timestamp = env
        .header
        .timestamp
        .map(|t| {
            STANDARD
                .decode(t)
                .map_err(|_| invalid("the timestamp signature is not base64"))
        })
        .transpose()?;
    Ok(Envelope {
        format: "jws",
        signing_input: format!("{}.{}", env.protected, env.payload).into_bytes(),
        payload,
        signature,
        algorithm: protected.algorithm,
        chain: chain_of(&ders)?,
        scheme,
        signing_time,
        expiry: protected.expiry,
        timestamp,
    })
}
