//! Verdicts that do not stick. The normal CI order is *push, then sign*: an artifact audited
//! `Unsigned` between the two must turn `Verified` once signed, with no change to the source or
//! the policy, within the re-check backoff (first re-check `--min-recheck-delay` after the
//! verdict). The controller runs with a 10-minute resync and the default 1 h re-verify interval
//! so that only the backoff, not the resync, can bring the new verdict. Its own test binary: it
//! runs a private controller.

use std::time::{Duration, Instant};

use anyhow::ensure;
use provenance_e2e::{free_port, has_cond, run, spawn_private_resync, wait_ready, AUDIT};
use serde_json::Value;

/// The controller's `--min-recheck-delay`: the first re-check of a negative verdict comes this
/// long after it (src/verifier/schedule.rs; 1 min by default, shorter here to keep the test
/// short, still far shorter than the resync).
const FIRST_RECHECK: Duration = Duration::from_secs(10);
/// Slack for the reconcile, cosign's push and the status write.
const SLACK: Duration = Duration::from_secs(30);

fn last_verified(a: &Value) -> String {
    a["status"]["lastVerifiedTime"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_artifact_signed_after_its_audit_turns_verified_within_the_backoff() {
    run("sign-after-push", |ctx| async move {
        let port = free_port()?;
        let stack = ctx.stack.clone();
        let log = "provenance-auditor-sign-after-push.log";
        let first = format!("{}s", FIRST_RECHECK.as_secs());
        let _controller = tokio::task::spawn_blocking(move || {
            let extra = ["--min-recheck-delay", first.as_str()];
            spawn_private_resync(&stack, port, Duration::from_secs(600), &extra, &[], log)
        })
        .await??;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &format!("{url}/readyz"),
            Duration::from_secs(60),
            &ctx.stack.dir.join("logs").join(log),
        )
        .await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        // Pushed, fetched by Flux and audited before CI signs it.
        let digest = ctx.flux_source("app", None, None).await?;
        let unsigned = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified=False/Unsigned", |a| {
                a.is_some_and(|a| has_cond(a, "Verified", "False", Some("Unsigned")))
            })
            .await?
            .unwrap_or_default();
        let first_check = last_verified(&unsigned);
        ensure!(!first_check.is_empty(), "no lastVerifiedTime: {unsigned}");

        // CI signs. Nothing about the source or the policy changes.
        ctx.sign(&key, "bundle", "app", &digest).await?;
        let signed_at = Instant::now();
        let verified = ctx
            .wait_audit(
                "ocirepository-app",
                FIRST_RECHECK + SLACK,
                "Verified=True without any change to the source or the policy",
                |a| a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified"))),
            )
            .await?
            .unwrap_or_default();
        let took = signed_at.elapsed();
        ensure!(
            took <= FIRST_RECHECK + SLACK,
            "Verified only after {took:?}"
        );
        let recheck = last_verified(&verified);
        ensure!(
            recheck > first_check,
            "lastVerifiedTime should record the re-check: {first_check} then {recheck}"
        );
        ensure!(
            verified["status"]["verdictCache"]["repository"]
                .as_str()
                .is_some_and(|r| r.ends_with("/app")),
            "the cache key names the repository: {}",
            verified["status"]["verdictCache"]
        );
        ensure!(
            verified["status"]["seal"]
                .as_str()
                .is_some_and(|s| s.starts_with("hmac-sha256:v2:")),
            "the controller seals what it writes: {}",
            verified["status"]
        );
        Ok(())
    })
    .await;
}
