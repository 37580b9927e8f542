//! The registry client against a hostile in-process server: every way a registry can fail must
//! end as the right error (never an empty, "unsigned" discovery) and never as a panic.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::testserver::fixtures::*;
use super::testserver::{Reply, TestRequest, TestServer};
use super::*;

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
        // A 429 also pauses the registry (see `throttle`): never "nothing there" either.
        assert!(
            matches!(
                err,
                RegistryError::Unavailable { .. } | RegistryError::Paused { .. }
            ),
            "{status}: {err:?}"
        );
        assert_eq!(status == 429, matches!(err, RegistryError::Paused { .. }));
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
async fn a_body_that_stalls_midway_times_out_as_unavailable() {
    let stall = Reply::Stall {
        declared: 500,
        body: b"{\"schemaVersion\":2,".to_vec(),
    };
    let srv = TestServer::start(routes(vec![(sig_path(), stall)], Reply::status(404))).await;
    let c = client_with(RegistryOptions {
        timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, RegistryError::Unavailable { detail, .. } if detail.contains("timed out")),
        "{err:?}"
    );
}

/// Issue 9, item 3: how a signature store's listing fails decides the error class: a cut-short
/// body is the transport failing (`Unavailable`), an oversized one our limit (`Limit`), and only
/// a complete body that does not parse is an `InvalidResponse`. None is ever "unsigned".
#[tokio::test]
async fn truncated_oversized_and_garbage_signature_stores_fail_by_class() {
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
            "unavailable",
            "cut short",
        ),
        (
            "reset",
            Reply::Reset {
                declared: 900,
                body: br#"{"schemaVersion":2,"#.to_vec(),
            },
            "unavailable",
            "cut short",
        ),
        (
            "announced too big",
            Reply::json(200, OCI_INDEX, big.clone()),
            "limit",
            "exceeds 1000 bytes",
        ),
        (
            "streamed too big",
            Reply::Unframed { body: big },
            "limit",
            "exceeds 1000 bytes",
        ),
        (
            "garbage",
            Reply::json(200, OCI_INDEX, "<html>hello</html>"),
            "invalid-response",
            "not an OCI image index",
        ),
        (
            "wrong kind",
            Reply::json(
                200,
                OCI_MANIFEST,
                format!(r#"{{"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
            ),
            "invalid-response",
            "expected an OCI image index",
        ),
    ];
    for (name, reply, category, expect) in cases {
        let srv = TestServer::start(routes(vec![(tag_path(), reply)], Reply::status(404))).await;
        let err = within(c.discover(&srv.host, "app", &digest()))
            .await
            .expect_err(name);
        assert_eq!(err.category(), category, "{name}: {err:?}");
        assert!(err.to_string().contains(expect), "{name}: {err:?}");
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
    assert_eq!(d.malformed.len(), 3, "{:?}", d.malformed);
    assert!(d
        .malformed
        .iter()
        .all(|m| m.location == SignatureLocation::LegacyTag));
    // A payload whose bytes do not match its digest is the store's fault, not the signature's:
    // unread (indeterminate), never malformed.
    assert_eq!(d.incomplete.len(), 1, "{:?}", d.incomplete);
    assert!(
        d.incomplete[0].detail.contains("content has digest"),
        "{:?}",
        d.incomplete
    );
    assert_eq!(d.incomplete[0].location, SignatureLocation::LegacyTag);
    // The good payload was reconstructed: the only blob fetched is the mismatching one.
    let blob_gets = srv
        .request_lines()
        .iter()
        .filter(|l| l.contains("/blobs/"))
        .count();
    assert_eq!(blob_gets, 1, "{:?}", srv.request_lines());
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
