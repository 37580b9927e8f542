//! Rules on identity regexes: `regex-invalid` (Go and Rust disagree), `regex-unanchored` and
//! `identity-too-broad` (attacker-style variants it accepts), and the policy's `spec.lint`
//! demands (`requirePinnedWorkflowRef`, `allowedRefs`).

use regex::Regex;

use super::super::finding::{rules, Finding};
use super::variants::{
    anchors, is_commit, issuer_variants, meant_for, ref_candidates, subject_variants, Workflow,
};
use crate::api::LintSpec;
use crate::engine::regex_inclusion::go as re2;

/// Which half of an identity a regex is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `issuer`.
    Issuer,
    /// `subject`.
    Subject,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Issuer => "issuer",
            Field::Subject => "subject",
        }
    }
}

/// One regex to judge, with where it is written and whose it is.
pub struct RegexAt<'a> {
    /// The regex.
    pub re: &'a str,
    /// Issuer or subject.
    pub field: Field,
    /// `(file, line)`.
    pub at: (&'a str, u64),
    /// The source or policy it belongs to.
    pub owner: &'a str,
}

/// `regex-invalid`: returns the findings and whether the regex can be analysed further.
pub fn invalid(r: &RegexAt) -> (Vec<Finding>, bool) {
    let problems = re2::check(r.re);
    let usable = !problems.iter().any(|p| p.error);
    if problems.is_empty() {
        return (vec![], true);
    }
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    let f = Finding::error(
        rules::REGEX_INVALID,
        r.at,
        r.owner,
        format!("{} regex {:?}: {}", r.field.name(), r.re, messages.join("; ")),
        "write the regex in the common subset of Go RE2 and Rust regex (escape literal characters, no look-around, no Rust-only class syntax)",
    );
    (vec![if usable { f.warning() } else { f }], usable)
}

/// `regex-unanchored` / `identity-too-broad`: the attacker-style variants the regex accepts.
pub fn breadth(r: &RegexAt) -> Vec<Finding> {
    if r.re.trim().is_empty() {
        // A blank regex is `no-signer`'s business, not a breadth question.
        return vec![];
    }
    let Some(meant) = meant_for(r.re) else {
        return vec![];
    };
    let Ok(re) = Regex::new(r.re) else {
        return vec![];
    };
    let variants = match r.field {
        Field::Issuer => issuer_variants(&meant),
        Field::Subject => subject_variants(&meant),
    };
    let (start, end) = anchors(r.re);
    let (mut edge, mut broad) = (vec![], vec![]);
    let mut seen = std::collections::BTreeSet::new();
    for v in variants {
        if v.value == meant || !re.is_match(&v.value) || !seen.insert(v.value.clone()) {
            continue;
        }
        let item = format!("{} ({})", v.what, v.value);
        // Text added only before or after the identity is what `^`/`$` stop.
        let at_edge = v.value.starts_with(&meant) || v.value.ends_with(&meant);
        if at_edge && !(start && end) {
            edge.push(item);
        } else {
            broad.push(item);
        }
    }
    let mut out = vec![];
    if !edge.is_empty() {
        let missing = match (start, end) {
            (false, false) => "`^` and `$`",
            (false, true) => "`^`",
            _ => "`$`",
        };
        out.push(Finding::error(
            rules::REGEX_UNANCHORED,
            r.at,
            r.owner,
            format!(
                "{} regex {:?} has no {missing}: Flux searches it anywhere in the {}, so it also accepts {}",
                r.field.name(),
                r.re,
                r.field.name(),
                edge.join("; ")
            ),
            {
                let inner = r.re.trim_start_matches('^').trim_end_matches('$');
                // An alternation must be grouped, or `^` and `$` bind to its ends only.
                let anchored = if inner.contains('|') {
                    format!("^(?:{inner})$")
                } else {
                    format!("^{inner}$")
                };
                format!("anchor it: '{anchored}' (and escape every literal dot)")
            },
        ));
    }
    if !broad.is_empty() {
        out.push(Finding::error(
            rules::IDENTITY_TOO_BROAD,
            r.at,
            r.owner,
            format!(
                "{} regex {:?} is meant for {meant:?} but also accepts {}",
                r.field.name(),
                r.re,
                broad.join("; ")
            ),
            "write the owner, repository, workflow file and ref literally (escape dots, no `.*`/`.+` inside them); pin the ref to a tag pattern or a commit",
        ));
    }
    out
}

/// The policy's `spec.lint` demands on a subject regex.
pub fn lint_spec(r: &RegexAt, spec: &LintSpec, policy: &str) -> Vec<Finding> {
    if !spec.require_pinned_workflow_ref && spec.allowed_refs.is_empty() {
        return vec![];
    }
    let (Some(meant), Ok(re)) = (meant_for(r.re), Regex::new(r.re)) else {
        return vec![];
    };
    let Some(w) = Workflow::parse(&meant) else {
        return vec![Finding::error(
            rules::IDENTITY_TOO_BROAD,
            r.at,
            r.owner,
            format!(
                "policy {policy} sets spec.lint but subject regex {:?} is not a GitHub workflow identity (https://HOST/OWNER/REPO/.github/workflows/FILE@REF), so its ref cannot be checked",
                r.re
            ),
            "write the subject as a workflow identity",
        )];
    };
    let accepted: Vec<String> = ref_candidates(&w.git_ref)
        .into_iter()
        .filter(|c| re.is_match(&w.with_ref(c)))
        .collect();
    let mut out = vec![];
    if spec.require_pinned_workflow_ref {
        let floating: Vec<&String> = accepted.iter().filter(|c| !is_commit(c)).collect();
        if !floating.is_empty() {
            out.push(Finding::error(
                rules::IDENTITY_TOO_BROAD,
                r.at,
                r.owner,
                format!(
                    "policy {policy} requires a pinned workflow ref (spec.lint.requirePinnedWorkflowRef), but subject regex {:?} accepts {}",
                    r.re,
                    floating.iter().map(|s| format!("@{s}")).collect::<Vec<_>>().join(", ")
                ),
                "end the subject with the workflow's 40-hex commit: '…/.github/workflows/x\\.yml@<commit>$'",
            ));
        }
    }
    if !spec.allowed_refs.is_empty() {
        let allowed: Vec<Regex> = spec
            .allowed_refs
            .iter()
            .filter_map(|a| Regex::new(&format!("^(?:{a})$")).ok())
            .collect();
        let bad: Vec<&String> = accepted
            .iter()
            .filter(|c| !allowed.iter().any(|a| a.is_match(c)))
            .collect();
        if !bad.is_empty() || allowed.len() < spec.allowed_refs.len() {
            out.push(Finding::error(
                rules::IDENTITY_TOO_BROAD,
                r.at,
                r.owner,
                format!(
                    "subject regex {:?} accepts refs outside policy {policy}'s spec.lint.allowedRefs {:?}: {}",
                    r.re,
                    spec.allowed_refs,
                    if bad.is_empty() {
                        "(an allowedRefs regex does not compile, so nothing can be shown allowed)".into()
                    } else {
                        bad.iter().map(|s| format!("@{s}")).collect::<Vec<_>>().join(", ")
                    }
                ),
                "narrow the ref part of the subject to the allowed refs",
            ));
        }
    }
    out
}
