//! The rules, one file per idea; [`check`] runs them all over what was discovered.

pub mod claims;
pub mod drift;
pub mod http;
pub mod identity;
pub mod insecure;
pub mod policy;
pub mod regex;
pub mod suggest;
pub mod variants;

use super::discover::{Declared, Discovered};
use super::finding::Finding;
use super::input::Object;
use super::roots::Roots;
use crate::audit::decide::Secrets;
use policy::{LoadedPolicy, NamespaceLabels};
use regex::{Field, RegexAt};

/// What the rules need besides the sources.
pub struct Context<'a> {
    /// Every object of the inputs (templates expanded).
    pub objects: &'a [Object],
    /// The policies.
    pub policies: &'a [LoadedPolicy],
    /// Namespace labels in the inputs.
    pub namespaces: &'a NamespaceLabels,
    /// Public parts of Secrets in the inputs.
    pub secrets: &'a Secrets,
    /// The cluster roots.
    pub roots: &'a Roots,
}

/// Every finding for the discovered sources and the policies, and which declarations Flux
/// does not verify and no policy requires to (the inventory's `no-verify`).
pub fn check(discovered: &Discovered, cx: &Context) -> (Vec<Finding>, Vec<usize>) {
    let mut out = discovered.findings.clone();
    let mut unrequired = vec![];
    for (i, d) in discovered.sources.iter().enumerate() {
        let covering = policy::covering(d, cx.policies, cx.namespaces);
        // A spec.verify that depends on a template input is not judged (said so already).
        let templated = depends_on_template(d);
        if !templated {
            out.extend(policy::check(d, &covering, cx.secrets));
        }
        out.extend(http::check(d, &covering));
        let required = covering.iter().any(|c| c.policy.spec.require_source_verify);
        if !d.verifies() && !required {
            unrequired.push(i);
        }
        if templated {
            continue;
        }
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
    for p in cx.policies {
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
    out.extend(claims::check(cx.policies));
    out.extend(drift::check(&discovered.sources, cx.roots));
    out.extend(insecure::check(&discovered.sources, cx.objects));
    out.sort();
    out.dedup();
    (out, unrequired)
}

fn depends_on_template(d: &Declared) -> bool {
    d.object
        .unresolved
        .iter()
        .any(|p| p.starts_with(&d.verify_pointer))
}

fn field_key(f: Field) -> &'static str {
    match f {
        Field::Issuer => "issuer",
        Field::Subject => "subject",
    }
}
