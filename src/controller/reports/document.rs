//! One namespace's report document, in either format: OpenReports `openreports.io/v1alpha1`
//! `Report`, or its predecessor wgpolicyk8s `wgpolicyk8s.io/v1alpha2` `PolicyReport` (the same
//! results and summary; OpenReports adds the report-level `source`).
//!
//! Bounded: the `summary` counts every result, but the `results` list stops at
//! [`MAX_RESULTS_BYTES`] of JSON, failures and errors first, so a namespace with thousands of
//! sources stays well under the API server's object size limit (about 1.5 MiB in etcd). The
//! number left out is the `provenance.dev/results-omitted` annotation. Results are in a stable
//! order, so the same verdicts make the same document (written only when it changes).

use serde_json::{json, Value};

use super::results::{Outcome, ReportResult, SOURCE};

/// The most JSON the results of one report may take.
pub const MAX_RESULTS_BYTES: usize = 900 * 1024;
/// The annotation that says how many results were left out.
pub const OMITTED: &str = "provenance.dev/results-omitted";
/// The label every report of ours carries (its value: the report's name, per shard).
pub const REPORT_LABEL: &str = "provenance.dev/report";

/// Which report kind is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `openreports.io/v1alpha1` `Report`.
    OpenReports,
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport`.
    PolicyReport,
}

impl Format {
    /// `--reports` value: `openreports`, `policyreport` or `none` (`Ok(None)`).
    pub fn parse(s: &str) -> Result<Option<Format>, String> {
        match s {
            "openreports" => Ok(Some(Format::OpenReports)),
            "policyreport" => Ok(Some(Format::PolicyReport)),
            "none" => Ok(None),
            other => Err(format!(
                "--reports: {other:?} is not openreports, policyreport or none"
            )),
        }
    }

    /// `(group, version, kind, plural)`.
    pub fn resource(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Format::OpenReports => ("openreports.io", "v1alpha1", "Report", "reports"),
            Format::PolicyReport => (
                "wgpolicyk8s.io",
                "v1alpha2",
                "PolicyReport",
                "policyreports",
            ),
        }
    }

    /// The API resource.
    pub fn api_resource(self) -> kube::core::ApiResource {
        let (group, version, kind, plural) = self.resource();
        kube::core::ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: format!("{group}/{version}"),
            kind: kind.into(),
            plural: plural.into(),
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// `pass`.
    pub pass: u64,
    /// `fail`.
    pub fail: u64,
    /// `warn`.
    pub warn: u64,
    /// `error`.
    pub error: u64,
    /// `skip`.
    pub skip: u64,
}

impl Summary {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Warn => self.warn += 1,
            Outcome::Error => self.error += 1,
            Outcome::Skip => self.skip += 1,
        }
    }
}

/// The report of namespace `namespace` named `name`, from every result of its sources; and
/// how many results it leaves out.
pub fn document(
    format: Format,
    name: &str,
    namespace: &str,
    mut results: Vec<&ReportResult>,
) -> (Value, usize) {
    let mut summary = Summary::default();
    for r in &results {
        summary.add(r.result);
    }
    // Failures first, then errors, warnings, skips and passes; within each, by source and rule.
    results.sort_by(|a, b| {
        (
            a.result,
            &a.resources[0].kind,
            &a.resources[0].name,
            rule_index(a.rule),
        )
            .cmp(&(
                b.result,
                &b.resources[0].kind,
                &b.resources[0].name,
                rule_index(b.rule),
            ))
    });
    let mut kept = Vec::with_capacity(results.len());
    let mut bytes = 0;
    for r in &results {
        let v = serde_json::to_value(r).unwrap_or(Value::Null);
        let size = v.to_string().len() + 1;
        if bytes + size > MAX_RESULTS_BYTES {
            break;
        }
        bytes += size;
        kept.push(v);
    }
    let omitted = results.len() - kept.len();
    let (group, version, kind, _) = format.resource();
    let mut doc = json!({
        "apiVersion": format!("{group}/{version}"),
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": SOURCE,
                REPORT_LABEL: name,
            },
            "annotations": {OMITTED: omitted.to_string()},
        },
        "summary": {
            "pass": summary.pass, "fail": summary.fail, "warn": summary.warn,
            "error": summary.error, "skip": summary.skip,
        },
        "results": kept,
    });
    if format == Format::OpenReports {
        doc["source"] = json!(SOURCE);
    }
    (doc, omitted)
}

fn rule_index(rule: &str) -> usize {
    super::results::RULES
        .iter()
        .position(|r| *r == rule)
        .unwrap_or(usize::MAX)
}
