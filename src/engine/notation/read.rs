//! An envelope of either format, by its media type, with the rules both share.

use super::envelope::{
    self, invalid, Envelope, EnvelopeError, COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, MAX_ENVELOPE_BYTES,
};

/// Parses an envelope of `media_type`.
pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(invalid(format!(
            "the envelope is {} bytes (at most {MAX_ENVELOPE_BYTES})",
            bytes.len()
        )));
    }
    let env = match media_type {
        JWS_MEDIA_TYPE => envelope::parse_jws(bytes)?,
        COSE_MEDIA_TYPE => super::cose::parse(bytes)?,
        other => {
            return Err(invalid(format!(
                "envelope media type {:?} is not a Notary Project envelope",
                crate::registry::bounded::truncate(other)
            )))
        }
    };
    if let Some(expiry) = env.expiry {
        if expiry <= env.signing_time {
            return Err(invalid("the expiry is not after the signing time"));
        }
    }
    Ok(env)
}
