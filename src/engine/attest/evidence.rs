//! What we report about each attestation: where it was, its format, its predicate type, who
//! signed it (with every Fulcio certificate claim), whether it verified, and the predicate read
//! into typed evidence. The statement itself is kept (bounded by the discovery's byte budget)
//! for CEL conditions; it never reaches a status.

use serde::Serialize;

use crate::engine::evidence::{LogEntry, SignatureFormat, Signer};
pub use crate::engine::fulcio::CertificateClaims;
use crate::engine::Verdict;
use crate::registry::SignatureLocation;

/// Everything known about one attestation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationEvidence {
    /// Where it was found (referrer, `sha256-<hex>` fallback index, legacy `.att` tag).
    pub location: SignatureLocation,
    /// Sigstore bundle or legacy cosign layer.
    pub format: SignatureFormat,
    /// The statement's predicate type, as the statement says (a claim unless `verdict` is
    /// `Verified`: an unverified attestation of a required type is "invalid", not "missing");
    /// empty when unreadable. At most 512 characters.
    pub predicate_type: String,
    /// Who signed it (claims; `verdict` says whether they hold).
    pub signer: Signer,
    /// The signer certificate's Fulcio claims (OIDs .8–.22), for keyless attestations: as
    /// written in the certificate (claims unless `verdict` is `Verified`), each at most 512
    /// characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateClaims>,
    /// Its transparency-log entry, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlog: Option<LogEntry>,
    /// The predicate, read into typed evidence: only from a statement whose signature holds
    /// under the trust root (`Verified`, or `NoPolicy` when no identity was given to check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Predicate>,
    /// Verified, or why not: `Unsigned` (plain DSSE, no signature), `SignatureInvalid`,
    /// `UntrustedSigner`, `IdentityMismatch`, `KeyMismatch`, `DigestMismatch` (statement about
    /// another digest).
    pub verdict: Verdict,
    /// Why, in words (bounded; never quotes registry content unbounded).
    pub message: String,
    /// The in-toto statement (`_type`, `subject`, `predicateType`, `predicate`), for CEL
    /// conditions. Only set when the signature holds (`Verified`, or `NoPolicy` as for
    /// `predicate`); never serialised. Requirements must still accept only `Verified`.
    #[serde(skip)]
    pub statement: Option<std::sync::Arc<serde_json::Value>>,
}

/// A predicate read into typed evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Predicate {
    /// SLSA provenance v1 or v0.2.
    Provenance(Provenance),
    /// An SPDX or CycloneDX SBOM.
    Sbom(Sbom),
    /// Any other predicate type: only its type, signer and verdict are reported.
    Other,
}

/// SLSA build provenance, v1 (`https://slsa.dev/provenance/v1`) or v0.2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// `v1` or `v0.2`.
    pub slsa_version: String,
    /// `runDetails.builder.id` (v1) / `builder.id` (v0.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    /// `buildDefinition.buildType` (v1) / `buildType` (v0.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// The source repository the artifact was built from (v1: `resolvedDependencies[0].uri`
    /// without the `git+` and `@ref`; v0.2: `invocation.configSource.uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// The source commit (v1: `resolvedDependencies[].digest.gitCommit`; v0.2:
    /// `configSource.digest.sha1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// The source ref (from the dependency URI's `@ref`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// v1 `externalParameters.workflow.repository`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_repository: Option<String>,
    /// v1 `externalParameters.workflow.path` / v0.2 `configSource.entryPoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_path: Option<String>,
    /// v1 `externalParameters.workflow.ref`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_ref: Option<String>,
    /// v1 `runDetails.metadata.invocationId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// v1 `buildDefinition.internalParameters.github.runner_environment` (newer
    /// `actions/attest` only; the builder wrote it, the certificate's `.11` is what to trust).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
}

/// An SBOM's shape, not its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sbom {
    /// SPDX or CycloneDX.
    pub format: SbomFormat,
    /// `spdxVersion` / `specVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Number of packages (SPDX `packages`) or components (CycloneDX `components`).
    pub packages: u64,
    /// The tool that generated it (SPDX `creationInfo.creators` Tool:, CycloneDX
    /// `metadata.tools`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
}

/// The two SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    /// SPDX (`https://spdx.dev/Document…`).
    Spdx,
    /// CycloneDX (`https://cyclonedx.org/bom…`).
    Cyclonedx,
}

impl AttestationEvidence {
    /// The one line the CLI prints for a provenance attestation, e.g. `built from
    /// github.com/org/repo@<sha> by .github/workflows/release.yml@refs/tags/v1.2.3 on
    /// github-hosted`; `None` when it is not a provenance attestation. See
    /// [`Provenance::summary`].
    pub fn summary(&self) -> Option<String> {
        match &self.predicate {
            Some(Predicate::Provenance(p)) => Some(p.summary(self.certificate.as_ref())),
            _ => None,
        }
    }
}

impl Provenance {
    /// `built from <repo>@<commit> by <workflow>@<ref> on <runner>`, each part present only
    /// when known. The certificate's claims come first: the predicate is written by the
    /// workflow, the certificate by Fulcio from the OIDC token. With a reusable workflow the
    /// signer (and the predicate's builder) is the called workflow, while the certificate's
    /// source repository (`.12`) and build config (`.18`) name the caller: that is the
    /// repository the artifact was built from.
    pub fn summary(&self, certificate: Option<&CertificateClaims>) -> String {
        let cert =
            |f: fn(&CertificateClaims) -> &Option<String>| certificate.and_then(|c| f(c).clone());
        let repository =
            cert(|c| &c.source_repository_uri).or_else(|| self.source_repository.clone());
        let commit = cert(|c| &c.source_repository_digest).or_else(|| self.source_commit.clone());
        let workflow = cert(|c| &c.build_config_uri).or_else(|| {
            let path = self.workflow_path.clone()?;
            Some(match (&self.workflow_repository, &self.workflow_ref) {
                (Some(repo), Some(r)) => format!("{repo}/{path}@{r}"),
                (None, Some(r)) => format!("{path}@{r}"),
                _ => path,
            })
        });
        let runner = cert(|c| &c.runner_environment).or_else(|| self.runner_environment.clone());
        let mut line = String::from("built from ");
        let repo = repository.as_deref().map(short_uri);
        line.push_str(repo.unwrap_or("an unknown repository"));
        if let Some(c) = &commit {
            line.push('@');
            line.push_str(c);
        }
        if let Some(w) = &workflow {
            // A workflow of the source repository is named relative to it.
            let w = short_uri(w);
            let relative = repo
                .and_then(|r| w.strip_prefix(r))
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(w);
            line.push_str(" by ");
            line.push_str(relative);
        } else if let Some(b) = &self.builder_id {
            line.push_str(" by ");
            line.push_str(short_uri(b));
        }
        if let Some(r) = &runner {
            line.push_str(" on ");
            line.push_str(r);
        }
        line
    }
}

/// A URI without its scheme and `git+` prefix (`github.com/o/r`).
fn short_uri(u: &str) -> &str {
    let u = u.strip_prefix("git+").unwrap_or(u);
    u.strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .unwrap_or(u)
}
