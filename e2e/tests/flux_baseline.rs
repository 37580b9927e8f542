//! Flux baseline: what real source-controller v1.9.6 (the stack's; first observed on v1.9.1)
//! does with signed and unsigned sources.
//! These tests document reality (see docs/flux-behaviour.md); the auditor is measured against it.
//!
//! Needs the local stack: `make test-e2e` (or `make stack-up` then `cargo test -p provenance-e2e`).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::{
    condition, generation, has_cond, http_get, revision, run, sha256, status_summary, Ctx,
};
use serde_json::{json, Value};

/// How long source-controller gets to reach a state after a change.
const SETTLE: Duration = Duration::from_secs(90);

fn oci_spec(
    ctx: &Ctx,
    repo: &str,
    tag: &str,
    interval: &str,
    verify_secret: Option<&str>,
) -> Value {
    let mut spec = json!({
        "url": ctx.oci_url(repo),
        "ref": {"tag": tag},
        "interval": interval,
        "timeout": "30s",
        "insecure": true,
    });
    if let Some(secret) = verify_secret {
        spec["verify"] = json!({"provider": "cosign", "secretRef": {"name": secret}});
    }
    spec
}

fn ready_with(obj: &Value, rev: &str) -> bool {
    has_cond(obj, "Ready", "True", Some("Succeeded")) && revision(obj).as_deref() == Some(rev)
}

fn verified(obj: &Value) -> bool {
    has_cond(obj, "SourceVerified", "True", Some("Succeeded"))
}

/// SourceVerified=False/VerificationError and Ready=False with the same reason (the halt).
fn halted(obj: &Value) -> bool {
    has_cond(obj, "SourceVerified", "False", Some("VerificationError"))
        && has_cond(obj, "Ready", "False", Some("VerificationError"))
}

/// Downloads the artifact status.artifact.url points at and checks it is the stored one.
async fn assert_artifact_served(obj: &Value) -> Result<()> {
    let url = obj
        .pointer("/status/artifact/url")
        .and_then(Value::as_str)
        .context("no status.artifact.url")?;
    let want = obj
        .pointer("/status/artifact/digest")
        .and_then(Value::as_str)
        .context("no status.artifact.digest")?;
    let body = http_get(url).await?;
    ensure!(
        sha256(&body) == want,
        "artifact at {url} has digest {}, status says {want}",
        sha256(&body)
    );
    Ok(())
}

/// Scenario 1: an unsigned artifact without spec.verify is simply Ready.
#[tokio::test]
async fn unsigned_artifact_without_verify_is_ready() {
    run("unsigned-no-verify", |ctx| async move {
        let dir = ctx.artifact_dir("v1", "one")?;
        let digest = ctx.push_artifact("app", "v1", &dir).await?;
        ctx.apply(
            "OCIRepository",
            "app",
            oci_spec(&ctx, "app", "v1", "10m", None),
        )
        .await?;
        let want = format!("v1@{digest}");
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                &format!("Ready=True revision {want}"),
                |o| ready_with(o, &want),
            )
            .await?;
        let ready = condition(&obj, "Ready").unwrap();
        ensure!(
            ready.message == format!("stored artifact for digest '{want}'"),
            "Ready message: {}",
            ready.message
        );
        ensure!(
            condition(&obj, "SourceVerified").is_none(),
            "SourceVerified without spec.verify: {}",
            status_summary(&obj)
        );
        // The OCI manifest annotations become artifact metadata.
        let meta = obj
            .pointer("/status/artifact/metadata")
            .context("no artifact metadata")?;
        ensure!(
            meta["org.opencontainers.image.source"] == "https://example.invalid/provenance-e2e.git",
            "metadata: {meta}"
        );
        ensure!(
            meta["org.opencontainers.image.revision"]
                .as_str()
                .is_some_and(|r| r.starts_with("main@sha1:")),
            "metadata: {meta}"
        );
        ensure!(
            meta.get("org.opencontainers.image.created").is_some(),
            "metadata: {meta}"
        );
        // status.artifact.digest is the stored tarball's digest, not the OCI manifest digest.
        let stored = obj
            .pointer("/status/artifact/digest")
            .and_then(Value::as_str)
            .unwrap_or_default();
        ensure!(
            stored != digest,
            "artifact.digest unexpectedly equals the manifest digest"
        );
        assert_artifact_served(&obj).await
    })
    .await;
}

async fn signed_and_verified(ctx: &Ctx, format: &str) -> Result<()> {
    let (key, pubkey) = ctx.keygen("a").await?;
    let dir = ctx.artifact_dir("v1", format)?;
    let digest = ctx.push_artifact("app", "v1", &dir).await?;
    ctx.sign(&key, format, "app", &digest).await?;
    // Where cosign put the signature on a registry without the referrers API.
    let tags = ctx.tags("app").await?;
    let hex = digest.trim_start_matches("sha256:");
    let want_tag = if format == "legacy" {
        format!("sha256-{hex}.sig")
    } else {
        format!("sha256-{hex}")
    };
    ensure!(
        tags.contains(&want_tag),
        "expected signature tag {want_tag}, registry has {tags:?}"
    );
    ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
    ctx.apply(
        "OCIRepository",
        "app",
        oci_spec(ctx, "app", "v1", "10m", Some("cosign-pub")),
    )
    .await?;
    let want = format!("v1@{digest}");
    let obj = ctx
        .wait_for(
            "OCIRepository",
            "app",
            SETTLE,
            "Ready=True and SourceVerified=True",
            |o| ready_with(o, &want) && verified(o),
        )
        .await?;
    let sv = condition(&obj, "SourceVerified").unwrap();
    ensure!(
        sv.message == format!("verified signature of revision {want}"),
        "SourceVerified message: {}",
        sv.message
    );
    ensure!(
        sv.observed_generation == Some(generation(&obj)),
        "SourceVerified observedGeneration: {}",
        status_summary(&obj)
    );
    assert_artifact_served(&obj).await
}

/// Scenario 2: key-signed (cosign v3 bundle format) + spec.verify with the right key.
#[tokio::test]
async fn bundle_signature_with_right_key_is_verified() {
    run("bundle-right-key", |ctx| async move {
        signed_and_verified(&ctx, "bundle").await
    })
    .await;
}

/// Scenario 3: the same with the legacy `.sig` format.
#[tokio::test]
async fn legacy_signature_with_right_key_is_verified() {
    run("legacy-right-key", |ctx| async move {
        signed_and_verified(&ctx, "legacy").await
    })
    .await;
}

/// Scenario 4: turning spec.verify on for a Ready, unsigned source halts it, but the previously
/// stored artifact is still served and its revision stays in status.
#[tokio::test]
async fn verify_switched_on_for_unsigned_source_halts_but_keeps_serving() {
    run("verify-on-unsigned", |ctx| async move {
        let (_key, pubkey) = ctx.keygen("a").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let dir = ctx.artifact_dir("v1", "unsigned")?;
        let digest = ctx.push_artifact("app", "v1", &dir).await?;
        ctx.apply(
            "OCIRepository",
            "app",
            oci_spec(&ctx, "app", "v1", "10m", None),
        )
        .await?;
        let want = format!("v1@{digest}");
        let before = ctx
            .wait_for("OCIRepository", "app", SETTLE, "Ready=True", |o| {
                ready_with(o, &want)
            })
            .await?;

        let after = ctx
            .apply(
                "OCIRepository",
                "app",
                oci_spec(&ctx, "app", "v1", "10m", Some("cosign-pub")),
            )
            .await?;
        let gen = generation(&after);
        ensure!(
            gen > generation(&before),
            "spec change did not bump generation"
        );
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "SourceVerified=False/VerificationError, Ready=False",
                halted,
            )
            .await?;
        eprintln!("[e2e] verify-on-unsigned halted: {}", status_summary(&obj));
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(
            sv.message
                .starts_with("failed to verify the signature using provider 'cosign'"),
            "SourceVerified message: {}",
            sv.message
        );
        ensure!(
            revision(&obj).as_deref() == Some(want.as_str()),
            "stored revision changed: {}",
            status_summary(&obj)
        );
        ensure!(
            obj.pointer("/status/artifact") == before.pointer("/status/artifact"),
            "status.artifact changed: before {:?} after {:?}",
            before.pointer("/status/artifact"),
            obj.pointer("/status/artifact")
        );
        assert_artifact_served(&obj).await?;
        // A Warning event with reason VerificationError is emitted.
        let evs = ctx.events_for("app").await?;
        ensure!(
            evs.iter().any(|e| e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("VerificationError")),
            "no Warning/VerificationError event: {:?}",
            evs.iter()
                .map(|e| (e.type_.clone(), e.reason.clone()))
                .collect::<Vec<_>>()
        );
        Ok(())
    })
    .await;
}

/// Scenario 5: a wrong key halts the source; fixing the key Secret (object unchanged) is picked
/// up by the retry-with-backoff while SourceVerified is False. Once verified, swapping the Secret
/// to a wrong key is NOT noticed for the unchanged digest, even on a forced reconcile.
#[tokio::test]
async fn wrong_key_halts_then_secret_fix_is_picked_up_by_retries() {
    run("wrong-key", |ctx| async move {
        let (key_a, pub_a) = ctx.keygen("a").await?;
        let (_key_b, pub_b) = ctx.keygen("b").await?;
        let dir = ctx.artifact_dir("v1", "wrong-key")?;
        let digest = ctx.push_artifact("app", "v1", &dir).await?;
        ctx.sign(&key_a, "bundle", "app", &digest).await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pub_b)]).await?;
        ctx.apply(
            "OCIRepository",
            "app",
            oci_spec(&ctx, "app", "v1", "10m", Some("cosign-pub")),
        )
        .await?;
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "halt on the wrong key",
                halted,
            )
            .await?;
        eprintln!("[e2e] wrong-key halted: {}", status_summary(&obj));
        let gen = generation(&obj);
        ensure!(
            obj.pointer("/status/artifact").is_none(),
            "an artifact was stored despite the wrong key: {}",
            status_summary(&obj)
        );
        // Halted: observedGeneration is not advanced to the generation it could not verify.
        ensure!(
            obj.pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                != Some(gen),
            "observedGeneration advanced on failure: {}",
            status_summary(&obj)
        );

        // Fix the key Secret only; the OCIRepository is not touched.
        let fixed_at = Instant::now();
        ctx.secret("cosign-pub", &[("cosign.pub", &pub_a)]).await?;
        let want = format!("v1@{digest}");
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                Duration::from_secs(300),
                "re-verification after the Secret fix",
                |o| ready_with(o, &want) && verified(o),
            )
            .await?;
        let failures: i32 = ctx
            .events_for("app")
            .await?
            .iter()
            .filter(|e| e.reason.as_deref() == Some("VerificationError"))
            .map(|e| e.count.unwrap_or(1))
            .sum();
        eprintln!(
            "[e2e] wrong-key: verified {:?} after the Secret fix, without a generation change \
             ({failures} VerificationError events before)",
            fixed_at.elapsed()
        );
        ensure!(
            generation(&obj) == gen,
            "generation changed: {gen} -> {}",
            generation(&obj)
        );

        // Now the opposite: swap in a wrong key and force a reconcile (annotation: no generation change).
        ctx.secret("cosign-pub", &[("cosign.pub", &pub_b)]).await?;
        let token = format!("e2e-{}", fixed_at.elapsed().as_nanos());
        ctx.merge_patch(
            "OCIRepository",
            "app",
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}),
        )
        .await?;
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "the requested reconcile to be handled",
                |o| {
                    o.pointer("/status/lastHandledReconcileAt")
                        .and_then(Value::as_str)
                        == Some(token.as_str())
                },
            )
            .await?;
        ensure!(
            ready_with(&obj, &want) && verified(&obj),
            "a key Secret change re-verified the unchanged digest: {}",
            status_summary(&obj)
        );
        ensure!(generation(&obj) == gen, "generation changed");
        Ok(())
    })
    .await;
}

/// Scenario 6: a new signed revision pushed to the tag moves Flux to the new digest; a new
/// unsigned one halts it while the last verified artifact stays served.
#[tokio::test]
async fn new_signed_revision_on_the_tag_is_followed() {
    run("new-revision", |ctx| async move {
        let (key, pubkey) = ctx.keygen("a").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let d1 = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("r1", "first")?)
            .await?;
        ctx.sign(&key, "bundle", "app", &d1).await?;
        ctx.apply(
            "OCIRepository",
            "app",
            oci_spec(&ctx, "app", "v1", "5s", Some("cosign-pub")),
        )
        .await?;
        let rev1 = format!("v1@{d1}");
        ctx.wait_for(
            "OCIRepository",
            "app",
            SETTLE,
            "first revision verified",
            |o| ready_with(o, &rev1) && verified(o),
        )
        .await?;

        // The tag moves to a new signed revision (a push then a sign, as a CI pipeline does).
        let d2 = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("r2", "second")?)
            .await?;
        ensure!(d2 != d1, "second push produced the same digest");
        ctx.sign(&key, "bundle", "app", &d2).await?;
        let rev2 = format!("v1@{d2}");
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "second revision verified",
                |o| ready_with(o, &rev2) && verified(o),
            )
            .await?;
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(
            sv.message.contains(&d2),
            "SourceVerified message does not name the new digest: {}",
            sv.message
        );
        assert_artifact_served(&obj).await?;

        // The tag moves to an unsigned revision: halt, last verified artifact kept.
        let d3 = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("r3", "third-unsigned")?)
            .await?;
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "halt on the unsigned revision",
                halted,
            )
            .await?;
        eprintln!(
            "[e2e] new-revision halted on unsigned push: {}",
            status_summary(&obj)
        );
        ensure!(
            revision(&obj).as_deref() == Some(rev2.as_str()),
            "revision after unsigned push: {}",
            status_summary(&obj)
        );
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(
            sv.message.contains(&d3),
            "SourceVerified message does not name the unsigned digest: {}",
            sv.message
        );
        assert_artifact_served(&obj).await
    })
    .await;
}

fn write_chart(ctx: &Ctx, name: &str, version: &str) -> Result<std::path::PathBuf> {
    let dir = ctx.path(&format!("chart-{name}-{version}"));
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: e2e chart\ntype: application\n"),
    )?;
    std::fs::write(dir.join("values.yaml"), "greeting: hello\n")?;
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n",
    )?;
    Ok(dir)
}

/// Scenario 7: a HelmChart from an OCI HelmRepository with spec.verify is verified, and its
/// revision is the chart version (no digest in the status); a wrong key fails it. Since
/// source-controller v1.9.4 the tag is resolved to a digest once, and that digest is what is
/// verified and downloaded: the failure names it.
#[tokio::test]
async fn oci_helm_chart_is_verified_by_its_resolved_digest_and_revision_is_the_version() {
    run("helmchart-oci", |ctx| async move {
        let (key, pubkey) = ctx.keygen("a").await?;
        let (_key_b, pub_b) = ctx.keygen("b").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        ctx.secret("wrong-pub", &[("cosign.pub", &pub_b)]).await?;
        let chart = write_chart(&ctx, "e2e-chart", "0.1.0")?;
        let repo = format!("{}/{}/charts", ctx.stack.registry(), ctx.ns);
        let digest = ctx.script("push-helm-chart.sh", &[&repo, chart.to_str().unwrap()]).await?;
        ensure!(digest.starts_with("sha256:"), "push-helm-chart.sh printed {digest:?}");
        ctx.sign(&key, "bundle", "charts/e2e-chart", &digest).await?;

        ctx.apply(
            "HelmRepository",
            "charts",
            json!({"type": "oci", "url": format!("oci://{repo}"), "interval": "10m", "insecure": true}),
        )
        .await?;
        let chart_spec = |secret: &str| {
            json!({
                "chart": "e2e-chart", "version": "0.1.0", "interval": "10m",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                "verify": {"provider": "cosign", "secretRef": {"name": secret}},
            })
        };
        ctx.apply("HelmChart", "chart", chart_spec("cosign-pub")).await?;
        let obj = ctx
            .wait_for("HelmChart", "chart", SETTLE, "Ready=True, SourceVerified=True and an artifact", |o| {
                // Conditions and the artifact can land in separate status writes.
                has_cond(o, "Ready", "True", None) && verified(o) && revision(o).is_some()
            })
            .await?;
        let rev = revision(&obj).unwrap_or_default();
        ensure!(rev == "0.1.0", "HelmChart revision is {rev:?}, expected the chart version");
        ensure!(!serde_json::to_string(&obj["status"])?.contains(&digest), "the OCI digest appears in HelmChart status");
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(sv.message == "verified signature of version 0.1.0", "SourceVerified message: {}", sv.message);
        assert_artifact_served(&obj).await?;

        ctx.apply("HelmChart", "chart-wrong-key", chart_spec("wrong-pub")).await?;
        let obj = ctx
            .wait_for("HelmChart", "chart-wrong-key", SETTLE, "SourceVerified=False, Ready=False", |o| {
                has_cond(o, "SourceVerified", "False", Some("VerificationError"))
                    && has_cond(o, "Ready", "False", Some("VerificationError"))
                    && has_cond(o, "BuildFailed", "True", Some("ChartVerificationError"))
            })
            .await?;
        let sv = condition(&obj, "SourceVerified").unwrap();
        // Verified by the digest the tag resolved to (pinned for the download too), not the tag.
        ensure!(
            sv.message.contains(&format!("/charts/e2e-chart@{digest}")) && !sv.message.contains("e2e-chart:0.1.0"),
            "SourceVerified message: {}",
            sv.message
        );
        ensure!(obj.pointer("/status/artifact").is_none(), "artifact stored despite wrong key: {}", status_summary(&obj));
        eprintln!("[e2e] helmchart wrong key: {}", status_summary(&obj));
        Ok(())
    })
    .await;
}
