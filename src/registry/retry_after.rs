//! `Retry-After` as a registry sends it with a `429` or `503` (RFC 9110 §10.2.3): a number of
//! seconds or an HTTP date. Untrusted: a value that does not parse is ignored (the default
//! back-off applies), and what parses is bounded by the caller ([`super::throttle`]).

use std::time::{Duration, SystemTime};

/// The delay a `Retry-After` value asks for, as of `now` (wall clock, for the date form).
/// `None` when it is absent or not a valid value; a date in the past is zero.
pub(crate) fn parse(value: Option<&str>, now: SystemTime) -> Option<Duration> {
    let v = value?.trim();
    if v.is_empty() || v.len() > 64 {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time": the caller caps it.
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_parse_and_garbage_is_ignored() {
        let now = httpdate::parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT").unwrap();
        assert_eq!(parse(Some("30"), now), Some(Duration::from_secs(30)));
        assert_eq!(parse(Some(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(
            parse(Some("Tue, 01 Dec 2026 10:02:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse(Some("Tue, 01 Dec 2026 09:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past asks for no wait"
        );
        assert_eq!(
            parse(Some("99999999999999999999999"), now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in [
            None,
            Some(""),
            Some("-5"),
            Some("1.5"),
            Some("soon"),
            Some("30s"),
        ] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
        assert_eq!(
            parse(Some(&"9".repeat(100)), now),
            None,
            "overlong values are ignored"
        );
    }
}
