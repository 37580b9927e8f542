//! `drift`: two declarations of the same source with different verify blocks — the same URL,
//! or a FluxInstance's root source also written out as an OCIRepository. The copy that differs
//! is where the guard the others have is quietly missing.
//!
//! Declarations are grouped (same URL, or same root); the block most of a group declares is
//! the reference (ties go to a block that verifies, then to the first), and every declaration
//! that differs from it is reported, pointing at one that has it.

use super::super::discover::Declared;
use super::super::finding::{rules, Finding};

fn from_instance(d: &Declared) -> bool {
    d.verify_pointer != "/spec/verify" && d.verify_pointer != "/spec/chart/spec/verify"
}

/// Whether two declarations are the same source.
fn same(a: &Declared, b: &Declared) -> bool {
    let same_url = !a.url.is_empty() && a.url == b.url;
    // Two FluxInstances (two clusters) may legitimately root different repositories under the
    // same name; a hand-written copy of a root may not differ from it.
    let same_root = a.namespace_known()
        && a.source.kind == b.source.kind
        && a.source.namespace == b.source.namespace
        && a.source.name == b.source.name
        && from_instance(a) != from_instance(b);
    same_url || same_root
}

/// `drift` over every declaration.
pub fn check(sources: &[Declared]) -> Vec<Finding> {
    // Group by connectivity (small n: quadratic is fine).
    let mut group: Vec<usize> = (0..sources.len()).collect();
    for j in 0..sources.len() {
        for i in 0..j {
            if same(&sources[i], &sources[j]) {
                let (gi, gj) = (group[i], group[j]);
                for g in group.iter_mut() {
                    if *g == gj {
                        *g = gi;
                    }
                }
            }
        }
    }
    let mut out = vec![];
    let mut groups: Vec<usize> = group.clone();
    groups.sort_unstable();
    groups.dedup();
    for g in groups {
        let members: Vec<&Declared> = (0..sources.len())
            .filter(|i| group[*i] == g)
            .map(|i| &sources[i])
            .collect();
        if members.len() < 2 {
            continue;
        }
        let count = |d: &Declared| {
            members
                .iter()
                .filter(|m| m.source.verify == d.source.verify)
                .count()
        };
        let reference = members
            .iter()
            .copied()
            .max_by(|a, b| {
                (count(a), a.source.verify.is_some())
                    .cmp(&(count(b), b.source.verify.is_some()))
                    // max_by keeps the last of equals: prefer the earlier declaration.
                    .then(std::cmp::Ordering::Greater)
            })
            .expect("two members");
        for d in members
            .iter()
            .filter(|d| d.source.verify != reference.source.verify)
        {
            out.push(Finding::error(
                rules::DRIFT,
                d.at(""),
                d.display(),
                format!(
                    "{} is declared again ({}) with a different verify block: here {}, but {} at {}:{} has {}",
                    if !d.url.is_empty() && d.url == reference.url {
                        format!("URL {}", d.url)
                    } else {
                        "the FluxInstance root source".into()
                    },
                    d.via.as_deref().unwrap_or("directly"),
                    describe(d),
                    reference.display(),
                    reference.object.file,
                    reference.at("").1,
                    describe(reference),
                ),
                "give every declaration of this artifact the same spec.verify (or remove the duplicate)",
            ));
        }
    }
    out
}

fn describe(d: &Declared) -> String {
    match &d.source.verify {
        None => "no spec.verify".to_string(),
        Some(v) if v.secret_ref.is_some() => {
            format!("key Secret {}", v.secret_ref.as_deref().unwrap_or_default())
        }
        Some(v) => {
            let subjects: Vec<&str> = v
                .match_oidc_identity
                .iter()
                .map(|(_, s)| s.as_str())
                .collect();
            format!("subject(s) {subjects:?}")
        }
    }
}
