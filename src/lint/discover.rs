//! Finding the Flux sources in the inputs by **kind**, never by text: OCIRepository,
//! HelmChart, the HelmChart a HelmRelease's `spec.chart` template makes, and the root
//! OCIRepository flux-operator generates from a FluxInstance. Charts from HTTP HelmRepositories
//! are sources too (Flux cannot verify them: they are reported, not skipped).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::finding::Finding;
use super::flux_instance::{is_flux_instance, root_source};
use super::input::{InputError, Object};
use crate::audit::source::{helm_repository_url, FluxSource};

/// The group of Flux source kinds.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// The group of HelmRelease.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

/// How the artifact is fetched, which decides whether Flux can verify it at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An OCI registry: cosign signatures can be verified.
    Oci,
    /// An HTTP Helm repository: Flux cannot verify a signature.
    Http,
    /// The chart's HelmRepository is not in the inputs.
    Unknown,
}

/// One declaration of a Flux source in the inputs.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The source as the controller reads it (namespace `""` when the file does not say).
    pub source: FluxSource,
    /// The object that declares it (the source itself, a HelmRelease or a FluxInstance).
    pub object: Object,
    /// Pointer (in `object`) of the effective `spec.verify`, or of where it would go.
    pub verify_pointer: String,
    /// The artifact's location: `oci://host/repo` (a chart: `…/chart`; an HTTP chart: its
    /// repository's URL), `""` when unknown.
    pub url: String,
    /// How it is fetched.
    pub transport: Transport,
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

    /// Why a `spec.verify` that is written verifies nothing, if it does: a blank provider (the
    /// API server refuses it) or a blank key Secret name (it names no key).
    pub fn blank_verify(&self) -> Option<&'static str> {
        let v = self.source.verify.as_ref()?;
        if v.provider.trim().is_empty() {
            Some("spec.verify.provider is blank: the API server refuses the object (cosign or notation), so Flux verifies nothing")
        } else if v.secret_ref.as_deref().is_some_and(|n| n.trim().is_empty()) {
            Some("spec.verify.secretRef.name is blank: it names no key, so Flux verifies nothing")
        } else {
            None
        }
    }

    /// Whether Flux verifies this artifact at all.
    pub fn verifies(&self) -> bool {
        self.source.verify.is_some() && self.blank_verify().is_none()
    }
}

/// Everything discovered: sources, findings raised while generating them (patches), and
/// objects that could not be read as sources.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Every source declaration, in input order.
    pub sources: Vec<Declared>,
    /// Findings from FluxInstance patches.
    pub findings: Vec<Finding>,
    /// Source objects that could not be read (the run exits 2; the others are linted).
    pub errors: Vec<InputError>,
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

/// The HelmRepositories in the inputs, by namespace and name (and by name alone, for a
/// reference or a repository whose namespace is not written).
struct HelmRepositories<'a> {
    exact: HashMap<(&'a str, &'a str), &'a Object>,
    by_name: HashMap<&'a str, &'a Object>,
}

/// A HelmRepository as a chart sees it.
struct Repo {
    url: String,
    oci: bool,
}

impl<'a> HelmRepositories<'a> {
    fn new(objects: &'a [Object]) -> Self {
        let mut exact = HashMap::new();
        let mut by_name = HashMap::new();
        for o in objects
            .iter()
            .filter(|o| is(o, SOURCE_GROUP, "HelmRepository"))
        {
            exact
                .entry((o.namespace().unwrap_or(""), o.name()))
                .or_insert(o);
            by_name.entry(o.name()).or_insert(o);
        }
        Self { exact, by_name }
    }

    fn get(&self, namespace: &str, name: &str) -> Option<Repo> {
        let o = self.exact.get(&(namespace, name)).or_else(|| {
            self.by_name
                .get(name)
                .filter(|o| namespace.is_empty() || o.namespace().is_none())
        })?;
        let url = helm_repository_url(&o.value).unwrap_or_default();
        let oci = o.value.pointer("/spec/type").and_then(Value::as_str) == Some("oci")
            || url.starts_with("oci://");
        Some(Repo { url, oci })
    }

    /// `(url, transport, repository url)` of `chart` from `namespace/name`.
    fn chart(
        &self,
        namespace: &str,
        name: &str,
        chart: &str,
    ) -> (String, Transport, Option<String>) {
        match self.get(namespace, name) {
            Some(r) if r.oci => (
                format!("{}/{chart}", r.url.trim_end_matches('/')),
                Transport::Oci,
                Some(r.url),
            ),
            Some(r) => (r.url.clone(), Transport::Http, Some(r.url)),
            None => (String::new(), Transport::Unknown, None),
        }
    }
}

/// Discovers every source in `objects`.
pub fn discover(objects: &[Object]) -> Discovered {
    let mut out = Discovered::default();
    let repos = HelmRepositories::new(objects);
    for obj in objects {
        match declare(obj, &repos, &mut out.findings) {
            Ok(Some(mut d)) => {
                if d.via.is_none() {
                    d.via.clone_from(&obj.template);
                }
                out.sources.push(d)
            }
            Ok(None) => {}
            Err(e) => out.errors.push(e),
        }
    }
    out
}

fn declare(
    obj: &Object,
    repos: &HelmRepositories,
    findings: &mut Vec<Finding>,
) -> Result<Option<Declared>, InputError> {
    if is(obj, SOURCE_GROUP, "OCIRepository") {
        let source = read_source(obj, &obj.value)?;
        return Ok(Some(Declared {
            url: source.url.trim_end_matches('/').to_string(),
            transport: Transport::Oci,
            verify_value: obj.value.pointer("/spec/verify").cloned(),
            source,
            object: obj.clone(),
            verify_pointer: "/spec/verify".into(),
            via: None,
        }));
    }
    if is(obj, SOURCE_GROUP, "HelmChart") {
        let source = read_source(obj, &obj.value)?;
        let Some(chart) = source.chart.clone() else {
            return Ok(None);
        };
        if chart.source_kind != "HelmRepository" {
            return Ok(None);
        }
        let (url, transport, repo) =
            repos.chart(&source.namespace, &chart.source_name, &chart.chart);
        return Ok(Some(Declared {
            url,
            transport,
            verify_value: obj.value.pointer("/spec/verify").cloned(),
            source: source.with_chart_repository(repo),
            object: obj.clone(),
            verify_pointer: "/spec/verify".into(),
            via: None,
        }));
    }
    if is(obj, HELM_GROUP, "HelmRelease") {
        return helm_release_chart(obj, repos);
    }
    if is_flux_instance(obj) {
        let Some(root) = root_source(obj) else {
            return Ok(None);
        };
        findings.extend(root.findings);
        let source = read_source(obj, &root.object)?;
        return Ok(Some(Declared {
            url: source.url.trim_end_matches('/').to_string(),
            transport: Transport::Oci,
            verify_value: root.object.pointer("/spec/verify").cloned(),
            source,
            object: obj.clone(),
            verify_pointer: root.verify_pointer,
            via: Some(format!(
                "FluxInstance {}/{} (spec.sync)",
                obj.namespace().unwrap_or(""),
                obj.name()
            )),
        }));
    }
    Ok(None)
}

/// The HelmChart helm-controller creates for a HelmRelease `spec.chart` template:
/// `<release namespace>-<release name>` in the HelmRepository's namespace, with
/// `spec.chart.spec.verify`. A `spec.chartRef` names a source declared on its own.
fn helm_release_chart(
    obj: &Object,
    repos: &HelmRepositories,
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
    let (url, transport, repo) = repos.chart(namespace, s("/sourceRef/name"), s("/chart"));
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
        transport,
        verify_value: template.get("verify").cloned(),
        source: source.with_chart_repository(repo),
        object: obj.clone(),
        verify_pointer: "/spec/chart/spec/verify".into(),
        via: Some(format!("HelmRelease {release_ns}/{}", obj.name())),
    }))
}
