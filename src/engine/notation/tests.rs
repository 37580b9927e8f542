//! Verdicts on signatures made by the real notation CLI (tests/data/notation, see its make.sh),
//! judged at a time inside the test certificate's one-day validity.

use super::*;
use crate::engine::Verdict;
use crate::registry::SignatureLocation;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/notation");
pub(super) const SCOPE: &str = "127.0.0.1:5000/apps/app";

pub(super) fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap()
}

pub(super) fn digest() -> String {
    String::from_utf8(data("artifact.digest"))
        .unwrap()
        .trim()
        .to_string()
}

/// Unix time of the JWS signature's signing time (the certificate was made a moment before).
pub(super) fn signed_at() -> i64 {
    let env = read::parse(envelope::JWS_MEDIA_TYPE, &data("jws.sig")).unwrap();
    env.signing_time
}

pub(super) fn trust_policy(level: &str, stores: &str, identities: &str) -> String {
    format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"apps","registryScopes":["{SCOPE}"],
        "signatureVerification":{{"level":"{level}"}},"trustStores":[{stores}],
        "trustedIdentities":[{identities}]}}]}}"#
    )
}

fn policy_with(doc: &str, cert: &str) -> NotationPolicy {
    let crt = data(cert);
    NotationPolicy::from_files("test", doc.as_bytes(), [("ca.crt", crt.as_slice())]).unwrap()
}

fn policy(level: &str) -> NotationPolicy {
    policy_with(
        &trust_policy(level, r#""ca:test""#, r#""*""#),
        "provenance-test.crt",
    )
}

pub(super) fn judge_file(
    file: &str,
    media_type: &str,
    p: Option<&NotationPolicy>,
    now: i64,
) -> SignatureEvidence {
    let envelope = data(file);
    let sig = Signature {
        location: SignatureLocation::ReferrersTag,
        media_type,
        envelope: &envelope,
    };
    judge(&sig, &digest(), SCOPE, p, now)
}

use crate::engine::SignatureEvidence;

fn jws(p: Option<&NotationPolicy>, now: i64) -> SignatureEvidence {
    judge_file("jws.sig", envelope::JWS_MEDIA_TYPE, p, now)
}

#[test]
fn jws_and_cose_signatures_by_the_trusted_certificate_verify() {
    let p = policy("strict");
    let now = signed_at() + 60;
    let j = jws(Some(&p), now);
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
    assert!(j.message.contains("jws signature"), "{}", j.message);
    assert_eq!(
        j.signer.subject.as_deref(),
        Some("x509.subject: CN=provenance-test,O=Notary,L=Seattle,ST=WA,C=US")
    );
    let c = judge_file("cose.sig", envelope::COSE_MEDIA_TYPE, Some(&p), now);
    assert_eq!(c.verdict, Verdict::Verified, "{}", c.message);
    assert!(c.message.contains("cose signature"), "{}", c.message);
}

#[test]
fn another_ca_is_an_untrusted_signer() {
    let p = policy_with(
        &trust_policy("strict", r#""ca:test""#, r#""*""#),
        "other.crt",
    );
    let j = jws(Some(&p), signed_at() + 60);
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
}

#[test]
fn a_subject_not_among_the_trusted_identities_is_an_identity_mismatch() {
    let doc = trust_policy(
        "strict",
        r#""ca:test""#,
        r#""x509.subject: C=US, ST=WA, O=Someone Else""#,
    );
    let j = jws(
        Some(&policy_with(&doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::IdentityMismatch, "{}", j.message);
    let doc = trust_policy(
        "strict",
        r#""ca:test""#,
        r#""x509.subject: C=US, ST=WA, O=Notary, CN=provenance-test""#,
    );
    let j = jws(
        Some(&policy_with(&doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
}

#[test]
fn expiry_is_enforced_at_strict_and_logged_at_permissive_and_audit() {
    let now = signed_at() + 3600;
    let expired = |level: &str| {
        judge_file(
            "expired.jws.sig",
            envelope::JWS_MEDIA_TYPE,
            Some(&policy(level)),
            now,
        )
    };
    let strict = expired("strict");
    assert_eq!(
        strict.verdict,
        Verdict::SignatureInvalid,
        "{}",
        strict.message
    );
    assert!(strict.message.contains("expired"), "{}", strict.message);
    for level in ["permissive", "audit"] {
        let e = expired(level);
        assert_eq!(e.verdict, Verdict::Verified, "{level}: {}", e.message);
        assert!(
            e.message.contains("logged, not enforced: expiry"),
            "{}",
            e.message
        );
    }
}

#[test]
fn audit_logs_an_untrusted_signer_but_never_calls_it_verified() {
    let p = policy_with(
        &trust_policy("audit", r#""ca:test""#, r#""*""#),
        "other.crt",
    );
    let j = jws(Some(&p), signed_at() + 60);
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
    assert!(
        j.message.contains("logged, not enforced, at level audit"),
        "{}",
        j.message
    );
}

#[test]
fn skip_verifies_nothing_and_says_so() {
    let doc = r#"{"version":"1.0","trustPolicies":[{"name":"off","registryScopes":["*"],
        "signatureVerification":{"level":"skip"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
    let p = policy_with(doc, "provenance-test.crt");
    let j = jws(Some(&p), signed_at() + 60);
    assert_eq!(j.verdict, Verdict::NoPolicy, "{}", j.message);
    assert!(j.message.contains("level skip"), "{}", j.message);
}

#[test]
fn an_expired_signing_certificate_fails_strict_and_is_logged_at_permissive() {
    let after = signed_at() + 2 * 86_400;
    let strict = jws(Some(&policy("strict")), after);
    assert_eq!(
        strict.verdict,
        Verdict::UntrustedSigner,
        "{}",
        strict.message
    );
    assert!(
        strict.message.contains("authenticTimestamp"),
        "{}",
        strict.message
    );
    let permissive = jws(Some(&policy("permissive")), after);
    assert_eq!(
        permissive.verdict,
        Verdict::Verified,
        "{}",
        permissive.message
    );
}

#[test]
fn a_signature_about_another_digest_is_a_digest_mismatch() {
    let envelope = data("jws.sig");
    let sig = Signature {
        location: SignatureLocation::ReferrersTag,
        media_type: envelope::JWS_MEDIA_TYPE,
        envelope: &envelope,
    };
    let other = format!("sha256:{}", "0".repeat(64));
    let j = judge(
        &sig,
        &other,
        SCOPE,
        Some(&policy("strict")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::DigestMismatch, "{}", j.message);
    let unjudged = judge(&sig, &other, SCOPE, None, signed_at() + 60);
    assert_eq!(
        unjudged.verdict,
        Verdict::DigestMismatch,
        "{}",
        unjudged.message
    );
}

#[test]
fn a_tampered_payload_or_signature_is_invalid() {
    let mut env: serde_json::Value = serde_json::from_slice(&data("jws.sig")).unwrap();
    let payload = env["payload"].as_str().unwrap().to_string();
    let mut forged = payload.clone();
    forged.replace_range(10..11, if &payload[10..11] == "A" { "B" } else { "A" });
    env["payload"] = forged.into();
    let bytes = serde_json::to_vec(&env).unwrap();
    let sig = Signature {
        location: SignatureLocation::ReferrersTag,
        media_type: envelope::JWS_MEDIA_TYPE,
        envelope: &bytes,
    };
    let j = judge(
        &sig,
        &digest(),
        SCOPE,
        Some(&policy("strict")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::SignatureInvalid, "{}", j.message);
    let mut cose = data("cose.sig");
    let last = cose.len() - 1;
    cose[last] ^= 1;
    let sig = Signature {
        location: SignatureLocation::ReferrersTag,
        media_type: envelope::COSE_MEDIA_TYPE,
        envelope: &cose,
    };
    let c = judge(
        &sig,
        &digest(),
        SCOPE,
        Some(&policy("strict")),
        signed_at() + 60,
    );
    assert_eq!(c.verdict, Verdict::SignatureInvalid, "{}", c.message);
}

#[test]
fn without_a_policy_a_valid_signature_is_reported_not_verified() {
    let j = jws(None, signed_at() + 60);
    assert_eq!(j.verdict, Verdict::NoPolicy, "{}", j.message);
    assert!(j.message.contains("valid jws signature"), "{}", j.message);
}

#[test]
fn a_repository_with_no_statement_gets_no_policy() {
    let doc = r#"{"version":"1.0","trustPolicies":[{"name":"other","registryScopes":["example.com/other"],
        "signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
    let j = jws(
        Some(&policy_with(doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::NoPolicy, "{}", j.message);
    assert!(j.message.contains("no statement"), "{}", j.message);
}

#[test]
fn a_tsa_store_needs_a_timestamp_the_signature_lacks() {
    let doc = trust_policy("strict", r#""ca:test","tsa:ts""#, r#""*""#);
    let j = jws(
        Some(&policy_with(&doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::SignatureInvalid, "{}", j.message);
    assert!(j.message.contains("timestamp"), "{}", j.message);
    let doc = trust_policy("permissive", r#""ca:test","tsa:ts""#, r#""*""#);
    let j = jws(
        Some(&policy_with(&doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
}

#[test]
fn only_a_signing_authority_store_trusts_nothing_for_an_x509_signature() {
    let doc = trust_policy("strict", r#""signingAuthority:test""#, r#""*""#);
    let j = jws(
        Some(&policy_with(&doc, "provenance-test.crt")),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
}

#[test]
fn the_fingerprint_follows_the_trust_policy_and_the_certificates() {
    let a = policy("strict").fingerprint;
    assert_eq!(a, policy("strict").fingerprint);
    assert_ne!(a, policy("permissive").fingerprint);
    let other = policy_with(
        &trust_policy("strict", r#""ca:test""#, r#""*""#),
        "other.crt",
    );
    assert_ne!(a, other.fingerprint);
}

#[test]
fn a_policy_needs_certificates() {
    let doc = trust_policy("strict", r#""ca:test""#, r#""*""#);
    let err =
        NotationPolicy::from_files("s", doc.as_bytes(), [("x.pub", b"k".as_slice())]).unwrap_err();
    assert!(err.contains("no certificates"), "{err}");
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn no_envelope_bytes_panic_or_verify(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cose in any::<bool>()) {
            let media_type = if cose { envelope::COSE_MEDIA_TYPE } else { envelope::JWS_MEDIA_TYPE };
            let sig = Signature { location: SignatureLocation::ReferrersApi, media_type, envelope: &bytes };
            let p = policy("strict");
            let j = judge(&sig, &digest(), SCOPE, Some(&p), signed_at() + 60);
            prop_assert_ne!(j.verdict, Verdict::Verified);
            prop_assert!(j.message.len() <= 1100);
        }

        #[test]
        fn no_mutation_of_a_real_envelope_verifies(pos in 0usize..2189, byte in any::<u8>()) {
            let mut env = data("jws.sig");
            let pos = pos % env.len();
            prop_assume!(env[pos] != byte);
            env[pos] = byte;
            let sig = Signature { location: SignatureLocation::ReferrersApi, media_type: envelope::JWS_MEDIA_TYPE, envelope: &env };
            let p = policy("strict");
            let j = judge(&sig, &digest(), SCOPE, Some(&p), signed_at() + 60);
            // A change to JSON whitespace or the unsigned header may still verify; the signed
            // parts never do.
            if j.verdict == Verdict::Verified {
                #[derive(serde::Deserialize, PartialEq, Debug)]
                struct Signed { payload: String, protected: String, signature: String }
                let original: Signed = serde_json::from_slice(&data("jws.sig")).unwrap();
                let changed: Signed = serde_json::from_slice(&env).unwrap();
                prop_assert_eq!(original, changed);
            }
        }
    }
}
