//! Test fixtures: Flux objects as source-controller v1.9.1 writes them, and engine evidence.

use serde_json::{json, Value};

use super::source::FluxSource;
use crate::engine::{SignatureEvidence, SignatureFormat, Signer, Verdict};
use crate::registry::SignatureLocation;

/// The digest of the fixture artifact.
pub const DIGEST: &str = "sha256:3b6c1d7e1e4f43f0a4f2a2c9e8f7b6a5d4c3b2a1908f7e6d5c4b3a2918f7e6d5";

/// A key-verified OCIRepository, Ready and SourceVerified for generation 2.
pub fn oci_repository() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {
            "name": "podinfo", "namespace": "apps", "generation": 2,
            "uid": "3f1c0b8e-0000-4000-8000-000000000001",
            "labels": {"team": "web", "tier": "frontend"}
        },
        "spec": {
            "interval": "5m",
            "url": "oci://registry.example:5000/podinfo",
            "ref": {"tag": "latest"},
            "provider": "generic",
            "secretRef": {"name": "regcred"},
            "verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}
        },
        "status": {
            "observedGeneration": 2,
            "artifact": {
                "revision": format!("latest@{DIGEST}"),
                "digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "path": "ocirepository/apps/podinfo/x.tar.gz",
                "url": "http://source-controller/ocirepository/apps/podinfo/x.tar.gz"
            },
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded",
                 "message": format!("stored artifact for digest 'latest@{DIGEST}'"),
                 "observedGeneration": 2, "lastTransitionTime": "2026-11-27T10:00:00Z"},
                {"type": "ArtifactInStorage", "status": "True", "reason": "Succeeded",
                 "message": "stored", "observedGeneration": 2,
                 "lastTransitionTime": "2026-11-27T10:00:00Z"},
                {"type": "SourceVerified", "status": "True", "reason": "Succeeded",
                 "message": format!("verified signature of revision latest@{DIGEST}"),
                 "observedGeneration": 2, "lastTransitionTime": "2026-11-27T10:00:00Z"}
            ]
        }
    })
}

/// The same OCIRepository without `spec.verify` (and so without SourceVerified).
pub fn oci_repository_unverified() -> Value {
    let mut v = oci_repository();
    v["spec"].as_object_mut().unwrap().remove("verify");
    v["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["type"] != "SourceVerified");
    v
}

/// The OCIRepository verifying keyless with the given identities.
pub fn oci_repository_keyless(identities: &[(&str, &str)]) -> Value {
    let mut v = oci_repository();
    v["spec"]["verify"] = json!({
        "provider": "cosign",
        "matchOIDCIdentity": identities.iter()
            .map(|(i, s)| json!({"issuer": i, "subject": s}))
            .collect::<Vec<_>>()
    });
    v
}

/// A HelmChart from an OCI HelmRepository, verified by tag.
pub fn helm_chart() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": "apps-podinfo", "namespace": "flux-system", "generation": 1},
        "spec": {
            "chart": "podinfo",
            "version": "6.x",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
            "interval": "10m",
            "verify": {"provider": "cosign", "matchOIDCIdentity": [
                {"issuer": "^https://token.actions.githubusercontent.com$",
                 "subject": "^https://github.com/stefanprodan/podinfo.*$"}
            ]}
        },
        "status": {
            "observedGeneration": 1,
            "artifact": {"revision": "6.0.3", "digest": "sha256:bbbb"},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded",
                 "message": "pulled 'podinfo' chart with version '6.0.3'",
                 "observedGeneration": 1, "lastTransitionTime": "2026-11-27T09:00:00Z"}
            ]
        }
    })
}

/// Parses a fixture.
pub fn source(v: &Value) -> FluxSource {
    FluxSource::from_value(v).expect("fixture parses")
}

/// A keyless signature with the given verdict.
pub fn keyless_signature(format: SignatureFormat, verdict: Verdict) -> SignatureEvidence {
    SignatureEvidence {
        location: match format {
            SignatureFormat::Bundle | SignatureFormat::Notation => SignatureLocation::ReferrersApi,
            SignatureFormat::Legacy => SignatureLocation::LegacyTag,
            SignatureFormat::HelmProv => SignatureLocation::HelmProv,
        },
        format,
        signer: Signer {
            subject: Some(
                "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main".into(),
            ),
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            ..Signer::default()
        },
        ci: None,
        tlog: None,
        verdict,
        message: format!("{verdict}"),
    }
}

/// A P-256 public key (cosign's default), as a key Secret holds it.
pub const KEY_A: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnT7YsMdbv9QIPSCaxNQh8xYQ07+6
fGjHV7/6Mz1D71+be7ZyUwsEPz+LBxN9YXwH77+h7P2q9MYWWDWn7eaF6g==
-----END PUBLIC KEY-----
";

/// Another P-256 public key.
pub const KEY_B: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtM2UF90CaOPtWbsiHd+dHWaoSZBO
yeeDTG02nlZb9tjhs5JBEguaOGA/v0qNGiYShpquy174djxIAB1E75lTyg==
-----END PUBLIC KEY-----
";

/// Secrets: `apps/cosign-pub` (key A), `security/keys` (keys A and B), `security/empty`.
pub fn secrets() -> crate::audit::decide::Secrets {
    let entry = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    };
    [
        (("apps", "cosign-pub"), entry(&[("cosign.pub", KEY_A)])),
        (
            ("security", "keys"),
            entry(&[("a.pub", KEY_A), ("b.pub", KEY_B), ("README", "x")]),
        ),
        (("security", "empty"), entry(&[("README", "x")])),
        (("security", "root"), entry(&[("trusted_root.json", "{}")])),
    ]
    .into_iter()
    .map(|((ns, n), d)| ((ns.to_string(), n.to_string()), d))
    .collect()
}

/// A policy spec from YAML, as a user would write it.
pub fn policy(yaml: &str) -> crate::api::ProvenancePolicySpec {
    serde_saphyr::from_str(yaml).expect("policy fixture parses")
}

/// An evaluation with the given verdict and signatures.
pub fn evaluation(
    verdict: Verdict,
    signatures: Vec<SignatureEvidence>,
) -> crate::engine::Evaluation {
    crate::engine::Evaluation {
        verdict,
        message: format!("{verdict} message"),
        signatures,
        flux_compatibility: vec![],
        attested: None,
    }
}

/// `Outcome::Evaluated` of `DIGEST` by `e`; [`for_decision`] gives it the key and time a
/// verification under that decision would.
pub fn evaluated(e: &crate::engine::Evaluation) -> crate::audit::status::Outcome {
    crate::audit::status::Outcome::Evaluated {
        digest: DIGEST.into(),
        evaluation: e.clone(),
        key: Default::default(),
        checked: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
    }
}

/// An evaluated outcome's key and check time as the pipeline sets them: the decision's key for
/// its digest, checked `now`. Other outcomes are returned as they are.
pub fn for_decision(
    outcome: crate::audit::status::Outcome,
    decision: &crate::audit::decide::Decision,
    now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> crate::audit::status::Outcome {
    use crate::audit::status::Outcome;
    match outcome {
        Outcome::Evaluated {
            digest, evaluation, ..
        } => Outcome::Evaluated {
            key: decision.cache_key(&digest),
            checked: now.clone(),
            digest,
            evaluation,
        },
        other => other,
    }
}

/// `Outcome::Unknown`: could not tell, for a `Verified=Unknown` reason.
pub fn failed(
    digest: Option<&str>,
    reason: &'static str,
    message: impl Into<String>,
) -> crate::audit::status::Outcome {
    crate::audit::status::Outcome::Unknown {
        judgement: crate::vocabulary::verified_unknown(reason, message),
        digest: digest.map(str::to_string),
    }
}
