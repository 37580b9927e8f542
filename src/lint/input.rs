//! Kubernetes objects from YAML text, multi-document, `List`s unpacked, each remembering its
//! file and the line of every field ([`super::read`] finds and bounds the files).
//!
//! A file that cannot be parsed is an [`InputError`]: the run then exits 2 (a repository we did
//! not see whole is never "clean"), and the other files' findings are still reported.

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
    /// The directory argument it was found under (Flux paths are relative to it), `""` for a
    /// file named directly or stdin.
    pub root: Rc<str>,
    /// The template that generated it (`ResourceSet apps/podinfo`), if any.
    pub template: Option<String>,
    /// Pointers (in `value`) whose template placeholders could not be resolved.
    pub unresolved: Vec<String>,
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
            root: "".into(),
            template: None,
            unresolved: vec![],
        }
    }

    /// The same document and lines, another value at `base`: an object this one's template
    /// generates.
    pub fn at_base(&self, base: &str, value: Value) -> Self {
        Self {
            file: self.file.clone(),
            value,
            doc: self.doc.clone(),
            base: format!("{}{base}", self.base),
            root: self.root.clone(),
            template: Some(format!(
                "{} {}/{}",
                self.kind(),
                self.namespace().unwrap_or(""),
                self.name()
            )),
            unresolved: vec![],
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
                        root: "".into(),
                        template: None,
                        unresolved: vec![],
                    });
                }
            }
            _ => objects.push(Object {
                file: file.into(),
                value: doc.value.clone(),
                doc: doc.clone(),
                base: String::new(),
                root: "".into(),
                template: None,
                unresolved: vec![],
            }),
        }
    }
    Ok(objects)
}

/// The objects of several files, `(path, text)`, each found under directory argument `root`
/// (for tests of what spans files).
#[cfg(test)]
pub fn parse_files(root: &str, files: &[(&str, &str)]) -> Vec<Object> {
    let mut out = vec![];
    for (f, t) in files {
        out.extend(parse_text(f, t).unwrap().into_iter().map(|mut o| {
            o.root = root.into();
            o
        }));
    }
    out
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
}
