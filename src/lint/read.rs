//! Reading the inputs from disk and stdin, bounded: a pull request can add any file, so every
//! file is capped in bytes, all of them together too, a directory walk in entries and depth, and
//! a symlink that leaves the input tree is never followed.
//!
//! Nothing that cannot be read hides the rest: each such file is an [`InputError`] (the run
//! then exits 2, "could not decide"), and the other files are still linted.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ack::{self, Ack};
use super::finding::{rules, Finding};
use super::input::{parse_text, InputError, Object, STDIN};

/// How much may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one file.
    pub file_bytes: u64,
    /// Bytes of all files together.
    pub total_bytes: u64,
    /// Directory entries walked.
    pub entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            file_bytes: 8 << 20,
            total_bytes: 256 << 20,
            entries: 100_000,
        }
    }
}

/// Everything read.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The objects, in input order (directories sorted).
    pub objects: Vec<Object>,
    /// Files that could not be read or parsed.
    pub errors: Vec<InputError>,
    /// What was deliberately not read, and why (never silently).
    pub notes: Vec<Finding>,
    /// `# provenance-auditor: allow …` comments.
    pub acks: Vec<Ack>,
    /// Files read.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
}

impl Inputs {
    /// Adds what another read found.
    pub fn extend(&mut self, other: Inputs) {
        self.objects.extend(other.objects);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
        self.acks.extend(other.acks);
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// Reads every object from `paths` (`-` = stdin), in the order given, directories sorted.
pub fn read_inputs(paths: &[String], limits: &Limits) -> Inputs {
    let mut r = Reader {
        limits: *limits,
        out: Inputs::default(),
        entries: 0,
    };
    for p in paths {
        if p == "-" {
            let mut bytes = vec![];
            let read = std::io::stdin()
                .take(limits.file_bytes + 1)
                .read_to_end(&mut bytes);
            r.text(STDIN, "", read.map(|_| bytes));
            continue;
        }
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Err(e) => r.error(p, e.to_string()),
            Ok(m) if m.is_dir() => match path.canonicalize() {
                Ok(root) => r.walk(path, &root, p, 0),
                Err(e) => r.error(p, e.to_string()),
            },
            // A file named on the command line is read even through a symlink: the user chose it.
            Ok(_) => r.file(path, ""),
        }
    }
    r.out
}

struct Reader {
    limits: Limits,
    out: Inputs,
    entries: usize,
}

/// Directories nested deeper are not walked (a loop or a hostile tree).
const MAX_DEPTH: usize = 64;

impl Reader {
    fn error(&mut self, file: &str, message: String) {
        self.out.errors.push(InputError {
            file: file.to_string(),
            line: None,
            message,
        });
    }

    fn note(&mut self, file: &Path, message: String, fix: &str) {
        let name = file.display().to_string();
        self.out
            .notes
            .push(Finding::error(rules::INPUT_SKIPPED, (&name, 1), &name, message, fix).warning());
    }

    /// `dir` (canonically under `root`), recursively: `*.yaml`/`*.yml`, sorted, hidden entries
    /// (`.git`) skipped, a Helm chart's `templates/` skipped (Helm's input, not YAML yet).
    fn walk(&mut self, dir: &Path, root: &Path, arg: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.error(
                &dir.display().to_string(),
                format!("nested deeper than {MAX_DEPTH} directories: not read"),
            );
            return;
        }
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return self.error(&dir.display().to_string(), e.to_string()),
        };
        entries.sort();
        let chart = entries
            .iter()
            .any(|e| e.file_name().is_some_and(|n| n == "Chart.yaml"));
        for entry in entries {
            self.entries += 1;
            if self.entries > self.limits.entries {
                self.error(
                    &entry.display().to_string(),
                    format!(
                        "more than {} directory entries: the rest is not read",
                        self.limits.entries
                    ),
                );
                return;
            }
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            let Ok(link) = std::fs::symlink_metadata(&entry) else {
                self.error(&entry.display().to_string(), "cannot be read".into());
                continue;
            };
            if link.is_dir() {
                if chart && name == "templates" {
                    self.note(
                        &entry,
                        "a Helm chart's templates are not Kubernetes YAML until rendered: not read"
                            .into(),
                        "render the chart (helm template …) and lint the output",
                    );
                } else {
                    self.walk(&entry, root, arg, depth + 1);
                }
                continue;
            }
            if link.file_type().is_symlink() {
                match entry.canonicalize() {
                    // Inside the tree: a file is read; a directory is read at its real path.
                    Ok(target) if target.starts_with(root) => {
                        if target.is_file() && is_yaml(&entry) {
                            self.file(&entry, arg);
                        }
                    }
                    Ok(target) if !target.is_dir() && !is_yaml(&entry) => {}
                    Err(_) if !is_yaml(&entry) => {}
                    _ => self.note(
                        &entry,
                        "a symlink that leaves the input tree (or points nowhere): not followed"
                            .into(),
                        "keep manifests inside the repository; kustomize refuses such links too",
                    ),
                }
                continue;
            }
            if !is_yaml(&entry) {
                continue;
            }
            self.file(&entry, arg);
        }
    }

    fn file(&mut self, path: &Path, root: &str) {
        let name = path.display().to_string();
        let read = std::fs::File::open(path).and_then(|f| {
            let mut bytes = vec![];
            f.take(self.limits.file_bytes + 1)
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        });
        self.text(&name, root, read);
    }

    fn text(&mut self, name: &str, root: &str, read: std::io::Result<Vec<u8>>) {
        let bytes = match read {
            Ok(b) => b,
            Err(e) => return self.error(name, e.to_string()),
        };
        let len = bytes.len() as u64;
        if len > self.limits.file_bytes {
            return self.error(
                name,
                format!("larger than {} bytes: not read", self.limits.file_bytes),
            );
        }
        if self.out.bytes + len > self.limits.total_bytes {
            return self.error(
                name,
                format!(
                    "the inputs exceed {} bytes in all: not read",
                    self.limits.total_bytes
                ),
            );
        }
        self.out.bytes += len;
        self.out.files += 1;
        let Ok(text) = String::from_utf8(bytes) else {
            return self.error(name, "not UTF-8 text".into());
        };
        self.out.acks.extend(ack::scan(name, &text));
        match parse_text(name, &text) {
            Ok(objects) => self.out.objects.extend(objects.into_iter().map(|mut o| {
                o.root = root.into();
                o
            })),
            Err(e) => self.out.errors.push(e),
        }
    }
}

fn is_yaml(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(d: &Path) -> Inputs {
        read_inputs(&[d.display().to_string()], &Limits::default())
    }

    #[test]
    fn directories_are_read_recursively_yaml_only_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join("b/c/x.yml"), "kind: X\n").unwrap();
        std::fs::write(d.join("a.yaml"), "kind: A\n---\nkind: A2\n").unwrap();
        std::fs::write(d.join("notes.txt"), "kind: [\n").unwrap();
        std::fs::write(d.join(".git/y.yaml"), "kind: [\n").unwrap();
        let r = read(d);
        let kinds: Vec<_> = r.objects.iter().map(|o| o.kind().to_string()).collect();
        assert_eq!(kinds, ["A", "A2", "X"]);
        assert_eq!(r.objects[1].line(), 3);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.files, 2);
    }

    #[test]
    fn an_unparseable_file_is_an_error_and_the_others_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "kind: A\n---\nkind: B\nspec: {x: [1,\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: C\n").unwrap();
        let r = read(dir.path());
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].file.ends_with("a.yaml"));
        assert!(r.errors[0].line.is_some_and(|l| l >= 4), "{:?}", r.errors);
        assert_eq!(r.objects.len(), 1, "b.yaml is read");
        let missing = read_inputs(&["/nonexistent/x.yaml".into()], &Limits::default());
        assert_eq!(missing.errors[0].line, None);
    }

    #[test]
    fn files_and_the_total_are_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "kind: A\n".repeat(100)).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.path().join("c.yaml"), "kind: C\n").unwrap();
        let limits = Limits {
            file_bytes: 100,
            total_bytes: 10,
            entries: 100,
        };
        let r = read_inputs(&[dir.path().display().to_string()], &limits);
        assert!(
            r.errors[0].message.contains("larger than 100 bytes"),
            "{:?}",
            r.errors
        );
        assert_eq!(
            r.objects.len(),
            1,
            "b.yaml fits, c.yaml would exceed the total"
        );
        assert!(r.errors[1].message.contains("in all"), "{:?}", r.errors);
        assert!(r.bytes <= 10);
    }

    #[test]
    fn a_symlink_out_of_the_tree_is_not_followed_one_inside_is() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "kind: Secret\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("real.yaml"), "kind: Real\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), d.join("out.yaml")).unwrap();
        std::os::unix::fs::symlink(d.join("real.yaml"), d.join("in.yaml")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("outdir")).unwrap();
        std::os::unix::fs::symlink(d, d.join("loop")).unwrap();
        let r = read(d);
        let kinds: Vec<_> = r.objects.iter().map(|o| o.kind().to_string()).collect();
        assert_eq!(
            kinds,
            ["Real", "Real"],
            "in.yaml and real.yaml; nothing from outside"
        );
        let noted: Vec<_> = r
            .notes
            .iter()
            .map(|n| n.file.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(noted, ["out.yaml", "outdir"], "{:?}", r.notes);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    #[test]
    fn a_charts_templates_are_skipped_and_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("charts/app");
        std::fs::create_dir_all(c.join("templates")).unwrap();
        std::fs::write(c.join("Chart.yaml"), "apiVersion: v2\nname: app\n").unwrap();
        std::fs::write(c.join("templates/x.yaml"), "{{ if .Values.x }}\nkind: A\n").unwrap();
        let r = read(dir.path());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(r.notes[0].message.contains("templates"), "{:?}", r.notes);
    }
}
