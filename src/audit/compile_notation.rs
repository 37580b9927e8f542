//! A Notation `verify` (`provider: notation`) compiled into an engine [`Policy::Notation`]: the
//! trust policy and trust-store certificates from one Secret, in Flux's layout —
//! `trustpolicy.json` and every key ending `.crt` or `.pem` (at least one).

use std::collections::BTreeMap;

use crate::engine::notation::{NotationPolicy, TRUST_POLICY_KEY};
use crate::engine::Policy;

/// Secret data already fetched, as `super::compile::Secrets` (the same type, named here so
/// that `compile` can call this file without a circle of imports).
type Secrets = BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>;

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

#[cfg(test)]
#[path = "compile_notation_tests.rs"]
mod tests;
