//! Reading Flux objects' status: conditions, revisions, summaries.

use kube::core::ApiResource;
use serde_json::Value;

/// Flux source kinds used by the tests (source.toolkit.fluxcd.io/v1).
pub fn flux(kind: &str) -> ApiResource {
    let plural = match kind {
        "OCIRepository" => "ocirepositories",
        "HelmRepository" => "helmrepositories",
        "HelmChart" => "helmcharts",
        "GitRepository" => "gitrepositories",
        "Bucket" => "buckets",
        other => panic!("unknown Flux kind {other}"),
    };
    ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// A status condition, flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
}

/// `status.conditions[type == ty]` of an object (as JSON).
pub fn condition(obj: &Value, ty: &str) -> Option<Cond> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| Cond {
            status: c["status"].as_str().unwrap_or_default().to_string(),
            reason: c["reason"].as_str().unwrap_or_default().to_string(),
            message: c["message"].as_str().unwrap_or_default().to_string(),
            observed_generation: c["observedGeneration"].as_i64(),
        })
}

/// True when condition `ty` has `status` (and `reason`, if given).
pub fn has_cond(obj: &Value, ty: &str, status: &str, reason: Option<&str>) -> bool {
    condition(obj, ty).is_some_and(|c| c.status == status && reason.is_none_or(|r| c.reason == r))
}

/// `status.artifact.revision`.
pub fn revision(obj: &Value) -> Option<String> {
    obj.pointer("/status/artifact/revision")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

/// A short summary of an object's status for messages.
pub fn status_summary(obj: &Value) -> String {
    let conds: Vec<String> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={}/{}: {}",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                        c["reason"].as_str().unwrap_or("?"),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "generation={} observedGeneration={} revision={:?} conditions=[{}]",
        generation(obj),
        obj.pointer("/status/observedGeneration")
            .map(Value::to_string)
            .unwrap_or_else(|| "-".into()),
        revision(obj),
        conds.join("; ")
    )
}
