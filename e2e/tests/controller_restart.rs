//! Issue 4, scenario 9: kill and restart the controller — no registry request for unchanged
//! sources after the restart (the verdict cache is rebuilt from the SourceAudit status). Also
//! proves graceful shutdown on SIGTERM. Its own test binary: it runs private controllers, which
//! must not overlap with the shared one of `controller.rs` (test binaries run one at a time).
//!
//! Issue 9 item 7: the status stands in for the registry only when the controller's seal on it
//! verifies; a status forged while the controller was down is re-verified against the registry.

use std::time::Duration;

use anyhow::ensure;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use provenance_e2e::{
    free_port, has_cond, provenance, revision, run, sigterm, spawn_private, wait_ready, OwnRegistry,
};
use serde_json::json;

const FLUX: Duration = Duration::from_secs(90);
const AUDIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn restarted_controller_asks_the_registry_nothing_for_unchanged_sources() {
    run("ctl-restart", |ctx| async move {
        let logs = ctx.stack.dir.join("logs");
        let port = free_port()?;
        let stack = ctx.stack.clone();
        let mut first = tokio::task::spawn_blocking(move || {
            spawn_private(&stack, port, &[], &[], "provenance-auditor-restart-1.log")
        })
        .await??;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &format!("{url}/readyz"),
            Duration::from_secs(60),
            &logs.join("provenance-auditor-restart-1.log"),
        )
        .await?;
        let reg = OwnRegistry::start(&ctx).await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let dir = ctx.artifact_dir("app", "restart")?;
        let digest = ctx.push_artifact_to(&reg.addr, "app", "v1", &dir).await?;
        ctx.sign_to(&reg.addr, &key, "bundle", "app", &digest)
            .await?;
        ctx.apply(
            "OCIRepository",
            "app",
            json!({
                "url": format!("oci://{}/{}/app", reg.addr, ctx.ns), "ref": {"tag": "v1"},
                "interval": "10m", "timeout": "30s", "insecure": true,
            }),
        )
        .await?;
        ctx.wait_for("OCIRepository", "app", FLUX, "an artifact", |o| {
            revision(o).is_some_and(|r| r.ends_with(&digest))
        })
        .await?;
        let sealed = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified", |a| {
                a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified")))
            })
            .await?
            .unwrap_or_default();
        ensure!(
            sealed["status"]["seal"].is_string(),
            "the controller should seal its status (is config/rbac/verdict_key.yaml applied?): {}",
            sealed["status"]
        );
        // An unsigned source on the stack's registry, to be forged while the controller is down.
        ctx.flux_source("forged", None, None).await?;
        let unsigned = ctx
            .wait_audit("ocirepository-forged", AUDIT, "Unsigned", |a| {
                a.is_some_and(|a| has_cond(a, "Verified", "False", Some("Unsigned")))
            })
            .await?
            .unwrap_or_default();
        let before = ctx.metrics(&url).await?;
        ensure!(
            before.contains(&format!("registry=\"{}\"", reg.addr)),
            "the first controller should have asked {}:\n{before}",
            reg.addr
        );
        let exit = sigterm(&mut first).await?;
        ensure!(exit.success(), "SIGTERM should be a clean exit, got {exit}");
        // While it is down, whoever may patch sourceaudits/status writes Verified=True, keeping
        // the controller's verdictCache (and its now wrong seal).
        let mut conditions = unsigned["status"]["conditions"].clone();
        for c in conditions.as_array_mut().into_iter().flatten() {
            if c["type"] == "Verified" {
                c["status"] = json!("True");
                c["reason"] = json!("Verified");
            }
        }
        Api::<DynamicObject>::namespaced_with(
            ctx.client.clone(),
            &ctx.ns,
            &provenance("SourceAudit"),
        )
        .patch_status(
            "ocirepository-forged",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"conditions": conditions}})),
        )
        .await?;

        let port2 = free_port()?;
        let stack = ctx.stack.clone();
        let _second = tokio::task::spawn_blocking(move || {
            spawn_private(&stack, port2, &[], &[], "provenance-auditor-restart-2.log")
        })
        .await??;
        let url2 = format!("http://127.0.0.1:{port2}");
        wait_ready(
            &format!("{url2}/readyz"),
            Duration::from_secs(60),
            &logs.join("provenance-auditor-restart-2.log"),
        )
        .await?;
        let ns = ctx.ns.clone();
        let after = ctx
            .wait_metrics(
                &url2,
                AUDIT,
                "the source audited again, from the cache",
                |t| {
                    t.lines().any(|l| {
                        l.starts_with("provenance_source_verified{")
                            && l.contains(&format!("namespace=\"{ns}\""))
                            && l.contains("reason=\"Verified\"")
                            && l.ends_with(" 1")
                    }) && t.lines().any(|l| {
                        l.starts_with("provenance_verification_cache_hits_total ")
                            && !l.ends_with(" 0")
                    })
                },
            )
            .await?;
        ensure!(
            !after.contains(&format!("registry=\"{}\"", reg.addr)),
            "the restarted controller asked the registry about an unchanged source:\n{after}"
        );
        // The forged status is not trusted: the registry is asked and the true verdict returns.
        ctx.wait_audit(
            "ocirepository-forged",
            AUDIT,
            "the forged Verified=True re-verified as Unsigned",
            |a| a.is_some_and(|a| has_cond(a, "Verified", "False", Some("Unsigned"))),
        )
        .await?;
        let after = ctx.metrics(&url2).await?;
        ensure!(
            after.contains(&format!("registry=\"{}\"", ctx.stack.registry())),
            "the forged source should have cost a registry request:\n{after}"
        );
        Ok(())
    })
    .await;
}
