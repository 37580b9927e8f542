use super::*;
use crate::audit::fixtures::{self, evaluation, policy, secrets};

const KEYS_POLICY: &str = "
verify:
  secretRef: {namespace: security, name: keys}
";
const KEYLESS_POLICY: &str = r#"
match: {kinds: [OCIRepository]}
verify:
  provider: cosign
  matchOIDCIdentity:
    - issuer: "^https://token\\.actions\\.githubusercontent\\.com$"
      subject: "^https://github\\.com/org/repo/"
  trustedRootSecretRef: {namespace: security, name: root}
"#;

#[test]
fn matching_policies_all_apply_in_name_order() {
    let src = fixtures::source(&fixtures::oci_repository());
    let (k, kl) = (policy(KEYS_POLICY), policy(KEYLESS_POLICY));
    let d = decide(&src, &[("z-keyless", &kl), ("a-keys", &k)], &secrets());
    assert_eq!(d.names(), ["a-keys", "z-keyless"]);
    assert!(d.invalid.is_empty());
    assert!(
        matches!(&d.policies[0].policy, Policy::Keys { keys, require_tlog: false } if keys.len() == 2)
    );
    assert!(
        matches!(&d.policies[1].policy, Policy::Keyless { identities } if identities.len() == 1)
    );
    assert!(
        matches!(&d.policies[1].trust_root, TrustRootInput::Json { secret, .. } if secret == "security/root")
    );
}

#[test]
fn source_matched_by_no_policy_is_reverified_against_its_own_verify() {
    let src = fixtures::source(&fixtures::oci_repository());
    let d = decide(&src, &[], &secrets());
    assert_eq!(d.names(), [SOURCE_VERIFY]);
    assert!(matches!(&d.policies[0].policy, Policy::Keys { keys, .. } if keys.len() == 1));
}

#[test]
fn source_with_neither_policy_nor_verify_gets_no_policy() {
    let src = fixtures::source(&fixtures::oci_repository_unverified());
    let d = decide(&src, &[], &secrets());
    assert!(d.names().is_empty());
    let eval = d.to_evaluate();
    assert_eq!(eval.len(), 1);
    assert!(matches!(eval[0].1, Policy::None));
}

#[test]
fn a_matching_policy_replaces_the_sources_own_verify_but_is_kept_for_comparison() {
    let src = fixtures::source(&fixtures::oci_repository());
    let k = policy(KEYS_POLICY);
    let d = decide(&src, &[("keys", &k)], &secrets());
    assert_eq!(d.names(), ["keys"]);
    assert!(matches!(d.source_verify, Some(Ok(_))));
}

#[test]
fn missing_secret_or_bad_regex_makes_the_policy_invalid() {
    let src = fixtures::source(&fixtures::oci_repository());
    let missing = policy("verify: {secretRef: {namespace: security, name: nope}}");
    let empty = policy("verify: {secretRef: {namespace: security, name: empty}}");
    let bad_re = policy("verify: {matchOIDCIdentity: [{issuer: '(', subject: x}]}");
    let bad_match = policy("{match: {urlRegex: '['}, verify: {}}");
    let d = decide(
        &src,
        &[
            ("m", &missing),
            ("e", &empty),
            ("r", &bad_re),
            ("u", &bad_match),
        ],
        &secrets(),
    );
    assert!(d.policies.is_empty());
    let msg = d.invalid_message().unwrap();
    assert!(msg.contains("Secret security/nope not found"), "{msg}");
    assert!(msg.contains("no *.pub entry"), "{msg}");
    assert!(msg.contains("invalid issuer regex"), "{msg}");
    assert!(msg.contains("urlRegex"), "{msg}");
}

#[test]
fn a_notation_source_is_audited_with_its_trust_policy_secret() {
    let mut v = fixtures::oci_repository();
    v["spec"]["verify"]["provider"] = "notation".into();
    // Its Secret holds cosign keys, not Flux's Notation layout: unusable, and said so.
    let d = decide(&fixtures::source(&v), &[], &secrets());
    assert!(d.invalid_message().unwrap().contains("trustpolicy.json"));
}

#[test]
fn cache_key_changes_with_keys_and_trust_roots() {
    let src = fixtures::source(&fixtures::oci_repository());
    let k = policy(KEYS_POLICY);
    let one = decide(&src, &[("p", &k)], &secrets()).cache_key(fixtures::DIGEST);
    let again = decide(&src, &[("p", &k)], &secrets()).cache_key(fixtures::DIGEST);
    assert_eq!(one, again);
    let other_key = decide(&src, &[], &secrets()).cache_key(fixtures::DIGEST);
    assert_ne!(one.policy_fingerprint, other_key.policy_fingerprint);
    let kl = policy(KEYLESS_POLICY);
    let mut s2 = secrets();
    let with_root = decide(&src, &[("p", &kl)], &s2).cache_key(fixtures::DIGEST);
    s2.get_mut(&("security".into(), "root".into()))
        .unwrap()
        .insert("trusted_root.json".into(), b"{\"v\":2}".to_vec());
    let new_root = decide(&src, &[("p", &kl)], &s2).cache_key(fixtures::DIGEST);
    assert_eq!(with_root.policy_fingerprint, new_root.policy_fingerprint);
    assert_ne!(
        with_root.trust_root_fingerprint,
        new_root.trust_root_fingerprint
    );
}

#[test]
fn public_good_fingerprint_matches_the_engines() {
    let engine = crate::engine::TrustRoot::public_good().unwrap();
    assert_eq!(
        TrustRootInput::PublicGood.fingerprint(),
        engine.fingerprint()
    );
}

#[test]
fn combined_verdict_is_the_first_definite_failure() {
    let all = combine(vec![
        ("a".into(), evaluation(Verdict::Verified, vec![])),
        ("b".into(), evaluation(Verdict::RegistryUnavailable, vec![])),
        ("c".into(), evaluation(Verdict::IdentityMismatch, vec![])),
        ("d".into(), evaluation(Verdict::KeyMismatch, vec![])),
    ]);
    assert_eq!(all.verdict, Verdict::IdentityMismatch);
    assert!(all.message.starts_with("policy c: "), "{}", all.message);
}

#[test]
fn combined_verdict_is_verified_only_when_every_policy_is() {
    let ok = combine(vec![
        ("a".into(), evaluation(Verdict::Verified, vec![])),
        ("b".into(), evaluation(Verdict::Verified, vec![])),
    ]);
    assert_eq!(ok.verdict, Verdict::Verified);
    let unknown = combine(vec![
        ("a".into(), evaluation(Verdict::Verified, vec![])),
        ("b".into(), evaluation(Verdict::TrustRootError, vec![])),
    ]);
    assert_eq!(unknown.verdict, Verdict::TrustRootError);
    let single = combine(vec![(
        SOURCE_VERIFY.into(),
        evaluation(Verdict::Verified, vec![]),
    )]);
    assert_eq!(single.message, "Verified message");
}

/// Issue 9 item 5: `verify: {provider: cosign}` (with or without a trust root) named no signer
/// and compiled to keyless-with-no-identity, which accepted any certificate: it is invalid now
/// (the policy `Ready=False/PolicyInvalid`), and a source it matches gets no verdict from it
/// (`Verified=Unknown/PolicyInvalid`), never `Verified`.
#[test]
fn a_policy_that_names_no_signer_is_invalid_and_decides_nothing() {
    let src = fixtures::source(&fixtures::oci_repository());
    let bare = policy("verify: {provider: cosign}");
    let root_only = policy(
        "verify: {provider: cosign, trustedRootSecretRef: {namespace: security, name: root}}",
    );
    let empty_regex = policy("verify: {matchOIDCIdentity: [{issuer: '', subject: ''}]}");
    let empty_subject = policy(
        "verify: {matchOIDCIdentity: [{issuer: '^https://token\\.actions\\.githubusercontent\\.com$', subject: ''}]}",
    );
    for (name, p) in [
        ("bare", &bare),
        ("root-only", &root_only),
        ("empty-regex", &empty_regex),
        ("empty-subject", &empty_subject),
    ] {
        let err = compile_policy(name, p, &secrets()).unwrap_err();
        assert!(err.contains("any signer"), "{name}: {err}");
        let d = decide(&src, &[(name, p)], &secrets());
        assert!(d.policies.is_empty(), "{name}");
        let msg = d
            .invalid_message()
            .expect("the source's verdict is PolicyInvalid");
        assert!(msg.starts_with(&format!("policy {name}: ")), "{msg}");
    }
    // A key, or one real identity, is enough.
    assert!(compile_policy("k", &policy(KEYS_POLICY), &secrets()).is_ok());
    assert!(compile_policy("i", &policy(KEYLESS_POLICY), &secrets()).is_ok());
}

/// A source's own `spec.verify` with no identity is Flux's any-signer mode: it is audited as
/// such (not refused: Flux does accept it), and `Enforced` calls it weak.
#[test]
fn a_sources_own_verify_without_identity_is_kept_as_any_signer_mode() {
    let src = fixtures::source(&fixtures::oci_repository_keyless(&[]));
    let d = decide(&src, &[], &secrets());
    assert!(d.invalid.is_empty(), "{:?}", d.invalid);
    assert!(
        matches!(&d.policies[0].policy, Policy::Keyless { identities } if identities.is_empty())
    );
}
