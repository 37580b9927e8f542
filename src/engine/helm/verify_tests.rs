//! Verdicts for gpg-made `.prov` files (`tests/data/helm/make-fixtures.sh`): the signer's key
//! armored and binary, another key, a subkey, an expired, a revoked and a SHA-1 key, a body
//! about another package or chart, two signatures, and no policy at all.

use sha2::{Digest, Sha256};

use super::super::keyring::{Keyring, KeyringError};
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/data/helm/", $name)).as_slice()
    };
}

fn package_digest() -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b"chart package")))
}

fn keyring(files: &[(&str, &[u8])]) -> Keyring {
    Keyring::read(
        &files
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

/// Now: after the fixtures were made (2026-12), before any of their keys expire but the
/// one made to expire in 2020.
const NOW: i64 = 1_800_000_000;

fn judge(prov: &[u8], ring: Option<&Keyring>) -> Evaluation {
    let digest = package_digest();
    let p = Package {
        file_name: "demo-0.1.0.tgz",
        name: "demo",
        version: "0.1.0",
        digest: &digest,
    };
    evaluate_prov(Some(prov), &p, ring, NOW)
}

#[test]
fn signed_by_the_policy_key_is_verified_with_its_fingerprint_and_user_id() {
    for ring in [fixture!("signer.asc"), fixture!("signer.gpg")] {
        let k = keyring(&[("signer", ring)]);
        let e = judge(fixture!("signed.prov"), Some(&k));
        assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
        let s = &e.signatures[0].signer;
        assert_eq!(
            s.subject.as_deref(),
            Some("Chart Signer <signer@example.com>")
        );
        let fp = &k.certificates[0].fingerprint;
        assert_eq!(
            s.key_fingerprint.as_deref(),
            Some(format!("openpgp:{fp}").as_str())
        );
        assert_eq!(fp.len(), 40);
    }
}

#[test]
fn crlf_and_several_files_entries_still_verify() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    for prov in [fixture!("crlf.prov"), fixture!("several-files.prov")] {
        assert_eq!(judge(prov, Some(&k)).verdict, Verdict::Verified);
    }
}

#[test]
fn another_key_is_a_key_mismatch_naming_both() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let e = judge(fixture!("other-key.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::KeyMismatch);
    assert!(
        e.message.contains("not one the policy accepts"),
        "{}",
        e.message
    );
}

#[test]
fn a_policy_without_openpgp_keys_accepts_no_signer() {
    let e = judge(fixture!("signed.prov"), Some(&Keyring::default()));
    assert_eq!(e.verdict, Verdict::KeyMismatch);
    assert!(e.message.contains("no OpenPGP key"), "{}", e.message);
}

#[test]
fn one_of_two_signatures_by_the_policy_key_verifies() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let e = judge(fixture!("two-signatures.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::Verified);
    assert_eq!(e.signatures.len(), 2);
    let verdicts: Vec<Verdict> = e.signatures.iter().map(|s| s.verdict).collect();
    assert!(verdicts.contains(&Verdict::KeyMismatch), "{verdicts:?}");
}

#[test]
fn a_valid_signature_over_another_package_or_chart_is_a_digest_mismatch() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let e = judge(fixture!("other-digest.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::DigestMismatch);
    assert!(
        e.message.contains("the package is sha256:"),
        "{}",
        e.message
    );
    let e = judge(fixture!("other-name.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::DigestMismatch);
    assert!(e.message.contains("chart other"), "{}", e.message);
}

#[test]
fn the_package_digest_decides_a_replaced_package() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let other = format!("sha256:{}", hex::encode(Sha256::digest(b"replaced")));
    let p = Package {
        file_name: "demo-0.1.0.tgz",
        name: "demo",
        version: "0.1.0",
        digest: &other,
    };
    let e = evaluate_prov(Some(fixture!("signed.prov")), &p, Some(&k), NOW);
    assert_eq!(e.verdict, Verdict::DigestMismatch);
}

#[test]
fn an_altered_body_does_not_verify() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let altered = String::from_utf8(fixture!("signed.prov").to_vec())
        .unwrap()
        .replace("version: 0.1.0", "version: 0.1.1");
    let e = judge(altered.as_bytes(), Some(&k));
    assert_eq!(e.verdict, Verdict::SignatureInvalid, "{}", e.message);
}

#[test]
fn a_signing_subkey_verifies_for_its_certificate() {
    let k = keyring(&[("sub", fixture!("subkey.asc"))]);
    let e = judge(fixture!("subkey.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(e.message.contains("subkey"), "{}", e.message);
    assert_eq!(
        e.signatures[0].signer.subject.as_deref(),
        Some("Subkey Signer <sub@example.com>")
    );
}

#[test]
fn an_expired_key_is_refused_with_when() {
    let k = keyring(&[("expired", fixture!("expired.asc"))]);
    let e = judge(fixture!("expired.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::SignatureInvalid);
    assert!(e.message.contains("expired at 2020-01-02"), "{}", e.message);
    // Checked while the key was valid, the same signature holds.
    let digest = package_digest();
    let p = Package {
        file_name: "demo-0.1.0.tgz",
        name: "demo",
        version: "0.1.0",
        digest: &digest,
    };
    let then = evaluate_prov(Some(fixture!("expired.prov")), &p, Some(&k), 1_577_840_000);
    assert_eq!(then.verdict, Verdict::Verified, "{}", then.message);
}

#[test]
fn a_revoked_key_is_refused() {
    let k = keyring(&[("revoked", fixture!("revoked.asc"))]);
    let e = judge(fixture!("revoked.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::SignatureInvalid);
    assert!(e.message.contains("revoked"), "{}", e.message);
}

#[test]
fn a_key_with_sha1_self_signatures_is_refused_saying_so() {
    let k = keyring(&[("sha1", fixture!("sha1-key.asc"))]);
    let e = judge(fixture!("sha1-key.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::SignatureInvalid);
    assert!(e.message.contains("SHA-1"), "{}", e.message);
}

#[test]
fn a_sha1_data_signature_is_refused() {
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let e = judge(fixture!("sha1-data.prov"), Some(&k));
    assert_eq!(e.verdict, Verdict::SignatureInvalid);
    assert!(e.message.contains("SHA1"), "{}", e.message);
}

#[test]
fn without_a_policy_the_signer_is_reported_unchecked() {
    let e = judge(fixture!("signed.prov"), None);
    assert_eq!(e.verdict, Verdict::UntrustedSigner);
    let k = keyring(&[("signer", fixture!("signer.asc"))]);
    let fp = format!("openpgp:{}", k.certificates[0].fingerprint);
    assert_eq!(
        e.signatures[0].signer.key_fingerprint.as_deref(),
        Some(fp.as_str())
    );
}

#[test]
fn no_prov_is_unsigned_and_garbage_is_signature_invalid() {
    let digest = package_digest();
    let p = Package {
        file_name: "demo-0.1.0.tgz",
        name: "demo",
        version: "0.1.0",
        digest: &digest,
    };
    assert_eq!(
        evaluate_prov(None, &p, None, NOW).verdict,
        Verdict::Unsigned
    );
    let e = evaluate_prov(Some(b"<html>not found</html>"), &p, None, NOW);
    assert_eq!(e.verdict, Verdict::SignatureInvalid);
}

#[test]
fn keyrings_that_are_not_keys_are_errors_and_the_fingerprint_follows_the_bytes() {
    let bad = Keyring::read(&[("k".into(), b"not a key".to_vec())]).unwrap_err();
    assert!(
        matches!(bad, KeyringError::Parse { .. } | KeyringError::Empty(_)),
        "{bad}"
    );
    let a = keyring(&[("a", fixture!("signer.asc")), ("b", fixture!("other.asc"))]);
    let b = keyring(&[("b", fixture!("other.asc")), ("a", fixture!("signer.asc"))]);
    assert_eq!(a.fingerprint, b.fingerprint, "order does not matter");
    let c = keyring(&[("a", fixture!("signer.asc"))]);
    assert_ne!(a.fingerprint, c.fingerprint);
    assert_eq!(a.certificates.len(), 2);
}

#[test]
fn several_armored_keys_in_one_entry_are_all_read() {
    let both = [fixture!("signer.asc"), b"\n", fixture!("other.asc")].concat();
    let k = keyring(&[("both", &both)]);
    assert_eq!(k.certificates.len(), 2);
    assert_eq!(
        judge(fixture!("other-key.prov"), Some(&k)).verdict,
        Verdict::Verified
    );
}
