//! Attestation fixtures (issue 12): a private Sigstore whose trusted root is in a Secret,
//! keyless attestations with GitHub-style certificate claims and unsigned ones (from
//! `sigstore-forge`), real `cosign attest --key` attestations, OCIRepositories fetched without
//! verification, and waiting on a `ProvenancePolicy`'s status.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use kube::api::{Api, DynamicObject};
use serde_json::{json, Value};
use sigstore_forge::predicates::Build;
use sigstore_forge::{push, LeafSpec, PrivateSigstore, SignOptions};

use crate::auditor::provenance;
use crate::ctx::{Ctx, POLL};
use crate::fixtures::FLUX;
use crate::object::{has_cond, revision, status_summary};

/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// An anchored, escaped regex for exactly `s` (what a careful user writes).
pub fn exactly(s: &str) -> String {
    format!("^{}$", escape(s))
}

/// `s` with every regex metacharacter escaped.
pub fn escape(s: &str) -> String {
    let mut re = String::new();
    for c in s.chars() {
        if ".+*?()[]{}|^$\\".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re
}

/// Who signs a keyless attestation, and what it says.
pub struct KeylessAttestation<'a> {
    /// The run that built the artifact: claims and predicate come from it.
    pub build: &'a Build,
    /// The certificate's SAN; `None` = the build's workflow identity (the honest case).
    pub identity: Option<&'a str>,
    /// The statement's predicate type.
    pub predicate_type: &'a str,
    /// The statement's predicate.
    pub predicate: Value,
    /// Forgeries (`signed_digest`: a statement about another digest).
    pub opts: SignOptions,
}

impl Ctx {
    /// A new private Sigstore in the scratch directory; its `trusted_root.json` in Secret
    /// `trusted-root` of the test namespace. Returns its directory.
    pub async fn private_sigstore(&self) -> Result<PathBuf> {
        let dir = self.path("sigstore");
        let d = dir.clone();
        tokio::task::spawn_blocking(move || PrivateSigstore::generate("e2e")?.save(&d))
            .await?
            .map_err(|e| anyhow!("creating the private Sigstore: {e}"))?;
        let root = std::fs::read_to_string(dir.join("trusted_root.json"))?;
        self.secret("trusted-root", &[("trusted_root.json", &root)])
            .await?;
        Ok(dir)
    }

    /// `<registry>/<ns>/<repo>`, as the forge's push functions name a repository.
    fn forge_repo(&self, repo: &str) -> String {
        format!("{}/{}/{repo}", self.stack.registry(), self.ns)
    }

    /// Signs `repo@digest` keyless (a cosign v3 bundle) as `build`'s workflow, with its claims.
    pub async fn sign_keyless(
        &self,
        sigstore: &Path,
        repo: &str,
        digest: &str,
        build: &Build,
    ) -> Result<()> {
        let (dir, digest, repo) = (
            sigstore.to_path_buf(),
            digest.to_string(),
            self.forge_repo(repo),
        );
        let build = build.clone();
        tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
            let forge = PrivateSigstore::load(&dir)?;
            let mut spec = LeafSpec::uri(&build.workflow_identity(), GITHUB_ISSUER);
            spec.ci = build.ci_claims();
            let bundle =
                forge.sign_bundle(&forge.issue_leaf(&spec)?, &digest, &SignOptions::default())?;
            push::attach_bundle(&repo, &digest, &bundle)
        })
        .await?
        .map_err(|e| anyhow!("signing keyless: {e}"))?;
        Ok(())
    }

    /// Attaches a keyless attestation to `repo@digest` as an OCI referrer (bundle format).
    pub async fn attest_keyless(
        &self,
        sigstore: &Path,
        repo: &str,
        digest: &str,
        a: KeylessAttestation<'_>,
    ) -> Result<()> {
        let identity = a
            .identity
            .map_or_else(|| a.build.workflow_identity(), str::to_string);
        let mut spec = LeafSpec::uri(&identity, GITHUB_ISSUER);
        spec.ci = a.build.ci_claims();
        let (dir, digest, repo) = (
            sigstore.to_path_buf(),
            digest.to_string(),
            self.forge_repo(repo),
        );
        let (predicate_type, predicate, opts) = (a.predicate_type.to_string(), a.predicate, a.opts);
        tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
            let forge = PrivateSigstore::load(&dir)?;
            let leaf = forge.issue_leaf(&spec)?;
            let bundle = forge.attest(&leaf, &digest, &predicate_type, &predicate, &opts)?;
            push::attach_bundle(&repo, &digest, &bundle)
        })
        .await?
        .map_err(|e| anyhow!("attesting keyless: {e}"))?;
        Ok(())
    }

    /// Attaches the statement in a DSSE envelope nobody signed, as an OCI referrer.
    pub async fn attach_unsigned(
        &self,
        repo: &str,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
    ) -> Result<()> {
        let (digest, repo) = (digest.to_string(), self.forge_repo(repo));
        let (predicate_type, predicate) = (predicate_type.to_string(), predicate.clone());
        tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
            let json = sigstore_forge::unsigned_bundle_json(&digest, &predicate_type, &predicate)?;
            push::attach_bundle_json(&repo, &digest, &json, &predicate_type)
        })
        .await?
        .map_err(|e| anyhow!("attaching an unsigned attestation: {e}"))?;
        Ok(())
    }

    /// `cosign attest --key KEY --type TYPE --predicate <predicate as a file>` on
    /// `<registry>/<ns>/<repo>@<digest>`, format "bundle" or "legacy".
    pub async fn cosign_attest(
        &self,
        key: &Path,
        predicate_type: &str,
        predicate: &Value,
        format: &str,
        repo: &str,
        digest: &str,
    ) -> Result<()> {
        let file = self.path(&format!(
            "predicate-{repo}-{}.json",
            predicate_type.replace(['/', ':'], "_")
        ));
        std::fs::write(&file, serde_json::to_vec_pretty(predicate)?)?;
        let r = format!("{}/{}/{repo}@{digest}", self.stack.registry(), self.ns);
        self.script(
            "cosign-attest.sh",
            &[
                "--key",
                key.to_str().unwrap(),
                "--type",
                predicate_type,
                "--predicate",
                file.to_str().unwrap(),
                "--format",
                format,
                &r,
            ],
        )
        .await?;
        Ok(())
    }

    /// Applies an OCIRepository for `<repo>:v1` without `spec.verify`.
    pub async fn oci_source(&self, repo: &str) -> Result<()> {
        self.apply("OCIRepository", repo, self.oci_spec(repo, None))
            .await?;
        Ok(())
    }

    /// Waits until Flux has fetched `digest` for OCIRepository `repo`.
    pub async fn wait_fetched(&self, repo: &str, digest: &str) -> Result<()> {
        self.wait_for("OCIRepository", repo, FLUX, "the artifact fetched", |o| {
            revision(o).is_some_and(|r| r.ends_with(digest)) && has_cond(o, "Ready", "True", None)
        })
        .await?;
        Ok(())
    }

    /// Polls the `ProvenancePolicy` `name` until `pred` holds on it, or `timeout`.
    pub async fn wait_policy(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let api =
            Api::<DynamicObject>::all_with(self.client.clone(), &provenance("ProvenancePolicy"));
        let deadline = Instant::now() + timeout;
        loop {
            let p = serde_json::to_value(api.get(name).await?)?;
            if pred(&p) {
                return Ok(p);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for ProvenancePolicy {name}: {what}; last seen: {} {}",
                    status_summary(&p),
                    p["status"]
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The spec of a keyless policy for this namespace's sources named `names` (globs): signatures
/// and, by default, attestations by `subject` (a regex) from GitHub Actions, with the trust
/// root in Secret `trusted-root`, and the `attestations` requirements given.
pub fn keyless_policy(ns: &str, names: &[&str], subject: &str, attestations: Value) -> Value {
    json!({
        "match": {"namespaces": [ns], "names": names},
        "verify": {
            "provider": "cosign",
            "matchOIDCIdentity": [{"issuer": exactly(GITHUB_ISSUER), "subject": subject}],
            "trustedRootSecretRef": {"namespace": ns, "name": "trusted-root"},
        },
        "attestations": attestations,
    })
}
