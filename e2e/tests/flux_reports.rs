//! Verdicts where platform teams already look, against the real stack: events on the Flux
//! source itself (core/v1, as `kubectl get events` and `kubectl events --for` read them), Flux
//! notifications posted to an event endpoint on 127.0.0.1 in Flux's event format (and through
//! Flux's real notification-controller, an `Alert` and a `generic` `Provider`), and policy
//! reports in both formats Policy Reporter reads (OpenReports `Report`, wgpolicyk8s
//! `PolicyReport`), written into the real CRDs of those projects (config/thirdparty).
//!
//! One test, one private controller scoped to the test namespace (`--watch-namespaces`): three
//! sources — key-signed under a key policy, unsigned under it, keyless by the wrong workflow
//! under a keyless policy — then the unsigned one gets signed, then the controller restarts
//! writing the other report format.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use provenance_e2e::attest::{exactly, keyless_policy};
use provenance_e2e::{free_port, has_cond, run, spawn_private, wait_ready, Ctx, AUDIT, FLUX};
use serde_json::{json, Value};
use sigstore_forge::predicates::Build;

const GOOD: &str = "https://github.com/example/infra";
const FORK: &str = "https://github.com/example/infra-fork";
const REF: &str = "refs/heads/main";
/// Negative verdicts are re-checked a minute after they were reached.
const RECHECK: Duration = Duration::from_secs(60 + 30);

/// An event endpoint on 127.0.0.1 that records each POST body and answers 202, as
/// notification-controller's does.
async fn receiver() -> Result<(String, Arc<Mutex<Vec<Value>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bodies = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let bodies = bodies.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        bodies.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                        let mut r = hyper::Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = hyper::StatusCode::ACCEPTED;
                        Ok::<_, hyper::Error>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((url, seen))
}

fn received(seen: &Mutex<Vec<Value>>) -> Vec<Value> {
    seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Polls `check` until it yields, or fails after `timeout` saying `what`.
async fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        match check().await {
            Ok(Some(t)) => return Ok(t),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?}: {what} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn notifications_for<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|n| n["involvedObject"]["name"] == name)
        .collect()
}

fn report_api(
    ctx: &Ctx,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(ctx.client.clone(), &ctx.ns, &ar)
}

/// The namespace's report of ours (there is one per shard: found by its label).
async fn our_report(api: &Api<DynamicObject>) -> Result<Option<Value>> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=provenance-auditor");
    Ok(api
        .list(&lp)
        .await?
        .items
        .into_iter()
        .next()
        .map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// `(source, rule) -> result` of a report.
fn results(report: &Value) -> Vec<(String, String, String)> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["resources"][0]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["rule"].as_str().unwrap_or_default().to_string(),
                r["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn result_of(report: &Value, source: &str, rule: &str) -> Option<String> {
    results(report)
        .into_iter()
        .find(|(s, r, _)| s == source && r == rule)
        .map(|(_, _, o)| o)
}

/// The verdicts the report must show for the three sources (unsigned as `unsigned`).
fn shows(report: &Value, unsigned: &str) -> bool {
    result_of(report, "good", "signature").as_deref() == Some("pass")
        && result_of(report, "good", "identity").as_deref() == Some("pass")
        && result_of(report, "unsigned", "signature").as_deref() == Some(unsigned)
        && result_of(report, "mismatch", "signature").as_deref() == Some("pass")
        && result_of(report, "mismatch", "identity").as_deref() == Some("fail")
}

fn kubectl(ctx: &Ctx, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(provenance_e2e::kubectl())
        .arg("--kubeconfig")
        .arg(ctx.stack.dir.join("admin.kubeconfig"))
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn start_controller(
    ctx: &Ctx,
    notify: &str,
    reports: &str,
    log: &str,
) -> Result<tokio::process::Child> {
    let port = free_port()?;
    let child = spawn_private(
        &ctx.stack,
        port,
        &[
            "--watch-namespaces",
            &ctx.ns,
            "--flux-notification-url",
            notify,
            "--reports",
            reports,
        ],
        &[],
        log,
    )?;
    wait_ready(
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(60),
        &ctx.stack.dir.join("logs").join(log),
    )
    .await?;
    Ok(child)
}

/// Waits until notifications for `unsigned` and `mismatch` were received; returns all.
async fn announced(seen: &Mutex<Vec<Value>>) -> Result<Vec<Value>> {
    eventually(
        AUDIT * 2,
        "notifications for unsigned and mismatch",
        async || {
            let all = received(seen);
            let done = ["unsigned", "mismatch"]
                .iter()
                .all(|n| !notifications_for(&all, n).is_empty());
            Ok(done.then_some(all))
        },
    )
    .await
}

/// The notifications of `three_sources` in namespace `ns`: the unsigned source and the
/// identity mismatch as `error`, in Flux's event format with our reason, message and metadata
/// (its keys prefixed with `meta_prefix`); none of them an error about the verified source.
fn check_announced(got: &[Value], ns: &str, meta_prefix: &str) -> Result<()> {
    for (name, reason) in [
        ("unsigned", "ProvenanceUnsigned"),
        ("mismatch", "ProvenanceIdentityMismatch"),
    ] {
        let n = notifications_for(got, name)[0];
        ensure!(
            n["reason"] == reason && n["severity"] == "error",
            "{name}: {n:#}"
        );
        ensure!(n["reportingController"] == "provenance-auditor", "{n:#}");
        let obj = &n["involvedObject"];
        ensure!(
            obj["kind"] == "OCIRepository" && obj["namespace"] == ns,
            "{n:#}"
        );
        ensure!(obj["apiVersion"] == "source.toolkit.fluxcd.io/v1", "{n:#}");
        let meta = &n["metadata"];
        ensure!(
            meta[format!("{meta_prefix}auditedDigest")]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{n:#}"
        );
        ensure!(
            meta[format!("{meta_prefix}revision")]
                .as_str()
                .is_some_and(|r| r.starts_with("v1@sha256:")),
            "{n:#}"
        );
    }
    let mismatch = notifications_for(got, "mismatch")[0];
    ensure!(
        mismatch["message"]
            .as_str()
            .is_some_and(|m| m.contains("example/infra-fork")),
        "the mismatch names the signer found: {mismatch:#}"
    );
    ensure!(
        !got.iter()
            .any(|n| n["involvedObject"]["name"] == "good" && n["severity"] == "error"),
        "a verified source raises no error: {got:#?}"
    );
    Ok(())
}

/// The three sources and their policies: `good` (key-signed, key policy), `unsigned` (key
/// policy), `mismatch` (keyless by the fork's workflow, keyless policy for the expected one).
/// Returns the key and the unsigned artifact's digest.
async fn three_sources(ctx: &Ctx) -> Result<(std::path::PathBuf, String)> {
    // Sources and policies first: the controller's first verdicts are what is announced.
    let (key, pubkey) = ctx.keygen("signer").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    ctx.policy(
            &format!("{}-key", ctx.ns),
            json!({"match": {"namespaces": [ctx.ns], "names": ["good", "unsigned"]},
                   "verify": {"provider": "cosign", "secretRef": {"namespace": ctx.ns, "name": "cosign-pub"}}}),
        )
        .await?;
    let sigstore = ctx.private_sigstore().await?;
    let workflow = Build::github(GOOD, REF).workflow_identity();
    ctx.policy(
        &format!("{}-keyless", ctx.ns),
        keyless_policy(&ctx.ns, &["mismatch"], &exactly(&workflow), json!([])),
    )
    .await?;
    ctx.flux_source("good", Some(&key), None).await?;
    let unsigned_digest = ctx.flux_source("unsigned", None, None).await?;
    let dir = ctx.artifact_dir("mismatch", "mismatch")?;
    let digest = ctx.push_artifact("mismatch", "v1", &dir).await?;
    ctx.sign_keyless(&sigstore, "mismatch", &digest, &Build::github(FORK, REF))
        .await?;
    ctx.apply("OCIRepository", "mismatch", ctx.oci_spec("mismatch", None))
        .await?;
    ctx.wait_for("OCIRepository", "mismatch", FLUX, "Ready", |o| {
        has_cond(o, "Ready", "True", None)
    })
    .await?;

    Ok((key, unsigned_digest))
}

#[tokio::test]
async fn verdicts_reach_flux_events_notifications_and_both_report_formats() {
    run("flux-reports", |ctx| async move {
        let (url, seen) = receiver().await?;
        // Sources and policies first: the controller's first verdicts are what is announced.
        let (key, unsigned_digest) = three_sources(&ctx).await?;
        let mut controller =
            start_controller(&ctx, &url, "openreports", "flux-reports-openreports.log").await?;

        // Flux notifications: the unsigned source and the identity mismatch, as `error`, about
        // the Flux source itself (its UID), with the digest and revision in the metadata.
        let sources: Api<DynamicObject> = ctx.api("OCIRepository");
        let uid = |name: &'static str| {
            let sources = sources.clone();
            async move {
                Ok::<_, anyhow::Error>(sources.get(name).await?.metadata.uid.unwrap_or_default())
            }
        };
        let got = announced(&seen).await?;
        check_announced(&got, &ctx.ns, "source.toolkit.fluxcd.io/")?;
        for name in ["unsigned", "mismatch"] {
            let ns = notifications_for(&got, name);
            ensure!(ns.len() == 1, "{name}: one notification, got {ns:#?}");
            ensure!(
                ns[0]["involvedObject"]["uid"] == uid(name).await?.as_str(),
                "{name}: not the source's UID: {:#}",
                ns[0]
            );
        }
        ensure!(
            notifications_for(&got, "unsigned")[0]["metadata"]
                ["source.toolkit.fluxcd.io/auditedDigest"]
                == unsigned_digest.as_str(),
            "{got:#?}"
        );
        // The verified source's first verdict is not news: nothing, and certainly no error.
        ensure!(notifications_for(&got, "good").is_empty(), "{got:#?}");

        // Events on the Flux sources, as kubectl reads them (core/v1).
        let table = kubectl(
            &ctx,
            &[
                "-n",
                &ctx.ns,
                "get",
                "events",
                "--field-selector",
                "involvedObject.kind=OCIRepository",
            ],
        )?;
        for reason in ["ProvenanceUnsigned", "ProvenanceIdentityMismatch"] {
            ensure!(table.contains(reason), "no {reason} in\n{table}");
        }
        let for_unsigned = kubectl(
            &ctx,
            &["-n", &ctx.ns, "events", "--for", "OCIRepository/unsigned"],
        )?;
        ensure!(
            for_unsigned.contains("ProvenanceUnsigned"),
            "kubectl events --for:\n{for_unsigned}"
        );
        let events: Vec<Event> = Api::<Event>::namespaced(ctx.client.clone(), &ctx.ns)
            .list(&ListParams::default())
            .await?
            .items;
        let ev = events
            .iter()
            .find(|e| e.reason.as_deref() == Some("ProvenanceIdentityMismatch"))
            .ok_or_else(|| anyhow::anyhow!("no ProvenanceIdentityMismatch event"))?;
        ensure!(ev.type_.as_deref() == Some("Warning"), "{ev:#?}");
        ensure!(
            ev.involved_object.kind.as_deref() == Some("OCIRepository"),
            "{ev:#?}"
        );
        ensure!(
            ev.involved_object.uid.as_deref() == Some(uid("mismatch").await?.as_str()),
            "{ev:#?}"
        );
        ensure!(
            ev.message
                .as_deref()
                .is_some_and(|m| m.contains("example/infra-fork")),
            "{ev:#?}"
        );

        // The OpenReports Report of the namespace: the verified source passes, the unsigned
        // and mis-signed ones fail.
        let reports = report_api(&ctx, "openreports.io", "v1alpha1", "Report", "reports");
        let report = eventually(AUDIT, "the namespace's Report", async || {
            Ok(our_report(&reports).await?.filter(|r| shows(r, "fail")))
        })
        .await?;
        ensure!(report["source"] == "provenance-auditor", "{report:#}");
        ensure!(
            report["summary"]["fail"] == 2,
            "summary: {}",
            report["summary"]
        );
        let r0 = report["results"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        ensure!(
            r0["result"] == "fail" && r0["properties"]["digest"].as_str().is_some(),
            "{r0:#}"
        );
        let table = kubectl(&ctx, &["-n", &ctx.ns, "get", "reports.openreports.io"])?;
        ensure!(
            table.contains("PASS") && table.lines().count() == 2,
            "{table}"
        );

        // A change: the unsigned artifact gets signed. Its next re-check finds it Verified:
        // announced as `info`, and the report follows.
        ctx.sign(&key, "bundle", "unsigned", &unsigned_digest)
            .await?;
        eventually(
            RECHECK,
            "a ProvenanceVerified notification for unsigned",
            async || {
                let all = received(&seen);
                let v = notifications_for(&all, "unsigned")
                    .into_iter()
                    .find(|n| n["reason"] == "ProvenanceVerified")
                    .cloned();
                Ok(v)
            },
        )
        .await
        .and_then(|n| {
            ensure!(n["severity"] == "info", "{n:#}");
            Ok(())
        })?;
        eventually(AUDIT, "the Report with unsigned passing", async || {
            Ok(our_report(&reports).await?.filter(|r| shows(r, "pass")))
        })
        .await?;
        let all = received(&seen);
        ensure!(
            !all.iter()
                .any(|n| n["severity"] == "error" && n["involvedObject"]["name"] == "good"),
            "{all:#?}"
        );
        ensure!(
            notifications_for(&all, "unsigned").len() == 2,
            "one per change: {all:#?}"
        );

        // The other format, after a restart: the same results as a wgpolicyk8s PolicyReport,
        // and nothing announced again.
        controller.kill().await?;
        let before = received(&seen).len();
        let _controller =
            start_controller(&ctx, &url, "policyreport", "flux-reports-policyreport.log").await?;
        let policy_reports = report_api(
            &ctx,
            "wgpolicyk8s.io",
            "v1alpha2",
            "PolicyReport",
            "policyreports",
        );
        let pr = eventually(AUDIT, "the namespace's PolicyReport", async || {
            Ok(our_report(&policy_reports)
                .await?
                .filter(|r| shows(r, "pass")))
        })
        .await?;
        ensure!(
            pr.get("source").is_none() && pr["summary"]["fail"] == 1,
            "{pr:#}"
        );
        ensure!(
            received(&seen).len() == before,
            "a restart announces nothing: {:#?}",
            received(&seen)
        );
        Ok(())
    })
    .await;
}

/// Creates a notification-controller object (`Provider`, `Alert`) in the test namespace.
async fn notification_object(
    ctx: &Ctx,
    kind: &str,
    plural: &str,
    name: &str,
    spec: Value,
) -> Result<()> {
    let api = report_api(
        ctx,
        "notification.toolkit.fluxcd.io",
        "v1beta3",
        kind,
        plural,
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": kind,
        "metadata": {"name": name, "namespace": ctx.ns},
        "spec": spec,
    }))?;
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

/// The route a cluster has: the auditor posts to Flux's real notification-controller, which
/// forwards what an `Alert` selects to its `Provider` (type `generic`, a webhook on 127.0.0.1).
#[tokio::test]
async fn verdicts_reach_a_flux_alert_through_the_real_notification_controller() {
    run("flux-alerts", |ctx| async move {
        let (webhook, seen) = receiver().await?;
        let events = ctx.stack.var("NOTIFICATION_CONTROLLER_EVENTS");
        ensure!(
            events.starts_with("http://127.0.0.1:"),
            "the stack's notification-controller: {events:?}"
        );
        notification_object(
            &ctx,
            "Provider",
            "providers",
            "webhook",
            json!({"type": "generic", "address": webhook}),
        )
        .await?;
        notification_object(
            &ctx,
            "Alert",
            "alerts",
            "sources",
            json!({"providerRef": {"name": "webhook"}, "eventSeverity": "info",
                   "eventSources": [{"kind": "OCIRepository", "name": "*"}]}),
        )
        .await?;
        three_sources(&ctx).await?;
        let _controller = start_controller(&ctx, &events, "none", "flux-alerts.log").await?;

        // What the webhook receives is notification-controller's forward of our events: the
        // unsigned source and the identity mismatch, with our reason and message.
        let got = announced(&seen).await?;
        // Forwarded whole, metadata included: notification-controller keeps the keys of the
        // source's API group, without the group.
        check_announced(&got, &ctx.ns, "")?;
        let unsigned = notifications_for(&got, "unsigned")[0];
        ensure!(
            unsigned["metadata"]["verdict"] == "Unsigned",
            "{unsigned:#}"
        );
        Ok(())
    })
    .await;
}
