//! The input files as a tree: where each file is, which directories hold a `kustomization.yaml`,
//! and what a path inside a kustomization or a Flux `Kustomization` refers to. Paths are
//! compared lexically (`./a/../b` is `b`); nothing here touches the filesystem.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::input::Object;

/// The group of Flux's `Kustomization`.
pub const FLUX_KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The input files, by normalized path.
#[derive(Debug, Default)]
pub struct Tree {
    /// Every file with objects, normalized, and the indices of its objects.
    pub files: BTreeMap<String, Vec<usize>>,
    /// Directory → index of its `kustomization.yaml` object.
    pub kustomizations: BTreeMap<String, usize>,
}

impl Tree {
    /// The tree of `objects`' files.
    pub fn new(objects: &[Object]) -> Self {
        let mut t = Tree::default();
        for (i, o) in objects.iter().enumerate() {
            let file = norm(&o.file);
            if is_kustomization_file(&file) && o.group() != FLUX_KUSTOMIZE_GROUP {
                t.kustomizations
                    .entry(parent(&file).to_string())
                    .or_insert(i);
            }
            t.files.entry(file).or_default().push(i);
        }
        t
    }

    /// The files a directory contributes when Flux (or kustomize) builds it: its
    /// `kustomization.yaml` and what that lists, transitively; without one, every file below it
    /// (Flux generates the kustomization), a subdirectory with its own kustomization as that.
    pub fn build(&self, objects: &[Object], dir: &str, out: &mut BTreeSet<String>) {
        let mut seen = BTreeSet::new();
        self.build_dir(objects, dir, out, &mut seen);
    }

    fn build_dir(
        &self,
        objects: &[Object],
        dir: &str,
        out: &mut BTreeSet<String>,
        seen: &mut BTreeSet<String>,
    ) {
        if !seen.insert(dir.to_string()) {
            return;
        }
        if let Some(&k) = self.kustomizations.get(dir) {
            out.insert(norm(&objects[k].file));
            for r in kustomization_entries(&objects[k].value) {
                let path = join(dir, &r);
                if self.files.contains_key(&path) {
                    out.insert(path);
                } else {
                    self.build_dir(objects, &path, out, seen);
                }
            }
            return;
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut nested: Vec<String> = vec![];
        for file in self.files.range(prefix.clone()..).map(|(f, _)| f) {
            if !file.starts_with(&prefix) {
                break;
            }
            // A subdirectory with its own kustomization is built as that: the outermost one
            // between `dir` and the file.
            let mut owner = None;
            let mut d = parent(file);
            while d.len() > dir.len() && is_under(d, dir) {
                if self.kustomizations.contains_key(d) {
                    owner = Some(d);
                }
                d = parent(d);
            }
            match owner {
                Some(k) => nested.push(k.to_string()),
                None => {
                    out.insert(file.clone());
                }
            }
        }
        nested.sort();
        nested.dedup();
        for k in nested {
            self.build_dir(objects, &k, out, seen);
        }
    }
}

/// `resources:` and `components:` of a kustomization.
pub fn kustomization_entries(k: &Value) -> Vec<String> {
    ["resources", "components", "bases"]
        .iter()
        .filter_map(|f| k.get(f).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .filter(|r| !r.contains("://") && !r.starts_with("git@"))
        .map(str::to_string)
        .collect()
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.starts_with(&format!("{dir}/"))
}

/// Whether the file is a kustomize kustomization.
pub fn is_kustomization_file(path: &str) -> bool {
    matches!(
        path.rsplit('/').next(),
        Some("kustomization.yaml" | "kustomization.yml")
    )
}

/// The directory of a normalized path (`""` for the top).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// `rel` inside `dir`, normalized.
pub fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() || rel.starts_with('/') {
        norm(rel)
    } else {
        norm(&format!("{dir}/{rel}"))
    }
}

/// A path without `.`, empty segments or resolvable `..`.
pub fn norm(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = vec![];
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::parse_files;

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(norm("./a/./b/../c.yaml"), "a/c.yaml");
        assert_eq!(norm("/r/a//b"), "/r/a/b");
        assert_eq!(norm("../x"), "../x");
        assert_eq!(join("a/b", "../../c"), "c");
        assert_eq!(join("", "./x"), "x");
        assert_eq!(parent("a/b/c.yaml"), "a/b");
    }

    #[test]
    fn a_directory_builds_its_kustomization_or_everything_below_it() {
        let objects = parse_files(
            "",
            &[
                ("r/app/kustomization.yaml", "resources: [a.yaml, ../base]\n"),
                ("r/app/a.yaml", "kind: A\n"),
                ("r/app/unlisted.yaml", "kind: U\n"),
                ("r/base/kustomization.yaml", "resources: [b.yaml]\n"),
                ("r/base/b.yaml", "kind: B\n"),
                ("r/plain/x.yaml", "kind: X\n"),
                ("r/plain/deep/y.yaml", "kind: Y\n"),
                ("r/plain/sub/kustomization.yaml", "resources: [z.yaml]\n"),
                ("r/plain/sub/z.yaml", "kind: Z\n"),
                ("r/plain/sub/not.yaml", "kind: N\n"),
            ],
        );
        let t = Tree::new(&objects);
        let built = |d: &str| {
            let mut out = BTreeSet::new();
            t.build(&objects, d, &mut out);
            out.into_iter().collect::<Vec<_>>()
        };
        assert_eq!(
            built("r/app"),
            [
                "r/app/a.yaml",
                "r/app/kustomization.yaml",
                "r/base/b.yaml",
                "r/base/kustomization.yaml"
            ]
        );
        assert_eq!(
            built("r/plain"),
            [
                "r/plain/deep/y.yaml",
                "r/plain/sub/kustomization.yaml",
                "r/plain/sub/z.yaml",
                "r/plain/x.yaml"
            ]
        );
    }
}
