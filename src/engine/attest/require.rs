//! The requirement half: given a policy's `attestations:` requirements and the evidence
//! [`super::evaluate`] found under each requirement's identity, is the artifact `Attested`?
//! Pure.
//!
//! Per requirement, one satisfying attestation suffices: of the required predicate type,
//! verified (signature, signer, subject digest), its certificate claims matching the short form
//! (`sourceRepository`, `sourceRef`, `signerWorkflow`, `denySelfHostedRunners`) and every CEL
//! condition true. Otherwise, in this order:
//! - discovery was cut short → `Unknown` (what was not read might satisfy it);
//! - a verified one whose condition could not be evaluated → `Unknown/ConditionError`;
//! - an attestation whose verification could not tell (a fetch fault) → `Unknown`;
//! - verified ones, all failing a condition → `False/AttestationPolicyFailed`, naming it;
//! - some of the type, none verifies → `False/AttestationInvalid`;
//! - none of the type → `False/AttestationMissing`.
//!
//! Every requirement must be met; across requirements a definite failure outranks a
//! could-not-tell (it is a fact about the artifact whatever the others say), like signatures.

use super::cel::{self, Condition};
use super::AttestationEvidence;
use crate::engine::claims::CertificateRule;
use crate::engine::fingerprint::fields_text;
use crate::engine::Verdict;
use crate::vocabulary::{reasons, Judgement, Status};

/// The SBOM predicate types that come in versions (`https://spdx.dev/Document/v2.3`,
/// `https://cyclonedx.org/bom/v1.5`): a requirement naming the root accepts every version.
const VERSIONED_ROOTS: [&str; 2] = ["https://spdx.dev/Document", "https://cyclonedx.org/bom"];

/// cosign's `--type` names, accepted as predicate types.
const ALIASES: [(&str, &str); 7] = [
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
];

/// The predicate type a requirement's `predicateType` names (cosign aliases resolved).
pub fn canonical_type(predicate_type: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == predicate_type)
        .map_or(predicate_type, |(_, uri)| uri)
}

/// What the verifier found about attestations: the `Attested` judgement and the evidence the
/// status reports (one entry per attestation found, in discovery order).
#[derive(Debug, Clone)]
pub struct Attested {
    /// `Attested` True / False / Unknown, with its reason.
    pub judgement: Judgement,
    /// Every attestation found, judged under the identity that matters for it.
    pub evidence: Vec<AttestationEvidence>,
}

/// One required attestation, compiled.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// Where it comes from, for messages (`policy P attestations[0]`).
    pub name: String,
    /// The predicate type (canonical).
    pub predicate_type: String,
    /// The short form's certificate claims.
    pub certificate: CertificateRule,
    /// The CEL conditions (all must hold).
    pub conditions: Vec<Condition>,
    /// How long the conditions of one attestation may take ([`cel::DEADLINE`]).
    pub deadline: std::time::Duration,
}

impl Requirement {
    /// A requirement; `predicate_type` may be a cosign alias.
    pub fn new(
        name: impl Into<String>,
        predicate_type: &str,
        certificate: CertificateRule,
        conditions: Vec<Condition>,
    ) -> Self {
        Self {
            name: name.into(),
            predicate_type: canonical_type(predicate_type).to_string(),
            certificate,
            conditions,
            deadline: cel::DEADLINE,
        }
    }

    /// Whether an attestation of `actual` predicate type is of the required type: equal, or a
    /// version of a versioned SBOM root the requirement names.
    pub fn accepts_type(&self, actual: &str) -> bool {
        let want = self.predicate_type.as_str();
        if actual == want {
            return true;
        }
        VERSIONED_ROOTS.contains(&want)
            && actual
                .strip_prefix(want)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Everything the judgement depends on, as stable text (for the verdict-cache key), every
    /// field length-prefixed: the conditions' messages too, since they are part of what the
    /// judgement says.
    pub fn fingerprint_text(&self) -> String {
        let certificate = self.certificate.describe();
        fields_text(
            [self.predicate_type.as_str(), certificate.as_str()]
                .into_iter()
                .chain(self.conditions.iter().flat_map(|c| {
                    [
                        c.expression.as_str(),
                        c.message.as_deref().unwrap_or_default(),
                    ]
                })),
        )
    }

    /// Judges this requirement against the evidence found under its identity.
    pub fn judge(&self, evidence: &[AttestationEvidence], incomplete: Option<&str>) -> Met {
        let of_type: Vec<&AttestationEvidence> = evidence
            .iter()
            .filter(|e| self.accepts_type(&e.predicate_type))
            .collect();
        let mut failed: Option<String> = None;
        let mut error: Option<String> = None;
        for e in of_type.iter().filter(|e| e.verdict == Verdict::Verified) {
            match self.check(e) {
                Check::Holds => return Met::Satisfied(e.signer.describe()),
                Check::Fails(why) => {
                    failed.get_or_insert(why);
                }
                Check::Error(why) => {
                    error.get_or_insert(why);
                }
            }
        }
        let what = &self.predicate_type;
        if let Some(why) = incomplete {
            return Met::Unknown(
                reasons::REGISTRY_UNAVAILABLE,
                format!("no {what} attestation satisfies it yet, and attestation discovery was incomplete ({why})"),
            );
        }
        if let Some(why) = error {
            return Met::Unknown(reasons::CONDITION_ERROR, why);
        }
        // An attestation that could not be checked (of this type, or unreadable so of no known
        // type) might be the one that satisfies it.
        if let Some(e) = evidence.iter().find(|e| {
            e.verdict.is_indeterminate()
                && (e.predicate_type.is_empty() || self.accepts_type(&e.predicate_type))
        }) {
            return Met::Unknown(
                e.verdict.as_str(),
                format!("an attestation could not be checked: {}", e.message),
            );
        }
        if let Some(why) = failed {
            return Met::False(reasons::ATTESTATION_POLICY_FAILED, why);
        }
        if let Some(e) = of_type.first() {
            return Met::False(
                reasons::ATTESTATION_INVALID,
                format!(
                    "{} {what} attestation(s), none verifies; first: {}: {}",
                    of_type.len(),
                    e.verdict,
                    e.message
                ),
            );
        }
        // The others, by verdict: an unsigned envelope's claimed type is not trusted (anyone can
        // write it), so it is not "of the type", but the message says it was there, unsigned.
        let mut others: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in evidence {
            *others.entry(e.verdict.as_str()).or_default() += 1;
        }
        let others = others
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        Met::False(
            reasons::ATTESTATION_MISSING,
            if evidence.is_empty() {
                format!("no {what} attestation found (no other attestation)")
            } else {
                format!(
                    "no {what} attestation found ({} other attestation(s): {others})",
                    evidence.len()
                )
            },
        )
    }

    fn check(&self, e: &AttestationEvidence) -> Check {
        if let Err(why) = self.certificate.check(e.certificate.as_ref()) {
            return Check::Fails(why);
        }
        if self.conditions.is_empty() {
            return Check::Holds;
        }
        let Some(statement) = &e.statement else {
            // A verified attestation whose statement was not kept: nothing to evaluate on.
            return Check::Error("the statement is not available to evaluate conditions".into());
        };
        let outcome = cel::evaluate_all(
            &self.conditions,
            statement.clone(),
            e.certificate.clone(),
            self.deadline,
        );
        let quoted = |i: usize| {
            self.conditions
                .get(i)
                .map_or_else(String::new, |c| cel::quote(&c.expression))
        };
        match outcome {
            cel::AllOutcome::Hold => Check::Holds,
            cel::AllOutcome::Fails(i) => Check::Fails(format!(
                "condition failed: {}",
                self.conditions
                    .get(i)
                    .map_or_else(String::new, Condition::describe)
            )),
            cel::AllOutcome::Error(i, why) => Check::Error(format!(
                "condition {} could not be evaluated: {why}",
                quoted(i)
            )),
        }
    }
}

enum Check {
    Holds,
    Fails(String),
    Error(String),
}

/// One requirement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Met {
    /// Satisfied, by an attestation signed by this signer.
    Satisfied(String),
    /// Definitely not: an `Attested=False` reason and why.
    False(&'static str, String),
    /// Could not tell: an `Attested=Unknown` reason and why.
    Unknown(&'static str, String),
}

/// The `Attested` judgement for every requirement, each paired with the evidence found under
/// its identity; `incomplete` is why attestation discovery was cut short, if it was.
pub fn judge(
    requirements: &[(&Requirement, &[AttestationEvidence])],
    incomplete: Option<&str>,
) -> Judgement {
    if requirements.is_empty() {
        return Judgement::new(
            Status::True,
            reasons::ATTESTATION_NOT_REQUIRED,
            "no policy requires an attestation",
        );
    }
    let results: Vec<(&Requirement, Met)> = requirements
        .iter()
        .map(|(r, e)| (*r, r.judge(e, incomplete)))
        .collect();
    let named = |r: &Requirement, why: &str| format!("{} ({}): {why}", r.name, r.predicate_type);
    if let Some((r, Met::False(reason, why))) =
        results.iter().find(|(_, m)| matches!(m, Met::False(..)))
    {
        return Judgement::new(Status::False, reason, named(r, why));
    }
    if let Some((r, Met::Unknown(reason, why))) =
        results.iter().find(|(_, m)| matches!(m, Met::Unknown(..)))
    {
        // Only reasons the Attested condition knows (a verdict name like SignatureInvalid is
        // not one: could not tell is RegistryUnavailable then).
        let reason =
            if crate::vocabulary::is_known_reason(crate::vocabulary::types::ATTESTED, reason) {
                *reason
            } else {
                reasons::REGISTRY_UNAVAILABLE
            };
        return Judgement::new(Status::Unknown, reason, named(r, why));
    }
    let met: Vec<String> = results
        .iter()
        .map(|(r, m)| match m {
            Met::Satisfied(by) => format!("{} by {by}", r.predicate_type),
            _ => String::new(),
        })
        .collect();
    Judgement::new(
        Status::True,
        reasons::ATTESTED,
        format!("every required attestation verified: {}", met.join("; ")),
    )
}

#[cfg(test)]
#[path = "require_tests.rs"]
mod tests;
