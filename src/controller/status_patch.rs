//! The body of a status write: a JSON merge patch (RFC 7386) that turns the status as last seen
//! into the status computed, removing what the computed one does not have.
//!
//! Why not server-side apply: kube-apiserver parses an apply patch as YAML and merges managed
//! fields for it, which was the largest part of its CPU per audit in the 10,000-source bench
//! (`make bench-controller`, issue 13). A merge patch is parsed as JSON.
//!
//! Why the nulls: a merge patch keeps every field it does not mention, so the fields of the old
//! status that the new one lacks (a verdict's `signer` gone, or a field someone else wrote into
//! the status, such as a forged `signer`) are sent as `null`, at every depth of nested objects.
//! Arrays (conditions, signatures) are replaced whole by a merge patch. When the status as last
//! seen is out of date, a field written since survives this write, and the next audit, which
//! sees it, removes it.

use serde_json::{Map, Value};

/// The merge patch from `old` to `new`: `new` with `null` for each key of `old` it lacks.
pub fn merge_patch(old: Option<&Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            let mut out = Map::with_capacity(new.len());
            for (k, v) in new {
                out.insert(k.clone(), merge_patch(old.get(k), v));
            }
            for k in old.keys().filter(|k| !new.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a JSON merge patch does to a document (RFC 7386, section 2), to check the patches
    /// by their effect rather than by their shape.
    fn apply(target: &Value, patch: &Value) -> Value {
        match patch {
            Value::Object(p) => {
                let mut out = match target {
                    Value::Object(t) => t.clone(),
                    _ => Map::new(),
                };
                for (k, v) in p {
                    if v.is_null() {
                        out.remove(k);
                    } else {
                        let merged = apply(out.get(k).unwrap_or(&Value::Null), v);
                        out.insert(k.clone(), merged);
                    }
                }
                Value::Object(out)
            }
            _ => patch.clone(),
        }
    }

    #[test]
    fn the_patch_turns_the_old_status_into_the_new_one() {
        let old = json!({
            "signer": "forged",
            "digest": "sha256:a",
            "source": {"kind": "OCIRepository", "url": "oci://r/a", "chartReference": "r/a:1"},
            "conditions": [{"type": "Verified", "status": "True"}, {"type": "Ready"}],
        });
        let new = json!({
            "digest": "sha256:b",
            "source": {"kind": "OCIRepository", "url": "oci://r/a"},
            "conditions": [{"type": "Verified", "status": "False"}],
        });
        let patch = merge_patch(Some(&old), &new);
        assert_eq!(apply(&old, &patch), new);
        assert_eq!(patch["signer"], Value::Null, "a top-level field removed");
        assert_eq!(
            patch["source"]["chartReference"],
            Value::Null,
            "a nested field removed"
        );
    }

    #[test]
    fn without_an_old_status_the_patch_is_the_new_status() {
        let new = json!({"digest": "sha256:b", "conditions": []});
        assert_eq!(merge_patch(None, &new), new);
        assert_eq!(apply(&json!({}), &merge_patch(None, &new)), new);
    }

    #[test]
    fn a_field_that_changes_type_is_replaced() {
        let old = json!({"a": {"b": 1}, "c": "x"});
        let new = json!({"a": "flat", "c": {"d": 2}});
        assert_eq!(apply(&old, &merge_patch(Some(&old), &new)), new);
    }
}
