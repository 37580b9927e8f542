use super::*;
use crate::audit::decide::decide;
use crate::audit::fixtures::{self, keyless_signature, policy, secrets};
use crate::engine::Verdict;

const ID: (&str, &str) = (
    "^https://token\\.actions\\.githubusercontent\\.com$",
    "^https://github\\.com/org/repo/",
);

fn judge(
    v: &serde_json::Value,
    policies: &[(&str, &crate::api::ProvenancePolicySpec)],
    sigs: &[SignatureEvidence],
) -> Judgement {
    let src = fixtures::source(v);
    enforced(&src, &decide(&src, policies, &secrets()), sigs)
}

#[test]
fn source_without_verify_is_not_enforced() {
    let j = judge(&fixtures::oci_repository_unverified(), &[], &[]);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::VERIFY_MISSING)
    );
}

#[test]
fn key_verified_source_is_enforced() {
    let j = judge(&fixtures::oci_repository(), &[], &[]);
    assert_eq!((j.status, j.reason), (Status::True, reasons::ENFORCED));
}

#[test]
fn keyless_without_identities_accepts_any_signer() {
    let legacy = [keyless_signature(
        SignatureFormat::Legacy,
        Verdict::Verified,
    )];
    let j = judge(&fixtures::oci_repository_keyless(&[]), &[], &legacy);
    assert_eq!(j.reason, reasons::VERIFY_WEAKER);
    assert!(j.message.contains("any signer"), "{}", j.message);
}

#[test]
fn several_identities_against_bundles_say_flux_will_halt() {
    let bundle = [keyless_signature(
        SignatureFormat::Bundle,
        Verdict::Verified,
    )];
    let v = fixtures::oci_repository_keyless(&[ID, ("x", "y")]);
    let j = judge(&v, &[], &bundle);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::VERIFY_WEAKER)
    );
    assert!(j.message.contains("Flux will halt"), "{}", j.message);
    let none = judge(&fixtures::oci_repository_keyless(&[]), &[], &bundle);
    assert!(none.message.contains("Flux will halt"), "{}", none.message);
    // Legacy signatures: the identity list is an OR and works.
    let legacy = [keyless_signature(
        SignatureFormat::Legacy,
        Verdict::Verified,
    )];
    assert_eq!(judge(&v, &[], &legacy).reason, reasons::ENFORCED);
}

#[test]
fn required_source_verify_must_use_a_subset_of_the_policys_keys() {
    let both = policy(
        "{requireSourceVerify: true, verify: {secretRef: {namespace: security, name: keys}}}",
    );
    // The source trusts key A only, the policy A or B: stricter, fine.
    assert_eq!(
        judge(&fixtures::oci_repository(), &[("p", &both)], &[]).reason,
        reasons::ENFORCED
    );
    let only_b = policy(
        "{requireSourceVerify: true, verify: {secretRef: {namespace: apps, name: cosign-pub}}}",
    );
    assert_eq!(
        judge(&fixtures::oci_repository(), &[("p", &only_b)], &[]).reason,
        reasons::ENFORCED
    );
    let mut s = secrets();
    s.insert(
        ("apps".into(), "only-b".into()),
        [("b.pub".to_string(), fixtures::KEY_B.as_bytes().to_vec())].into(),
    );
    let p =
        policy("{requireSourceVerify: true, verify: {secretRef: {namespace: apps, name: only-b}}}");
    let src = fixtures::source(&fixtures::oci_repository());
    let j = enforced(&src, &decide(&src, &[("only-b", &p)], &s), &[]);
    assert_eq!(j.reason, reasons::VERIFY_WEAKER);
    assert!(
        j.message.contains("Flux also accepts key cosign.pub"),
        "{}",
        j.message
    );
}

#[test]
fn required_keyless_source_verify_needs_the_same_identities_and_root() {
    let p = policy(&format!(
        "{{requireSourceVerify: true, verify: {{matchOIDCIdentity: [{{issuer: '{}', subject: '{}'}}]}}}}",
        ID.0, ID.1
    ));
    let same = fixtures::oci_repository_keyless(&[ID]);
    assert_eq!(judge(&same, &[("p", &p)], &[]).reason, reasons::ENFORCED);
    let looser = fixtures::oci_repository_keyless(&[(ID.0, "github.com/org/")]);
    let j = judge(&looser, &[("p", &p)], &[]);
    assert_eq!(j.reason, reasons::VERIFY_WEAKER);
    assert!(
        j.message
            .contains("requires spec.verify at least as strict"),
        "{}",
        j.message
    );
    let keys = judge(&fixtures::oci_repository(), &[("p", &p)], &[]);
    assert!(
        keys.message.contains("source uses keys"),
        "{}",
        keys.message
    );
}

fn with_flux_verified(status: &str, generation: i64) -> FluxSource {
    let mut v = fixtures::oci_repository();
    let conds = v["status"]["conditions"].as_array_mut().unwrap();
    let sv = conds
        .iter_mut()
        .find(|c| c["type"] == "SourceVerified")
        .unwrap();
    sv["status"] = status.into();
    sv["observedGeneration"] = generation.into();
    fixtures::source(&v)
}

#[test]
fn flux_verified_but_audit_failed_is_the_alarm() {
    let j = flux_agrees(&with_flux_verified("True", 2), Status::False);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::FLUX_VERIFIED_AUDIT_FAILED)
    );
}

#[test]
fn audit_verified_but_flux_failed_is_reported() {
    let j = flux_agrees(&with_flux_verified("False", 2), Status::True);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::AUDIT_VERIFIED_FLUX_FAILED)
    );
}

#[test]
fn same_answer_agrees() {
    assert_eq!(
        flux_agrees(&with_flux_verified("True", 2), Status::True).reason,
        reasons::AGREES
    );
    assert_eq!(
        flux_agrees(&with_flux_verified("False", 2), Status::False).status,
        Status::True
    );
}

#[test]
fn flux_not_verifying_the_current_generation_is_unknown() {
    let stale = flux_agrees(&with_flux_verified("True", 1), Status::False);
    assert_eq!(
        (stale.status, stale.reason),
        (Status::Unknown, reasons::FLUX_DOES_NOT_VERIFY)
    );
    let none = flux_agrees(
        &fixtures::source(&fixtures::oci_repository_unverified()),
        Status::True,
    );
    assert_eq!(none.reason, reasons::FLUX_DOES_NOT_VERIFY);
    let ours_unknown = flux_agrees(&with_flux_verified("True", 2), Status::Unknown);
    assert_eq!(ours_unknown.status, Status::Unknown);
}

/// An identity whose issuer or subject regex is empty matches any value of that field: it is
/// "any signer" for that field, so Flux's check is weaker than it looks.
#[test]
fn an_empty_identity_regex_is_weak() {
    let legacy = [keyless_signature(
        SignatureFormat::Legacy,
        Verdict::Verified,
    )];
    for id in [("", ID.1), (ID.0, ""), ("", "")] {
        let j = judge(&fixtures::oci_repository_keyless(&[id]), &[], &legacy);
        assert_eq!(
            (j.status, j.reason),
            (Status::False, reasons::VERIFY_WEAKER),
            "{id:?}: {}",
            j.message
        );
        assert!(j.message.contains("empty"), "{}", j.message);
    }
}

fn requiring(issuer: &str, subject: &str) -> crate::api::ProvenancePolicySpec {
    policy(&format!(
        "{{requireSourceVerify: true, verify: {{matchOIDCIdentity: [{{issuer: '{issuer}', subject: '{subject}'}}]}}}}"
    ))
}

/// A strictly narrower identity under a broader policy is enforced: what the regexes accept is
/// compared, not their text.
#[test]
fn a_narrower_identity_than_the_policy_is_enforced() {
    let p = requiring(
        ID.0,
        r"^https://github\.com/org/[A-Za-z0-9_-]+/\.github/workflows/[A-Za-z0-9_-]+\.ya?ml@[0-9a-f]{40}$",
    );
    let pinned = fixtures::oci_repository_keyless(&[(
        ID.0,
        r"^https://github\.com/org/actions/\.github/workflows/publish-app\.yaml@[0-9a-f]{40}$",
    )]);
    let j = judge(&pinned, &[("broad", &p)], &[]);
    assert_eq!(
        (j.status, j.reason),
        (Status::True, reasons::ENFORCED),
        "{}",
        j.message
    );
    // Two entries both inside the policy, read together, are still inside it.
    let two = fixtures::oci_repository_keyless(&[
        (
            ID.0,
            r"^https://github\.com/org/a/\.github/workflows/x\.yml@[0-9a-f]{40}$",
        ),
        (
            ID.0,
            r"^https://github\.com/org/b/\.github/workflows/y\.yaml@[0-9a-f]{40}$",
        ),
    ]);
    let legacy = [keyless_signature(
        SignatureFormat::Legacy,
        Verdict::Verified,
    )];
    assert_eq!(
        judge(&two, &[("broad", &p)], &legacy).reason,
        reasons::ENFORCED
    );
}

/// A weaker identity is reported with an identity Flux accepts and the policy refuses.
#[test]
fn a_weaker_identity_names_what_flux_also_accepts() {
    let p = requiring(
        ID.0,
        r"^https://github\.com/org/repo/\.github/workflows/r\.yml@refs/tags/v1$",
    );
    // Unanchored: text before and after passes too.
    let loose = fixtures::oci_repository_keyless(&[(
        ID.0,
        r"https://github\.com/org/repo/\.github/workflows/r\.yml@refs/tags/v1",
    )]);
    let j = judge(&loose, &[("p", &p)], &[]);
    assert_eq!(
        (j.status, j.reason),
        (Status::False, reasons::VERIFY_WEAKER)
    );
    let subject = j
        .message
        .split("with subject \"")
        .nth(1)
        .and_then(|r| r.split('"').next());
    let subject = subject.unwrap_or_else(|| panic!("no witness in {}", j.message));
    let re = |r: &str| regex::Regex::new(r).unwrap();
    assert!(
        re(r"https://github\.com/org/repo/\.github/workflows/r\.yml@refs/tags/v1")
            .is_match(subject)
    );
    assert!(
        !re(r"^https://github\.com/org/repo/\.github/workflows/r\.yml@refs/tags/v1$")
            .is_match(subject)
    );
}

/// A policy identity with certificate claims covers nothing Flux checks.
#[test]
fn a_policy_identity_with_certificate_claims_is_stricter_than_flux() {
    let p = policy(&format!(
        "{{requireSourceVerify: true, verify: {{matchOIDCIdentity: [{{issuer: '{}', subject: '{}'}}], matchCertificate: {{runnerEnvironment: github-hosted}}}}}}",
        ID.0, ID.1
    ));
    let same = fixtures::oci_repository_keyless(&[ID]);
    let j = judge(&same, &[("p", &p)], &[]);
    assert_eq!(j.reason, reasons::VERIFY_WEAKER, "{}", j.message);
    assert!(j.message.contains("matchCertificate"), "{}", j.message);
}

/// What cannot be decided is Unknown, never weaker and never enforced.
#[test]
fn an_undecidable_comparison_is_unknown() {
    // Rust's `\b` is Unicode-aware and has no DFA.
    let p = requiring(ID.0, r"\borg\b");
    let v = fixtures::oci_repository_keyless(&[(ID.0, "^org$")]);
    let j = judge(&v, &[("p", &p)], &[]);
    assert_eq!(j.status, Status::Unknown, "{}", j.message);
    assert!(j.message.contains("could not decide"), "{}", j.message);
}

/// A blank provider or key Secret name is no verification at all.
#[test]
fn a_blank_provider_or_secret_name_verifies_nothing() {
    let mut v = fixtures::oci_repository();
    v["spec"]["verify"]["provider"] = "".into();
    assert_eq!(judge(&v, &[], &[]).reason, reasons::VERIFY_MISSING);
    let mut v = fixtures::oci_repository();
    v["spec"]["verify"]["secretRef"]["name"] = " ".into();
    assert_eq!(judge(&v, &[], &[]).reason, reasons::VERIFY_MISSING);
}
