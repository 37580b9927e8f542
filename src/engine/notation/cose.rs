//! The COSE envelope (`application/cose`): a tagged `COSE_Sign1` whose protected header holds
//! the Notary Project's signed attributes (times are CBOR tag 1, seconds since the epoch) and
//! whose unprotected header holds the `x5chain` (label 33) and the optional timestamp
//! countersignature. The signature covers the `Sig_structure` of RFC 9052 with no external data.

use coset::cbor::value::Value;
use coset::{
    iana, CborSerializable as _, CoseSign1, Label, RegisteredLabel, TaggedCborSerializable as _,
};

use super::envelope::{
    chain_of, invalid, Envelope, EnvelopeError, Protected, AUTHENTIC_SIGNING_TIME, EXPIRY,
    SIGNING_SCHEME, SIGNING_TIME,
};

const X5CHAIN: i64 = 33;
const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";

pub(super) fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|e| invalid(format!("COSE envelope does not parse: {e}")))?;
    let header = &sign1.protected.header;
    let algorithm = match &header.alg {
        Some(coset::Algorithm::Assigned(a)) => match a {
            iana::Algorithm::PS256 => "PS256",
            iana::Algorithm::PS384 => "PS384",
            iana::Algorithm::PS512 => "PS512",
            iana::Algorithm::ES256 => "ES256",
            iana::Algorithm::ES384 => "ES384",
            iana::Algorithm::ES512 => "ES512",
            _ => return Err(invalid("COSE alg is not supported")),
        },
        _ => return Err(invalid("COSE alg is missing or not supported")),
    };
    let text_label = |name: &str| {
        header.rest.iter().find_map(|(l, v)| match l {
            Label::Text(t) if t == name => Some(v),
            _ => None,
        })
    };
    let time = |name: &str| -> Result<Option<i64>, EnvelopeError> {
        match text_label(name) {
            None => Ok(None),
            Some(Value::Tag(1, v)) => match v.as_ref() {
                Value::Integer(i) => i64::try_from(*i)
                    .map(Some)
                    .map_err(|_| invalid(format!("{name} is out of range"))),
                _ => Err(invalid(format!("{name} is not an integer time"))),
            },
            Some(_) => Err(invalid(format!("{name} is not a tagged time"))),
        }
    };
    let critical = header
        .crit
        .iter()
        .map(|c| match c {
            coset::RegisteredLabelWithPrivate::Text(t) => t.clone(),
            coset::RegisteredLabelWithPrivate::Assigned(a) => format!("{a:?}"),
            coset::RegisteredLabelWithPrivate::PrivateUse(i) => i.to_string(),
        })
        .collect();
    const KNOWN: [&str; 4] = [SIGNING_SCHEME, SIGNING_TIME, AUTHENTIC_SIGNING_TIME, EXPIRY];
    let protected = Protected {
        algorithm,
        content_type: match &header.content_type {
            Some(RegisteredLabel::Text(t)) => Some(t.clone()),
            _ => None,
        },
        scheme: match text_label(SIGNING_SCHEME) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        },
        signing_time: time(SIGNING_TIME)?,
        authentic_signing_time: time(AUTHENTIC_SIGNING_TIME)?,
        expiry: time(EXPIRY)?,
        critical,
        extended: header
            .rest
            .iter()
            .filter_map(|(l, _)| match l {
                Label::Text(t) if !KNOWN.contains(&t.as_str()) => Some(t.clone()),
                Label::Int(i) => Some(i.to_string()),
                _ => None,
            })
            .collect(),
    };
    let (scheme, signing_time) = protected.check()?;
    let unprotected = &sign1.unprotected;
    let ders = unprotected
        .rest
        .iter()
        .find_map(|(l, v)| (*l == Label::Int(X5CHAIN)).then_some(v))
        .map(|v| match v {
            Value::Bytes(b) => Ok(vec![b.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|c| match c {
                    Value::Bytes(b) => Ok(b.clone()),
                    _ => Err(invalid("an x5chain entry is not bytes")),
                })
                .collect(),
            _ => Err(invalid("x5chain is not bytes or a list")),
        })
        .transpose()?
        .unwrap_or_default();
    let timestamp = unprotected.rest.iter().find_map(|(l, v)| match (l, v) {
        (Label::Text(t), Value::Bytes(b)) if t == TIMESTAMP_SIGNATURE => Some(b.clone()),
        _ => None,
    });
    let payload = sign1
        .payload
        .clone()
        .ok_or_else(|| invalid("the COSE payload is detached"))?;
    Ok(Envelope {
        format: "cose",
        signing_input: sign1.tbs_data(&[]),
        payload,
        signature: sign1.signature.clone(),
        algorithm: protected.algorithm,
        chain: chain_of(&ders)?,
        scheme,
        signing_time,
        expiry: protected.expiry,
        timestamp,
    })
}
