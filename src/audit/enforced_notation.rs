//! `Enforced` for a source whose `spec.verify` uses `provider: notation`: does Flux's own
//! trust policy (from its Secret) block what the policies reject?
//!
//! Flux's statement for the source's repository must exist and enforce authenticity (at
//! `audit` Flux serves an artifact whose signer it does not trust, at `skip` it checks
//! nothing). Against a policy that requires the source's `spec.verify` (`requireSourceVerify`)
//! and a Notation trust policy, it must be at least as strict: every check enforced at least as
//! much, no trust store type the policy's statement lacks, no certificate the policy's trust
//! store lacks, and each trusted identity at least as specific as one of the policy's (a `*`
//! only where the policy has `*` too).

use super::decide::Decision;
use super::source::FluxSource;
use crate::engine::notation::trust_policy::{Action, Check, Identities, Statement};
use crate::engine::notation::NotationPolicy;
use crate::engine::Policy;
use crate::vocabulary::{self as vocab, Judgement};

/// `Enforced` for a `provider: notation` source.
pub fn enforced(source: &FluxSource, decision: &Decision) -> Judgement {
    let have = match &decision.source_verify {
        Some(Ok(p)) => match &p.policy {
            Policy::Notation(n) => n.as_ref(),
            _ => return vocab::verify_weaker("spec.verify is not a Notation trust policy"),
        },
        Some(Err(e)) => return vocab::verify_weaker(format!("spec.verify cannot work: {e}")),
        None => return vocab::verify_weaker("spec.verify cannot work: it was not compiled"),
    };
    let scope = scope_of(&source.url);
    let Some(statement) = have.trust_policy.applicable(&scope) else {
        return vocab::verify_weaker(format!(
            "Flux's trust policy has no statement for {scope}: every verification fails"
        ));
    };
    if statement.level.is_skip() {
        return vocab::verify_weaker(format!(
            "Flux's trust policy statement {:?} is at level skip for {scope}: Flux verifies nothing",
            statement.name
        ));
    }
    if statement.level.action(Check::Authenticity) != Action::Enforce {
        return vocab::verify_weaker(format!(
            "Flux's trust policy statement {:?} is at level {}: Flux serves an artifact whose \
             signer it does not trust",
            statement.name, statement.level.name
        ));
    }
    for required in decision.policies.iter().filter(|p| p.require_source_verify) {
        let why = match &required.policy {
            Policy::None => continue,
            Policy::Notation(want) => at_least_as_strict(statement, have, want, &scope).err(),
            _ => {
                Some("the policy requires a cosign signature, the source verifies Notation".into())
            }
        };
        if let Some(why) = why {
            return vocab::verify_weaker(format!(
                "policy {} requires spec.verify at least as strict: {why}",
                required.name
            ));
        }
    }
    vocab::enforced("Flux verifies this source's Notation signature itself")
}

/// The trust policy's registry scope of an OCIRepository URL (`oci://host/repo` → `host/repo`).
pub fn scope_of(url: &str) -> String {
    url.strip_prefix("oci://").unwrap_or(url).to_string()
}

fn at_least_as_strict(
    statement: &Statement,
    have: &NotationPolicy,
    want: &NotationPolicy,
    scope: &str,
) -> Result<(), String> {
    let Some(required) = want.trust_policy.applicable(scope) else {
        // The policy's own verdict is then NoPolicy; nothing to compare.
        return Ok(());
    };
    let strength = |a: Action| match a {
        Action::Enforce => 2,
        Action::Log => 1,
        Action::Skip => 0,
    };
    for check in [
        Check::Integrity,
        Check::Authenticity,
        Check::AuthenticTimestamp,
        Check::Expiry,
        Check::Revocation,
    ] {
        if strength(statement.level.action(check)) < strength(required.level.action(check)) {
            return Err(format!(
                "Flux's level {} does not enforce {} as the policy's level {} does",
                statement.level.name,
                check.as_str(),
                required.level.name
            ));
        }
    }
    if let Some(t) = statement
        .store_types
        .iter()
        .find(|t| !required.store_types.contains(t))
    {
        return Err(format!("Flux also trusts a {t} trust store"));
    }
    if let Some(c) = have
        .certificates
        .iter()
        .find(|c| !want.certificates.iter().any(|w| w.der == c.der))
    {
        return Err(format!("Flux also trusts certificate {}", c.subject()));
    }
    match (&statement.identities, &required.identities) {
        (_, Identities::Any) => Ok(()),
        (Identities::Any, Identities::Subjects(_)) => {
            Err("Flux trusts any identity ('*'), the policy only some".into())
        }
        (Identities::Subjects(h), Identities::Subjects(w)) => {
            match h
                .iter()
                .find(|(_, hd)| !w.iter().any(|(_, wd)| wd.is_subset_of(hd)))
            {
                Some((name, _)) => Err(format!("Flux also trusts {name}")),
                None => Ok(()),
            }
        }
    }
}
