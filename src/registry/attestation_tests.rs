//! Attestation discovery against a hostile in-process server: the `.att` tag is read only when
//! asked, whatever it holds never fails (or changes) the signature discovery, and what could not
//! be read leaves the attestations visibly incomplete, with bounded messages.

use base64::Engine as _;

use super::testserver::fixtures::*;
use super::testserver::{Reply, TestServer};
use super::*;

pub(super) const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub(super) const WITH_ATT: DiscoverOptions = DiscoverOptions {
    legacy_attestations: true,
    within_budget: false,
};

pub(super) fn att_path() -> String {
    format!("/v2/app/manifests/sha256-{HEX}.att")
}

pub(super) fn blob_path(d: &str) -> String {
    format!("/v2/app/blobs/{d}")
}

fn envelope(predicate_type: &str) -> Vec<u8> {
    let st = format!(r#"{{"predicateType":"{predicate_type}","subject":[]}}"#);
    let b64 = base64::engine::general_purpose::STANDARD.encode(st);
    format!(r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{b64}","signatures":[]}}"#)
        .into_bytes()
}

fn layer(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": sha(bytes), "size": bytes.len(),
        "annotations": {"dev.cosignproject.cosign/signature": "", "predicateType": "https://spdx.dev/Document",
                        "dev.sigstore.cosign/certificate": "x".repeat(10_000)}})
}

fn manifest(layers: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"{}"), "size": 2},
        "layers": layers})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn the_att_tag_is_read_only_when_asked() {
    let srv = TestServer::start(routes(vec![], Reply::status(404))).await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .unwrap();
    assert!(!srv.request_lines().iter().any(|l| l.ends_with(".att")));
    assert!(!d.attestations_complete());
    assert!(d
        .attestations_incomplete_summary()
        .unwrap()
        .contains("not searched"));
    let d = within(c.discover_with(&srv.host, "app", &digest(), WITH_ATT))
        .await
        .unwrap();
    assert!(srv.request_lines().iter().any(|l| l.ends_with(".att")));
    assert!(d.attestations_complete() && d.is_empty(), "{d:?}");
}

#[tokio::test]
async fn a_broken_att_tag_leaves_attestations_incomplete_and_signatures_as_read() {
    let huge = "y".repeat(100_000);
    for reply in [
        Reply::status(500),
        Reply::status(401),
        Reply::json(200, OCI_MANIFEST, "{{{"),
        Reply::json(200, OCI_MANIFEST, format!(r#"{{"layers": "{huge}"}}"#)),
        Reply::Hang,
    ] {
        let srv = TestServer::start(routes(vec![(att_path(), reply)], Reply::status(404))).await;
        let c = client_with(RegistryOptions {
            timeout: std::time::Duration::from_millis(500),
            ..Default::default()
        });
        let d = within(c.discover_with(&srv.host, "app", &digest(), WITH_ATT))
            .await
            .expect("the signature discovery does not depend on the .att tag");
        assert!(d.is_complete(), "signatures: {:?}", d.incomplete);
        assert!(!d.attestations_complete());
        let why = d.attestations_incomplete_summary().unwrap();
        assert!(why.len() < 2000 && !why.contains(&huge[..200]), "{why}");
    }
}

#[tokio::test]
async fn att_layers_are_found_malformed_or_unread_one_by_one() {
    let good = envelope("https://spdx.dev/Document");
    let wrong_bytes = envelope("https://cyclonedx.org/bom");
    let missing = envelope("https://slsa.dev/provenance/v1");
    let layers = vec![
        layer(DSSE, &good),
        layer("application/octet-stream", b"whatever"),
        layer(DSSE, &wrong_bytes),
        layer(DSSE, &missing),
    ];
    let srv = TestServer::start(routes(
        vec![
            (att_path(), Reply::json(200, OCI_MANIFEST, manifest(layers))),
            (
                blob_path(&sha(&good)),
                Reply::json(200, "application/octet-stream", good.clone()),
            ),
            (
                blob_path(&sha(&wrong_bytes)),
                Reply::json(200, "application/octet-stream", good.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    let d = within(client().discover_with(&srv.host, "app", &digest(), WITH_ATT))
        .await
        .unwrap();
    assert_eq!(d.legacy_attestations.len(), 1, "{d:?}");
    let a = &d.legacy_attestations[0];
    assert_eq!(a.envelope, good);
    assert_eq!(
        a.predicate_type_hint.as_deref(),
        Some("https://spdx.dev/Document")
    );
    assert_eq!(d.attestations_malformed.len(), 1);
    assert_eq!(
        d.attestations_incomplete.len(),
        2,
        "{:?}",
        d.attestations_incomplete
    );
    assert!(d.is_complete() && d.bundles.is_empty() && d.legacy.is_empty());
    assert!(d
        .attestations_incomplete
        .iter()
        .all(|u| u.location == SignatureLocation::LegacyAttestationTag));
}

#[tokio::test]
async fn a_bundle_attestation_in_the_referrers_list_is_never_a_signature() {
    let statement = |t: &str| {
        let st = format!(r#"{{"predicateType":"{t}","subject":[]}}"#);
        base64::engine::general_purpose::STANDARD.encode(st)
    };
    let bundle = |t: &str| {
        format!(
            r#"{{"mediaType":"{BUNDLE}","dsseEnvelope":{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[]}}}}"#,
            statement(t)
        )
        .into_bytes()
    };
    let sig = bundle("https://sigstore.dev/cosign/sign/v1");
    let sbom = bundle("https://spdx.dev/Document");
    let referrer = |b: &[u8]| {
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
            "layers": [{"mediaType": BUNDLE, "digest": sha(b), "size": b.len()}]})
        .to_string()
        .into_bytes()
    };
    let (m_sig, m_sbom) = (referrer(&sig), referrer(&sbom));
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(&m_sig), "size": m_sig.len(), "artifactType": BUNDLE},
        {"mediaType": OCI_MANIFEST, "digest": sha(&m_sbom), "size": m_sbom.len(), "artifactType": BUNDLE}]})
    .to_string();
    let srv = TestServer::start(routes(
        vec![
            (referrers_path(), Reply::json(200, OCI_INDEX, index)),
            (
                format!("/v2/app/manifests/{}", sha(&m_sig)),
                Reply::json(200, OCI_MANIFEST, m_sig.clone()),
            ),
            (
                format!("/v2/app/manifests/{}", sha(&m_sbom)),
                Reply::json(200, OCI_MANIFEST, m_sbom.clone()),
            ),
            (blob_path(&sha(&sig)), Reply::json(200, BUNDLE, sig.clone())),
            (
                blob_path(&sha(&sbom)),
                Reply::json(200, BUNDLE, sbom.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .unwrap();
    assert_eq!((d.bundles.len(), d.attestations.len()), (1, 1), "{d:?}");
    assert_eq!(d.bundles[0].bytes, sig);
    assert_eq!(d.attestations[0].bytes, sbom);
    // referrers + 2 manifests + 2 blobs + .sig: the attestation came with the listing.
    assert_eq!(c.requests_made(), 6);
}

#[tokio::test]
async fn a_large_att_cannot_starve_the_signatures_of_the_byte_budget() {
    let payload = vec![b'p'; 1000];
    let sig_manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "x", "digest": sha(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": sha(&payload), "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": "c2lnCg=="}}]})
    .to_string();
    let big = vec![b'e'; 20_000];
    let srv = TestServer::start(routes(
        vec![
            (sig_path(), Reply::json(200, OCI_MANIFEST, sig_manifest)),
            (
                blob_path(&sha(&payload)),
                Reply::json(200, "application/octet-stream", payload.clone()),
            ),
            (
                att_path(),
                Reply::json(200, OCI_MANIFEST, manifest(vec![layer(DSSE, &big)])),
            ),
            (
                blob_path(&sha(&big)),
                Reply::json(200, "application/octet-stream", big.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    let c = client_with(RegistryOptions {
        discovery_byte_budget: 12_000,
        ..Default::default()
    });
    let d = within(c.discover_with(&srv.host, "app", &digest(), WITH_ATT))
        .await
        .unwrap();
    assert_eq!(d.legacy.len(), 1, "{d:?}");
    assert!(d.is_complete(), "{:?}", d.incomplete);
    assert!(d.legacy_attestations.is_empty());
    assert!(!d.attestations_complete(), "{d:?}");
}
