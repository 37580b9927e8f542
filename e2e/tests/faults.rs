//! Issue 9's fault campaign: a programmable proxy of the harness ([`FaultProxy`]) sits between
//! the controller and the stack's registry and injects one fault at a time. For each fault:
//!
//! - no definite verdict comes from it (never `Unsigned`, `SignatureInvalid`, `DigestMismatch`,
//!   nor any `Verified=False`: every source here is signed with the policy's key);
//! - a source never verified is `Verified=Unknown/RegistryUnavailable`;
//! - a source verified before follows the documented rule (docs/reliability.md): a failed
//!   re-check makes it `Unknown/RegistryUnavailable` at once (fail closed) with the signer
//!   evidence kept in the status;
//! - the input of Prometheus's `ProvenanceRegistryUnreachable` is set (its expression read from
//!   `config/prometheus/rules.yaml`), that of `ProvenanceSignatureMismatch` is not;
//! - once the fault stops, the source returns to `Verified=True` with no operator action.
//!
//! The proxy faults only the controller's requests (by `User-Agent`), and for the transport and
//! status faults only its reads of signature objects (manifests and blobs by digest, found
//! through the referrers list), so Flux still fetches the artifacts through the same proxy.
//! An unresolvable host and a TLS handshake failure use sources whose status the test writes
//! (Flux cannot fetch from them either).
//!
//! The cases of one test run concurrently, each in its own namespace with its own proxy, so the
//! campaign costs about as much as one case. Each test prints the verdicts it observed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use provenance_e2e::campaign::{alert_input, alert_reasons, VerdictLog, DEFINITE_FROM_FAULT};
use provenance_e2e::proxy::{Fault, FaultProxy, Scope};
use provenance_e2e::{has_cond, run_supports, try_run, Ctx, Stack, AUDIT, RESYNC};
use serde_json::Value;

/// The controller's `--registry-timeout`: a stall shows within seconds.
const REGISTRY_TIMEOUT: &str = "3s";
/// The `--reverify-interval` asked of the controller when it has the flag.
const REVERIFY: Duration = Duration::from_secs(5);
/// Bound for a source to return to its true verdict once a fault stops (a resync and a
/// verification, with margin for a loaded machine).
const RECOVERY: Duration = Duration::from_secs(60);

/// The shared controller's extra flags: a short registry timeout, and a short re-verification
/// interval when this build has `--reverify-interval` (helper "verifier"'s change).
async fn controller_args() -> Result<Vec<String>> {
    static ARGS: tokio::sync::OnceCell<Vec<String>> = tokio::sync::OnceCell::const_new();
    Ok(ARGS
        .get_or_try_init(|| async {
            let stack = Stack::load()?;
            let reverify =
                tokio::task::spawn_blocking(move || run_supports(&stack, "--reverify-interval"))
                    .await??;
            let mut args = vec!["--registry-timeout".to_string(), REGISTRY_TIMEOUT.into()];
            if reverify {
                args.extend([
                    "--reverify-interval".to_string(),
                    format!("{}s", REVERIFY.as_secs()),
                ]);
            }
            anyhow::Ok(args)
        })
        .await?
        .clone())
}

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

fn unavailable(a: Option<&Value>) -> bool {
    verified(a, "Unknown", "RegistryUnavailable")
}

/// What one case observed, for the printed table.
#[derive(Debug, Default, Clone)]
struct Row {
    fault: String,
    never_verified: Vec<String>,
    verified_before: Vec<String>,
    faulted_requests: usize,
    recovered_after: Option<Duration>,
}

type Rows = Arc<Mutex<Vec<Row>>>;

fn print_rows(title: &str, rows: &Rows) {
    let rows = rows.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!("[faults] {title}");
    eprintln!("[faults] fault | never verified (seen) | verified before (seen) | faulted requests | back to Verified after");
    for r in rows.iter() {
        eprintln!(
            "[faults] {} | {} | {} | {} | {}",
            r.fault,
            r.never_verified.join(" -> "),
            r.verified_before.join(" -> "),
            r.faulted_requests,
            r.recovered_after
                .map(|d| format!("{:.1}s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        );
    }
}

/// Ensures the alert input for `names` is set (ProvenanceRegistryUnreachable) and that of
/// ProvenanceSignatureMismatch is not.
async fn ensure_unreachable_alert_input(ctx: &Ctx, url: &str, names: &[&str]) -> Result<()> {
    let unreachable = alert_reasons("ProvenanceRegistryUnreachable")?;
    let mismatch = alert_reasons("ProvenanceSignatureMismatch")?;
    let text = ctx
        .wait_metrics(
            url,
            AUDIT,
            "provenance_source_verified 0 with a ProvenanceRegistryUnreachable reason",
            |t| {
                names
                    .iter()
                    .all(|n| alert_input(t, &ctx.ns, n, &unreachable))
            },
        )
        .await?;
    for n in names {
        ensure!(
            !alert_input(&text, &ctx.ns, n, &mismatch),
            "ProvenanceSignatureMismatch's input is set for {n}"
        );
    }
    Ok(())
}

/// One fault through a proxy: a source verified before it and one never verified.
async fn proxy_case(
    ctx: Arc<Ctx>,
    fault: Fault,
    scope: Scope,
    label: String,
    rows: Rows,
) -> Result<()> {
    let url = ctx.auditor_with(&controller_args().await?).await?;
    let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
    let (key, pubkey) = ctx.keygen("signer").await?;
    let (_, second) = ctx.keygen("second").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    let policy = format!("{}-keys", ctx.ns);
    ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;

    // Verified before the fault.
    ctx.source_via(&proxy.addr(), "before", Some(&key)).await?;
    let before = ctx
        .wait_audit("ocirepository-before", AUDIT, "Verified", |a| {
            verified(a, "True", "Verified")
        })
        .await?
        .unwrap_or_default();
    // Signed with the same key, never seen by the controller until the fault is on.
    let fresh_digest = ctx.push_signed("fresh", Some(&key)).await?;

    let log = VerdictLog::start(
        ctx.clone(),
        &["ocirepository-before", "ocirepository-fresh"],
    );
    proxy.set(fault, scope);
    // The fault phase and the recovery; the verdicts seen are recorded whatever happens.
    let phase = async {
        // A second accepted key changes the policy's fingerprint: "before" must be re-checked
        // against the registry now (with --reverify-interval it would be anyway, within
        // REVERIFY).
        ctx.secret(
            "cosign-pub",
            &[("cosign.pub", &pubkey), ("second.pub", &second)],
        )
        .await?;
        ctx.apply_source_via(&proxy.addr(), "fresh").await?;
        ctx.wait_flux_artifact("fresh", &fresh_digest).await?;
        ctx.wait_audit(
            "ocirepository-fresh",
            AUDIT,
            "never verified: Unknown/RegistryUnavailable",
            unavailable,
        )
        .await?;
        let during = ctx
            .wait_audit(
                "ocirepository-before",
                AUDIT,
                "verified before: Unknown/RegistryUnavailable at once",
                unavailable,
            )
            .await?
            .unwrap_or_default();
        for field in ["signer", "signatures", "digest"] {
            ensure!(
                during["status"][field] == before["status"][field],
                "the evidence ({field}) of the last verification is not kept:\nbefore {}\nduring {}",
                before["status"][field],
                during["status"][field]
            );
        }
        ensure_unreachable_alert_input(&ctx, &url, &["before", "fresh"]).await?;
        ensure!(proxy.injected() > 0, "the proxy never applied the fault");

        proxy.pass();
        let t = Instant::now();
        for name in ["ocirepository-before", "ocirepository-fresh"] {
            ctx.wait_audit(name, RECOVERY, "Verified again, untouched", |a| {
                verified(a, "True", "Verified")
            })
            .await?;
        }
        let recovered = t.elapsed();
        ctx.wait_metrics(&url, AUDIT, "verified 1 again", |t| {
            ["before", "fresh"].iter().all(|n| {
                provenance_e2e::campaign::verified_samples(t, &ctx.ns, n)
                    .iter()
                    .any(|s| s.value == 1.0)
            })
        })
        .await?;
        anyhow::Ok(recovered)
    }
    .await;
    log.poll_now(&ctx).await;
    rows.lock().unwrap_or_else(|e| e.into_inner()).push(Row {
        fault: label,
        never_verified: log.seen("ocirepository-fresh"),
        verified_before: log.seen("ocirepository-before"),
        faulted_requests: proxy.injected(),
        recovered_after: phase.as_ref().ok().copied(),
    });
    phase?;
    log.ensure_never_false()?;
    for audit in ["ocirepository-before", "ocirepository-fresh"] {
        for bad in DEFINITE_FROM_FAULT {
            ensure!(
                !log.seen(audit)
                    .iter()
                    .any(|v| v.ends_with(&format!("/{bad}"))),
                "{audit} showed {bad}"
            );
        }
    }
    Ok(())
}

/// Runs the cases concurrently (own namespaces), prints what they observed, fails with all
/// failures.
async fn campaign(title: &str, cases: Vec<(&'static str, Fault, Scope)>) {
    let rows: Rows = Arc::default();
    let runs = cases.into_iter().map(|(label, fault, scope)| {
        let rows = rows.clone();
        let name = format!("fault-{label}");
        async move {
            try_run(&name, |ctx| {
                proxy_case(ctx, fault, scope, label.to_string(), rows)
            })
            .await
        }
    });
    let results = futures_join_all(runs).await;
    print_rows(title, &rows);
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `futures::future::join_all` without the dependency: each future in its own task.
async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("a campaign case panicked"));
    }
    out
}

/// Connection reset mid-body, a body cut short, a stall past the timeout, a body that does not
/// match its digest — all on the controller's reads of signature objects.
#[tokio::test]
async fn transport_faults_never_decide_a_verdict_and_recover() {
    campaign(
        "transport faults on signature reads",
        vec![
            (
                "reset-mid-body",
                Fault::ResetMidBody,
                Scope::auditor_signature_objects(),
            ),
            (
                "short-body",
                Fault::ShortBody,
                Scope::auditor_signature_objects(),
            ),
            ("stall", Fault::Stall, Scope::auditor_signature_objects()),
            (
                "digest-mismatch",
                Fault::CorruptBody,
                Scope::auditor_signature_objects(),
            ),
        ],
    )
    .await;
}

/// 429 with `Retry-After`, 500, 502, 503 — on the controller's reads of signature objects.
#[tokio::test]
async fn rate_limits_and_server_errors_never_decide_a_verdict_and_recover() {
    campaign(
        "status faults on signature reads",
        vec![
            (
                "429-retry-after",
                Fault::TooManyRequests { retry_after: 1 },
                Scope::auditor_signature_objects(),
            ),
            (
                "500",
                Fault::Status(500),
                Scope::auditor_signature_objects(),
            ),
            (
                "502",
                Fault::Status(502),
                Scope::auditor_signature_objects(),
            ),
            (
                "503",
                Fault::Status(503),
                Scope::auditor_signature_objects(),
            ),
        ],
    )
    .await;
}

/// A source whose registry cannot be reached at all: its host does not resolve, or it fails the
/// TLS handshake. Both are `Unknown/RegistryUnavailable` from the first audit on.
#[tokio::test]
async fn unresolvable_host_and_tls_failure_are_registry_unavailable() {
    let rows: Rows = Arc::default();
    let unresolvable = {
        let rows = rows.clone();
        async move {
            try_run("fault-unresolvable-host", |ctx| async move {
                let url = ctx.auditor_with(&controller_args().await?).await?;
                let (_, pubkey) = ctx.keygen("signer").await?;
                ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
                let policy = format!("{}-keys", ctx.ns);
                ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
                let digest = format!("sha256:{}", "ab".repeat(32));
                let log = VerdictLog::start(ctx.clone(), &["ocirepository-app"]);
                ctx.written_source(
                    "app",
                    &format!("oci://registry.invalid/{}/app", ctx.ns),
                    &digest,
                )
                .await?;
                let a = ctx
                    .wait_audit(
                        "ocirepository-app",
                        AUDIT,
                        "Unknown/RegistryUnavailable",
                        unavailable,
                    )
                    .await?
                    .unwrap_or_default();
                let msg = provenance_e2e::condition(&a, "Verified")
                    .map(|c| c.message)
                    .unwrap_or_default();
                ensure!(
                    msg.contains("registry.invalid"),
                    "the message should name the host: {msg:?}"
                );
                ensure_unreachable_alert_input(&ctx, &url, &["app"]).await?;
                log.ensure_never_false()?;
                log.poll_now(&ctx).await;
                rows.lock().unwrap_or_else(|e| e.into_inner()).push(Row {
                    fault: "unresolvable host (registry.invalid)".into(),
                    never_verified: log.seen("ocirepository-app"),
                    ..Row::default()
                });
                Ok(())
            })
            .await
        }
    };
    let tls = {
        let rows = rows.clone();
        async move {
            try_run("fault-tls-handshake", |ctx| async move {
                let url = ctx.auditor_with(&controller_args().await?).await?;
                let (key, pubkey) = ctx.keygen("signer").await?;
                ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
                let policy = format!("{}-keys", ctx.ns);
                ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
                // A real signed artifact: were the registry readable, this would be Verified.
                let digest = ctx.push_signed("app", Some(&key)).await?;
                let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
                proxy.set(Fault::TlsAlert, Scope::all());
                // The IPv4-mapped IPv6 form of 127.0.0.1 is not a loopback *name* to the
                // controller, so it speaks HTTPS to it (loopback hosts get plain HTTP), and the
                // kernel still delivers it to the proxy on 127.0.0.1.
                let host = format!("[::ffff:7f00:1]:{}", proxy.port());
                let log = VerdictLog::start(ctx.clone(), &["ocirepository-app"]);
                ctx.written_source("app", &format!("oci://{host}/{}/app", ctx.ns), &digest)
                    .await?;
                ctx.wait_audit(
                    "ocirepository-app",
                    AUDIT,
                    "Unknown/RegistryUnavailable",
                    unavailable,
                )
                .await?;
                ensure_unreachable_alert_input(&ctx, &url, &["app"]).await?;
                log.ensure_never_false()?;
                log.poll_now(&ctx).await;
                rows.lock().unwrap_or_else(|e| e.into_inner()).push(Row {
                    fault: "TLS handshake failure (fatal alert)".into(),
                    never_verified: log.seen("ocirepository-app"),
                    ..Row::default()
                });
                Ok(())
            })
            .await
        }
    };
    let (a, b) = tokio::join!(unresolvable, tls);
    print_rows("unreachable registries", &rows);
    let failures: Vec<String> = [a, b].into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Nothing changes but the registry starts failing: a verified source is re-checked within
/// `--reverify-interval` (helper "verifier"'s change), fails closed to
/// `Unknown/RegistryUnavailable` with its evidence kept, and is Verified again once the
/// registry answers. Fails with a clear message on a build without the flag.
#[tokio::test]
async fn verified_source_is_rechecked_on_schedule_and_fails_closed() {
    provenance_e2e::run("fault-reverify", |ctx| async move {
        let args = controller_args().await?;
        ensure!(
            args.iter().any(|a| a == "--reverify-interval"),
            "this build has no `run --reverify-interval`: scheduled re-verification (issue 9 item 1) is missing"
        );
        let url = ctx.auditor_with(&args).await?;
        let proxy = FaultProxy::start(&ctx.stack.registry()).await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        ctx.source_via(&proxy.addr(), "app", Some(&key)).await?;
        let before = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified", |a| verified(a, "True", "Verified"))
            .await?
            .unwrap_or_default();
        let log = VerdictLog::start(ctx.clone(), &["ocirepository-app"]);
        proxy.set(Fault::Status(503), Scope::auditor());
        let during = ctx
            .wait_audit(
                "ocirepository-app",
                REVERIFY + RESYNC + AUDIT,
                "re-checked on schedule: Unknown/RegistryUnavailable",
                unavailable,
            )
            .await?
            .unwrap_or_default();
        for field in ["signer", "signatures", "digest"] {
            ensure!(
                during["status"][field] == before["status"][field],
                "evidence ({field}) not kept: before {} during {}",
                before["status"][field],
                during["status"][field]
            );
        }
        ensure_unreachable_alert_input(&ctx, &url, &["app"]).await?;
        proxy.pass();
        ctx.wait_audit("ocirepository-app", RECOVERY, "Verified again", |a| verified(a, "True", "Verified"))
            .await?;
        log.ensure_never_false()?;
        log.poll_now(&ctx).await;
        eprintln!("[faults] scheduled re-check: {}", log.seen("ocirepository-app").join(" -> "));
        Ok(())
    })
    .await;
}
