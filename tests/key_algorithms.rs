//! Key mode with every key type cosign supports — ECDSA P-256 and P-384, RSA, Ed25519 — signed
//! by openssl the way cosign signs (SHA-256 for ECDSA and RSA PKCS#1 v1.5, pure Ed25519), judged
//! through the engine's public API: right key verifies, another key mismatches, a payload about
//! another digest is a digest mismatch.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use provenance_auditor::engine::{evaluate, Policy, PublicKey, TrustRoot, Verdict};
use provenance_auditor::registry::{simple_signing_payload, Discovery, FoundLegacy};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (hack/tools.sh apt)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates a key of `kind` in `dir`/`name`; returns its public key.
fn keygen(dir: &Path, name: &str, kind: &str) -> PublicKey {
    let key = format!("{name}.key");
    match kind {
        "p256" => openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        ),
        "p384" => openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "secp384r1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        ),
        "rsa" => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &key,
            ],
        ),
        "ed25519" => openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &key]),
        _ => unreachable!(),
    }
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            &key,
            "-pubout",
            "-out",
            &format!("{name}.pub"),
        ],
    );
    PublicKey::from_pem(
        name,
        &std::fs::read(dir.join(format!("{name}.pub"))).unwrap(),
    )
    .expect("parse public key")
}

fn sign(dir: &Path, name: &str, kind: &str, payload: &[u8]) -> String {
    std::fs::write(dir.join("payload"), payload).unwrap();
    let key = format!("{name}.key");
    if kind == "ed25519" {
        openssl(
            dir,
            &[
                "pkeyutl", "-sign", "-inkey", &key, "-rawin", "-in", "payload", "-out", "sig",
            ],
        );
    } else {
        openssl(
            dir,
            &["dgst", "-sha256", "-sign", &key, "-out", "sig", "payload"],
        );
    }
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("sig")).unwrap())
}

fn judge(payload: Vec<u8>, signature_b64: String, key: &PublicKey) -> Verdict {
    let found = FoundLegacy {
        layer_digest: String::new(),
        payload,
        signature_b64,
        certificate_pem: None,
        chain_pem: None,
        rekor_bundle_json: None,
        rfc3161_timestamp_json: None,
    };
    let discovery = Discovery {
        legacy: vec![found],
        ..Discovery::default()
    };
    let policy = Policy::Keys {
        keys: vec![key.clone()],
        require_tlog: false,
    };
    evaluate(
        &discovery,
        DIGEST,
        &policy,
        &TrustRoot::public_good().unwrap(),
    )
    .verdict
}

#[test]
fn every_cosign_key_type_verifies_with_its_key_and_only_its_key() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["p256", "p384", "rsa", "ed25519"] {
        let key = keygen(dir.path(), kind, kind);
        let other = keygen(dir.path(), &format!("{kind}-other"), kind);
        let payload = simple_signing_payload("127.0.0.1:5000", "app", DIGEST);
        let sig = sign(dir.path(), kind, kind, &payload);
        assert_eq!(
            judge(payload.clone(), sig.clone(), &key),
            Verdict::Verified,
            "{kind}"
        );
        assert_eq!(
            judge(payload, sig, &other),
            Verdict::KeyMismatch,
            "{kind} with another key"
        );
        let about_other = simple_signing_payload("127.0.0.1:5000", "app", OTHER);
        let sig = sign(dir.path(), kind, kind, &about_other);
        assert_eq!(
            judge(about_other, sig, &key),
            Verdict::DigestMismatch,
            "{kind} about another digest"
        );
    }
}
