//! HTTP plumbing shared by the registry client: the reqwest client (TLS roots, timeouts,
//! redirect rules), size-limited body reads and the mapping of statuses and transport failures
//! onto [`RegistryError`]. Nothing here knows about signatures.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{redirect, Response, StatusCode, Url};

use super::budget::Budget;
use super::error::RegistryError;

/// Builds the shared reqwest client: platform roots plus the extra CA bundle, the per-request
/// timeout, and redirects that never downgrade to plain HTTP (blob downloads are often redirected
/// to object storage, so redirects must be followed, but not to a cleartext host).
pub(crate) fn build_http_client(
    timeout: Duration,
    extra_ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, RegistryError> {
    build_http_client_with(timeout, extra_ca_pem, None)
}

/// [`build_http_client`] that also presents a TLS client certificate (`identity`: PEM
/// certificate chain and private key), as a Helm repository's `certSecretRef` asks.
pub(crate) fn build_http_client_with(
    timeout: Duration,
    extra_ca_pem: Option<&[u8]>,
    identity: Option<&[u8]>,
) -> Result<reqwest::Client, RegistryError> {
    if timeout.is_zero() {
        return Err(RegistryError::Config(
            "timeout must be greater than zero".into(),
        ));
    }
    let policy = redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("more than 5 redirects");
        }
        let downgrade = attempt.url().scheme() == "http"
            && attempt
                .previous()
                .last()
                .is_some_and(|p| p.scheme() == "https")
            && !attempt.url().host_str().is_some_and(is_loopback_host);
        if downgrade {
            return attempt.error("refusing a redirect from https to plain http");
        }
        attempt.follow()
    });
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(policy)
        .user_agent(concat!("provenance-auditor/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| RegistryError::Config(format!("extra CA bundle is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(RegistryError::Config(
                "extra CA bundle contains no certificate".into(),
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    if let Some(pem) = identity {
        let id = reqwest::Identity::from_pem(pem).map_err(|_| {
            RegistryError::Config("the TLS client certificate and key are not valid PEM".into())
        })?;
        builder = builder.identity(id);
    }
    builder
        .build()
        .map_err(|e| RegistryError::Config(format!("cannot build the HTTP client: {}", chain(&e))))
}

/// True for hosts that are always spoken to over plain HTTP (as cosign does for local
/// registries): `localhost`, 127.0.0.0/8 and `::1`, with or without brackets and port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host_without_port(host);
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → the bare host.
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        // More than one ':' without brackets is a bare IPv6 address, not host:port.
        Some((h, _)) if !h.contains(':') => h,
        _ => host,
    }
}

/// `http` or `https` for a registry host.
pub(crate) fn scheme_for(registry: &str, insecure: &[String]) -> &'static str {
    if is_loopback_host(registry) || insecure.iter().any(|i| i.eq_ignore_ascii_case(registry)) {
        "http"
    } else {
        "https"
    }
}

/// The URL of `/v2/<path>` on a registry.
pub(crate) fn v2_url(
    registry: &str,
    insecure: &[String],
    path: &str,
) -> Result<Url, RegistryError> {
    let s = format!(
        "{}://{}/v2/{}",
        scheme_for(registry, insecure),
        registry,
        path
    );
    Url::parse(&s)
        .map_err(|e| RegistryError::Config(format!("cannot build a URL for {registry}: {e}")))
}

/// Reads a body, refusing more than `limit` bytes: an announced Content-Length above the limit is
/// rejected before reading, and reading stops as soon as the limit is passed. Every chunk is
/// charged to `budget` (the discovery's), and reading stops when it is spent.
///
/// How a failed read is classified decides whether a verdict may be drawn, so: a reset, a body
/// shorter than announced, a timeout or a stall is `Unavailable` (the transport failed, the
/// content is unknown); passing the size limit or the budget is `Limit`. Neither is ever
/// evidence about a signature.
pub(crate) async fn read_limited(
    registry: &str,
    what: &str,
    mut resp: Response,
    limit: usize,
    budget: &Budget,
) -> Result<Vec<u8>, RegistryError> {
    let announced = content_length(resp.headers());
    if let Some(n) = announced {
        if n > limit as u64 {
            return Err(RegistryError::limit(
                registry,
                format!("{what} exceeds {limit} bytes (Content-Length {n})"),
            ));
        }
        if n > budget.left() {
            return Err(over_budget(registry, what, budget));
        }
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize).min(limit));
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(RegistryError::limit(
                        registry,
                        format!("{what} exceeds {limit} bytes"),
                    ));
                }
                if !budget.take(chunk.len()) {
                    return Err(over_budget(registry, what, budget));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(RegistryError::unavailable(
                    registry,
                    format!("timed out reading {what}"),
                ))
            }
            Err(e) => {
                return Err(RegistryError::unavailable(
                    registry,
                    format!("{what} cut short: {}", chain(&e.without_url())),
                ))
            }
        }
    }
    if let Some(n) = announced {
        if body.len() as u64 != n {
            return Err(RegistryError::unavailable(
                registry,
                format!("{what} cut short: {} of {n} bytes", body.len()),
            ));
        }
    }
    Ok(body)
}

fn over_budget(registry: &str, what: &str, budget: &Budget) -> RegistryError {
    RegistryError::limit(
        registry,
        format!(
            "discovery byte budget ({} bytes) spent before {what} was read",
            budget.total()
        ),
    )
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Maps a status that the caller did not expect onto an error. `what` names the object.
pub(crate) fn status_error(registry: &str, status: StatusCode, what: &str) -> RegistryError {
    let code = status.as_u16();
    match code {
        401 | 403 => RegistryError::auth(registry, format!("{what}: access denied (HTTP {code})")),
        429 => RegistryError::unavailable(registry, format!("{what}: rate limited (HTTP 429)")),
        500..=599 => {
            RegistryError::unavailable(registry, format!("{what}: server error (HTTP {code})"))
        }
        _ => RegistryError::unavailable(registry, format!("{what}: unexpected HTTP status {code}")),
    }
}

/// Maps a reqwest failure (before a response arrived) onto an error, without the URL (which is
/// ours and adds nothing) but with the causal chain, which is where the useful text lives.
pub(crate) fn transport_error(registry: &str, what: &str, e: reqwest::Error) -> RegistryError {
    if e.is_timeout() {
        RegistryError::unavailable(registry, format!("{what}: timed out"))
    } else {
        RegistryError::unavailable(registry, format!("{what}: {}", chain(&e.without_url())))
    }
}

/// An error and its sources joined by ": ".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure_hosts_use_plain_http() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "[::1]",
        ] {
            assert_eq!(scheme_for(h, &[]), "http", "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert_eq!(scheme_for(h, &[]), "https", "{h}");
        }
        assert_eq!(scheme_for("reg.lan:5000", &["reg.lan:5000".into()]), "http");
        assert_eq!(
            scheme_for("reg.lan:5001", &["reg.lan:5000".into()]),
            "https"
        );
    }

    #[test]
    fn bad_ca_bundles_are_config_errors() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            build_http_client(t, Some(b"no pem here")),
            Err(RegistryError::Config(_))
        ));
        assert!(matches!(
            build_http_client(Duration::ZERO, None),
            Err(RegistryError::Config(_))
        ));
        assert!(build_http_client(t, None).is_ok());
        let bundle = format!("{TEST_CA}{TEST_CA}");
        assert!(build_http_client(t, Some(bundle.as_bytes())).is_ok());
        let corrupt = TEST_CA.replace("MIIBoDCC", "MIIBoD!!");
        assert!(matches!(
            build_http_client(t, Some(corrupt.as_bytes())),
            Err(RegistryError::Config(_))
        ));
    }

    /// A self-signed P-256 CA (openssl req -x509), only ever parsed.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBoDCCAUegAwIBAgIUeJFLFTV/UafWseOkTMW669bqBQIwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwacHJvdmVuYW5jZS1hdWRpdG9yIHRlc3QgQ0EwIBcNMjYxMTI3
MjEyNjAwWhgPMjEyNjExMDMyMTI2MDBaMCUxIzAhBgNVBAMMGnByb3ZlbmFuY2Ut
YXVkaXRvciB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyK3V6ctx
tg7hhMCWlwJxm3nX9RxKuvSzOAViUgBxg6qo8gY2zad+9cx0GQbd5ib7SipMvDac
8zl3rYkYNmVnhKNTMFEwHQYDVR0OBBYEFMLa1AZK8yAFOvh12+xv+AOdyxHtMB8G
A1UdIwQYMBaAFMLa1AZK8yAFOvh12+xv+AOdyxHtMA8GA1UdEwEB/wQFMAMBAf8w
CgYIKoZIzj0EAwIDRwAwRAIgBi7saAD3/Ee55A4F7GtxExmU/jb1kQOMf4011NF+
NZMCIBLWEngbcSOsY08cIdPfg27jx3W8aDIh8rxBc2c58s8D
-----END CERTIFICATE-----
";
}
