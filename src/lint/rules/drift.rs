//! `drift`: two declarations of the same source in one cluster with different verify blocks —
//! the same URL, or a FluxInstance's root source also written out as an OCIRepository. The copy
//! that differs is where the guard the others have is quietly missing.
//!
//! Declarations are grouped (same URL, or same root source) in linear time, then split by
//! cluster root ([`Roots`]): what differs between clusters differs on purpose. In each group the
//! block most declarations share is the reference (ties go to a block that verifies, then to the
//! first), and every declaration that differs from it is reported once, pointing at one that has
//! it and naming the cluster root.

use std::collections::{BTreeMap, HashMap};

use super::super::discover::{Declared, Transport};
use super::super::finding::{rules, Finding};
use super::super::roots::Roots;

fn from_instance(d: &Declared) -> bool {
    d.verify_pointer != "/spec/verify" && d.verify_pointer != "/spec/chart/spec/verify"
}

/// Union-find over declaration indices.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[rb.max(ra)] = rb.min(ra);
        }
    }
}

/// The first declaration of a source from a FluxInstance, and the first written by hand.
type Sides = (Option<usize>, Option<usize>);

/// `drift` over every declaration.
pub fn check(sources: &[Declared], roots: &Roots) -> Vec<Finding> {
    let mut groups = Groups((0..sources.len()).collect());
    let mut by_url: HashMap<&str, usize> = HashMap::new();
    // A hand-written copy of a FluxInstance root may not differ from it (two FluxInstances,
    // two clusters, may root different repositories under one name).
    let mut by_name: HashMap<(String, &str, &str), Sides> = HashMap::new();
    for (i, d) in sources.iter().enumerate() {
        // An HTTP chart's URL is its repository's, shared by every chart there; and Flux
        // verifies none of them anyway.
        if !d.url.is_empty() && d.transport != Transport::Http {
            let first = *by_url.entry(d.url.as_str()).or_insert(i);
            groups.union(first, i);
        }
        if d.namespace_known() {
            let key = (
                d.source.kind.to_string(),
                d.source.namespace.as_str(),
                d.source.name.as_str(),
            );
            let slot = by_name.entry(key).or_default();
            let (mine, theirs) = if from_instance(d) {
                (&mut slot.0, slot.1)
            } else {
                (&mut slot.1, slot.0)
            };
            mine.get_or_insert(i);
            if let Some(other) = theirs {
                groups.union(other, i);
            }
        }
    }
    // Members per (group, cluster root); declarations under no root form their own cluster.
    let mut clusters: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, d) in sources.iter().enumerate() {
        let g = groups.find(i);
        let of = roots.of(&d.object.file);
        if of.is_empty() {
            clusters.entry((g, usize::MAX)).or_default().push(i);
        }
        for r in of {
            clusters.entry((g, r)).or_default().push(i);
        }
    }
    let mut reported = vec![false; sources.len()];
    let mut out = vec![];
    for ((_, root), members) in clusters {
        if members.len() < 2 {
            continue;
        }
        let count = |d: &Declared| {
            members
                .iter()
                .filter(|&&m| sources[m].source.verify == d.source.verify)
                .count()
        };
        let reference = members
            .iter()
            .map(|&m| &sources[m])
            .max_by(|a, b| {
                (count(a), a.source.verify.is_some())
                    .cmp(&(count(b), b.source.verify.is_some()))
                    // max_by keeps the last of equals: prefer the earlier declaration.
                    .then(std::cmp::Ordering::Greater)
            })
            .expect("two members");
        let under = roots
            .names
            .get(root)
            .map(|n| format!(" under cluster root {n}"))
            .unwrap_or_default();
        for &m in &members {
            let d = &sources[m];
            if d.source.verify == reference.source.verify || reported[m] {
                continue;
            }
            reported[m] = true;
            out.push(Finding::error(
                rules::DRIFT,
                d.at(""),
                d.display(),
                format!(
                    "{} is declared again ({}){under} with a different verify block: here {}, but {} at {}:{} has {}",
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
                "give every declaration of this artifact in one cluster the same spec.verify (or remove the duplicate)",
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
