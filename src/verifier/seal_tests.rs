//! A status is read back only when the controller sealed it: a tenant can write any status.

use super::*;
use crate::api::VerdictCacheKey;
use crate::audit::decide::decide;
use crate::audit::fixtures::{self, evaluation, keyless_signature, secrets, DIGEST};
use crate::audit::status::{compute, AuditInput, Location, Outcome};
use crate::engine::{SignatureFormat, Verdict};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const KEY: [u8; 32] = [7; 32];

fn source() -> FluxSource {
    fixtures::source(&fixtures::oci_repository())
}

/// A status as the controller computes it: `verdict` for the fixture's digest.
fn status(src: &FluxSource, verdict: Verdict) -> SourceAuditStatus {
    let now = Time("2026-12-01T12:00:00Z".parse().unwrap());
    let e = evaluation(
        verdict,
        vec![keyless_signature(SignatureFormat::Bundle, verdict)],
    );
    let decision = decide(src, &[], &secrets());
    compute(
        None,
        &AuditInput {
            source: src,
            decision: &decision,
            outcome: &Outcome::Evaluated {
                digest: DIGEST.into(),
                evaluation: e,
                key: VerdictCacheKey {
                    registry: "registry.example".into(),
                    repository: "apps/app".into(),
                    ..decision.cache_key(DIGEST)
                },
                checked: now.clone(),
            },
            location: &Location::default(),
            generation: Some(1),
            now: &now,
        },
    )
}

fn sealed(src: &FluxSource, verdict: Verdict) -> SourceAuditStatus {
    let mut s = status(src, verdict);
    Sealer::from_key(&KEY).unwrap().seal(src, &mut s);
    s
}

#[test]
fn a_sealed_status_verifies_after_a_round_trip_through_json() {
    let src = source();
    let s = sealed(&src, Verdict::Verified);
    assert!(s.seal.as_deref().unwrap().starts_with(SEAL_PREFIX));
    let read_back: SourceAuditStatus =
        serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert!(Sealer::from_key(&KEY).unwrap().verifies(&src, &read_back));
}

#[test]
fn a_forged_verified_status_does_not_verify() {
    let src = source();
    let sealer = Sealer::from_key(&KEY).unwrap();
    // A tenant turns the controller's Unsigned into Verified, keeping key and seal.
    let mut forged = sealed(&src, Verdict::Unsigned);
    let genuine_verified = status(&src, Verdict::Verified);
    forged.conditions = genuine_verified.conditions.clone();
    assert!(!sealer.verifies(&src, &forged));
    // Or writes a whole status with no seal, or a made-up one.
    let mut unsealed = genuine_verified.clone();
    assert!(!sealer.verifies(&src, &unsealed));
    unsealed.seal = Some(format!("{SEAL_PREFIX}{}", "00".repeat(32)));
    assert!(!sealer.verifies(&src, &unsealed));
    unsealed.seal = Some("not a seal".into());
    assert!(!sealer.verifies(&src, &unsealed));
}

#[test]
fn any_changed_field_breaks_the_seal() {
    let src = source();
    let sealer = Sealer::from_key(&KEY).unwrap();
    let s = sealed(&src, Verdict::Verified);
    let mut later = s.clone();
    later.last_verified_time = Some(Time("2027-01-01T00:00:00Z".parse().unwrap()));
    assert!(!sealer.verifies(&src, &later), "lastVerifiedTime");
    let mut other_repo = s.clone();
    other_repo.verdict_cache.as_mut().unwrap().repository = "apps/mirror".into();
    assert!(!sealer.verifies(&src, &other_repo), "verdictCache");
    let mut signer = s.clone();
    signer.signer = Some("someone else".into());
    assert!(!sealer.verifies(&src, &signer), "signer");
}

#[test]
fn a_status_copied_from_another_source_does_not_verify() {
    let src = source();
    let s = sealed(&src, Verdict::Verified);
    let mut other = src.clone();
    other.name = "other".into();
    assert!(!Sealer::from_key(&KEY).unwrap().verifies(&other, &s));
    let mut other_ns = src.clone();
    other_ns.namespace = "tenant-b".into();
    assert!(!Sealer::from_key(&KEY).unwrap().verifies(&other_ns, &s));
}

#[test]
fn another_key_or_no_key_trusts_nothing() {
    let src = source();
    let s = sealed(&src, Verdict::Verified);
    assert!(!Sealer::from_key(&[8; 32]).unwrap().verifies(&src, &s));
    let none = Sealer::none();
    assert!(!none.verifies(&src, &s));
    let mut unsealed = status(&src, Verdict::Verified);
    none.seal(&src, &mut unsealed);
    assert_eq!(unsealed.seal, None);
}

#[test]
fn short_keys_are_refused_and_the_key_is_never_printed() {
    assert!(Sealer::from_key(&[1; 16]).is_err());
    let shown = format!("{:?}", Sealer::from_key(&KEY).unwrap());
    assert!(!shown.contains("7, 7"), "{shown}");
}

#[test]
fn a_status_sealed_for_a_deleted_source_is_not_read_back_for_its_namesake() {
    let src = source();
    let s = sealed(&src, Verdict::Verified);
    let sealer = Sealer::from_key(&KEY).unwrap();
    assert!(sealer.verifies(&src, &s));
    // Deleted and recreated under the same namespace, kind and name: another object.
    let mut recreated = src.clone();
    recreated.uid = Some("3f1c0b8e-0000-4000-8000-000000000002".into());
    assert!(!sealer.verifies(&recreated, &s));
    // A source without a UID is neither sealed nor trusted.
    let mut no_uid = src.clone();
    no_uid.uid = None;
    assert!(!sealer.verifies(&no_uid, &s));
    let mut unsealed = status(&no_uid, Verdict::Verified);
    sealer.seal(&no_uid, &mut unsealed);
    assert_eq!(unsealed.seal, None);
}

#[test]
fn identity_fields_are_length_prefixed_so_their_boundaries_cannot_move() {
    let sealer = Sealer::from_key(&KEY).unwrap();
    let mut a = source();
    a.namespace = "team".into();
    a.name = "a-app".into();
    let s = sealed(&a, Verdict::Verified);
    // The same bytes split differently between the fields.
    let mut b = a.clone();
    b.namespace = "team-a".into();
    b.name = "app".into();
    assert!(!sealer.verifies(&b, &s));
    let mut c = a.clone();
    c.name = "a-app\0".into();
    assert!(!sealer.verifies(&c, &s));
}

#[test]
fn a_seal_of_the_previous_format_is_not_read_back() {
    // The previous version's seal: `v1`, an HMAC over "ns\0kind\0name\0" and the status,
    // without the UID. After an upgrade such a status is re-verified once, never trusted.
    let src = source();
    let mut s = status(&src, Verdict::Verified);
    let mut m = format!(
        "provenance.dev/SourceAudit\0{}\0{}\0{}\0",
        src.namespace,
        src.kind.as_str(),
        src.name
    )
    .into_bytes();
    m.extend(serde_json::to_vec(&s).unwrap());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &KEY);
    let tag = hmac::sign(&key, &m);
    s.seal = Some(format!("hmac-sha256:v1:{}", hex::encode(tag.as_ref())));
    assert!(!Sealer::from_key(&KEY).unwrap().verifies(&src, &s));
}
