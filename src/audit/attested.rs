//! `Attested` for one artifact under a decision: every attestation its discovery holds,
//! verified under each identity the decision's requirements name, judged against them.

use std::collections::BTreeMap;

use super::attestations::{judge, trust_root};
use super::compile::TrustRootInput;
use super::decide::Decision;
use crate::engine::attest::require::Attested;
use crate::engine::attest::{self, AttestationEvidence};
use crate::engine::fingerprint::fields_text;
use crate::engine::Policy;
use crate::registry::Discovery;
use crate::vocabulary::{reasons, Judgement, Status};

/// Verifies every attestation in `discovery` under each distinct identity the decision needs
/// (each requirement's, and the first policy's own for reporting), once per identity, and
/// judges `Attested`. Pure: the registry was asked already (attestations share the signatures'
/// discovery, so they cost no request of their own).
pub fn attest(discovery: &Discovery, digest: &str, decision: &Decision) -> Attested {
    let required = decision.required_attestations();
    let (default_policy, default_root) = match decision.to_evaluate().first() {
        Some((_, p, r)) => ((*p).clone(), (*r).clone()),
        None => (Policy::None, TrustRootInput::PublicGood),
    };
    let default_key = fields_text([default_policy.fingerprint(), default_root.fingerprint()]);
    let mut found: BTreeMap<String, Result<Vec<AttestationEvidence>, String>> = BTreeMap::new();
    let identities = std::iter::once((default_key.clone(), &default_policy, &default_root)).chain(
        required
            .iter()
            .map(|r| (r.identity_key(), &r.identity, &r.trust_root)),
    );
    for (key, policy, root) in identities {
        if found.contains_key(&key) {
            continue;
        }
        let evidence = trust_root(root).map(|t| attest::evaluate(discovery, digest, policy, &t));
        found.insert(key, evidence);
    }
    let empty: &[AttestationEvidence] = &[];
    let evidence_of = |key: &str| -> &[AttestationEvidence] {
        found
            .get(key)
            .and_then(|r| r.as_ref().ok())
            .map_or(empty, Vec::as_slice)
    };
    let judgement = match required
        .iter()
        .find_map(|r| found.get(&r.identity_key()).and_then(|e| e.as_ref().err()))
    {
        Some(e) => Judgement::new(Status::Unknown, reasons::TRUST_ROOT_ERROR, e.clone()),
        None => judge(
            &required,
            |r| evidence_of(&r.identity_key()),
            // Attestations' own completeness: the referrers and the `.att` tag.
            discovery.attestations_incomplete_summary().as_deref(),
        ),
    };
    // What the status reports for the i-th attestation: its evidence under the identity of the
    // first requirement of its type (the verdict that matters), else under the policy's own.
    let reported = evidence_of(&default_key);
    let evidence = reported
        .iter()
        .enumerate()
        .map(|(i, e)| {
            required
                .iter()
                .find(|r| r.requirement.accepts_type(&e.predicate_type))
                .and_then(|r| evidence_of(&r.identity_key()).get(i))
                .unwrap_or(e)
                .clone()
        })
        .collect();
    Attested {
        judgement,
        evidence,
    }
}
