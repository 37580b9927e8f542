//! `provenance-auditor lint`: find a wrong or missing `spec.verify` in Flux manifests before
//! Flux sees them, with the same policy objects and the same matching and `Enforced` code the
//! controller uses.
//!
//! [`input`] reads files, directories and stdin with the line of every node; [`discover`] finds
//! the Flux sources by kind (including the root source a FluxInstance generates, with its
//! kustomize [`patch`]es applied by [`flux_instance`]); [`rules`] judges them; [`output`]
//! prints text, JSON, SARIF or GitHub annotations.

pub mod discover;
pub mod finding;
pub mod flux_instance;
pub mod input;
pub mod live;
pub mod output;
pub mod patch;
pub mod rules;
pub mod yaml;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::api::ProvenancePolicySpec;
use crate::audit::decide::{Secrets, TRUSTED_ROOT_KEY};
pub use finding::{Finding, Severity};
use input::{InputError, Object};
use rules::policy::{LoadedPolicy, NamespaceLabels};

/// The result of a lint run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, sorted by file and line.
    pub findings: Vec<Finding>,
    /// How many source declarations were judged.
    pub sources: usize,
    /// How many policies were applied.
    pub policies: usize,
}

impl Report {
    /// Whether any finding is an error (exit 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Lints `objects`, with the `ProvenancePolicy` objects among them and in `policy_objects`;
/// with a registry client (`--live`), also checks every verified artifact in its registry.
pub async fn lint(
    objects: &[Object],
    policy_objects: &[Object],
    live: Option<&crate::registry::RegistryClient>,
) -> Result<Report, InputError> {
    let policies = load_policies(objects.iter().chain(policy_objects))?;
    let namespaces = namespace_labels(objects);
    let secrets = public_secrets(objects);
    let discovered = discover::discover(objects)?;
    let mut findings = rules::check(&discovered, objects, &policies, &namespaces, &secrets);
    if let Some(client) = live {
        findings.extend(live::check(&discovered.sources, &secrets, client).await);
        findings.sort();
    }
    Ok(Report {
        findings,
        sources: discovered.sources.len(),
        policies: policies.len(),
    })
}

fn load_policies<'a>(
    objects: impl Iterator<Item = &'a Object>,
) -> Result<Vec<LoadedPolicy>, InputError> {
    let mut out = vec![];
    for o in objects.filter(|o| o.group() == crate::api::GROUP && o.kind() == "ProvenancePolicy") {
        // A policy we cannot read would decide nothing: refuse the run instead (fail closed).
        let spec: ProvenancePolicySpec = serde_json::from_value(
            o.value.get("spec").cloned().unwrap_or(Value::Null),
        )
        .map_err(|e| InputError {
            file: o.file.clone(),
            line: Some(o.line()),
            message: format!("ProvenancePolicy {}: {e}", o.name()),
        })?;
        out.push(LoadedPolicy {
            name: o.name().to_string(),
            spec,
            location: o.location(),
        });
    }
    Ok(out)
}

/// Labels of the namespaces in the inputs; a FluxInstance's namespace has the labels its
/// operator gives the Namespace it generates, unless a Namespace object says otherwise.
fn namespace_labels(objects: &[Object]) -> NamespaceLabels {
    let mut out: NamespaceLabels = objects
        .iter()
        .filter(|o| flux_instance::is_flux_instance(o))
        .filter_map(|o| o.namespace())
        .map(|ns| {
            let labels = [
                ("pod-security.kubernetes.io/warn", "restricted"),
                ("pod-security.kubernetes.io/warn-version", "latest"),
                ("app.kubernetes.io/managed-by", "flux-operator"),
                ("app.kubernetes.io/instance", ns),
                ("app.kubernetes.io/part-of", "flux"),
                ("kubernetes.io/metadata.name", ns),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            (ns.to_string(), labels)
        })
        .collect();
    out.extend(
        objects
            .iter()
            .filter(|o| o.kind() == "Namespace" && o.group().is_empty())
            .map(|o| {
                let labels = o
                    .value
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut labels: BTreeMap<String, String> = labels;
                // The API server sets this label on every namespace.
                labels.insert("kubernetes.io/metadata.name".into(), o.name().to_string());
                (o.name().to_string(), labels)
            }),
    );
    out
}

/// Public parts of Secrets in the inputs: `*.pub` keys and `trusted_root.json`. Nothing else
/// is kept, so no secret value can reach a finding.
fn public_secrets(objects: &[Object]) -> Secrets {
    let mut out = Secrets::new();
    for o in objects
        .iter()
        .filter(|o| o.kind() == "Secret" && o.group().is_empty())
    {
        let keep = |k: &str| k.ends_with(".pub") || k == TRUSTED_ROOT_KEY;
        let mut data = BTreeMap::new();
        if let Some(m) = o.value.get("data").and_then(Value::as_object) {
            for (k, v) in m.iter().filter(|(k, _)| keep(k)) {
                if let Some(bytes) = v
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                {
                    data.insert(k.clone(), bytes);
                }
            }
        }
        if let Some(m) = o.value.get("stringData").and_then(Value::as_object) {
            for (k, v) in m.iter().filter(|(k, _)| keep(k)) {
                if let Some(s) = v.as_str() {
                    data.insert(k.clone(), s.as_bytes().to_vec());
                }
            }
        }
        if !data.is_empty() {
            out.insert(
                (
                    o.namespace().unwrap_or("").to_string(),
                    o.name().to_string(),
                ),
                data,
            );
        }
    }
    out
}
