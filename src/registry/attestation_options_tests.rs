//! Kyverno #17109: an option ignored on the attestation path. Every registry option that a
//! stand-in server can observe — credentials, the request timeout, the manifest and blob size
//! limits, the discovery byte budget — holds on the `.att` tag and on referrer attestations as
//! it does on signatures, and a limit reached there leaves the attestations visibly incomplete,
//! never "missing". (`--insecure-registry` and the CA bundle shape the one HTTP client and the
//! one URL builder every path uses; see `one_scheme_decision_for_every_path`.)

use std::time::{Duration, Instant};

use base64::Engine as _;

use super::attestation_tests::{att_path, blob_path, DSSE, WITH_ATT};
use super::http::v2_url;
use super::testserver::fixtures::*;
use super::testserver::{Reply, TestRequest, TestServer};
use super::*;

fn manifest_path(d: &str) -> String {
    format!("/v2/app/manifests/{d}")
}

fn statement(predicate_type: &str) -> String {
    let st = format!(r#"{{"predicateType":"{predicate_type}","subject":[]}}"#);
    base64::engine::general_purpose::STANDARD.encode(st)
}

/// A DSSE envelope for the `.att` tag, padded to at least `pad` bytes.
fn envelope(pad: usize) -> Vec<u8> {
    format!(
        r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[],"pad":"{}"}}"#,
        statement("https://slsa.dev/provenance/v1"),
        "p".repeat(pad)
    )
    .into_bytes()
}

/// A bundle attestation for the referrers, padded to at least `pad` bytes.
fn bundle(pad: usize) -> Vec<u8> {
    format!(
        r#"{{"mediaType":"{BUNDLE}","dsseEnvelope":{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[]}},"pad":"{}"}}"#,
        statement("https://spdx.dev/Document"),
        "p".repeat(pad)
    )
    .into_bytes()
}

fn att_manifest(env: &[u8], pad: usize) -> Vec<u8> {
    serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"{}"), "size": 2},
        "layers": [{"mediaType": DSSE, "digest": sha(env), "size": env.len(),
            "annotations": {"predicateType": "https://slsa.dev/provenance/v1", "pad": "p".repeat(pad)}}]})
    .to_string()
    .into_bytes()
}

fn referrer_manifest(b: &[u8]) -> Vec<u8> {
    serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": sha(b), "size": b.len()}]})
    .to_string()
    .into_bytes()
}

/// A registry holding one referrer attestation and one `.att` layer, with the replies for their
/// objects given (`None`: the honest one).
struct Store {
    env: Vec<u8>,
    bundle: Vec<u8>,
    att_manifest: Vec<u8>,
    referrer: Vec<u8>,
}

impl Store {
    fn new(pad: usize) -> Self {
        let env = envelope(pad);
        let bundle = bundle(pad);
        Self {
            att_manifest: att_manifest(&env, 0),
            referrer: referrer_manifest(&bundle),
            env,
            bundle,
        }
    }

    fn routes(&self, att_blob: Option<Reply>, bundle_blob: Option<Reply>) -> Vec<(String, Reply)> {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": sha(&self.referrer), "size": self.referrer.len(), "artifactType": BUNDLE}]})
        .to_string();
        vec![
            (referrers_path(), Reply::json(200, OCI_INDEX, index)),
            (
                manifest_path(&sha(&self.referrer)),
                Reply::json(200, OCI_MANIFEST, self.referrer.clone()),
            ),
            (
                blob_path(&sha(&self.bundle)),
                bundle_blob.unwrap_or_else(|| Reply::json(200, BUNDLE, self.bundle.clone())),
            ),
            (
                att_path(),
                Reply::json(200, OCI_MANIFEST, self.att_manifest.clone()),
            ),
            (
                blob_path(&sha(&self.env)),
                att_blob.unwrap_or_else(|| {
                    Reply::json(200, "application/octet-stream", self.env.clone())
                }),
            ),
        ]
    }
}

/// Whether the request is one of the attestation paths: the referrers listing and what it
/// names, or the `.att` tag and its layer.
fn attestation_request(r: &TestRequest, s: &Store) -> bool {
    let p = r.path();
    p.contains("/referrers/")
        || p.ends_with(".att")
        || p == manifest_path(&sha(&s.referrer))
        || p == blob_path(&sha(&s.bundle))
        || p == blob_path(&sha(&s.env))
}

#[tokio::test]
async fn credentials_are_sent_on_the_att_tag_and_the_referrer_attestations() {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:hunter2")
    );
    let store = Store::new(0);
    let honest = routes(store.routes(None, None), Reply::status(404));
    let accepted = expected.clone();
    let srv = TestServer::start(move |r: &TestRequest| {
        if r.header("authorization") == Some(accepted.as_str()) {
            honest(r)
        } else {
            Reply::status(401).with_header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
        }
    })
    .await;
    let with = client_with(RegistryOptions {
        credentials: creds(&srv.host, "bob", "hunter2"),
        ..Default::default()
    });
    let d = within(with.discover_with(&srv.host, "app", &digest(), WITH_ATT))
        .await
        .unwrap();
    assert_eq!(d.attestations.len(), 1, "{d:?}");
    assert_eq!(d.legacy_attestations.len(), 1, "{d:?}");
    assert!(d.attestations_complete(), "{d:?}");
    // Each attestation object was read with the credentials.
    let requests = srv.requests();
    for path in [
        referrers_path(),
        manifest_path(&sha(&store.referrer)),
        blob_path(&sha(&store.bundle)),
        att_path(),
        blob_path(&sha(&store.env)),
    ] {
        assert!(
            requests.iter().any(|r| r.path() == path
                && attestation_request(r, &store)
                && r.header("authorization") == Some(expected.as_str())),
            "{path} not read with the credentials: {:?}",
            srv.request_lines()
        );
    }
    // Without credentials: could not tell, never "no attestation".
    let without = client();
    let r = within(without.discover_with(&srv.host, "app", &digest(), WITH_ATT)).await;
    match r {
        Err(e) => assert!(matches!(e, RegistryError::Authentication { .. }), "{e:?}"),
        Ok(d) => assert!(!d.attestations_complete(), "{d:?}"),
    }
}

#[tokio::test]
async fn the_request_timeout_bounds_the_att_layer_and_the_referrer_bundle() {
    let store = Store::new(0);
    for (what, att, bundle) in [
        (".att layer", Some(Reply::Hang), None),
        ("referrer bundle", None, Some(Reply::Hang)),
    ] {
        let srv = TestServer::start(routes(store.routes(att, bundle), Reply::status(404))).await;
        let c = client_with(RegistryOptions {
            timeout: Duration::from_millis(300),
            ..Default::default()
        });
        let started = Instant::now();
        let r = within(c.discover_with(&srv.host, "app", &digest(), WITH_ATT)).await;
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        match r {
            Err(e) => assert!(
                matches!(&e, RegistryError::Unavailable { detail, .. } if detail.contains("timed out")),
                "{what}: {e:?}"
            ),
            Ok(d) => assert!(!d.attestations_complete(), "{what}: {d:?}"),
        }
    }
}

#[tokio::test]
async fn size_limits_and_the_byte_budget_hold_on_attestations_and_leave_them_incomplete() {
    // Each limit below what the attestations need and above what the rest needs.
    let cases = [
        (
            "max_blob_bytes",
            RegistryOptions {
                max_blob_bytes: 20_000,
                ..Default::default()
            },
            Store::new(30_000),
        ),
        (
            "max_manifest_bytes",
            RegistryOptions {
                max_manifest_bytes: 4_000,
                ..Default::default()
            },
            Store {
                att_manifest: att_manifest(&envelope(0), 10_000),
                ..Store::new(0)
            },
        ),
        (
            "discovery_byte_budget",
            RegistryOptions {
                discovery_byte_budget: 30_000,
                ..Default::default()
            },
            Store::new(40_000),
        ),
    ];
    for (what, opts, store) in cases {
        let srv = TestServer::start(routes(store.routes(None, None), Reply::status(404))).await;
        let c = client_with(RegistryOptions {
            timeout: Duration::from_secs(5),
            ..opts
        });
        let r = within(c.discover_with(&srv.host, "app", &digest(), WITH_ATT)).await;
        match r {
            // A limit on a listed object: unread, so the attestations are incomplete.
            Ok(d) => {
                assert!(!d.attestations_complete(), "{what}: {d:?}");
                let why = d.attestations_incomplete_summary().unwrap_or_default();
                assert!(!why.is_empty() && why.len() < 2_000, "{what}: {why}");
            }
            // A limit on a listing: the discovery fails, as a limit (indeterminate).
            Err(e) => assert!(matches!(e, RegistryError::Limit { .. }), "{what}: {e:?}"),
        }
        // The same registry with the defaults: everything is read.
        let d = within(client().discover_with(&srv.host, "app", &digest(), WITH_ATT))
            .await
            .unwrap();
        assert!(d.attestations_complete(), "{what}, defaults: {d:?}");
        assert_eq!(
            (d.attestations.len(), d.legacy_attestations.len()),
            (1, 1),
            "{what}"
        );
    }
}

#[test]
fn one_scheme_decision_for_every_path() {
    // The signature, referrers and `.att` URLs all come from one builder: `--insecure-registry`
    // means plain HTTP for each of them, and anything else HTTPS (with the client's one set of
    // roots, the CA bundle included).
    let insecure = vec!["registry.internal:5000".to_string()];
    for path in [
        format!("app/manifests/sha256-{HEX}.sig"),
        format!("app/referrers/sha256:{HEX}"),
        format!("app/manifests/sha256-{HEX}.att"),
        format!("app/blobs/sha256:{HEX}"),
    ] {
        let plain = v2_url("registry.internal:5000", &insecure, &path).unwrap();
        assert_eq!(plain.scheme(), "http", "{path}");
        let tls = v2_url("registry.example", &insecure, &path).unwrap();
        assert_eq!(tls.scheme(), "https", "{path}");
    }
}
