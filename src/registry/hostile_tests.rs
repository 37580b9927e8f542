//! The registry client against a hostile in-process server: every way a registry can fail must
//! end as the right error (never an empty, "unsigned" discovery) and never as a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::testserver::{Reply, TestRequest, TestServer};
use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn digest() -> String {
    format!("sha256:{HEX}")
}
fn referrers_path() -> String {
    format!("/v2/app/referrers/sha256:{HEX}")
}
fn tag_path() -> String {
    format!("/v2/app/manifests/sha256-{HEX}")
}
fn sig_path() -> String {
    format!("/v2/app/manifests/sha256-{HEX}.sig")
}
fn sha(b: &[u8]) -> String {
    client::sha256_digest(b)
}

/// A handler answering fixed paths, and `fallback` for everything else.
fn routes(
    map: Vec<(String, Reply)>,
    fallback: Reply,
) -> impl Fn(&TestRequest) -> Reply + Send + Sync {
    let map: HashMap<String, Reply> = map.into_iter().collect();
    move |r| {
        map.get(r.path())
            .cloned()
            .unwrap_or_else(|| fallback.clone())
    }
}

fn client_with(opts: RegistryOptions) -> RegistryClient {
    RegistryClient::new(opts).expect("client")
}
fn client() -> RegistryClient {
    client_with(RegistryOptions {
        timeout: Duration::from_secs(5),
        ..Default::default()
    })
}
fn creds(host: &str, user: &str, pass: &str) -> DockerConfig {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    DockerConfig::from_json(format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#).as_bytes())
        .expect("config")
}

/// Bounds every test: a hang in the client is a failure, not a stuck test run.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("client call did not finish in time")
}

#[tokio::test]
async fn not_found_everywhere_is_an_empty_discovery_and_the_missing_api_is_remembered() {
    let srv = TestServer::start(routes(vec![], Reply::status(404))).await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(d.is_empty());
    assert_eq!(c.requests_made(), 3);
    let mut first = srv.request_lines();
    first.sort();
    assert_eq!(
        first,
        vec![
            format!("GET {}", tag_path()),
            format!("GET {}", sig_path()),
            format!("GET {}", referrers_path())
        ]
    );
    // Second time the tag fallback is read directly; the API is re-probed only because nothing
    // was found (a 404 can also mean "no such repository" on a registry that has the API).
    within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    let second = &srv.request_lines()[3..];
    assert_eq!(second.len(), 3);
    assert_eq!(second.last(), Some(&format!("GET {}", referrers_path())));
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_unavailable_never_empty() {
    for status in [500, 502, 503, 429] {
        let srv = TestServer::start(routes(vec![], Reply::status(status))).await;
        let err = within(client().discover(&srv.host, "app", &digest()))
            .await
            .expect_err("must fail");
        assert!(
            matches!(err, RegistryError::Unavailable { .. }),
            "{status}: {err:?}"
        );
        assert!(err.to_string().contains(&srv.host), "{err}");
    }
    // Only the legacy place failing is enough to make the whole discovery fail.
    let srv = TestServer::start(routes(
        vec![(sig_path(), Reply::status(500))],
        Reply::status(404),
    ))
    .await;
    let err = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect_err("must fail");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_registry_that_hangs_times_out_as_unavailable() {
    let srv = TestServer::start(routes(vec![(sig_path(), Reply::Hang)], Reply::status(404))).await;
    let records = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = records.clone();
    let c = client_with(RegistryOptions {
        timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .with_observer(Arc::new(move |r: &RequestRecord| {
        seen.lock().expect("lock").push(r.clone())
    }));
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, RegistryError::Unavailable { detail, .. } if detail.contains("timed out")),
        "{err:?}"
    );
    let records = records.lock().expect("lock").clone();
    assert_eq!(records.len() as u64, c.requests_made());
    assert!(
        records
            .iter()
            .any(|r| r.status.is_none() && r.registry == srv.host),
        "{records:?}"
    );
}

#[tokio::test]
async fn truncated_oversized_and_garbage_signature_stores_are_invalid_responses() {
    let c = client_with(RegistryOptions {
        max_manifest_bytes: 1000,
        timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let big = vec![b' '; 5000];
    let cases = vec![
        (
            "truncated",
            Reply::Truncated {
                declared: 900,
                body: br#"{"schemaVersion":2,"#.to_vec(),
            },
            "truncated",
        ),
        (
            "announced too big",
            Reply::json(200, OCI_INDEX, big.clone()),
            "exceeds 1000 bytes",
        ),
        (
            "streamed too big",
            Reply::Unframed { body: big },
            "exceeds 1000 bytes",
        ),
        (
            "garbage",
            Reply::json(200, OCI_INDEX, "<html>hello</html>"),
            "not an OCI image index",
        ),
        (
            "wrong kind",
            Reply::json(
                200,
                OCI_MANIFEST,
                format!(r#"{{"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
            ),
            "expected an OCI image index",
        ),
    ];
    for (name, reply, expect) in cases {
        let srv = TestServer::start(routes(vec![(tag_path(), reply)], Reply::status(404))).await;
        let err = within(c.discover(&srv.host, "app", &digest()))
            .await
            .expect_err(name);
        assert!(
            matches!(&err, RegistryError::InvalidResponse { detail, .. } if detail.contains(expect)),
            "{name}: {err:?}"
        );
    }
    let srv = TestServer::start(routes(
        vec![(sig_path(), Reply::json(200, OCI_MANIFEST, "{{{"))],
        Reply::status(404),
    ))
    .await;
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("garbage .sig");
    assert!(
        matches!(err, RegistryError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn legacy_layers_with_bad_annotations_are_malformed_and_good_payloads_need_no_fetch() {
    let payload = simple_signing_payload("HOST", "app", &digest());
    let sig = base64::engine::general_purpose::STANDARD.encode(b"sig-bytes");
    let srv_host_placeholder = "HOST";
    let make = move |host: &str| {
        let payload = String::from_utf8(payload.clone())
            .expect("utf8")
            .replace(srv_host_placeholder, host);
        let good = sha(payload.as_bytes());
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"x","digest":"{good}","size":1}},"layers":[
              {{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{good}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"{sig}","dev.sigstore.cosign/certificate":"CERT","dev.sigstore.cosign/bundle":"{{}}"}}}},
              {{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{good}","size":1,"annotations":{{"dev.cosignproject.cosign/signature":"!!not base64!!"}}}},
              {{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{good}","size":1,"annotations":{{"dev.cosignproject.cosign/signature":42}}}},
              {{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"../../etc/passwd","size":1}},
              {{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:{HEX}","size":3,"annotations":{{"dev.cosignproject.cosign/signature":"{sig}"}}}}
            ]}}"#,
            payload.len()
        )
    };
    // Bind first so the manifest can embed the server's own host in the expected payload.
    let manifest = Arc::new(std::sync::Mutex::new(String::new()));
    let m = manifest.clone();
    let srv = TestServer::start(move |r: &TestRequest| {
        if r.path() == sig_path() {
            Reply::json(200, OCI_MANIFEST, m.lock().expect("lock").clone())
        } else if r.path() == format!("/v2/app/blobs/sha256:{HEX}") {
            Reply::json(200, "application/octet-stream", "abc") // digest does not match
        } else {
            Reply::status(404)
        }
    })
    .await;
    *manifest.lock().expect("lock") = make(&srv.host);
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert_eq!(d.legacy.len(), 1, "{d:?}");
    let l = &d.legacy[0];
    assert_eq!(
        l.payload,
        simple_signing_payload(&srv.host, "app", &digest())
    );
    assert_eq!(l.certificate_pem.as_deref(), Some("CERT"));
    assert_eq!(l.rekor_bundle_json.as_deref(), Some("{}"));
    assert_eq!(d.malformed.len(), 4, "{:?}", d.malformed);
    assert!(d
        .malformed
        .iter()
        .all(|m| m.location == SignatureLocation::LegacyTag));
    assert!(
        d.malformed
            .iter()
            .any(|m| m.detail.contains("content has digest")),
        "{:?}",
        d.malformed
    );
    // The good payload was reconstructed: the only blob fetched is the mismatching one.
    let blob_gets = srv
        .request_lines()
        .iter()
        .filter(|l| l.contains("/blobs/"))
        .count();
    assert_eq!(blob_gets, 1, "{:?}", srv.request_lines());
}

#[tokio::test]
async fn referrers_api_bundles_are_read_other_artifacts_ignored_and_bad_ones_malformed() {
    let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec();
    let good_manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{BUNDLE}","layers":[{{"mediaType":"{BUNDLE}","digest":"{}","size":{}}}]}}"#,
        sha(&bundle),
        bundle.len()
    );
    let no_layer = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[{{"mediaType":"text/plain","digest":"{}","size":1}}]}}"#,
        sha(b"x")
    );
    let sbom = "sha256:5bom5bom".to_string();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
          {{"mediaType":"{OCI_MANIFEST}","digest":"{g}","size":1,"artifactType":"{BUNDLE}"}},
          {{"mediaType":"{OCI_MANIFEST}","digest":"{g}","size":1,"artifactType":"{BUNDLE}"}},
          {{"mediaType":"{OCI_MANIFEST}","digest":"{n}","size":1,"artifactType":"application/vnd.dev.sigstore.bundle+json;version=0.3"}},
          {{"mediaType":"{OCI_MANIFEST}","digest":"{sbom}","size":1,"artifactType":"application/spdx+json"}}
        ]}}"#,
        g = sha(good_manifest.as_bytes()),
        n = sha(no_layer.as_bytes()),
    );
    let srv = TestServer::start(routes(
        vec![
            (referrers_path(), Reply::json(200, OCI_INDEX, index)),
            (
                format!("/v2/app/manifests/{}", sha(good_manifest.as_bytes())),
                Reply::json(200, OCI_MANIFEST, good_manifest.clone()),
            ),
            (
                format!("/v2/app/manifests/{}", sha(no_layer.as_bytes())),
                Reply::json(200, OCI_MANIFEST, no_layer.clone()),
            ),
            (
                format!("/v2/app/blobs/{}", sha(&bundle)),
                Reply::json(200, BUNDLE, bundle.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert_eq!(d.bundles.len(), 1, "{d:?}");
    assert_eq!(d.bundles[0].location, SignatureLocation::ReferrersApi);
    assert_eq!(d.bundles[0].bytes, bundle);
    assert_eq!(d.bundles[0].media_type, BUNDLE);
    assert_eq!(d.bundles[0].manifest_digest, sha(good_manifest.as_bytes()));
    assert_eq!(d.malformed.len(), 1, "{:?}", d.malformed);
    assert!(d.malformed[0].detail.contains("no Sigstore bundle layer"));
    let lines = srv.request_lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("5bom") || *l == format!("GET {}", tag_path())),
        "{lines:?}"
    );
    // referrers + sig + 2 manifests + 1 blob; the duplicate entry is fetched once.
    assert_eq!(c.requests_made(), 5, "{lines:?}");
}

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

#[tokio::test]
async fn bad_arguments_and_options_are_config_errors() {
    let c = client();
    for (repo, dig) in [
        ("app", "sha256:abc"),
        ("App", digest().as_str()),
        ("a/../b", digest().as_str()),
    ] {
        let err = within(c.discover("127.0.0.1:1", repo, dig))
            .await
            .expect_err("bad args");
        assert!(matches!(err, RegistryError::Config(_)), "{err:?}");
    }
    assert_eq!(c.requests_made(), 0);
    let err = RegistryClient::new(RegistryOptions {
        extra_ca_pem: Some(b"junk".to_vec()),
        ..Default::default()
    })
    .expect_err("bad CA");
    assert!(matches!(err, RegistryError::Config(_)));
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = within(client().discover(&format!("127.0.0.1:{port}"), "app", &digest()))
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
}
