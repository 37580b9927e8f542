//! `Attested` follows the registry the way `Verified` does, with real cosign on the stack and a
//! private controller (its own test binary: no shared controller may run beside it).
//!
//! 1. CI attests after it signs: a source audited `Verified` + `Attested=False/AttestationMissing`
//!    turns `Attested=True` at a re-check of the backoff (`--min-recheck-delay` after the
//!    verdict, then doubling), with no change to the source or the policy and a resync (10 min)
//!    too long to hide it.
//! 2. A 503 on the `.att` tag makes `Attested=Unknown` (signatures still `Verified`), and the
//!    registry's recovery makes it `True` on the retry backoff: an indeterminate `Attested` is
//!    never cached for the reverify interval (1 h here).
//! 3. The same across a restart: a status with `Attested=Unknown`, sealed by the first
//!    controller, does not stand in for the registry after the restart; the `.att` tag is read.
//! 4. A deleted attestation turns `Attested=False` within `--reverify-interval` (45 s for the
//!    second controller).

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use provenance_e2e::proxy::{Fault, FaultProxy, Scope, AUDITOR_USER_AGENT};
use provenance_e2e::{
    condition, free_port, has_cond, run, sigterm, spawn_private_resync, wait_ready, Ctx, AUDIT,
    FLUX,
};
use serde_json::{json, Value};
use sigstore_forge::predicates::{self, Build};

/// The first controller's `--min-recheck-delay`: the first re-check of a definite result that
/// does not hold (src/verifier/schedule.rs; 1 min by default, shorter here to keep the test
/// short).
const FIRST_RECHECK: Duration = Duration::from_secs(10);
/// How long after signing CI attests, in the scenario.
const ATTEST_DELAY: Duration = Duration::from_secs(5);
/// Slack for a reconcile, cosign's push and the status write.
const SLACK: Duration = Duration::from_secs(30);
/// Both controllers' resync: long, so that only the re-check schedule can bring a change.
const RESYNC: Duration = Duration::from_secs(600);
/// The second controller's `--reverify-interval`.
const REVERIFY: Duration = Duration::from_secs(45);
/// The retry backoff of an indeterminate result (2, 4, 8, 16 s …) reaches a recovered registry
/// well within this; a result cached as `Unknown` would wait for the resync or reverify hour.
const RECOVERY: Duration = Duration::from_secs(90);

fn attested(a: &Value) -> String {
    condition(a, "Attested")
        .map(|c| format!("{}/{}: {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "(none)".into())
}

fn is_attested(a: &Value, status: &str, reason: Option<&str>) -> bool {
    has_cond(a, "Attested", status, reason) && has_cond(a, "Verified", "True", Some("Verified"))
}

/// The controller's reads of the legacy `.att` tag through `proxy` so far.
fn att_reads(proxy: &FaultProxy) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.auditor && s.path.ends_with(".att"))
        .count()
}

/// Only the controller's reads of `.att` tags fail.
fn att_scope() -> Scope {
    Scope {
        user_agent_prefix: Some(AUDITOR_USER_AGENT.into()),
        path_contains: vec![".att".into()],
    }
}

/// Deletes the legacy `.att` manifest of `digest` in `<ns>/<repo>` (the registry's API: the tag
/// goes with the manifest).
async fn delete_legacy_attestation(ctx: &Ctx, repo: &str, digest: &str) -> Result<()> {
    let tag = format!("{}.att", digest.replace(':', "-"));
    let base = format!(
        "http://{}/v2/{}/{repo}/manifests",
        ctx.stack.registry(),
        ctx.ns
    );
    let http = reqwest::Client::new();
    let head = http
        .head(format!("{base}/{tag}"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await?
        .error_for_status()?;
    let manifest = head
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("no Docker-Content-Digest for {tag}"))?
        .to_string();
    http.delete(format!("{base}/{manifest}"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

#[tokio::test]
async fn attested_is_rechecked_retried_and_never_cached_unknown() {
    run("attested-alive", |ctx| async move {
        let logs = ctx.stack.dir.join("logs");
        let port = free_port()?;
        let stack = ctx.stack.clone();
        let first_log = "provenance-auditor-attested-1.log";
        let first_recheck = format!("{}s", FIRST_RECHECK.as_secs());
        let mut first = tokio::task::spawn_blocking(move || {
            let extra = ["--min-recheck-delay", first_recheck.as_str()];
            spawn_private_resync(&stack, port, RESYNC, &extra, &[], first_log)
        })
        .await??;
        let url = format!("http://127.0.0.1:{port}/readyz");
        wait_ready(&url, Duration::from_secs(60), &logs.join(first_log)).await?;

        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let mut policy = ctx.key_policy("cosign-pub");
        policy["attestations"] = json!([{"predicateType": "slsaprovenance1"}]);
        ctx.policy(&format!("{}-attested", ctx.ns), policy).await?;
        let provenance = predicates::slsa_provenance_v1(&Build::github(
            "https://github.com/example/app",
            "refs/tags/v1.2.3",
        ));

        // Sources 2 and 3 go up first, attested before they exist, behind proxies whose `.att`
        // reads fail; source 1 is then signed, audited, and attested.
        let mut proxies = vec![];
        for name in ["flaky", "restart"] {
            let digest = ctx.push_signed(name, Some(&key)).await?;
            ctx.cosign_attest(
                &key,
                "slsaprovenance1",
                &provenance,
                "legacy",
                name,
                &digest,
            )
            .await?;
            let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
            proxy.set(Fault::Status(503), att_scope());
            ctx.apply_source_via(&proxy.addr(), name).await?;
            proxies.push(proxy);
        }
        let verdict = FLUX + AUDIT;
        // 2. A 503 on the `.att` tag: Unknown, never False; then True on the retry backoff.
        for name in ["flaky", "restart"] {
            let a = ctx
                .wait_audit(
                    &format!("ocirepository-{name}"),
                    verdict,
                    "Attested=Unknown",
                    |a| a.is_some_and(|a| is_attested(a, "Unknown", None)),
                )
                .await?
                .unwrap_or_default();
            eprintln!("[attested-alive] {name} during the 503s: {}", attested(&a));
        }
        let (flaky, restart) = (&proxies[0], &proxies[1]);
        ensure!(
            flaky.injected() > 0 && restart.injected() > 0,
            "no 503 was injected"
        );
        // The registry recovers as soon as the 503s were seen: the retry backoff (2, 4, 8 … s)
        // has grown only a few steps.
        flaky.pass();
        let recovered_at = Instant::now();
        ctx.wait_audit(
            "ocirepository-flaky",
            RECOVERY,
            "Attested=True after recovery",
            |a| a.is_some_and(|a| is_attested(a, "True", Some("Attested"))),
        )
        .await?;
        eprintln!(
            "[attested-alive] flaky: Attested=True {:?} after recovery",
            recovered_at.elapsed()
        );

        let late_digest = ctx.push_signed("late", Some(&key)).await?;
        let signed_at = Instant::now();
        ctx.oci_source("late").await?;

        // 1. Audited before CI attests: Verified, AttestationMissing.
        ctx.wait_audit(
            "ocirepository-late",
            verdict,
            "Attested=False/AttestationMissing",
            |a| a.is_some_and(|a| is_attested(a, "False", Some("AttestationMissing"))),
        )
        .await?;
        // The scenario's CI delay (not a wait for a condition).
        tokio::time::sleep_until((signed_at + ATTEST_DELAY).into()).await;
        ctx.cosign_attest(
            &key,
            "slsaprovenance1",
            &provenance,
            "legacy",
            "late",
            &late_digest,
        )
        .await?;
        let attested_at = Instant::now();
        ctx.wait_audit(
            "ocirepository-late",
            FIRST_RECHECK + SLACK,
            "Attested=True without a change to the source or the policy",
            |a| a.is_some_and(|a| is_attested(a, "True", Some("Attested"))),
        )
        .await?;
        eprintln!(
            "[attested-alive] attested {:?} after signing; Attested=True {:?} after attesting",
            attested_at - signed_at,
            attested_at.elapsed()
        );

        // 3. Across a restart: the sealed Attested=Unknown is not read back as a verdict.
        let still = ctx
            .audit("ocirepository-restart")
            .await?
            .unwrap_or_default();
        ensure!(
            is_attested(&still, "Unknown", None),
            "restart: {}",
            attested(&still)
        );
        ensure!(
            still["status"]["seal"].is_string(),
            "the status is not sealed: {}",
            still["status"]
        );
        let code = sigterm(&mut first).await?;
        ensure!(code.success(), "the first controller exited with {code}");
        restart.pass();
        let reads_before = att_reads(restart);
        let port = free_port()?;
        let stack = ctx.stack.clone();
        let second_log = "provenance-auditor-attested-2.log";
        let reverify = format!("{}s", REVERIFY.as_secs());
        let _second = tokio::task::spawn_blocking(move || {
            spawn_private_resync(
                &stack,
                port,
                RESYNC,
                &["--reverify-interval", &reverify],
                &[],
                second_log,
            )
        })
        .await??;
        let url = format!("http://127.0.0.1:{port}/readyz");
        wait_ready(&url, Duration::from_secs(60), &logs.join(second_log)).await?;
        ctx.wait_audit(
            "ocirepository-restart",
            RECOVERY,
            "Attested=True after the restart",
            |a| a.is_some_and(|a| is_attested(a, "True", Some("Attested"))),
        )
        .await?;
        ensure!(
            att_reads(restart) > reads_before,
            "the restarted controller did not read the .att tag again"
        );

        // 4. The attestation is deleted: Attested=False within the reverify interval.
        delete_legacy_attestation(&ctx, "late", &late_digest).await?;
        let deleted_at = Instant::now();
        ctx.wait_audit(
            "ocirepository-late",
            REVERIFY + SLACK,
            "Attested=False/AttestationMissing after the attestation was deleted",
            |a| a.is_some_and(|a| is_attested(a, "False", Some("AttestationMissing"))),
        )
        .await?;
        eprintln!(
            "[attested-alive] late: AttestationMissing {:?} after the deletion",
            deleted_at.elapsed()
        );
        Ok(())
    })
    .await;
}
