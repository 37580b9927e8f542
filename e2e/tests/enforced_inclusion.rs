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
use provenance_e2e::prometheus::{result, rules_with_short_for, Prometheus};
use provenance_e2e::{condition, has_cond, repo_root, revision, run, Ctx, AUDIT, FLUX};
use serde_json::{json, Value};
use sigstore_forge::{push, LeafSpec, PrivateSigstore, SignOptions};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SIGNER: &str =
    "https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main";
/// What the policy accepts: any workflow of any repository of `example`, from main.
const BROAD: &str = r"^https://github\.com/example/[A-Za-z0-9_-]+/\.github/workflows/[A-Za-z0-9_-]+\.ya?ml@refs/heads/main$";
/// Every `for:` of the test copy of the rules.
const HOLD: &str = "5s";

/// `s` with every regex metacharacter escaped.
fn escape(s: &str) -> String {
    let mut re = String::new();
    for c in s.chars() {
        if ".+*?()[]{}|^$\\".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re
}

/// An anchored, escaped regex for exactly `s` (what a careful user writes).
fn exactly(s: &str) -> String {
    format!("^{}$", escape(s))
}

/// A private Sigstore whose `trusted_root.json` is in Secret `trusted-root`.
async fn private_sigstore(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = ctx.path("sigstore");
    let d = dir.clone();
    tokio::task::spawn_blocking(move || PrivateSigstore::generate("e2e")?.save(&d))
        .await?
        .map_err(|e| anyhow!("creating the private Sigstore: {e}"))?;
    let root = std::fs::read_to_string(dir.join("trusted_root.json"))?;
    ctx.secret("trusted-root", &[("trusted_root.json", &root)])
        .await?;
    Ok(dir)
}

/// Pushes `repo:v1` signed keyless by [`SIGNER`] (a cosign v3 bundle); returns its digest.
async fn signed_artifact(ctx: &Ctx, sigstore: &std::path::Path, repo: &str) -> Result<String> {
    let digest = ctx
        .push_artifact(repo, "v1", &ctx.artifact_dir(repo, repo)?)
        .await?;
    let (dir, d) = (sigstore.to_path_buf(), digest.clone());
    let image = format!("{}/{}/{repo}", ctx.stack.registry(), ctx.ns);
    tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
        let forge = PrivateSigstore::load(&dir)?;
        let leaf = forge.issue_leaf(&LeafSpec::uri(SIGNER, ISSUER))?;
        let bundle = forge.sign_bundle(&leaf, &d, &SignOptions::default())?;
        push::attach_bundle(&image, &d, &bundle)
    })
    .await?
    .map_err(|e| anyhow!("signing keyless: {e}"))?;
    Ok(digest)
}

/// An OCIRepository of `repo:v1` verified keyless with `subject` against the private root.
fn keyless_source(ctx: &Ctx, repo: &str, subject: &str) -> Value {
    let mut spec = ctx.oci_spec(repo, None);
    spec["verify"] = json!({
        "provider": "cosign",
        "matchOIDCIdentity": [{"issuer": exactly(ISSUER), "subject": subject}],
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
        let sigstore = private_sigstore(&ctx).await?;
        let policy = format!("{}-broad", ctx.ns);
        ctx.policy(
            &policy,
            json!({
                "match": {"namespaces": [ctx.ns]},
                "requireSourceVerify": true,
                "verify": {
                    "provider": "cosign",
                    "matchOIDCIdentity": [{"issuer": exactly(ISSUER), "subject": BROAD}],
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
            keyless_source(&ctx, "narrow", &exactly(SIGNER)),
        )
        .await?;
        // The same identity without anchors: Flux matches it anywhere in the subject.
        let unanchored = escape(SIGNER);
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
        // The source's regex is SIGNER as literal text, found anywhere; BROAD is anchored at
        // both ends on this prefix and suffix.
        let accepted = witness.contains(SIGNER);
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
        let chart = ctx.path("chart");
        std::fs::create_dir_all(chart.join("templates"))?;
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: e2e-chart\nversion: 0.1.0\ndescription: e2e chart\ntype: application\n",
        )?;
        std::fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )?;
        let registry = ctx.stack.registry();
        let repo = format!("{registry}/{}/charts", ctx.ns);
        let digest = ctx
            .script("push-helm-chart.sh", &[&repo, chart.to_str().unwrap_or_default()])
            .await?;
        ctx.sign(&key, "bundle", "charts/e2e-chart", &digest).await?;
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
        let charts = format!("{}-charts", ctx.ns);
        let other = format!("{}-other", ctx.ns);
        ctx.policy(&charts, scoped("charts")).await?;
        ctx.policy(&other, scoped("other")).await?;
        ctx.apply(
            "HelmRepository",
            "charts",
            json!({"type": "oci", "url": format!("oci://{repo}"), "interval": "10m", "insecure": true}),
        )
        .await?;
        ctx.apply(
            "HelmChart",
            "chart",
            json!({
                "chart": "e2e-chart", "version": "0.1.0", "interval": "10m",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                "verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}},
            }),
        )
        .await?;
        ctx.wait_for("HelmChart", "chart", FLUX, "an artifact", |o| revision(o).is_some())
            .await?;
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
