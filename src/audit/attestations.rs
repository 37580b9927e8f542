//! A policy's `attestations:` compiled: each requirement with the identity and trust root its
//! attestations are verified under, its short form and its CEL conditions; and how the
//! requirements of every applied policy become the `Attested` judgement from what
//! `attest::evaluate` found (called once per distinct identity).
//!
//! Compiling is also the policy's validity check: an invalid regex or CEL expression makes the
//! whole policy invalid (`Ready=False/PolicyInvalid` on the policy, `PolicyInvalid` on its
//! sources), never a requirement silently skipped.

use sha2::{Digest, Sha256};

use super::compile::{compile_policy_verify, Secrets, TrustRootInput};
use crate::api::{AttestationRequirement, PolicyVerify};
use crate::engine::attest::cel::Condition;
use crate::engine::attest::require::{self, Requirement};
use crate::engine::attest::AttestationEvidence;
use crate::engine::claims::{CertificateRule, Claim};
use crate::engine::fingerprint::fields_text;
use crate::engine::{Policy, TrustRoot};
use crate::vocabulary::Judgement;

/// One requirement, ready to judge.
#[derive(Debug, Clone)]
pub struct RequiredAttestation {
    /// Type, short form, conditions.
    pub requirement: Requirement,
    /// Who must have signed it.
    pub identity: Policy,
    /// The trust root for keyless attestations.
    pub trust_root: TrustRootInput,
}

impl RequiredAttestation {
    /// Requirements verified under equal keys share one `attest::evaluate`.
    pub fn identity_key(&self) -> String {
        fields_text([self.identity.fingerprint(), self.trust_root.fingerprint()])
    }

    /// Everything the judgement depends on (for the verdict-cache key), length-prefixed.
    pub fn fingerprint_text(&self) -> String {
        fields_text([self.identity_key(), self.requirement.fingerprint_text()])
    }
}

/// Compiles `spec.attestations` of policy `name`, whose own `verify` compiled to `default`.
pub fn compile(
    name: &str,
    requirements: &[AttestationRequirement],
    default: (&Policy, &TrustRootInput),
    policy_verify: &PolicyVerify,
    secrets: &Secrets,
) -> Result<Vec<RequiredAttestation>, String> {
    requirements
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = format!("spec.attestations[{i}]");
            compile_one(name, &at, spec, default, policy_verify, secrets)
                .map_err(|e| format!("{at}: {e}"))
        })
        .collect()
}

fn compile_one(
    name: &str,
    at: &str,
    spec: &AttestationRequirement,
    default: (&Policy, &TrustRootInput),
    policy_verify: &PolicyVerify,
    secrets: &Secrets,
) -> Result<RequiredAttestation, String> {
    if spec.predicate_type.trim().is_empty() {
        return Err("predicateType is empty".into());
    }
    let (identity, trust_root) = match &spec.verify {
        None => (default.0.clone(), default.1.clone()),
        Some(v) => {
            // Its own identity; the policy's trust root unless it names one.
            let mut v = v.clone();
            if v.trusted_root_secret_ref.is_none() {
                v.trusted_root_secret_ref = policy_verify.trusted_root_secret_ref.clone();
            }
            compile_policy_verify(&v, secrets).map_err(|e| format!("verify: {e}"))?
        }
    };
    let mut short = vec![];
    for (claim, re) in [
        (Claim::SourceRepository, &spec.source_repository),
        (Claim::SourceRef, &spec.source_ref),
        (Claim::SignerWorkflow, &spec.signer_workflow),
    ] {
        if let Some(re) = re.as_deref() {
            short.push((claim, re));
        }
    }
    if spec.deny_self_hosted_runners {
        short.push((Claim::RunnerEnvironment, "github-hosted"));
    }
    let certificate = CertificateRule::new(short).map_err(|e| e.to_string())?;
    let conditions = spec
        .conditions
        .iter()
        .map(|c| Condition::compile(&c.expression, c.message.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RequiredAttestation {
        requirement: Requirement::new(
            format!("policy {name} {at}"),
            &spec.predicate_type,
            certificate,
            conditions,
        ),
        identity,
        trust_root,
    })
}

/// A stable fingerprint of requirements (empty when there are none, so policies without
/// attestations keep their verdict-cache keys).
pub fn fingerprint<'a>(requirements: impl IntoIterator<Item = &'a RequiredAttestation>) -> String {
    let mut h = Sha256::new();
    let mut any = false;
    for r in requirements {
        any = true;
        h.update(fields_text([r.fingerprint_text()]).as_bytes());
    }
    if any {
        format!("sha256:{}", hex::encode(h.finalize()))
    } else {
        String::new()
    }
}

/// The `Attested` judgement: `evidence_for` gives the evidence found under a requirement's
/// identity (the caller evaluates each distinct identity once); `incomplete` is why discovery
/// was cut short, if it was.
pub fn judge<'a>(
    requirements: &[&'a RequiredAttestation],
    evidence_for: impl Fn(&RequiredAttestation) -> &'a [AttestationEvidence],
    incomplete: Option<&str>,
) -> Judgement {
    let pairs: Vec<(&Requirement, &[AttestationEvidence])> = requirements
        .iter()
        .map(|r| (&r.requirement, evidence_for(r)))
        .collect();
    require::judge(&pairs, incomplete)
}

/// The trust root a requirement's attestations are verified against.
pub fn trust_root(input: &TrustRootInput) -> Result<TrustRoot, String> {
    match input {
        TrustRootInput::PublicGood => TrustRoot::public_good(),
        TrustRootInput::Json { secret, json } => TrustRoot::from_json(secret, json),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "attestations_tests.rs"]
mod tests;
