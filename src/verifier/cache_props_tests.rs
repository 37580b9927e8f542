//! Kyverno #17130 / #17173: a cache hit answered from unverified data, or skipping conditions.
//! Here a cache hit must yield exactly the fresh result: for any sequence of policies (keys,
//! attestation requirements, CEL conditions and their messages) over one registry state, the
//! status computed from what the verdict cache answers equals the status computed from a fresh
//! evaluation, condition by condition, attestation by attestation.

use proptest::prelude::*;

use super::*;
use crate::api::SourceAuditStatus;
use crate::audit::decide::{decide, Secrets};
use crate::audit::fixtures;
use crate::audit::source::FluxSource;
use crate::audit::status::{compute, AuditInput, Location};
use crate::cluster::time;
use crate::engine::attest::test_keys::{att_layer, statement, statement_of, Key, DIGEST};
use crate::registry::FoundLegacy;
use crate::verifier::cache::{Lookup, VerdictCache};
use crate::verifier::schedule::Intervals;

/// Policies that differ in one thing each: the cache key must tell every pair apart whose
/// results differ.
const POLICIES: [&str; 9] = [
    "verify: {secretRef: {namespace: apps, name: ours}}\n",
    "verify: {secretRef: {namespace: apps, name: theirs}}\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: https://spdx.dev/Document}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1, conditions: [{expression: \"predicate.buildDefinition.buildType == 'test'\"}]}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1, conditions: [{expression: \"predicate.buildDefinition.buildType == 'other'\"}]}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1, conditions: [{expression: \"predicate.buildDefinition.buildType == 'other'\", message: built by the release pipeline}]}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1, conditions: [{expression: \"predicate.nothing.here == 'x'\"}]}]\n",
    "verify: {secretRef: {namespace: apps, name: ours}}\nattestations: [{predicateType: slsaprovenance1, verify: {secretRef: {namespace: apps, name: theirs}}}]\n",
];

struct Registry {
    ours: Key,
    theirs: Key,
}

impl Registry {
    fn secrets(&self) -> Secrets {
        let entry = |k: &Key| [("cosign.pub".to_string(), k.pem().into_bytes())].into();
        [
            (("apps".to_string(), "ours".to_string()), entry(&self.ours)),
            (
                ("apps".to_string(), "theirs".to_string()),
                entry(&self.theirs),
            ),
        ]
        .into()
    }

    /// One registry state: a signature by `signer`, and the attestations chosen by `atts`
    /// (bit 0: provenance by ours, 1: provenance by theirs, 2: an SBOM by ours).
    fn discovery(&self, signed_by_ours: bool, atts: u8) -> Discovery {
        let payload = sigstore_forge::simple_signing_payload("registry.example/apps/app", DIGEST);
        let signer = if signed_by_ours {
            &self.ours
        } else {
            &self.theirs
        };
        let layer = |payload: Vec<u8>, key: &Key| att_layer(&payload, &[key.sign(&payload)], None);
        let mut legacy_attestations = vec![];
        if atts & 1 != 0 {
            legacy_attestations.push(layer(statement(DIGEST), &self.ours));
        }
        if atts & 2 != 0 {
            legacy_attestations.push(layer(statement(DIGEST), &self.theirs));
        }
        if atts & 4 != 0 {
            legacy_attestations.push(layer(
                statement_of(DIGEST, "https://spdx.dev/Document"),
                &self.ours,
            ));
        }
        Discovery {
            legacy: vec![FoundLegacy {
                layer_digest: "sha256:00".into(),
                signature_b64: signer.sign_raw(&payload),
                payload,
                certificate_pem: None,
                chain_pem: None,
                rekor_bundle_json: None,
                rfc3161_timestamp_json: None,
            }],
            legacy_attestations,
            ..Discovery::default()
        }
    }
}

fn status(source: &FluxSource, decision: &Decision, evaluation: Evaluation) -> SourceAuditStatus {
    let now = time(1_000);
    let image: ImageRef = format!("registry.example/apps/app@{DIGEST}")
        .parse()
        .unwrap();
    compute(
        None,
        &AuditInput {
            source,
            decision,
            outcome: &Outcome::Evaluated {
                digest: DIGEST.into(),
                evaluation,
                key: cache_key(decision, &image, DIGEST),
                checked: now.clone(),
            },
            location: &Location::default(),
            generation: Some(1),
            now: &now,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_cache_hit_yields_exactly_the_fresh_result(
        signed_by_ours in any::<bool>(),
        atts in 0u8..8,
        sequence in prop::collection::vec(0..POLICIES.len(), 1..10),
    ) {
        let registry = Registry { ours: Key::new(), theirs: Key::new() };
        let discovery = registry.discovery(signed_by_ours, atts);
        let secrets = registry.secrets();
        let source = fixtures::source(&fixtures::oci_repository());
        let image: ImageRef = format!("registry.example/apps/app@{DIGEST}").parse().unwrap();
        let cache = VerdictCache::new(Intervals::default());
        for i in sequence {
            let spec = fixtures::policy(POLICIES[i]);
            let decision = decide(&source, &[("p", &spec)], &secrets);
            prop_assert!(decision.invalid.is_empty(), "{:?}", decision.invalid);
            let key = cache_key(&decision, &image, DIGEST);
            let fresh = evaluate_discovery(&discovery, DIGEST, &decision).unwrap();
            let answered = match cache.lookup(&key, 1_000) {
                Lookup::Fresh(entry) => entry.evaluation,
                _ => {
                    let e = evaluate_discovery(&discovery, DIGEST, &decision).unwrap();
                    cache.insert(key.clone(), e.clone(), 1_000);
                    e
                }
            };
            let (cached, fresh) = (
                status(&source, &decision, answered),
                status(&source, &decision, fresh),
            );
            prop_assert_eq!(&cached.conditions, &fresh.conditions, "policy {}", i);
            prop_assert_eq!(&cached, &fresh, "policy {}", i);
        }
    }
}
