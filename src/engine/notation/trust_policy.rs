//! The Notary Project trust policy (`trustpolicy.json`, version 1.0): parsed and validated as
//! notation-go validates it, the statement that applies to an artifact's repository, and what
//! its `signatureVerification` level (with overrides) enforces, logs or skips.
//!
//! As in source-controller, a statement at level `skip` has its trust stores and identities
//! dropped before validation (Flux's `CleanTrustPolicy`), and every named trust store holds the
//! same certificates: all of the Secret's (or directory's) `*.crt`/`*.pem`. Only the store
//! *type* matters: `ca` for `notary.x509` signatures, `signingAuthority` for
//! `notary.x509.signingAuthority`, `tsa` for timestamps.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dn::{parse_dn, Dn};

/// What a level does with one kind of check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A failure fails the verification.
    Enforce,
    /// A failure is reported, and verification goes on.
    Log,
    /// Not checked.
    Skip,
}

/// The checks a level configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The envelope's signature and structure (never overridable).
    Integrity,
    /// The chain to the trust store, and the trusted identities.
    Authenticity,
    /// The signing time is authentic: a timestamp, or the chain valid now.
    AuthenticTimestamp,
    /// `io.cncf.notary.expiry`.
    Expiry,
    /// OCSP/CRL revocation of the chain.
    Revocation,
}

impl Check {
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "integrity" => Check::Integrity,
            "authenticity" => Check::Authenticity,
            "authenticTimestamp" => Check::AuthenticTimestamp,
            "expiry" => Check::Expiry,
            "revocation" => Check::Revocation,
            _ => return None,
        })
    }

    /// The check's name, as in `override`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }
}

/// A statement's level: its name and what it does with each check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// `strict`, `permissive`, `audit`, `skip`, or `custom` (with overrides).
    pub name: String,
    enforcement: BTreeMap<Check, Action>,
}

impl Level {
    fn base(name: &str) -> Option<Self> {
        use Action::{Enforce as E, Log as L, Skip as S};
        let actions = match name {
            "strict" => [E, E, E, E, E],
            "permissive" => [E, E, L, L, L],
            "audit" => [E, L, L, L, L],
            "skip" => [S, S, S, S, S],
            _ => return None,
        };
        let checks = [
            Check::Integrity,
            Check::Authenticity,
            Check::AuthenticTimestamp,
            Check::Expiry,
            Check::Revocation,
        ];
        Some(Self {
            name: name.to_string(),
            enforcement: checks.into_iter().zip(actions).collect(),
        })
    }

    /// What this level does with `check`.
    pub fn action(&self, check: Check) -> Action {
        self.enforcement
            .get(&check)
            .copied()
            .unwrap_or(Action::Enforce)
    }

    /// True for `skip`: nothing is verified.
    pub fn is_skip(&self) -> bool {
        self.name == "skip"
    }
}

/// `signatureVerification` of a statement.
#[derive(Debug, Clone, Deserialize)]
struct SignatureVerification {
    #[serde(default)]
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    #[serde(rename = "verifyTimestamp", default)]
    verify_timestamp: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawStatement {
    #[serde(default)]
    name: String,
    #[serde(rename = "registryScopes", default)]
    registry_scopes: Vec<String>,
    #[serde(rename = "signatureVerification")]
    signature_verification: SignatureVerification,
    #[serde(rename = "trustStores", default)]
    trust_stores: Vec<String>,
    #[serde(rename = "trustedIdentities", default)]
    trusted_identities: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawDocument {
    #[serde(default)]
    version: String,
    #[serde(rename = "trustPolicies", default)]
    trust_policies: Vec<RawStatement>,
}

/// Who a statement trusts to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identities {
    /// `*`: any signer whose chain reaches the trust store.
    Any,
    /// `x509.subject:` distinguished names; the leaf's subject must contain one of them.
    Subjects(Vec<(String, Dn)>),
}

/// One validated trust policy statement.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Its name.
    pub name: String,
    /// `*`, or repositories (`registry/repository`).
    pub registry_scopes: Vec<String>,
    /// Its level.
    pub level: Level,
    /// `verifyTimestamp: afterCertExpiry` (else `always`).
    pub timestamp_after_cert_expiry: bool,
    /// Trust store types it names (`ca`, `signingAuthority`, `tsa`).
    pub store_types: Vec<String>,
    /// Who it trusts.
    pub identities: Identities,
}

/// A validated trust policy document.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// The statements, in document order.
    pub statements: Vec<Statement>,
}

impl TrustPolicy {
    /// Parses and validates `trustpolicy.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let doc: RawDocument = serde_json::from_slice(bytes)
            .map_err(|e| format!("trustpolicy.json does not parse: {e}"))?;
        if doc.version.is_empty() {
            return Err("trust policy document has no version".into());
        }
        if doc.version != "1.0" {
            return Err(format!(
                "trust policy version {:?} is not supported (1.0)",
                crate::registry::bounded::truncate(&doc.version)
            ));
        }
        if doc.trust_policies.is_empty() {
            return Err("trust policy document has no statements".into());
        }
        let mut statements: Vec<Statement> = vec![];
        for raw in doc.trust_policies {
            if statements.iter().any(|s| s.name == raw.name) {
                return Err(format!(
                    "two trust policy statements are named {:?}",
                    crate::registry::bounded::truncate(&raw.name)
                ));
            }
            statements.push(statement(raw)?);
        }
        let mut seen = std::collections::HashSet::new();
        for s in &statements {
            if s.registry_scopes.is_empty() {
                return Err(format!("statement {:?} has no registry scopes", s.name));
            }
            if s.registry_scopes.len() > 1 && s.registry_scopes.iter().any(|r| r == "*") {
                return Err(format!(
                    "statement {:?} mixes the wildcard scope with others",
                    s.name
                ));
            }
            for scope in &s.registry_scopes {
                if scope != "*" {
                    validate_scope(scope)?;
                }
                if !seen.insert(scope.clone()) {
                    return Err(format!(
                        "registry scope {:?} is in more than one statement",
                        crate::registry::bounded::truncate(scope)
                    ));
                }
            }
        }
        Ok(Self { statements })
    }

    /// The statement for `scope` (`registry/repository`): the one naming it, else the
    /// wildcard one, else none.
    pub fn applicable(&self, scope: &str) -> Option<&Statement> {
        self.statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|r| r == scope))
            .or_else(|| {
                self.statements
                    .iter()
                    .find(|s| s.registry_scopes.iter().any(|r| r == "*"))
            })
    }
}

fn statement(raw: RawStatement) -> Result<Statement, String> {
    let name = raw.name;
    if name.is_empty() {
        return Err("a trust policy statement has no name".into());
    }
    let bad = |m: String| {
        format!(
            "trust policy statement {:?}: {m}",
            crate::registry::bounded::truncate(&name)
        )
    };
    let sv = raw.signature_verification;
    if sv.level.is_empty() {
        return Err(bad("signatureVerification has no level".into()));
    }
    let mut level = Level::base(&sv.level).ok_or_else(|| {
        bad(format!(
            "level {:?} is not supported",
            crate::registry::bounded::truncate(&sv.level)
        ))
    })?;
    if !sv.r#override.is_empty() {
        if level.is_skip() {
            return Err(bad("level skip cannot be overridden".into()));
        }
        level.name = "custom".into();
        for (k, v) in &sv.r#override {
            let check = Check::from_name(k).ok_or_else(|| {
                bad(format!(
                    "override of unknown check {:?}",
                    crate::registry::bounded::truncate(k)
                ))
            })?;
            let action = match v.as_str() {
                "enforce" => Action::Enforce,
                "log" => Action::Log,
                "skip" => Action::Skip,
                other => {
                    return Err(bad(format!(
                        "override action {:?}",
                        crate::registry::bounded::truncate(other)
                    )))
                }
            };
            if check == Check::Integrity {
                return Err(bad("integrity cannot be overridden".into()));
            }
            if check != Check::Revocation && action == Action::Skip {
                return Err(bad(format!("{k} cannot be skipped")));
            }
            level.enforcement.insert(check, action);
        }
    }
    let timestamp_after_cert_expiry = match sv.verify_timestamp.as_str() {
        "" | "always" => false,
        "afterCertExpiry" => true,
        other => {
            return Err(bad(format!(
                "verifyTimestamp {:?} (always or afterCertExpiry)",
                crate::registry::bounded::truncate(other)
            )))
        }
    };
    let (stores, identities) = if level.is_skip() {
        // Flux drops them before notation-go validates the document.
        (vec![], vec![])
    } else {
        (raw.trust_stores, raw.trusted_identities)
    };
    if !level.is_skip() && (stores.is_empty() || identities.is_empty()) {
        return Err(bad("needs both trust stores and trusted identities".into()));
    }
    let mut store_types = vec![];
    for s in &stores {
        let (kind, store_name) = s.split_once(':').ok_or_else(|| {
            bad(format!(
                "trust store {:?} is not TYPE:NAME",
                crate::registry::bounded::truncate(s)
            ))
        })?;
        if !matches!(kind, "ca" | "signingAuthority" | "tsa") {
            return Err(bad(format!(
                "trust store type {:?}",
                crate::registry::bounded::truncate(kind)
            )));
        }
        let valid_name = !store_name.is_empty()
            && store_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid_name {
            return Err(bad(format!(
                "trust store name {:?}",
                crate::registry::bounded::truncate(store_name)
            )));
        }
        store_types.push(kind.to_string());
    }
    let identities = if identities.iter().any(|i| i == "*") {
        if identities.len() > 1 {
            return Err(bad(
                "the wildcard identity cannot be mixed with others".into()
            ));
        }
        Identities::Any
    } else {
        let mut subjects = vec![];
        for i in &identities {
            let (prefix, value) = i.split_once(':').ok_or_else(|| {
                bad(format!(
                    "trusted identity {:?} has no prefix",
                    crate::registry::bounded::truncate(i)
                ))
            })?;
            // Other prefixes are a plugin's business; notation-go ignores them here.
            if prefix == "x509.subject" {
                let dn = parse_dn(value).map_err(|e| bad(format!("trusted identity: {e}")))?;
                subjects.push((i.clone(), dn));
            }
        }
        for (a, da) in &subjects {
            for (b, db) in &subjects {
                if a != b && da.is_subset_of(db) {
                    return Err(bad(format!("trusted identities {a:?} and {b:?} overlap")));
                }
            }
        }
        Identities::Subjects(subjects)
    };
    Ok(Statement {
        registry_scopes: raw.registry_scopes,
        name,
        level,
        timestamp_after_cert_expiry,
        store_types,
        identities,
    })
}

/// A registry scope is `domain[:port]/repository`, with no tag, digest or wildcard.
fn validate_scope(scope: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "registry scope {:?} is not a repository (domain/repository)",
            crate::registry::bounded::truncate(scope)
        )
    };
    let (domain, repo) = scope.split_once('/').ok_or_else(bad)?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    let domain_ok = host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let repo_ok = crate::registry::is_repository(repo);
    if scope.contains('*') || !domain_ok || !repo_ok {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
#[path = "trust_policy_tests.rs"]
mod tests;
