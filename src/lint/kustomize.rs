//! The one kustomize transformation that decides which policies cover a source: a
//! `kustomization.yaml`'s `namespace:` sets the namespace of every namespaced object of the files
//! it lists (and of the kustomizations it includes), overriding what the files say; an outer
//! kustomization overrides an inner one. A FluxInstance whose namespace comes from its
//! kustomization is in that namespace.
//!
//! Then Flux's own: a Flux `Kustomization`'s `spec.targetNamespace` sets the namespace of every
//! namespaced object its `spec.path` builds, over what kustomize made it.
//!
//! A file two kustomizations put in different namespaces (a base of two overlays) keeps what it
//! says: it is both, and lint cannot be each at once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::input::Object;
use super::tree::{join, kustomization_entries, norm, Tree, FLUX_KUSTOMIZE_GROUP};

/// What the kustomizations make a file's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Assigned {
    /// This namespace (or none set along the way).
    One(Option<String>),
    /// Different ones along different kustomizations.
    Ambiguous,
}

/// Sets the namespace kustomize gives each object of `objects`.
pub fn apply_namespaces(objects: &mut [Object], tree: &Tree) {
    let included: BTreeSet<String> = tree
        .kustomizations
        .iter()
        .flat_map(|(dir, &k)| {
            kustomization_entries(&objects[k].value)
                .into_iter()
                .map(move |r| join(dir, &r))
        })
        .filter(|p| tree.kustomizations.contains_key(p))
        .collect();
    let mut assigned: BTreeMap<String, Assigned> = BTreeMap::new();
    for dir in tree
        .kustomizations
        .keys()
        .filter(|d| !included.contains(*d))
    {
        let mut stack = BTreeSet::new();
        walk(objects, tree, dir, None, &mut stack, &mut assigned);
    }
    set(objects, tree, assigned);
    // Flux's targetNamespace, after kustomize's.
    let mut targeted: BTreeMap<String, Assigned> = BTreeMap::new();
    for o in objects.iter() {
        let target = o
            .value
            .pointer("/spec/targetNamespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && !n.contains("${"));
        let path = o.value.pointer("/spec/path").and_then(Value::as_str);
        let (Some(ns), Some(path)) = (target, path) else {
            continue;
        };
        if o.group() != FLUX_KUSTOMIZE_GROUP || o.kind() != "Kustomization" || path.contains("${") {
            continue;
        }
        let mut files = BTreeSet::new();
        tree.build(
            objects,
            &join(&o.root, path.trim_start_matches("./")),
            &mut files,
        );
        for f in files {
            let a = Assigned::One(Some(ns.to_string()));
            let slot = targeted.entry(f).or_insert_with(|| a.clone());
            if *slot != a {
                *slot = Assigned::Ambiguous;
            }
        }
    }
    set(objects, tree, targeted);
}

fn set(objects: &mut [Object], tree: &Tree, assigned: BTreeMap<String, Assigned>) {
    for (file, a) in assigned {
        let Assigned::One(Some(ns)) = a else {
            continue;
        };
        for &i in tree.files.get(&file).into_iter().flatten() {
            if namespaced(&objects[i]) {
                if let Some(meta) = objects[i]
                    .value
                    .get_mut("metadata")
                    .and_then(Value::as_object_mut)
                {
                    meta.insert("namespace".into(), ns.clone().into());
                }
            }
        }
    }
}

fn walk(
    objects: &[Object],
    tree: &Tree,
    dir: &str,
    inherited: Option<&str>,
    stack: &mut BTreeSet<String>,
    assigned: &mut BTreeMap<String, Assigned>,
) {
    let Some(&k) = tree.kustomizations.get(dir) else {
        return;
    };
    if !stack.insert(dir.to_string()) {
        return;
    }
    let own = objects[k]
        .value
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    // The outer kustomization's transformer runs last: it wins.
    let ns = inherited.or(own);
    for r in kustomization_entries(&objects[k].value) {
        let path = join(dir, &r);
        if tree.files.contains_key(&path) {
            let a = Assigned::One(ns.map(str::to_string));
            let slot = assigned.entry(norm(&path)).or_insert_with(|| a.clone());
            if *slot != a {
                *slot = Assigned::Ambiguous;
            }
        } else {
            walk(objects, tree, &path, ns, stack, assigned);
        }
    }
    stack.remove(dir);
}

/// Kinds kustomize's namespace transformer leaves alone.
fn namespaced(o: &Object) -> bool {
    let kind = o.kind();
    !(kind.is_empty()
        || kind == "Namespace"
        || kind.starts_with("Cluster")
        || kind == "CustomResourceDefinition"
        || kind == "Kustomization" && o.group() == "kustomize.config.k8s.io")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::parse_files;

    #[test]
    fn the_outermost_kustomization_namespace_wins_and_conflicts_keep_the_file() {
        let mut objects = parse_files(
        "",
        &[
            ("c/prod/kustomization.yaml", "namespace: prod\nresources: [../../base, flux.yaml]\n"),
            ("c/prod/flux.yaml", "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata: {name: flux}\n"),
            ("c/stage/kustomization.yaml", "namespace: stage\nresources: [../../base]\n"),
            ("base/kustomization.yaml", "namespace: base\nresources: [a.yaml]\n"),
            ("base/a.yaml", "kind: OCIRepository\nmetadata: {name: a, namespace: x}\n"),
            ("solo/kustomization.yaml", "namespace: solo\nresources: [s.yaml]\n"),
            ("solo/s.yaml", "kind: OCIRepository\nmetadata: {name: s, namespace: x}\n---\nkind: Namespace\nmetadata: {name: n}\n"),
        ],
    );
        let tree = Tree::new(&objects);
        apply_namespaces(&mut objects, &tree);
        let ns = |name: &str| {
            objects
                .iter()
                .find(|o| o.name() == name)
                .and_then(|o| o.namespace())
                .map(str::to_string)
        };
        assert_eq!(ns("flux").as_deref(), Some("prod"));
        assert_eq!(
            ns("s").as_deref(),
            Some("solo"),
            "overrides what the file says"
        );
        assert_eq!(
            ns("a").as_deref(),
            Some("x"),
            "prod and stage disagree: as written"
        );
        assert_eq!(ns("n"), None, "a Namespace is cluster-scoped");
    }

    #[test]
    fn a_flux_target_namespace_sets_what_its_path_builds() {
        let mut objects = parse_files(
        "",
        &[
            ("apps/ks.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: app}\nspec:\n  path: ./apps/app\n  targetNamespace: media\n"),
            ("apps/app/kustomization.yaml", "namespace: other\nresources: [oci.yaml]\n"),
            ("apps/app/oci.yaml", "kind: OCIRepository\nmetadata: {name: a}\n"),
        ],
    );
        let tree = Tree::new(&objects);
        apply_namespaces(&mut objects, &tree);
        assert_eq!(
            objects[2].namespace(),
            Some("media"),
            "Flux's targetNamespace wins"
        );
    }
}
