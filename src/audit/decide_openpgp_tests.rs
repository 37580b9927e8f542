//! `verify.openpgp`: a policy's OpenPGP keys for charts from HTTP repositories, compiled from
//! a Secret of armored or binary keys, and part of the verdict-cache key.

use super::*;
use crate::audit::fixtures::{self, policy, secrets};

const OPENPGP_ONLY: &str = "
verify:
  openpgp:
    secretRef: {namespace: security, name: chart-signers}
";
const BOTH: &str = "
verify:
  secretRef: {namespace: security, name: keys}
  openpgp:
    secretRef: {namespace: security, name: chart-signers}
";

fn with_keyring(entries: &[(&str, &[u8])]) -> Secrets {
    let mut s = secrets();
    s.insert(
        ("security".into(), "chart-signers".into()),
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
    );
    s
}

const SIGNER_ASC: &[u8] = include_bytes!("../../tests/data/helm/signer.asc");
const SIGNER_GPG: &[u8] = include_bytes!("../../tests/data/helm/signer.gpg");
const OTHER_ASC: &[u8] = include_bytes!("../../tests/data/helm/other.asc");

#[test]
fn an_openpgp_secret_of_armored_and_binary_keys_is_the_policys_keyring() {
    let src = fixtures::source(&fixtures::helm_chart());
    let p = policy(OPENPGP_ONLY);
    let secrets = with_keyring(&[
        ("signer.asc", SIGNER_ASC),
        ("pubring.gpg", SIGNER_GPG),
        ("x", OTHER_ASC),
    ]);
    let d = decide(&src, &[("charts", &p)], &secrets);
    assert!(d.invalid.is_empty(), "{:?}", d.invalid);
    let k = d.policies[0].openpgp.as_ref().unwrap();
    assert_eq!(k.certificates.len(), 3);
    assert_eq!(d.openpgp_to_evaluate().len(), 1);
    // It accepts no cosign signer (not keyless with no identity, which would accept any).
    assert!(matches!(&d.policies[0].policy, Policy::Keys { keys, .. } if keys.is_empty()));
}

#[test]
fn a_missing_or_unreadable_keyring_makes_the_policy_invalid() {
    let src = fixtures::source(&fixtures::helm_chart());
    let p = policy(OPENPGP_ONLY);
    let d = decide(&src, &[("charts", &p)], &secrets());
    assert!(
        d.invalid[0].contains("security/chart-signers not found"),
        "{:?}",
        d.invalid
    );
    let d = decide(&src, &[("charts", &p)], &with_keyring(&[("k", b"garbage")]));
    assert!(d.invalid[0].contains("verify.openpgp"), "{:?}", d.invalid);
    let d = decide(&src, &[("charts", &p)], &with_keyring(&[]));
    assert!(
        d.invalid[0].contains("holds no OpenPGP key"),
        "{:?}",
        d.invalid
    );
}

#[test]
fn the_keyring_is_part_of_the_cache_key_and_policies_without_one_keep_theirs() {
    let src = fixtures::source(&fixtures::helm_chart());
    let both = policy(BOTH);
    let key = |s: &Secrets| decide(&src, &[("p", &both)], s).cache_key("sha256:00");
    let a = key(&with_keyring(&[("k", SIGNER_ASC)]));
    let b = key(&with_keyring(&[("k", OTHER_ASC)]));
    assert_ne!(a.policy_fingerprint, b.policy_fingerprint);
    assert_eq!(a, key(&with_keyring(&[("k", SIGNER_ASC)])));
    // A cosign-only policy's key is what it was before OpenPGP keys existed.
    let cosign = policy("verify:\n  secretRef: {namespace: security, name: keys}\n");
    let plain = decide(&src, &[("p", &cosign)], &secrets());
    assert!(plain.policies[0].openpgp.is_none());
    let mut without = both.clone();
    without.verify.openpgp = None;
    assert_eq!(
        plain.cache_key("sha256:00"),
        decide(&src, &[("p", &without)], &secrets()).cache_key("sha256:00")
    );
}

#[test]
fn a_sources_own_verify_asks_nothing_of_a_prov() {
    let src = fixtures::source(&fixtures::oci_repository());
    let d = decide(&src, &[], &secrets());
    assert_eq!(d.names(), [SOURCE_VERIFY]);
    assert!(d.openpgp_to_evaluate().is_empty());
}

#[test]
fn an_http_chart_is_never_enforced_whatever_its_spec_verify() {
    use crate::audit::enforced::{enforced_given_formats, HTTP_CHART_NOT_ENFORCED};
    let src = fixtures::source(&fixtures::oci_repository());
    let mut d = decide(&src, &[], &secrets());
    assert_eq!(
        enforced_given_formats(&src, &d, false).status,
        crate::vocabulary::Status::True
    );
    d.http_chart = true;
    let j = enforced_given_formats(&src, &d, false);
    assert_eq!(j.status, crate::vocabulary::Status::False);
    assert_eq!(j.message, HTTP_CHART_NOT_ENFORCED);
}
