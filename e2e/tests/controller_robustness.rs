//! One malformed source never stops the controller's watch: a source whose Flux status names a
//! revision that is not a digest is reported (Verified=Unknown/ArtifactNotReady, never True),
//! and a good source created after it in the same namespace is still audited.

use std::time::Duration;

use anyhow::{ensure, Result};
use kube::api::{Patch, PatchParams};
use provenance_e2e::{has_cond, revision, run, Ctx};
use serde_json::json;

const FLUX: Duration = Duration::from_secs(90);
const AUDIT: Duration = Duration::from_secs(30);

/// A suspended OCIRepository (source-controller leaves it alone) whose status we write.
async fn malformed_source(ctx: &Ctx, name: &str) -> Result<()> {
    let spec = json!({"url": ctx.oci_url(name), "ref": {"tag": "v1"}, "interval": "10m", "suspend": true, "insecure": true});
    ctx.apply("OCIRepository", name, spec).await?;
    let now = "2026-01-01T00:00:00Z";
    let status = json!({"status": {
        "observedGeneration": 1,
        "artifact": {"revision": "v1@sha256:not-a-digest", "digest": format!("sha256:{}", "0".repeat(64)),
                     "path": "p.tar.gz", "url": "http://127.0.0.1/p.tar.gz", "lastUpdateTime": now},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored",
                        "lastTransitionTime": now, "observedGeneration": 1}],
    }});
    ctx.api("OCIRepository")
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_malformed_source_is_reported_and_does_not_stop_the_watch() {
    run("ctl-malformed", |ctx| async move {
        ctx.auditor().await?;
        malformed_source(&ctx, "broken").await?;
        let a = ctx
            .wait_audit("ocirepository-broken", AUDIT, "Verified=Unknown/ArtifactNotReady", |a| {
                a.is_some_and(|a| has_cond(a, "Verified", "Unknown", Some("ArtifactNotReady")))
            })
            .await?;
        ensure!(
            !a.as_ref().is_some_and(|a| has_cond(a, "Verified", "True", None)), "a malformed source must never be Verified");

        // A good (unsigned) source created afterwards is still audited.
        let dir = ctx.artifact_dir("app", "app")?;
        let digest = ctx.push_artifact("app", "v1", &dir).await?;
        let spec = json!({"url": ctx.oci_url("app"), "ref": {"tag": "v1"}, "interval": "10m", "insecure": true});
        ctx.apply("OCIRepository", "app", spec).await?;
        ctx.wait_for("OCIRepository", "app", FLUX, "an artifact", |o| revision(o).is_some_and(|r| r.ends_with(&digest)))
            .await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "Verified=False/Unsigned", |a| {
            a.is_some_and(|a| has_cond(a, "Verified", "False", Some("Unsigned")))
        })
        .await?;
        Ok(())
    })
    .await;
}
