//! Finding the Flux sources in the inputs by **kind**, never by text: OCIRepository,
//! HelmChart, the HelmChart a HelmRelease's `spec.chart` template makes (from an OCI
//! HelmRepository), and the root OCIRepository flux-operator generates from a FluxInstance.

use serde_json::{json, Value};

use super::finding::Finding;
use super::flux_instance::{is_flux_instance, root_source};
use super::input::{InputError, Object};
use crate::audit::source::FluxSource;

/// The group of Flux source kinds.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// The group of HelmRelease.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

/// One declaration of a Flux source in the inputs.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The source as the controller reads it (namespace `""` when the file does not say).
    pub source: FluxSource,
    /// The object that declares it (the source itself, a HelmRelease or a FluxInstance).
    pub object: Object,
    /// Pointer (in `object`) of the effective `spec.verify`, or of where it would go.
    pub verify_pointer: String,
    /// The artifact's location: `oci://host/repo` (a chart: `…/chart`), `""` when unknown.
    pub url: String,
    /// The verify block as written (compared by `drift`).
    pub verify_value: Option<Value>,
    /// How it was declared, when not directly (`HelmRelease apps/podinfo`).
    pub via: Option<String>,
}

impl Declared {
    /// `Kind/namespace/name`.
    pub fn display(&self) -> String {
        self.source.display()
    }

    /// `(file, line)` of a field under the verify block (`""` = the block).
    pub fn at(&self, sub: &str) -> (&str, u64) {
        (
            self.object.file.as_str(),
            self.object
                .line_of(&format!("{}{sub}", self.verify_pointer)),
        )
    }

    /// Whether the namespace is written in the inputs.
    pub fn namespace_known(&self) -> bool {
        !self.source.namespace.is_empty()
    }
}

/// Everything discovered: sources, and findings raised while generating them (patches).
#[derive(Debug, Default)]
pub struct Discovered {
    /// Every source declaration, in input order.
    pub sources: Vec<Declared>,
    /// Findings from FluxInstance patches.
    pub findings: Vec<Finding>,
}

fn is(obj: &Object, group: &str, kind: &str) -> bool {
    obj.group() == group && obj.kind() == kind
}

fn read_source(obj: &Object, value: &Value) -> Result<FluxSource, InputError> {
    let mut v = value.clone();
    if v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .is_none()
    {
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("namespace".into(), json!(""));
        }
    }
    FluxSource::from_value(&v).map_err(|e| InputError {
        file: obj.file.clone(),
        line: Some(obj.line()),
        message: format!("{} {}: {e}", obj.kind(), obj.name()),
    })
}

/// The OCI HelmRepository `namespace/name` in the inputs: `Some(Some(url))` when OCI,
/// `Some(None)` when it exists but is not OCI, `None` when not in the inputs.
fn helm_repository(objects: &[Object], namespace: &str, name: &str) -> Option<Option<String>> {
    objects
        .iter()
        .find(|o| {
            is(o, SOURCE_GROUP, "HelmRepository")
                && o.name() == name
                && (o.namespace().unwrap_or("") == namespace
                    || namespace.is_empty()
                    || o.namespace().is_none())
        })
        .map(|o| {
            let url = o
                .value
                .pointer("/spec/url")
                .and_then(Value::as_str)
                .unwrap_or("");
            let oci = o.value.pointer("/spec/type").and_then(Value::as_str) == Some("oci")
                || url.starts_with("oci://");
            oci.then(|| url.trim_end_matches('/').to_string())
        })
}

/// Discovers every source in `objects`.
pub fn discover(objects: &[Object]) -> Result<Discovered, InputError> {
    let mut out = Discovered::default();
    let chart_url = |ns: &str, repo: &str, chart: &str| -> Option<String> {
        match helm_repository(objects, ns, repo) {
            Some(Some(url)) => Some(format!("{url}/{chart}")),
            Some(None) => None,
            None => Some(String::new()),
        }
    };
    for obj in objects {
        if is(obj, SOURCE_GROUP, "OCIRepository") {
            let source = read_source(obj, &obj.value)?;
            out.sources.push(Declared {
                url: source.url.trim_end_matches('/').to_string(),
                verify_value: obj.value.pointer("/spec/verify").cloned(),
                source,
                object: obj.clone(),
                verify_pointer: "/spec/verify".into(),
                via: None,
            });
        } else if is(obj, SOURCE_GROUP, "HelmChart") {
            let source = read_source(obj, &obj.value)?;
            let chart = source.chart.clone().expect("a HelmChart has a chart");
            if chart.source_kind != "HelmRepository" {
                continue;
            }
            let Some(url) = chart_url(&source.namespace, &chart.source_name, &chart.chart) else {
                continue;
            };
            out.sources.push(Declared {
                url,
                verify_value: obj.value.pointer("/spec/verify").cloned(),
                source,
                object: obj.clone(),
                verify_pointer: "/spec/verify".into(),
                via: None,
            });
        } else if is(obj, HELM_GROUP, "HelmRelease") {
            if let Some(d) = helm_release_chart(obj, &chart_url)? {
                out.sources.push(d);
            }
        } else if is_flux_instance(obj) {
            let Some(root) = root_source(obj) else {
                continue;
            };
            out.findings.extend(root.findings);
            let source = read_source(obj, &root.object)?;
            out.sources.push(Declared {
                url: source.url.trim_end_matches('/').to_string(),
                verify_value: root.object.pointer("/spec/verify").cloned(),
                source,
                object: obj.clone(),
                verify_pointer: root.verify_pointer,
                via: Some(format!(
                    "FluxInstance {}/{} (spec.sync)",
                    obj.namespace().unwrap_or(""),
                    obj.name()
                )),
            });
        }
    }
    Ok(out)
}

/// The HelmChart helm-controller creates for a HelmRelease `spec.chart` template:
/// `<release namespace>-<release name>` in the HelmRepository's namespace, with
/// `spec.chart.spec.verify`. A `spec.chartRef` names a source declared on its own.
fn helm_release_chart(
    obj: &Object,
    chart_url: &dyn Fn(&str, &str, &str) -> Option<String>,
) -> Result<Option<Declared>, InputError> {
    let Some(template) = obj.value.pointer("/spec/chart/spec") else {
        return Ok(None);
    };
    let s = |p: &str| template.pointer(p).and_then(Value::as_str).unwrap_or("");
    if s("/sourceRef/kind") != "HelmRepository" {
        return Ok(None);
    }
    let release_ns = obj.namespace().unwrap_or("");
    let namespace = match s("/sourceRef/namespace") {
        "" => release_ns,
        ns => ns,
    };
    let Some(url) = chart_url(namespace, s("/sourceRef/name"), s("/chart")) else {
        return Ok(None);
    };
    let name = if release_ns.is_empty() {
        format!("<namespace>-{}", obj.name())
    } else {
        format!("{release_ns}-{}", obj.name())
    };
    let mut spec = template.clone();
    if let Some(v) = spec.get("version").and_then(Value::as_f64) {
        spec["version"] = json!(v.to_string());
    }
    let chart = json!({
        "apiVersion": format!("{SOURCE_GROUP}/v1"),
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    let source = read_source(obj, &chart)?;
    Ok(Some(Declared {
        url,
        verify_value: template.get("verify").cloned(),
        source,
        object: obj.clone(),
        verify_pointer: "/spec/chart/spec/verify".into(),
        via: Some(format!("HelmRelease {release_ns}/{}", obj.name())),
    }))
}
