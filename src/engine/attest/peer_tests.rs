//! Verification bypasses peers shipped in 2026, each rebuilt against this engine: we refuse the
//! same thing. Every case has a genuine counterpart that verifies, so the refusals are the
//! inputs' doing, not a harness that verifies nothing.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};

use super::test_keys::{att_layer, statement, statement_of, Key, DIGEST};
use super::*;
use crate::engine::attest::require::{self, Requirement};
use crate::engine::claims::CertificateRule;
use crate::engine::policy::IdentityRule;
use crate::registry::{FoundBundle, FoundLegacy};
use crate::vocabulary::Status;

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";
const OTHER: &str = "sha256:abababababababababababababababababababababababababababababababab";

struct World {
    sigstore: PrivateSigstore,
    trust: TrustRoot,
    ours: Key,
    attacker: Key,
}

impl World {
    fn new() -> Self {
        let sigstore = PrivateSigstore::generate("peers").unwrap();
        let trust = TrustRoot::from_json("test", sigstore.trusted_root_json().as_bytes()).unwrap();
        Self {
            sigstore,
            trust,
            ours: Key::new(),
            attacker: Key::new(),
        }
    }

    fn keyless(&self) -> Policy {
        Policy::Keyless {
            identities: vec![IdentityRule::new(".*", "^https://github.com/org/repo/").unwrap()],
        }
    }

    fn keys(&self) -> Policy {
        Policy::Keys {
            keys: vec![self.ours.public("ours")],
            require_tlog: false,
        }
    }

    /// A genuine keyless bundle for [`DIGEST`] (a signature, or an attestation of `predicate`).
    fn bundle(&self, predicate_type: Option<&str>) -> Value {
        let leaf = self
            .sigstore
            .issue_leaf(&LeafSpec::uri(WORKFLOW, GITHUB))
            .unwrap();
        let opts = SignOptions {
            predicate_type: predicate_type.map(str::to_string),
            ..SignOptions::default()
        };
        let json = self
            .sigstore
            .sign_bundle(&leaf, DIGEST, &opts)
            .unwrap()
            .json;
        serde_json::from_str(&json).unwrap()
    }

    /// A genuine keyless legacy `.sig` signature of [`DIGEST`].
    fn legacy(&self) -> FoundLegacy {
        let leaf = self
            .sigstore
            .issue_leaf(&LeafSpec::uri(WORKFLOW, GITHUB))
            .unwrap();
        let s = self
            .sigstore
            .sign_legacy(
                &leaf,
                "registry.example/app",
                DIGEST,
                &SignOptions::default(),
            )
            .unwrap();
        FoundLegacy {
            layer_digest: "sha256:00".into(),
            payload: s.payload,
            signature_b64: s.signature_b64,
            certificate_pem: Some(s.cert_pem),
            chain_pem: Some(s.chain_pem),
            rekor_bundle_json: Some(s.bundle_annotation),
            rfc3161_timestamp_json: None,
        }
    }

    fn signature_verdict(&self, d: &Discovery, policy: &Policy) -> Evaluation {
        crate::engine::evaluate(d, DIGEST, policy, &self.trust)
    }

    fn attestation(&self, d: &Discovery, policy: &Policy) -> AttestationEvidence {
        let mut ev = evaluate(d, DIGEST, policy, &self.trust);
        assert_eq!(ev.len(), 1);
        ev.remove(0)
    }
}

use crate::engine::Evaluation;

fn payload_of(bundle: &Value) -> Vec<u8> {
    B64.decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap()
}

/// `bundle` with a bare public key where its certificate was, its DSSE re-signed by that key:
/// as the v0.3 `certificate`, or as the v0.1 `x509CertificateChain`.
fn with_bare_key(bundle: &Value, key: &Key, chain: bool) -> Vec<u8> {
    let mut b = bundle.clone();
    let raw = json!({"rawBytes": B64.encode(key.spki())});
    let m = b["verificationMaterial"].as_object_mut().unwrap();
    m.remove("certificate");
    if chain {
        m.insert(
            "x509CertificateChain".into(),
            json!({"certificates": [raw]}),
        );
        b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1");
    } else {
        m.insert("certificate".into(), raw);
    }
    b["dsseEnvelope"]["signatures"] = json!([{"sig": key.sign(&payload_of(bundle)), "keyid": ""}]);
    serde_json::to_vec(&b).unwrap()
}

/// A key-signed bundle (`publicKey` material): `payload` under `sig`.
fn key_bundle(template: &Value, payload: &[u8], sig: Option<String>) -> Vec<u8> {
    let mut b = template.clone();
    let m = b["verificationMaterial"].as_object_mut().unwrap();
    m.remove("certificate");
    m.insert("publicKey".into(), json!({"hint": ""}));
    b["dsseEnvelope"]["payload"] = json!(B64.encode(payload));
    b["dsseEnvelope"]["signatures"] = match sig {
        Some(s) => json!([{"sig": s, "keyid": ""}]),
        None => json!([]),
    };
    serde_json::to_vec(&b).unwrap()
}

fn referrer(bytes: Vec<u8>) -> FoundBundle {
    FoundBundle {
        location: SignatureLocation::ReferrersApi,
        manifest_digest: "sha256:00".into(),
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
        bytes,
    }
}

/// cosign GHSA-fx35-mq7g-6g98: a bare public key where a certificate is expected (a legacy
/// bundle's `cert`) was used as the verifier, skipping chain and identity, even over `--key`.
/// Here: every path that carries a certificate, with the attacker's bare key in it and a
/// signature by that key, under a key policy (not the attacker's key) and a keyless one.
#[test]
fn ghsa_fx35_mq7g_6g98_a_bare_key_in_a_certificate_field_is_never_the_verifier() {
    let w = World::new();
    let policies = [("--key", w.keys()), ("keyless", w.keyless())];
    // Genuine counterparts verify.
    let signature = w.bundle(None);
    let genuine = Discovery {
        bundles: vec![referrer(serde_json::to_vec(&signature).unwrap())],
        legacy: vec![w.legacy()],
        ..Discovery::default()
    };
    let e = w.signature_verdict(&genuine, &w.keyless());
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    let attestation = w.bundle(Some(SLSA));
    let genuine_att = Discovery {
        attestations: vec![referrer(serde_json::to_vec(&attestation).unwrap())],
        ..Discovery::default()
    };
    let e = w.attestation(&genuine_att, &w.keyless());
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);

    // Signatures: the bundle's `certificate` and `x509CertificateChain`, the `.sig` annotation.
    let mut forged_sig = w.legacy();
    forged_sig.certificate_pem = Some(w.attacker.pem());
    forged_sig.chain_pem = None;
    forged_sig.signature_b64 = w.attacker.sign_raw(&forged_sig.payload);
    let signature_cases = [
        (
            "bundle certificate",
            Discovery {
                bundles: vec![referrer(with_bare_key(&signature, &w.attacker, false))],
                ..Discovery::default()
            },
        ),
        (
            "bundle x509CertificateChain",
            Discovery {
                bundles: vec![referrer(with_bare_key(&signature, &w.attacker, true))],
                ..Discovery::default()
            },
        ),
        (
            ".sig certificate annotation",
            Discovery {
                legacy: vec![forged_sig],
                ..Discovery::default()
            },
        ),
    ];
    for (what, d) in &signature_cases {
        for (mode, policy) in &policies {
            let e = w.signature_verdict(d, policy);
            assert_ne!(
                e.verdict,
                Verdict::Verified,
                "{what}, {mode}: {}",
                e.message
            );
            assert!(e.signatures.iter().all(|s| s.verdict != Verdict::Verified));
        }
    }

    // Attestations: DSSE in the referrers (bundle certificate and chain), `.att` layers.
    let payload = statement(DIGEST);
    let attestation_cases = [
        (
            "referrer DSSE certificate",
            Discovery {
                attestations: vec![referrer(with_bare_key(&attestation, &w.attacker, false))],
                ..Discovery::default()
            },
        ),
        (
            "referrer DSSE x509CertificateChain",
            Discovery {
                attestations: vec![referrer(with_bare_key(&attestation, &w.attacker, true))],
                ..Discovery::default()
            },
        ),
        (
            ".att certificate annotation",
            Discovery {
                legacy_attestations: vec![att_layer(
                    &payload,
                    &[w.attacker.sign(&payload)],
                    Some(w.attacker.pem()),
                )],
                ..Discovery::default()
            },
        ),
    ];
    for (what, d) in &attestation_cases {
        for (mode, policy) in &policies {
            let e = w.attestation(d, policy);
            assert_ne!(
                e.verdict,
                Verdict::Verified,
                "{what}, {mode}: {}",
                e.message
            );
            assert!(
                e.statement.is_none() && e.predicate.is_none(),
                "{what}, {mode}"
            );
        }
    }
}

/// sigstore/policy-controller#1971: OCI 1.1 referrer attestations accepted without
/// cryptographic verification (a forged DSSE admitted). Forged referrer attestations are never
/// `Attested`: unsigned, signed by another key, a valid signature over another statement.
#[test]
fn policy_controller_1971_forged_referrer_attestations_are_never_attested() {
    let w = World::new();
    let template = w.bundle(Some(SLSA));
    let requirement = Requirement::new(
        "policy p spec.attestations[0]",
        "slsaprovenance1",
        CertificateRule::default(),
        vec![],
    );
    let attested = |bytes: Vec<u8>| {
        let d = Discovery {
            attestations: vec![referrer(bytes)],
            ..Discovery::default()
        };
        let evidence = evaluate(&d, DIGEST, &w.keys(), &w.trust);
        require::judge(&[(&requirement, evidence.as_slice())], None)
    };
    let right = statement(DIGEST);
    let genuine = attested(key_bundle(&template, &right, Some(w.ours.sign(&right))));
    assert_eq!(genuine.status, Status::True, "{}", genuine.message);

    let about_other = statement(OTHER);
    let sbom = statement_of(DIGEST, "https://spdx.dev/Document");
    let cases = [
        ("unsigned", key_bundle(&template, &right, None)),
        (
            "signed by another key",
            key_bundle(&template, &right, Some(w.attacker.sign(&right))),
        ),
        (
            "the policy key's valid signature over a statement about another digest",
            key_bundle(&template, &about_other, Some(w.ours.sign(&about_other))),
        ),
        (
            "the policy key's valid signature over another statement, attached to this one",
            key_bundle(&template, &right, Some(w.ours.sign(&sbom))),
        ),
    ];
    for (what, bytes) in cases {
        let j = attested(bytes);
        assert_ne!(j.status, Status::True, "{what}: {}", j.message);
    }
}
