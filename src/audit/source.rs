//! The Flux source model: the parts of an `OCIRepository` or `HelmChart` (`v1`) the audit needs,
//! read tolerantly from untyped JSON. A malformed object is an error value, never a panic, so
//! one bad object cannot stop the controller (fields we do not need are never looked at).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::SourceKind;

/// A Flux source as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxSource {
    /// `OCIRepository` or `HelmChart`.
    pub kind: SourceKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`: which object of that name (a source deleted and recreated under the
    /// same name is another one).
    pub uid: Option<String>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.url` (`oci://host/repo`); empty for a HelmChart (its repository holds the URL).
    pub url: String,
    /// `spec.ref` of an OCIRepository.
    pub reference: OciRef,
    /// `spec.chart`, `spec.version`, `spec.sourceRef` of a HelmChart.
    pub chart: Option<ChartSpec>,
    /// `spec.verify`.
    pub verify: Option<SourceVerify>,
    /// `spec.secretRef.name` (registry credentials, dockerconfigjson).
    pub secret_ref: Option<String>,
    /// `spec.serviceAccountName` (its imagePullSecrets).
    pub service_account_name: Option<String>,
    /// `spec.certSecretRef.name` (`tls.crt`, `tls.key`, `ca.crt`).
    pub cert_secret_ref: Option<String>,
    /// `spec.insecure`: plain HTTP.
    pub insecure: bool,
    /// `spec.provider`: `generic` (default), `aws`, `azure`, `gcp`.
    pub provider: String,
    /// `status.artifact.revision`.
    pub artifact_revision: Option<String>,
    /// `status.artifact.digest` (`sha256:<hex>` of the stored artifact: for a chart from an
    /// HTTP repository, the package tarball).
    pub artifact_digest: Option<String>,
    /// `status.conditions[type=Ready]`.
    pub ready: Option<FluxCondition>,
    /// `status.conditions[type=SourceVerified]`.
    pub source_verified: Option<FluxCondition>,
}

/// `spec.ref` of an OCIRepository (precedence digest > semver > tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciRef {
    /// `tag`.
    pub tag: Option<String>,
    /// `semver` range.
    pub semver: Option<String>,
    /// `digest`.
    pub digest: Option<String>,
}

/// What a HelmChart points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSpec {
    /// `spec.chart`.
    pub chart: String,
    /// `spec.version` (a semver range or exact version).
    pub version: Option<String>,
    /// `spec.sourceRef.kind` (`HelmRepository`, `GitRepository`, `Bucket`).
    pub source_kind: String,
    /// `spec.sourceRef.name`.
    pub source_name: String,
    /// Whether values files are merged (Flux then appends `+<generation>` to the revision).
    pub has_values_files: bool,
    /// `spec.url` of the HelmRepository, when the caller has read it (the chart itself does not
    /// say): what a policy's `urlRegex` matches ([`FluxSource::match_url`]).
    pub repository_url: Option<String>,
}

/// `spec.verify` as the source declares it (Secrets by name, in the source's namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceVerify {
    /// `cosign` (default) or `notation`.
    pub provider: String,
    /// `secretRef.name`: keys `*.pub`.
    pub secret_ref: Option<String>,
    /// `matchOIDCIdentity` as (issuer, subject) regexes.
    pub match_oidc_identity: Vec<(String, String)>,
    /// `trustedRootSecretRef.name` (OCIRepository only).
    pub trusted_root_secret_ref: Option<String>,
}

/// A condition on a Flux object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluxCondition {
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// The generation it was computed for.
    pub observed_generation: Option<i64>,
    /// RFC 3339, as written.
    pub last_transition_time: Option<String>,
}

/// What to resolve and verify for a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// Verify this digest of `image` (`host/repo`): what Flux fetched.
    Digest {
        /// `host/repo`.
        image: String,
        /// `sha256:<hex>`.
        digest: String,
    },
    /// Resolve this tag reference (`host/repo/chart:version`) to a digest first: Flux records none.
    Tag {
        /// `host/repo/chart:tag`.
        reference: String,
    },
}

/// Why an object cannot be read as a Flux source, or not audited yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Not an OCIRepository or HelmChart of `source.toolkit.fluxcd.io`.
    #[error("not a Flux source kind: {0:?}")]
    UnsupportedKind(String),
    /// A field the audit needs is missing or has the wrong type.
    #[error("{field}: {detail}")]
    Malformed {
        /// JSON path of the field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Flux has no artifact yet: nothing to audit.
    #[error("{0}")]
    NotReady(String),
}

fn malformed(field: &'static str, detail: impl Into<String>) -> SourceError {
    SourceError::Malformed {
        field,
        detail: detail.into(),
    }
}

/// An optional string field: absent and `null` are `None`, any other non-string is an error.
fn opt_str(v: &Value, path: &[&str], field: &'static str) -> Result<Option<String>, SourceError> {
    match path.iter().try_fold(v, |v, k| v.get(k)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(field, format!("expected a string, got {other}"))),
    }
}

fn req_str(v: &Value, path: &[&str], field: &'static str) -> Result<String, SourceError> {
    opt_str(v, path, field)?.ok_or_else(|| malformed(field, "missing"))
}

impl FluxSource {
    /// Reads a source from an object as the API server returns it (e.g. a `DynamicObject`
    /// serialized with `serde_json::to_value`).
    pub fn from_value(obj: &Value) -> Result<Self, SourceError> {
        if !obj.is_object() {
            return Err(malformed("", "not a JSON object"));
        }
        let kind = match opt_str(obj, &["kind"], "kind")?.as_deref() {
            Some("OCIRepository") => SourceKind::OciRepository,
            Some("HelmChart") => SourceKind::HelmChart,
            other => return Err(SourceError::UnsupportedKind(other.unwrap_or("").into())),
        };
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        let labels = match obj.pointer("/metadata/labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(malformed("metadata.labels", format!("{k} is not a string"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(malformed("metadata.labels", "not a map")),
        };
        let generation = match obj.pointer("/metadata/generation") {
            None | Some(Value::Null) => None,
            Some(g) => Some(
                g.as_i64()
                    .ok_or_else(|| malformed("metadata.generation", "not an integer"))?,
            ),
        };
        let chart = match kind {
            SourceKind::OciRepository => None,
            SourceKind::HelmChart => Some(ChartSpec {
                chart: req_str(spec, &["chart"], "spec.chart")?,
                version: opt_str(spec, &["version"], "spec.version")?,
                source_kind: req_str(spec, &["sourceRef", "kind"], "spec.sourceRef.kind")?,
                source_name: req_str(spec, &["sourceRef", "name"], "spec.sourceRef.name")?,
                has_values_files: spec
                    .get("valuesFiles")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty()),
                repository_url: None,
            }),
        };
        let url = match kind {
            SourceKind::OciRepository => req_str(spec, &["url"], "spec.url")?,
            SourceKind::HelmChart => String::new(),
        };
        Ok(Self {
            kind,
            namespace: req_str(obj, &["metadata", "namespace"], "metadata.namespace")?,
            name: req_str(obj, &["metadata", "name"], "metadata.name")?,
            uid: opt_str(obj, &["metadata", "uid"], "metadata.uid")?,
            generation,
            labels,
            url,
            reference: OciRef {
                tag: opt_str(spec, &["ref", "tag"], "spec.ref.tag")?,
                semver: opt_str(spec, &["ref", "semver"], "spec.ref.semver")?,
                digest: opt_str(spec, &["ref", "digest"], "spec.ref.digest")?,
            },
            chart,
            verify: parse_verify(spec.get("verify"))?,
            secret_ref: opt_str(spec, &["secretRef", "name"], "spec.secretRef.name")?,
            service_account_name: opt_str(
                spec,
                &["serviceAccountName"],
                "spec.serviceAccountName",
            )?,
            cert_secret_ref: opt_str(spec, &["certSecretRef", "name"], "spec.certSecretRef.name")?,
            insecure: spec
                .get("insecure")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            provider: opt_str(spec, &["provider"], "spec.provider")?
                .unwrap_or_else(|| "generic".into()),
            artifact_revision: opt_str(
                status,
                &["artifact", "revision"],
                "status.artifact.revision",
            )?,
            artifact_digest: opt_str(status, &["artifact", "digest"], "status.artifact.digest")?,
            ready: find_condition(status, "Ready")?,
            source_verified: find_condition(status, "SourceVerified")?,
        })
    }

    /// Reads a source from a `kube` dynamic object.
    pub fn from_dynamic(obj: &kube::api::DynamicObject) -> Result<Self, SourceError> {
        let mut v = serde_json::to_value(obj).map_err(|e| malformed("", e.to_string()))?;
        // A DynamicObject from a typed watch may lack its TypeMeta; the data still says what it is.
        if v.get("kind").is_none() {
            if let Some(t) = &obj.types {
                v["kind"] = Value::String(t.kind.clone());
            }
        }
        Self::from_value(&v)
    }

    /// The same source, a HelmChart knowing its HelmRepository's `spec.url`.
    pub fn with_chart_repository(mut self, url: Option<String>) -> Self {
        if let Some(chart) = &mut self.chart {
            chart.repository_url = url;
        }
        self
    }

    /// The URL a policy's `urlRegex` is matched against: an OCIRepository's `spec.url`; a
    /// HelmChart's `oci://<repository host/path>/<chart>` from an OCI HelmRepository, or the
    /// HelmRepository's URL as written for an HTTP one. `None` when the chart's repository URL
    /// is not known.
    pub fn match_url(&self) -> Option<String> {
        let Some(chart) = &self.chart else {
            return Some(self.url.clone());
        };
        let repo = chart.repository_url.as_deref()?;
        Some(if repo.starts_with("oci://") {
            format!("{}/{}", repo.trim_end_matches('/'), chart.chart)
        } else {
            repo.to_string()
        })
    }

    /// `kind/namespace/name`, for messages and logs.
    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    /// What to verify: for an OCIRepository the digest Flux fetched (from
    /// `status.artifact.revision`); for a HelmChart the tag `<repo>/<chart>:<version>` to
    /// resolve, given its HelmRepository's URL (`oci://…`).
    pub fn digest_to_audit(
        &self,
        helm_repository_url: Option<&str>,
    ) -> Result<AuditTarget, SourceError> {
        let revision = self.artifact_revision.as_deref().ok_or_else(|| {
            SourceError::NotReady(format!("{} has no artifact yet", self.display()))
        })?;
        match self.kind {
            SourceKind::OciRepository => Ok(AuditTarget::Digest {
                image: strip_oci(&self.url, "spec.url")?.to_string(),
                digest: digest_of_revision(revision)?,
            }),
            SourceKind::HelmChart => {
                let chart = self
                    .chart
                    .as_ref()
                    .ok_or_else(|| malformed("spec.chart", "missing"))?;
                let repo_url = helm_repository_url.ok_or_else(|| {
                    SourceError::NotReady(format!(
                        "{} {} has no URL yet",
                        chart.source_kind, chart.source_name
                    ))
                })?;
                let repo = strip_oci(repo_url, "HelmRepository spec.url")?;
                Ok(AuditTarget::Tag {
                    reference: format!(
                        "{}/{}:{}",
                        repo.trim_end_matches('/'),
                        chart.chart,
                        chart_tag(revision, chart.has_values_files, self.generation)
                    ),
                })
            }
        }
    }
}

/// `spec.url` of a HelmRepository object (OCI or HTTP), if it has one.
pub fn helm_repository_url(obj: &Value) -> Option<String> {
    obj.pointer("/spec/url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
}

fn strip_oci<'a>(url: &'a str, field: &'static str) -> Result<&'a str, SourceError> {
    url.strip_prefix("oci://")
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| malformed(field, format!("{url:?} is not an oci:// URL")))
}

/// The manifest digest in an OCIRepository revision: `<tag>@sha256:<hex>` or `sha256:<hex>`.
pub fn digest_of_revision(revision: &str) -> Result<String, SourceError> {
    let digest = revision.rsplit_once('@').map_or(revision, |(_, d)| d);
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(digest.to_string())
    } else {
        Err(malformed(
            "status.artifact.revision",
            format!("{revision:?} holds no sha256 digest"),
        ))
    }
}

/// The OCI tag of a chart revision. With values files Flux appends `+<generation>`, which is
/// not part of the chart's version; and Helm pushes `+` as `_` because OCI tags cannot hold `+`.
fn chart_tag(revision: &str, has_values_files: bool, generation: Option<i64>) -> String {
    let version = match (has_values_files, generation) {
        (true, Some(g)) => revision.strip_suffix(&format!("+{g}")).unwrap_or(revision),
        _ => revision,
    };
    version.replace('+', "_")
}

fn parse_verify(v: Option<&Value>) -> Result<Option<SourceVerify>, SourceError> {
    let v = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(malformed("spec.verify", "not an object")),
    };
    let identities = match v.get("matchOIDCIdentity") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                Ok((
                    req_str(i, &["issuer"], "spec.verify.matchOIDCIdentity.issuer")?,
                    req_str(i, &["subject"], "spec.verify.matchOIDCIdentity.subject")?,
                ))
            })
            .collect::<Result<_, SourceError>>()?,
        Some(_) => return Err(malformed("spec.verify.matchOIDCIdentity", "not a list")),
    };
    Ok(Some(SourceVerify {
        provider: opt_str(v, &["provider"], "spec.verify.provider")?
            .unwrap_or_else(|| "cosign".into()),
        secret_ref: opt_str(v, &["secretRef", "name"], "spec.verify.secretRef.name")?,
        match_oidc_identity: identities,
        trusted_root_secret_ref: opt_str(
            v,
            &["trustedRootSecretRef", "name"],
            "spec.verify.trustedRootSecretRef.name",
        )?,
    }))
}

fn find_condition(status: &Value, type_: &str) -> Result<Option<FluxCondition>, SourceError> {
    let conditions = match status.get("conditions") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(c)) => c,
        Some(_) => return Err(malformed("status.conditions", "not a list")),
    };
    let Some(c) = conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    else {
        return Ok(None);
    };
    Ok(Some(FluxCondition {
        status: opt_str(c, &["status"], "status.conditions.status")?
            .unwrap_or_else(|| "Unknown".into()),
        reason: opt_str(c, &["reason"], "status.conditions.reason")?.unwrap_or_default(),
        message: opt_str(c, &["message"], "status.conditions.message")?.unwrap_or_default(),
        observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
        last_transition_time: opt_str(
            c,
            &["lastTransitionTime"],
            "status.conditions.lastTransitionTime",
        )?,
    }))
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
