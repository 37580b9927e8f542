//! The results of one audited source: one per rule (`signature`, `identity`, `enforced`,
//! `provenance`, `sbom`), computed from the status the controller just wrote and the policies
//! it applied (never read back from the cluster, where a tenant may write).
//!
//! - `signature`: a signature over the digest was found and is well-formed (`fail` when
//!   unsigned, invalid or about another digest);
//! - `identity`: it is by a signer the policies accept (`skip` when there is no signature to
//!   judge or no policy says who);
//! - `enforced`: Flux itself enforces an equivalent `spec.verify` (`fail` when a policy requires
//!   it, `warn` otherwise);
//! - `provenance` / `sbom`: a verified SLSA provenance / SBOM attestation (`fail` when a policy
//!   requires one that is missing or fails, `skip` when none is required or found).
//!
//! Anything the audit could not tell (a registry outage, a missing Secret) is `error`, never
//! `fail`; an artifact Flux has not fetched yet is `skip`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::{SourceAuditStatus, SourceKind};
use crate::audit::decide::Decision;
use crate::engine::attest::predicate::{
    CYCLONEDX_PREFIX, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, SPDX_PREFIX,
};
use crate::vocabulary::{reasons, types, Status};

/// The `source` of every result (and of an OpenReports `Report`).
pub const SOURCE: &str = "provenance-auditor";
/// Longest message kept in a result.
pub const MAX_MESSAGE: usize = 256;
/// Longest property value kept.
pub const MAX_PROPERTY: usize = 256;
/// Longest `policy` kept (the applied policies' names).
pub const MAX_POLICY: usize = 200;

/// The rules, in report order.
pub const RULES: [&str; 5] = ["signature", "identity", "enforced", "provenance", "sbom"];

/// A result's outcome, as both report formats spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A definite finding against the source (sorted first: the results kept when a report
    /// must be cut).
    Fail,
    /// Could not tell.
    Error,
    /// Not required, but not met either.
    Warn,
    /// Nothing to judge.
    Skip,
    /// Met.
    Pass,
}

/// The object reference of a result's resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `source.toolkit.fluxcd.io/v1`.
    pub api_version: String,
    /// `OCIRepository` or `HelmChart`.
    pub kind: String,
    /// The source's name.
    pub name: String,
    /// The source's namespace.
    pub namespace: String,
    /// The source's UID.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// `{seconds, nanos}`, as both formats want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Timestamp {
    /// Unix seconds.
    pub seconds: i64,
    /// Always 0 (the API server stores seconds).
    pub nanos: i32,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ReportResult {
    /// [`SOURCE`].
    pub source: &'static str,
    /// The applied `ProvenancePolicy` names (or `spec.verify`), `none` when none applies.
    pub policy: String,
    /// One of [`RULES`].
    pub rule: &'static str,
    /// `Provenance`.
    pub category: &'static str,
    /// `pass`, `fail`, `warn`, `error`, `skip`.
    pub result: Outcome,
    /// `high` (signature, identity), `medium` (enforced, provenance), `low` (sbom).
    pub severity: &'static str,
    /// Counted in scores.
    pub scored: bool,
    /// The condition's message, bounded.
    pub message: String,
    /// The Flux source.
    pub resources: [Resource; 1],
    /// `digest`, `revision`, and per rule `signer`, `issuer`, `builder`, `commit`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<&'static str, String>,
    /// When the verdict last changed (so an unchanged verdict leaves the report unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// The audited source a result is about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Its kind.
    pub kind: SourceKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

impl Subject {
    fn resource(&self) -> Resource {
        Resource {
            api_version: "source.toolkit.fluxcd.io/v1".into(),
            kind: self.kind.as_str().into(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            uid: self.uid.clone(),
        }
    }
}

/// Every rule's result for a source whose audit computed `status` under `decision`.
pub fn results(
    subject: &Subject,
    status: &SourceAuditStatus,
    decision: &Decision,
) -> Vec<ReportResult> {
    let cond = |t: &str| status.condition(t);
    let verified = cond(types::VERIFIED);
    let (v_status, v_reason, v_message) =
        verified.map_or((Status::Unknown, reasons::ARTIFACT_NOT_READY, ""), |c| {
            (
                Status::parse(&c.status),
                known(&c.reason),
                c.message.as_str(),
            )
        });
    let not_ready = v_reason == reasons::ARTIFACT_NOT_READY;
    let (signature, identity) = signature_and_identity(v_status, v_reason);
    let enforced = match cond(types::ENFORCED) {
        _ if not_ready => Outcome::Skip,
        Some(c) if c.status == Status::True.as_str() => Outcome::Pass,
        Some(c) if c.status == Status::False.as_str() => {
            if decision.policies.iter().any(|p| p.require_source_verify) {
                Outcome::Fail
            } else {
                Outcome::Warn
            }
        }
        _ => Outcome::Skip,
    };
    let attested = cond(types::ATTESTED);
    let required: Vec<String> = decision
        .required_attestations()
        .iter()
        .map(|r| r.requirement.predicate_type.clone())
        .collect();
    let provenance = attestation_rule(status, attested, &required, is_provenance, not_ready);
    let sbom = attestation_rule(status, attested, &required, is_sbom, not_ready);
    let policy = policy_names(status);
    let timestamp = verified.map(|c| Timestamp {
        seconds: c.last_transition_time.0.as_second(),
        nanos: 0,
    });
    let mut base = BTreeMap::new();
    put(&mut base, "digest", status.digest.as_deref());
    put(&mut base, "revision", status.flux_revision.as_deref());
    let mut signer = base.clone();
    put(&mut signer, "signer", status.signer.as_deref());
    put(&mut signer, "issuer", issuer(status));
    let mut built = base.clone();
    let prov = status.attestations.iter().find_map(|a| {
        a.provenance
            .as_ref()
            .filter(|_| a.verdict == reasons::VERIFIED)
    });
    put(
        &mut built,
        "builder",
        prov.and_then(|p| p.builder_id.as_deref()),
    );
    put(
        &mut built,
        "commit",
        prov.and_then(|p| p.source_commit.as_deref()),
    );
    put(
        &mut built,
        "repository",
        prov.and_then(|p| p.source_repository.as_deref()),
    );
    let attested_message = attested.map_or("", |c| c.message.as_str());
    let enforced_message = cond(types::ENFORCED).map_or("", |c| c.message.as_str());
    let rows = [
        ("signature", signature, "high", v_message, &signer),
        ("identity", identity, "high", v_message, &signer),
        ("enforced", enforced, "medium", enforced_message, &base),
        (
            "provenance",
            provenance.0,
            "medium",
            provenance.1.unwrap_or(attested_message),
            &built,
        ),
        (
            "sbom",
            sbom.0,
            "low",
            sbom.1.unwrap_or(attested_message),
            &base,
        ),
    ];
    rows.into_iter()
        .map(
            |(rule, result, severity, message, properties)| ReportResult {
                source: SOURCE,
                policy: policy.clone(),
                rule,
                category: "Provenance",
                result,
                severity,
                scored: true,
                message: crate::controller::text::truncate(message, MAX_MESSAGE),
                resources: [subject.resource()],
                properties: properties.clone(),
                timestamp,
            },
        )
        .collect()
}

/// Every rule `error` for a source whose audit failed before it had a verdict.
pub fn failed(subject: &Subject, why: &str) -> Vec<ReportResult> {
    let severities = ["high", "high", "medium", "medium", "low"];
    RULES
        .iter()
        .zip(severities)
        .map(|(rule, severity)| ReportResult {
            source: SOURCE,
            policy: "none".into(),
            rule,
            category: "Provenance",
            result: Outcome::Error,
            severity,
            scored: true,
            message: crate::controller::text::truncate(why, MAX_MESSAGE),
            resources: [subject.resource()],
            properties: BTreeMap::new(),
            timestamp: None,
        })
        .collect()
}

fn known(reason: &str) -> &'static str {
    crate::vocabulary::known_reason(types::VERIFIED, reason)
        // A reason outside the vocabulary is not a verdict.
        .unwrap_or(reasons::REGISTRY_UNAVAILABLE)
}

fn signature_and_identity(status: Status, reason: &str) -> (Outcome, Outcome) {
    use Outcome::*;
    match reason {
        reasons::VERIFIED if status == Status::True => (Pass, Pass),
        reasons::UNSIGNED | reasons::SIGNATURE_INVALID | reasons::DIGEST_MISMATCH => (Fail, Skip),
        reasons::IDENTITY_MISMATCH | reasons::KEY_MISMATCH | reasons::UNTRUSTED_SIGNER => {
            (Pass, Fail)
        }
        reasons::NO_POLICY => (Pass, Skip),
        reasons::ARTIFACT_NOT_READY => (Skip, Skip),
        // RegistryUnavailable, AuthenticationFailed, TrustRootError, PolicyInvalid,
        // InputUnavailable: could not tell.
        _ => (Error, Error),
    }
}

fn is_provenance(t: &str) -> bool {
    t == SLSA_PROVENANCE_V1
        || t == SLSA_PROVENANCE_V02
        || t.starts_with("https://slsa.dev/provenance/")
}

fn is_sbom(t: &str) -> bool {
    t.starts_with(SPDX_PREFIX) || t.starts_with(CYCLONEDX_PREFIX)
}

/// One attestation rule and, when it is not the Attested condition's, its own message.
fn attestation_rule(
    status: &SourceAuditStatus,
    attested: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    required: &[String],
    of_kind: fn(&str) -> bool,
    not_ready: bool,
) -> (Outcome, Option<&'static str>) {
    if not_ready {
        return (Outcome::Skip, Some("no artifact yet"));
    }
    let found = status
        .attestations
        .iter()
        .any(|a| a.verdict == reasons::VERIFIED && of_kind(&a.predicate_type));
    if !required.iter().any(|t| of_kind(t)) {
        return if found {
            (
                Outcome::Pass,
                Some("a verified attestation of this kind is present (not required)"),
            )
        } else {
            (Outcome::Skip, Some("not required, none found"))
        };
    }
    match attested.map(|c| (Status::parse(&c.status), c.reason.as_str())) {
        Some((Status::True, _)) => (Outcome::Pass, None),
        // Another required attestation is the missing one.
        Some((Status::False, reasons::ATTESTATION_MISSING)) if found => (Outcome::Pass, None),
        Some((Status::False, _)) => (Outcome::Fail, None),
        _ => (Outcome::Error, None),
    }
}

fn policy_names(status: &SourceAuditStatus) -> String {
    if status.policies.is_empty() {
        return "none".into();
    }
    crate::controller::text::truncate(&status.policies.join(","), MAX_POLICY)
}

fn issuer(status: &SourceAuditStatus) -> Option<&str> {
    status
        .signatures
        .iter()
        .find_map(|s| s.signer.issuer.as_deref())
}

fn put(map: &mut BTreeMap<&'static str, String>, key: &'static str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        map.insert(key, crate::controller::text::truncate(v, MAX_PROPERTY));
    }
}
