//! The chart repository client against the in-process hostile server: where credentials go
//! (Flux's rules), what is "no provenance" and what is "could not tell", and the bounds.

use std::time::Duration;

use reqwest::Url;

use super::*;
use crate::registry::testserver::fixtures::within;
use crate::registry::testserver::{Reply, TestRequest, TestServer};

fn index(url: &str) -> Vec<u8> {
    format!(
        "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 0.2.0\n    urls: [demo-0.2.0.tgz]\n  - name: demo\n    version: 0.1.0\n    digest: abc\n    urls:\n    - {url}\n    annotations: {{a: b}}\n"
    )
    .into_bytes()
}

fn ok(body: impl Into<Vec<u8>>) -> Reply {
    Reply::json(200, "application/octet-stream", body)
}

fn opts() -> HelmRepoOptions {
    HelmRepoOptions {
        timeout: Duration::from_secs(5),
        basic: Some(("user".into(), "secret".into())),
        ..HelmRepoOptions::default()
    }
}

fn auth_of(r: &TestRequest) -> Option<String> {
    r.header("authorization").map(str::to_string)
}

#[tokio::test]
async fn entries_resolve_relative_and_absolute_urls() {
    let base = Url::parse("http://repo.example/charts/").unwrap();
    let e = entry_in_index(&index("sub/demo-0.1.0.tgz"), &base, "demo", "0.1.0").unwrap();
    assert_eq!(
        e.url.as_str(),
        "http://repo.example/charts/sub/demo-0.1.0.tgz"
    );
    assert_eq!(e.digest.as_deref(), Some("abc"));
    let e = entry_in_index(
        &index("https://cdn.example/demo.tgz"),
        &base,
        "demo",
        "0.1.0",
    )
    .unwrap();
    assert_eq!(e.url.as_str(), "https://cdn.example/demo.tgz");
    assert_eq!(
        entry_in_index(&index("x"), &base, "demo", "9.9.9"),
        Err(IndexError::Missing)
    );
    assert_eq!(
        entry_in_index(&index("x"), &base, "other", "0.1.0"),
        Err(IndexError::Missing)
    );
    assert!(matches!(
        entry_in_index(&index("file:///etc/passwd"), &base, "demo", "0.1.0"),
        Err(IndexError::BadUrl(_))
    ));
    assert!(matches!(
        entry_in_index(b"entries: [", &base, "demo", "0.1.0"),
        Err(IndexError::Malformed(_))
    ));
}

#[tokio::test]
async fn credentials_go_to_the_repository_origin_only() {
    let other = TestServer::start(|_| ok("pkg")).await;
    let pkg = format!("http://{}/demo-0.1.0.tgz", other.host);
    let body = index(&pkg);
    let repo = TestServer::start(move |r| match r.path() {
        "/index.yaml" => ok(body.clone()),
        _ => ok("pkg"),
    })
    .await;
    let client = HelmRepoClient::new(&format!("http://{}", repo.host), opts()).unwrap();
    let entry = within(client.chart_entry("demo", "0.1.0")).await.unwrap();
    assert_eq!(entry.url.as_str(), pkg);
    within(client.package(&entry.url)).await.unwrap();
    let _ = within(client.prov(&entry.url)).await;
    assert!(repo.requests().iter().all(|r| auth_of(r).is_some()));
    assert!(
        other.requests().iter().all(|r| auth_of(r).is_none()),
        "{:?}",
        other.request_lines()
    );
    // passCredentials: then also to the other host.
    let client = HelmRepoClient::new(
        &format!("http://{}", repo.host),
        HelmRepoOptions {
            pass_credentials: true,
            ..opts()
        },
    )
    .unwrap();
    within(client.package(&entry.url)).await.unwrap();
    assert!(other.requests().iter().any(|r| auth_of(r).is_some()));
}

#[tokio::test]
async fn a_missing_prov_is_none_and_every_other_failure_an_error() {
    let repo = TestServer::start(|r| match r.path() {
        "/a.tgz.prov" => Reply::status(404),
        "/b.tgz.prov" => Reply::status(500),
        "/c.tgz.prov" => Reply::status(401),
        "/d.tgz.prov" => Reply::Truncated {
            declared: 100,
            body: b"-----BEGIN".to_vec(),
        },
        "/e.tgz.prov" => ok(vec![b'x'; MAX_PROV_BYTES + 1]),
        _ => ok("ok"),
    })
    .await;
    let client = HelmRepoClient::new(&format!("http://{}", repo.host), opts()).unwrap();
    let url = |p: &str| Url::parse(&format!("http://{}/{p}", repo.host)).unwrap();
    assert_eq!(within(client.prov(&url("a.tgz"))).await.unwrap(), None);
    assert!(matches!(
        within(client.prov(&url("b.tgz"))).await,
        Err(RegistryError::Unavailable { .. })
    ));
    assert!(matches!(
        within(client.prov(&url("c.tgz"))).await,
        Err(RegistryError::Authentication { .. })
    ));
    assert!(matches!(
        within(client.prov(&url("d.tgz"))).await,
        Err(RegistryError::Unavailable { .. })
    ));
    assert!(matches!(
        within(client.prov(&url("e.tgz"))).await,
        Err(RegistryError::Limit { .. })
    ));
    assert_eq!(
        within(client.prov(&url("f.tgz"))).await.unwrap(),
        Some(b"ok".to_vec())
    );
}

#[tokio::test]
async fn packages_are_hashed_bounded_and_checked_for_presence() {
    let repo = TestServer::start(|r| match r.path() {
        "/big.tgz" => Reply::Unframed {
            body: vec![0; MAX_PACKAGE_BYTES + 10],
        },
        "/gone.tgz" => Reply::status(404),
        "/short.tgz" => Reply::Truncated {
            declared: 100,
            body: vec![1; 10],
        },
        _ => ok("chart package"),
    })
    .await;
    let client = HelmRepoClient::new(&format!("http://{}", repo.host), opts()).unwrap();
    let url = |p: &str| Url::parse(&format!("http://{}/{p}", repo.host)).unwrap();
    let p = within(client.package(&url("demo.tgz"))).await.unwrap();
    assert_eq!(p.bytes, 13);
    assert_eq!(
        p.digest,
        format!("sha256:{}", hex::encode(Sha256::digest(b"chart package")))
    );
    assert!(matches!(
        within(client.package(&url("big.tgz"))).await,
        Err(RegistryError::Limit { .. })
    ));
    assert!(matches!(
        within(client.package(&url("gone.tgz"))).await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(within(client.package(&url("short.tgz"))).await.is_err());
    within(client.package_exists(&url("demo.tgz")))
        .await
        .unwrap();
    assert!(matches!(
        within(client.package_exists(&url("gone.tgz"))).await,
        Err(RegistryError::NotFound { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_repository_is_unavailable_not_empty() {
    let client = HelmRepoClient::new("http://127.0.0.1:9", opts()).unwrap();
    assert!(matches!(
        within(client.chart_entry("demo", "0.1.0")).await,
        Err(RegistryError::Unavailable { .. })
    ));
}

#[test]
fn only_http_urls_are_repositories_and_options_never_print_credentials() {
    assert!(HelmRepoClient::new("oci://ghcr.io/x", opts()).is_err());
    assert!(HelmRepoClient::new("not a url", opts()).is_err());
    let c = HelmRepoClient::new("https://charts.example/x", opts()).unwrap();
    assert!(!format!("{c:?}").contains("secret"));
    let p = prov_url(&Url::parse("https://h/a/demo-0.1.0.tgz?sig=1").unwrap()).unwrap();
    assert_eq!(p.as_str(), "https://h/a/demo-0.1.0.tgz.prov?sig=1");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]
    #[test]
    fn arbitrary_indexes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
        let base = Url::parse("http://r/").unwrap();
        let _ = entry_in_index(&body, &base, "demo", "0.1.0");
    }
}
