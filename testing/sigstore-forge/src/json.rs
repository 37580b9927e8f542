//! Canonical JSON (RFC 8785 for the values we produce: ASCII strings, integers), as Rekor writes
//! entry bodies and SET payloads. Keys are sorted here explicitly rather than relying on
//! serde_json's map order, which another crate in the build could switch to insertion order.

use serde_json::Value;

/// Serializes `value` with sorted keys and no whitespace.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorts_nested_keys_without_whitespace() {
        let v = serde_json::json!({"b": [1, {"d": "x", "c": null}], "a": true});
        assert_eq!(
            super::canonical(&v),
            r#"{"a":true,"b":[1,{"c":null,"d":"x"}]}"#
        );
    }
}
