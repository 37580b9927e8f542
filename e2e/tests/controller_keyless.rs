//! Keyless scenarios of issue 4 against real source-controller: an artifact signed keyless by a
//! private Sigstore (`sigstore-forge`: test CA with Fulcio extensions, Rekor, CT log, and its
//! `trusted_root.json` in a Secret), as a cosign v3 bundle.
//!
//! - Scenario 3 (identity): a policy expecting another workflow gives
//!   `Verified=False/IdentityMismatch` naming the signer found.
//! - Scenario 6: a source whose `spec.verify` lists two `matchOIDCIdentity` entries gets
//!   `Enforced=False/VerifyWeaker` saying Flux will halt — and Flux does halt.
//!
//! Its own test binary (and so its own shared controller) to keep `controller.rs` about keys.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use provenance_e2e::{condition, has_cond, revision, run, Ctx};
use serde_json::{json, Value};
use sigstore_forge::{push, LeafSpec, PrivateSigstore, SignOptions};

const FLUX: Duration = Duration::from_secs(90);
const AUDIT: Duration = Duration::from_secs(30);
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SIGNER: &str =
    "https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main";
const OTHER: &str =
    "https://github.com/example/other/.github/workflows/publish.yml@refs/heads/main";

/// An anchored, escaped regex for exactly `s` (what a careful user writes).
fn exactly(s: &str) -> String {
    let mut re = String::from("^");
    for c in s.chars() {
        if ".+*?()[]{}|^$\\".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re.push('$');
    re
}

fn identity(subject: &str) -> Value {
    json!({"issuer": exactly(ISSUER), "subject": exactly(subject)})
}

/// A new private Sigstore in the scratch directory; its `trusted_root.json` in Secret
/// `trusted-root` (the key Flux's `trustedRootSecretRef` reads).
async fn private_sigstore(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = ctx.path("sigstore");
    let d = dir.clone();
    tokio::task::spawn_blocking(move || PrivateSigstore::generate("e2e")?.save(&d))
        .await?
        .map_err(|e| anyhow!("creating the private Sigstore: {e}"))?;
    let root = std::fs::read_to_string(dir.join("trusted_root.json"))?;
    ctx.secret("trusted-root", &[("trusted_root.json", &root)])
        .await?;
    Ok(dir)
}

/// Signs `<registry>/<ns>/<repo>@<digest>` keyless as `subject`, attached as a cosign v3 bundle.
async fn sign_keyless(ctx: &Ctx, dir: &std::path::Path, repo: &str, digest: &str) -> Result<()> {
    let (dir, digest) = (dir.to_path_buf(), digest.to_string());
    let repo = format!("{}/{}/{repo}", ctx.stack.registry(), ctx.ns);
    tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
        let forge = PrivateSigstore::load(&dir)?;
        let leaf = forge.issue_leaf(&LeafSpec::uri(SIGNER, ISSUER))?;
        let bundle = forge.sign_bundle(&leaf, &digest, &SignOptions::default())?;
        push::attach_bundle(&repo, &digest, &bundle)
    })
    .await?
    .map_err(|e| anyhow!("signing keyless: {e}"))?;
    Ok(())
}

#[tokio::test]
async fn keyless_identity_mismatch_and_two_identities_that_flux_cannot_enforce() {
    run("ctl-keyless", |ctx| async move {
        ctx.auditor().await?;
        let sigstore = private_sigstore(&ctx).await?;
        let dir = ctx.artifact_dir("infra", "infra")?;
        let digest = ctx.push_artifact("infra", "v1", &dir).await?;
        sign_keyless(&ctx, &sigstore, "infra", &digest).await?;
        // The policy expects another workflow than the one that signed.
        let policy = format!("{}-keyless", ctx.ns);
        ctx.policy(
            &policy,
            json!({
                "match": {"namespaces": [ctx.ns]},
                "verify": {
                    "provider": "cosign",
                    "matchOIDCIdentity": [identity(OTHER)],
                    "trustedRootSecretRef": {"namespace": ctx.ns, "name": "trusted-root"},
                },
            }),
        )
        .await?;
        // Flux first fetches the artifact without verifying, so that it keeps it once the
        // verification below halts the source.
        let spec = json!({
            "url": ctx.oci_url("infra"), "ref": {"tag": "v1"},
            "interval": "10m", "timeout": "30s", "insecure": true,
        });
        ctx.apply("OCIRepository", "infra", spec).await?;
        ctx.wait_for("OCIRepository", "infra", FLUX, "an artifact", |o| {
            revision(o).is_some_and(|r| r.ends_with(&digest))
        })
        .await?;

        // Scenario 3, keyless: IdentityMismatch, naming who did sign.
        let a = ctx
            .wait_audit(
                "ocirepository-infra",
                AUDIT,
                "Verified=False/IdentityMismatch",
                |a| a.is_some_and(|a| has_cond(a, "Verified", "False", Some("IdentityMismatch"))),
            )
            .await?
            .unwrap_or_default();
        ensure!(
            a["status"]["signer"]
                .as_str()
                .is_some_and(|s| s.starts_with(SIGNER) && s.contains(ISSUER)),
            "status.signer {} is not the workflow that signed",
            a["status"]["signer"]
        );
        let sigs = a["status"]["signatures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            sigs.iter().any(|s| s["verdict"] == "IdentityMismatch"
                && s["format"] == "bundle"
                && s.to_string().contains(SIGNER)),
            "no bundle signature naming {SIGNER}: {sigs:#?}"
        );

        // Scenario 6: two identities in the source's own spec.verify (OR, says Flux's
        // documentation) against a cosign v3 bundle.
        ctx.merge_patch(
            "OCIRepository",
            "infra",
            json!({"spec": {"verify": {
                "provider": "cosign",
                "matchOIDCIdentity": [identity(SIGNER), identity(OTHER)],
                "trustedRootSecretRef": {"name": "trusted-root"},
            }}}),
        )
        .await?;
        let a = ctx
            .wait_audit(
                "ocirepository-infra",
                AUDIT,
                "Enforced=False/VerifyWeaker",
                |a| a.is_some_and(|a| has_cond(a, "Enforced", "False", Some("VerifyWeaker"))),
            )
            .await?
            .unwrap_or_default();
        let enforced = condition(&a, "Enforced")
            .map(|c| c.message)
            .unwrap_or_default();
        ensure!(
            enforced.contains("2 matchOIDCIdentity entries") && enforced.contains("Flux will halt"),
            "Enforced message does not explain the halt: {enforced:?}"
        );
        // The prediction is true: source-controller halts the source.
        let o = ctx
            .wait_for("OCIRepository", "infra", FLUX, "Ready=False", |o| {
                has_cond(o, "Ready", "False", None)
            })
            .await?;
        let ready = condition(&o, "Ready")
            .map(|c| (c.reason, c.message))
            .unwrap_or_default();
        eprintln!("[e2e] Flux halted the source: {ready:?}");
        ensure!(
            ready.1.contains("multiple identities"),
            "Flux halted for another reason than the one predicted: {ready:?}"
        );
        Ok(())
    })
    .await;
}
