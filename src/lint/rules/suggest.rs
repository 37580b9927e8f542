//! The `spec.verify` a finding suggests: what a policy asks for, placed where the declaration
//! needs it — and, for a source that already verifies, never a block that accepts an identity
//! the source refuses today (a fix may narrow a source, never widen it).

use super::super::discover::Declared;
use super::identity::alternation;
use crate::api::ProvenancePolicySpec;
use crate::engine::regex_inclusion::{identities_included, Bounds, Dialect, Identities, Inclusion};

/// The `spec.verify` block a policy asks for, placed where this declaration needs it (for a
/// source without one, or one that uses keys where the policy wants identities or the reverse).
pub fn suggested_verify(d: &Declared, spec: &ProvenancePolicySpec) -> String {
    let v = &spec.verify;
    let block = if let Some(secret) = &v.secret_ref {
        format!(
            "{{provider: cosign, secretRef: {{name: {}}}}}  # a Secret in namespace {} with the keys of Secret {secret}",
            secret.name,
            if d.namespace_known() { d.source.namespace.as_str() } else { "<the source's>" }
        )
    } else {
        match policy_identity(spec) {
            None => "{provider: cosign, matchOIDCIdentity: [{issuer: '<issuer regex>', subject: '<subject regex>'}]}".into(),
            Some((issuer, subject)) => format!(
                "{{provider: cosign, matchOIDCIdentity: [{{issuer: '{}', subject: '{}'}}]}}",
                quote(&issuer),
                quote(&subject)
            ),
        }
    };
    match d.verify_pointer.as_str() {
        "/spec/verify" => format!("add under spec:\n  verify: {block}"),
        "/spec/chart/spec/verify" => format!("add under spec.chart.spec:\n  verify: {block}"),
        _ => format!(
            "add to the FluxInstance's spec.kustomize.patches:\n  - target: {{kind: OCIRepository, name: {}}}\n    patch: |\n      - op: add\n        path: /spec/verify\n        value: {block}",
            d.source.name
        ),
    }
}

/// The fix for a keyless source that accepts identities the policy refuses: the policy's
/// identity as a replacement only when it accepts nothing the source does not, else how to
/// narrow the source's own regexes.
pub fn narrowing_fix(d: &Declared, spec: &ProvenancePolicySpec) -> String {
    let policy: Vec<(&str, &str)> = spec
        .verify
        .match_oidc_identity
        .iter()
        .map(|i| (i.issuer.as_str(), i.subject.as_str()))
        .collect();
    let source: Vec<(&str, &str)> = d
        .source
        .verify
        .iter()
        .flat_map(|v| &v.match_oidc_identity)
        .map(|(i, s)| (i.as_str(), s.as_str()))
        .collect();
    let described = policy
        .iter()
        .map(|(i, s)| format!("issuer=~{i:?} subject=~{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some((issuer, subject)) = policy_identity(spec) {
        // No identities at all means any signer: then anything narrows it.
        let narrows = source.is_empty()
            || included(&[(&issuer, &subject)], Dialect::Go, &source, Dialect::Go);
        if narrows {
            return format!(
                "replace the identities in {} with the policy's (it accepts no identity this source refuses):\n  matchOIDCIdentity:\n    - issuer: '{}'\n      subject: '{}'",
                place(d),
                quote(&issuer),
                quote(&subject)
            );
        }
    }
    format!(
        "narrow the identities in {} until each accepts only what the policy accepts ({described}); the policy's own identity is not suggested, since it would also accept identities this source refuses today",
        place(d)
    )
}

/// The one `matchOIDCIdentity` entry that asks for what the policy does: its entries joined
/// when the join accepts nothing more than they do, else its first entry.
fn policy_identity(spec: &ProvenancePolicySpec) -> Option<(String, String)> {
    let ids = &spec.verify.match_oidc_identity;
    let first = ids.first()?;
    let issuers: Vec<&str> = ids.iter().map(|i| i.issuer.as_str()).collect();
    let subjects: Vec<&str> = ids.iter().map(|i| i.subject.as_str()).collect();
    let joined = (alternation(&issuers), alternation(&subjects));
    let entries: Vec<(&str, &str)> = ids
        .iter()
        .map(|i| (i.issuer.as_str(), i.subject.as_str()))
        .collect();
    if ids.len() == 1
        || included(
            &[(&joined.0, &joined.1)],
            Dialect::Go,
            &entries,
            Dialect::Rust,
        )
    {
        Some(joined)
    } else {
        Some((first.issuer.clone(), first.subject.clone()))
    }
}

fn included(
    a: &[(&str, &str)],
    a_dialect: Dialect,
    b: &[(&str, &str)],
    b_dialect: Dialect,
) -> bool {
    identities_included(
        Identities {
            entries: a,
            dialect: a_dialect,
        },
        Identities {
            entries: b,
            dialect: b_dialect,
        },
        &Bounds::default(),
    ) == Inclusion::Included
}

fn place(d: &Declared) -> &'static str {
    match d.verify_pointer.as_str() {
        "/spec/verify" => "spec.verify",
        "/spec/chart/spec/verify" => "spec.chart.spec.verify",
        _ => "the FluxInstance patch that writes /spec/verify",
    }
}

/// A single-quoted YAML scalar's content.
fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::discover::discover;
    use crate::lint::input::parse_text;

    const GHA: &str = r"^https://token\.actions\.githubusercontent\.com$";

    fn source(subject: &str) -> Declared {
        let text = format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {{name: a, namespace: apps}}\nspec:\n  url: oci://ghcr.io/o/a\n  verify:\n    provider: cosign\n    matchOIDCIdentity:\n      - issuer: '{GHA}'\n        subject: '{}'\n",
            quote(subject)
        );
        discover(&parse_text("f.yaml", &text).unwrap())
            .sources
            .remove(0)
    }

    fn policy(subjects: &[&str]) -> ProvenancePolicySpec {
        let ids: Vec<serde_json::Value> = subjects
            .iter()
            .map(|s| serde_json::json!({"issuer": GHA, "subject": s}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "match": {}, "requireSourceVerify": true, "verify": {"matchOIDCIdentity": ids}
        }))
        .unwrap()
    }

    /// `'…'` after `key: ` on a line of the fix, unquoted.
    fn field(fix: &str, key: &str) -> Option<String> {
        let line = fix
            .lines()
            .find(|l| l.trim_start().trim_start_matches("- ").starts_with(key))?;
        let v = line.split_once(": '")?.1.strip_suffix('\'')?;
        Some(v.replace("''", "'"))
    }

    #[test]
    fn a_suggested_replacement_never_accepts_an_identity_the_source_refuses() {
        let subjects = [
            r"^https://github\.com/o/a/\.github/workflows/r\.yml@refs/tags/v1$",
            r"^https://github\.com/o/a/\.github/workflows/r\.yml@.+$",
            r"^https://github\.com/o/[a-z]+/\.github/workflows/r\.yml@refs/tags/v[0-9]+$",
            r"https://github\.com/o/a/",
            r"^https://github\.com/o/b/\.github/workflows/r\.yml@refs/heads/main$",
        ];
        let mut replaced = 0;
        for s in subjects {
            for p in [
                &subjects[..1],
                &subjects[1..3],
                &subjects[2..],
                &subjects[3..4],
            ] {
                let d = source(s);
                let fix = narrowing_fix(&d, &policy(p));
                if !fix.starts_with("replace") {
                    assert!(fix.starts_with("narrow"), "{fix}");
                    continue;
                }
                replaced += 1;
                let (i, sub) = (
                    field(&fix, "issuer").unwrap(),
                    field(&fix, "subject").unwrap(),
                );
                assert!(
                    included(&[(&i, &sub)], Dialect::Go, &[(GHA, s)], Dialect::Go),
                    "{s} under {p:?}: the suggestion {sub} widens it"
                );
            }
        }
        assert!(replaced > 0, "no case suggested a replacement");
    }

    #[test]
    fn entries_with_one_issuer_are_joined_only_when_the_join_adds_nothing() {
        let p = policy(&[r"^a$", r"^b$"]);
        let (i, s) = policy_identity(&p).unwrap();
        assert_eq!((i.as_str(), s.as_str()), (GHA, "^(?:a|b)$"));
        let mut two_issuers = policy(&[r"^a$", r"^b$"]);
        two_issuers.verify.match_oidc_identity[1].issuer = "^https://other$".into();
        // Joining would pair each issuer with the other's subject: the first entry instead.
        assert_eq!(
            policy_identity(&two_issuers).unwrap(),
            (GHA.into(), "^a$".into())
        );
    }
}
