//! ECR credentials from the controller's AWS identity, over AWS's documented HTTP APIs:
//!
//! 1. the identity, in the AWS SDKs' order: static keys in the environment
//!    (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); IRSA
//!    (`AWS_ROLE_ARN` and the projected token in `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged at
//!    STS `AssumeRoleWithWebIdentity`, an unsigned call, in the registry's region); EKS Pod
//!    Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the token in
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`);
//! 2. ECR `GetAuthorizationToken` for the registry's account, in its region and partition
//!    (FIPS endpoints for a FIPS registry), signed with SigV4 ([`super::sigv4`]);
//! 3. the token decoded to the registry's `AWS:<password>`, valid for 12 hours.
//!
//! The node's instance role (IMDS) is not used.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::Deserialize;

use super::cache::{Expiring, TokenCache};
use super::endpoints::{CloudEndpoints, Endpoint};
use super::error::{CloudError, Provider};
use super::host::EcrHost;
use super::http::{form, read_token_file, sensitive, CloudHttp};
use super::identity::{CloudEnv, RegistryToken};
use super::sigv4::{sign, AwsCredentials, ToSign};
use super::xml;

const P: Provider = Provider::Aws;
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
const ECR_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// AWS credentials fetched for the controller's identity, with when they expire.
#[derive(Clone)]
pub(super) struct Identity {
    creds: AwsCredentials,
    expires: Option<SystemTime>,
}

impl Expiring for Identity {
    fn expires(&self) -> Option<SystemTime> {
        self.expires
    }
}

/// The registry credential for `ecr`; exchanged identity credentials are kept in `identity`
/// until shortly before they expire, as the AWS SDKs keep them.
pub(super) async fn registry_token(
    http: &CloudHttp,
    env: &CloudEnv,
    endpoints: &CloudEndpoints,
    identity: &TokenCache<Identity>,
    ecr: &EcrHost,
) -> Result<RegistryToken, CloudError> {
    let creds = credentials(http, env, endpoints, identity, ecr).await?;
    ecr_token(http, endpoints, ecr, &creds).await
}

/// The controller's AWS credentials.
async fn credentials(
    http: &CloudHttp,
    env: &CloudEnv,
    endpoints: &CloudEndpoints,
    identity: &TokenCache<Identity>,
    ecr: &EcrHost,
) -> Result<AwsCredentials, CloudError> {
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(AwsCredentials {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
            session_token: env.get("AWS_SESSION_TOKEN").map(str::to_string),
        });
    }
    if let (Some(role), Some(file)) = (
        env.get("AWS_ROLE_ARN"),
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
    ) {
        let session = env
            .get("AWS_ROLE_SESSION_NAME")
            .unwrap_or("provenance-auditor");
        // Per STS endpoint: the registry's region and partition decide which STS answers.
        let key = format!("irsa\0{role}\0{session}\0{}", sts_base(endpoints, ecr));
        let fetched = identity
            .get_or_fetch(&key, || async {
                let token = read_token_file(P, "web identity token file", file)?;
                assume_role_with_web_identity(http, endpoints, ecr, role, session, &token).await
            })
            .await?;
        return Ok(fetched.creds);
    }
    if let Some(uri) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        let fetched = identity
            .get_or_fetch(&format!("pod\0{uri}"), || async {
                let token = match env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
                    Some(f) => Some(read_token_file(P, "container authorization token file", f)?),
                    None => None,
                };
                container_credentials(http, uri, token.as_deref()).await
            })
            .await?;
        return Ok(fetched.creds);
    }
    Err(CloudError::NoIdentity {
        provider: P,
        detail: "neither AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), \
                 AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity) nor AWS_ACCESS_KEY_ID \
                 is set in the controller's environment"
            .into(),
    })
}

/// STS's regional endpoint for the registry's region and partition.
fn sts_base(endpoints: &CloudEndpoints, ecr: &EcrHost) -> String {
    let host = if ecr.fips && ecr.domain == "amazonaws.com" {
        format!("sts-fips.{}.{}", ecr.region, ecr.domain)
    } else {
        format!("sts.{}.{}", ecr.region, ecr.domain)
    };
    endpoints.base(Endpoint::AwsSts, format!("https://{host}"))
}

/// ECR's API endpoint for the registry's region and partition.
fn ecr_base(endpoints: &CloudEndpoints, ecr: &EcrHost) -> String {
    let host = if ecr.fips {
        format!("ecr-fips.{}.{}", ecr.region, ecr.domain)
    } else {
        format!("api.ecr.{}.{}", ecr.region, ecr.domain)
    };
    endpoints.base(Endpoint::AwsEcr, format!("https://{host}"))
}

async fn assume_role_with_web_identity(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
    ecr: &EcrHost,
    role: &str,
    session: &str,
    token: &str,
) -> Result<Identity, CloudError> {
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session),
        ("WebIdentityToken", token),
    ]);
    let req = http
        .request(
            P,
            "STS",
            Method::POST,
            &format!("{}/", sts_base(endpoints, ecr)),
        )?
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    let body = http.ok(P, "STS", req, xml_error_code).await?.body;
    let bad = |detail: &str| CloudError::BadResponse {
        provider: P,
        service: "STS",
        detail: detail.into(),
    };
    let doc = std::str::from_utf8(&body).map_err(|_| bad("an answer that is not text"))?;
    let field =
        |name| xml::text_in(doc, "Credentials", name).map_err(|w| bad(&format!("{w} ({name})")));
    let creds = AwsCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
    };
    if creds.access_key_id.is_empty() || creds.secret_access_key.is_empty() {
        return Err(bad("empty credentials"));
    }
    // Unreadable or absent: used once, never kept.
    let expires = xml::text_in(doc, "Credentials", "Expiration")
        .ok()
        .and_then(|t| iso_time(&t));
    Ok(Identity { creds, expires })
}

/// An ISO 8601 / RFC 3339 time (STS's `Expiration`, the container endpoint's).
fn iso_time(t: &str) -> Option<SystemTime> {
    t.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(SystemTime::from)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

/// Hosts the container credentials endpoint may be on over plain HTTP (as the AWS SDKs
/// allow): ECS's and EKS Pod Identity's link-local agents, and loopback.
const CONTAINER_HOSTS: &[&str] = &["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"];

async fn container_credentials(
    http: &CloudHttp,
    uri: &str,
    token: Option<&str>,
) -> Result<Identity, CloudError> {
    let url = reqwest::Url::parse(uri).map_err(|_| CloudError::Config {
        provider: P,
        detail: "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL".into(),
    })?;
    let agent = url.scheme() == "http"
        && url
            .host_str()
            .is_some_and(|h| CONTAINER_HOSTS.iter().any(|a| a.eq_ignore_ascii_case(h)));
    let mut req = if agent {
        http.request_plain(P, "container credentials endpoint", Method::GET, url)?
    } else {
        http.request(P, "container credentials endpoint", Method::GET, uri)?
    };
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, sensitive(P, t)?);
    }
    let body = http
        .ok(P, "container credentials endpoint", req, json_error_code)
        .await?
        .body;
    let c: ContainerCredentials =
        serde_json::from_slice(&body).map_err(|_| CloudError::BadResponse {
            provider: P,
            service: "container credentials endpoint",
            detail: "an answer without AccessKeyId and SecretAccessKey".into(),
        })?;
    Ok(Identity {
        expires: c.expiration.as_deref().and_then(iso_time),
        creds: AwsCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.token,
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcrAnswer {
    authorization_data: Vec<AuthorizationData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
    expires_at: Option<serde_json::Value>,
}

async fn ecr_token(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
    ecr: &EcrHost,
    creds: &AwsCredentials,
) -> Result<RegistryToken, CloudError> {
    let base = ecr_base(endpoints, ecr);
    let url = reqwest::Url::parse(&format!("{base}/")).map_err(|_| CloudError::Config {
        provider: P,
        detail: "the ECR endpoint is not a URL".into(),
    })?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let body = serde_json::json!({"registryIds": [ecr.account]}).to_string();
    let headers = [
        ("content-type", ECR_CONTENT_TYPE),
        ("x-amz-target", ECR_TARGET),
    ];
    let signed = sign(
        &ToSign {
            method: "POST",
            host: &host,
            path: "/",
            headers: &headers,
            body: body.as_bytes(),
            region: &ecr.region,
            service: "ecr",
        },
        creds,
        SystemTime::now(),
    );
    let mut req = http.request(P, "ECR", Method::POST, url.as_str())?;
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in signed {
        req = req.header(k, sensitive(P, &v)?);
    }
    let answer = http
        .ok(P, "ECR", req.body(body), json_error_code)
        .await?
        .body;
    let bad = |detail: &str| CloudError::BadResponse {
        provider: P,
        service: "ECR",
        detail: detail.into(),
    };
    let a: EcrAnswer =
        serde_json::from_slice(&answer).map_err(|_| bad("an answer without authorizationData"))?;
    let data = a
        .authorization_data
        .into_iter()
        .next()
        .ok_or_else(|| bad("no authorizationData"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("an authorization token that is not base64 text"))?;
    let (username, password) = decoded
        .split_once(':')
        .filter(|(u, p)| !u.is_empty() && !p.is_empty() && !p.contains(':'))
        .ok_or_else(|| bad("an authorization token that is not user:password"))?;
    Ok(RegistryToken {
        username: username.to_string(),
        password: password.to_string(),
        expires: data.expires_at.as_ref().and_then(epoch_seconds),
    })
}

/// ECR's `expiresAt`: seconds since the epoch (a JSON number, possibly fractional).
fn epoch_seconds(v: &serde_json::Value) -> Option<SystemTime> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e11).contains(&secs))
        .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// The `Code` of an AWS query-protocol (XML) error.
fn xml_error_code(body: &[u8]) -> Option<String> {
    xml::text_in(std::str::from_utf8(body).ok()?, "Error", "Code").ok()
}

/// The `__type` of an AWS JSON-protocol error (`…#AccessDeniedException` → the last part).
fn json_error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let t = v.get("__type").or_else(|| v.get("code"))?.as_str()?;
    Some(t.rsplit('#').next().unwrap_or(t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecr(fips: bool, region: &str, domain: &'static str) -> EcrHost {
        EcrHost {
            account: "123456789012".into(),
            region: region.into(),
            domain,
            fips,
        }
    }

    #[test]
    fn endpoints_follow_the_registry_region_partition_and_fips() {
        let none = CloudEndpoints::default();
        let e = ecr(false, "eu-west-1", "amazonaws.com");
        assert_eq!(sts_base(&none, &e), "https://sts.eu-west-1.amazonaws.com");
        assert_eq!(
            ecr_base(&none, &e),
            "https://api.ecr.eu-west-1.amazonaws.com"
        );
        let cn = ecr(false, "cn-north-1", "amazonaws.com.cn");
        assert_eq!(
            sts_base(&none, &cn),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            ecr_base(&none, &cn),
            "https://api.ecr.cn-north-1.amazonaws.com.cn"
        );
        let f = ecr(true, "us-gov-west-1", "amazonaws.com");
        assert_eq!(
            sts_base(&none, &f),
            "https://sts-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            ecr_base(&none, &f),
            "https://ecr-fips.us-gov-west-1.amazonaws.com"
        );
        let over = CloudEndpoints::from_json(
            br#"{"aws": {"sts": "http://127.0.0.1:1", "ecr": "http://127.0.0.1:2"}}"#,
        )
        .unwrap();
        assert_eq!(sts_base(&over, &e), "http://127.0.0.1:1");
        assert_eq!(ecr_base(&over, &e), "http://127.0.0.1:2");
    }

    #[test]
    fn identity_expiry_is_read_from_rfc3339_or_not_at_all() {
        let t = iso_time("2026-12-07T04:00:00Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_796_616_000
        );
        assert!(iso_time(" 2026-12-07T04:00:00.5+00:00 ").is_some());
        assert_eq!(iso_time("tomorrow"), None);
        assert_eq!(iso_time(""), None);
    }

    #[test]
    fn expiry_and_error_codes() {
        assert_eq!(
            epoch_seconds(&serde_json::json!(1_700_000_000.5)),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_700_000_000.5))
        );
        assert_eq!(epoch_seconds(&serde_json::json!(-1)), None);
        assert_eq!(epoch_seconds(&serde_json::json!("x")), None);
        assert_eq!(
            json_error_code(br#"{"__type":"com.amazonaws#AccessDeniedException","message":"m"}"#),
            Some("AccessDeniedException".into())
        );
        assert_eq!(
            xml_error_code(
                b"<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>"
            ),
            Some("InvalidIdentityToken".into())
        );
        assert_eq!(
            form(&[("a", "b c"), ("t", "x/y+z=")]),
            "a=b+c&t=x%2Fy%2Bz%3D"
        );
    }
}
