//! Issue 9's fault campaign, control-plane half: the controller killed with SIGKILL in the
//! middle of verifications, and the kube-apiserver restarted under a running controller. Each
//! is followed by correct verdicts everywhere, and prints the registry requests it cost
//! (counted by a pass-through [`FaultProxy`] in front of the registry, per repository).
//!
//! Its own test binary: it runs private controllers (which must not overlap with the shared one
//! of other binaries; test binaries run one at a time) and restarts the stack's API server,
//! which interrupts every client; the two tests here take turns ([`SERIAL`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::apiserver::restart_apiserver;
use provenance_e2e::campaign::verified_samples;
use provenance_e2e::proxy::{Fault, FaultProxy, Scope};
use provenance_e2e::{free_port, has_cond, run, spawn_private, wait_ready, Ctx, AUDIT, RESYNC};

/// Bound for the controller to audit a source created after an API server restart. Observed:
/// 9.8 s to 95 s on main, because its watches resume from a resourceVersion older than the new
/// API server's watch cache ("too old resource version") and retry with backoff until the
/// cache moves on; a relist from etcd (ListSemantic::MostRecent) would take seconds. Reported
/// in docs/reliability.md; lower this once fixed.
const WATCH_RECOVERY: Duration = Duration::from_secs(180);

/// The two tests take turns: one restarts the API server all tests depend on.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A source, and the verdict it must end with.
struct Expect {
    name: &'static str,
    status: &'static str,
    reason: &'static str,
}

const fn expect(name: &'static str, status: &'static str, reason: &'static str) -> Expect {
    Expect {
        name,
        status,
        reason,
    }
}

/// Starts a private controller (killed when dropped) and waits until it is ready; returns it
/// and its metrics URL.
async fn controller(ctx: &Ctx, log: &str) -> Result<(tokio::process::Child, String)> {
    let port = free_port()?;
    let stack = ctx.stack.clone();
    let log_name = log.to_string();
    let child = tokio::task::spawn_blocking(move || {
        spawn_private(&stack, port, &["--registry-timeout", "5s"], &[], &log_name)
    })
    .await??;
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(
        &format!("{url}/readyz"),
        Duration::from_secs(60),
        &ctx.stack.dir.join("logs").join(log),
    )
    .await?;
    Ok((child, url))
}

/// Creates the sources (concurrently), each read through `registry`.
async fn sources(ctx: &Arc<Ctx>, registry: &str, list: &[(&str, Option<&Path>)]) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for (name, key) in list {
        let (ctx, registry, name, key) = (
            ctx.clone(),
            registry.to_string(),
            name.to_string(),
            key.map(Path::to_path_buf),
        );
        set.spawn(async move { ctx.source_via(&registry, &name, key.as_deref()).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// Waits until every audit shows its expected verdict and the metrics agree.
async fn ensure_verdicts(ctx: &Ctx, url: &str, all: &[Expect], timeout: Duration) -> Result<()> {
    for e in all {
        ctx.wait_audit(
            &format!("ocirepository-{}", e.name),
            timeout,
            &format!("Verified={}/{}", e.status, e.reason),
            |a| a.is_some_and(|a| has_cond(a, "Verified", e.status, Some(e.reason))),
        )
        .await?;
    }
    ctx.wait_metrics(
        url,
        timeout,
        "every source's series with its verdict",
        |t| {
            all.iter().all(|e| {
                verified_samples(t, &ctx.ns, e.name).iter().any(|s| {
                    s.labels.get("reason").map(String::as_str) == Some(e.reason)
                        && s.value == if e.status == "True" { 1.0 } else { 0.0 }
                })
            })
        },
    )
    .await?;
    Ok(())
}

/// Registry requests of the controller since `from` (an index into the proxy's log), split by
/// whether their path names one of `repos`.
fn requests_since(proxy: &FaultProxy, from: usize, ns: &str, repos: &[&str]) -> (usize, usize) {
    let seen = proxy.seen();
    let mine: Vec<_> = seen[from.min(seen.len())..]
        .iter()
        .filter(|s| s.auditor)
        .collect();
    let named = mine
        .iter()
        .filter(|s| {
            repos
                .iter()
                .any(|r| s.path.contains(&format!("/{ns}/{r}/")))
        })
        .count();
    (named, mine.len() - named)
}

#[tokio::test]
async fn kill_9_mid_verification_then_restart_gives_correct_verdicts() {
    let _turn = SERIAL.lock().await;
    run("crash-kill9", |ctx| async move {
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        let (other, _) = ctx.keygen("other").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let reg = proxy.addr();
        sources(
            &ctx,
            &reg,
            &[("signed-a", Some(&key)), ("unsigned-a", None), ("wrongkey-a", Some(&other))],
        )
        .await?;
        let mut all = vec![
            expect("signed-a", "True", "Verified"),
            expect("unsigned-a", "False", "Unsigned"),
            expect("wrongkey-a", "False", "KeyMismatch"),
        ];
        let (mut first, url1) = controller(&ctx, "provenance-auditor-crash-1.log").await?;
        ensure_verdicts(&ctx, &url1, &all, AUDIT).await?;

        // The next sources are being verified (their registry reads held by the proxy) when
        // the controller is killed.
        proxy.set(Fault::Delay(Duration::from_secs(2)), Scope::auditor());
        sources(&ctx, &reg, &[("signed-b", Some(&key)), ("unsigned-b", None)]).await?;
        all.push(expect("signed-b", "True", "Verified"));
        all.push(expect("unsigned-b", "False", "Unsigned"));
        let deadline = std::time::Instant::now() + AUDIT;
        while proxy.in_flight_faulted() == 0 {
            ensure!(
                std::time::Instant::now() < deadline,
                "the controller never started verifying the new sources"
            );
            tokio::time::sleep(provenance_e2e::POLL).await;
        }
        first.start_kill().context("SIGKILL")?;
        let status = tokio::time::timeout(Duration::from_secs(10), first.wait()).await??;
        use std::os::unix::process::ExitStatusExt as _;
        ensure!(status.signal() == Some(9), "expected death by SIGKILL, got {status}");
        proxy.pass();

        let from = proxy.seen().len();
        let (_second, url2) = controller(&ctx, "provenance-auditor-crash-2.log").await?;
        ensure_verdicts(&ctx, &url2, &all, RESYNC + AUDIT).await?;
        let (batch_b, batch_a) =
            requests_since(&proxy, from, &ctx.ns, &["signed-b", "unsigned-b"]);
        eprintln!(
            "[crash] kill -9 mid-verification, restart: {} registry requests until all 5 verdicts were correct \
             ({batch_a} for the 3 sources audited before the crash, {batch_b} for the 2 in flight)",
            batch_a + batch_b
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn kube_apiserver_restart_under_the_controller_then_correct_verdicts() {
    let _turn = SERIAL.lock().await;
    run("crash-apiserver", |ctx| async move {
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let reg = proxy.addr();
        sources(&ctx, &reg, &[("signed", Some(&key)), ("unsigned", None)]).await?;
        let mut all = vec![
            expect("signed", "True", "Verified"),
            expect("unsigned", "False", "Unsigned"),
        ];
        let (mut controller, url) = controller(&ctx, "provenance-auditor-apiserver.log").await?;
        ensure_verdicts(&ctx, &url, &all, AUDIT).await?;

        let from = proxy.seen().len();
        let restart = restart_apiserver(&ctx.stack).await?;
        let ready = std::time::Instant::now();
        ensure!(
            controller.try_wait()?.is_none(),
            "the controller exited while the API server was down"
        );
        // Its watches resumed: a source created after the restart is audited, and the old
        // verdicts stand.
        sources(&ctx, &reg, &[("after", Some(&key))]).await?;
        all.push(expect("after", "True", "Verified"));
        ensure_verdicts(&ctx, &url, &all, WATCH_RECOVERY).await?;
        let caught_up = ready.elapsed();
        ensure!(
            controller.try_wait()?.is_none(),
            "the controller exited after the API server restart"
        );
        let (new, old) = requests_since(&proxy, from, &ctx.ns, &["after"]);
        eprintln!(
            "[crash] kube-apiserver restart (down {:.1}s, stopped in {:.1}s): {old} registry requests for the \
             2 unchanged sources, {new} for the source created afterwards; all verdicts correct {:.1}s after \
             the API server was ready",
            restart.unavailable_for.as_secs_f64(),
            restart.stopped_after.as_secs_f64(),
            caught_up.as_secs_f64()
        );
        Ok(())
    })
    .await;
}
