//! Kustomize patches as flux-operator applies `FluxInstance.spec.kustomize.patches`: target
//! selection, JSON6902 operations and strategic-merge documents, on JSON values.
//!
//! Only what decides the effective `spec.verify` of a Flux source needs to be exact; Flux
//! source types declare no list merge keys, so a strategic merge is a recursive map merge in
//! which lists are replaced and `null` deletes.

use regex::Regex;
use serde_json::Value;

use crate::engine::regex_inclusion::go;

/// `patches[].target`: every set field must match. The fields are Go regexes (kustomize
/// compiles `^(?:…)$` with Go's `regexp`), each compiled once, as Go reads it
/// ([`go::to_rust`]); one that has no faithful Rust form makes the target unusable
/// ([`Target::from_value`] says why), never "selects nothing".
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// API group.
    pub group: Option<Regex>,
    /// API version.
    pub version: Option<Regex>,
    /// Kind.
    pub kind: Option<Regex>,
    /// Name.
    pub name: Option<Regex>,
    /// Namespace.
    pub namespace: Option<Regex>,
    /// Label selector.
    pub label_selector: Option<String>,
    /// Annotation selector.
    pub annotation_selector: Option<String>,
}

impl Target {
    /// Reads `target` (absent or `{}` selects every object), or why kustomize cannot use it.
    pub fn from_value(v: Option<&Value>) -> Result<Self, String> {
        let get = |k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let compile = |k: &str| -> Result<Option<Regex>, String> {
            let Some(re) = get(k) else {
                return Ok(None);
            };
            // kustomize anchors the text, then Go compiles it: a `\Q` quotes to the end.
            let rust = go::to_rust(&format!("^(?:{re})$"))
                .map_err(|e| format!("target.{k} {re:?} cannot be compiled as Go does: {e}"))?;
            Regex::new(&rust)
                .map(Some)
                .map_err(|e| format!("target.{k} {re:?}: {e}"))
        };
        Ok(Self {
            group: compile("group")?,
            version: compile("version")?,
            kind: compile("kind")?,
            name: compile("name")?,
            namespace: compile("namespace")?,
            label_selector: get("labelSelector"),
            annotation_selector: get("annotationSelector"),
        })
    }

    /// Whether the target selects `obj`.
    pub fn selects(&self, obj: &Value) -> bool {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
        let api_version = s("/apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let field =
            |re: &Option<Regex>, value: &str| re.as_ref().is_none_or(|re| re.is_match(value));
        field(&self.group, group)
            && field(&self.version, version)
            && field(&self.kind, s("/kind"))
            && field(&self.name, s("/metadata/name"))
            && field(&self.namespace, s("/metadata/namespace"))
            && selector_matches(
                self.label_selector.as_deref(),
                obj.pointer("/metadata/labels"),
            )
            && selector_matches(
                self.annotation_selector.as_deref(),
                obj.pointer("/metadata/annotations"),
            )
    }
}

/// A label-selector string (`a=b,c!=d,!e,f,g in (x,y),h notin (z)`) against a map.
/// An unparseable selector selects nothing (kustomize refuses to build).
fn selector_matches(selector: Option<&str>, labels: Option<&Value>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    split_requirements(selector).iter().all(|req| {
        let req = req.trim();
        if let Some(k) = req.strip_prefix('!') {
            return get(k.trim()).is_none();
        }
        for (op, negate) in [(" notin ", true), (" in ", false)] {
            if let Some((k, set)) = req.split_once(op) {
                let set = set.trim().trim_start_matches('(').trim_end_matches(')');
                let inside = get(k.trim()).is_some_and(|v| set.split(',').any(|s| s.trim() == v));
                return if negate {
                    get(k.trim()).is_none() || !inside
                } else {
                    inside
                };
            }
        }
        if let Some((k, v)) = req.split_once("!=") {
            return get(k.trim()) != Some(v.trim());
        }
        if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            return get(k.trim()) == Some(v.trim());
        }
        get(req).is_some()
    })
}

/// Splits on commas outside parentheses.
fn split_requirements(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// One JSON6902 operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `add`, `replace`, `remove`, `move`, `copy`, `test`.
    pub op: String,
    /// JSON pointer.
    pub path: String,
    /// `from` for move/copy.
    pub from: Option<String>,
    /// `value`.
    pub value: Option<Value>,
    /// Index in the patch list (for its line).
    pub index: usize,
}

/// A parsed patch body.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchBody {
    /// A JSON6902 operation list.
    Json6902(Vec<Operation>),
    /// A strategic-merge document.
    StrategicMerge(Value),
}

impl PatchBody {
    /// Reads a parsed patch document: a list is JSON6902, a map is a strategic merge.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Array(ops) => ops
                .iter()
                .enumerate()
                .map(|(index, o)| {
                    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
                    Ok(Operation {
                        op: s("op").ok_or(format!("operation {index} has no op"))?,
                        path: s("path").ok_or(format!("operation {index} has no path"))?,
                        from: s("from"),
                        value: o.get("value").cloned(),
                        index,
                    })
                })
                .collect::<Result<_, String>>()
                .map(PatchBody::Json6902),
            Value::Object(_) => Ok(PatchBody::StrategicMerge(v.clone())),
            _ => Err("a patch must be a list of JSON6902 operations or a YAML object".into()),
        }
    }
}

/// Whether an operation writes (sets) `spec.verify`.
pub fn op_writes_verify(op: &Operation) -> bool {
    matches!(op.op.as_str(), "add" | "replace" | "copy" | "move")
        && (op.path == "/spec/verify"
            || op.path.starts_with("/spec/verify/")
            || ((op.path == "/spec" || op.path.is_empty())
                && op.value.as_ref().is_some_and(|v| {
                    v.pointer(if op.path.is_empty() {
                        "/spec/verify"
                    } else {
                        "/verify"
                    })
                    .is_some_and(|v| !v.is_null())
                })))
}

/// Whether a strategic-merge document writes `spec.verify`.
pub fn smp_writes_verify(doc: &Value) -> bool {
    doc.pointer("/spec/verify").is_some_and(|v| !v.is_null())
}

/// Applies one JSON6902 operation (RFC 6902) to `doc`.
pub fn apply_op(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let value = || {
        op.value
            .clone()
            .ok_or_else(|| format!("{} {}: no value", op.op, op.path))
    };
    match op.op.as_str() {
        "add" => add(doc, &op.path, value()?),
        "replace" => {
            remove(doc, &op.path)?;
            add(doc, &op.path, value()?)
        }
        "remove" => remove(doc, &op.path).map(|_| ()),
        "test" => match doc.pointer(&op.path) {
            Some(v) if Some(v) == op.value.as_ref() => Ok(()),
            _ => Err(format!("test {}: value differs", op.path)),
        },
        "copy" | "move" => {
            let from = op
                .from
                .as_deref()
                .ok_or(format!("{} without from", op.op))?;
            let v = if op.op == "move" {
                remove(doc, from)?
            } else {
                doc.pointer(from)
                    .cloned()
                    .ok_or(format!("copy from {from}: not found"))?
            };
            add(doc, &op.path, v)
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn split(path: &str) -> Result<(&str, String), String> {
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("{path:?} is not a JSON pointer"))?;
    Ok((&path[..i], unescape(&path[i + 1..])))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, v);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or(format!("add {path}: bad index"))?
            };
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("add {path}: parent {parent:?} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("{path} does not exist");
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&last).ok_or_else(missing),
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// Strategic merge of `patch` into `doc`: maps merge, lists and scalars replace, `null`
/// deletes, `$patch: delete` removes the map and `$patch: replace` replaces it.
pub fn strategic_merge(doc: &mut Value, patch: &Value) {
    let (Value::Object(d), Value::Object(p)) = (&mut *doc, patch) else {
        *doc = patch.clone();
        return;
    };
    for (k, pv) in p {
        if k == "$patch" {
            continue;
        }
        match pv {
            Value::Null => {
                d.remove(k);
            }
            Value::Object(pm) => match pm.get("$patch").and_then(Value::as_str) {
                Some("delete") => {
                    d.remove(k);
                }
                Some("replace") => {
                    let mut v = pv.clone();
                    v.as_object_mut().map(|m| m.remove("$patch"));
                    d.insert(k.clone(), v);
                }
                _ => {
                    let slot = d
                        .entry(k.clone())
                        .or_insert_with(|| Value::Object(Default::default()));
                    if !slot.is_object() {
                        *slot = Value::Object(Default::default());
                    }
                    strategic_merge(slot, pv);
                }
            },
            other => {
                d.insert(k.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oci() -> Value {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": "flux-system", "namespace": "flux-system"},
               "spec": {"url": "oci://ghcr.io/o/r"}})
    }

    #[test]
    fn targets_are_anchored_regexes_and_empty_selects_all() {
        let t = |v: Value| Target::from_value(Some(&v)).unwrap().selects(&oci());
        assert!(t(json!({})));
        assert!(t(json!({"kind": "OCIRepository", "name": "flux-.*"})));
        assert!(
            !t(json!({"kind": "OCIRepo"})),
            "anchored: a prefix is not enough"
        );
        assert!(!t(json!({"name": "system"})));
        assert!(t(
            json!({"group": "source.toolkit.fluxcd.io", "version": "v1"})
        ));
        assert!(!t(json!({"version": "v1beta2"})));
        assert!(!t(json!({"namespace": "flux"})));
        assert!(
            !t(json!({"labelSelector": "app=flux"})),
            "no labels at patch time"
        );
        assert!(t(json!({"labelSelector": "!app,team notin (x)"})));
    }

    #[test]
    fn targets_are_read_as_go_reads_them() {
        let t = |v: Value| Target::from_value(Some(&v)).map(|t| t.selects(&oci()));
        // Go-only syntax that Rust's regex refuses.
        assert_eq!(t(json!({"name": r"\Qflux-system\E"})), Ok(true));
        assert_eq!(
            t(json!({"name": r"flux\055system"})),
            Ok(true),
            "octal escape"
        );
        assert_eq!(
            t(json!({"name": r"flux-sys{,2}tem"})),
            Ok(false),
            "a literal brace in Go"
        );
        // Go refuses the first and the last (the build fails), and reads `&&` as two literal
        // characters where Rust intersects: unusable, which is not "selects nothing".
        for bad in [r"flux-(?!x)", r"[a&&b]", r"a**"] {
            assert!(t(json!({"name": bad})).is_err(), "{bad}");
        }
    }

    #[test]
    fn json6902_add_replace_remove() {
        let mut d = oci();
        let op = |op: &str, path: &str, value: Option<Value>| Operation {
            op: op.into(),
            path: path.into(),
            from: None,
            value,
            index: 0,
        };
        apply_op(
            &mut d,
            &op("add", "/spec/verify", Some(json!({"provider": "cosign"}))),
        )
        .unwrap();
        assert_eq!(d["spec"]["verify"]["provider"], "cosign");
        apply_op(
            &mut d,
            &op("replace", "/spec/verify/provider", Some(json!("notation"))),
        )
        .unwrap();
        assert_eq!(d["spec"]["verify"]["provider"], "notation");
        apply_op(&mut d, &op("remove", "/spec/verify", None)).unwrap();
        assert!(d["spec"].get("verify").is_none());
        assert!(apply_op(&mut d, &op("remove", "/spec/verify", None)).is_err());
        assert!(apply_op(&mut d, &op("replace", "/spec/verify", Some(json!({})))).is_err());
        assert!(apply_op(&mut d, &op("add", "/spec/a/b", Some(json!(1)))).is_err());
        assert!(op_writes_verify(&op(
            "add",
            "/spec",
            Some(json!({"verify": {}}))
        )));
        assert!(!op_writes_verify(&op("remove", "/spec/verify", None)));
    }

    #[test]
    fn strategic_merge_replaces_lists_and_null_deletes() {
        let mut d = oci();
        strategic_merge(
            &mut d,
            &json!({"spec": {"verify": {"matchOIDCIdentity": [{"issuer": "a", "subject": "b"}]}}}),
        );
        strategic_merge(
            &mut d,
            &json!({"spec": {"verify": {"matchOIDCIdentity": [{"issuer": "c", "subject": "d"}]}}}),
        );
        assert_eq!(
            d["spec"]["verify"]["matchOIDCIdentity"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(d["spec"]["url"], "oci://ghcr.io/o/r");
        strategic_merge(&mut d, &json!({"spec": {"verify": null}}));
        assert!(d["spec"].get("verify").is_none());
    }
}
