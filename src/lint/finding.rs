//! What `lint` reports: a finding with a stable rule id, where it is, and how to fix it.

use serde::Serialize;

/// Stable rule ids (part of the interface: CI filters and SARIF rules use them).
pub mod rules {
    /// A policy that requires `spec.verify` covers a source without one.
    pub const VERIFY_MISSING: &str = "verify-missing";
    /// `spec.verify` accepts signers a covering policy does not.
    pub const VERIFY_WEAKER: &str = "verify-weaker";
    /// Verification is on but constrains no signer.
    pub const NO_SIGNER: &str = "no-signer";
    /// More than one `matchOIDCIdentity` entry.
    pub const MULTIPLE_IDENTITIES: &str = "multiple-identities";
    /// A regex that Go (Flux) and Rust (this auditor) do not both accept with one meaning.
    pub const REGEX_INVALID: &str = "regex-invalid";
    /// A regex without `^…$` accepts attacker-style variants.
    pub const REGEX_UNANCHORED: &str = "regex-unanchored";
    /// An anchored regex still accepts attacker-style variants, or refs a policy forbids.
    pub const IDENTITY_TOO_BROAD: &str = "identity-too-broad";
    /// Two declarations of one source with different verify blocks.
    pub const DRIFT: &str = "drift";
    /// A kustomize patch writes `/spec/verify` on a target that selects no source.
    pub const PATCH_TARGETS_NOTHING: &str = "patch-targets-nothing";
    /// A later patch operation removes the `spec.verify` an earlier one wrote.
    pub const VERIFY_REMOVED: &str = "verify-removed";
    /// A patch flux-operator cannot apply: the instance stops reconciling.
    pub const PATCH_INVALID: &str = "patch-invalid";
    /// `spec.insecure: true` for a registry that is not on loopback.
    pub const INSECURE: &str = "insecure";
    /// `--live`: source-controller would refuse the artifact in the registry.
    pub const LIVE_WOULD_HALT: &str = "live-would-halt";
    /// `--live`: the artifact could not be checked (a warning, never "unsigned").
    pub const LIVE_UNVERIFIABLE: &str = "live-unverifiable";
    /// A chart from an HTTP HelmRepository: Flux cannot verify its signature.
    pub const HTTP_CHART: &str = "http-chart";
    /// A source without `spec.verify` that no policy requires one of (info: the inventory).
    pub const NO_VERIFY: &str = "no-verify";
    /// A template placeholder lint cannot resolve statically (ResourceSet, KRO).
    pub const TEMPLATE_UNRESOLVED: &str = "template-unresolved";
    /// A file that could not be read or parsed (the run exits 2).
    pub const INPUT_ERROR: &str = "input-error";
    /// A file deliberately not read (a symlink out of the tree, Helm templates).
    pub const INPUT_SKIPPED: &str = "input-skipped";
    /// An acknowledgement comment that excuses nothing.
    pub const ACKNOWLEDGEMENT: &str = "acknowledgement";

    /// Every rule id with a one-line description (SARIF `rules`, `docs/lint.md`).
    pub const ALL: &[(&str, &str)] = &[
        (
            VERIFY_MISSING,
            "a policy requires spec.verify and the source has none",
        ),
        (
            VERIFY_WEAKER,
            "spec.verify accepts signers the policy does not",
        ),
        (NO_SIGNER, "spec.verify constrains no signer"),
        (
            MULTIPLE_IDENTITIES,
            "more than one matchOIDCIdentity entry: Flux halts on cosign v3 bundles",
        ),
        (
            REGEX_INVALID,
            "not valid in Go RE2 (Flux) and Rust regex (this auditor) with one meaning",
        ),
        (
            REGEX_UNANCHORED,
            "an unanchored identity regex accepts attacker-style identities",
        ),
        (
            IDENTITY_TOO_BROAD,
            "an identity regex accepts attacker-style identities or forbidden refs",
        ),
        (
            DRIFT,
            "two declarations of the same source with different spec.verify",
        ),
        (
            PATCH_TARGETS_NOTHING,
            "a patch writing /spec/verify selects no source",
        ),
        (VERIFY_REMOVED, "a later patch removes spec.verify again"),
        (PATCH_INVALID, "a FluxInstance patch cannot be applied"),
        (INSECURE, "spec.insecure for a non-loopback registry"),
        (
            LIVE_WOULD_HALT,
            "--live: Flux would refuse the artifact in the registry",
        ),
        (
            LIVE_UNVERIFIABLE,
            "--live: the artifact could not be checked",
        ),
        (
            HTTP_CHART,
            "a chart from an HTTP HelmRepository, which Flux cannot verify",
        ),
        (NO_VERIFY, "a source without spec.verify (inventory)"),
        (
            TEMPLATE_UNRESOLVED,
            "a template placeholder lint cannot resolve offline",
        ),
        (INPUT_ERROR, "a file that could not be read or parsed"),
        (INPUT_SKIPPED, "a file deliberately not read"),
        (
            ACKNOWLEDGEMENT,
            "an acknowledgement comment that excuses nothing",
        ),
    ];
}

/// How bad a finding is: errors fail the run (exit 1), warnings and infos do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the run.
    Error,
    /// Reported only.
    Warning,
    /// What is there (the inventory of unverified sources, skipped files).
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file it is in.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// Stable rule id ([`rules`]).
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The source it is about (`Kind/namespace/name`), or the object for patch findings.
    pub source: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The reason of the in-file acknowledgement that excuses it (it then fails nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<String>,
    /// The cluster root(s) the file is deployed under, when lint found any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

impl Finding {
    /// An error finding.
    pub fn error(
        rule: &'static str,
        at: (&str, u64),
        source: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            file: at.0.to_string(),
            line: at.1,
            rule,
            severity: Severity::Error,
            source: source.into(),
            message: message.into(),
            fix: fix.into(),
            acknowledged: None,
            root: None,
        }
    }

    /// The same finding as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// The same finding as an info.
    pub fn info(mut self) -> Self {
        self.severity = Severity::Info;
        self
    }

    /// Whether it fails the run: an error nobody acknowledged.
    pub fn fails(&self) -> bool {
        self.severity == Severity::Error && self.acknowledged.is_none()
    }
}
