//! DSSE envelopes with several signatures (legacy `.att` layers): in key mode every signature
//! (bounded) is tried against every key, so `[another key's, the policy key's]` verifies; no
//! signature ever verifies what it does not sign; keyless says only the first is checked.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::test_keys::{att_layer, statement, Key, DIGEST};
use super::*;
use crate::engine::policy::{IdentityRule, PublicKey};
use crate::registry::FoundLegacyAttestation;

fn layer(payload: &[u8], signatures: &[String]) -> FoundLegacyAttestation {
    att_layer(payload, signatures, None)
}

fn judged(layer: FoundLegacyAttestation, policy: &Policy) -> AttestationEvidence {
    let d = Discovery {
        legacy_attestations: vec![layer],
        ..Discovery::default()
    };
    let trust = TrustRoot::public_good().unwrap();
    let mut ev = evaluate(&d, DIGEST, policy, &trust);
    assert_eq!(ev.len(), 1);
    ev.remove(0)
}

fn keys(k: &[&PublicKey]) -> Policy {
    Policy::Keys {
        keys: k.iter().map(|k| (*k).clone()).collect(),
        require_tlog: false,
    }
}

#[test]
fn another_keys_signature_first_then_the_policy_keys_verifies() {
    let (ours, theirs) = (Key::new(), Key::new());
    let payload = statement(DIGEST);
    let policy = keys(&[&ours.public("ours")]);
    let both = layer(&payload, &[theirs.sign(&payload), ours.sign(&payload)]);
    let e = judged(both, &policy);
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(e.statement.is_some());
    // The policy key's signature alone, and first: verified too.
    let e = judged(layer(&payload, &[ours.sign(&payload)]), &policy);
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
}

#[test]
fn forged_signatures_never_verify_however_many() {
    let (ours, theirs) = (Key::new(), Key::new());
    let payload = statement(DIGEST);
    let other_statement = statement(&format!("sha256:{}", "ab".repeat(32)));
    let policy = keys(&[&ours.public("ours")]);
    let garbage = B64.encode([0x30u8, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]);
    let cases = [
        // Signed by other keys only.
        (
            "another key twice",
            vec![theirs.sign(&payload), theirs.sign(&payload)],
        ),
        // The policy key's valid signature, but over another statement.
        (
            "the policy key over another statement",
            vec![theirs.sign(&payload), ours.sign(&other_statement)],
        ),
        ("garbage and not base64", vec![garbage, "%%%".into()]),
    ];
    for (what, sigs) in cases {
        let e = judged(layer(&payload, &sigs), &policy);
        assert_ne!(e.verdict, Verdict::Verified, "{what}: {}", e.message);
        assert!(e.statement.is_none() && e.predicate.is_none(), "{what}");
    }
    let e = judged(
        layer(&payload, &[theirs.sign(&payload), theirs.sign(&payload)]),
        &policy,
    );
    assert!(
        e.message.contains("none of the envelope's 2 signatures"),
        "{}",
        e.message
    );
}

#[test]
fn the_signatures_tried_are_bounded() {
    let (ours, theirs) = (Key::new(), Key::new());
    let payload = statement(DIGEST);
    let policy = keys(&[&ours.public("ours")]);
    // The policy key's signature past the bound is not looked at.
    let mut sigs: Vec<String> = (0..convert::MAX_DSSE_SIGNATURES)
        .map(|_| theirs.sign(&payload))
        .collect();
    sigs.push(ours.sign(&payload));
    let e = judged(layer(&payload, &sigs), &policy);
    assert_ne!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(
        e.message.contains(&format!(
            "the first {} were tried",
            convert::MAX_DSSE_SIGNATURES
        )),
        "{}",
        e.message
    );
}

#[test]
fn keyless_says_only_the_first_signature_is_checked() {
    let (a, b) = (Key::new(), Key::new());
    let payload = statement(DIGEST);
    let policy = Policy::Keyless {
        identities: vec![IdentityRule::new("^https://issuer$", "^https://subject$").unwrap()],
    };
    let e = judged(
        layer(&payload, &[a.sign(&payload), b.sign(&payload)]),
        &policy,
    );
    assert_ne!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(
        e.message.contains("only the first") && e.message.contains("2 signatures"),
        "{}",
        e.message
    );
}
