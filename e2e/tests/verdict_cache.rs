//! Issue 9 items 2 and 7 on the real stack, with the shared controller: the verdict cache is
//! keyed by repository (a signed repository and an unsigned mirror of the same digest get their
//! own verdicts), and a status forged by someone who may write `sourceaudits/status` does not
//! stick.

use anyhow::{ensure, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use provenance_e2e::{has_cond, provenance, revision, run, Ctx, AUDIT, FLUX, RESYNC};
use serde_json::{json, Value};

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

/// Pushes `dir` to `<registry>/<ns>/<repo>:v1` with a fixed creation time, so the same content
/// gives the same digest in every repository.
async fn push_reproducibly(ctx: &Ctx, repo: &str, dir: &std::path::Path) -> Result<String> {
    let r = format!("{}/{}/{repo}:v1", ctx.stack.registry(), ctx.ns);
    ctx.script(
        "push-artifact.sh",
        &[
            &r,
            dir.to_str().unwrap_or_default(),
            "--annotation",
            "org.opencontainers.image.created=2026-01-01T00:00:00Z",
        ],
    )
    .await
}

async fn fetched(ctx: &Ctx, repo: &str, digest: &str) -> Result<()> {
    ctx.apply("OCIRepository", repo, ctx.oci_spec(repo, None))
        .await?;
    ctx.wait_for("OCIRepository", repo, FLUX, "an artifact", |o| {
        revision(o).is_some_and(|r| r.ends_with(digest))
    })
    .await?;
    Ok(())
}

/// Item 2: the same digest, signed in one repository and not in its mirror.
#[tokio::test]
async fn the_same_digest_in_an_unsigned_mirror_gets_its_own_verdict() {
    run("cache-mirror", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        ctx.policy(&format!("{}-keys", ctx.ns), ctx.key_policy("cosign-pub"))
            .await?;
        let dir = ctx.artifact_dir("app", "mirrored")?;
        let digest = push_reproducibly(&ctx, "signed", &dir).await?;
        let mirrored = push_reproducibly(&ctx, "mirror", &dir).await?;
        ensure!(
            digest == mirrored,
            "{digest} != {mirrored}: not the same artifact"
        );
        ctx.sign(&key, "bundle", "signed", &digest).await?;
        // The signed repository first, so its verdict is in the cache when the mirror is audited.
        fetched(&ctx, "signed", &digest).await?;
        ctx.wait_audit("ocirepository-signed", AUDIT, "Verified", |a| {
            verified(a, "True", "Verified")
        })
        .await?;
        fetched(&ctx, "mirror", &digest).await?;
        let a = ctx
            .wait_audit("ocirepository-mirror", AUDIT, "Unsigned", |a| {
                verified(a, "False", "Unsigned")
            })
            .await?
            .unwrap_or_default();
        ensure!(
            a["status"]["verdictCache"]["repository"]
                .as_str()
                .is_some_and(|r| r.ends_with("/mirror")),
            "{}",
            a["status"]["verdictCache"]
        );
        Ok(())
    })
    .await;
}

/// Item 7: `Verified=True` written into the status of an unsigned source (keeping the
/// controller's own `verdictCache`) is overwritten at the next audit, never kept.
#[tokio::test]
async fn a_forged_verified_status_is_overwritten() {
    run("cache-forged", |ctx| async move {
        ctx.auditor().await?;
        let (_, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        ctx.policy(&format!("{}-keys", ctx.ns), ctx.key_policy("cosign-pub"))
            .await?;
        ctx.flux_source("app", None, None).await?;
        let a = ctx
            .wait_audit("ocirepository-app", AUDIT, "Unsigned", |a| {
                verified(a, "False", "Unsigned")
            })
            .await?
            .unwrap_or_default();
        // Whoever may patch sourceaudits/status in the namespace writes Verified=True.
        let mut conditions = a["status"]["conditions"].clone();
        for c in conditions.as_array_mut().into_iter().flatten() {
            if c["type"] == "Verified" {
                c["status"] = json!("True");
                c["reason"] = json!("Verified");
                c["message"] = json!("forged");
            }
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &ctx.ns, &provenance("SourceAudit"));
        api.patch_status(
            "ocirepository-app",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"conditions": conditions, "signer": "forged"}})),
        )
        .await?;
        let forged = ctx.audit("ocirepository-app").await?;
        ensure!(
            verified(forged.as_ref(), "True", "Verified"),
            "the forgery did not take: {forged:?}"
        );
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                RESYNC + AUDIT,
                "the forged Verified=True replaced by the true verdict",
                |a| verified(a, "False", "Unsigned"),
            )
            .await?
            .unwrap_or_default();
        ensure!(
            a["status"]["signer"] != "forged",
            "the forged signer was kept: {}",
            a["status"]
        );
        Ok(())
    })
    .await;
}
