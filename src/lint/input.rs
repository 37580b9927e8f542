//! Reading the inputs: files, directories (recursively, `*.yaml`/`*.yml`) and stdin (`-`),
//! multi-document, into Kubernetes objects that remember their file and line.
//!
//! Anything that cannot be read or parsed is an [`InputError`] (exit 2): linting the files
//! that did parse would report "no findings" for a repository we never saw whole.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::yaml::{parse_documents, Document};

/// The name stdin is reported under.
pub const STDIN: &str = "<stdin>";

/// One Kubernetes object from the inputs.
#[derive(Debug, Clone)]
pub struct Object {
    /// The file it came from (as given on the command line, or [`STDIN`]).
    pub file: String,
    /// The object.
    pub value: Value,
    doc: Rc<Document>,
    /// Where the object sits in its document (`""`, or `/items/3` inside a `List`).
    base: String,
}

impl Object {
    /// An object without a file of its own (e.g. the one flux-operator generates), reported at
    /// `file:line`.
    pub fn synthetic(file: &str, line: u64, value: Value) -> Self {
        let mut lines = std::collections::BTreeMap::new();
        lines.insert(String::new(), line);
        Self {
            file: file.to_string(),
            doc: Rc::new(Document {
                value: Value::Null,
                lines,
            }),
            value,
            base: String::new(),
        }
    }

    /// The line of the field at `pointer` (relative to the object), or of its nearest ancestor.
    pub fn line_of(&self, pointer: &str) -> u64 {
        self.doc.line_of(&format!("{}{pointer}", self.base))
    }

    /// The object's own line.
    pub fn line(&self) -> u64 {
        self.line_of("")
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        let av = self
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        av.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `metadata.namespace`, if written.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `file:line` of the object.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line())
    }
}

/// An input that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct InputError {
    /// The file (or [`STDIN`]).
    pub file: String,
    /// The line, when known.
    pub line: Option<u64>,
    /// What went wrong.
    pub message: String,
}

/// Reads every object from `paths` (`-` = stdin), in the order given, directories sorted.
pub fn read_inputs(paths: &[String]) -> Result<Vec<Object>, InputError> {
    let mut objects = vec![];
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| InputError {
                    file: STDIN.into(),
                    line: None,
                    message: e.to_string(),
                })?;
            objects.extend(parse_text(STDIN, &text)?);
            continue;
        }
        for file in expand(Path::new(p))? {
            objects.extend(read_file(&file)?);
        }
    }
    Ok(objects)
}

/// Reads one file.
pub fn read_file(path: &Path) -> Result<Vec<Object>, InputError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InputError {
        file: name.clone(),
        line: None,
        message: e.to_string(),
    })?;
    parse_text(&name, &text)
}

/// Parses `text` (named `file` in findings) into objects; `List`s are unpacked.
pub fn parse_text(file: &str, text: &str) -> Result<Vec<Object>, InputError> {
    let docs = parse_documents(text).map_err(|e| InputError {
        file: file.into(),
        line: e.line,
        message: format!("not valid YAML: {}", e.message),
    })?;
    let mut objects = vec![];
    for doc in docs {
        let doc = Rc::new(doc);
        if !doc.value.is_object() {
            continue;
        }
        let is_list = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"));
        match doc.value.get("items").and_then(Value::as_array) {
            Some(items) if is_list => {
                for (i, item) in items.iter().enumerate() {
                    objects.push(Object {
                        file: file.into(),
                        value: item.clone(),
                        doc: doc.clone(),
                        base: format!("/items/{i}"),
                    });
                }
            }
            _ => objects.push(Object {
                file: file.into(),
                value: doc.value.clone(),
                doc: doc.clone(),
                base: String::new(),
            }),
        }
    }
    Ok(objects)
}

/// A file as itself; a directory as its `*.yaml`/`*.yml` files, recursively, sorted, skipping
/// hidden entries (`.git`) and symlinked directories (loops).
fn expand(path: &Path) -> Result<Vec<PathBuf>, InputError> {
    let err = |p: &Path, e: std::io::Error| InputError {
        file: p.display().to_string(),
        line: None,
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| err(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| err(path, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| err(path, e)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let mut files = vec![];
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let link = std::fs::symlink_metadata(&entry).map_err(|e| err(&entry, e))?;
        if link.is_dir() {
            files.extend(expand(&entry)?);
        } else if !link.file_type().is_symlink() || entry.is_file() {
            let yaml = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            if yaml && entry.is_file() {
                files.push(entry);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_unpacked_with_their_items_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  metadata: {name: a}\n- kind: B\n  metadata:\n    name: b\n";
        let objs = parse_text("f.yaml", text).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!((objs[0].kind(), objs[0].line()), ("A", 4));
        assert_eq!(
            (objs[1].name(), objs[1].line_of("/metadata/name")),
            ("b", 8)
        );
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
        let objs = read_inputs(&[d.display().to_string()]).unwrap();
        let kinds: Vec<_> = objs.iter().map(|o| o.kind().to_string()).collect();
        assert_eq!(kinds, ["A", "A2", "X"]);
        assert_eq!(objs[1].line(), 3);
    }

    #[test]
    fn an_unparseable_file_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, "kind: A\n---\nkind: B\nspec: {x: [1,\n").unwrap();
        let e = read_inputs(&[f.display().to_string()]).unwrap_err();
        assert!(e.file.ends_with("bad.yaml"));
        assert!(e.line.is_some_and(|l| l >= 4), "{e:?}");
        let missing = read_inputs(&["/nonexistent/x.yaml".into()]).unwrap_err();
        assert_eq!(missing.line, None);
    }
}
