use serde_json::json;

use super::*;
use crate::audit::fixtures::{self, DIGEST};

#[test]
fn oci_repository_is_read_with_everything_the_audit_needs() {
    let s = fixtures::source(&fixtures::oci_repository());
    assert_eq!(s.kind, SourceKind::OciRepository);
    assert_eq!((s.namespace.as_str(), s.name.as_str()), ("apps", "podinfo"));
    assert_eq!(s.generation, Some(2));
    assert_eq!(s.labels["team"], "web");
    assert_eq!(s.url, "oci://registry.example:5000/podinfo");
    assert_eq!(s.reference.tag.as_deref(), Some("latest"));
    assert_eq!(s.secret_ref.as_deref(), Some("regcred"));
    assert_eq!(s.provider, "generic");
    let verify = s.verify.as_ref().unwrap();
    assert_eq!(verify.provider, "cosign");
    assert_eq!(verify.secret_ref.as_deref(), Some("cosign-pub"));
    let sv = s.source_verified.as_ref().unwrap();
    assert_eq!(
        (sv.status.as_str(), sv.observed_generation),
        ("True", Some(2))
    );
    assert_eq!(s.ready.as_ref().unwrap().reason, "Succeeded");
}

#[test]
fn oci_repository_audits_the_digest_flux_fetched() {
    let s = fixtures::source(&fixtures::oci_repository());
    assert_eq!(
        s.digest_to_audit(None).unwrap(),
        AuditTarget::Digest {
            image: "registry.example:5000/podinfo".into(),
            digest: DIGEST.into()
        }
    );
}

#[test]
fn a_digest_ref_revision_is_a_bare_digest() {
    assert_eq!(digest_of_revision(DIGEST).unwrap(), DIGEST);
    assert_eq!(
        digest_of_revision(&format!("v1.2.3@{DIGEST}")).unwrap(),
        DIGEST
    );
}

#[test]
fn a_revision_without_a_sha256_digest_is_an_error_not_a_guess() {
    for bad in ["latest", "latest@sha256:abc", "sha512:00", "", "6.0.3"] {
        assert!(digest_of_revision(bad).is_err(), "{bad}");
    }
    let upper = format!("sha256:{}", "A".repeat(64));
    assert!(digest_of_revision(&upper).is_err());
}

#[test]
fn source_without_artifact_is_not_ready() {
    let mut v = fixtures::oci_repository();
    v["status"] = json!({});
    let s = fixtures::source(&v);
    assert!(matches!(
        s.digest_to_audit(None),
        Err(SourceError::NotReady(_))
    ));
}

#[test]
fn helm_chart_is_resolved_by_tag_from_its_repository() {
    let s = fixtures::source(&fixtures::helm_chart());
    let chart = s.chart.as_ref().unwrap();
    assert_eq!(
        (chart.chart.as_str(), chart.source_kind.as_str()),
        ("podinfo", "HelmRepository")
    );
    let verify = s.verify.as_ref().unwrap();
    assert_eq!(verify.match_oidc_identity.len(), 1);
    assert_eq!(verify.trusted_root_secret_ref, None);
    assert_eq!(
        s.digest_to_audit(Some("oci://ghcr.io/stefanprodan/charts/"))
            .unwrap(),
        AuditTarget::Tag {
            reference: "ghcr.io/stefanprodan/charts/podinfo:6.0.3".into()
        }
    );
    assert!(matches!(
        s.digest_to_audit(None),
        Err(SourceError::NotReady(_))
    ));
    assert!(s.digest_to_audit(Some("https://charts.example")).is_err());
}

#[test]
fn chart_revision_suffix_from_values_files_is_not_part_of_the_tag() {
    assert_eq!(chart_tag("6.0.3+4", true, Some(4)), "6.0.3");
    // A real build-metadata version is pushed with `_` (OCI tags cannot hold `+`).
    assert_eq!(chart_tag("6.0.3+build.1", false, Some(4)), "6.0.3_build.1");
}

#[test]
fn malformed_objects_are_errors_never_panics() {
    let cases = [
        json!(null),
        json!("OCIRepository"),
        json!({"kind": "GitRepository", "metadata": {"name": "x", "namespace": "y"}}),
        json!({"kind": "OCIRepository"}),
        json!({"kind": "OCIRepository", "metadata": {"name": "x", "namespace": "y"}}),
        json!({"kind": "OCIRepository", "metadata": {"name": "x", "namespace": "y", "labels": 3},
               "spec": {"url": "oci://r/x"}}),
        json!({"kind": "OCIRepository", "metadata": {"name": "x", "namespace": "y"},
               "spec": {"url": 7}}),
        json!({"kind": "OCIRepository", "metadata": {"name": "x", "namespace": "y"},
               "spec": {"url": "oci://r/x", "verify": {"matchOIDCIdentity": [{"issuer": "a"}]}}}),
        json!({"kind": "OCIRepository", "metadata": {"name": "x", "namespace": "y"},
               "spec": {"url": "oci://r/x"}, "status": {"conditions": {"type": "Ready"}}}),
        json!({"kind": "HelmChart", "metadata": {"name": "x", "namespace": "y"}, "spec": {}}),
    ];
    for c in cases {
        assert!(FluxSource::from_value(&c).is_err(), "{c}");
    }
}

#[test]
fn fields_the_audit_does_not_need_may_be_anything() {
    let mut v = fixtures::oci_repository();
    v["spec"]["layerSelector"] = json!(42);
    v["status"]["artifact"]["metadata"] = json!(["unexpected"]);
    v["spec"]["verify"]["provider"] = json!(null);
    let s = fixtures::source(&v);
    assert_eq!(s.verify.unwrap().provider, "cosign");
}

#[test]
fn dynamic_objects_from_a_watch_parse_too() {
    let obj: kube::api::DynamicObject = serde_json::from_value(fixtures::oci_repository()).unwrap();
    let s = FluxSource::from_dynamic(&obj).unwrap();
    assert_eq!(s.display(), "OCIRepository/apps/podinfo");
}
