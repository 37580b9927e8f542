//! YAML text → JSON values that remember the line of every node.
//!
//! serde-saphyr's `Spanned` gives a node's line; we wrap every node in it through our own
//! [`Node`] tree and flatten the lines into a JSON-pointer → line map, so a finding can point
//! at `spec.verify` itself, not only at the object.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// One YAML document: its value and the line of each node (1-based), keyed by JSON pointer
/// (`""` is the document root).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// JSON pointer → line.
    pub lines: BTreeMap<String, u64>,
}

impl Document {
    /// The line of the node at `pointer`, else of its nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> u64 {
        let mut p = pointer;
        loop {
            if let Some(l) = self.lines.get(p) {
                return *l;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.lines.get("").copied().unwrap_or(1),
            }
        }
    }
}

/// A YAML syntax error: where, and what (never the input text, which may hold secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line, when the parser knows it.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// Parses every non-empty document of `text`, as the API server reads manifests
/// (`sigs.k8s.io/yaml`, YAML 1.1): `on`/`yes`/`y` and `off`/`no`/`n` are booleans, `0755` is
/// octal, `<<` merge keys are expanded. kustomize (kyaml) keeps such scalars as written, so they
/// reach the cluster with that YAML 1.1 meaning.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        // Comments decide nothing here; buffering them (to attach them to nodes) is what made a
        // long comment block fail with "too many buffered comments while looking ahead".
        emit_comments: false,
        legacy_octal_numbers: true,
    };
    let nodes: Vec<Spanned<Node>> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| YamlError {
            line: e.location().map(|l| l.line()).filter(|l| *l > 0),
            message: e.without_snippet().to_string(),
        })?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let mut lines = BTreeMap::new();
            let line = n.referenced.line();
            let value = flatten(n, String::new(), line, &mut lines);
            Document { value, lines }
        })
        .collect())
}

/// RFC 6901 escaping of one pointer segment.
pub fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// `line` is where the node is reported: a map entry at its key (a block map or list value
/// starts on the line after), anything else at itself.
fn flatten(
    node: Spanned<Node>,
    pointer: String,
    line: u64,
    lines: &mut BTreeMap<String, u64>,
) -> Value {
    if line > 0 {
        lines.insert(pointer.clone(), line);
    }
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => Value::Number(n),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| {
                    let line = n.referenced.line();
                    flatten(n, format!("{pointer}/{i}"), line, lines)
                })
                .collect(),
        ),
        Node::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let key = k.value.key_string();
                let child = format!("{pointer}/{}", escape_segment(&key));
                let v = flatten(v, child, k.referenced.line(), lines);
                m.insert(key, v);
            }
            Value::Object(m)
        }
    }
}

/// Any YAML node, with the line of each child.
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl Node {
    /// Kubernetes objects have string keys; other scalars become their text.
    fn key_string(&self) -> String {
        match self {
            Node::Str(s) => s.clone(),
            Node::Null => "null".into(),
            Node::Bool(b) => b.to_string(),
            Node::Number(n) => n.to_string(),
            Node::Seq(_) | Node::Map(_) => "<complex key>".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        // NaN and infinities have no JSON form; keep their text.
        Ok(Number::from_f64(v).map_or_else(|| Node::Str(v.to_string()), Node::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = vec![];
        while let Some(n) = seq.next_element::<Spanned<Node>>()? {
            items.push(n);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = vec![];
        while let Some((k, v)) = map.next_entry::<Spanned<Node>, Spanned<Node>>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_and_node_keeps_its_line() {
        let text = "# comment\n---\nkind: A\nspec:\n  verify:\n    provider: cosign\n---\n---\n\nkind: B\nlist:\n  - x\n  - z: 1\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2, "the empty document is skipped");
        assert_eq!(docs[0].value["kind"], "A");
        assert_eq!(docs[0].line_of(""), 3);
        assert_eq!(docs[0].line_of("/spec/verify"), 5);
        assert_eq!(docs[0].line_of("/spec/verify/provider"), 6);
        assert_eq!(docs[0].line_of("/spec/verify/nothing/here"), 5);
        assert_eq!(docs[1].line_of(""), 10);
        assert_eq!(docs[1].line_of("/list/1/z"), 13);
        assert_eq!(docs[1].value["list"][1]["z"], 1, "{:?}", docs[1].value);
    }

    #[test]
    fn a_syntax_error_says_where_without_quoting_the_input() {
        let e = parse_documents("kind: A\nspec:\n  x: [1, 2\n  secret: hunter2\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
        assert!(!e.message.contains("hunter2"), "{e:?}");
    }

    #[test]
    fn a_long_comment_block_does_not_stop_the_parse() {
        // Real HelmReleases carry 30-line commented-out values; CI configs carry hundreds.
        let block: String = (0..400).map(|i| format!("  # values line {i}\n")).collect();
        let text = format!("kind: HelmRelease\nspec:\n{block}  values:\n{block}    a: 1\n");
        let docs = parse_documents(&text).unwrap();
        assert_eq!(docs[0].value["spec"]["values"]["a"], 1);
        assert_eq!(docs[0].line_of("/spec/values/a"), 804);
    }

    #[test]
    fn yaml_1_1_scalars_mean_what_the_api_server_reads() {
        let d = &parse_documents("a: on\nb: yes\nc: y\nd: Off\ne: NO\nf: 'on'\ng: 0755\nh: true\n")
            .unwrap()[0];
        let v = &d.value;
        for (k, want) in [
            ("a", true),
            ("b", true),
            ("c", true),
            ("d", false),
            ("e", false),
        ] {
            assert_eq!(v[k], Value::Bool(want), "{k}: {v}");
        }
        assert_eq!(v["f"], "on", "a quoted scalar stays a string");
        assert_eq!(v["g"], 493, "YAML 1.1 octal");
        assert_eq!(v["h"], true);
    }

    #[test]
    fn merge_keys_are_expanded_and_local_keys_win() {
        let d = &parse_documents(
            "base: &v {provider: cosign, secretRef: {name: k}}\nspec:\n  verify:\n    <<: *v\n    provider: notation\n",
        )
        .unwrap()[0];
        assert_eq!(d.value["spec"]["verify"]["secretRef"]["name"], "k");
        assert_eq!(d.value["spec"]["verify"]["provider"], "notation");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        // Two `verify:` keys: parsers disagree on which wins, so neither may be judged.
        assert!(parse_documents("spec:\n  verify: {}\n  verify: null\n").is_err());
    }
}

#[cfg(test)]
mod key_lines {
    use super::*;

    #[test]
    fn a_map_entry_is_located_at_its_key() {
        let d = &parse_documents("a:\n  b: |\n    x\n    y\n  c: 'z'\n").unwrap()[0];
        assert_eq!(d.line_of("/a"), 1);
        assert_eq!(d.line_of("/a/b"), 2);
        assert_eq!(d.line_of("/a/c"), 5);
    }
}
