//! Cluster roots: a fleet repository deploys several clusters, and what differs between them
//! (a staging signer from the main branch, prod from release tags) differs on purpose. lint
//! finds each cluster's root and the files it deploys, so declarations are compared only within
//! one cluster.
//!
//! A root is a `FluxInstance` (its `spec.sync.path`), a Flux `Kustomization` named
//! `flux-system` (the bootstrap root, its `spec.path`), the Flux `Kustomization`s with
//! `spec.kubeConfig` of one kubeconfig Secret (they deploy into another cluster), or a
//! `clusters/<name>` directory none of whose files those roots deploy (bootstrapped there, or an
//! overlay built on its own). From a root's paths the files are followed as Flux builds them
//! ([`Tree::build`]), then through every Flux `Kustomization` found there whose source is the
//! root's. Paths are relative to the directory given on the command line; a path with a `${…}`
//! substitution is not followed. Files no root deploys form one group of their own; when there
//! is only one root, every file is under it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::flux_instance::is_flux_instance;
use super::input::Object;
use super::tree::{join, norm, parent, Tree, FLUX_KUSTOMIZE_GROUP};

/// The roots found and which files each deploys.
#[derive(Debug, Default)]
pub struct Roots {
    /// Each root's name, e.g. `clusters/prod (FluxInstance flux-system/flux)`.
    pub names: Vec<String>,
    /// File (normalized) → the roots (indices into `names`) that deploy it.
    pub of_file: BTreeMap<String, BTreeSet<usize>>,
}

impl Roots {
    /// The roots that deploy `file` (empty: none found). With a single root, every file is
    /// under it (a one-cluster repository).
    pub fn of(&self, file: &str) -> Vec<usize> {
        if self.names.len() == 1 {
            return vec![0];
        }
        self.of_file
            .get(&norm(file))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The names of the roots that deploy `file`, joined (`None` when none).
    pub fn describe(&self, file: &str) -> Option<String> {
        let names: Vec<&str> = self
            .of(file)
            .iter()
            .map(|&i| self.names[i].as_str())
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    }
}

struct Root {
    name: String,
    /// The directories it builds (normalized).
    paths: Vec<String>,
    /// The files of the objects that define it.
    files: Vec<String>,
    /// `Kind/name` of the source its Kustomizations must use (`None`: any).
    source: Option<(String, String)>,
}

/// Finds the cluster roots of `objects`.
pub fn find(objects: &[Object], tree: &Tree) -> Roots {
    let mut roots: Vec<Root> = objects.iter().filter_map(root_of).collect();
    roots.extend(remote_clusters(objects));
    let mut out = Roots::default();
    let mut deployed: BTreeSet<String> = BTreeSet::new();
    for (i, r) in roots.iter().enumerate() {
        let files = members(objects, tree, r);
        deployed.extend(files.iter().cloned());
        for f in files {
            out.of_file.entry(f).or_default().insert(i);
        }
        out.names.push(r.name.clone());
    }
    // A `clusters/<name>` directory none of whose files a root above deploys is a cluster of
    // its own (bootstrapped there, or an overlay built on its own).
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for file in tree.files.keys() {
        let parts: Vec<&str> = file.split('/').collect();
        if let Some(i) = parts.iter().position(|p| *p == "clusters") {
            if i + 2 < parts.len() {
                dirs.insert(parts[..i + 2].join("/"));
            }
        }
    }
    for dir in dirs {
        let root = Root {
            name: format!(
                "{dir} ({})",
                if tree.kustomizations.contains_key(&dir) {
                    "kustomization"
                } else {
                    "directory"
                }
            ),
            paths: vec![dir.clone()],
            files: vec![],
            source: None,
        };
        let files = members(objects, tree, &root);
        if files.iter().any(|f| deployed.contains(f)) {
            continue;
        }
        let i = out.names.len();
        for f in files {
            out.of_file.entry(f).or_default().insert(i);
        }
        out.names.push(root.name);
    }
    out
}

fn root_of(o: &Object) -> Option<Root> {
    let file = norm(&o.file);
    if is_flux_instance(o) {
        let sync = o.value.pointer("/spec/sync")?;
        let path = sync.get("path").and_then(Value::as_str).unwrap_or("");
        let ns = o.namespace().unwrap_or("");
        let name = sync
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(ns);
        let kind = sync.get("kind").and_then(Value::as_str).unwrap_or("");
        return Some(Root {
            name: format!(
                "{} (FluxInstance {ns}/{})",
                display_path(path, &file),
                o.name()
            ),
            paths: flux_path(o, path).into_iter().collect(),
            files: vec![file],
            source: Some((kind.to_string(), name.to_string())),
        });
    }
    if !is_flux_kustomization(o) || o.name() != "flux-system" || remote(o) {
        return None;
    }
    let path = o
        .value
        .pointer("/spec/path")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(Root {
        name: format!(
            "{} (Kustomization {}/flux-system)",
            display_path(path, &file),
            o.namespace().unwrap_or(""),
        ),
        paths: flux_path(o, path).into_iter().collect(),
        files: vec![file],
        source: source_ref(o),
    })
}

/// Flux Kustomizations with `spec.kubeConfig` deploy into another cluster: one root per
/// kubeconfig Secret.
fn remote_clusters(objects: &[Object]) -> Vec<Root> {
    let mut by_secret: BTreeMap<String, Root> = BTreeMap::new();
    for o in objects
        .iter()
        .filter(|o| is_flux_kustomization(o) && remote(o))
    {
        let secret = o
            .value
            .pointer("/spec/kubeConfig/secretRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let key = format!("{}/{secret}", o.namespace().unwrap_or(""));
        let root = by_secret.entry(key.clone()).or_insert_with(|| Root {
            name: format!(
                "the cluster of kubeconfig Secret {key} (Flux Kustomizations with spec.kubeConfig)"
            ),
            paths: vec![],
            files: vec![],
            source: None,
        });
        let path = o
            .value
            .pointer("/spec/path")
            .and_then(Value::as_str)
            .unwrap_or("");
        root.paths.extend(flux_path(o, path));
    }
    by_secret.into_values().collect()
}

fn is_flux_kustomization(o: &Object) -> bool {
    o.group() == FLUX_KUSTOMIZE_GROUP && o.kind() == "Kustomization"
}

fn remote(o: &Object) -> bool {
    o.value
        .pointer("/spec/kubeConfig")
        .is_some_and(|k| !k.is_null())
}

/// A Flux path (relative to the repository, the directory given on the command line), unless
/// it holds a `${…}` substitution lint cannot resolve.
fn flux_path(o: &Object, path: &str) -> Option<String> {
    (!path.contains("${")).then(|| join(&o.root, path.trim_start_matches("./")))
}

fn display_path(path: &str, file: &str) -> String {
    match norm(path) {
        p if p.is_empty() => parent(file).to_string(),
        p => p,
    }
}

fn source_ref(o: &Object) -> Option<(String, String)> {
    let s = |k: &str| {
        o.value
            .pointer(&format!("/spec/sourceRef/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Some((s("kind"), s("name")))
}

/// The files a root deploys: its own files, what its paths build, and what the Flux
/// Kustomizations found there build, transitively (not those into another cluster, nor those
/// of another source).
fn members(objects: &[Object], tree: &Tree, root: &Root) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = root.files.iter().cloned().collect();
    let mut queue: Vec<String> = root.paths.clone();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some(dir) = queue.pop() {
        if !done.insert(dir.clone()) {
            continue;
        }
        let mut files = BTreeSet::new();
        tree.build(objects, &dir, &mut files);
        for f in &files {
            for &i in tree.files.get(f).into_iter().flatten() {
                let o = &objects[i];
                if !is_flux_kustomization(o) || remote(o) {
                    continue;
                }
                let ours = root.source.as_ref().is_none_or(|want| {
                    source_ref(o).is_some_and(|(kind, name)| {
                        (kind.is_empty() || kind == want.0) && name == want.1
                    })
                });
                let path = o.value.pointer("/spec/path").and_then(Value::as_str);
                if let Some(p) = path.filter(|_| ours).and_then(|p| flux_path(o, p)) {
                    queue.push(p);
                }
            }
        }
        out.extend(files);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::parse_files;

    fn objects(files: &[(&str, &str)]) -> Vec<Object> {
        let files: Vec<(String, &str)> = files
            .iter()
            .map(|(f, t)| (format!("repo/{f}"), *t))
            .collect();
        let refs: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), *t)).collect();
        parse_files("repo", &refs)
    }

    const INSTANCE: &str = "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata: {name: flux, namespace: flux-system}\nspec:\n  sync: {kind: GitRepository, url: x, ref: main, path: PATH}\n";
    const KS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  path: ./apps/ENV\n  sourceRef: {kind: GitRepository, name: flux-system}\n";

    #[test]
    fn each_cluster_deploys_its_own_files_and_shared_ones_are_under_both() {
        let staging = INSTANCE.replace("PATH", "clusters/staging");
        let prod = INSTANCE.replace("PATH", "./clusters/prod");
        let o = objects(&[
            ("clusters/staging/flux-system/flux.yaml", &staging),
            ("clusters/staging/apps.yaml", &KS.replace("ENV", "staging")),
            ("clusters/prod/flux-system/flux.yaml", &prod),
            ("clusters/prod/apps.yaml", &KS.replace("ENV", "prod")),
            (
                "apps/staging/kustomization.yaml",
                "resources: [../base, s.yaml]\n",
            ),
            ("apps/staging/s.yaml", "kind: OCIRepository\n"),
            ("apps/prod/kustomization.yaml", "resources: [../base]\n"),
            ("apps/base/kustomization.yaml", "resources: [b.yaml]\n"),
            ("apps/base/b.yaml", "kind: OCIRepository\n"),
            ("elsewhere/x.yaml", "kind: OCIRepository\n"),
        ]);
        let roots = find(&o, &Tree::new(&o));
        assert_eq!(roots.names.len(), 2, "{:?}", roots.names);
        assert!(roots.names[0].starts_with("clusters/staging (FluxInstance flux-system/flux)"));
        assert_eq!(roots.of("repo/apps/staging/s.yaml"), [0]);
        assert_eq!(roots.of("repo/apps/base/b.yaml"), [0, 1]);
        assert_eq!(roots.of("repo/clusters/prod/apps.yaml"), [1]);
        assert!(roots.of("repo/elsewhere/x.yaml").is_empty());
    }

    #[test]
    fn overlays_under_clusters_are_roots_when_nothing_else_deploys_them() {
        let o = objects(&[
            ("clusters/a/kustomization.yaml", "resources: [../../base]\n"),
            ("clusters/b/kustomization.yaml", "resources: [x.yaml]\n"),
            ("clusters/b/x.yaml", "kind: OCIRepository\n"),
            ("base/kustomization.yaml", "resources: [y.yaml]\n"),
            ("base/y.yaml", "kind: OCIRepository\n"),
        ]);
        let roots = find(&o, &Tree::new(&o));
        assert_eq!(
            roots.names,
            [
                "repo/clusters/a (kustomization)",
                "repo/clusters/b (kustomization)"
            ]
        );
        assert!(roots.of("repo/nowhere.yaml").is_empty());
        assert_eq!(roots.of("repo/base/y.yaml"), [0]);
        assert_eq!(roots.of("repo/clusters/b/x.yaml"), [1]);
    }
}
