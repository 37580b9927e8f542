//! `provenance-auditor audit`: a one-shot audit of every Flux `OCIRepository` and `HelmChart`
//! in a namespace (or all), reaching the controller's verdicts by the controller's own pipeline
//! ([`crate::verifier::pipeline`]) without installing or writing anything.
//!
//! Policies are the cluster's `ProvenancePolicy` objects, or those of a local YAML file. The
//! JSON output is documented in docs/commands.md.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::Client;
use serde::Serialize;

use super::duration::parse_duration;
use super::{policies, table, EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_VERIFIED};
use crate::api::{PolicySet, SourceAuditStatus, SourceKind};
use crate::audit::source::FluxSource;
use crate::cluster::{kube_client, source_resource};
use crate::registry::cloud::CloudCredentials;
use crate::registry::{RegistryClient, RegistryOptions};
use crate::verifier::{needs_namespace_labels, Verifier};
use crate::vocabulary::types;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Like `kubectl get`.
    Table,
    /// The stable JSON document described in docs/commands.md.
    Json,
}

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace to audit (default: the kubeconfig context's namespace, else `default`).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Audit the sources of every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Judge against the ProvenancePolicy documents in this YAML file instead of the cluster's.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
    /// Registry verifications running at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Registry verifications running at once against any one registry.
    #[arg(long, default_value_t = 4)]
    pub registry_concurrency: usize,
    /// Timeout of each registry request.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub registry_timeout: Duration,
}

/// The JSON document `audit -o json` prints (schema `provenance.dev/audit/v1`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditOutput {
    /// Always `provenance.dev/audit/v1`.
    pub schema: &'static str,
    /// `cluster` or `file:<path>`: where the policies came from.
    pub policies_from: String,
    /// How many sources ended in each state.
    pub summary: Summary,
    /// One per source, ordered by namespace, kind, name.
    pub results: Vec<AuditResult>,
}

/// Counts by `Verified` status.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Sources audited.
    pub total: usize,
    /// `Verified=True`.
    pub verified: usize,
    /// `Verified=False`: definitely not verified.
    pub not_verified: usize,
    /// `Verified=Unknown`, or the source could not be audited: could not tell.
    pub unknown: usize,
}

/// One source's audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditResult {
    /// The source's namespace.
    pub namespace: String,
    /// `OCIRepository` or `HelmChart`.
    pub kind: SourceKind,
    /// The source's name.
    pub name: String,
    /// Where the artifact is (`oci://…`; for a chart, the tag reference resolved).
    pub url: Option<String>,
    /// Flux's `status.artifact.revision`.
    pub revision: Option<String>,
    /// The manifest digest verified.
    pub digest: Option<String>,
    /// The `Verified` condition's status: `True`, `False` or `Unknown`.
    pub verified: String,
    /// Its reason (`Verified`, `Unsigned`, `KeyMismatch`, `RegistryUnavailable`, …).
    pub reason: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// Who signed, in one line.
    pub signer: Option<String>,
    /// The `Enforced` condition's status.
    pub enforced: Option<String>,
    /// The status a `SourceAudit` would carry (without `verdictCache`, the controller's memory).
    pub status: Option<SourceAuditStatus>,
    /// Why the source could not be audited at all (then `verified` is `Unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AuditResult {
    fn from_status(source: &FluxSource, mut status: SourceAuditStatus) -> Self {
        status.verdict_cache = None;
        status.seal = None;
        let verified = status.condition(types::VERIFIED);
        Self {
            namespace: source.namespace.clone(),
            kind: source.kind,
            name: source.name.clone(),
            url: status
                .source
                .as_ref()
                .and_then(|s| s.url.clone())
                .or_else(|| (!source.url.is_empty()).then(|| source.url.clone())),
            revision: source.artifact_revision.clone(),
            digest: status.digest.clone(),
            verified: verified.map_or_else(|| "Unknown".into(), |c| c.status.clone()),
            reason: verified.map(|c| c.reason.clone()),
            message: verified.map(|c| c.message.clone()),
            signer: status.signer.clone(),
            enforced: status.condition(types::ENFORCED).map(|c| c.status.clone()),
            status: Some(status),
            error: None,
        }
    }

    fn failed(namespace: &str, kind: SourceKind, name: &str, error: String) -> Self {
        Self {
            namespace: namespace.into(),
            kind,
            name: name.into(),
            url: None,
            revision: None,
            digest: None,
            verified: "Unknown".into(),
            reason: None,
            message: None,
            signer: None,
            enforced: None,
            status: None,
            error: Some(error),
        }
    }

    fn row(&self) -> Vec<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            self.namespace.clone(),
            self.kind.to_string(),
            self.name.clone(),
            self.verified.clone(),
            o(&self.reason),
            o(&self.signer),
            o(&self.enforced),
            o(&self.revision),
        ]
    }
}

/// The table's columns.
pub const HEADERS: [&str; 8] = [
    "NAMESPACE",
    "KIND",
    "NAME",
    "VERIFIED",
    "REASON",
    "SIGNER",
    "ENFORCED",
    "REVISION",
];

/// The table `audit -o table` prints.
pub fn render_table(results: &[AuditResult]) -> String {
    let rows: Vec<Vec<String>> = results.iter().map(AuditResult::row).collect();
    table::render(&HEADERS, &rows)
}

/// 0 if every source is `Verified=True`; 1 if any is `False`; otherwise 2 (some could not be
/// told). The same contract as `verify`.
///
/// No source at all is 2, not 0: "every one of nothing is verified" would let a typo in `-n`
/// (or a source not created yet) pass a CI gate. `confirm` exits 2 for the same reason.
pub fn exit_code<'a>(verified: impl IntoIterator<Item = &'a str>) -> u8 {
    let all: Vec<&str> = verified.into_iter().collect();
    if all.is_empty() {
        EXIT_ERROR
    } else if all.contains(&"False") {
        EXIT_NOT_VERIFIED
    } else if all.iter().any(|v| *v != "True") {
        EXIT_ERROR
    } else {
        EXIT_VERIFIED
    }
}

fn summary(results: &[AuditResult]) -> Summary {
    let count = |s: &str| results.iter().filter(|r| r.verified == s).count();
    Summary {
        total: results.len(),
        verified: count("True"),
        not_verified: count("False"),
        unknown: results.len() - count("True") - count("False"),
    }
}

/// Runs `audit`; returns the exit code.
pub async fn run(args: AuditArgs) -> u8 {
    match audit(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("provenance-auditor audit: {e}");
            EXIT_ERROR
        }
    }
}

async fn audit(args: &AuditArgs) -> Result<u8, String> {
    // Read the policy file first: a typo there needs no cluster to be reported.
    let file_policies = match &args.policy {
        Some(path) => Some(policies::read_policy_file(path)?),
        None => None,
    };
    let client = kube_client(args.kubeconfig.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let namespace = match (&args.namespace, args.all_namespaces) {
        (_, true) => None,
        (Some(ns), false) => Some(ns.clone()),
        (None, false) => Some(client.default_namespace().to_string()),
    };
    let (policies, policies_from) = match (file_policies, &args.policy) {
        (Some(p), Some(path)) => (PolicySet::from(p), format!("file:{}", path.display())),
        _ => (
            policies::cluster_policies(&client).await?,
            "cluster".to_string(),
        ),
    };
    let sources = list_sources(&client, namespace.as_deref()).await?;
    let registry = RegistryClient::new(RegistryOptions {
        timeout: args.registry_timeout,
        ..RegistryOptions::default()
    })
    .map_err(|e| e.to_string())?;
    // One run: every verdict is fresh, nothing is read back or sealed.
    let verifier = Verifier::builder(client.clone(), registry)
        .limits(args.concurrency, args.registry_concurrency)
        // `spec.provider` sources with this machine's own cloud identity, as the controller.
        .cloud(CloudCredentials::from_process(None, args.registry_timeout)?)
        .build();
    let verifier = &verifier;
    let policies = &policies;
    let mut results: Vec<AuditResult> = futures::stream::iter(sources)
        .map(|(kind, obj)| async move { audit_one(verifier, policies, kind, &obj).await })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    results.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    for r in &results {
        if let Some(e) = &r.error {
            eprintln!("warning: {} {}/{}: {e}", r.kind, r.namespace, r.name);
        }
    }
    if results.is_empty() {
        // On stderr whatever the output format: exit 2 needs its reason next to it.
        match &namespace {
            Some(ns) => eprintln!(
                "No OCIRepository or HelmChart found in {ns} namespace: nothing to audit (exit 2)."
            ),
            None => eprintln!("No OCIRepository or HelmChart found: nothing to audit (exit 2)."),
        }
    }
    match args.output {
        Output::Table => {
            if !results.is_empty() {
                print!("{}", render_table(&results));
            }
        }
        Output::Json => {
            let out = AuditOutput {
                schema: "provenance.dev/audit/v1",
                policies_from,
                summary: summary(&results),
                results: results.clone(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(exit_code(results.iter().map(|r| r.verified.as_str())))
}

/// Every OCIRepository and HelmChart in `namespace` (all when `None`). A kind whose CRD is not
/// served is skipped (the controller does the same for HelmChart).
async fn list_sources(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<(SourceKind, DynamicObject)>, String> {
    let mut out = vec![];
    for kind in [SourceKind::OciRepository, SourceKind::HelmChart] {
        let ar = source_resource(kind);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        match api.list(&ListParams::default()).await {
            Ok(list) => out.extend(list.items.into_iter().map(|o| (kind, o))),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                eprintln!("note: {kind} is not served by this cluster: skipped");
            }
            Err(e) => return Err(format!("listing {kind}s: {e}")),
        }
    }
    Ok(out)
}

async fn audit_one(
    verifier: &Verifier,
    policies: &PolicySet,
    kind: SourceKind,
    obj: &DynamicObject,
) -> AuditResult {
    let mut obj = obj.clone();
    // List items carry no TypeMeta; the source model reads the kind from it.
    obj.types.get_or_insert_with(|| kube::core::TypeMeta {
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: kind.as_str().into(),
    });
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let source = match FluxSource::from_dynamic(&obj) {
        Ok(s) => s,
        Err(e) => {
            return AuditResult::failed(&ns, kind, &name, format!("cannot read Flux source: {e}"))
        }
    };
    let ns_labels = if needs_namespace_labels(policies) {
        match verifier.namespace_labels(&source.namespace).await {
            Ok(Some(labels)) => Ok(labels),
            Ok(None) => {
                return AuditResult::failed(&ns, kind, &name, format!("namespace {ns} not found"))
            }
            // Judged `Unknown/InputUnavailable`: never against fewer policies than apply.
            Err(why) => Err(why),
        }
    } else {
        Ok(Default::default())
    };
    // No previous status: a one-shot audit asks the registry, as the controller does for a
    // source it has not audited yet.
    match verifier
        .judge(&source, policies, &ns_labels, None, None)
        .await
    {
        Ok(j) => AuditResult::from_status(&source, j.status),
        Err(e) => AuditResult::failed(&ns, kind, &name, format!("audit failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ns: &str, name: &str, verified: &str) -> AuditResult {
        let mut r = AuditResult::failed(ns, SourceKind::OciRepository, name, "x".into());
        r.error = None;
        r.verified = verified.into();
        r
    }

    #[test]
    fn exit_codes_follow_the_verify_contract() {
        assert_eq!(exit_code(["True", "True"]), 0);
        // Nothing selected (a typo in -n) is not success.
        assert_eq!(exit_code([]), 2);
        assert_eq!(exit_code(["True", "False"]), 1);
        assert_eq!(exit_code(["True", "Unknown"]), 2);
        // A definite failure outranks "could not tell" for another source.
        assert_eq!(exit_code(["Unknown", "False"]), 1);
    }

    #[test]
    fn the_table_has_kubectl_columns_and_dashes() {
        let mut a = result("apps", "podinfo", "True");
        a.reason = Some("Verified".into());
        a.signer = Some("key sha256:abc".into());
        a.enforced = Some("True".into());
        a.revision = Some("v1@sha256:1234".into());
        let mut b = result("apps", "unsigned", "False");
        b.reason = Some("Unsigned".into());
        b.enforced = Some("False".into());
        assert_eq!(
            render_table(&[a, b]),
            "NAMESPACE   KIND            NAME       VERIFIED   REASON     SIGNER           ENFORCED   REVISION\n\
             apps        OCIRepository   podinfo    True       Verified   key sha256:abc   True       v1@sha256:1234\n\
             apps        OCIRepository   unsigned   False      Unsigned   -                False      -\n"
        );
    }

    #[test]
    fn the_summary_counts_by_verified_status() {
        let rs = [
            result("a", "1", "True"),
            result("a", "2", "False"),
            result("a", "3", "Unknown"),
            result("a", "4", "False"),
        ];
        assert_eq!(
            summary(&rs),
            Summary {
                total: 4,
                verified: 1,
                not_verified: 2,
                unknown: 1
            }
        );
    }
}
