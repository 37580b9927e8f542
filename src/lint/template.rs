//! Sources declared inside templates, expanded before discovery: flux-operator's `ResourceSet`
//! (`spec.resources`, rendered once per input set of `spec.inputs` with `<< inputs.x >>`
//! placeholders) and KRO's `ResourceGraphDefinition` (`spec.resources[].template`, whose
//! `${…}` expressions are only known per instance).
//!
//! Only static inputs are resolved, with the template functions that do not need the cluster
//! (`quote`, `squote`, `lower`, `upper`, `trim`, `toString`, `default`). A placeholder that
//! cannot be resolved is a `template-unresolved` warning at its line, never a silent skip; a
//! `spec.verify` that depends on one is not judged ([`Object::unresolved`] says where).

use serde_json::{Map, Value};

use super::finding::{rules, Finding};
use super::input::Object;

/// flux-operator's API group.
const OPERATOR_GROUP: &str = "fluxcd.controlplane.io";
/// KRO's API group.
const KRO_GROUP: &str = "kro.run";

/// The objects templates generate, and what could not be resolved.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Generated objects, located at their template.
    pub objects: Vec<Object>,
    /// `template-unresolved` warnings.
    pub findings: Vec<Finding>,
}

/// Expands every ResourceSet and ResourceGraphDefinition in `objects`.
pub fn expand(objects: &[Object]) -> Expanded {
    let mut out = Expanded::default();
    for o in objects {
        match (o.group(), o.kind()) {
            (OPERATOR_GROUP, "ResourceSet") => resource_set(o, &mut out),
            (KRO_GROUP, "ResourceGraphDefinition") => graph(o, &mut out),
            _ => {}
        }
    }
    out
}

fn owner(o: &Object) -> String {
    format!("{}/{}/{}", o.kind(), o.namespace().unwrap_or(""), o.name())
}

fn resource_set(rs: &Object, out: &mut Expanded) {
    let spec = rs.value.get("spec").cloned().unwrap_or(Value::Null);
    let who = owner(rs);
    let mut inputs: Vec<Value> = spec
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let from_cluster = spec
        .get("inputsFrom")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if from_cluster {
        out.findings.push(
            Finding::error(
                rules::TEMPLATE_UNRESOLVED,
                (&rs.file, rs.line_of("/spec/inputsFrom")),
                &who,
                "inputs from ResourceSetInputProviders are only known in the cluster: the resources are linted with the static spec.inputs only",
                "lint the rendered objects too (flux-operator build resourceset …) if their spec.verify depends on provider inputs",
            )
            .warning(),
        );
    }
    if inputs.is_empty() {
        // No input set: the resources are rendered once.
        inputs.push(Value::Object(Map::new()));
    }
    let common = spec.get("commonMetadata").cloned().unwrap_or(Value::Null);
    let mut reported = std::collections::BTreeSet::new();
    if let Some(resources) = spec.get("resources").and_then(Value::as_array) {
        for input in &inputs {
            for (j, resource) in resources.iter().enumerate() {
                let base = format!("/spec/resources/{j}");
                let mut unresolved = vec![];
                let mut value = render(resource, input, &Delimiters::OPERATOR, "", &mut unresolved);
                place(&mut value, rs.namespace(), &common);
                let mut obj = rs.at_base(&base, value);
                for (pointer, placeholder) in &unresolved {
                    if reported.insert((base.clone(), pointer.clone())) {
                        out.findings
                            .push(unresolved_finding(&obj, &who, pointer, placeholder));
                    }
                }
                obj.unresolved = unresolved.into_iter().map(|(p, _)| p).collect();
                out.objects.push(obj);
            }
        }
    }
    if spec.get("resourcesTemplate").is_some_and(|t| !t.is_null()) {
        out.findings.push(
            Finding::error(
                rules::TEMPLATE_UNRESOLVED,
                (&rs.file, rs.line_of("/spec/resourcesTemplate")),
                &who,
                "spec.resourcesTemplate is a Go template lint does not evaluate: the sources it renders are not linted",
                "declare the sources under spec.resources, or lint the rendered objects (flux-operator build resourceset …)",
            )
            .warning(),
        );
    }
}

fn graph(rgd: &Object, out: &mut Expanded) {
    let who = owner(rgd);
    let Some(resources) = rgd
        .value
        .pointer("/spec/resources")
        .and_then(Value::as_array)
    else {
        return;
    };
    for (j, r) in resources.iter().enumerate() {
        let Some(template) = r.get("template") else {
            continue;
        };
        let base = format!("/spec/resources/{j}/template");
        let mut unresolved = vec![];
        let mut value = render(
            template,
            &Value::Null,
            &Delimiters::KRO,
            "",
            &mut unresolved,
        );
        place(&mut value, None, &Value::Null);
        let mut obj = rgd.at_base(&base, value);
        for (pointer, placeholder) in &unresolved {
            out.findings
                .push(unresolved_finding(&obj, &who, pointer, placeholder));
        }
        obj.unresolved = unresolved.into_iter().map(|(p, _)| p).collect();
        out.objects.push(obj);
    }
}

fn unresolved_finding(obj: &Object, who: &str, pointer: &str, placeholder: &str) -> Finding {
    let judged =
        if pointer.starts_with("/spec/verify") || pointer.starts_with("/spec/chart/spec/verify") {
            "; its spec.verify is not judged"
        } else {
            ""
        };
    Finding::error(
        rules::TEMPLATE_UNRESOLVED,
        (&obj.file, obj.line_of(pointer)),
        who,
        format!(
            "{} {}: {placeholder} is only known when the template is instantiated{judged}",
            obj.kind(),
            pointer.trim_start_matches('/').replace('/', ".")
        ),
        "give the value statically (spec.inputs), or lint the rendered objects",
    )
    .warning()
}

/// A generated object's namespace: its own (when resolved), else the template's.
fn place(value: &mut Value, namespace: Option<&str>, common: &Value) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let unresolved = meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| n.contains("<<") || n.contains("${"));
    if unresolved {
        // Not known here: lint treats the namespace as not written.
        meta.remove("namespace");
    } else if !meta.contains_key("namespace") {
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), ns.into());
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(extra) = common.get(field).and_then(Value::as_object) {
            let slot = meta
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(m) = slot.as_object_mut() {
                for (k, v) in extra {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
}

/// How placeholders are written.
struct Delimiters {
    open: &'static str,
    close: &'static str,
    /// Whether static inputs can resolve them (`<< inputs.x >>`; KRO's never can here).
    resolvable: bool,
}

impl Delimiters {
    const OPERATOR: Self = Self {
        open: "<<",
        close: ">>",
        resolvable: true,
    };
    const KRO: Self = Self {
        open: "${",
        close: "}",
        resolvable: false,
    };
}

/// `v` with every placeholder replaced from `input`; those that cannot be are kept as written
/// and listed in `unresolved` (pointer, placeholder).
fn render(
    v: &Value,
    input: &Value,
    d: &Delimiters,
    pointer: &str,
    unresolved: &mut Vec<(String, String)>,
) -> Value {
    match v {
        Value::String(s) if s.contains(d.open) => render_string(s, input, d, pointer, unresolved),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| render(item, input, d, &format!("{pointer}/{i}"), unresolved))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, item)| {
                    let child = format!("{pointer}/{}", super::yaml::escape_segment(k));
                    (k.clone(), render(item, input, d, &child, unresolved))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_string(
    s: &str,
    input: &Value,
    d: &Delimiters,
    pointer: &str,
    unresolved: &mut Vec<(String, String)>,
) -> Value {
    let mut out = String::new();
    let mut rest = s;
    let mut whole: Option<Value> = None;
    while let Some(start) = rest.find(d.open) {
        let Some(len) = rest[start + d.open.len()..].find(d.close) else {
            break;
        };
        let end = start + d.open.len() + len + d.close.len();
        let placeholder = &rest[start..end];
        let expr = &rest[start + d.open.len()..end - d.close.len()];
        out.push_str(&rest[..start]);
        match d.resolvable.then(|| evaluate(expr, input)).flatten() {
            Some(value) => {
                if start == 0 && end == rest.len() && out.is_empty() && whole.is_none() {
                    whole = Some(value.clone());
                }
                out.push_str(&text_of(&value));
            }
            None => {
                unresolved.push((pointer.to_string(), placeholder.to_string()));
                out.push_str(placeholder);
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    match whole {
        // flux-operator renders the YAML text and parses it again: a whole-value placeholder
        // becomes whatever its text is as a YAML scalar (`"6.7.x"` a string, `2` a number).
        Some(_) => super::yaml::parse_documents(&out)
            .ok()
            .and_then(|d| d.into_iter().next())
            .map(|d| d.value)
            .filter(|v| !v.is_object() && !v.is_array())
            .unwrap_or(Value::String(out)),
        None => Value::String(out),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `inputs.a.b | fn …` against one input set; `None` when it cannot be resolved statically.
fn evaluate(expr: &str, input: &Value) -> Option<Value> {
    let expr = expr
        .trim()
        .trim_start_matches('-')
        .trim_end_matches('-')
        .trim();
    let mut stages = expr.split('|').map(str::trim);
    let path = stages.next()?.strip_prefix("inputs.")?;
    let mut value = path.split('.').try_fold(input, |v, k| v.get(k)).cloned();
    for stage in stages {
        let (name, arg) = stage.split_once(' ').unwrap_or((stage, ""));
        let text = || value.as_ref().map(text_of);
        value = match name {
            "quote" => Some(Value::String(format!("{:?}", text()?))),
            "squote" => Some(Value::String(format!("'{}'", text()?))),
            "lower" => Some(Value::String(text()?.to_lowercase())),
            "upper" => Some(Value::String(text()?.to_uppercase())),
            "trim" => Some(Value::String(text()?.trim().to_string())),
            "toString" => Some(Value::String(text()?)),
            "default" => match &value {
                Some(v) if !text_of(v).is_empty() && !v.is_null() => value,
                _ => Some(Value::String(arg.trim().trim_matches('"').to_string())),
            },
            _ => return None,
        };
    }
    value.filter(|v| !v.is_null() && !v.is_object() && !v.is_array())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::parse_text;

    const SET: &str = r#"apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: podinfo
  namespace: apps
spec:
  commonMetadata:
    labels: {team: a}
  inputs:
    - tenant: team1
      version: "6.7.x"
      replicas: 2
    - tenant: team2
      version: "6.6.x"
      replicas: 3
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: OCIRepository
      metadata:
        name: podinfo-<< inputs.tenant >>
      spec:
        url: oci://ghcr.io/org/<< inputs.tenant | upper >>/podinfo
        ref:
          semver: << inputs.version | quote >>
        replicas: << inputs.replicas >>
        verify:
          provider: cosign
          matchOIDCIdentity:
            - issuer: << inputs.issuer >>
              subject: x
"#;

    #[test]
    fn a_resource_set_renders_each_resource_per_input_set() {
        let objs = parse_text("rs.yaml", SET).unwrap();
        let e = expand(&objs);
        assert_eq!(e.objects.len(), 2);
        let (a, b) = (&e.objects[0], &e.objects[1]);
        assert_eq!(a.name(), "podinfo-team1");
        assert_eq!(b.name(), "podinfo-team2");
        assert_eq!(a.namespace(), Some("apps"), "the ResourceSet's namespace");
        assert_eq!(a.value["metadata"]["labels"]["team"], "a");
        assert_eq!(b.value["spec"]["url"], "oci://ghcr.io/org/TEAM2/podinfo");
        assert_eq!(
            a.value["spec"]["ref"]["semver"], "6.7.x",
            "quote is YAML syntax"
        );
        assert_eq!(
            a.value["spec"]["replicas"], 2,
            "a whole placeholder keeps its type"
        );
        assert_eq!(a.line(), 17, "located at its template");
        // `inputs.issuer` is in no input set: reported once, at its line, and marked.
        assert_eq!(e.findings.len(), 1, "{:?}", e.findings);
        assert_eq!(e.findings[0].line, 29);
        assert!(
            e.findings[0].message.contains("not judged"),
            "{}",
            e.findings[0].message
        );
        assert_eq!(a.unresolved, ["/spec/verify/matchOIDCIdentity/0/issuer"]);
    }

    #[test]
    fn kro_templates_are_sources_with_instance_only_values() {
        let text = r#"apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: app}
spec:
  resources:
    - id: repo
      template:
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata:
          name: ${schema.spec.name}
          namespace: ${schema.metadata.namespace}
        spec:
          url: oci://ghcr.io/org/app
    - id: ext
      externalRef: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}
"#;
        let e = expand(&parse_text("rgd.yaml", text).unwrap());
        assert_eq!(e.objects.len(), 1);
        assert_eq!(e.objects[0].kind(), "OCIRepository");
        assert_eq!(e.objects[0].namespace(), None, "unknown until instantiated");
        assert_eq!(e.findings.len(), 2);
    }
}
