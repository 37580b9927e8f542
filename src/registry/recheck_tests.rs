//! Re-checks against an in-process registry whose content the tests change between rounds:
//! what an unchanged re-check asks (HEADs and the referrers listing, never a manifest GET or a
//! blob), what counts as changed or unknown, and that faults stay faults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::testserver::fixtures::*;
use super::super::testserver::{Reply, TestRequest, TestServer};
use super::*;
use crate::registry::{BudgetSpec, PauseCause, RegistryOptions, Throttle};

/// Objects by path: their media type and bytes.
type Objects = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// A registry's content by path, changed by the tests while the server runs.
#[derive(Clone, Default)]
struct Store {
    objects: Objects,
    /// Whether the referrers API exists (else it answers 404).
    api: bool,
    /// Whether a HEAD answers `Docker-Content-Digest`.
    no_digest_on_head: Arc<Mutex<bool>>,
    /// A status every HEAD answers instead, with its headers.
    head_fault: Arc<Mutex<Option<Reply>>>,
}

impl Store {
    fn put(&self, path: String, media: &str, body: Vec<u8>) {
        self.objects
            .lock()
            .unwrap()
            .insert(path, (media.to_string(), body));
    }

    fn handler(&self) -> impl Fn(&TestRequest) -> Reply + Send + Sync {
        let s = self.clone();
        move |r| {
            if r.method == "HEAD" {
                if let Some(f) = s.head_fault.lock().unwrap().clone() {
                    return f;
                }
            }
            let objects = s.objects.lock().unwrap();
            if r.path() == referrers_path() && !s.api {
                return Reply::status(404);
            }
            match objects.get(r.path()) {
                None if r.path() == referrers_path() => Reply::json(
                    200,
                    OCI_INDEX,
                    format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#),
                ),
                None => Reply::status(404),
                Some((media, body)) => {
                    let reply = Reply::json(200, media, body.clone());
                    if r.method == "HEAD" && *s.no_digest_on_head.lock().unwrap() {
                        reply
                    } else {
                        reply.with_header("Docker-Content-Digest", &sha(body))
                    }
                }
            }
        }
    }
}

/// A bundle referrer: its manifest and blob in the store; returns the manifest's descriptor.
fn add_bundle(store: &Store, n: u8) -> String {
    let bundle = format!(r#"{{"mediaType":"{BUNDLE}","n":{n}}}"#).into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{BUNDLE}","layers":[{{"mediaType":"{BUNDLE}","digest":"{}","size":{}}}]}}"#,
        sha(&bundle),
        bundle.len()
    );
    store.put(
        format!("/v2/app/manifests/{}", sha(manifest.as_bytes())),
        OCI_MANIFEST,
        manifest.clone().into_bytes(),
    );
    store.put(format!("/v2/app/blobs/{}", sha(&bundle)), BUNDLE, bundle);
    format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"artifactType":"{BUNDLE}"}}"#,
        sha(manifest.as_bytes()),
        manifest.len()
    )
}

/// The index listing `entries`, at the referrers tag or as the API's answer.
fn index(entries: &[String]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

fn sign_at_tag(store: &Store, entries: &[String]) {
    store.put(tag_path(), OCI_INDEX, index(entries));
}

/// The requests made since `before` (method and path).
fn since(srv: &TestServer, before: usize) -> Vec<String> {
    srv.request_lines()[before..].to_vec()
}

fn manifest_gets(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/manifests/"))
        .count()
}

async fn discovered(c: &RegistryClient, srv: &TestServer, options: DiscoverOptions) -> Seen {
    let d = within(c.discover_with(&srv.host, "app", &digest(), options))
        .await
        .expect("discover");
    d.seen.expect("a complete discovery is remembered")
}

async fn recheck(
    c: &RegistryClient,
    srv: &TestServer,
    seen: &Seen,
    options: DiscoverOptions,
) -> Result<Recheck, RegistryError> {
    within(c.recheck(&srv.host, "app", &digest(), seen, options)).await
}

#[tokio::test]
async fn an_unchanged_tag_fallback_is_two_heads_and_no_manifest_get() {
    let store = Store::default();
    let b = add_bundle(&store, 1);
    sign_at_tag(&store, &[b]);
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    assert!(seen.manifest_gets >= 2, "{seen:?}");
    let before = srv.requests().len();
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert_eq!(r.unwrap(), Recheck::Unchanged);
    let mut lines = since(&srv, before);
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("HEAD {}", tag_path()),
            format!("HEAD {}", sig_path())
        ],
        "{lines:?}"
    );
    assert_eq!(manifest_gets(&lines), 0);
    assert!(!lines.iter().any(|l| l.contains("/blobs/")), "{lines:?}");
}

#[tokio::test]
async fn a_signature_added_or_deleted_between_rounds_is_a_change() {
    let store = Store::default();
    let first = add_bundle(&store, 1);
    sign_at_tag(&store, std::slice::from_ref(&first));
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    // CI signs again: the referrers tag now lists two bundles.
    let second = add_bundle(&store, 2);
    sign_at_tag(&store, &[first.clone(), second]);
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(matches!(r, Ok(Recheck::Changed(_))), "{r:?}");
    // A legacy signature appears where there was none.
    sign_at_tag(&store, &[first]);
    store.put(
        sig_path(),
        OCI_MANIFEST,
        br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
    );
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(
        matches!(r, Ok(Recheck::Changed(ref w)) if w.contains(".sig")),
        "{r:?}"
    );
    // Everything deleted.
    store.objects.lock().unwrap().clear();
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(matches!(r, Ok(Recheck::Changed(_))), "{r:?}");
}

#[tokio::test]
async fn a_head_without_a_digest_or_with_an_odd_status_is_unknown_so_changed() {
    let store = Store::default();
    sign_at_tag(&store, &[add_bundle(&store, 1)]);
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    *store.no_digest_on_head.lock().unwrap() = true;
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(
        matches!(r, Ok(Recheck::Changed(ref w)) if w.contains("no digest")),
        "{r:?}"
    );
    *store.no_digest_on_head.lock().unwrap() = false;
    for odd in [405, 400, 302] {
        *store.head_fault.lock().unwrap() = Some(Reply::status(odd));
        let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
        assert!(matches!(r, Ok(Recheck::Changed(_))), "{odd}: {r:?}");
    }
    // A digest header that is not a sha256 digest tells nothing either.
    *store.head_fault.lock().unwrap() =
        Some(Reply::status(200).with_header("Docker-Content-Digest", "md5:abc"));
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(matches!(r, Ok(Recheck::Changed(_))), "{r:?}");
}

#[tokio::test]
async fn a_fault_is_a_fault_never_unchanged() {
    let store = Store::default();
    sign_at_tag(&store, &[add_bundle(&store, 1)]);
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    for code in [500, 503, 403] {
        *store.head_fault.lock().unwrap() = Some(Reply::status(code));
        let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
        assert!(
            matches!(
                r,
                Err(RegistryError::Unavailable { .. } | RegistryError::Authentication { .. })
            ),
            "{code}: {r:?}"
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_host_and_sends_nothing_until_then() {
    let store = Store::default();
    sign_at_tag(&store, &[add_bundle(&store, 1)]);
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    *store.head_fault.lock().unwrap() = Some(Reply::status(429).with_header("Retry-After", "30"));
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    match r {
        Err(RegistryError::Paused { cause, detail, .. }) => {
            assert_eq!(cause, PauseCause::BackOff);
            assert!(detail.contains("Retry-After 30 s"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    *store.head_fault.lock().unwrap() = None;
    let before = srv.requests().len();
    // Neither a re-check nor a discovery (nor another client from the same options) asks.
    let again = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(
        matches!(again, Err(RegistryError::Paused { .. })),
        "{again:?}"
    );
    let other = client_with(c.base_options());
    let d = within(other.discover(&srv.host, "app", &digest())).await;
    assert!(matches!(d, Err(RegistryError::Paused { .. })), "{d:?}");
    assert_eq!(srv.requests().len(), before, "{:?}", since(&srv, before));
}

#[tokio::test]
async fn the_referrers_api_is_listed_again_and_only_bundles_matter() {
    let store = Store {
        api: true,
        ..Store::default()
    };
    let b1 = add_bundle(&store, 1);
    store.put(
        referrers_path(),
        OCI_INDEX,
        index(std::slice::from_ref(&b1)),
    );
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    let before = srv.requests().len();
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert_eq!(r.unwrap(), Recheck::Unchanged);
    let lines = since(&srv, before);
    assert_eq!(lines.len(), 2, "the listing and the .sig HEAD: {lines:?}");
    assert_eq!(manifest_gets(&lines), 0, "{lines:?}");
    // An SBOM attached (not a bundle) changes nothing discovery reads; the order neither.
    let sbom = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"artifactType":"application/spdx+json"}}"#,
        sha(b"sbom")
    );
    store.put(
        referrers_path(),
        OCI_INDEX,
        index(&[sbom.clone(), b1.clone()]),
    );
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert_eq!(r.unwrap(), Recheck::Unchanged);
    // A second bundle is a change.
    let b2 = add_bundle(&store, 2);
    store.put(referrers_path(), OCI_INDEX, index(&[b1, sbom, b2]));
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(matches!(r, Ok(Recheck::Changed(_))), "{r:?}");
}

#[tokio::test]
async fn a_notation_signature_added_to_the_referrers_api_is_a_change() {
    let store = Store {
        api: true,
        ..Store::default()
    };
    let b1 = add_bundle(&store, 1);
    store.put(
        referrers_path(),
        OCI_INDEX,
        index(std::slice::from_ref(&b1)),
    );
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    // Discovery reads Notation signatures from the same listing: one appearing (or going)
    // changes what a verdict under a Notation policy is judged from.
    let notation = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"artifactType":"{}"}}"#,
        sha(b"notation"),
        crate::registry::NOTARY_SIGNATURE
    );
    store.put(referrers_path(), OCI_INDEX, index(&[b1, notation]));
    let r = recheck(&c, &srv, &seen, DiscoverOptions::default()).await;
    assert!(matches!(r, Ok(Recheck::Changed(_))), "{r:?}");
}

#[tokio::test]
async fn attestations_are_asked_about_only_when_needed_and_only_if_read_last_time() {
    let store = Store::default();
    sign_at_tag(&store, &[add_bundle(&store, 1)]);
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    let with_att = DiscoverOptions {
        legacy_attestations: true,
        ..DiscoverOptions::default()
    };
    // Discovered without attestations: a re-check that needs them must read everything.
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    let r = recheck(&c, &srv, &seen, with_att).await;
    assert!(
        matches!(r, Ok(Recheck::Changed(ref w)) if w.contains(".att")),
        "{r:?}"
    );
    let seen = discovered(&c, &srv, with_att).await;
    let before = srv.requests().len();
    assert_eq!(
        recheck(&c, &srv, &seen, with_att).await.unwrap(),
        Recheck::Unchanged
    );
    let lines = since(&srv, before);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("HEAD") && l.ends_with(".att")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    // An attestation pushed: changed.
    store.put(
        format!("/v2/app/manifests/sha256-{HEX}.att"),
        OCI_MANIFEST,
        br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
    );
    let r = recheck(&c, &srv, &seen, with_att).await;
    assert!(
        matches!(r, Ok(Recheck::Changed(ref w)) if w.contains(".att")),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_incomplete_discovery_is_not_remembered() {
    let store = Store::default();
    let b = add_bundle(&store, 1);
    // The referrers tag lists a bundle whose manifest is missing.
    let missing = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"artifactType":"{BUNDLE}"}}"#,
        sha(b"gone")
    );
    sign_at_tag(&store, &[b, missing]);
    let srv = TestServer::start(store.handler()).await;
    let d = within(client().discover(&srv.host, "app", &digest()))
        .await
        .unwrap();
    assert!(!d.is_complete());
    assert!(d.seen.is_none());
}

#[tokio::test]
async fn an_artifact_with_nothing_asks_the_referrers_api_too_as_discovery_does() {
    let store = Store::default();
    let srv = TestServer::start(store.handler()).await;
    let c = client();
    // First discovery on this registry probes the API (404): known absent.
    within(c.discover(&srv.host, "other", &digest()))
        .await
        .unwrap();
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    let before = srv.requests().len();
    assert_eq!(
        recheck(&c, &srv, &seen, DiscoverOptions::default())
            .await
            .unwrap(),
        Recheck::Unchanged
    );
    let lines = since(&srv, before);
    assert_eq!(lines.len(), 3, "two HEADs and the API: {lines:?}");
    assert_eq!(manifest_gets(&lines), 0);
}

#[tokio::test]
async fn a_budget_refuses_a_re_checks_manifest_gets_but_never_its_heads_or_a_first_check() {
    let store = Store::default();
    sign_at_tag(&store, &[add_bundle(&store, 1)]);
    let srv = TestServer::start(store.handler()).await;
    // A budget names the host with its port.
    let throttle = Throttle::new(vec![BudgetSpec {
        host: srv.host.clone(),
        limit: 2,
        window: Duration::from_secs(3600),
    }])
    .unwrap();
    let c = client_with(RegistryOptions {
        timeout: Duration::from_secs(5),
        throttle: throttle.clone(),
        ..RegistryOptions::default()
    });
    // A first check is counted (three manifest GETs) and never refused.
    let seen = discovered(&c, &srv, DiscoverOptions::default()).await;
    let now = std::time::Instant::now();
    assert_eq!(throttle.room(&srv.host, now).unwrap().left, 0);
    // The HEADs of a re-check cost nothing of it.
    assert_eq!(
        recheck(&c, &srv, &seen, DiscoverOptions::default())
            .await
            .unwrap(),
        Recheck::Unchanged
    );
    // A re-check that must read again is refused before it sends a manifest GET.
    let before = srv.requests().len();
    let again = DiscoverOptions {
        within_budget: true,
        ..DiscoverOptions::default()
    };
    let d = within(c.discover_with(&srv.host, "app", &digest(), again)).await;
    match d {
        Err(RegistryError::Paused { cause, .. }) => assert_eq!(cause, PauseCause::Budget),
        other => panic!("{other:?}"),
    }
    assert_eq!(manifest_gets(&since(&srv, before)), 0);
}
