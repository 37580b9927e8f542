//! The per-artifact report: the stable JSON document of `verify -o json` (documented in
//! `docs/verify-json.md`) and its text rendering.

use serde::Serialize;

use super::attest::{AttestationEvidence, Predicate};
use super::evidence::SignatureEvidence;
use super::flux_compat::CompatNote;
use super::policy::Policy;
use super::suggest::SuggestedVerify;
use super::verdict::Verdict;
use super::Evaluation;
use crate::registry::ImageRef;
use crate::vocabulary::Judgement;

/// Everything `verify` says about one reference.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactReport {
    /// The reference as given.
    pub reference: String,
    /// The manifest digest verified (`None` if it could not be resolved).
    pub digest: Option<String>,
    /// The artifact-level verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub message: String,
    /// The policy applied, described.
    pub policy: String,
    /// Every signature found, with its own verdict.
    pub signatures: Vec<SignatureEvidence>,
    /// Where Flux would judge differently.
    pub flux_compatibility: Vec<CompatNote>,
    /// A Flux `spec.verify` block that would accept the signer found.
    pub suggested_verify: Option<SuggestedVerify>,
    /// Every attestation found (SLSA provenance, SBOMs, …), verified under the same policy,
    /// with its typed predicate and its own verdict.
    pub attestations: Vec<AttestationEvidence>,
    /// The `Attested` judgement, when attestations were required (`--attestation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attested: Option<AttestedReport>,
    /// With no attestation required: a `ProvenancePolicy` `attestations:` block (YAML) that
    /// requires what was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_attestations: Option<String>,
}

/// Whether the required attestations hold: the `Attested` condition's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestedReport {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// `Attested`, `AttestationMissing`, `AttestationInvalid`, `AttestationPolicyFailed`,
    /// `ConditionError`, `RegistryUnavailable`, …
    pub reason: &'static str,
    /// Why, in words.
    pub message: String,
}

impl From<Judgement> for AttestedReport {
    fn from(j: Judgement) -> Self {
        Self {
            status: j.status.as_str(),
            reason: j.reason,
            message: j.message,
        }
    }
}

impl ArtifactReport {
    /// A report from an evaluation.
    pub fn new(image: &ImageRef, digest: &str, policy: &Policy, e: Evaluation) -> Self {
        let suggested_verify = SuggestedVerify::from_evidence(&e.signatures);
        Self {
            suggested_verify,
            ..Self::from_evaluation(&image.to_string(), digest, policy.describe(), e)
        }
    }

    /// A report from an evaluation of something named by URL (a Helm chart package).
    pub fn from_evaluation(reference: &str, digest: &str, policy: String, e: Evaluation) -> Self {
        Self {
            reference: reference.to_string(),
            digest: Some(digest.to_string()),
            verdict: e.verdict,
            message: e.message,
            policy,
            // A Flux spec.verify cannot check a .prov: nothing to suggest.
            suggested_verify: None,
            signatures: e.signatures,
            flux_compatibility: e.flux_compatibility,
            attestations: vec![],
            attested: None,
            suggested_attestations: None,
        }
    }

    /// A report for a URL we could not check.
    pub fn for_url(
        reference: &str,
        digest: Option<&str>,
        policy: String,
        verdict: Verdict,
        message: String,
    ) -> Self {
        Self {
            reference: reference.to_string(),
            digest: digest.map(str::to_string),
            verdict,
            message,
            policy,
            signatures: vec![],
            flux_compatibility: vec![],
            suggested_verify: None,
            attestations: vec![],
            attested: None,
            suggested_attestations: None,
        }
    }

    /// A report for a reference we could not check.
    pub fn error(
        image: &ImageRef,
        digest: Option<&str>,
        policy: &Policy,
        verdict: Verdict,
        message: String,
    ) -> Self {
        Self::for_url(
            &image.to_string(),
            digest,
            policy.describe(),
            verdict,
            message,
        )
    }

    /// Human-readable rendering.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.reference);
        if let Some(d) = &self.digest {
            out.push_str(&format!("  digest:  {d}\n"));
        }
        out.push_str(&format!(
            "  verdict: {}\n  reason:  {}\n  policy:  {}\n",
            self.verdict, self.message, self.policy
        ));
        if !self.signatures.is_empty() {
            out.push_str("  signatures:\n");
        }
        for s in &self.signatures {
            out.push_str(&signature_text(s));
        }
        for note in &self.flux_compatibility {
            out.push_str(&format!("  flux: [{}] {}\n", note.code, note.message));
        }
        if let Some(s) = &self.suggested_verify {
            out.push_str("  a Flux spec.verify that accepts this signer:\n");
            for line in s.to_yaml().lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if !self.attestations.is_empty() {
            out.push_str("  attestations:\n");
        }
        for a in &self.attestations {
            out.push_str(&attestation_text(a));
        }
        if let Some(a) = &self.attested {
            out.push_str(&format!(
                "  attested: {} ({}) {}\n",
                a.status, a.reason, a.message
            ));
        }
        if let Some(block) = &self.suggested_attestations {
            out.push_str(
                "  a ProvenancePolicy block that requires these attestations (under spec:):\n",
            );
            for line in block.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out
    }
}

fn signature_text(s: &SignatureEvidence) -> String {
    let format = s.format.as_str();
    let mut out = format!(
        "    - {format} ({}): {} — {}\n",
        s.location, s.verdict, s.message
    );
    let signer = s.signer.describe();
    if signer != "unknown key" {
        out.push_str(&format!("      signer: {signer}\n"));
    }
    if let Some(ci) = &s.ci {
        let parts: Vec<String> = [
            ("repository", &ci.source_repository),
            ("ref", &ci.source_repository_ref),
            ("workflow", &ci.workflow),
            ("run", &ci.run_invocation_uri),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
        out.push_str(&format!("      ci: {}\n", parts.join(", ")));
    }
    if let Some(t) = &s.tlog {
        let time = t
            .integrated_time
            .as_deref()
            .map(|t| format!(", integrated {t}"))
            .unwrap_or_default();
        out.push_str(&format!("      rekor: log index {}{time}\n", t.log_index));
    }
    out
}

fn attestation_text(a: &AttestationEvidence) -> String {
    let kind = if a.predicate_type.is_empty() {
        "(unreadable)"
    } else {
        a.predicate_type.as_str()
    };
    let mut out = format!(
        "    - {kind} ({} {}): {} — {}\n",
        a.format.as_str(),
        a.location,
        a.verdict,
        a.message
    );
    let signer = a.signer.describe();
    if signer != "unknown key" {
        out.push_str(&format!("      signer: {signer}\n"));
    }
    if let Some(line) = a.summary() {
        out.push_str(&format!("      {line}\n"));
    }
    match &a.predicate {
        Some(Predicate::Sbom(s)) => out.push_str(&format!(
            "      sbom: {:?} {}, {} package(s){}\n",
            s.format,
            s.version.as_deref().unwrap_or("?"),
            s.packages,
            s.generator
                .as_deref()
                .map(|g| format!(", by {g}"))
                .unwrap_or_default()
        )),
        Some(Predicate::Provenance(p)) => {
            if let Some(b) = &p.builder_id {
                out.push_str(&format!("      builder: {b}\n"));
            }
        }
        _ => {}
    }
    out
}
