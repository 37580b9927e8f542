//! AWS Signature Version 4 for the one call that needs it, ECR `GetAuthorizationToken`: a
//! POST of a JSON body to `/` with no query string. The HMAC is aws-lc-rs's (already built for
//! rustls), the hash sha2's; the algorithm is AWS's documented one, checked against AWS's own
//! test vector below and, end to end, against moto's independent signature check.

use std::time::SystemTime;

use aws_lc_rs::hmac;
use sha2::{Digest as _, Sha256};

/// An AWS access key (with a session token for temporary credentials). Never `Debug`.
#[derive(Clone)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

/// The request to sign: its headers must include everything in `headers` (lower-case names,
/// values as sent) plus the ones returned.
pub(crate) struct ToSign<'a> {
    pub(crate) method: &'a str,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

/// The headers to add: `x-amz-date`, `x-amz-security-token` (temporary credentials) and
/// `authorization`.
pub(crate) fn sign(
    req: &ToSign<'_>,
    creds: &AwsCredentials,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let amz_date = ts.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut out = vec![("x-amz-date", amz_date.clone())];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token", t.clone()));
    }
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .chain([("host".to_string(), req.host.to_string())])
        .chain(out.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .collect();
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        req.method,
        req.path,
        hex::encode(Sha256::digest(req.body))
    );
    let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{}", creds.secret_access_key).into_bytes();
    for part in [date, req.region, req.service, "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    let signature = hex::encode(mac(&key, string_to_sign.as_bytes()));
    out.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    out
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn example() -> AwsCredentials {
        // AWS's documentation example key.
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    fn suite_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    /// AWS's SigV4 test suite, `get-vanilla`: GET / on example.amazonaws.com, service
    /// `service`, us-east-1.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let headers = sign(
            &ToSign {
                method: "GET",
                host: "example.amazonaws.com",
                path: "/",
                headers: &[],
                body: b"",
                region: "us-east-1",
                service: "service",
            },
            &example(),
            suite_time(),
        );
        assert_eq!(headers[0], ("x-amz-date", "20150830T123600Z".to_string()));
        assert_eq!(
            headers[1].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn temporary_credentials_sign_their_session_token_and_every_given_header() {
        let mut creds = example();
        creds.session_token = Some("SESSION".into());
        let req = ToSign {
            method: "POST",
            host: "api.ecr.us-east-1.amazonaws.com",
            path: "/",
            headers: &[
                ("Content-Type", "application/x-amz-json-1.1"),
                (
                    "X-Amz-Target",
                    "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
                ),
            ],
            body: b"{}",
            region: "us-east-1",
            service: "ecr",
        };
        let h = sign(&req, &creds, suite_time());
        assert_eq!(h[1], ("x-amz-security-token", "SESSION".to_string()));
        let auth = &h[2].1;
        assert!(auth.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        ));
        assert!(auth.contains("Credential=AKIDEXAMPLE/20150830/us-east-1/ecr/aws4_request"));
        // Any change to what is signed changes the signature.
        let other = sign(
            &ToSign {
                body: b"{ }",
                ..req
            },
            &creds,
            suite_time(),
        );
        assert_ne!(other[2].1, h[2].1);
        assert!(!auth.contains("wJalr"));
    }
}
