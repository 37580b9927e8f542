//! Rules that need a policy: `verify-missing` and `verify-weaker`, with the controller's own
//! matching (`audit::matching`) and `Enforced` comparison (`audit::enforced`).
//!
//! Offline, some inputs the controller reads from the cluster may be absent: a source's
//! namespace (not written in the file), its namespace's labels (no `Namespace` object), key
//! Secrets. Missing namespace facts count as matching (fail closed: a policy that may cover a
//! source is applied); missing key Secrets are compared by reference, and when that cannot
//! decide, the finding is a warning that says so.

use std::collections::BTreeMap;

use super::super::discover::{Declared, Transport};
use super::super::finding::{rules, Finding};
use super::suggest::{narrowing_fix, suggested_verify};
use crate::api::ProvenancePolicySpec;
use crate::audit::decide::{decide, Secrets};
use crate::audit::enforced::enforced_given_formats;
use crate::audit::matching::matches;
use crate::vocabulary::{reasons, Status};

/// A `ProvenancePolicy` from the inputs or `--policy`.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// `metadata.name`.
    pub name: String,
    /// `spec`.
    pub spec: ProvenancePolicySpec,
    /// `file:line`.
    pub location: String,
}

/// Namespace name → labels, from `Namespace` objects in the inputs.
pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// A policy that covers a source, and the namespace fact assumed for it, if any.
#[derive(Debug, Clone, Copy)]
pub struct Covering<'a> {
    /// The policy.
    pub policy: &'a LoadedPolicy,
    /// Why the match is an assumption (the inputs lack the namespace or its labels).
    pub assumed: Option<&'static str>,
}

/// The policies that cover `d`, as the controller would match them.
pub fn covering<'a>(
    d: &Declared,
    policies: &'a [LoadedPolicy],
    namespaces: &NamespaceLabels,
) -> Vec<Covering<'a>> {
    let labels = namespaces.get(&d.source.namespace);
    let empty = BTreeMap::new();
    policies
        .iter()
        .filter_map(|p| {
            let facts_known = d.namespace_known()
                && (labels.is_some() || p.spec.match_.namespace_selector.is_none());
            // `matches` assumes a chart with an unknown repository URL is covered.
            let url_assumed = (p.spec.match_.url_regex.is_some() && d.source.match_url().is_none())
                .then_some("the chart's HelmRepository is not in the inputs; its URL is assumed to match the policy's urlRegex");
            if facts_known {
                return matches(&p.spec, &d.source, labels.unwrap_or(&empty)).then_some(Covering {
                    policy: p,
                    assumed: url_assumed,
                });
            }
            let mut spec = p.spec.clone();
            let assumed = if !d.namespace_known() {
                spec.match_.namespaces.clear();
                spec.match_.namespace_selector = None;
                "the source's namespace is not written in the inputs; assumed to be one the policy covers"
            } else {
                spec.match_.namespace_selector = None;
                "no Namespace object for the source's namespace in the inputs; its labels are assumed to match the policy's namespaceSelector"
            };
            matches(&spec, &d.source, labels.unwrap_or(&empty)).then_some(Covering {
                policy: p,
                assumed: Some(assumed),
            })
        })
        .collect()
}

/// `verify-missing` and `verify-weaker` for one source.
///
/// A finding that rests on an assumed namespace fact is a warning that says so.
pub fn check(d: &Declared, covering: &[Covering], secrets: &Secrets) -> Vec<Finding> {
    let mut out = vec![];
    for assumed in [false, true] {
        let group: Vec<&LoadedPolicy> = covering
            .iter()
            .filter(|c| c.policy.spec.require_source_verify && c.assumed.is_some() == assumed)
            .map(|c| c.policy)
            .collect();
        let why = covering.iter().find_map(|c| c.assumed);
        for mut f in check_requiring(d, &group, secrets) {
            if assumed {
                f.message = format!("{} ({})", f.message, why.unwrap_or_default());
                f = f.warning();
            }
            out.push(f);
        }
    }
    out
}

fn check_requiring(d: &Declared, requiring: &[&LoadedPolicy], secrets: &Secrets) -> Vec<Finding> {
    if requiring.is_empty() || d.transport == Transport::Http {
        // An HTTP chart cannot carry a working spec.verify at all: `http-chart` says so.
        return vec![];
    }
    let names: Vec<&str> = requiring.iter().map(|p| p.name.as_str()).collect();
    let Some(verify) = d
        .source
        .verify
        .as_ref()
        .filter(|_| d.blank_verify().is_none())
    else {
        return vec![Finding::error(
            rules::VERIFY_MISSING,
            d.at(""),
            d.display(),
            format!(
                "{}{}, but policy {} requires one (requireSourceVerify): Flux applies whatever is pushed to {}",
                d.blank_verify().unwrap_or("no spec.verify"),
                d.via.as_ref().map(|v| format!(" (declared through {v})")).unwrap_or_default(),
                names.join(", "),
                if d.url.is_empty() { "its repository" } else { &d.url }
            ),
            suggested_verify(d, &requiring[0].spec),
        )];
    };
    let mut out = vec![];
    let ns = d.source.namespace.as_str();
    for p in requiring.iter().copied() {
        let weaker = |why: String, fix: String| {
            Finding::error(
                rules::VERIFY_WEAKER,
                d.at(""),
                d.display(),
                format!(
                    "policy {} requires spec.verify at least as strict: {why}",
                    p.name
                ),
                fix,
            )
        };
        let replace = || suggested_verify(d, &p.spec);
        match (&p.spec.verify.secret_ref, &verify.secret_ref) {
            (Some(want), None) => out.push(weaker(
                format!("the policy requires keys (Secret {want}), the source is keyless"),
                replace(),
            )),
            (None, Some(_)) => out.push(weaker(
                "the policy requires keyless identities, the source uses keys".into(),
                replace(),
            )),
            (Some(want), Some(have)) if want.namespace == ns && &want.name == have => {}
            (Some(want), Some(have))
                if !secrets.contains_key(&(want.namespace.clone(), want.name.clone()))
                    || !secrets.contains_key(&(ns.to_string(), have.clone())) =>
            {
                out.push(
                    weaker(format!(
                        "cannot compare keys offline: the source uses Secret {ns}/{have}, the policy {want}, and not both are in the inputs"
                    ), replace())
                    .warning(),
                )
            }
            _ => {
                let decision = decide(&d.source, &[(p.name.as_str(), &p.spec)], secrets);
                if let Some(why) = decision.invalid_message() {
                    out.push(
                        weaker(format!("cannot be compared offline: {why}"), replace()).warning(),
                    );
                    continue;
                }
                let j = enforced_given_formats(&d.source, &decision, false);
                // The controller's message already names the policy.
                let mut f = weaker(String::new(), narrowing_fix(d, &p.spec));
                f.message = j.message.clone();
                match (j.status, j.reason) {
                    (Status::Unknown, _) => out.push(f.warning()),
                    (Status::False, reasons::VERIFY_WEAKER) => {
                        // A Secret we do not have is a limit of the inputs, not a weaker verify.
                        out.push(if j.message.contains("not found") { f.warning() } else { f });
                    }
                    (Status::False, reasons::VERIFY_MISSING) => {
                        f.rule = rules::VERIFY_MISSING;
                        f.fix = replace();
                        out.push(f);
                    }
                    _ => {}
                }
            }
        }
    }
    out
}
