//! ACR credentials from the controller's Azure workload identity, over Microsoft's documented
//! HTTP APIs:
//!
//! 1. the federated token in `AZURE_FEDERATED_TOKEN_FILE` (projected by AKS's workload
//!    identity webhook, with `AZURE_CLIENT_ID` and `AZURE_TENANT_ID`) exchanged at Entra ID
//!    (OAuth2 client credentials with a client assertion) for an access token to the
//!    registry's cloud's Resource Manager;
//! 2. that token exchanged at the registry's own `/oauth2/exchange` for an ACR refresh token,
//!    the registry password of the user `00000000-0000-0000-0000-000000000000`.
//!
//! The Entra ID authority follows the registry's cloud (`azurecr.io`, `.cn`, `.us`). Managed
//! identities through IMDS (without workload identity) are not used.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;

use super::endpoints::{CloudEndpoints, Endpoint};
use super::error::{CloudError, Provider};
use super::host::AzureCloud;
use super::http::{form, oauth_error_code, read_token_file, CloudHttp};
use super::identity::{CloudEnv, RegistryToken};

const P: Provider = Provider::Azure;
/// ACR's user for a refresh token.
const USER: &str = "00000000-0000-0000-0000-000000000000";

/// The registry credential for ACR `registry` in `cloud`.
pub(super) async fn registry_token(
    http: &CloudHttp,
    env: &CloudEnv,
    endpoints: &CloudEndpoints,
    registry: &str,
    cloud: AzureCloud,
) -> Result<RegistryToken, CloudError> {
    let (Some(client), Some(tenant), Some(file)) = (
        env.get("AZURE_CLIENT_ID"),
        env.get("AZURE_TENANT_ID"),
        env.get("AZURE_FEDERATED_TOKEN_FILE"),
    ) else {
        return Err(CloudError::NoIdentity {
            provider: P,
            detail: "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE (workload identity) are not all set in the controller's environment".into(),
        });
    };
    if !is_tenant(tenant) {
        return Err(CloudError::Config {
            provider: P,
            detail: "AZURE_TENANT_ID is not a tenant ID or domain".into(),
        });
    }
    let assertion = read_token_file(P, "federated token file", file)?;
    let access = entra_token(http, endpoints, cloud, tenant, client, &assertion).await?;
    let refresh = exchange(http, endpoints, registry, tenant, &access).await?;
    let expires = jwt_expiry(&refresh);
    Ok(RegistryToken {
        username: USER.into(),
        password: refresh,
        expires,
    })
}

/// A tenant ID (a GUID) or a verified domain: never anything that changes the URL's path.
fn is_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        && !t.starts_with('.')
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

fn bad(service: &'static str, detail: &str) -> CloudError {
    CloudError::BadResponse {
        provider: P,
        service,
        detail: detail.into(),
    }
}

async fn entra_token(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
    cloud: AzureCloud,
    tenant: &str,
    client: &str,
    assertion: &str,
) -> Result<String, CloudError> {
    const S: &str = "Entra ID";
    let base = endpoints.base(Endpoint::AzureAuthority, cloud.authority().into());
    let body = form(&[
        ("client_id", client),
        ("scope", cloud.scope()),
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ]);
    let req = http
        .request(
            P,
            S,
            Method::POST,
            &format!("{base}/{tenant}/oauth2/v2.0/token"),
        )?
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    let answer = http.ok(P, S, req, oauth_error_code).await?;
    let t: TokenAnswer = serde_json::from_slice(&answer.body)
        .map_err(|_| bad(S, "an answer that is not a token"))?;
    t.access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(S, "an answer without access_token"))
}

async fn exchange(
    http: &CloudHttp,
    endpoints: &CloudEndpoints,
    registry: &str,
    tenant: &str,
    access: &str,
) -> Result<String, CloudError> {
    const S: &str = "ACR token exchange";
    let base = endpoints.base(Endpoint::AzureExchange, format!("https://{registry}"));
    let body = form(&[
        ("grant_type", "access_token"),
        ("service", registry),
        ("tenant", tenant),
        ("access_token", access),
    ]);
    let req = http
        .request(P, S, Method::POST, &format!("{base}/oauth2/exchange"))?
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    let answer = http.ok(P, S, req, oauth_error_code).await?;
    let t: TokenAnswer = serde_json::from_slice(&answer.body)
        .map_err(|_| bad(S, "an answer that is not a token"))?;
    t.refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(S, "an answer without refresh_token"))
}

/// The `exp` of a JWT, read without verifying it (the registry verifies its own token; the
/// expiry only decides how long it is kept). `None` when it is not a JWT with one.
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = v.get("exp")?.as_u64()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp.min(1 << 40)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_cannot_change_the_path() {
        assert!(is_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(is_tenant("contoso.onmicrosoft.com"));
        for bad in ["", "a/b", "..", ".x", "a?b", "a#b", "a b"] {
            assert!(!is_tenant(bad), "{bad}");
        }
    }

    #[test]
    fn jwt_expiry_is_read_from_the_payload() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1900000000}"#);
        assert_eq!(
            jwt_expiry(&format!("e30.{payload}.sig")),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }
}
