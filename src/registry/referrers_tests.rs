//! Bundle discovery against an in-process server: the referrers API (with pagination), the tag
//! fallback, per-signature failures and blob redirects.

use super::testserver::fixtures::*;
use super::testserver::{Reply, TestServer};
use super::*;

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

/// A bundle store where the index and manifest are fine and the blob endpoint answers `blob`.
async fn bundle_store(blob: Reply) -> (TestServer, Vec<u8>) {
    let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[{{"mediaType":"{BUNDLE}","digest":"{}","size":{}}}]}}"#,
        sha(&bundle),
        bundle.len()
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"artifactType":"{BUNDLE}"}}]}}"#,
        sha(manifest.as_bytes())
    );
    let srv = TestServer::start(routes(
        vec![
            (tag_path(), Reply::json(200, OCI_INDEX, index)),
            (
                format!("/v2/app/manifests/{}", sha(manifest.as_bytes())),
                Reply::json(200, OCI_MANIFEST, manifest),
            ),
            (format!("/v2/app/blobs/{}", sha(&bundle)), blob),
            (
                "/storage/bundle".to_string(),
                Reply::json(200, "application/octet-stream", bundle.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    (srv, bundle)
}

#[tokio::test]
async fn a_signature_object_that_cannot_be_fetched_fails_the_discovery() {
    for (status, is_auth) in [(500, false), (503, false), (403, true)] {
        let (srv, _) = bundle_store(Reply::status(status)).await;
        let err = within(client().discover(&srv.host, "app", &digest()))
            .await
            .expect_err("blob fails");
        let ok = if is_auth {
            matches!(err, RegistryError::Authentication { .. })
        } else {
            matches!(err, RegistryError::Unavailable { .. })
        };
        assert!(ok, "{status}: {err:?}");
    }
    // A listed bundle blob that is gone (404), cut short, reset or the wrong bytes for its
    // digest: nothing is known about that signature. The discovery fails (transport) or is
    // incomplete (the store's answer is unusable), and never holds a "malformed" signature.
    let (srv, _) = bundle_store(Reply::status(404)).await;
    let d = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(d.bundles.is_empty() && d.malformed.is_empty(), "{d:?}");
    assert!(d.incomplete[0].detail.contains("missing"), "{d:?}");
    let (srv, _) = bundle_store(Reply::json(200, BUNDLE, "not the bundle")).await;
    let d = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(d.bundles.is_empty() && d.malformed.is_empty(), "{d:?}");
    assert!(
        d.incomplete[0].detail.contains("content has digest"),
        "{d:?}"
    );
    for cut in [
        Reply::Truncated {
            declared: 500,
            body: b"{\"mediaType\"".to_vec(),
        },
        Reply::Reset {
            declared: 500,
            body: b"{\"mediaType\"".to_vec(),
        },
    ] {
        let (srv, _) = bundle_store(cut).await;
        let err = within(client().discover(&srv.host, "app", &digest()))
            .await
            .expect_err("cut short");
        assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn blob_redirects_to_storage_are_followed() {
    let (srv, bundle) =
        bundle_store(Reply::status(307).with_header("Location", "/storage/bundle")).await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert_eq!(d.bundles.len(), 1, "{d:?}");
    assert_eq!(d.bundles[0].bytes, bundle);
    assert_eq!(d.bundles[0].location, SignatureLocation::ReferrersTag);
    assert!(srv
        .request_lines()
        .contains(&"GET /storage/bundle".to_string()));
}

#[tokio::test]
async fn referrers_pages_are_followed() {
    let bundle = br#"{"n":1}"#.to_vec();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[{{"mediaType":"{BUNDLE}","digest":"{}","size":{}}}]}}"#,
        sha(&bundle),
        bundle.len()
    );
    let m = sha(manifest.as_bytes());
    let page = |entries: &str| {
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{entries}]}}"#)
    };
    let entry = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{m}","size":1,"artifactType":"{BUNDLE}"}}"#
    );
    let next = format!("</v2/app/referrers/{}?last=x>; rel=\"next\"", digest());
    let srv = TestServer::start(move |r: &super::testserver::TestRequest| {
        match (r.path(), r.target.contains("last=x")) {
            (p, false) if p == referrers_path() => {
                Reply::json(200, OCI_INDEX, page("")).with_header("Link", &next)
            }
            (p, true) if p == referrers_path() => Reply::json(200, OCI_INDEX, page(&entry)),
            (p, _) if p == format!("/v2/app/manifests/{m}") => {
                Reply::json(200, OCI_MANIFEST, manifest.clone())
            }
            (p, _) if p == format!("/v2/app/blobs/{}", sha(&bundle)) => {
                Reply::json(200, BUNDLE, bundle.clone())
            }
            _ => Reply::status(404),
        }
    })
    .await;
    let d = within(client().discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert_eq!(d.bundles.len(), 1, "{d:?} {:?}", srv.request_lines());
    assert_eq!(d.bundles[0].location, SignatureLocation::ReferrersApi);
}
