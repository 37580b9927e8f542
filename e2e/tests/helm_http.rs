//! Charts from HTTP Helm repositories, judged by their Helm provenance (`.prov`) on the real
//! stack: charts made and signed by the real `helm` with keys from Debian's `gpg`, served by a
//! plain static file server, fetched by Flux's source-controller, audited by the controller,
//! and `helm pull --verify` giving the same answer on every case.
//!
//! Signed → `Verified` with the key's fingerprint; no `.prov` → `Unsigned`; another key →
//! `KeyMismatch`; the package replaced after signing → `DigestMismatch`; the repository down
//! → `Unknown`. `Enforced` is False for all of them (Flux cannot verify HTTP charts). Then a
//! `.prov` published later for the unsigned chart is found by the re-check.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::helm_repo::{helm_verdict, Gpg, Helm, StaticServer};
use provenance_e2e::{condition, has_cond, run, sha256, AUDIT, FLUX};
use serde_json::{json, Value};

const SIGNER: &str = "Chart Signer <signer@e2e.example>";
const OTHER: &str = "Someone Else <else@e2e.example>";
const VERSION: &str = "0.1.0";

/// A chart named `name` (from `helm create`) packaged into `repo`, signed by `key` if any.
async fn package(
    helm: &Helm,
    src: &Path,
    repo: &Path,
    name: &str,
    key: Option<(&str, &Path)>,
) -> Result<()> {
    helm.run(src, &["create", name]).await?;
    let repo = repo.to_str().context("utf-8 path")?;
    match key {
        Some((uid, secring)) => {
            let secring = secring.to_str().context("utf-8 path")?;
            helm.run(
                src,
                &[
                    "package",
                    "--sign",
                    "--key",
                    uid,
                    "--keyring",
                    secring,
                    name,
                    "-d",
                    repo,
                ],
            )
            .await?
        }
        None => helm.run(src, &["package", name, "-d", repo]).await?,
    };
    Ok(())
}

fn verified(a: &Value) -> Option<(String, String)> {
    condition(a, "Verified").map(|c| (c.status, c.reason))
}

#[tokio::test]
async fn http_charts_get_helm_provenance_verdicts_that_helm_verify_agrees_with() {
    run("helm-http", |ctx| async move {
        let helm = Helm::new(&ctx.path("helm-home")).await?;
        let gpg = Gpg::new(&ctx.path("gnupg")).await?;
        let signer_fpr = gpg.gen_key(SIGNER).await?;
        gpg.gen_key(OTHER).await?;
        let secring = ctx.path("secring.gpg");
        gpg.secret_keyring(&secring).await?;
        let pubring = ctx.path("pubring.gpg");
        std::fs::write(&pubring, gpg.public_key(SIGNER, false).await?)?;

        let (src, repo, down_dir) = (ctx.path("src"), ctx.path("repo"), ctx.path("repo-down"));
        for d in [&src, &repo, &down_dir] {
            std::fs::create_dir_all(d)?;
        }
        package(&helm, &src, &repo, "signed", Some((SIGNER, &secring))).await?;
        package(&helm, &src, &repo, "unsigned", None).await?;
        package(&helm, &src, &repo, "otherkey", Some((OTHER, &secring))).await?;
        package(&helm, &src, &repo, "replaced", Some((SIGNER, &secring))).await?;
        // Replaced after signing: same name and version, other content, the old .prov kept.
        std::fs::write(src.join("replaced/values.yaml"), "replicaCount: 7\n")?;
        let elsewhere = ctx.path("replaced-tmp");
        package_again(&helm, &src, &elsewhere, "replaced").await?;
        std::fs::copy(
            elsewhere.join("replaced-0.1.0.tgz"),
            repo.join("replaced-0.1.0.tgz"),
        )?;
        package(&helm, &src, &down_dir, "downed", Some((SIGNER, &secring))).await?;
        for d in [&repo, &down_dir] {
            helm.run(d, &["repo", "index", "."]).await?;
        }
        let server = StaticServer::start(&repo).await?;
        let mut down = StaticServer::start(&down_dir).await?;

        // Flux fetches every chart while both repositories answer.
        ctx.apply("HelmRepository", "charts", json!({"url": server.url, "interval": "1m"}))
            .await?;
        ctx.apply("HelmRepository", "down", json!({"url": down.url, "interval": "1m"}))
            .await?;
        let charts = [
            ("signed", "charts"),
            ("unsigned", "charts"),
            ("otherkey", "charts"),
            ("replaced", "charts"),
            ("downed", "down"),
        ];
        for (chart, repo) in charts {
            ctx.apply(
                "HelmChart",
                chart,
                json!({"chart": chart, "version": VERSION, "interval": "1m",
                       "sourceRef": {"kind": "HelmRepository", "name": repo}}),
            )
            .await?;
        }
        let mut flux_digests = std::collections::BTreeMap::new();
        for (chart, _) in charts {
            let obj = ctx
                .wait_for("HelmChart", chart, FLUX, "Ready=True with an artifact", |o| {
                    has_cond(o, "Ready", "True", None) && o["status"]["artifact"]["digest"].is_string()
                })
                .await?;
            flux_digests.insert(chart, obj["status"]["artifact"]["digest"].clone());
        }
        // What source-controller records for an HTTP chart: the version, and the SHA-256 of
        // the package exactly as the repository serves it.
        let served = std::fs::read(repo.join("signed-0.1.0.tgz"))?;
        ensure!(
            flux_digests["signed"] == json!(sha256(&served)),
            "Flux's artifact digest is not the package's: {flux_digests:?}"
        );
        down.stop().await?;

        // The signed chart's OCI twin: the same package pushed by helm to the stack's registry
        // and signed with cosign; the HelmRepository names the mirror.
        let pushed = helm
            .run(
                &repo,
                &[
                    "push",
                    "signed-0.1.0.tgz",
                    &format!("oci://{}/{}/charts", ctx.stack.registry(), ctx.ns),
                    "--plain-http",
                ],
            )
            .await?;
        let twin_digest = pushed
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_string);
        let (cosign_key, _) = ctx.keygen("twin").await?;
        // helm prints the digest on stderr in some versions: resolve it from the registry then.
        let twin_digest = match twin_digest {
            Some(d) => d,
            None => registry_digest(&ctx, "charts/signed", VERSION).await?,
        };
        ctx.sign(&cosign_key, "bundle", "charts/signed", &twin_digest).await?;
        ctx.merge_patch(
            "HelmRepository",
            "charts",
            json!({"metadata": {"annotations": {"provenance.dev/oci-mirror":
                format!("oci://{}/{}/charts", ctx.stack.registry(), ctx.ns)}}}),
        )
        .await?;

        ctx.secret(
            "chart-signers",
            &[("signer.asc", &String::from_utf8(gpg.public_key(SIGNER, true).await?)?)],
        )
        .await?;
        let policy = format!("{}-charts", ctx.ns);
        ctx.policy(
            &policy,
            json!({"match": {"kinds": ["HelmChart"], "namespaces": [ctx.ns]},
                   "verify": {"openpgp": {"secretRef": {"namespace": ctx.ns, "name": "chart-signers"}}}}),
        )
        .await?;
        ctx.auditor().await?;

        let expected = [
            ("signed", ("True", "Verified")),
            ("unsigned", ("False", "Unsigned")),
            ("otherkey", ("False", "KeyMismatch")),
            ("replaced", ("False", "DigestMismatch")),
            ("downed", ("Unknown", "RegistryUnavailable")),
        ];
        for (chart, (status, reason)) in expected {
            let a = ctx
                .wait_audit(&format!("helmchart-{chart}"), AUDIT, reason, |a| {
                    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
                })
                .await?
                .unwrap_or_default();
            ensure!(
                has_cond(&a, "Enforced", "False", None),
                "{chart}: Enforced is not False: {}",
                a["status"]
            );
            if chart == "signed" {
                let signer = a["status"]["signer"].as_str().unwrap_or_default();
                ensure!(
                    signer.contains(&signer_fpr) && signer.contains(SIGNER),
                    "signer {signer:?} does not name {signer_fpr} and {SIGNER}"
                );
                let twin = a["status"]["fluxCompatibility"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|n| n["code"] == "OciTwin")
                    .and_then(|n| n["message"].as_str())
                    .unwrap_or_default()
                    .to_string();
                ensure!(
                    twin.contains("same package") && twin.contains("1 cosign signature"),
                    "no OciTwin note naming the signed OCI twin: {}",
                    a["status"]
                );
            }
            // Helm itself, pulling the same chart from the same repository with the same key.
            let repo_url = if chart == "downed" { &down.url } else { &server.url };
            let helm_says = helm
                .pull_verify(&ctx.path(&format!("pull-{chart}")), repo_url, chart, VERSION, &pubring)
                .await?;
            let ours = if status == "Unknown" { "Unknown" } else { reason };
            ensure!(
                helm_verdict(&helm_says) == ours,
                "{chart}: the audit says {:?}, helm verify says {helm_says:?}",
                verified(&a)
            );
        }

        // The publisher adds the .prov later: the re-check of the negative verdict finds it.
        let tgz = std::fs::read(repo.join("unsigned-0.1.0.tgz"))?;
        let body = format!(
            "apiVersion: v2\nname: unsigned\nversion: {VERSION}\n\n...\nfiles:\n  unsigned-{VERSION}.tgz: {}\n",
            sha256(&tgz)
        );
        gpg.clearsign(SIGNER, &body, &repo.join("unsigned-0.1.0.tgz.prov"))
            .await?;
        ctx.wait_audit("helmchart-unsigned", Duration::from_secs(90), "Verified after the .prov", |a| {
            a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified")))
        })
        .await?;
        Ok(())
    })
    .await;
}

/// The manifest digest of `<registry>/<ns>/<repo>:<tag>`, from the registry.
async fn registry_digest(ctx: &provenance_e2e::Ctx, repo: &str, tag: &str) -> Result<String> {
    let url = format!(
        "http://{}/v2/{}/{repo}/manifests/{tag}",
        ctx.stack.registry(),
        ctx.ns
    );
    let resp = reqwest::Client::new()
        .head(&url)
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await?;
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .context("the registry sent no Docker-Content-Digest")
}

/// Packages `name` again, unsigned, into `dir` (the replacement of a signed package).
async fn package_again(helm: &Helm, src: &Path, dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    helm.run(
        src,
        &["package", name, "-d", dir.to_str().context("utf-8 path")?],
    )
    .await?;
    Ok(())
}
