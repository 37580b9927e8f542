//! Hostile-input properties of the engine's parsers of signature material read from registries:
//! Sigstore bundle JSON (`engine::bundle`), legacy cosign layers (`engine::legacy`: simple-signing
//! payload, signature, certificate, Rekor bundle and RFC 3161 annotations), and the whole
//! judgement (`engine::evaluate`) over them. Inputs are genuine signatures from a private
//! Sigstore, mutated (a subtree replaced, bytes flipped, text cut), and made-up documents. For
//! each: no panic, and error text of bounded length whatever the input size.
//!
//! Attestations (`engine::attest`, both formats) get the same treatment.
//!
//! 10,600 cases per `make test` (about 12 s of CPU in a debug build, most of it the 300 full
//! judgements); `make fuzz` multiplies the counts by `PA_FUZZ_SCALE`.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};

use provenance_auditor::engine::{self, attest, IdentityRule, Policy, TrustRoot, Verdict};
use provenance_auditor::registry::{
    Discovery, FoundBundle, FoundLegacy, FoundLegacyAttestation, SignatureLocation,
};
use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main";
/// Longest `Unreadable` detail any input may produce.
const MAX_DETAIL_BYTES: usize = 4096;

/// `base` cases, times `PA_FUZZ_SCALE` (set by `make fuzz`), or exactly `PROPTEST_CASES` when
/// that is set; no regression files in the tree.
fn config(base: u32) -> ProptestConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u32>().ok());
    let cases = env("PROPTEST_CASES")
        .unwrap_or_else(|| base.saturating_mul(env("PA_FUZZ_SCALE").unwrap_or(1).max(1)));
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Genuine material, made once per test binary.
struct Genuine {
    trust: TrustRoot,
    bundle: Value,
    legacy: FoundLegacy,
}

fn genuine() -> &'static Genuine {
    static G: OnceLock<Genuine> = OnceLock::new();
    G.get_or_init(|| {
        let sigstore = PrivateSigstore::generate("proptest").expect("private sigstore");
        let leaf = sigstore
            .issue_leaf(&LeafSpec::uri(WORKFLOW, ISSUER))
            .expect("leaf");
        let bundle = sigstore
            .sign_bundle(&leaf, DIGEST, &SignOptions::default())
            .expect("bundle");
        let sig = sigstore
            .sign_legacy(&leaf, "127.0.0.1:5000/app", DIGEST, &SignOptions::default())
            .expect("legacy");
        Genuine {
            trust: TrustRoot::from_json("proptest", sigstore.trusted_root_json().as_bytes())
                .expect("trust root"),
            bundle: serde_json::from_str(&bundle.json).expect("bundle json"),
            legacy: FoundLegacy {
                layer_digest: DIGEST.into(),
                payload: sig.payload,
                signature_b64: sig.signature_b64,
                certificate_pem: Some(sig.cert_pem),
                chain_pem: Some(sig.chain_pem),
                rekor_bundle_json: Some(sig.bundle_annotation),
                rfc3161_timestamp_json: None,
            },
        }
    })
}

fn policy() -> Policy {
    Policy::Keyless {
        identities: vec![IdentityRule::new(".*", "^https://github\\.com/org/").expect("rule")],
    }
}

const WORDS: &[&str] = &[
    "mediaType",
    "verificationMaterial",
    "certificate",
    "rawBytes",
    "x509CertificateChain",
    "certificates",
    "publicKey",
    "hint",
    "tlogEntries",
    "logIndex",
    "logId",
    "keyId",
    "kindVersion",
    "kind",
    "version",
    "integratedTime",
    "inclusionPromise",
    "signedEntryTimestamp",
    "inclusionProof",
    "canonicalizedBody",
    "dsseEnvelope",
    "payload",
    "payloadType",
    "signatures",
    "sig",
    "messageSignature",
    "messageDigest",
    "algorithm",
    "SHA2_256",
    "application/vnd.in-toto+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "https://sigstore.dev/cosign/sign/v1",
    "critical",
    "identity",
    "docker-reference",
    "image",
    "docker-manifest-digest",
    "type",
    "cosign container image signature",
    "optional",
    "SignedEntryTimestamp",
    "Payload",
    "body",
    "logID",
    "SignedRFC3161Timestamp",
    "MEUCIQ==",
    "eyJhIjoxfQ==",
    DIGEST,
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(WORDS).prop_map(str::to_string),
        3 => ".{0,24}",
        1 => (".{1,4}", 0usize..20_000).prop_map(|(s, n)| s.repeat(n / s.len() + 1)),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`th node (pre-order) of `v` by `with`.
fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, n, with)),
        Value::Object(o) => o.values_mut().any(|c| replace_nth(c, n, with)),
        _ => false,
    }
}

/// A mutation of a genuine JSON text: a subtree replaced, bytes flipped, or the text cut.
fn mutate(base: &Value) -> impl Strategy<Value = Vec<u8>> {
    let base = base.clone();
    let text = base.to_string().into_bytes();
    let len = text.len();
    prop_oneof![
        3 => (0usize..400, any_json()).prop_map(move |(n, with)| {
            let mut v = base.clone();
            replace_nth(&mut v, &mut { n }, &with);
            v.to_string().into_bytes()
        }),
        1 => prop::collection::vec((0..len, any::<u8>()), 1..4).prop_map({
            let text = text.clone();
            move |flips| {
                let mut t = text.clone();
                for (i, b) in flips {
                    t[i] = b;
                }
                t
            }
        }),
        1 => (0..len).prop_map(move |cut| text[..cut].to_vec()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn bundle_found(bytes: Vec<u8>) -> FoundBundle {
    FoundBundle {
        location: SignatureLocation::ReferrersApi,
        manifest_digest: DIGEST.into(),
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
        bytes,
    }
}

/// A genuine legacy layer with one of its fields mutated.
fn legacy_found() -> impl Strategy<Value = FoundLegacy> {
    let g = &genuine().legacy;
    let payload: Value = serde_json::from_slice(&g.payload).expect("payload json");
    let rekor: Value =
        serde_json::from_str(g.rekor_bundle_json.as_deref().expect("rekor")).expect("rekor json");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let cert = g.certificate_pem.clone().expect("cert");
    prop_oneof![
        mutate(&payload).prop_map(|p| FoundLegacy {
            payload: p,
            ..genuine().legacy.clone()
        }),
        word().prop_map(|s| FoundLegacy {
            signature_b64: s,
            ..genuine().legacy.clone()
        }),
        prop::collection::vec((0..cert.len(), any::<char>()), 1..4).prop_map(move |edits| {
            let mut c: Vec<char> = cert.chars().collect();
            for (i, ch) in edits {
                let i = i.min(c.len() - 1);
                c[i] = ch;
            }
            FoundLegacy {
                certificate_pem: Some(c.into_iter().collect()),
                ..genuine().legacy.clone()
            }
        }),
        mutate(&rekor).prop_map(move |r| FoundLegacy {
            rekor_bundle_json: Some(text(r)),
            ..genuine().legacy.clone()
        }),
        any_json().prop_map(|t| FoundLegacy {
            rfc3161_timestamp_json: Some(t.to_string()),
            ..genuine().legacy.clone()
        }),
    ]
}

#[test]
fn the_unmutated_material_verifies() {
    // The control for the properties below: what they mutate is genuinely valid.
    let g = genuine();
    let d = Discovery {
        bundles: vec![bundle_found(g.bundle.to_string().into_bytes())],
        legacy: vec![g.legacy.clone()],
        ..Discovery::default()
    };
    let e = engine::evaluate(&d, DIGEST, &policy(), &g.trust);
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(e.signatures.iter().all(|s| s.verdict == Verdict::Verified));
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn bundles_convert_without_panic_and_bound_errors(bytes in mutate(&genuine().bundle)) {
        if let Err(u) = engine::bundle::candidate(&bundle_found(bytes)) {
            prop_assert!(u.detail.len() <= MAX_DETAIL_BYTES, "{} bytes", u.detail.len());
        }
    }

    #[test]
    fn legacy_layers_convert_without_panic_and_bound_errors(found in legacy_found()) {
        if let Err(u) = engine::legacy::candidate(&found) {
            prop_assert!(u.detail.len() <= MAX_DETAIL_BYTES, "{} bytes", u.detail.len());
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// The whole judgement over mutated material: no panic, and always a definite verdict
    /// (the discovery is complete, so nothing here may come out "could not tell").
    #[test]
    fn judging_mutated_signatures_never_panics(
        bundle in mutate(&genuine().bundle),
        legacy in legacy_found(),
    ) {
        let g = genuine();
        for d in [
            Discovery { bundles: vec![bundle_found(bundle.clone())], ..Discovery::default() },
            Discovery { legacy: vec![legacy.clone()], ..Discovery::default() },
        ] {
            let e = engine::evaluate(&d, DIGEST, &policy(), &g.trust);
            prop_assert!(!e.verdict.is_indeterminate(), "{}: {}", e.verdict, e.message);
        }
    }
}

/// Genuine attestations (an SBOM statement) in both formats, made once per test binary: a
/// bundle, and a legacy `.att` layer (Rekor `dsse` 0.0.1).
struct GenuineAttestation {
    trust: TrustRoot,
    bundle: Value,
    legacy: FoundLegacyAttestation,
}

fn genuine_attestation() -> &'static GenuineAttestation {
    static G: OnceLock<GenuineAttestation> = OnceLock::new();
    G.get_or_init(|| {
        let sigstore = PrivateSigstore::generate("proptest-att").expect("private sigstore");
        let leaf = sigstore
            .issue_leaf(&LeafSpec::uri(WORKFLOW, ISSUER))
            .expect("leaf");
        let opts = SignOptions {
            predicate_type: Some("https://spdx.dev/Document".into()),
            ..SignOptions::default()
        };
        let signed = sigstore.sign_bundle(&leaf, DIGEST, &opts).expect("bundle");
        let bundle: Value = serde_json::from_str(&signed.json).expect("bundle json");
        let legacy = FoundLegacyAttestation {
            layer_digest: DIGEST.into(),
            envelope: bundle["dsseEnvelope"].to_string().into_bytes(),
            certificate_pem: Some(leaf.cert_pem.clone()),
            chain_pem: Some(leaf.chain_pem.clone()),
            rekor_bundle_json: Some(signed.entry.cosign_annotation()),
            rfc3161_timestamp_json: None,
            predicate_type_hint: Some("https://spdx.dev/Document".into()),
        };
        GenuineAttestation {
            trust: TrustRoot::from_json("proptest-att", sigstore.trusted_root_json().as_bytes())
                .expect("trust root"),
            bundle,
            legacy,
        }
    })
}

/// A genuine `.att` layer with its envelope or one annotation mutated.
fn att_found() -> impl Strategy<Value = FoundLegacyAttestation> {
    let g = &genuine_attestation().legacy;
    let envelope: Value = serde_json::from_slice(&g.envelope).expect("envelope json");
    let rekor: Value =
        serde_json::from_str(g.rekor_bundle_json.as_deref().expect("rekor")).expect("rekor json");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    prop_oneof![
        mutate(&envelope).prop_map(|e| FoundLegacyAttestation {
            envelope: e,
            ..genuine_attestation().legacy.clone()
        }),
        mutate(&rekor).prop_map(move |r| FoundLegacyAttestation {
            rekor_bundle_json: Some(text(r)),
            ..genuine_attestation().legacy.clone()
        }),
        word().prop_map(|c| FoundLegacyAttestation {
            certificate_pem: Some(c),
            ..genuine_attestation().legacy.clone()
        }),
    ]
}

/// Every attestation verdict over `d`: bounded text, and `Verified` only for a statement about
/// the audited digest.
fn check_attestations(d: &Discovery) -> Result<(), TestCaseError> {
    let g = genuine_attestation();
    for a in attest::evaluate(d, DIGEST, &policy(), &g.trust) {
        prop_assert!(
            a.message.chars().count() <= 1001,
            "{} chars",
            a.message.len()
        );
        prop_assert!(a.predicate_type.chars().count() <= 513);
        if a.verdict == Verdict::Verified {
            let st = a.statement.as_ref().expect("a verified statement is kept");
            prop_assert!(st
                .to_string()
                .contains(DIGEST.trim_start_matches("sha256:")));
        } else {
            prop_assert!(a.statement.is_none() && a.predicate.is_none());
        }
    }
    Ok(())
}

#[test]
fn the_unmutated_attestations_verify() {
    let g = genuine_attestation();
    let d = Discovery {
        attestations: vec![bundle_found(g.bundle.to_string().into_bytes())],
        legacy_attestations: vec![g.legacy.clone()],
        ..Discovery::default()
    };
    let ev = attest::evaluate(&d, DIGEST, &policy(), &g.trust);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|a| a.verdict == Verdict::Verified), "{ev:?}");
}

proptest! {
    #![proptest_config(config(300))]

    /// Attestations over mutated material (both formats): no panic, bounded text, and never a
    /// verified statement about another digest.
    #[test]
    fn judging_mutated_attestations_never_panics(
        bundle in mutate(&genuine_attestation().bundle),
        legacy in att_found(),
    ) {
        check_attestations(&Discovery {
            attestations: vec![bundle_found(bundle)],
            legacy_attestations: vec![legacy],
            ..Discovery::default()
        })?;
    }
}
