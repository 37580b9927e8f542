//! Re-check rounds against the real registry behind a counting, limiting proxy on 127.0.0.1:
//! an unchanged round asks with HEADs only (no manifest GET, no blob), a signature added
//! between rounds is found in the next one, a `429` with `Retry-After: 30` pauses the registry
//! (nothing is sent until then) and the verdict recovers, and `--registry-budget` keeps the
//! controller's manifest GETs under its limit, reporting the re-checks it could not afford as
//! `Verified=Unknown/RecheckOverdue` while a new source still goes first.
//!
//! Each test runs its own controller (`--watch-namespaces` its namespace) with a 20 s
//! re-verify interval, so that rounds come within the test's time.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::proxy::{Fault, FaultProxy, Scope, Seen};
use provenance_e2e::{condition, free_port, has_cond, run, spawn_private, wait_ready, Ctx, AUDIT};
use serde_json::Value;

/// The controllers' `--reverify-interval`.
const REVERIFY: Duration = Duration::from_secs(20);
/// A round: every verdict re-checked once, within its interval, plus the reconcile and write.
const ROUND: Duration = Duration::from_secs(2 * 20 + 20);

/// Starts this test's controller with `extra` flags; returns it (killed when dropped) and its
/// metrics URL.
async fn controller(
    ctx: &Ctx,
    name: &str,
    extra: &[&str],
) -> Result<(tokio::process::Child, String)> {
    let port = free_port()?;
    let log = format!("provenance-auditor-{name}.log");
    let mut args: Vec<String> = vec![
        "--reverify-interval".into(),
        format!("{}s", REVERIFY.as_secs()),
        "--watch-namespaces".into(),
        ctx.ns.clone(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let stack = ctx.stack.clone();
    let log2 = log.clone();
    let child = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn_private(&stack, port, &args, &[], &log2)
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

/// A key, its Secret and a policy requiring it, for the test's namespace.
async fn key_policy(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let (key, pubkey) = ctx.keygen("signer").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    ctx.policy(&format!("{}-keys", ctx.ns), ctx.key_policy("cosign-pub"))
        .await?;
    Ok(key)
}

fn audit_name(repo: &str) -> String {
    format!("ocirepository-{repo}")
}

fn last_verified(a: &Value) -> String {
    a["status"]["lastVerifiedTime"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_verified(ctx: &Ctx, repo: &str, timeout: Duration) -> Result<Value> {
    Ok(ctx
        .wait_audit(&audit_name(repo), timeout, "Verified=True", |a| {
            a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified")))
        })
        .await?
        .unwrap_or_default())
}

/// Waits until every audit of `repos` was checked against the registry again after `before`
/// (their `lastVerifiedTime`s then), still `Verified`.
async fn wait_round(ctx: &Ctx, repos: &[&str], before: &[String]) -> Result<Vec<String>> {
    let mut after = vec![];
    for (repo, t) in repos.iter().zip(before) {
        let a = ctx
            .wait_audit(
                &audit_name(repo),
                ROUND,
                "re-checked, still Verified",
                |a| {
                    a.is_some_and(|a| {
                        last_verified(a) > *t && has_cond(a, "Verified", "True", Some("Verified"))
                    })
                },
            )
            .await?
            .unwrap_or_default();
        after.push(last_verified(&a));
    }
    Ok(after)
}

fn auditor(seen: Vec<Seen>) -> Vec<Seen> {
    seen.into_iter().filter(|s| s.auditor).collect()
}

fn lines(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// The value of the first series of `name` whose labels contain every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|p| l.contains(p)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn an_unchanged_round_makes_no_manifest_get_and_a_new_signature_is_found_in_the_next() {
    run("recheck-unchanged", |ctx| async move {
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        let (_controller, url) = controller(&ctx, "recheck-unchanged", &[]).await?;
        let key = key_policy(&ctx).await?;
        let repos = ["a", "b", "c"];
        let mut digests = vec![];
        for repo in repos {
            digests.push(ctx.source_via(&proxy.addr(), repo, Some(&key)).await?);
        }
        for repo in repos {
            wait_verified(&ctx, repo, AUDIT).await?;
        }
        // A round with nothing changed. Everything is counted from here: with a 20 s interval
        // the first source may already have been re-checked while the last was first checked,
        // so the times the round must pass are read after the mark, not from the waits above.
        let mark = proxy.mark();
        let unchanged_count = |text: &str| {
            metric(
                text,
                "provenance_rechecks_total",
                &[r#"result="unchanged""#],
            )
            .unwrap_or(0.0)
        };
        let unchanged0 = unchanged_count(&ctx.metrics(&url).await?);
        let mut before = vec![];
        for repo in repos {
            let a = ctx.audit(&audit_name(repo)).await?.unwrap_or_default();
            before.push(last_verified(&a));
        }
        let after = wait_round(&ctx, &repos, &before).await?;
        // Each source's new lastVerifiedTime is written after its re-check was counted, but a
        // re-check counted just before the mark may have written its time just after it: wait
        // (within a round) until three re-checks after the mark were counted.
        let counted = |t: &str| unchanged_count(t) - unchanged0 >= 3.0;
        let text = match ctx
            .wait_metrics(
                &url,
                ROUND,
                "three unchanged re-checks after the mark",
                counted,
            )
            .await
        {
            Ok(text) => text,
            Err(_) => ctx.metrics(&url).await?,
        };
        let unchanged = unchanged_count(&text) - unchanged0;
        let round = auditor(proxy.seen_since(mark));
        let gets: Vec<&Seen> = round.iter().filter(|s| s.method != "HEAD").collect();
        ensure!(
            gets.is_empty(),
            "an unchanged round must ask with HEADs only; it sent {:?}",
            lines(&round)
        );
        ensure!(!round.is_empty(), "the round asked nothing at all");
        ensure!(
            unchanged >= 3.0,
            "{unchanged} unchanged re-checks counted:\n{text}"
        );
        let per_verdict = round.len() as f64 / unchanged;
        ensure!(
            per_verdict <= 3.0,
            "{per_verdict:.2} requests per unchanged re-check: {:?}",
            lines(&round)
        );
        eprintln!(
            "[e2e] unchanged round: {} requests for {unchanged} re-checks, 0 manifest GETs",
            round.len()
        );

        // CI adds a signature (the legacy format, a new .sig tag) to one artifact only.
        ctx.sign(&key, "legacy", "a", &digests[0]).await?;
        let mark = proxy.mark();
        let a = ctx
            .wait_audit(&audit_name("a"), ROUND, "the new signature found", |a| {
                a.is_some_and(|a| {
                    a["status"]["signatures"]
                        .as_array()
                        .is_some_and(|s| s.len() == 2)
                        && has_cond(a, "Verified", "True", Some("Verified"))
                })
            })
            .await?
            .unwrap_or_default();
        ensure!(last_verified(&a) > after[0], "{}", a["status"]);
        let next = auditor(proxy.seen_since(mark));
        let read_again: Vec<&Seen> = next.iter().filter(|s| s.is_manifest_get()).collect();
        ensure!(
            !read_again.is_empty() && read_again.iter().all(|s| s.path.contains("/a/manifests/")),
            "only the changed artifact is read again: {:?}",
            lines(&next)
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_registry_and_the_verdict_recovers() {
    run("recheck-429", |ctx| async move {
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        let (_controller, url) = controller(&ctx, "recheck-429", &[]).await?;
        let key = key_policy(&ctx).await?;
        ctx.source_via(&proxy.addr(), "app", Some(&key)).await?;
        wait_verified(&ctx, "app", AUDIT).await?;
        let mark = proxy.mark();
        proxy.set(Fault::TooManyRequests { retry_after: 30 }, Scope::auditor());
        let paused = ctx
            .wait_audit(
                &audit_name("app"),
                ROUND,
                "Unknown/RegistryUnavailable",
                |a| {
                    a.is_some_and(|a| {
                        has_cond(a, "Verified", "Unknown", Some("RegistryUnavailable"))
                    })
                },
            )
            .await?
            .unwrap_or_default();
        // The registry's own limit is over at once: the controller must still keep quiet.
        proxy.pass();
        let msg = condition(&paused, "Verified")
            .map(|c| c.message)
            .unwrap_or_default();
        ensure!(
            msg.contains("Retry-After 30 s") && msg.contains("waits until"),
            "the message says why and until when: {msg:?}"
        );
        ensure!(
            paused["status"]["signatures"]
                .as_array()
                .is_some_and(|s| !s.is_empty()),
            "the last evidence is kept: {}",
            paused["status"]
        );
        let text = ctx.metrics(&url).await?;
        let host = format!(r#"registry="{}""#, proxy.addr());
        ensure!(
            metric(&text, "provenance_registry_pauses_total", &[&host]).is_some_and(|n| n >= 1.0)
                && metric(&text, "provenance_registry_paused_until_seconds", &[&host])
                    .is_some_and(|t| t > 0.0),
            "the pause is in the metrics:\n{text}"
        );
        let recovered_at = Instant::now();
        wait_verified(&ctx, "app", Duration::from_secs(30 + 30)).await?;
        ensure!(recovered_at.elapsed() <= Duration::from_secs(60));
        let seen = auditor(proxy.seen_since(mark));
        let refused: Vec<&Seen> = seen
            .iter()
            .filter(|s| matches!(s.fault, Fault::TooManyRequests { .. }))
            .collect();
        let first = refused.first().context("no 429 was served")?.at;
        ensure!(
            refused.len() <= 4,
            "only the requests already in flight meet the 429: {:?}",
            lines(&seen)
        );
        let next = seen
            .iter()
            .find(|s| s.fault == Fault::Pass && s.at > first)
            .context("nothing asked after the pause")?;
        let quiet = next.at.duration_since(first);
        ensure!(
            quiet >= Duration::from_secs(29),
            "the registry was asked again {quiet:?} after its 429 with Retry-After: 30"
        );
        eprintln!(
            "[e2e] 429 with Retry-After 30: {} refused, next request after {quiet:?}",
            refused.len()
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_budget_keeps_manifest_gets_under_its_limit_and_reports_overdue_verdicts() {
    run("recheck-budget", |ctx| async move {
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        // The registry's own pull limit (like Docker Hub's), above the controller's budget.
        const PULLS: usize = 20;
        proxy.limit_pulls(Some(PULLS));
        // Three artifacts' first checks: three manifest GETs each (referrers tag, referrer,
        // .sig); then room for one more full read.
        const BUDGET: usize = 12;
        let budget = format!("{}={BUDGET}/1h", proxy.addr());
        let (_controller, url) =
            controller(&ctx, "recheck-budget", &["--registry-budget", &budget]).await?;
        let key = key_policy(&ctx).await?;
        let repos = ["a", "b", "c"];
        let mut digests = vec![];
        for repo in repos {
            digests.push(ctx.source_via(&proxy.addr(), repo, Some(&key)).await?);
        }
        for repo in repos {
            wait_verified(&ctx, repo, AUDIT).await?;
        }
        // Every artifact signed again: each re-check must read everything, which the budget
        // cannot afford for all of them.
        for (repo, digest) in repos.iter().zip(&digests) {
            ctx.sign(&key, "bundle", repo, digest).await?;
        }
        // (The API server stores seconds; a check made before the signing is stamped no later.)
        let signed_at = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let overdue = |a: Option<&Value>| {
            a.is_some_and(|a| has_cond(a, "Verified", "Unknown", Some("RecheckOverdue")))
        };
        let found_new = |a: Option<&Value>| {
            a.is_some_and(|a| {
                a["status"]["signatures"]
                    .as_array()
                    .is_some_and(|s| s.len() == 2)
                    && has_cond(a, "Verified", "True", Some("Verified"))
            })
        };
        let mut late = vec![];
        for repo in repos {
            let a = ctx
                .wait_audit(
                    &audit_name(repo),
                    ROUND,
                    "the new signature found, or overdue",
                    |a| overdue(a) || found_new(a),
                )
                .await?
                .unwrap_or_default();
            if overdue(Some(&a)) {
                ensure!(
                    last_verified(&a) <= signed_at,
                    "an overdue verdict keeps its lastVerifiedTime: {} (signed at {signed_at})",
                    last_verified(&a)
                );
                let msg = condition(&a, "Verified")
                    .map(|c| c.message)
                    .unwrap_or_default();
                ensure!(
                    msg.contains("budget") && msg.contains("last verdict Verified"),
                    "{msg:?}"
                );
                ensure!(
                    a["status"]["lastVerdict"]["reason"] == "Verified",
                    "an overdue status keeps the last verdict: {}",
                    a["status"]["lastVerdict"]
                );
                late.push(repo);
            }
        }
        ensure!(
            !late.is_empty(),
            "the budget should have left some re-checks overdue"
        );
        let gets = auditor(proxy.seen())
            .iter()
            .filter(|s| s.is_manifest_get())
            .count();
        ensure!(gets <= BUDGET, "{gets} manifest GETs, budget {BUDGET}");
        ensure!(
            proxy.pulls_refused() == 0,
            "the registry's own limit was never reached"
        );
        let text = ctx.metrics(&url).await?;
        let ns = format!(r#"namespace="{}""#, ctx.ns);
        ensure!(
            metric(
                &text,
                "provenance_source_verified",
                &[&ns, r#"reason="RecheckOverdue""#]
            ) == Some(0.0)
                && metric(&text, "provenance_rechecks_total", &[r#"result="overdue""#])
                    .is_some_and(|n| n >= 1.0)
                && metric(&text, "provenance_registry_budget_remaining", &[]).is_some(),
            "overdue verdicts are in the metrics:\n{text}"
        );
        eprintln!("[e2e] budget {BUDGET}: {gets} manifest GETs, overdue: {late:?}");
        // A new source goes first: its first check is made although the budget is spent.
        ctx.source_via(&proxy.addr(), "new", Some(&key)).await?;
        wait_verified(&ctx, "new", AUDIT).await?;
        Ok(())
    })
    .await;
}
