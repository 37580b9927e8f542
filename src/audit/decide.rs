//! Which engine [`Policy`] values a source must satisfy, from the `ProvenancePolicy` objects
//! that match it or, failing those, from its own `spec.verify`.
//!
//! Rules (issue 4): several matching policies must all be satisfied; none but a `spec.verify`
//! → re-verify what Flux claims, independently; neither → [`Policy::None`] (signatures are
//! still discovered and reported; the verdict is `NoPolicy` or `Unsigned`). Secrets are an
//! input (already fetched), never read here.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::attestations::{self, RequiredAttestation};
use super::matching::validate_match;
use super::source::FluxSource;
use crate::api::{OidcIdentity, PolicyVerify, ProvenancePolicySpec, VerdictCacheKey};
use crate::engine::{Evaluation, IdentityRule, Policy, PublicKey, Verdict};

/// Secret data already fetched by the caller: `(namespace, name)` → key → bytes.
pub type Secrets = BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>;

/// The name a source's own `spec.verify` is applied under.
pub const SOURCE_VERIFY: &str = "spec.verify";
/// The Secret key holding a private Sigstore's trust root (Flux's name).
pub const TRUSTED_ROOT_KEY: &str = "trusted_root.json";

/// Which trust root a policy verifies keyless signatures against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRootInput {
    /// Sigstore public-good (embedded).
    PublicGood,
    /// A `trusted_root.json` from a Secret.
    Json {
        /// `namespace/name` of the Secret, for messages.
        secret: String,
        /// The file's bytes.
        json: Vec<u8>,
    },
}

impl TrustRootInput {
    /// Same value as `engine::TrustRoot::fingerprint` (sha256 of the JSON), without parsing.
    pub fn fingerprint(&self) -> String {
        let json = match self {
            TrustRootInput::PublicGood => {
                sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
            }
            TrustRootInput::Json { json, .. } => json.as_slice(),
        };
        format!("sha256:{}", hex::encode(Sha256::digest(json)))
    }
}

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

    /// The verdict-cache key for `digest`: changes whenever a key, identity or root does.
    pub fn cache_key(&self, digest: &str) -> VerdictCacheKey {
        let (mut policies, mut roots) = (Sha256::new(), Sha256::new());
        for (name, policy, root) in self.to_evaluate() {
            policies.update(format!("{name}\0{}\n", policy.fingerprint()));
            roots.update(format!("{name}\0{}\n", root.fingerprint()));
        }
        // Only when there are some: the keys of policies without attestations are unchanged,
        // and a changed requirement is a new key (judged again), an unchanged one is not.
        for p in &self.policies {
            let fp = attestations::fingerprint(&p.attestations);
            if !fp.is_empty() {
                policies.update(format!("{}\0attestations\0{fp}\n", p.name));
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
    })
}

/// A policy's `verify` (or an attestation requirement's): who may sign, with
/// `matchCertificate` on every identity, and the trust root.
pub fn compile_policy_verify(
    verify: &PolicyVerify,
    secrets: &Secrets,
) -> Result<(Policy, TrustRootInput), String> {
    let PolicyVerify {
        secret_ref,
        match_oidc_identity,
        trusted_root_secret_ref,
        match_certificate,
        ..
    } = verify;
    accepts_someone(secret_ref.is_some(), match_oidc_identity)?;
    let identities: Vec<(String, String)> = match_oidc_identity
        .iter()
        .map(|i| (i.issuer.clone(), i.subject.clone()))
        .collect();
    let key_secret = secret_ref
        .as_ref()
        .map(|r| (r.namespace.as_str(), r.name.as_str()));
    let root_secret = trusted_root_secret_ref
        .as_ref()
        .map(|r| (r.namespace.as_str(), r.name.as_str()));
    let claims = attestations::certificate_rule(match_certificate.as_ref())?;
    let policy = match compile_verify(key_secret, &identities, secrets)? {
        Policy::Keyless { identities } => Policy::Keyless {
            identities: identities
                .into_iter()
                .map(|i| i.with_certificate(claims.clone()))
                .collect(),
        },
        other => other,
    };
    Ok((policy, trust_root(root_secret, secrets)?))
}

/// A `ProvenancePolicy` must say who may sign: a key Secret, or at least one identity whose
/// issuer and subject regexes are both non-empty. With neither it would compile to keyless with
/// no identity, which accepts any certificate the trust root knows — an attacker's own CI
/// workflow included. The CRD rejects such a policy at admission (`x-kubernetes-validations`);
/// this is the same rule for one stored before the rule existed, or read from a file.
///
/// (A source's own `spec.verify` is not held to it: there "no identity" is Flux's any-signer
/// mode, audited as such and reported weak by `Enforced`.)
fn accepts_someone(has_key: bool, identities: &[OidcIdentity]) -> Result<(), String> {
    if has_key {
        return Ok(());
    }
    if identities.is_empty() {
        return Err("verify names neither a key (secretRef) nor an identity \
                    (matchOIDCIdentity): it would accept any signer"
            .into());
    }
    if identities
        .iter()
        .any(|i| i.issuer.is_empty() || i.subject.is_empty())
    {
        return Err(
            "a matchOIDCIdentity entry has an empty issuer or subject regex, which \
                    matches any signer"
                .into(),
        );
    }
    Ok(())
}

fn compile_source_verify(source: &FluxSource, secrets: &Secrets) -> Result<AppliedPolicy, String> {
    let verify = source.verify.as_ref().ok_or("no spec.verify")?;
    if verify.provider != "cosign" {
        return Err(format!(
            "provider {:?} is not audited (only cosign)",
            verify.provider
        ));
    }
    let ns = source.namespace.as_str();
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
    })
}

/// Flux's rule: a key Secret wins and identities are then ignored; otherwise keyless.
fn compile_verify(
    key_secret: Option<(&str, &str)>,
    identities: &[(String, String)],
    secrets: &Secrets,
) -> Result<Policy, String> {
    if let Some(secret) = key_secret {
        let data = secret_data(secret, secrets)?;
        let keys = data
            .iter()
            .filter(|(k, _)| k.ends_with(".pub"))
            .map(|(k, pem)| PublicKey::from_pem(k, pem).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(format!(
                "Secret {}/{} has no *.pub entry",
                secret.0, secret.1
            ));
        }
        // Flux's key mode never consults the log; the audit judges by the same rule.
        return Ok(Policy::Keys {
            keys,
            require_tlog: false,
        });
    }
    let identities = identities
        .iter()
        .map(|(i, s)| IdentityRule::new(i, s).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(Policy::Keyless { identities })
}

fn trust_root(secret: Option<(&str, &str)>, secrets: &Secrets) -> Result<TrustRootInput, String> {
    let Some(secret) = secret else {
        return Ok(TrustRootInput::PublicGood);
    };
    let json = secret_data(secret, secrets)?
        .get(TRUSTED_ROOT_KEY)
        .ok_or_else(|| format!("Secret {}/{} has no {TRUSTED_ROOT_KEY}", secret.0, secret.1))?;
    Ok(TrustRootInput::Json {
        secret: format!("{}/{}", secret.0, secret.1),
        json: json.clone(),
    })
}

fn secret_data<'a>(
    (ns, name): (&str, &str),
    secrets: &'a Secrets,
) -> Result<&'a BTreeMap<String, Vec<u8>>, String> {
    secrets
        .get(&(ns.to_string(), name.to_string()))
        .ok_or_else(|| format!("Secret {ns}/{name} not found"))
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
