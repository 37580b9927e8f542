//! `Enforced` and policy matching on the real stack, as lint judges them:
//!
//! - a source whose `spec.verify` is strictly narrower than the broader identity its policy
//!   requires is `Enforced=True`, and a real Prometheus evaluating the committed rules does not
//!   raise `ProvenanceVerifyNotEnforced` for it — while it does for a source in the same
//!   namespace whose unanchored subject accepts more than the policy (`VerifyWeaker`, naming an
//!   identity Flux accepts and the policy refuses);
//! - a policy scoped by the chart registry's URL (`urlRegex: ^oci://<registry>/<ns>/charts/`)
//!   covers a HelmChart from that registry, and one scoped to another path does not.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use provenance_e2e::attest::{escape, exactly, GITHUB_ISSUER};
use provenance_e2e::prometheus::{result, rules_with_short_for, Prometheus};
use provenance_e2e::{condition, has_cond, repo_root, revision, run, Ctx, AUDIT, FLUX};
use serde_json::{json, Value};
use sigstore_forge::predicates::Build;

/// What the policy accepts: any workflow of any repository of `example`, from main.
const BROAD: &str = r"^https://github\.com/example/[A-Za-z0-9_-]+/\.github/workflows/[A-Za-z0-9_-]+\.ya?ml@refs/heads/main$";
/// Every `for:` of the test copy of the rules.
const HOLD: &str = "5s";

/// The workflow run that signs: `example/infra`'s release workflow on main.
fn build() -> Build {
    Build::github("https://github.com/example/infra", "refs/heads/main")
}

/// Pushes `repo:v1` signed keyless by [`build`]'s workflow (a cosign v3 bundle); its digest.
async fn signed_artifact(ctx: &Ctx, sigstore: &std::path::Path, repo: &str) -> Result<String> {
    let digest = ctx
        .push_artifact(repo, "v1", &ctx.artifact_dir(repo, repo)?)
        .await?;
    ctx.sign_keyless(sigstore, repo, &digest, &build()).await?;
    Ok(digest)
}

/// An OCIRepository of `repo:v1` verified keyless with `subject` against the private root.
fn keyless_source(ctx: &Ctx, repo: &str, subject: &str) -> Value {
    let mut spec = ctx.oci_spec(repo, None);
    spec["verify"] = json!({
        "provider": "cosign",
        "matchOIDCIdentity": [{"issuer": exactly(GITHUB_ISSUER), "subject": subject}],
        "trustedRootSecretRef": {"name": "trusted-root"},
    });
    spec
}

/// Whether Prometheus has an alert `name` about source `source` of the namespace, in any state.
async fn alert_for(prom: &Prometheus, ns: &str, name: &str, source: &str) -> Result<Option<Value>> {
    Ok(prom.alerts().await?.into_iter().find(|a| {
        let l = &a["labels"];
        l["alertname"] == name && l["namespace"] == ns && l["name"] == source
    }))
}

#[tokio::test]
async fn a_narrower_verify_under_a_broader_policy_is_enforced_and_raises_no_alert() {
    run("enforced-narrower", |ctx| async move {
        let metrics_url = ctx.auditor().await?;
        let sigstore = ctx.private_sigstore().await?;
        let signer = build().workflow_identity();
        let policy = format!("{}-broad", ctx.ns);
        ctx.policy(
            &policy,
            json!({
                "match": {"namespaces": [ctx.ns]},
                "requireSourceVerify": true,
                "verify": {
                    "provider": "cosign",
                    "matchOIDCIdentity": [{"issuer": exactly(GITHUB_ISSUER), "subject": BROAD}],
                    "trustedRootSecretRef": {"namespace": ctx.ns, "name": "trusted-root"},
                },
            }),
        )
        .await?;
        let narrow = signed_artifact(&ctx, &sigstore, "narrow").await?;
        let loose = signed_artifact(&ctx, &sigstore, "loose").await?;
        // Exactly the signing workflow: inside BROAD, though its text differs.
        ctx.apply(
            "OCIRepository",
            "narrow",
            keyless_source(&ctx, "narrow", &exactly(&signer)),
        )
        .await?;
        // The same identity without anchors: Flux matches it anywhere in the subject.
        let unanchored = escape(&signer);
        ctx.apply(
            "OCIRepository",
            "loose",
            keyless_source(&ctx, "loose", &unanchored),
        )
        .await?;
        for (name, digest) in [("narrow", &narrow), ("loose", &loose)] {
            ctx.wait_for(
                "OCIRepository",
                name,
                FLUX,
                "verified by Flux, with the artifact",
                |o| {
                    has_cond(o, "SourceVerified", "True", None)
                        && revision(o).is_some_and(|r| r.ends_with(digest.as_str()))
                },
            )
            .await?;
        }
        let a = ctx
            .wait_audit(
                "ocirepository-narrow",
                AUDIT,
                "Verified and Enforced",
                |a| {
                    a.is_some_and(|a| {
                        has_cond(a, "Verified", "True", Some("Verified"))
                            && has_cond(a, "Enforced", "True", Some("Enforced"))
                    })
                },
            )
            .await?
            .unwrap_or_default();
        ensure!(
            a["status"]["policies"] == json!([policy]),
            "{}",
            a["status"]
        );
        let b = ctx
            .wait_audit(
                "ocirepository-loose",
                AUDIT,
                "Enforced=False/VerifyWeaker",
                |a| a.is_some_and(|a| has_cond(a, "Enforced", "False", Some("VerifyWeaker"))),
            )
            .await?
            .unwrap_or_default();
        let why = condition(&b, "Enforced")
            .map(|c| c.message)
            .unwrap_or_default();
        // The witness is a real identity: the source's regex accepts it, the policy's does not.
        let witness = why
            .split("with subject \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .ok_or_else(|| anyhow!("no witness identity in {why:?}"))?;
        // The source's regex is the signer as literal text, found anywhere; BROAD is anchored at
        // both ends on this prefix and suffix.
        let accepted = witness.contains(&signer);
        let refused = !witness.starts_with("https://github.com/example/")
            || !witness.ends_with("@refs/heads/main");
        ensure!(
            accepted && refused,
            "{witness:?} is not accepted by the source and refused by the policy: {why}"
        );

        let committed = std::fs::read_to_string(repo_root().join("config/prometheus/rules.yaml"))?;
        let (rules, _) = rules_with_short_for(&committed, HOLD)?;
        let rules_file = ctx.path("rules.test.yaml");
        std::fs::write(&rules_file, rules)?;
        let prom = Prometheus::start(&ctx.path("prometheus"), &metrics_url, &rules_file).await?;
        let checked = async {
            // The weaker source's alert fires: the rules were evaluated over both sources'
            // series for longer than the hold.
            prom.wait_for(
                "ProvenanceVerifyNotEnforced firing for the loose source",
                Duration::from_secs(60),
                || async {
                    Ok(
                        alert_for(&prom, &ctx.ns, "ProvenanceVerifyNotEnforced", "loose")
                            .await?
                            .filter(|a| a["state"] == "firing"),
                    )
                },
            )
            .await?;
            let enforced = prom
                .query(&format!(
                    "provenance_source_enforced{{namespace=\"{}\",name=\"narrow\"}}",
                    ctx.ns
                ))
                .await?;
            let values: Vec<String> = result(&enforced)
                .iter()
                .map(|r| r["value"][1].as_str().unwrap_or_default().to_string())
                .collect();
            ensure!(
                values == ["1"],
                "provenance_source_enforced of narrow: {values:?}"
            );
            let narrow_alert =
                alert_for(&prom, &ctx.ns, "ProvenanceVerifyNotEnforced", "narrow").await?;
            ensure!(
                narrow_alert.is_none(),
                "alert for the narrower source: {narrow_alert:?}"
            );
            Ok(())
        }
        .await;
        prom.stop().await?;
        checked
    })
    .await;
}

#[tokio::test]
async fn a_policy_scoped_by_the_chart_registry_url_covers_the_chart() {
    run("chart-url-regex", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let registry = ctx.stack.registry();
        let charts = format!("{}-charts", ctx.ns);
        let other = format!("{}-other", ctx.ns);
        let scoped = |path: &str| {
            json!({
                "match": {
                    "kinds": ["HelmChart"],
                    "urlRegex": format!("^oci://{}/{path}/", escape(&format!("{registry}/{}", ctx.ns))),
                },
                "requireSourceVerify": true,
                "verify": {"provider": "cosign", "secretRef": {"namespace": ctx.ns, "name": "cosign-pub"}},
            })
        };
        ctx.policy(&charts, scoped("charts")).await?;
        ctx.policy(&other, scoped("other")).await?;
        let digest = ctx.flux_chart(&key, "cosign-pub").await?;
        let a = ctx
            .wait_audit("helmchart-chart", AUDIT, "Verified under the charts policy", |a| {
                a.is_some_and(|a| {
                    has_cond(a, "Verified", "True", Some("Verified"))
                        && a["status"]["policies"] == json!([charts])
                })
            })
            .await?
            .unwrap_or_default();
        ensure!(
            has_cond(&a, "Enforced", "True", Some("Enforced")),
            "{:?}",
            condition(&a, "Enforced")
        );
        ensure!(a["status"]["digest"] == digest, "digest: {}", a["status"]);
        Ok(())
    })
    .await;
}
