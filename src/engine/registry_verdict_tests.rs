//! The whole verification pipeline (`engine::verify_reference`) against a hostile registry:
//! whatever the registry answers, the verdict is never `Unsigned` unless the registry really
//! said "no signature here", never `Verified`, and nothing panics.

use std::time::Duration;

use crate::engine::{verify_reference, Policy, TrustRoot, Verdict};
use crate::registry::testserver::fixtures::*;
use crate::registry::testserver::{Reply, TestServer};
use crate::registry::*;

async fn verdict(srv: &TestServer, reference: &str, timeout_secs: u64) -> Verdict {
    let client = client_with(RegistryOptions {
        timeout: Duration::from_secs(timeout_secs),
        max_manifest_bytes: 4096,
        ..Default::default()
    });
    let image: ImageRef = format!("{}/{reference}", srv.host)
        .parse()
        .expect("reference");
    let trust = TrustRoot::public_good().expect("root");
    within(verify_reference(
        &client,
        &image,
        &Policy::Keyless { identities: vec![] },
        &trust,
    ))
    .await
    .verdict
}

fn pinned() -> String {
    format!("app@{}", digest())
}

#[tokio::test]
async fn a_registry_that_says_nothing_is_signed_gives_unsigned() {
    // The control case: 404 for every signature place of a pinned digest really is "unsigned".
    let srv = TestServer::start(routes(vec![], Reply::status(404))).await;
    assert_eq!(verdict(&srv, &pinned(), 5).await, Verdict::Unsigned);
}

#[tokio::test]
async fn unauthorized_is_authentication_failed_not_unsigned() {
    let srv = TestServer::start(routes(vec![], Reply::status(401))).await;
    assert_eq!(
        verdict(&srv, &pinned(), 5).await,
        Verdict::AuthenticationFailed
    );
}

#[tokio::test]
async fn server_errors_and_a_missing_artifact_are_registry_unavailable() {
    let srv = TestServer::start(routes(vec![], Reply::status(500))).await;
    assert_eq!(
        verdict(&srv, &pinned(), 5).await,
        Verdict::RegistryUnavailable
    );
    // The artifact itself is not there (tag does not resolve): could not tell.
    let srv = TestServer::start(routes(vec![], Reply::status(404))).await;
    assert_eq!(
        verdict(&srv, "app:v1", 5).await,
        Verdict::RegistryUnavailable
    );
}

#[tokio::test]
async fn a_registry_that_hangs_past_the_timeout_is_registry_unavailable() {
    let srv = TestServer::start(routes(vec![(sig_path(), Reply::Hang)], Reply::status(404))).await;
    assert_eq!(
        verdict(&srv, &pinned(), 1).await,
        Verdict::RegistryUnavailable
    );
}

#[tokio::test]
async fn truncated_and_oversized_signature_manifests_are_registry_unavailable() {
    let truncated = Reply::Truncated {
        declared: 900,
        body: br#"{"schemaVersion":2,"#.to_vec(),
    };
    let oversized = Reply::json(200, OCI_MANIFEST, vec![b' '; 10_000]);
    for reply in [truncated, oversized] {
        let srv = TestServer::start(routes(vec![(sig_path(), reply)], Reply::status(404))).await;
        assert_eq!(
            verdict(&srv, &pinned(), 5).await,
            Verdict::RegistryUnavailable
        );
    }
}

#[tokio::test]
async fn a_garbage_signature_annotation_is_an_invalid_signature_not_unsigned() {
    let payload = simple_signing_payload("127.0.0.1", "app", &digest());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"%%% not base64 %%%"}}}}]}}"#,
        sha(b"{}"),
        sha(&payload),
        payload.len()
    );
    let blob_path = format!("/v2/app/blobs/{}", sha(&payload));
    let srv = TestServer::start(routes(
        vec![
            (sig_path(), Reply::json(200, OCI_MANIFEST, manifest)),
            (
                blob_path,
                Reply::json(200, "application/octet-stream", payload.clone()),
            ),
        ],
        Reply::status(404),
    ))
    .await;
    assert_eq!(verdict(&srv, &pinned(), 5).await, Verdict::SignatureInvalid);
}
