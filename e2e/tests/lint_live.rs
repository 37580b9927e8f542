//! `lint --live` against the real stack: a real registry, an artifact signed keyless as a
//! cosign v3 bundle by a private Sigstore (`sigstore-forge`), and the real source-controller.
//!
//! - the right identity: no finding, exit 0;
//! - a wrong identity: `live-would-halt`, exit 1;
//! - three identities against the bundle: `live-would-halt` — and source-controller, given the
//!   same manifest, does halt ("multiple identities");
//! - a registry that does not answer: `live-unverifiable`, a warning (exit 0), never "unsigned".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use provenance_e2e::{condition, has_cond, prepare, run, Ctx};
use serde_json::{json, Value};
use sigstore_forge::{push, LeafSpec, PrivateSigstore, SignOptions};

const FLUX: Duration = Duration::from_secs(90);
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SIGNER: &str =
    "https://github.com/example/infra/.github/workflows/publish.yml@refs/tags/v1.0.0";
const OTHER: &str =
    "https://github.com/example/other/.github/workflows/publish.yml@refs/tags/v1.0.0";
const HOTFIX: &str =
    "https://github.com/example/infra/.github/workflows/hotfix.yml@refs/tags/v1.0.0";

/// An anchored, escaped regex for exactly `s`.
fn exactly(s: &str) -> String {
    let mut re = String::from("^");
    for c in s.chars() {
        if ".+*?()[]{}|^$\\".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re.push('$');
    re
}

fn identity(subject: &str) -> Value {
    json!({"issuer": exactly(ISSUER), "subject": exactly(subject)})
}

/// The manifests lint reads: the trust-root Secret (Flux's `trustedRootSecretRef`) and an
/// OCIRepository verifying `url:v1` with `identities`.
fn manifests(ns: &str, url: &str, root: &str, identities: &[Value]) -> String {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "trusted-root", "namespace": ns},
        "stringData": {"trusted_root.json": root},
    });
    let source = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "infra", "namespace": ns},
        "spec": {
            "url": url, "ref": {"tag": "v1"}, "interval": "10m", "timeout": "30s",
            "insecure": true,
            "verify": {
                "provider": "cosign",
                "matchOIDCIdentity": identities,
                "trustedRootSecretRef": {"name": "trusted-root"},
            },
        },
    });
    // JSON is YAML: one document each.
    format!("{secret}\n---\n{source}\n")
}

struct Lint {
    code: i32,
    findings: Vec<Value>,
}

impl Lint {
    fn rules(&self) -> Vec<&str> {
        self.findings
            .iter()
            .filter_map(|f| f["rule"].as_str())
            .collect()
    }
}

fn lint_live(bin: &Path, file: &Path) -> Result<Lint> {
    let out = Command::new(bin)
        .args(["lint", "--live", "--timeout", "5s", "-o", "json"])
        .arg(file)
        .output()
        .context("running provenance-auditor lint")?;
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow!(
            "lint output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(Lint {
        code: out.status.code().unwrap_or(-1),
        findings,
    })
}

fn write(ctx: &Ctx, name: &str, text: &str) -> Result<PathBuf> {
    let path = ctx.path(&format!("{name}.yaml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

#[tokio::test]
async fn live_lint_predicts_what_source_controller_does() {
    run("lint-live", |ctx| async move {
        let bin = prepare(&ctx.stack)?;
        // A private Sigstore; its trusted root also goes into the cluster for source-controller.
        let dir = ctx.path("sigstore");
        let d = dir.clone();
        tokio::task::spawn_blocking(move || PrivateSigstore::generate("e2e")?.save(&d))
            .await?
            .map_err(|e| anyhow!("creating the private Sigstore: {e}"))?;
        let root = std::fs::read_to_string(dir.join("trusted_root.json"))?;
        ctx.secret("trusted-root", &[("trusted_root.json", &root)])
            .await?;
        let artifact = ctx.artifact_dir("infra", "infra")?;
        let digest = ctx.push_artifact("infra", "v1", &artifact).await?;
        let (d, dg) = (dir.clone(), digest.clone());
        let repo = format!("{}/{}/infra", ctx.stack.registry(), ctx.ns);
        tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
            let forge = PrivateSigstore::load(&d)?;
            let leaf = forge.issue_leaf(&LeafSpec::uri(SIGNER, ISSUER))?;
            let bundle = forge.sign_bundle(&leaf, &dg, &SignOptions::default())?;
            push::attach_bundle(&repo, &dg, &bundle)
        })
        .await?
        .map_err(|e| anyhow!("signing keyless: {e}"))?;
        let url = ctx.oci_url("infra");

        // The right identity: clean.
        let right = write(
            &ctx,
            "right",
            &manifests(&ctx.ns, &url, &root, &[identity(SIGNER)]),
        )?;
        let l = lint_live(&bin, &right)?;
        ensure!(
            l.code == 0 && l.findings.is_empty(),
            "right identity: exit {} {:#?}",
            l.code,
            l.findings
        );

        // A wrong identity: Flux would refuse it.
        let wrong = write(
            &ctx,
            "wrong",
            &manifests(&ctx.ns, &url, &root, &[identity(OTHER)]),
        )?;
        let l = lint_live(&bin, &wrong)?;
        ensure!(
            l.code == 1 && l.rules() == ["live-would-halt"],
            "wrong identity: exit {} {:#?}",
            l.code,
            l.findings
        );

        // Three identities, one of them the signer's: any cosign would accept the signature,
        // but Flux refuses every bundle with more than one identity.
        let ids = [identity(SIGNER), identity(OTHER), identity(HOTFIX)];
        let three_text = manifests(&ctx.ns, &url, &root, &ids);
        let three = write(&ctx, "three", &three_text)?;
        let l = lint_live(&bin, &three)?;
        let halt = l
            .findings
            .iter()
            .find(|f| f["rule"] == "live-would-halt")
            .cloned()
            .unwrap_or_default();
        ensure!(
            l.code == 1
                && halt["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("multiple identities")),
            "three identities: exit {} {:#?}",
            l.code,
            l.findings
        );
        ensure!(
            l.rules().contains(&"multiple-identities"),
            "the static rule is missing: {:#?}",
            l.findings
        );
        // The prediction holds: source-controller, given the same OCIRepository, halts.
        let source: Value = three_text
            .split("\n---\n")
            .nth(1)
            .map(serde_json::from_str)
            .transpose()?
            .ok_or_else(|| anyhow!("no source document"))?;
        ctx.apply("OCIRepository", "infra", source["spec"].clone())
            .await?;
        let o = ctx
            .wait_for("OCIRepository", "infra", FLUX, "Ready=False", |o| {
                has_cond(o, "Ready", "False", None)
            })
            .await?;
        let ready = condition(&o, "Ready")
            .map(|c| (c.reason, c.message))
            .unwrap_or_default();
        eprintln!("[e2e] source-controller halted the source: {ready:?}");
        ensure!(
            ready.1.contains("multiple identities"),
            "source-controller halted for another reason than lint predicted: {ready:?}"
        );

        // A registry that does not answer: a warning, not a verdict.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let dead_url = format!("oci://{closed}/{}/infra", ctx.ns);
        let dead = write(
            &ctx,
            "dead",
            &manifests(&ctx.ns, &dead_url, &root, &[identity(SIGNER)]),
        )?;
        let l = lint_live(&bin, &dead)?;
        ensure!(
            l.code == 0
                && l.rules() == ["live-unverifiable"]
                && l.findings[0]["severity"] == "warning",
            "registry down: exit {} {:#?}",
            l.code,
            l.findings
        );
        Ok(())
    })
    .await;
}
