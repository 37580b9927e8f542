//! Leader election: of two replicas with `--leader-elect`, only the Lease holder audits; the
//! other is a ready standby (so a two-replica Deployment becomes available); when the leader
//! stops, it releases the Lease and the other takes over by itself. Its own
//! test binary: private controllers must not overlap with the shared one of `controller.rs`.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};
use provenance_e2e::{free_port, run, spawn_private, wait_ready};

const NS: &str = "provenance-system";
const LEASE: &str = "provenance-auditor";

async fn holder(ctx: &provenance_e2e::Ctx) -> Result<Option<String>> {
    let lease = Api::<Lease>::namespaced(ctx.client.clone(), NS)
        .get_opt(LEASE)
        .await?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

async fn start(
    ctx: &provenance_e2e::Ctx,
    who: &'static str,
) -> Result<(tokio::process::Child, String)> {
    let port = free_port()?;
    let stack = ctx.stack.clone();
    let child = tokio::task::spawn_blocking(move || {
        spawn_private(
            &stack,
            port,
            &["--leader-elect", "--leader-election-namespace", NS],
            &[("POD_NAME", who)],
            &format!("provenance-auditor-leader-{who}.log"),
        )
    })
    .await??;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// Waits until the replica at `url` leads and its caches have synced (`/readyz` says so).
async fn wait_leading(url: &str, timeout: Duration, log: &std::path::Path) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let body = match reqwest::get(format!("{url}/readyz")).await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        if body.contains("caches synced") {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{url} never led (last /readyz {body:?}); log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn only_the_lease_holder_audits_and_the_standby_takes_over() {
    run("ctl-leader", |ctx| async move {
        let logs = ctx.stack.dir.join("logs");
        // A Lease left by an earlier run would only delay the first replica; start clean.
        let _ = Api::<Lease>::namespaced(ctx.client.clone(), NS)
            .delete(LEASE, &DeleteParams::default())
            .await;
        let (mut a, url_a) = start(&ctx, "e2e-replica-a").await?;
        wait_leading(
            &url_a,
            Duration::from_secs(60),
            &logs.join("provenance-auditor-leader-e2e-replica-a.log"),
        )
        .await?;
        ensure!(
            holder(&ctx).await?.as_deref() == Some("e2e-replica-a"),
            "lease holder {:?}",
            holder(&ctx).await?
        );

        let (b, url_b) = start(&ctx, "e2e-replica-b").await?;
        let log_b = logs.join("provenance-auditor-leader-e2e-replica-b.log");
        wait_ready(&format!("{url_b}/healthz"), Duration::from_secs(60), &log_b).await?;
        let standby = reqwest::get(format!("{url_b}/readyz")).await?;
        let (code, body) = (standby.status(), standby.text().await?);
        ensure!(
            code.is_success() && body.contains("standby"),
            "the standby must be ready as a standby, /readyz said {code} {body:?}"
        );
        ensure!(
            holder(&ctx).await?.as_deref() == Some("e2e-replica-a"),
            "lease moved while the leader was alive"
        );

        let pid = a.id().context("leader already gone")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        let exit = tokio::time::timeout(Duration::from_secs(20), a.wait()).await??;
        ensure!(exit.success(), "leader exit {exit}");
        // A graceful stop releases the lease (holder cleared) unless the standby already took it,
        // so the standby leads at its next retry (5 s) instead of after the 15 s lease expires.
        let after_exit = holder(&ctx).await?;
        ensure!(
            after_exit.is_none() || after_exit.as_deref() == Some("e2e-replica-b"),
            "the stopped leader did not release the lease: holder {after_exit:?}"
        );
        wait_leading(&url_b, Duration::from_secs(45), &log_b).await?;
        ensure!(
            holder(&ctx).await?.as_deref() == Some("e2e-replica-b"),
            "lease holder {:?}",
            holder(&ctx).await?
        );
        drop(b);
        let _ = Api::<Lease>::namespaced(ctx.client.clone(), NS)
            .delete(LEASE, &DeleteParams::default())
            .await;
        Ok(())
    })
    .await;
}
