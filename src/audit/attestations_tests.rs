//! Compiling `spec.attestations` and `matchCertificate`: identities, validity, fingerprints.

use crate::audit::decide::{compile_policy, decide};
use crate::audit::fixtures::{self, policy, secrets};
use crate::engine::Policy;

const KEYLESS: &str = r#"
verify:
  matchOIDCIdentity:
    - issuer: "^https://token\\.actions\\.githubusercontent\\.com$"
      subject: "^https://github\\.com/org/repo/"
  trustedRootSecretRef: {namespace: security, name: root}
"#;

fn with_attestations(block: &str) -> crate::api::ProvenancePolicySpec {
    policy(&format!("{KEYLESS}attestations:\n{block}"))
}

#[test]
fn a_requirement_defaults_to_the_policys_identity_and_trust_root() {
    let spec = with_attestations(
        r#"
  - predicateType: slsaprovenance1
    sourceRepository: 'https://github\.com/org/repo'
    sourceRef: 'refs/tags/v.*'
    denySelfHostedRunners: true
    conditions:
      - expression: "predicate.buildDefinition.buildType != ''"
        message: has a build type
"#,
    );
    let p = compile_policy("prov", &spec, &secrets()).unwrap();
    let r = &p.attestations[0];
    assert_eq!(
        r.requirement.predicate_type,
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(r.identity.fingerprint(), p.policy.fingerprint());
    assert_eq!(r.trust_root, p.trust_root);
    let short = r.requirement.certificate.describe();
    for field in ["sourceRepository", "sourceRef", "runnerEnvironment"] {
        assert!(short.contains(field), "{short}");
    }
    assert_eq!(r.requirement.conditions.len(), 1);
    assert_eq!(r.requirement.name, "policy prov spec.attestations[0]");
}

#[test]
fn a_requirement_with_its_own_verify_keeps_the_policys_root_unless_it_names_one() {
    let spec = with_attestations(
        r#"
  - predicateType: https://spdx.dev/Document
    verify:
      secretRef: {namespace: security, name: keys}
"#,
    );
    let p = compile_policy("prov", &spec, &secrets()).unwrap();
    let r = &p.attestations[0];
    assert!(matches!(&r.identity, Policy::Keys { keys, .. } if keys.len() == 2));
    assert_eq!(r.trust_root, p.trust_root);
    assert_ne!(r.identity_key(), p.attestations[0].identity.fingerprint());
    // Its Secret is one the policy reads.
    assert!(spec
        .secret_refs()
        .any(|s| s.namespace == "security" && s.name == "keys"));
}

#[test]
fn invalid_cel_or_regex_makes_the_policy_invalid_naming_it() {
    let bad_cel = with_attestations(
        r#"
  - predicateType: https://slsa.dev/provenance/v1
    conditions:
      - expression: "predicate.builder.id =="
"#,
    );
    let err = compile_policy("prov", &bad_cel, &secrets()).unwrap_err();
    assert!(err.contains("spec.attestations[0]"), "{err}");
    assert!(err.contains("predicate.builder.id =="), "{err}");
    let bad_re = with_attestations(
        r#"
  - predicateType: https://slsa.dev/provenance/v1
    sourceRef: "refs/tags/("
"#,
    );
    let err = compile_policy("prov", &bad_re, &secrets()).unwrap_err();
    assert!(err.contains("sourceRef"), "{err}");
    // A requirement's own verify obeys the same "name someone" rule as the policy's.
    let anyone = with_attestations(
        r#"
  - predicateType: https://slsa.dev/provenance/v1
    verify: {provider: cosign}
"#,
    );
    let err = compile_policy("prov", &anyone, &secrets()).unwrap_err();
    assert!(err.contains("verify"), "{err}");
    // And a source matched by it is Unknown/PolicyInvalid, not judged from less.
    let src = fixtures::source(&fixtures::oci_repository());
    let d = decide(&src, &[("prov", &bad_cel)], &secrets());
    assert!(d.invalid_message().unwrap().contains("policy prov"));
}

#[test]
fn match_certificate_is_applied_to_every_identity() {
    let spec = policy(&format!(
        "{KEYLESS}  matchCertificate:\n    sourceRef: 'refs/tags/v.*'\n    runnerEnvironment: github-hosted\n"
    ));
    let p = compile_policy("prov", &spec, &secrets()).unwrap();
    let Policy::Keyless { identities } = &p.policy else {
        panic!("keyless expected");
    };
    assert!(identities
        .iter()
        .all(|i| i.certificate.describe().contains("sourceRef")));
    let bad = policy(&format!("{KEYLESS}  matchCertificate:\n    trigger: '('\n"));
    let err = compile_policy("prov", &bad, &secrets()).unwrap_err();
    assert!(
        err.contains("matchCertificate") && err.contains("trigger"),
        "{err}"
    );
}

#[test]
fn the_cache_key_covers_requirements_and_only_when_there_are_some() {
    let src = fixtures::source(&fixtures::oci_repository());
    let key = |spec: &crate::api::ProvenancePolicySpec| {
        decide(&src, &[("prov", spec)], &secrets())
            .cache_key(fixtures::DIGEST)
            .policy_fingerprint
    };
    let plain = policy(KEYLESS);
    let empty = policy(&format!("{KEYLESS}attestations: []\n"));
    let slsa = with_attestations("  - predicateType: https://slsa.dev/provenance/v1\n");
    let tagged = with_attestations(
        "  - predicateType: https://slsa.dev/provenance/v1\n    sourceRef: refs/tags/.*\n",
    );
    assert_eq!(key(&plain), key(&empty));
    assert_ne!(key(&plain), key(&slsa));
    assert_ne!(key(&slsa), key(&tagged));
    // Unchanged requirements: the same key, so no new registry request.
    assert_eq!(key(&tagged), key(&tagged.clone()));
}

/// GitHub's real reusable-workflow attestation (tests/data/attestations, see its SOURCE.md),
/// judged end to end: policy YAML → requirements → `attest` → `Attested`.
mod real_github_attestation {
    use super::*;
    use crate::audit::attested::attest;
    use crate::registry::{Discovery, FoundBundle, SignatureLocation};
    use crate::vocabulary::{reasons, Status};

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/attestations");

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(format!("{DATA}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn judge(requirement: &str) -> crate::engine::attest::require::Attested {
        let spec = policy(&format!(
            r#"
verify:
  matchOIDCIdentity:
    - issuer: "^https://token\\.actions\\.githubusercontent\\.com$"
      subject: "^https://github\\.com/github/artifact-attestations-workflows/"
  trustedRootSecretRef: {{namespace: security, name: gh-root}}
attestations:
{requirement}"#
        ));
        let mut s = secrets();
        s.insert(
            ("security".into(), "gh-root".into()),
            [(
                "trusted_root.json".to_string(),
                read("github-bundles/trusted_root.json"),
            )]
            .into(),
        );
        let src = fixtures::source(&fixtures::oci_repository());
        let decision = decide(&src, &[("gh", &spec)], &s);
        assert!(decision.invalid.is_empty(), "{:?}", decision.invalid);
        let discovery = Discovery {
            attestations: vec![FoundBundle {
                location: SignatureLocation::ReferrersApi,
                manifest_digest: "sha256:00".into(),
                media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
                bytes: read("github-bundles/reusable-workflow-attestation.sigstore.json"),
            }],
            ..Discovery::default()
        };
        let digest =
            sigstore_forge::sha256_digest(&read("github-bundles/reusable-workflow-artifact"));
        attest(&discovery, &digest, &decision)
    }

    #[test]
    fn the_right_repository_on_a_hosted_runner_with_a_true_condition_is_attested() {
        let a = judge(
            r#"
  - predicateType: slsaprovenance1
    sourceRepository: 'https://github\.com/malancas/attest-demo'
    denySelfHostedRunners: true
    conditions:
      - expression: "predicate.buildDefinition.resolvedDependencies.exists(d, d.digest.gitCommit == '95baf27389e83e6a5c48f42e190d48d7abcea19e')"
      - expression: "certificate.sourceRepositoryUri.endsWith('/attest-demo')"
"#,
        );
        assert_eq!(
            (a.judgement.status, a.judgement.reason),
            (Status::True, reasons::ATTESTED),
            "{}",
            a.judgement.message
        );
        assert_eq!(a.evidence.len(), 1);
        assert_eq!(
            crate::engine::attest::built_from::first_built_from(&a.evidence).as_deref(),
            Some("github.com/malancas/attest-demo@95baf27389e83e6a5c48f42e190d48d7abcea19e")
        );
    }

    #[test]
    fn the_called_workflows_repository_is_not_the_source_repository() {
        let a = judge(
            r#"
  - predicateType: https://slsa.dev/provenance/v1
    sourceRepository: 'https://github\.com/github/artifact-attestations-workflows'
"#,
        );
        assert_eq!(a.judgement.reason, reasons::ATTESTATION_POLICY_FAILED);
        assert!(
            a.judgement.message.contains("sourceRepository"),
            "{}",
            a.judgement.message
        );
    }

    #[test]
    fn a_false_condition_fails_and_an_erroring_one_is_unknown() {
        let a = judge(
            "  - predicateType: https://slsa.dev/provenance/v1\n    conditions:\n      - expression: \"predicate.buildDefinition.buildType == 'x'\"\n        message: built by our build type\n",
        );
        assert_eq!(a.judgement.reason, reasons::ATTESTATION_POLICY_FAILED);
        assert!(
            a.judgement.message.contains("built by our build type"),
            "{}",
            a.judgement.message
        );
        let a = judge(
            "  - predicateType: https://slsa.dev/provenance/v1\n    conditions:\n      - expression: \"predicate.noSuchField == 'x'\"\n",
        );
        assert_eq!(
            (a.judgement.status, a.judgement.reason),
            (Status::Unknown, reasons::CONDITION_ERROR),
            "{}",
            a.judgement.message
        );
    }

    #[test]
    fn another_identity_makes_the_attestation_invalid_and_an_sbom_is_missing() {
        let a = judge(
            r#"
  - predicateType: https://slsa.dev/provenance/v1
    verify:
      matchOIDCIdentity:
        - issuer: "^https://token\\.actions\\.githubusercontent\\.com$"
          subject: "^https://github\\.com/someone/else/"
"#,
        );
        assert_eq!(
            a.judgement.reason,
            reasons::ATTESTATION_INVALID,
            "{}",
            a.judgement.message
        );
        assert!(
            a.judgement.message.contains("IdentityMismatch"),
            "{}",
            a.judgement.message
        );
        // The status reports it under the requirement's identity (the verdict that matters).
        assert_eq!(
            a.evidence[0].verdict,
            crate::engine::Verdict::IdentityMismatch
        );
        let a = judge("  - predicateType: spdxjson\n");
        assert_eq!(a.judgement.reason, reasons::ATTESTATION_MISSING);
    }
}
