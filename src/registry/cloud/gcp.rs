//! Artifact Registry / Container Registry credentials from the controller's Google identity,
//! over Google's documented HTTP APIs, used as the registry password with the user
//! `oauth2accesstoken`:
//!
//! - with `GOOGLE_APPLICATION_CREDENTIALS` naming an `external_account` credentials file
//!   (workload identity federation, e.g. from a cluster outside Google Cloud): the subject
//!   token from its `credential_source.file` exchanged at Google's STS for an access token,
//!   then, when the file names a service account to impersonate, that account's access token
//!   from the IAM credentials API;
//! - otherwise the metadata server's access token for the pod's service account (GKE Workload
//!   Identity).
//!
//! Service account key files and `authorized_user` files are not supported.

use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::Deserialize;

use super::endpoints::{CloudEndpoints, Endpoint};
use super::error::{CloudError, Provider};
use super::http::{form, oauth_error_code, read_token_file, sensitive, CloudHttp};
use super::identity::{CloudEnv, RegistryToken};

const P: Provider = Provider::Gcp;
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const METADATA: &str = "http://metadata.google.internal";
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The registry user an access token is the password of.
const USER: &str = "oauth2accesstoken";

/// The registry credential (the same for every Google registry).
pub(super) async fn registry_token(
    http: &CloudHttp,
    env: &CloudEnv,
    endpoints: &CloudEndpoints,
) -> Result<RegistryToken, CloudError> {
    let (token, expires) = match env.get("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) => federated(http, endpoints, path).await?,
        None => metadata(http, endpoints).await?,
    };
    Ok(RegistryToken {
        username: USER.into(),
        password: token,
        expires: Some(expires),
    })
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    expires_in: Option<u64>,
}

fn bad(service: &'static str, detail: &str) -> CloudError {
    CloudError::BadResponse {
        provider: P,
        service,
        detail: detail.into(),
    }
}

/// An OAuth2 access-token answer: the token and when it expires.
fn access_token(service: &'static str, body: &[u8]) -> Result<(String, SystemTime), CloudError> {
    let t: AccessToken =
        serde_json::from_slice(body).map_err(|_| bad(service, "an answer without access_token"))?;
    if t.access_token.is_empty() {
        return Err(bad(service, "an empty access token"));
    }
    // Google's tokens last an hour; an answer without a lifetime is taken as a minute.
    let life = Duration::from_secs(t.expires_in.unwrap_or(60).min(24 * 3600));
    Ok((t.access_token, SystemTime::now() + life))
}

async fn metadata(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
) -> Result<(String, SystemTime), CloudError> {
    const S: &str = "metadata server";
    let url = format!(
        "{}{TOKEN_PATH}",
        endpoints.base(Endpoint::GcpMetadata, METADATA.into())
    );
    let url = Url::parse(&url).map_err(|_| CloudError::Config {
        provider: P,
        detail: "the metadata server endpoint is not a URL".into(),
    })?;
    // The metadata server is plain HTTP on a link-local name, by design.
    let req = http
        .request_plain(P, S, Method::GET, url)?
        .header("Metadata-Flavor", "Google");
    let answer = http.ok(P, S, req, oauth_error_code).await?;
    // Only the metadata server answers with this header (Google's libraries check it too).
    if answer
        .headers
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok())
        != Some("Google")
    {
        return Err(bad(
            S,
            "an answer without Metadata-Flavor: Google (not the metadata server)",
        ));
    }
    access_token(S, &answer.body)
}

/// An `external_account` credentials file (only what is used).
#[derive(Deserialize)]
struct ExternalAccount {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    subject_token_type: String,
    #[serde(default)]
    token_url: String,
    service_account_impersonation_url: Option<String>,
    credential_source: Option<CredentialSource>,
}

#[derive(Deserialize)]
struct CredentialSource {
    file: Option<String>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject_token_field_name: Option<String>,
}

fn config(detail: impl Into<String>) -> CloudError {
    CloudError::Config {
        provider: P,
        detail: detail.into(),
    }
}

async fn federated(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
    path: &str,
) -> Result<(String, SystemTime), CloudError> {
    let text = read_token_file(P, "credentials file", path)?;
    let ea: ExternalAccount = serde_json::from_str(&text)
        .map_err(|_| config(format!("{path} is not a Google credentials file")))?;
    if ea.kind != "external_account" {
        return Err(CloudError::Unsupported {
            provider: P,
            what: format!(
                "a credentials file of type {:?} ({path}; only external_account, workload identity federation, is)",
                bounded(&ea.kind)
            ),
        });
    }
    let source = ea
        .credential_source
        .as_ref()
        .and_then(|s| s.file.as_deref())
        .ok_or_else(|| CloudError::Unsupported {
            provider: P,
            what: format!("an external_account credential_source other than a file ({path})"),
        })?;
    let subject = subject_token(
        source,
        ea.credential_source
            .as_ref()
            .and_then(|s| s.format.as_ref()),
    )?;
    let token_url = google_url(&ea.token_url, "sts", endpoints.get(Endpoint::GcpSts))?;
    const S: &str = "Google STS";
    let body = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", &ea.audience),
        ("scope", SCOPE),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", &subject),
        ("subject_token_type", &ea.subject_token_type),
    ]);
    let req = http
        .request(P, S, Method::POST, token_url.as_str())?
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    let answer = http.ok(P, S, req, oauth_error_code).await?;
    let (sts_token, expires) = access_token(S, &answer.body)?;
    let Some(imp) = &ea.service_account_impersonation_url else {
        return Ok((sts_token, expires));
    };
    let url = google_url(
        imp,
        "iamcredentials",
        endpoints.get(Endpoint::GcpIamCredentials),
    )?;
    if !(url.path().starts_with("/v1/projects/") && url.path().ends_with(":generateAccessToken")) {
        return Err(config(
            "service_account_impersonation_url is not an IAM credentials generateAccessToken URL",
        ));
    }
    impersonate(http, url, &sts_token).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedToken {
    access_token: String,
    expire_time: String,
}

async fn impersonate(
    http: &CloudHttp,
    url: Url,
    sts_token: &str,
) -> Result<(String, SystemTime), CloudError> {
    const S: &str = "IAM credentials API";
    let req = http
        .request(P, S, Method::POST, url.as_str())?
        .header(AUTHORIZATION, sensitive(P, &format!("Bearer {sts_token}"))?)
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::json!({"scope": [SCOPE]}).to_string());
    let answer = http.ok(P, S, req, oauth_error_code).await?;
    let t: GeneratedToken = serde_json::from_slice(&answer.body)
        .map_err(|_| bad(S, "an answer without accessToken and expireTime"))?;
    let expires: jiff::Timestamp = t
        .expire_time
        .parse()
        .map_err(|_| bad(S, "an expireTime that is not a timestamp"))?;
    if t.access_token.is_empty() {
        return Err(bad(S, "an empty access token"));
    }
    let secs = u64::try_from(expires.as_second()).unwrap_or_default();
    Ok((
        t.access_token,
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
    ))
}

/// The subject token from `file`, as text or as a field of a JSON document.
fn subject_token(file: &str, format: Option<&Format>) -> Result<String, CloudError> {
    let text = read_token_file(P, "subject token file", file)?;
    match format.and_then(|f| f.kind.as_deref()) {
        None | Some("text") => Ok(text),
        Some("json") => {
            let field = format
                .and_then(|f| f.subject_token_field_name.as_deref())
                .ok_or_else(|| {
                    config("credential_source.format json without subject_token_field_name")
                })?;
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get(field)?.as_str().map(str::to_string))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| config(format!("the subject token file {file} has no {field}")))
        }
        Some(_) => Err(config("credential_source.format is neither text nor json")),
    }
}

/// A URL of a credentials file, accepted only as `https://<service>….googleapis.com/…`; with
/// a test `replacement` base, its origin is replaced (the path kept).
fn google_url(url: &str, service: &str, replacement: Option<&str>) -> Result<Url, CloudError> {
    let mut u = Url::parse(url).map_err(|_| config(format!("the {service} URL is not a URL")))?;
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let google = u.scheme() == "https"
        && u.port().is_none()
        && host.ends_with(".googleapis.com")
        && host
            .strip_prefix(service)
            .is_some_and(|rest| rest.starts_with('.'));
    if !google {
        return Err(config(format!(
            "the {service} URL of the credentials file is not https://{service}….googleapis.com"
        )));
    }
    if let Some(base) = replacement {
        let b = Url::parse(base).map_err(|_| config("a replacement endpoint that is not a URL"))?;
        let path = u.path().to_string();
        u = b
            .join(&path)
            .map_err(|_| config("cannot join the replacement endpoint"))?;
    }
    Ok(u)
}

/// A string of the controller's own file, bounded for a message.
fn bounded(s: &str) -> String {
    s.chars().take(40).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_urls_must_be_googles() {
        assert!(google_url("https://sts.googleapis.com/v1/token", "sts", None).is_ok());
        for bad in [
            "http://sts.googleapis.com/v1/token",
            "https://sts.googleapis.com.evil.example/v1/token",
            "https://evil.example/v1/token",
            "https://stsx.googleapis.com/v1/token",
            "https://sts.googleapis.com:8443/v1/token",
            "https://iamcredentials.googleapis.com/v1/token",
        ] {
            assert!(google_url(bad, "sts", None).is_err(), "{bad}");
        }
        let u = google_url(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
            "iamcredentials",
            Some("http://127.0.0.1:9"),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken"
        );
    }

    #[test]
    fn access_token_answers() {
        let (t, exp) = access_token(
            "x",
            br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t, "ya29.x");
        assert!(exp > SystemTime::now() + Duration::from_secs(3500));
        assert!(access_token("x", br#"{"access_token":""}"#).is_err());
        assert!(access_token("x", b"<html>").is_err());
    }
}
