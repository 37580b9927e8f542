//! `evaluate` against real public attestations (GitHub's, on the public-good instance, offline)
//! and against attestations made by a private Sigstore (`sigstore-forge`): what is checked
//! before an attestation may be `Verified`, and what is read from it.

use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};

use super::*;
use crate::engine::policy::IdentityRule;
use crate::registry::{FoundBundle, FoundLegacyAttestation, MalformedSignature};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/attestations");
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn public_good() -> TrustRoot {
    TrustRoot::from_json(
        "public-good (test copy)",
        &read("github-bundles/trusted_root.json"),
    )
    .unwrap()
}

fn found_bundle(bytes: Vec<u8>) -> FoundBundle {
    FoundBundle {
        location: SignatureLocation::ReferrersApi,
        manifest_digest: "sha256:00".into(),
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
        bytes,
    }
}

fn with_bundles(bundles: Vec<Vec<u8>>) -> Discovery {
    Discovery {
        attestations: bundles.into_iter().map(found_bundle).collect(),
        ..Discovery::default()
    }
}

fn keyless(issuer: &str, subject: &str) -> Policy {
    Policy::Keyless {
        identities: vec![IdentityRule::new(issuer, subject).unwrap()],
    }
}

fn file_digest(path: &str) -> String {
    sigstore_forge::sha256_digest(&read(path))
}

fn provenance(e: &AttestationEvidence) -> &Provenance {
    match &e.predicate {
        Some(Predicate::Provenance(p)) => p,
        other => panic!("not provenance: {other:?} ({})", e.message),
    }
}

// Origin: cli/cli pkg/cmd/attestation/test/data (see tests/data/attestations/SOURCE.md).
#[test]
fn github_reusable_workflow_attestation_reports_the_source_repository_of_the_certificate() {
    let d = with_bundles(vec![read(
        "github-bundles/reusable-workflow-attestation.sigstore.json",
    )]);
    let digest = file_digest("github-bundles/reusable-workflow-artifact");
    let policy = keyless(
        &format!("^{}$", regex::escape(GITHUB)),
        "^https://github.com/github/artifact-attestations-workflows/",
    );
    let [e] = &evaluate(&d, &digest, &policy, &public_good())[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert_eq!(e.predicate_type, "https://slsa.dev/provenance/v1");
    let cert = e.certificate.as_ref().unwrap();
    assert_eq!(
        cert.source_repository_uri.as_deref(),
        Some("https://github.com/malancas/attest-demo")
    );
    assert_eq!(cert.runner_environment.as_deref(), Some("github-hosted"));
    assert!(cert
        .build_signer_uri
        .as_deref()
        .unwrap()
        .starts_with("https://github.com/github/artifact-attestations-workflows/"));
    let p = provenance(e);
    assert_eq!(
        p.source_commit.as_deref(),
        Some("95baf27389e83e6a5c48f42e190d48d7abcea19e")
    );
    assert_eq!(
        p.builder_id.as_deref(),
        Some("https://github.com/actions/runner/github-hosted")
    );
    let summary = e.summary().unwrap();
    assert!(
        summary.starts_with(
            "built from github.com/malancas/attest-demo@95baf27389e83e6a5c48f42e190d48d7abcea19e by .github/workflows/shared.yml@refs/heads/main on github-hosted"
        ),
        "{summary}"
    );
    assert!(e.statement.is_some());
}

#[test]
fn github_custom_issuer_attestation_verifies_and_binds_its_subject_and_identity() {
    let d = with_bundles(vec![read("github-bundles/custom-issuer.sigstore.json")]);
    let digest = file_digest("github-bundles/custom-issuer-artifact");
    let trust = public_good();
    let right = keyless(
        "^https://token.actions.githubusercontent.com/hammer-time$",
        "^https://github.com/too-legit/attest/",
    );
    let [e] = &evaluate(&d, &digest, &right, &trust)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verified, "{}", e.message);
    let p = provenance(e);
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/too-legit/attest")
    );
    assert_eq!(
        p.source_commit.as_deref(),
        Some("283bf967fa3c591925dd25e6a6e8e781542117bf")
    );
    assert_eq!(p.runner_environment.as_deref(), Some("github-hosted"));
    let cert = e.certificate.as_ref().unwrap();
    assert_eq!(
        cert.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com/hammer-time")
    );
    assert_eq!(cert.build_trigger.as_deref(), Some("workflow_dispatch"));
    assert!(cert.source_repository_visibility_at_signing.is_some());

    // Another identity: a valid attestation by someone the policy does not accept.
    let wrong = keyless(&format!("^{}$", regex::escape(GITHUB)), ".*");
    let [e] = &evaluate(&d, &digest, &wrong, &trust)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verdict::IdentityMismatch, "{}", e.message);
    assert!(e.predicate.is_none() && e.statement.is_none());

    // Another digest: the statement is not about the audited artifact.
    let other = file_digest("github-bundles/reusable-workflow-artifact");
    let [e] = &evaluate(&d, &other, &right, &trust)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verdict::DigestMismatch, "{}", e.message);

    // No identity to check against: valid under the trust root, read, but not Verified.
    let [e] = &evaluate(&d, &digest, &Policy::None, &trust)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verdict::NoPolicy, "{}", e.message);
    assert!(e.predicate.is_some());

    // Another trust root: no signer can be established.
    let forge = PrivateSigstore::generate("other").unwrap();
    let foreign = TrustRoot::from_json("other", forge.trusted_root_json().as_bytes()).unwrap();
    let [e] = &evaluate(&d, &digest, &right, &foreign)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verdict::UntrustedSigner, "{}", e.message);
}

use Verdict::Verified;

struct Forge {
    sigstore: PrivateSigstore,
    trust: TrustRoot,
    digest: String,
}

const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1";

impl Forge {
    fn new() -> Self {
        let sigstore = PrivateSigstore::generate("attest").unwrap();
        let trust = TrustRoot::from_json("test", sigstore.trusted_root_json().as_bytes()).unwrap();
        Forge {
            sigstore,
            trust,
            digest: sigstore_forge::sha256_digest(b"the artifact"),
        }
    }

    fn bundle(&self, opts: SignOptions) -> Vec<u8> {
        let mut spec = LeafSpec::uri(WORKFLOW, GITHUB);
        spec.ci.runner_environment = Some("self-hosted".into());
        spec.ci.source_repository_owner_uri = Some("https://github.com/org".into());
        let leaf = self.sigstore.issue_leaf(&spec).unwrap();
        self.sigstore
            .sign_bundle(&leaf, &self.digest, &opts)
            .unwrap()
            .json
            .into_bytes()
    }
}

fn sbom_opts() -> SignOptions {
    SignOptions {
        predicate_type: Some("https://spdx.dev/Document".into()),
        ..SignOptions::default()
    }
}

#[test]
fn forged_cases_are_never_verified() {
    let f = Forge::new();
    let policy = keyless(".*", "^https://github.com/org/repo/");
    let good = f.bundle(sbom_opts());
    let [e] = &evaluate(
        &with_bundles(vec![good.clone()]),
        &f.digest,
        &policy,
        &f.trust,
    )[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verified, "{}", e.message);
    assert!(matches!(e.predicate, Some(Predicate::Sbom(_))));
    assert_eq!(
        e.certificate
            .as_ref()
            .unwrap()
            .runner_environment
            .as_deref(),
        Some("self-hosted")
    );

    let cases = [
        (
            "statement about another digest",
            f.bundle(SignOptions {
                signed_digest: Some(sigstore_forge::sha256_digest(b"other")),
                ..sbom_opts()
            }),
            Verdict::DigestMismatch,
        ),
        (
            "payload swapped after signing",
            f.bundle(SignOptions {
                swap_payload_digest: Some(sigstore_forge::sha256_digest(b"other")),
                ..sbom_opts()
            }),
            Verdict::SignatureInvalid,
        ),
        (
            "corrupt SET",
            f.bundle(SignOptions {
                corrupt_set: true,
                ..sbom_opts()
            }),
            Verdict::SignatureInvalid,
        ),
    ];
    for (what, bytes, want) in cases {
        let ev = evaluate(&with_bundles(vec![bytes]), &f.digest, &policy, &f.trust);
        assert_eq!(ev.len(), 1, "{what}");
        assert_ne!(ev[0].verdict, Verified, "{what}");
        assert_eq!(ev[0].verdict, want, "{what}: {}", ev[0].message);
        assert!(
            ev[0].statement.is_none() && ev[0].predicate.is_none(),
            "{what}"
        );
    }

    // Plain DSSE, no signature: Unsigned.
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["dsseEnvelope"]["signatures"] = serde_json::json!([]);
    let ev = evaluate(
        &with_bundles(vec![v.to_string().into_bytes()]),
        &f.digest,
        &policy,
        &f.trust,
    );
    assert_eq!(ev[0].verdict, Verdict::Unsigned, "{}", ev[0].message);
}

fn legacy(envelope: &[u8]) -> FoundLegacyAttestation {
    FoundLegacyAttestation {
        layer_digest: "sha256:00".into(),
        envelope: envelope.to_vec(),
        certificate_pem: None,
        chain_pem: None,
        rekor_bundle_json: None,
        rfc3161_timestamp_json: None,
        predicate_type_hint: None,
    }
}

#[test]
fn hostile_attestations_never_verify_never_panic_and_stay_bounded() {
    let f = Forge::new();
    let policy = keyless(".*", ".*");
    let huge = "x".repeat(100_000);
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"{huge}","subject":[{{"digest":{{"sha256":"{huge}"}}}}],"predicate":{{}}}}"#
    );
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let envelopes = [
        "not json".to_string(),
        format!(r#"{{"payloadType":"{huge}","payload":"","signatures":[]}}"#),
        r#"{"payloadType":"application/vnd.in-toto+json","payload":"%%%","signatures":[]}"#.into(),
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"sig":"AAAA"}}]}}"#,
            b64(&statement)
        ),
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[]}}"#,
            b64(&statement)
        ),
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"sig":"{}"}}]}}"#,
            b64("[1,2,3]"),
            huge
        ),
    ];
    let mut d = Discovery::default();
    for e in &envelopes {
        d.legacy_attestations.push(legacy(e.as_bytes()));
        let mut with_annotations = legacy(e.as_bytes());
        with_annotations.certificate_pem = Some(huge.clone());
        with_annotations.rekor_bundle_json = Some(format!(
            r#"{{"SignedEntryTimestamp":"{huge}","Payload":{{"body":"{}","integratedTime":1,"logIndex":1,"logID":"zz"}}}}"#,
            b64(r#"{"kind":"intoto","apiVersion":"0.0.1"}"#)
        ));
        d.legacy_attestations.push(with_annotations);
        d.attestations.push(found_bundle(e.as_bytes().to_vec()));
    }
    d.attestations_malformed.push(MalformedSignature {
        location: SignatureLocation::LegacyAttestationTag,
        detail: "bad layer".into(),
    });
    for p in [policy, Policy::None] {
        let ev = evaluate(&d, &f.digest, &p, &f.trust);
        assert_eq!(ev.len(), envelopes.len() * 3 + 1);
        for e in &ev {
            assert!(!matches!(e.verdict, Verified | Verdict::NoPolicy), "{e:?}");
            assert!(e.message.chars().count() <= 1001, "{}", e.message.len());
            assert!(e.predicate_type.chars().count() <= predicate::MAX_FIELD + 1);
            assert!(e.statement.is_none());
        }
    }
    // Not a digest at all: nothing can be about it.
    let ev = evaluate(
        &with_bundles(vec![f.bundle(sbom_opts())]),
        "latest",
        &Policy::None,
        &f.trust,
    );
    assert_eq!(ev[0].verdict, Verdict::DigestMismatch);
}

/// A `.att` layer as cosign ≥ 2.2.3 writes it (Rekor `dsse` 0.0.1), made by the forge.
fn forged_att(f: &Forge, opts: SignOptions) -> FoundLegacyAttestation {
    let leaf = f
        .sigstore
        .issue_leaf(&LeafSpec::uri(WORKFLOW, GITHUB))
        .unwrap();
    let signed = f.sigstore.sign_bundle(&leaf, &f.digest, &opts).unwrap();
    let bundle: serde_json::Value = serde_json::from_str(&signed.json).unwrap();
    FoundLegacyAttestation {
        envelope: bundle["dsseEnvelope"].to_string().into_bytes(),
        certificate_pem: Some(leaf.cert_pem.clone()),
        chain_pem: Some(leaf.chain_pem.clone()),
        rekor_bundle_json: Some(signed.entry.cosign_annotation()),
        ..legacy(b"")
    }
}

fn with_legacy(l: Vec<FoundLegacyAttestation>) -> Discovery {
    Discovery {
        legacy_attestations: l,
        ..Discovery::default()
    }
}

#[test]
fn legacy_att_logged_as_dsse_verifies_through_the_library_and_binds_everything() {
    let f = Forge::new();
    let policy = keyless(".*", "^https://github.com/org/repo/");
    let good = forged_att(&f, sbom_opts());
    let [e] = &evaluate(
        &with_legacy(vec![good.clone()]),
        &f.digest,
        &policy,
        &f.trust,
    )[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verified, "{}", e.message);
    assert_eq!(e.location, SignatureLocation::LegacyAttestationTag);
    assert!(e.tlog.is_some() && matches!(e.predicate, Some(Predicate::Sbom(_))));

    let other = forged_att(&f, sbom_opts());
    let cases = [
        (
            "another attestation's log entry",
            FoundLegacyAttestation {
                rekor_bundle_json: other.rekor_bundle_json.clone(),
                ..good.clone()
            },
        ),
        (
            "another certificate",
            FoundLegacyAttestation {
                certificate_pem: other.certificate_pem.clone(),
                ..good.clone()
            },
        ),
        (
            "a timestamp annotation that is not one",
            FoundLegacyAttestation {
                rfc3161_timestamp_json: Some(r#"{"SignedRFC3161Timestamp":"AAAA"}"#.into()),
                ..good.clone()
            },
        ),
        (
            "no log entry",
            FoundLegacyAttestation {
                rekor_bundle_json: None,
                ..good.clone()
            },
        ),
        (
            "about another digest",
            forged_att(
                &f,
                SignOptions {
                    signed_digest: Some(sigstore_forge::sha256_digest(b"other")),
                    ..sbom_opts()
                },
            ),
        ),
        (
            "corrupt SET",
            forged_att(
                &f,
                SignOptions {
                    corrupt_set: true,
                    ..sbom_opts()
                },
            ),
        ),
    ];
    for (what, att) in cases {
        let ev = evaluate(&with_legacy(vec![att]), &f.digest, &policy, &f.trust);
        assert!(
            !matches!(ev[0].verdict, Verified | Verdict::NoPolicy),
            "{what}: {:?}",
            ev[0]
        );
        assert!(ev[0].statement.is_none(), "{what}");
    }
}

/// The real SLSA-generator `.att` layer (Rekor `intoto` 0.0.1), from the OCI layout.
fn slsa_generator_att() -> (FoundLegacyAttestation, String) {
    let dir = "slsa-github-generator-container-v1.9.0/container_workflow_dispatch/blobs/sha256";
    let manifest: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{dir}/d86a56f046e85503c3e54a6fb12fade50c53eb39bcdddc8fd624cc71ecf3b88c"
    )))
    .unwrap();
    let layer = &manifest["layers"][0];
    let digest = layer["digest"].as_str().unwrap();
    let a = |k: &str| layer["annotations"][k].as_str().map(str::to_string);
    let found = FoundLegacyAttestation {
        layer_digest: digest.into(),
        envelope: read(&format!("{dir}/{}", digest.trim_start_matches("sha256:"))),
        certificate_pem: a("dev.sigstore.cosign/certificate"),
        chain_pem: a("dev.sigstore.cosign/chain"),
        rekor_bundle_json: a("dev.sigstore.cosign/bundle"),
        rfc3161_timestamp_json: None,
        predicate_type_hint: a("predicateType"),
    };
    let index = "sha256:5b146084201148bf151871fa779767f013c47706d031106af0d727fb5b88f5ac";
    (found, index.into())
}

#[test]
fn legacy_att_logged_as_intoto_is_checked_by_hand_and_every_binding_holds() {
    let (good, digest) = slsa_generator_att();
    let trust = public_good();
    let policy = keyless(
        "^https://token.actions.githubusercontent.com$",
        "^https://github.com/slsa-framework/slsa-github-generator/",
    );
    let [e] = &evaluate(&with_legacy(vec![good.clone()]), &digest, &policy, &trust)[..] else {
        panic!()
    };
    assert_eq!(e.verdict, Verified, "{}", e.message);
    assert_eq!(e.tlog.as_ref().map(|t| t.log_index > 0), Some(true));

    let mut set_flipped = good.clone();
    let mut rekor: serde_json::Value =
        serde_json::from_str(good.rekor_bundle_json.as_deref().unwrap()).unwrap();
    rekor["Payload"]["integratedTime"] =
        serde_json::json!(rekor["Payload"]["integratedTime"].as_i64().unwrap() + 1);
    set_flipped.rekor_bundle_json = Some(rekor.to_string());
    let mut envelope: serde_json::Value = serde_json::from_slice(&good.envelope).unwrap();
    envelope["signatures"][0]["sig"] = serde_json::json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [0x30u8, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]
    ));
    let forge = Forge::new();
    let foreign_leaf = forge
        .sigstore
        .issue_leaf(&LeafSpec::uri(WORKFLOW, GITHUB))
        .unwrap();
    // The same statement and signature in other bytes: not the envelope the log holds.
    let reformatted: serde_json::Value = serde_json::from_slice(&good.envelope).unwrap();
    let reformatted = serde_json::to_vec_pretty(&reformatted).unwrap();
    assert_ne!(reformatted, good.envelope);
    let ev = evaluate(
        &with_legacy(vec![FoundLegacyAttestation {
            envelope: reformatted.clone(),
            ..good.clone()
        }]),
        &digest,
        &policy,
        &trust,
    );
    assert!(ev[0].message.contains("envelope hash"), "{}", ev[0].message);
    let cases = [
        (
            "envelope re-serialized (envelope hash differs)",
            FoundLegacyAttestation {
                envelope: reformatted,
                ..good.clone()
            },
            Verdict::SignatureInvalid,
        ),
        (
            "integrated time moved (SET no longer covers it)",
            set_flipped,
            Verdict::SignatureInvalid,
        ),
        (
            "signature replaced",
            FoundLegacyAttestation {
                envelope: envelope.to_string().into_bytes(),
                ..good.clone()
            },
            Verdict::SignatureInvalid,
        ),
        (
            "certificate replaced",
            FoundLegacyAttestation {
                certificate_pem: Some(foreign_leaf.cert_pem.clone()),
                ..good.clone()
            },
            Verdict::SignatureInvalid,
        ),
    ];
    for (what, att, want) in cases {
        let ev = evaluate(&with_legacy(vec![att]), &digest, &policy, &trust);
        assert_eq!(ev[0].verdict, want, "{what}: {}", ev[0].message);
    }
    // The private root does not know the public-good log.
    let ev = evaluate(
        &with_legacy(vec![good.clone()]),
        &digest,
        &policy,
        &forge.trust,
    );
    assert_eq!(ev[0].verdict, Verdict::UntrustedSigner, "{}", ev[0].message);

    // A root whose CT logs did not sign the certificate's SCT: the SCT is checked, by hand too.
    let mut root: serde_json::Value =
        serde_json::from_slice(&read("github-bundles/trusted_root.json")).unwrap();
    for (i, log) in root["ctlogs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        log["logId"]["keyId"] = serde_json::json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [i as u8; 32]
        ));
    }
    let no_ct = TrustRoot::from_json("no CT", root.to_string().as_bytes()).unwrap();
    assert!(no_ct.requires_sct());
    let ev = evaluate(&with_legacy(vec![good]), &digest, &policy, &no_ct);
    assert_eq!(ev[0].verdict, Verdict::UntrustedSigner, "{}", ev[0].message);
    assert!(ev[0].message.contains("SCT"), "{}", ev[0].message);
}
