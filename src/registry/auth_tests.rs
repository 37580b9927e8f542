//! Authentication flows against an in-process server: bearer tokens (fetched once, reused up
//! front), identity tokens, Basic auth, refused realms; and tag resolution.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine as _;

use super::testserver::fixtures::*;
use super::testserver::{Reply, TestRequest, TestServer};
use super::*;

/// A registry that wants `Bearer tok-<n>` from its token endpoint at `/token`, which itself
/// wants the basic credentials `alice:pw-SECRET`.
async fn token_registry(tokens_issued: Arc<AtomicU64>, accept_tokens: bool) -> TestServer {
    let realm_host = Arc::new(std::sync::Mutex::new(String::new()));
    let rh = realm_host.clone();
    let srv = TestServer::start(move |r: &TestRequest| {
        let expected_basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:pw-SECRET")
        );
        if r.path() == "/token" {
            if r.header("authorization") != Some(expected_basic.as_str()) {
                return Reply::status(401);
            }
            assert!(
                r.target.contains("scope=repository%3Aapp%3Apull")
                    && r.target.contains("service=test"),
                "{}",
                r.target
            );
            let n = tokens_issued.fetch_add(1, Ordering::SeqCst);
            return Reply::json(
                200,
                "application/json",
                format!(r#"{{"token":"tok-{n}","expires_in":300}}"#),
            );
        }
        let ok = accept_tokens
            && r.header("authorization")
                .is_some_and(|a| a.starts_with("Bearer tok-"));
        if ok {
            return Reply::status(404);
        }
        let host = rh.lock().expect("lock").clone();
        Reply::status(401).with_header(
            "WWW-Authenticate",
            &format!(
                r#"Bearer realm="http://{host}/token",service="test",scope="repository:app:pull""#
            ),
        )
    })
    .await;
    *realm_host.lock().expect("lock") = srv.host.clone();
    srv
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_and_reused_up_front() {
    let issued = Arc::new(AtomicU64::new(0));
    let srv = token_registry(issued.clone(), true).await;
    let c = client_with(RegistryOptions {
        credentials: creds(&srv.host, "alice", "pw-SECRET"),
        ..Default::default()
    });
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(d.is_empty());
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "concurrent 401s must share one token"
    );
    // 2 challenged requests + 1 token + 2 retries + 1 tag fallback.
    assert_eq!(c.requests_made(), 6, "{:?}", srv.request_lines());
    assert_eq!(srv.requests().len() as u64, c.requests_made());

    let before = c.requests_made();
    within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    let later = &srv.requests()[before as usize..];
    assert_eq!(later.len(), 3, "tag + sig + re-probe, no 401 round trips");
    assert!(later
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer tok-0")));
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rejected_tokens_and_wrong_passwords_are_authentication_errors_without_secrets() {
    let issued = Arc::new(AtomicU64::new(0));
    let srv = token_registry(issued.clone(), false).await;
    let c = client_with(RegistryOptions {
        credentials: creds(&srv.host, "alice", "pw-SECRET"),
        ..Default::default()
    });
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("401 forever");
    assert!(
        matches!(err, RegistryError::Authentication { .. }),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SECRET") && !text.contains("tok-"), "{text}");

    let c = client_with(RegistryOptions {
        credentials: creds(&srv.host, "alice", "wrong-SECRET"),
        ..Default::default()
    });
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("token refused");
    assert!(
        matches!(&err, RegistryError::Authentication { detail, .. } if detail.contains("token endpoint")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("SECRET"));
}

#[tokio::test]
async fn identity_tokens_are_exchanged_with_a_refresh_token_post() {
    let realm = Arc::new(std::sync::Mutex::new(String::new()));
    let rh = realm.clone();
    let srv = TestServer::start(move |r: &TestRequest| {
        if r.path() == "/token" {
            let form = String::from_utf8_lossy(&r.body).to_string();
            let ok = r.method == "POST"
                && form.contains("grant_type=refresh_token")
                && form.contains("refresh_token=refresh-SECRET")
                && form.contains("scope=repository%3Aapp%3Apull");
            return if ok {
                Reply::json(200, "application/json", r#"{"access_token":"acc"}"#)
            } else {
                Reply::status(400)
            };
        }
        if r.header("authorization") == Some("Bearer acc") {
            return Reply::status(404);
        }
        let host = rh.lock().expect("lock").clone();
        Reply::status(401).with_header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="http://{host}/token",service="s""#),
        )
    })
    .await;
    *realm.lock().expect("lock") = srv.host.clone();
    let json = format!(
        r#"{{"auths":{{"{}":{{"identitytoken":"refresh-SECRET"}}}}}}"#,
        srv.host
    );
    let credentials = DockerConfig::from_json(json.as_bytes()).expect("config");
    let c = client_with(RegistryOptions {
        credentials,
        ..Default::default()
    });
    assert!(within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover")
        .is_empty());
    assert_eq!(
        srv.requests()
            .iter()
            .filter(|r| r.path() == "/token")
            .count(),
        1
    );
}

#[tokio::test]
async fn plain_http_token_realms_on_other_hosts_are_refused() {
    let srv = TestServer::start(|_: &TestRequest| {
        Reply::status(401).with_header(
            "WWW-Authenticate",
            r#"Bearer realm="http://auth.example.com/token",service="x""#,
        )
    })
    .await;
    let err = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, RegistryError::Authentication { detail, .. } if detail.contains("not https")),
        "{err:?}"
    );
    let none = TestServer::start(|_: &TestRequest| Reply::status(401)).await;
    let err = within(client().discover(&none.host, "app", &digest()))
        .await
        .expect_err("no challenge");
    assert!(
        matches!(err, RegistryError::Authentication { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn basic_auth_succeeds_with_credentials_and_fails_without() {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:hunter2")
    );
    let srv = TestServer::start(move |r: &TestRequest| {
        if r.header("authorization") == Some(expected.as_str()) {
            Reply::status(404)
        } else {
            Reply::status(401).with_header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
        }
    })
    .await;
    let err = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect_err("no creds");
    assert!(
        matches!(&err, RegistryError::Authentication { detail, .. } if detail.contains("none are configured")),
        "{err:?}"
    );
    let wrong = client_with(RegistryOptions {
        credentials: creds(&srv.host, "bob", "nope"),
        ..Default::default()
    });
    let err = within(wrong.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("wrong creds");
    assert!(
        matches!(err, RegistryError::Authentication { .. }),
        "{err:?}"
    );

    let c = client_with(RegistryOptions {
        credentials: creds(&srv.host, "bob", "hunter2"),
        ..Default::default()
    });
    assert!(within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover")
        .is_empty());
    let before = c.requests_made();
    within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert_eq!(
        c.requests_made() - before,
        3,
        "basic credentials are sent up front once known"
    );
}

#[tokio::test]
async fn resolve_digest_uses_the_header_falls_back_to_hashing_and_reports_not_found() {
    let body = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
    let d = sha(body.as_bytes());
    let (b2, d2) = (body.clone(), d.clone());
    let srv = TestServer::start(move |r: &TestRequest| match (r.method.as_str(), r.path()) {
        ("HEAD", "/v2/app/manifests/v1") => {
            Reply::json(200, OCI_MANIFEST, "").with_header("Docker-Content-Digest", &d2)
        }
        ("HEAD", "/v2/app/manifests/v2") => Reply::status(405),
        ("GET", "/v2/app/manifests/v2") => Reply::json(200, OCI_MANIFEST, b2.clone()),
        ("HEAD", "/v2/app/manifests/liar") => Reply::status(200),
        ("GET", "/v2/app/manifests/liar") => Reply::json(200, OCI_MANIFEST, b2.clone())
            .with_header("Docker-Content-Digest", &digest()),
        _ => Reply::status(404),
    })
    .await;
    let c = client();
    let r = |s: &str| -> ImageRef { s.parse().expect("ref") };
    assert_eq!(
        within(c.resolve_digest(&r(&format!("{}/app:v1", srv.host))))
            .await
            .expect("v1"),
        d
    );
    assert_eq!(c.requests_made(), 1);
    assert_eq!(
        within(c.resolve_digest(&r(&format!("{}/app:v2", srv.host))))
            .await
            .expect("v2"),
        d
    );
    let err = within(c.resolve_digest(&r(&format!("{}/app:liar", srv.host))))
        .await
        .expect_err("liar");
    assert!(
        matches!(err, RegistryError::InvalidResponse { .. }),
        "{err:?}"
    );
    let err = within(c.resolve_digest(&r(&format!("{}/app:gone", srv.host))))
        .await
        .expect_err("gone");
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    let before = c.requests_made();
    let pinned = r(&format!("{}/app:v1@{}", srv.host, digest()));
    assert_eq!(
        within(c.resolve_digest(&pinned)).await.expect("pinned"),
        digest()
    );
    assert_eq!(c.requests_made(), before, "a pinned digest needs no I/O");

    // A manifest fetched by digest must hash to that digest.
    let err = within(c.get_manifest(&srv.host, "app", &format!("sha256:{HEX}"))).await;
    assert!(matches!(err, Ok(None)), "{err:?}");
    let srv2 =
        TestServer::start(move |_: &TestRequest| Reply::json(200, OCI_MANIFEST, body.clone()))
            .await;
    let err = within(c.get_manifest(&srv2.host, "app", &digest()))
        .await
        .expect_err("mismatch");
    assert!(
        matches!(err, RegistryError::InvalidResponse { .. }),
        "{err:?}"
    );
}
