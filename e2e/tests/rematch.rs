//! Issue 13's constraint: making the controller cheaper must not break re-matching. Pins what
//! re-audits a source today, each bounded well below the resync (60 s here), except namespace
//! labels, which nothing watches yet and the resync picks up:
//!
//! - rotating a key Secret re-audits the sources whose policy names that Secret, within the
//!   Secret poll interval (`--secret-poll-interval 2s`), and only they are checked against the
//!   registry again: the source of the other policy, whose Secret did not change, keeps its
//!   audit untouched (today it may be re-queued and answered from the verdict cache); deleting
//!   that Secret makes its source `Unknown/PolicyInvalid` just as promptly, and creating it again
//!   `Verified` (the controller keeps Secret data between audits, so none of this may wait for
//!   the resync);
//! - changing a namespace's labels re-matches the policies with a `namespaceSelector`;
//! - editing a policy re-matches its sources (a policy that starts matching a source, then one
//!   that names another key).
//!
//! Its own test binary: it runs a private controller (its own resync and poll interval), which
//! must not overlap with the shared one of `controller.rs` (test binaries run one at a time).
//! The scenarios run one after the other: the first reads the controller's global counters.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use provenance_e2e::{
    free_port, has_cond, provenance, spawn_private_resync, try_run, wait_ready, Ctx, Stack, AUDIT,
    POLL,
};
use serde_json::{json, Value};

/// Long enough that a re-audit within [`PROMPT`] cannot be the resync.
const RESYNC: Duration = Duration::from_secs(60);
/// The bound on a re-audit that a watch or the Secret poller triggers.
const PROMPT: Duration = Duration::from_secs(15);

fn verified(a: Option<&Value>) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified")))
}

/// The audit says Verified=False for this reason.
fn reason(want: &'static str) -> impl Fn(Option<&Value>) -> bool {
    move |a: Option<&Value>| a.is_some_and(|a| has_cond(a, "Verified", "False", Some(want)))
}

/// Verified=False because no policy matches (the audit names none; an artifact signed with a
/// key says `UntrustedSigner`, one without a signature `NoPolicy`).
fn unmatched(a: Option<&Value>) -> bool {
    a.is_some_and(|a| {
        has_cond(a, "Verified", "False", None)
            && a["status"]["policies"]
                .as_array()
                .is_none_or(|p| p.is_empty())
    })
}

/// The sum of a counter's series in the controller's metrics.
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn secret_rotation_namespace_labels_and_policy_edits_re_match() {
    let stack = Stack::load().expect("the local stack");
    let port = free_port().expect("a port");
    let log = stack.dir.join("logs/provenance-auditor-rematch.log");
    let s = stack.clone();
    let _controller = tokio::task::spawn_blocking(move || {
        spawn_private_resync(
            &s,
            port,
            RESYNC,
            &["--secret-poll-interval", "2s"],
            &[],
            "provenance-auditor-rematch.log",
        )
    })
    .await
    .expect("spawning")
    .expect("the controller");
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/readyz"), Duration::from_secs(60), &log)
        .await
        .expect("the controller is ready");
    let mut failures = vec![];
    let u = url.clone();
    if let Err(e) = try_run("rematch-secret", |ctx| async move {
        secret_rotation(&ctx, &u).await
    })
    .await
    {
        failures.push(e);
    }
    if let Err(e) = try_run("rematch-namespace", |ctx| async move {
        namespace_labels(&ctx).await
    })
    .await
    {
        failures.push(e);
    }
    if let Err(e) = try_run(
        "rematch-policy",
        |ctx| async move { policy_edit(&ctx).await },
    )
    .await
    {
        failures.push(e);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Polls a `ProvenancePolicy` until `pred` holds.
async fn wait_policy(ctx: &Ctx, name: &str, pred: impl Fn(&Value) -> bool) -> Result<()> {
    let api = Api::<DynamicObject>::all_with(ctx.client.clone(), &provenance("ProvenancePolicy"));
    let deadline = Instant::now() + AUDIT;
    loop {
        let p = serde_json::to_value(api.get(name).await?)?;
        if pred(&p) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "ProvenancePolicy {name}: {}",
            p["status"]
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The metrics once the verification counters stopped moving for a second.
async fn settled_metrics(ctx: &Ctx, url: &str) -> Result<String> {
    let deadline = Instant::now() + AUDIT;
    let counters = |t: &str| {
        (
            counter(t, "provenance_verifications_total"),
            counter(t, "provenance_verification_cache_hits_total"),
        )
    };
    let mut last = ctx.metrics(url).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = ctx.metrics(url).await?;
        if counters(&now) == counters(&last) {
            return Ok(now);
        }
        ensure!(Instant::now() < deadline, "the controller never settled");
        last = now;
    }
}

/// Two sources of one artifact, each matched by its own policy naming its own key Secret;
/// rotating one Secret re-audits its source only.
async fn secret_rotation(ctx: &Ctx, url: &str) -> Result<()> {
    let (key, pubkey) = ctx.keygen("signer").await?;
    let (_, other_pub) = ctx.keygen("other").await?;
    for s in ["key-a", "key-b"] {
        ctx.secret(s, &[("cosign.pub", &pubkey)]).await?;
    }
    for (name, secret) in [("a", "key-a"), ("b", "key-b")] {
        let mut spec = ctx.key_policy(secret);
        spec["match"]["names"] = json!([name]);
        ctx.policy(&format!("{}-{name}", ctx.ns), spec).await?;
    }
    for name in ["a", "b"] {
        ctx.flux_source(name, Some(&key), None).await?;
    }
    for name in ["a", "b"] {
        ctx.wait_audit(
            &format!("ocirepository-{name}"),
            AUDIT,
            "Verified",
            verified,
        )
        .await?;
    }
    // Settled: both verdicts are in the cache, each source's next resync is a minute away, and
    // the policies' statuses (whose changes re-queue every source today) are written.
    for name in ["a", "b"] {
        let policy = format!("{}-{name}", ctx.ns);
        wait_policy(ctx, &policy, |p| p["status"]["matchedSources"] == 1).await?;
    }
    settled_metrics(ctx, url).await?;
    let b_before = ctx.audit("ocirepository-b").await?;
    ctx.secret("key-a", &[("cosign.pub", &other_pub)]).await?;
    ctx.wait_audit(
        "ocirepository-a",
        PROMPT,
        "KeyMismatch after its key Secret was rotated",
        reason("KeyMismatch"),
    )
    .await?;
    // Only a's verdict was checked against the registry again: b's audit (its status stamps
    // every registry check in lastVerifiedTime) is the very same object version. Today the
    // poller re-queues every source when a policy's Secret changes (any policy may match any
    // source), which the verdict cache answers without a write.
    settled_metrics(ctx, url).await?;
    let b_after = ctx.audit("ocirepository-b").await?;
    ensure!(
        verified(b_after.as_ref())
            && b_after.as_ref().map(|a| &a["metadata"]["resourceVersion"])
                == b_before.as_ref().map(|a| &a["metadata"]["resourceVersion"]),
        "source b's audit changed although its Secret did not: {:?} then {:?}",
        b_before.as_ref().map(|a| &a["status"]["lastVerifiedTime"]),
        b_after.as_ref().map(|a| &a["status"]["lastVerifiedTime"])
    );
    // The data of key-a is cached (read for a's audit just now): its deletion must still fail
    // a's audit closed, and its return must be read, both within the poll, not the resync.
    Api::<Secret>::namespaced(ctx.client.clone(), &ctx.ns)
        .delete("key-a", &DeleteParams::default())
        .await?;
    ctx.wait_audit(
        "ocirepository-a",
        PROMPT,
        "Unknown/PolicyInvalid after its policy's key Secret was deleted",
        |a: Option<&Value>| {
            a.is_some_and(|a| has_cond(a, "Verified", "Unknown", Some("PolicyInvalid")))
        },
    )
    .await?;
    ctx.secret("key-a", &[("cosign.pub", &pubkey)]).await?;
    ctx.wait_audit(
        "ocirepository-a",
        PROMPT,
        "Verified once its policy's key Secret is back",
        verified,
    )
    .await?;
    Ok(())
}

/// A policy selecting namespaces by label: labelling the source's namespace makes it match,
/// removing the label makes it stop (at the latest at the next resync).
async fn namespace_labels(ctx: &Ctx) -> Result<()> {
    let (key, pubkey) = ctx.keygen("signer").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    let mut spec = ctx.key_policy("cosign-pub");
    spec["match"] = json!({"namespaceSelector": {"matchLabels": {"e2e-rematch": ctx.ns}}});
    ctx.policy(&format!("{}-keys", ctx.ns), spec).await?;
    ctx.flux_source("app", Some(&key), None).await?;
    ctx.wait_audit(
        "ocirepository-app",
        AUDIT,
        "matched by no policy",
        unmatched,
    )
    .await?;
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let label = |v: Value| json!({"metadata": {"labels": {"e2e-rematch": v}}});
    namespaces
        .patch(
            &ctx.ns,
            &PatchParams::default(),
            &Patch::Merge(label(json!(ctx.ns))),
        )
        .await?;
    ctx.wait_audit(
        "ocirepository-app",
        RESYNC + AUDIT,
        "Verified once its namespace has the policy's label",
        verified,
    )
    .await?;
    namespaces
        .patch(
            &ctx.ns,
            &PatchParams::default(),
            &Patch::Merge(label(Value::Null)),
        )
        .await?;
    ctx.wait_audit(
        "ocirepository-app",
        RESYNC + AUDIT,
        "matched by no policy once its namespace lost the policy's label",
        unmatched,
    )
    .await?;
    Ok(())
}

/// Editing a policy re-audits the sources it matches, before and after the edit, promptly.
async fn policy_edit(ctx: &Ctx) -> Result<()> {
    let (key, pubkey) = ctx.keygen("signer").await?;
    let (_, other_pub) = ctx.keygen("other").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    ctx.secret("other-pub", &[("cosign.pub", &other_pub)])
        .await?;
    let policy = format!("{}-keys", ctx.ns);
    let mut spec = ctx.key_policy("cosign-pub");
    spec["match"]["names"] = json!(["not-app"]);
    ctx.policy(&policy, spec.clone()).await?;
    ctx.flux_source("app", Some(&key), None).await?;
    ctx.wait_audit(
        "ocirepository-app",
        AUDIT,
        "matched by no policy",
        unmatched,
    )
    .await?;
    // The policy now names the source.
    spec["match"]["names"] = json!(["app"]);
    ctx.policy(&policy, spec.clone()).await?;
    ctx.wait_audit(
        "ocirepository-app",
        PROMPT,
        "Verified once the policy matches it",
        verified,
    )
    .await?;
    // The policy now requires another key.
    spec["verify"]["secretRef"]["name"] = json!("other-pub");
    ctx.policy(&policy, spec).await?;
    ctx.wait_audit(
        "ocirepository-app",
        PROMPT,
        "KeyMismatch once the policy requires another key",
        reason("KeyMismatch"),
    )
    .await?;
    Ok(())
}
