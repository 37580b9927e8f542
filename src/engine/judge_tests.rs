//! The judge against signatures made by a private Sigstore (`sigstore-forge`): what is checked
//! before a verdict may say anything about the signer.

use serde_json::Value;
use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};

use super::*;
use crate::engine::policy::IdentityRule;
use crate::engine::{bundle, verdict};
use crate::registry::{FoundBundle, SignatureLocation};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main";

struct World {
    sigstore: PrivateSigstore,
    trust: TrustRoot,
    digest: String,
}

impl World {
    fn new() -> Self {
        let sigstore = PrivateSigstore::generate("judge").expect("private sigstore");
        let trust = TrustRoot::from_json("test", sigstore.trusted_root_json().as_bytes())
            .expect("trust root");
        World {
            sigstore,
            trust,
            digest: sigstore_forge::sha256_digest(b"the artifact"),
        }
    }

    fn subject(&self) -> Subject<'_> {
        let hash = Sha256Hash::from_hex(self.digest.strip_prefix("sha256:").unwrap()).unwrap();
        Subject {
            digest: &self.digest,
            hash,
        }
    }

    /// A genuine bundle by a leaf made from `spec`, as JSON to edit.
    fn bundle(&self, spec: &LeafSpec) -> (Value, sigstore_forge::Leaf) {
        let leaf = self.sigstore.issue_leaf(spec).expect("leaf");
        let signed = self
            .sigstore
            .sign_bundle(&leaf, &self.digest, &SignOptions::default())
            .expect("sign");
        (serde_json::from_str(&signed.json).unwrap(), leaf)
    }

    fn judge(&self, bundle: &Value, policy: &Policy) -> SignatureEvidence {
        let found = FoundBundle {
            location: SignatureLocation::ReferrersApi,
            manifest_digest: "sha256:00".into(),
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
            bytes: serde_json::to_vec(bundle).unwrap(),
        };
        let c = bundle::candidate(&found).expect("converts");
        judge(&c, &self.subject(), policy, &self.trust)
    }
}

/// What `cosign sign --key` attaches: the same DSSE signature, a public-key hint instead of a
/// certificate. With `keep_log: false`, no transparency-log entry either.
fn as_key_signed(mut bundle: Value, keep_log: bool) -> Value {
    let material = &mut bundle["verificationMaterial"];
    let obj = material.as_object_mut().unwrap();
    obj.remove("certificate");
    obj.insert("publicKey".into(), serde_json::json!({"hint": "a-hint"}));
    if !keep_log {
        obj.insert("tlogEntries".into(), serde_json::json!([]));
    }
    bundle
}

fn key_of(leaf: &sigstore_forge::Leaf, name: &str) -> PublicKey {
    PublicKey::from_pem(name, leaf.key.public_key_pem().as_bytes()).unwrap()
}

fn keyless(subject: &str) -> Policy {
    Policy::Keyless {
        identities: vec![IdentityRule::new(".*", subject).unwrap()],
    }
}

#[test]
fn a_key_signature_no_key_checks_says_nothing_about_its_signer() {
    let w = World::new();
    let (genuine, _) = w.bundle(&LeafSpec::uri(WORKFLOW, ISSUER));
    let mut garbage = as_key_signed(genuine, false);
    garbage["dsseEnvelope"]["signatures"][0]["sig"] = "AAAA".into();
    for policy in [keyless(WORKFLOW), Policy::None] {
        let e = w.judge(&garbage, &policy);
        // Not IdentityMismatch ("a valid signature by another signer") nor NoPolicy ("checked,
        // no policy"): nothing checked it.
        assert_eq!(
            e.verdict,
            Verdict::UntrustedSigner,
            "{policy:?}: {}",
            e.message
        );
        assert!(e.message.contains("signed with a key"), "{}", e.message);
        // It ranks below every finding about a checked signature.
        for checked in [
            Verdict::IdentityMismatch,
            Verdict::KeyMismatch,
            Verdict::DigestMismatch,
            Verdict::NoPolicy,
        ] {
            assert_eq!(verdict::aggregate([e.verdict, checked]), checked);
        }
    }
}

#[test]
fn with_the_log_required_a_key_that_signed_but_was_not_logged_is_not_a_key_mismatch() {
    let w = World::new();
    let (genuine, leaf) = w.bundle(&LeafSpec::uri(WORKFLOW, ISSUER));
    let unlogged = as_key_signed(genuine, false);
    let (_, other) = w.bundle(&LeafSpec::uri(WORKFLOW, ISSUER));
    let keys = |k: PublicKey, require_tlog| Policy::Keys {
        keys: vec![k],
        require_tlog,
    };
    // Flux's rule (log ignored): the key made it, verified.
    let e = w.judge(&unlogged, &keys(key_of(&leaf, "signer.pub"), false));
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    // Log required: the right key, no log entry — untrusted, and the message says so.
    let e = w.judge(&unlogged, &keys(key_of(&leaf, "signer.pub"), true));
    assert_eq!(e.verdict, Verdict::UntrustedSigner, "{}", e.message);
    assert!(
        e.message.contains("signed with key signer.pub"),
        "{}",
        e.message
    );
    // Another key is still a key mismatch, log required or not.
    for require_tlog in [false, true] {
        let e = w.judge(&unlogged, &keys(key_of(&other, "other.pub"), require_tlog));
        assert_eq!(e.verdict, Verdict::KeyMismatch, "{}", e.message);
    }
}

#[test]
fn a_certificate_without_san_or_issuer_matches_no_identity() {
    let w = World::new();
    let accept_all = Policy::Keyless {
        identities: vec![IdentityRule::new(".*", ".*").unwrap()],
    };
    let mut no_san = LeafSpec::uri(WORKFLOW, ISSUER);
    no_san.omit_san = true;
    let mut no_issuer = LeafSpec::uri(WORKFLOW, ISSUER);
    no_issuer.omit_issuer = true;
    for (spec, missing) in [(no_san, "no subject"), (no_issuer, "no OIDC issuer")] {
        let (bundle, _) = w.bundle(&spec);
        let e = w.judge(&bundle, &accept_all);
        assert_ne!(e.verdict, Verdict::Verified, "{missing}: {}", e.message);
        assert_eq!(e.verdict, Verdict::IdentityMismatch, "{}", e.message);
        assert!(e.message.contains(missing), "{}", e.message);
    }
    // The control: the same policy accepts a complete certificate.
    let (bundle, _) = w.bundle(&LeafSpec::uri(WORKFLOW, ISSUER));
    assert_eq!(w.judge(&bundle, &accept_all).verdict, Verdict::Verified);
}

#[test]
fn no_identity_is_reported_as_any_signer_mode_never_as_an_identity_match() {
    let w = World::new();
    let (bundle, _) = w.bundle(&LeafSpec::uri(WORKFLOW, ISSUER));
    let e = w.judge(&bundle, &Policy::Keyless { identities: vec![] });
    assert_eq!(e.verdict, Verdict::Verified, "{}", e.message);
    assert!(e.message.contains("any-signer mode"), "{}", e.message);
    assert!(
        e.message.contains("no identity was checked"),
        "{}",
        e.message
    );
}

#[test]
fn match_certificate_claims_decide_like_an_identity_and_name_the_unmet_claim() {
    use crate::engine::claims::{CertificateRule, Claim};
    let w = World::new();
    let mut spec = LeafSpec::uri(WORKFLOW, ISSUER);
    spec.ci.source_repository_uri = Some("https://github.com/org/repo".into());
    spec.ci.source_repository_ref = Some("refs/heads/main".into());
    spec.ci.runner_environment = Some("self-hosted".into());
    let (bundle, _) = w.bundle(&spec);
    let with = |pairs: &[(Claim, &str)]| Policy::Keyless {
        identities: vec![IdentityRule::new(".*", WORKFLOW)
            .unwrap()
            .with_certificate(CertificateRule::new(pairs.iter().copied()).unwrap())],
    };
    let ok = w.judge(
        &bundle,
        &with(&[(Claim::SourceRepository, r"https://github\.com/org/repo")]),
    );
    assert_eq!(ok.verdict, Verdict::Verified, "{}", ok.message);
    for (pairs, named) in [
        (vec![(Claim::SourceRef, "refs/tags/v.*")], "sourceRef"),
        (
            vec![(Claim::RunnerEnvironment, "github-hosted")],
            "runnerEnvironment",
        ),
        // A claim the certificate does not carry never matches.
        (vec![(Claim::Trigger, ".*")], "trigger"),
    ] {
        let e = w.judge(&bundle, &with(&pairs));
        assert_eq!(e.verdict, Verdict::IdentityMismatch, "{}", e.message);
        assert!(e.message.contains(named), "{named}: {}", e.message);
    }
}
