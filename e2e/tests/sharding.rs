//! Issue 13, "beyond one replica": three shards run side by side like Flux's — `shard1`
//! (`sharding.fluxcd.io/key=shard1`, every namespace), `shard2` (`…=shard2`, the test
//! namespace only) and the unsharded rest (`!sharding.fluxcd.io/key`, the test namespace only),
//! each with leader election. Each source is audited by exactly its shard: its SourceAudit is
//! written once, by that shard (the audit's events name one reporting instance), only that
//! shard's metrics export it, each shard holds its own Lease, and a source outside every shard
//! (the rest in another namespace) gets no audit at all; no shard writes the policy's status
//! (each would count only its own sources in `matchedSources`). A source relabelled from the
//! rest to shard1 is taken over: the same SourceAudit object (never deleted by the shard it
//! left) carries shard1's label and moves from one shard's metrics to the other's, and no
//! shard's garbage collector deletes another shard's audit meanwhile.
//!
//! Its own test binary: it runs private controllers, which must not overlap with the shared
//! one of `controller.rs` (test binaries run one at a time).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use provenance_e2e::{
    flux, free_port, has_cond, provenance, revision, run, spawn_private, wait_ready, Ctx, AUDIT,
    FLUX, POLL,
};
use serde_json::{json, Value};

const KEY: &str = "sharding.fluxcd.io/key";
const LEASE_NS: &str = "provenance-system";
/// The shards' holder identities (POD_NAME).
const SHARDS: [&str; 3] = ["e2e-shard1", "e2e-shard2", "e2e-rest"];

/// One running shard.
struct Shard {
    who: &'static str,
    url: String,
    _child: tokio::process::Child,
}

async fn start(ctx: &Ctx, who: &'static str, flags: Vec<String>) -> Result<Shard> {
    let port = free_port()?;
    let stack = ctx.stack.clone();
    let log = format!("provenance-auditor-shard-{who}.log");
    let log2 = log.clone();
    let child = tokio::task::spawn_blocking(move || {
        let mut args: Vec<&str> = vec!["--leader-elect", "--leader-election-namespace", LEASE_NS];
        args.extend(flags.iter().map(String::as_str));
        let pod = format!("e2e-{who}");
        spawn_private(&stack, port, &args, &[("POD_NAME", pod.as_str())], &log2)
    })
    .await??;
    let url = format!("http://127.0.0.1:{port}");
    Ok(Shard {
        who,
        url,
        _child: child,
    })
}

/// Waits until the shard leads and its caches have synced.
async fn wait_leading(ctx: &Ctx, s: &Shard) -> Result<()> {
    let log = ctx
        .stack
        .dir
        .join("logs")
        .join(format!("provenance-auditor-shard-{}.log", s.who));
    wait_ready(&format!("{}/healthz", s.url), Duration::from_secs(60), &log).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = match reqwest::get(format!("{}/readyz", s.url)).await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        if body.contains("caches synced") {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "shard {} never led (last /readyz {body:?}); log:\n{}",
            s.who,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The sources (namespace, name) a shard's metrics export, among `namespaces`.
async fn exported(s: &Shard, namespaces: &[&str]) -> Result<BTreeSet<(String, String)>> {
    let text = reqwest::get(format!("{}/metrics", s.url))
        .await?
        .text()
        .await?;
    let mut out = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("provenance_source_verified{"))
    {
        let label = |k: &str| {
            line.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        };
        if let (Some(ns), Some(name)) = (label("namespace"), label("name")) {
            if namespaces.contains(&ns.as_str()) {
                out.insert((ns, name));
            }
        }
    }
    Ok(out)
}

/// Polls until every shard exports exactly `want[i]`.
async fn wait_exports(
    shards: &[&Shard],
    namespaces: &[&str],
    want: &[&[(&str, &str)]],
) -> Result<()> {
    let deadline = Instant::now() + AUDIT;
    loop {
        let mut seen = vec![];
        for s in shards {
            seen.push(exported(s, namespaces).await?);
        }
        let want: Vec<BTreeSet<(String, String)>> = want
            .iter()
            .map(|w| {
                w.iter()
                    .map(|(n, s)| (n.to_string(), s.to_string()))
                    .collect()
            })
            .collect();
        if seen == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "shards {:?} export {seen:?}, expected {want:?}",
                shards.iter().map(|s| s.who).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

/// Applies `ns/name`, an OCIRepository of the test's signed `app:v1`, with these labels.
async fn apply_source(ctx: &Ctx, ns: &str, name: &str, labels: Value) -> Result<()> {
    let ar = flux("OCIRepository");
    let obj = json!({
        "apiVersion": ar.api_version, "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": ctx.oci_spec("app", None),
    });
    Api::<DynamicObject>::namespaced_with(ctx.client.clone(), ns, &ar)
        .patch(
            name,
            &PatchParams::apply("provenance-e2e").force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying OCIRepository {ns}/{name}"))?;
    Ok(())
}

async fn get_in(
    ctx: &Ctx,
    ns: &str,
    ar: &kube::core::ApiResource,
    name: &str,
) -> Result<Option<Value>> {
    Ok(
        Api::<DynamicObject>::namespaced_with(ctx.client.clone(), ns, ar)
            .get_opt(name)
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or_default()),
    )
}

/// Polls an object in any namespace until `pred` holds.
async fn wait_in(
    ctx: &Ctx,
    ns: &str,
    ar: &kube::core::ApiResource,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(Option<&Value>) -> bool,
) -> Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let o = get_in(ctx, ns, ar, name).await?;
        if pred(o.as_ref()) {
            return Ok(o);
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {timeout:?} waiting for {} {ns}/{name}: {what}; last seen: {o:?}",
                ar.kind
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The reporting instances of the events about one SourceAudit.
async fn reporters(ctx: &Ctx, ns: &str, audit: &str) -> Result<BTreeSet<String>> {
    Ok(Api::<Event>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("SourceAudit"))
        .filter(|e| e.involved_object.name.as_deref() == Some(audit))
        .filter_map(|e| e.reporting_instance)
        .collect())
}

fn verified(a: Option<&Value>) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified")))
}

#[tokio::test]
async fn each_source_is_audited_by_exactly_its_shard() {
    run("sharding", |ctx| async move {
        let a = ctx.ns.clone();
        let b = format!("{a}-b");
        let nsobj: Namespace = serde_json::from_value(json!({
            "metadata": {"name": b, "labels": {"provenance.dev/e2e": "true"}}
        }))?;
        let namespaces = Api::<Namespace>::all(ctx.client.clone());
        namespaces.create(&PostParams::default(), &nsobj).await?;
        let result = scenario(&ctx, &a, &b).await;
        let _ = namespaces.delete(&b, &DeleteParams::background()).await;
        result
    })
    .await;
}

async fn scenario(ctx: &Ctx, a: &str, b: &str) -> Result<()> {
    let audit_ar = provenance("SourceAudit");
    let oci = flux("OCIRepository");
    // One signed artifact, fetched by every source.
    let (key, pubkey) = ctx.keygen("signer").await?;
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    let mut policy = ctx.key_policy("cosign-pub");
    policy["match"]["namespaces"] = json!([a, b]);
    ctx.policy(&format!("{a}-keys"), policy).await?;
    let digest = ctx
        .push_artifact("app", "v1", &ctx.artifact_dir("app", "sharding")?)
        .await?;
    ctx.sign(&key, "bundle", "app", &digest).await?;

    // Leases a killed run of this test left behind (their holders never released them).
    let leases = Api::<Lease>::namespaced(ctx.client.clone(), LEASE_NS);
    for l in leases.list(&ListParams::default()).await?.items {
        let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
        if SHARDS.contains(&holder.as_str()) {
            let _ = leases
                .delete(
                    &l.metadata.name.unwrap_or_default(),
                    &DeleteParams::default(),
                )
                .await;
        }
    }
    let shard1 = start(
        ctx,
        "shard1",
        vec!["--watch-label-selector".into(), format!("{KEY}=shard1")],
    )
    .await?;
    let shard2 = start(
        ctx,
        "shard2",
        vec![
            "--watch-label-selector".into(),
            format!("{KEY}=shard2"),
            "--watch-namespaces".into(),
            a.into(),
        ],
    )
    .await?;
    let rest = start(
        ctx,
        "rest",
        vec![
            "--watch-label-selector".into(),
            format!("!{KEY}"),
            "--watch-namespaces".into(),
            a.into(),
        ],
    )
    .await?;
    for s in [&shard1, &shard2, &rest] {
        wait_leading(ctx, s).await?;
    }
    // Each shard holds a Lease of its own.
    let leases = Api::<Lease>::namespaced(ctx.client.clone(), LEASE_NS)
        .list(&ListParams::default())
        .await?;
    let held: Vec<(String, String)> = leases
        .items
        .iter()
        .filter_map(|l| {
            let holder = l.spec.as_ref()?.holder_identity.clone()?;
            SHARDS
                .contains(&holder.as_str())
                .then(|| (l.metadata.name.clone().unwrap_or_default(), holder))
        })
        .collect();
    let names: BTreeSet<&String> = held.iter().map(|(n, _)| n).collect();
    let holders: BTreeSet<&String> = held.iter().map(|(_, h)| h).collect();
    ensure!(
        names.len() == 3
            && holders.len() == 3
            && !names.contains(&"provenance-auditor".to_string()),
        "each shard must hold its own Lease (not the unsharded one): {held:?}"
    );

    let sources = [
        (a, "s1", labels(&[(KEY, "shard1")])),
        (a, "s2", labels(&[(KEY, "shard2")])),
        (a, "rest", labels(&[("app", "x")])),
        (b, "s1b", labels(&[(KEY, "shard1")])),
        (b, "uncovered", labels(&[])),
    ];
    for (ns, name, labels) in &sources {
        apply_source(ctx, ns, name, labels.clone()).await?;
    }
    for (ns, name, _) in &sources {
        wait_in(ctx, ns, &oci, name, FLUX, "Ready with the artifact", |o| {
            o.is_some_and(|o| {
                revision(o).is_some_and(|r| r.ends_with(&digest))
                    && has_cond(o, "Ready", "True", None)
            })
        })
        .await?;
    }
    for (ns, name) in [(a, "s1"), (a, "s2"), (a, "rest"), (b, "s1b")] {
        wait_in(
            ctx,
            ns,
            &audit_ar,
            &format!("ocirepository-{name}"),
            AUDIT,
            "Verified",
            verified,
        )
        .await?;
    }
    let namespaces = [a, b];
    wait_exports(
        &[&shard1, &shard2, &rest],
        &namespaces,
        &[&[(a, "s1"), (b, "s1b")], &[(a, "s2")], &[(a, "rest")]],
    )
    .await?;
    // The audits carry the label their shard selects them by; the rest's none.
    for (ns, name, want) in [
        (a, "s1", Some("shard1")),
        (b, "s1b", Some("shard1")),
        (a, "s2", Some("shard2")),
        (a, "rest", None),
    ] {
        let audit = get_in(ctx, ns, &audit_ar, &format!("ocirepository-{name}"))
            .await?
            .unwrap_or_default();
        ensure!(
            audit["metadata"]["labels"][KEY].as_str() == want,
            "SourceAudit {ns}/{name} labels {}",
            audit["metadata"]["labels"]
        );
    }
    // Written by one shard only: its events name one reporting instance, the right one.
    for (name, who) in [("s1", "shard1"), ("s2", "shard2"), ("rest", "rest")] {
        let audit = format!("ocirepository-{name}");
        let deadline = Instant::now() + AUDIT;
        loop {
            let r = reporters(ctx, a, &audit).await?;
            if r.len() == 1 && r.contains(&format!("e2e-{who}")) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "events of {audit} reported by {r:?}, expected only {who}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
    // No shard covers the rest of namespace b.
    ensure!(
        get_in(ctx, b, &audit_ar, "ocirepository-uncovered")
            .await?
            .is_none(),
        "a source outside every shard was audited"
    );
    // No shard writes the policy's status: each would count only its own sources.
    let policy =
        Api::<DynamicObject>::all_with(ctx.client.clone(), &provenance("ProvenancePolicy"))
            .get(&format!("{a}-keys"))
            .await?;
    ensure!(
        policy
            .data
            .get("status")
            .is_none_or(|s| s.get("matchedSources").is_none()),
        "a shard wrote the policy's status: {:?}",
        policy.data.get("status")
    );

    // The audits as first written: no shard's garbage collector may delete another's.
    let mut uids = vec![];
    for (ns, name) in [(a, "s1"), (a, "s2"), (b, "s1b")] {
        let audit = get_in(ctx, ns, &audit_ar, &format!("ocirepository-{name}")).await?;
        uids.push((ns, name, audit.map(|o| o["metadata"]["uid"].clone())));
    }

    // Moving a source from the rest to shard1: shard1 takes the same audit over; the rest's
    // garbage collector, which no longer sees the source, must not delete it.
    let before = get_in(ctx, a, &audit_ar, "ocirepository-rest")
        .await?
        .unwrap_or_default();
    let uid = before["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    apply_source(ctx, a, "rest", labels(&[(KEY, "shard1")])).await?;
    wait_in(
        ctx,
        a,
        &audit_ar,
        "ocirepository-rest",
        AUDIT,
        "labelled for shard1",
        |o| o.is_some_and(|o| o["metadata"]["labels"][KEY] == "shard1" && verified(Some(o))),
    )
    .await?;
    wait_exports(
        &[&shard1, &shard2, &rest],
        &namespaces,
        &[&[(a, "rest"), (a, "s1"), (b, "s1b")], &[(a, "s2")], &[]],
    )
    .await?;
    let after = get_in(ctx, a, &audit_ar, "ocirepository-rest")
        .await?
        .unwrap_or_default();
    ensure!(
        after["metadata"]["uid"].as_str() == Some(uid.as_str()),
        "the SourceAudit of the moved source was deleted and recreated"
    );
    // Every other audit is still the one first written (no shard swept another's), after the
    // sweeps of all three shards (every 2 s) ran throughout the move.
    for (ns, name, uid) in uids {
        let now = get_in(ctx, ns, &audit_ar, &format!("ocirepository-{name}")).await?;
        ensure!(
            now.as_ref().is_some_and(|o| verified(Some(o)))
                && now.as_ref().map(|o| o["metadata"]["uid"].clone()) == uid,
            "SourceAudit {ns}/{name} was deleted (and maybe recreated) or is no longer Verified"
        );
    }
    Ok(())
}
