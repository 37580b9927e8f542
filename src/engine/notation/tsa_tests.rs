//! RFC 3161 timestamps on signatures made by the real notation CLI with `--timestamp-url`
//! against a local TSA answering with `openssl ts -reply` (tests/data/notation/make.sh): the
//! `tsa` trust store, `verifyTimestamp: always` and `afterCertExpiry`, and countersignatures
//! that are forged, about another signature or by an untrusted TSA.

use super::tests::{data, digest, judge_file, signed_at, SCOPE};
use super::*;
use crate::engine::{SignatureEvidence, Verdict};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One day: how long a `notation cert generate-test` certificate is valid.
const DAY: i64 = 86_400;

/// A strict statement with a `ca` and a `tsa` store and `verifyTimestamp` (empty: the default,
/// `always`).
fn doc(level: &str, verify_timestamp: &str) -> String {
    let vt = if verify_timestamp.is_empty() {
        String::new()
    } else {
        format!(r#","verifyTimestamp":"{verify_timestamp}""#)
    };
    format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"apps","registryScopes":["{SCOPE}"],
        "signatureVerification":{{"level":"{level}"{vt}}},"trustStores":["ca:test","tsa:ts"],
        "trustedIdentities":["*"]}}]}}"#
    )
}

/// A policy whose certificates are the signer's and `tsa_root`'s.
fn policy(level: &str, verify_timestamp: &str, tsa_root: &str) -> NotationPolicy {
    let (signer, root) = (data("provenance-test.crt"), data(tsa_root));
    NotationPolicy::from_files(
        "test",
        doc(level, verify_timestamp).as_bytes(),
        [("ca.crt", signer.as_slice()), ("tsa.crt", root.as_slice())],
    )
    .unwrap()
}

fn judge_jws(bytes: &[u8], p: &NotationPolicy, now: i64) -> SignatureEvidence {
    let sig = Signature {
        location: crate::registry::SignatureLocation::ReferrersTag,
        media_type: envelope::JWS_MEDIA_TYPE,
        envelope: bytes,
    };
    judge(&sig, &digest(), SCOPE, Some(p), now)
}

/// The JWS envelope with its timestamp countersignature replaced by `token`.
fn with_token(token: &[u8]) -> Vec<u8> {
    let mut env: serde_json::Value = serde_json::from_slice(&data("tsa.jws.sig")).unwrap();
    env["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(token).into();
    serde_json::to_vec(&env).unwrap()
}

fn token_of(file: &str, media_type: &str) -> Vec<u8> {
    read::parse(media_type, &data(file))
        .unwrap()
        .timestamp
        .expect("a timestamped fixture")
}

fn jws_token() -> Vec<u8> {
    token_of("tsa.jws.sig", envelope::JWS_MEDIA_TYPE)
}

#[test]
fn a_timestamp_by_the_trusted_tsa_verifies_jws_and_cose() {
    let p = policy("strict", "", "tsa-root.crt");
    let now = signed_at() + 60;
    let j = judge_file("tsa.jws.sig", envelope::JWS_MEDIA_TYPE, Some(&p), now);
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
    assert!(
        j.message
            .contains("timestamped by CN=provenance-test-tsa,O=Provenance Test,C=US"),
        "{}",
        j.message
    );
    let c = judge_file("tsa.cose.sig", envelope::COSE_MEDIA_TYPE, Some(&p), now);
    assert_eq!(c.verdict, Verdict::Verified, "{}", c.message);
}

#[test]
fn the_timestamp_is_the_signing_time_once_the_signing_certificate_has_expired() {
    let later = signed_at() + 2 * DAY;
    for vt in ["", "always", "afterCertExpiry"] {
        let j = judge_file(
            "tsa.jws.sig",
            envelope::JWS_MEDIA_TYPE,
            Some(&policy("strict", vt, "tsa-root.crt")),
            later,
        );
        assert_eq!(j.verdict, Verdict::Verified, "{vt}: {}", j.message);
    }
    // The same signature without a timestamp is judged by the time of verification.
    let untimed = judge_file(
        "jws.sig",
        envelope::JWS_MEDIA_TYPE,
        Some(&policy("strict", "afterCertExpiry", "tsa-root.crt")),
        later,
    );
    assert_eq!(
        untimed.verdict,
        Verdict::SignatureInvalid,
        "{}",
        untimed.message
    );
}

#[test]
fn a_tsa_outside_the_trust_store_is_an_untrusted_signer() {
    let p = policy("strict", "always", "other-tsa-root.crt");
    let j = judge_file(
        "tsa.jws.sig",
        envelope::JWS_MEDIA_TYPE,
        Some(&p),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
    assert!(j.message.contains("tsa trust store"), "{}", j.message);
    assert!(j.message.contains("authenticTimestamp"), "{}", j.message);
    // Logged at permissive, as notation-go does (and Flux then verifies the source).
    let p = policy("permissive", "always", "other-tsa-root.crt");
    let j = judge_file(
        "tsa.jws.sig",
        envelope::JWS_MEDIA_TYPE,
        Some(&p),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
    assert!(
        j.message
            .contains("logged, not enforced: authenticTimestamp"),
        "{}",
        j.message
    );
}

#[test]
fn after_cert_expiry_checks_no_timestamp_while_the_certificate_is_valid() {
    let p = policy("strict", "afterCertExpiry", "other-tsa-root.crt");
    let j = judge_file(
        "tsa.jws.sig",
        envelope::JWS_MEDIA_TYPE,
        Some(&p),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
    let j = judge_file(
        "tsa.jws.sig",
        envelope::JWS_MEDIA_TYPE,
        Some(&p),
        signed_at() + 2 * DAY,
    );
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
}

#[test]
fn a_timestamp_of_another_signature_is_invalid() {
    let cose = token_of("tsa.cose.sig", envelope::COSE_MEDIA_TYPE);
    let j = judge_jws(
        &with_token(&cose),
        &policy("strict", "", "tsa-root.crt"),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::SignatureInvalid, "{}", j.message);
    assert!(j.message.contains("another"), "{}", j.message);
}

#[test]
fn a_forged_tsa_signature_is_invalid() {
    let mut token = jws_token();
    // The SignerInfo's signature is the token's last field.
    let last = token.len() - 1;
    token[last] ^= 0x55;
    let j = judge_jws(
        &with_token(&token),
        &policy("strict", "", "tsa-root.crt"),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::SignatureInvalid, "{}", j.message);
    assert!(j.message.contains("does not verify"), "{}", j.message);
}

#[test]
fn a_timestamp_too_coarse_for_the_signing_certificate_is_an_untrusted_signer() {
    // Accuracy two days: the range outlasts the one-day certificate.
    let env = with_token(&data("tsa-coarse.token"));
    let j = judge_jws(
        &env,
        &policy("strict", "", "tsa-coarse-root.crt"),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::UntrustedSigner, "{}", j.message);
    assert!(
        j.message.contains("not throughout the timestamp"),
        "{}",
        j.message
    );
}

#[test]
fn a_tsa_chain_naming_an_ocsp_responder_cannot_be_told_at_strict() {
    let env = with_token(&data("tsa-ocsp.token"));
    let j = judge_jws(
        &env,
        &policy("strict", "", "tsa-ocsp-root.crt"),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::TrustRootError, "{}", j.message);
    assert!(j.message.contains("OCSP"), "{}", j.message);
    let j = judge_jws(
        &env,
        &policy("permissive", "", "tsa-ocsp-root.crt"),
        signed_at() + 60,
    );
    assert_eq!(j.verdict, Verdict::Verified, "{}", j.message);
}

#[test]
fn a_ber_token_cannot_be_told_and_garbage_is_invalid() {
    let p = policy("strict", "", "tsa-root.crt");
    let ber = judge_jws(
        &with_token(&[0x30, 0x80, 0x06, 0x00, 0x00, 0x00]),
        &p,
        signed_at() + 60,
    );
    assert_eq!(ber.verdict, Verdict::TrustRootError, "{}", ber.message);
    assert!(ber.message.contains("BER"), "{}", ber.message);
    let garbage = judge_jws(&with_token(b"not a token"), &p, signed_at() + 60);
    assert_eq!(
        garbage.verdict,
        Verdict::SignatureInvalid,
        "{}",
        garbage.message
    );
}

#[test]
fn the_whole_accuracy_range_must_lie_within_the_certificate() {
    let ts = timestamp::Timestamp {
        gen_time_us: 1_000_000_000,
        accuracy_us: 1_500_000,
        tsa: "t".into(),
    };
    assert!(ts.within(990, 1010));
    assert!(
        !ts.within(999, 1010),
        "lower bound 998.5 s is before notBefore"
    );
    assert!(
        !ts.within(990, 1001),
        "upper bound 1001.5 s is after notAfter"
    );
    let signature = read::parse(envelope::JWS_MEDIA_TYPE, &data("tsa.jws.sig"))
        .unwrap()
        .signature;
    let vouched = |token: &[u8], root: &str| {
        timestamp::verify(
            token,
            &signature,
            &Cert::from_pem_or_der(&data(root)).unwrap(),
        )
        .unwrap()
    };
    // tsa/ca.sh states no accuracy (and not the baseline policy): genTime exactly.
    let exact = vouched(&jws_token(), "tsa-root.crt");
    assert_eq!(exact.accuracy_us, 0);
    assert!((exact.gen_time_us / 1_000_000 - signed_at()).abs() < 60);
    // make.sh's coarse TSA states `accuracy = secs:172800`.
    let coarse = vouched(&data("tsa-coarse.token"), "tsa-coarse-root.crt");
    assert_eq!(coarse.accuracy_us, 2 * DAY * 1_000_000);
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    fn tst_info(token: &[u8]) -> Option<Vec<u8>> {
        use x509_cert::der::Decode as _;
        let ci = cms::content_info::ContentInfo::from_der(token).ok()?;
        let sd: cms::signed_data::SignedData = ci.content.decode_as().ok()?;
        Some(sd.encap_content_info.econtent?.value().to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn no_token_bytes_panic_or_verify(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let trusted = Cert::from_pem_or_der(&data("tsa-root.crt")).unwrap();
            prop_assert!(timestamp::verify(&bytes, b"sig", &trusted).is_err());
        }

        #[test]
        fn no_mutation_of_a_real_token_changes_what_it_vouches_for(pos in 0usize..1 << 16, byte in any::<u8>()) {
            let original = jws_token();
            let mut token = original.clone();
            let pos = pos % token.len();
            prop_assume!(token[pos] != byte);
            token[pos] = byte;
            let j = judge_jws(&with_token(&token), &policy("strict", "", "tsa-root.crt"), signed_at() + 2 * DAY);
            prop_assert!(j.message.len() <= 1100);
            // Bytes outside what the TSA signs (the certificates it carries but the trust
            // store does not need, DER lengths that still parse alike) may change; the
            // TSTInfo never does.
            if j.verdict == Verdict::Verified {
                prop_assert_eq!(tst_info(&token), tst_info(&original));
            }
        }
    }
}
