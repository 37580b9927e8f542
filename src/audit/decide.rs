//! Which engine [`Policy`] values a source must satisfy, from the `ProvenancePolicy` objects
//! that match it or, failing those, from its own `spec.verify`.
//!
//! Rules: several matching policies must all be satisfied; none but a `spec.verify`
//! → re-verify what Flux claims, independently; neither → [`Policy::None`] (signatures are
//! still discovered and reported; the verdict is `NoPolicy` or `Unsigned`). Secrets are an
//! input (already fetched), never read here.

use sha2::{Digest, Sha256};

use super::attestations::{self, RequiredAttestation};
use super::compile::{compile_openpgp, compile_verify, trust_root};
pub use super::compile::{compile_policy_verify, Secrets, TrustRootInput, TRUSTED_ROOT_KEY};
use super::matching::validate_match;
use super::source::FluxSource;
use crate::api::{ProvenancePolicySpec, VerdictCacheKey};
use crate::engine::fingerprint::fields_text;
use crate::engine::helm::Keyring;
use crate::engine::{Evaluation, Policy, Verdict};

/// The name a source's own `spec.verify` is applied under.
pub const SOURCE_VERIFY: &str = "spec.verify";

/// One policy to verify against.
#[derive(Debug, Clone)]
pub struct AppliedPolicy {
    /// The `ProvenancePolicy` name, or [`SOURCE_VERIFY`].
    pub name: String,
    /// What the signature must satisfy.
    pub policy: Policy,
    /// The trust root for keyless signatures.
    pub trust_root: TrustRootInput,
    /// The source must carry a `spec.verify` at least as strict.
    pub require_source_verify: bool,
    /// The attestations it requires (`spec.attestations`; none for a source's `spec.verify`).
    pub attestations: Vec<RequiredAttestation>,
    /// The OpenPGP keys that may sign a Helm chart from an HTTP repository (`verify.openpgp`);
    /// `None`: the policy accepts no `.prov` signer.
    pub openpgp: Option<Keyring>,
}

/// The policies a source must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Every policy that applies (all must be satisfied); empty = no policy.
    pub policies: Vec<AppliedPolicy>,
    /// Matching policies (or the source's `spec.verify`) that cannot be applied, with why.
    pub invalid: Vec<String>,
    /// The source's own `spec.verify`, compiled, to compare strictness (`Enforced`).
    pub source_verify: Option<Result<AppliedPolicy, String>>,
    /// The source is a HelmChart from an HTTP Helm repository (set by the verifier once it has
    /// read the repository): judged by its `.prov`, and never enforced by Flux.
    pub http_chart: bool,
}

impl Decision {
    /// Names of the policies applied, for the status.
    pub fn names(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.name.clone()).collect()
    }

    /// Every attestation requirement of the applied policies, in policy order.
    pub fn required_attestations(&self) -> Vec<&RequiredAttestation> {
        self.policies
            .iter()
            .flat_map(|p| p.attestations.iter())
            .collect()
    }

    /// `Verified=Unknown/PolicyInvalid` message when any applicable policy is unusable.
    pub fn invalid_message(&self) -> Option<String> {
        (!self.invalid.is_empty()).then(|| self.invalid.join("; "))
    }

    /// `(name, policy, trust root)` to evaluate; `Policy::None` when nothing applies.
    pub fn to_evaluate(&self) -> Vec<(&str, &Policy, &TrustRootInput)> {
        static NONE: (Policy, TrustRootInput) = (Policy::None, TrustRootInput::PublicGood);
        if self.policies.is_empty() {
            return vec![("", &NONE.0, &NONE.1)];
        }
        self.policies
            .iter()
            .map(|p| (p.name.as_str(), &p.policy, &p.trust_root))
            .collect()
    }

    /// `(name, OpenPGP keys)` to judge an HTTP chart's `.prov` with; empty when no policy
    /// applies. A source's own `spec.verify` is not among them: Flux ignores it for HTTP
    /// charts (it is for OCI charts only), so it asks nothing of a `.prov`.
    pub fn openpgp_to_evaluate(&self) -> Vec<(&str, Option<&Keyring>)> {
        self.policies
            .iter()
            .filter(|p| p.name != SOURCE_VERIFY)
            .map(|p| (p.name.as_str(), p.openpgp.as_ref()))
            .collect()
    }

    /// The verdict-cache key for `digest`: changes whenever a key, identity or root does.
    pub fn cache_key(&self, digest: &str) -> VerdictCacheKey {
        let (mut policies, mut roots) = (Sha256::new(), Sha256::new());
        // Every field length-prefixed: no name or fingerprint can pass for another.
        for (name, policy, root) in self.to_evaluate() {
            policies.update(fields_text([name, &policy.fingerprint()]));
            roots.update(fields_text([name, &root.fingerprint()]));
        }
        // Only when there are some: a changed requirement is a new key (judged again), an
        // unchanged one is not.
        for p in &self.policies {
            let fp = attestations::fingerprint(&p.attestations);
            if !fp.is_empty() {
                policies.update(fields_text([p.name.as_str(), "attestations", &fp]));
            }
            // Likewise only when present: the keyring's bytes (a new key, a revocation or a new
            // expiry in the Secret is a new key, judged again).
            if let Some(k) = &p.openpgp {
                policies.update(format!("{}\0openpgp\0{}\n", p.name, k.fingerprint));
            }
        }
        VerdictCacheKey {
            // Filled by the verifier, which knows where the signatures are read from.
            registry: String::new(),
            repository: String::new(),
            digest: digest.to_string(),
            policy_fingerprint: format!("sha256:{}", hex::encode(policies.finalize())),
            trust_root_fingerprint: format!("sha256:{}", hex::encode(roots.finalize())),
        }
    }
}

/// Decides the policies for `source` from the policies that match it (`(name, spec)`).
pub fn decide(
    source: &FluxSource,
    matching: &[(&str, &ProvenancePolicySpec)],
    secrets: &Secrets,
) -> Decision {
    let mut decision = Decision {
        source_verify: source
            .verify
            .as_ref()
            .map(|_| compile_source_verify(source, secrets)),
        ..Decision::default()
    };
    let mut sorted = matching.to_vec();
    // Stable order: the combined verdict and the cache key must not depend on watch order.
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, spec) in sorted {
        match compile_policy(name, spec, secrets) {
            Ok(p) => decision.policies.push(p),
            Err(e) => decision.invalid.push(format!("policy {name}: {e}")),
        }
    }
    if matching.is_empty() {
        match &decision.source_verify {
            Some(Ok(p)) => decision.policies.push(p.clone()),
            Some(Err(e)) => decision.invalid.push(format!("{SOURCE_VERIFY}: {e}")),
            None => {}
        }
    }
    decision
}

/// Compiles a `ProvenancePolicy` (also its validity check for the policy's own status).
pub fn compile_policy(
    name: &str,
    spec: &ProvenancePolicySpec,
    secrets: &Secrets,
) -> Result<AppliedPolicy, String> {
    validate_match(&spec.match_)?;
    let (policy, trust_root) = compile_policy_verify(&spec.verify, secrets)?;
    if matches!(policy, Policy::Notation(_)) && !spec.attestations.is_empty() {
        return Err(
            "attestations are cosign-signed: a provider notation policy cannot require them".into(),
        );
    }
    let attestations = attestations::compile(
        name,
        &spec.attestations,
        (&policy, &trust_root),
        &spec.verify,
        secrets,
    )?;
    Ok(AppliedPolicy {
        name: name.to_string(),
        policy,
        trust_root,
        require_source_verify: spec.require_source_verify,
        attestations,
        openpgp: compile_openpgp(&spec.verify, secrets)?,
    })
}

fn compile_source_verify(source: &FluxSource, secrets: &Secrets) -> Result<AppliedPolicy, String> {
    let verify = source.verify.as_ref().ok_or("no spec.verify")?;
    let ns = source.namespace.as_str();
    if verify.provider == "notation" {
        let secret = verify.secret_ref.as_deref().map(|n| (ns, n));
        let secret = super::compile_notation::require_secret(secret)?;
        return Ok(AppliedPolicy {
            name: SOURCE_VERIFY.to_string(),
            policy: super::compile_notation::notation_policy(secret, secrets)?,
            trust_root: TrustRootInput::PublicGood,
            require_source_verify: false,
            attestations: vec![],
            openpgp: None,
        });
    }
    if verify.provider != "cosign" {
        return Err(format!(
            "provider {:?} is not audited (only cosign and notation)",
            verify.provider
        ));
    }
    Ok(AppliedPolicy {
        name: SOURCE_VERIFY.to_string(),
        policy: compile_verify(
            verify.secret_ref.as_deref().map(|n| (ns, n)),
            &verify.match_oidc_identity,
            secrets,
        )?,
        trust_root: trust_root(
            verify.trusted_root_secret_ref.as_deref().map(|n| (ns, n)),
            secrets,
        )?,
        require_source_verify: false,
        attestations: vec![],
        openpgp: None,
    })
}

/// The artifact-level result of several per-policy evaluations (all must be satisfied).
///
/// The worst wins: the first definite failure (a fact about the artifact, whatever the other
/// policies say), else the first could-not-tell, else Verified. Signatures come from the
/// deciding evaluation, since a signature's verdict depends on the policy.
pub fn combine(evaluations: Vec<(String, Evaluation)>) -> Evaluation {
    let several = evaluations.len() > 1;
    let pick = evaluations
        .iter()
        .position(|(_, e)| e.verdict != Verdict::Verified && !e.verdict.is_indeterminate())
        .or_else(|| {
            evaluations
                .iter()
                .position(|(_, e)| e.verdict.is_indeterminate())
        })
        .unwrap_or(0);
    let mut notes = vec![];
    for (_, e) in &evaluations {
        for n in &e.flux_compatibility {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    let Some((name, mut chosen)) = evaluations.into_iter().nth(pick) else {
        return Evaluation {
            verdict: Verdict::Unsigned,
            message: "nothing was evaluated".into(),
            signatures: vec![],
            flux_compatibility: vec![],
            attested: None,
        };
    };
    if several || (!name.is_empty() && name != SOURCE_VERIFY) {
        chosen.message = format!("policy {name}: {}", chosen.message);
    }
    chosen.flux_compatibility = notes;
    chosen
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "decide_openpgp_tests.rs"]
mod openpgp_tests;
