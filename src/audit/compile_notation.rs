//! A Notation `verify` (`provider: notation`) compiled into an engine [`Policy::Notation`]: the
//! trust policy and trust-store certificates from one Secret, in Flux's layout —
//! `trustpolicy.json` and every key ending `.crt` or `.pem` (at least one).

use super::compile::Secrets;
use crate::engine::notation::{NotationPolicy, TRUST_POLICY_KEY};
use crate::engine::Policy;

/// The Notation policy of Secret `(namespace, name)`.
pub fn notation_policy((ns, name): (&str, &str), secrets: &Secrets) -> Result<Policy, String> {
    let data = secrets
        .get(&(ns.to_string(), name.to_string()))
        .ok_or_else(|| format!("Secret {ns}/{name} not found"))?;
    let source = format!("Secret {ns}/{name}");
    let trust_policy = data
        .get(TRUST_POLICY_KEY)
        .ok_or_else(|| format!("{source} has no {TRUST_POLICY_KEY}"))?;
    let files = data.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
    let policy = NotationPolicy::from_files(&source, trust_policy, files)?;
    Ok(Policy::Notation(Box::new(policy)))
}

/// A Notation `verify` needs its Secret (Flux: "verification secret cannot be empty").
pub fn require_secret<'a>(
    secret: Option<(&'a str, &'a str)>,
) -> Result<(&'a str, &'a str), String> {
    secret.ok_or_else(|| {
        "provider notation needs a secretRef (trustpolicy.json and certificates)".into()
    })
}

/// A source's own `spec.verify` with `provider: notation` (its Secret in its namespace).
pub(super) fn source_verify(
    namespace: &str,
    secret: Option<&str>,
    secrets: &Secrets,
) -> Result<super::decide::AppliedPolicy, String> {
    let secret = require_secret(secret.map(|n| (namespace, n)))?;
    Ok(super::decide::AppliedPolicy {
        name: super::decide::SOURCE_VERIFY.to_string(),
        policy: notation_policy(secret, secrets)?,
        trust_root: super::compile::TrustRootInput::PublicGood,
        require_source_verify: false,
        attestations: vec![],
    })
}

#[cfg(test)]
#[path = "compile_notation_tests.rs"]
mod tests;
