use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::*;
use crate::api::attestation_status::{AttestationStatus, CertificateClaimsStatus};
use crate::api::source_audit::{OidcIdentity, SuggestedVerifyStatus};
use crate::api::VerdictCacheKey;

fn sig(verdict: &str, n: usize) -> SignatureStatus {
    SignatureStatus {
        format: "bundle".into(),
        location: "referrers-api".into(),
        signer: SignerStatus {
            subject: Some(format!("signer-{n}")),
            ..SignerStatus::default()
        },
        ci: None,
        tlog: None,
        verdict: verdict.into(),
        message: String::new(),
    }
}

#[test]
fn clip_keeps_short_text_and_marks_what_it_cuts() {
    assert_eq!(clip("fine", 10), "fine");
    let cut = clip(&"a".repeat(100), 20);
    assert_eq!(cut.len(), 20, "{cut}");
    assert!(cut.ends_with("…(cut)"), "{cut}");
}

#[test]
fn clip_cuts_on_a_character_boundary() {
    // 'é' is two bytes: a cut in the middle of one must not panic nor exceed the bound.
    for max in 16..30 {
        let cut = clip(&"é".repeat(50), max);
        assert!(cut.len() <= max, "{max}: {} bytes", cut.len());
        assert!(cut.ends_with("…(cut)"), "{cut}");
    }
    // Too short for the marker: cut, never longer than asked.
    for max in 0..16 {
        assert!(clip(&"é".repeat(50), max).len() <= max);
    }
}

#[test]
fn clip_makes_control_characters_spaces() {
    // JSON would escape each NUL to six bytes.
    assert_eq!(clip("a\u{0}b\nc", 10), "a b c");
}

#[test]
fn the_decisive_signatures_are_listed_first_and_the_rest_counted() {
    let mut s = SourceAuditStatus::default();
    for n in 0..20 {
        s.signatures.push(sig("SignatureInvalid", n));
    }
    s.signatures.push(sig("Verified", 99));
    bound(&mut s, Some("Verified"));
    assert_eq!(s.signatures.len(), MAX_SIGNATURES);
    assert_eq!(s.signatures[0].verdict, "Verified");
    assert_eq!(s.signatures[1].signer.subject.as_deref(), Some("signer-0"));
    assert_eq!(s.signatures_omitted, Some(21 - MAX_SIGNATURES as i64));
}

#[test]
fn a_short_list_is_left_alone() {
    let mut s = SourceAuditStatus {
        signatures: vec![sig("SignatureInvalid", 0), sig("Verified", 1)],
        ..SourceAuditStatus::default()
    };
    let before = s.signatures.clone();
    bound(&mut s, Some("Verified"));
    assert_eq!(s.signatures, before);
    assert_eq!(s.signatures_omitted, None);
}

#[test]
fn an_oversized_suggestion_is_dropped_not_cut() {
    let mut s = SourceAuditStatus {
        suggested_verify: Some(SuggestedVerifyStatus {
            provider: "cosign".into(),
            match_oidc_identity: vec![OidcIdentity {
                issuer: "^https://token\\.actions\\.githubusercontent\\.com$".into(),
                subject: format!("^https://github\\.com/{}$", "a".repeat(MAX_IDENTITY)),
            }],
            key_fingerprint: None,
            yaml: "verify: …".into(),
        }),
        ..SourceAuditStatus::default()
    };
    bound(&mut s, None);
    assert_eq!(s.suggested_verify, None);
}

#[test]
fn an_oversized_cache_key_is_dropped_not_cut() {
    let mut s = SourceAuditStatus {
        verdict_cache: Some(VerdictCacheKey {
            registry: "r.example".into(),
            repository: "app".into(),
            digest: format!("sha256:{}", "0".repeat(1000)),
            policy_fingerprint: "p".into(),
            trust_root_fingerprint: "r".into(),
        }),
        ..SourceAuditStatus::default()
    };
    bound(&mut s, None);
    assert_eq!(s.verdict_cache, None);
}

#[test]
fn fit_drops_evidence_but_never_the_verdict() {
    // Every quote doubles under JSON escaping: per-field bounds alone would not hold.
    let quotes = "\"".repeat(MAX_MESSAGE);
    let mut s = SourceAuditStatus {
        signer: Some("the signer".into()),
        ..SourceAuditStatus::default()
    };
    for n in 0..MAX_SIGNATURES {
        let mut g = sig("Verified", n);
        g.message = quotes.clone();
        g.signer.issuer = Some(quotes.clone());
        g.signer.key_hint = Some(quotes.clone());
        let q = Some(quotes.clone());
        g.ci = Some(CiClaimsStatus {
            source_repository: q.clone(),
            source_repository_ref: q.clone(),
            source_repository_digest: q.clone(),
            workflow: q.clone(),
            trigger: q.clone(),
            build_signer_uri: q.clone(),
            build_signer_digest: q.clone(),
            runner_environment: q.clone(),
            source_repository_owner_uri: q.clone(),
            source_repository_visibility: q.clone(),
            run_invocation_uri: q,
        });
        s.signatures.push(g);
    }
    s.conditions.push(Condition {
        type_: "Verified".into(),
        status: "True".into(),
        reason: "Verified".into(),
        message: quotes.clone(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    });
    bound(&mut s, Some("Verified"));
    assert!(
        s.signatures_omitted.is_some(),
        "the per-field bounds alone would not fit"
    );
    assert!(
        serialized_len(&s) <= MAX_STATUS_BYTES,
        "{}",
        serialized_len(&s)
    );
    assert_eq!(s.conditions[0].status, "True");
    assert_eq!(s.signer.as_deref(), Some("the signer"));
    let listed = s.signatures.len() as i64;
    assert_eq!(
        listed + s.signatures_omitted.unwrap_or(0),
        MAX_SIGNATURES as i64
    );
}

fn hostile_attestation(verdict: &str, n: usize) -> AttestationStatus {
    let huge = "x".repeat(200_000);
    AttestationStatus {
        predicate_type: format!("{n}{huge}"),
        format: "bundle".into(),
        location: "referrers-api".into(),
        signer: SignerStatus {
            subject: Some(huge.clone()),
            ..SignerStatus::default()
        },
        certificate: Some(CertificateClaimsStatus {
            source_repository_uri: Some(huge.clone()),
            run_invocation_uri: Some(huge.clone()),
            ..CertificateClaimsStatus::default()
        }),
        tlog: None,
        provenance: Some(crate::api::attestation_status::ProvenanceStatus {
            builder_id: Some(huge.clone()),
            ..Default::default()
        }),
        sbom: None,
        verdict: verdict.into(),
        message: huge,
    }
}

#[test]
fn attestations_are_bounded_in_count_and_size_verified_ones_kept_first() {
    let mut status = SourceAuditStatus {
        attestations: (0..50)
            .map(|n| hostile_attestation(if n == 49 { "Verified" } else { "Unsigned" }, n))
            .collect(),
        attestations_omitted: Some(3),
        built_from: Some("y".repeat(10_000)),
        ..SourceAuditStatus::default()
    };
    bound(&mut status, None);
    assert!(status.attestations.len() <= MAX_ATTESTATIONS);
    assert_eq!(status.attestations[0].verdict, "Verified");
    let listed = status.attestations.len() as i64;
    assert_eq!(status.attestations_omitted, Some(53 - listed));
    for a in &status.attestations {
        assert!(a.message.len() <= MAX_MESSAGE);
        assert!(a.predicate_type.len() <= MAX_TEXT);
        let c = a.certificate.as_ref().unwrap();
        assert!(c.source_repository_uri.as_ref().unwrap().len() <= MAX_TEXT);
    }
    assert!(status.built_from.as_ref().unwrap().len() <= MAX_TEXT);
    assert!(serialized_len(&status) <= MAX_STATUS_BYTES);
}
