//! The rules, one file per idea; [`check`] runs them all over what was discovered.

pub mod drift;
pub mod identity;
pub mod insecure;
pub mod policy;
pub mod regex;
pub mod suggest;
pub mod variants;

use super::discover::Discovered;
use super::finding::Finding;
use super::input::Object;
use crate::audit::decide::Secrets;
use policy::{LoadedPolicy, NamespaceLabels};
use regex::{Field, RegexAt};

/// Every finding for the discovered sources and the policies.
pub fn check(
    discovered: &Discovered,
    objects: &[Object],
    policies: &[LoadedPolicy],
    namespaces: &NamespaceLabels,
    secrets: &Secrets,
) -> Vec<Finding> {
    let mut out = discovered.findings.clone();
    for d in &discovered.sources {
        let covering = policy::covering(d, policies, namespaces);
        out.extend(policy::check(d, &covering, secrets));
        out.extend(identity::check(d));
        let Some(v) = &d.source.verify else {
            continue;
        };
        let display = d.display();
        for (i, (issuer, subject)) in v.match_oidc_identity.iter().enumerate() {
            for (re, field) in [(issuer, Field::Issuer), (subject, Field::Subject)] {
                let at = d.at(&format!("/matchOIDCIdentity/{i}/{}", field_key(field)));
                let r = RegexAt {
                    re,
                    field,
                    at,
                    owner: &display,
                };
                let (invalid, usable) = regex::invalid(&r);
                out.extend(invalid);
                if !usable || v.secret_ref.is_some() {
                    continue;
                }
                out.extend(regex::breadth(&r));
                if field == Field::Subject {
                    for c in &covering {
                        if let Some(spec) = &c.policy.spec.lint {
                            let findings = regex::lint_spec(&r, spec, &c.policy.name);
                            out.extend(findings.into_iter().map(|f| {
                                if c.assumed.is_some() {
                                    f.warning()
                                } else {
                                    f
                                }
                            }));
                        }
                    }
                }
            }
        }
    }
    for p in policies {
        let (file, line) = p
            .location
            .rsplit_once(':')
            .map(|(f, l)| (f, l.parse().unwrap_or(1)))
            .unwrap_or((p.location.as_str(), 1));
        let owner = format!("ProvenancePolicy/{}", p.name);
        for id in &p.spec.verify.match_oidc_identity {
            for (re, field) in [(&id.issuer, Field::Issuer), (&id.subject, Field::Subject)] {
                let r = RegexAt {
                    re,
                    field,
                    at: (file, line),
                    owner: &owner,
                };
                let (invalid, usable) = regex::invalid(&r);
                out.extend(invalid);
                if usable && p.spec.verify.secret_ref.is_none() {
                    out.extend(regex::breadth(&r));
                }
            }
        }
    }
    out.extend(drift::check(&discovered.sources));
    out.extend(insecure::check(&discovered.sources, objects));
    out.sort();
    out.dedup();
    out
}

fn field_key(f: Field) -> &'static str {
    match f {
        Field::Issuer => "issuer",
        Field::Subject => "subject",
    }
}
