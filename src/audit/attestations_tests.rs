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
