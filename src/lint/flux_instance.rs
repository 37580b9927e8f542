//! The root source flux-operator generates from a `FluxInstance` (`spec.sync.kind:
//! OCIRepository`), with `spec.kustomize.patches` applied in order, and what the patches did
//! to `spec.verify` on the way (flux-operator's `spec.kustomize.patches`: JSON 6902 and strategic
//! merge patches, each with a `target` selector, applied to the generated objects in order).

use serde_json::{json, Value};

use super::finding::{rules, Finding};
use super::input::Object;
use super::patch::{
    apply_op, op_writes_verify, smp_writes_verify, strategic_merge, PatchBody, Target,
};
use super::yaml::parse_documents;

/// The group of `FluxInstance`.
pub const GROUP: &str = "fluxcd.controlplane.io";

/// A generated root source and the findings its patches raised.
#[derive(Debug, Clone)]
pub struct RootSource {
    /// The `OCIRepository` as flux-operator would apply it.
    pub object: Value,
    /// Pointer (in the FluxInstance) of what last decided `spec.verify`: the patch that wrote
    /// it, else `/spec/sync`.
    pub verify_pointer: String,
    /// `patch-targets-nothing`, `verify-removed`, `patch-invalid`.
    pub findings: Vec<Finding>,
    /// The last removal of a `spec.verify` a patch wrote, reported only if no later patch
    /// writes one again (a remove-then-add is judged by its final state).
    removal: Option<Finding>,
}

/// Whether `obj` is a FluxInstance.
pub fn is_flux_instance(obj: &Object) -> bool {
    obj.kind() == "FluxInstance" && obj.group() == GROUP
}

/// The root OCIRepository of a FluxInstance, or `None` when it syncs from Git or a Bucket
/// (no cosign verification there) or has no `spec.sync`.
pub fn root_source(instance: &Object) -> Option<RootSource> {
    let sync = instance.value.pointer("/spec/sync")?;
    if sync.get("kind").and_then(Value::as_str) != Some("OCIRepository") {
        return None;
    }
    let s = |k: &str| sync.get(k).and_then(scalar_text);
    // The operator uses the instance's namespace for both name and namespace; unknown when the
    // file does not say (kustomize may set it later), written as "".
    let namespace = instance.namespace().unwrap_or("").to_string();
    let name = s("name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| namespace.clone());
    let mut spec = json!({
        "interval": s("interval").unwrap_or_else(|| "1m".into()),
        "ref": {"tag": s("ref").unwrap_or_default()},
        "url": s("url").unwrap_or_default(),
    });
    if let Some(secret) = s("pullSecret").filter(|p| !p.is_empty()) {
        spec["secretRef"] = json!({"name": secret});
    }
    if let Some(provider) = s("provider").filter(|p| !p.is_empty()) {
        spec["provider"] = json!(provider);
    }
    let mut object = json!({
        "apiVersion": format!("source.toolkit.fluxcd.io/{}", source_api_version(instance)),
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    let mut root = RootSource {
        object: Value::Null,
        verify_pointer: "/spec/sync".into(),
        findings: vec![],
        removal: None,
    };
    let display = format!("OCIRepository/{namespace}/{name}");
    let patches = instance
        .value
        .pointer("/spec/kustomize/patches")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, p) in patches.iter().enumerate() {
        let pointer = format!("/spec/kustomize/patches/{i}");
        apply_patch(instance, &pointer, p, &mut object, &display, &mut root);
    }
    root.findings.extend(root.removal.take());
    root.object = object;
    Some(root)
}

/// `v1` from Flux 2.6 on, `v1beta2` before (the operator's template); an open range resolves
/// to the newest release.
fn source_api_version(instance: &Object) -> &'static str {
    let version = instance
        .value
        .pointer("/spec/distribution/version")
        .and_then(scalar_text)
        .unwrap_or_default();
    let v = version.trim().trim_start_matches(['=', 'v', '~', ' ']);
    if v.starts_with(['>', '^', '*']) {
        return "v1";
    }
    let mut parts = v.split('.');
    let major = parts.next().and_then(|m| m.parse::<u32>().ok());
    let minor = parts.next().and_then(|m| m.parse::<u32>().ok());
    match (major, minor) {
        (Some(2), Some(m)) if m < 6 => "v1beta2",
        (Some(0 | 1), _) => "v1beta2",
        _ => "v1",
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn apply_patch(
    instance: &Object,
    pointer: &str,
    p: &Value,
    object: &mut Value,
    display: &str,
    root: &mut RootSource,
) {
    let at = (instance.file.as_str(), instance.line_of(pointer));
    let body_line = instance.line_of(&format!("{pointer}/patch"));
    let who = format!(
        "FluxInstance/{}/{}",
        instance.namespace().unwrap_or(""),
        instance.name()
    );
    let invalid = |why: String| {
        Finding::error(
            rules::PATCH_INVALID,
            at,
            &who,
            format!("flux-operator cannot build this instance: patch {pointer}: {why}; the instance stops reconciling and the root source keeps its old spec"),
            "fix the patch; preview with `flux-operator build instance -f <file>`",
        )
    };
    let Some(text) = p.get("patch").and_then(Value::as_str) else {
        root.findings.push(invalid("no patch text".into()));
        return;
    };
    let docs = match parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            root.findings
                .push(invalid(format!("not valid YAML: {}", e.message)));
            return;
        }
    };
    let Some(doc) = docs.first() else {
        return;
    };
    let body = match PatchBody::from_value(&doc.value) {
        Ok(b) => b,
        Err(e) => {
            root.findings.push(invalid(e));
            return;
        }
    };
    // Lines inside a block scalar (`patch: |`) start on the line after the key: inner line 1
    // is key line + 1.
    let inner_line = |ptr: &str| {
        if text.contains('\n') {
            body_line + doc.line_of(ptr)
        } else {
            body_line
        }
    };
    let target = match Target::from_value(p.get("target")) {
        Ok(t) => t,
        Err(why) => {
            root.findings.push(Finding::error(
                rules::PATCH_INVALID,
                at,
                &who,
                format!("patch {pointer}: {why}; lint cannot tell what it selects, and where Go refuses it flux-operator cannot build this instance"),
                "write the target in the syntax Go and Rust read alike (escape literal characters, no look-around, no Rust-only class syntax)",
            ));
            return;
        }
    };
    let selected = target.selects(object);
    let writes = match &body {
        PatchBody::Json6902(ops) => ops.iter().any(op_writes_verify),
        PatchBody::StrategicMerge(d) => smp_writes_verify(d),
    };
    if !selected {
        if writes {
            root.findings.push(Finding::error(
                rules::PATCH_TARGETS_NOTHING,
                at,
                display,
                format!(
                    "this patch writes /spec/verify but its target {} does not select the root source {display} ({}): flux-operator silently skips it and the source stays unverified",
                    describe_target(p.get("target")),
                    object["apiVersion"].as_str().unwrap_or("")
                ),
                format!(
                    "target the generated source: `target: {{kind: OCIRepository, name: {}}}` (no namespace, group or version needed)",
                    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
                ),
            ));
        }
        return;
    }
    match body {
        PatchBody::Json6902(ops) => {
            for op in &ops {
                let had = has_verify(object);
                if let Err(e) = apply_op(object, op) {
                    root.findings.push(invalid(e));
                    return;
                }
                let line = inner_line(&format!("/{}", op.index));
                note_verify_change(root, had, object, display, (at.0, line), pointer);
            }
        }
        PatchBody::StrategicMerge(d) => {
            let had = has_verify(object);
            strategic_merge(object, &d);
            let line = inner_line("/spec/verify");
            note_verify_change(root, had, object, display, (at.0, line), pointer);
        }
    }
}

fn has_verify(object: &Value) -> bool {
    object.pointer("/spec/verify").is_some_and(|v| !v.is_null())
}

fn note_verify_change(
    root: &mut RootSource,
    had: bool,
    object: &Value,
    display: &str,
    at: (&str, u64),
    pointer: &str,
) {
    let has = has_verify(object);
    if had && !has {
        root.removal = Some(Finding::error(
            rules::VERIFY_REMOVED,
            at,
            display,
            format!("patch {pointer} removes the spec.verify an earlier patch wrote, and no later patch writes one: the root source runs unverified"),
            "delete the operation that removes /spec/verify (or the earlier one, if removal is really meant)",
        ));
    } else if has {
        root.removal = None;
    }
    if has != had || has {
        root.verify_pointer = pointer.to_string();
    }
}

fn describe_target(t: Option<&Value>) -> String {
    match t {
        Some(Value::Object(m)) if !m.is_empty() => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        _ => "{}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::parse_text;

    const INSTANCE: &str = r#"apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: flux-system
spec:
  distribution: {version: "2.7.x"}
  sync:
    kind: OCIRepository
    url: oci://ghcr.io/o/fleet
    ref: latest
    path: clusters/prod
  kustomize:
    patches:
      - target: {kind: OCIRepository}
        patch: |
          - op: add
            path: /spec/verify
            value: {provider: cosign}
"#;

    #[test]
    fn the_root_is_named_after_the_namespace_and_patched() {
        let obj = &parse_text("flux.yaml", INSTANCE).unwrap()[0];
        let root = root_source(obj).unwrap();
        assert_eq!(root.object["metadata"]["name"], "flux-system");
        assert_eq!(root.object["apiVersion"], "source.toolkit.fluxcd.io/v1");
        assert_eq!(root.object["spec"]["ref"]["tag"], "latest");
        assert_eq!(root.object["spec"]["verify"]["provider"], "cosign");
        assert!(root.findings.is_empty(), "{:?}", root.findings);
        assert_eq!(obj.line_of(&root.verify_pointer), 15);
    }

    #[test]
    fn api_version_follows_the_distribution() {
        let with = |v: &str| {
            let text = INSTANCE.replace("2.7.x", v);
            source_api_version(&parse_text("f", &text).unwrap()[0])
        };
        assert_eq!(with("2.5.x"), "v1beta2");
        assert_eq!(with("2.6.0"), "v1");
        assert_eq!(with("2.x"), "v1");
        assert_eq!(with(">=2.3.0"), "v1");
    }
}
