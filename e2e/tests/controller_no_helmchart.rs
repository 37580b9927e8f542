//! The HelmChart CRD is optional: on a cluster without it (Flux installed without the Helm
//! controllers' CRDs, or an older Flux) the controller logs it once, becomes ready, and audits
//! OCIRepositories only. Needs a cluster without that CRD, so the test starts a private stack
//! (its own `STACK_DIR`), removes the CRD there, and stops the stack again whatever happens.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use provenance_e2e::{flux, free_port, provenance, repo_root, spawn_private, wait_ready, Stack};
use serde_json::json;

const HELMCHART_CRD: &str = "helmcharts.source.toolkit.fluxcd.io";

/// A private stack, stopped when dropped.
struct PrivateStack(PathBuf);

impl PrivateStack {
    fn start() -> Result<PrivateStack> {
        let dir = std::env::temp_dir().join(format!("provenance-e2e-stack-{}", std::process::id()));
        let stack = PrivateStack(dir);
        let status = Command::new(repo_root().join("hack/stack/stack-up.sh"))
            .env("STACK_DIR", &stack.0)
            .status()
            .context("running stack-up.sh")?;
        ensure!(status.success(), "private stack-up failed: {status}");
        Ok(stack)
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("hack/stack/stack-down.sh"))
            .env("STACK_DIR", &self.0)
            .status();
    }
}

async fn poll<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    while !check().await? {
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

#[tokio::test]
async fn without_the_helmchart_crd_oci_repositories_are_still_audited() -> Result<()> {
    let private = tokio::task::spawn_blocking(PrivateStack::start).await??;
    let stack = Stack::load_from(private.0.clone())?;
    let admin = stack.admin().await?;

    // Remove the HelmChart CRD (source-controller may stop over it: it is not under test here).
    let crds: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &kube::core::ApiResource {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
        },
    );
    crds.delete(HELMCHART_CRD, &DeleteParams::default()).await?;
    let charts: Api<DynamicObject> = Api::all_with(admin.clone(), &flux("HelmChart"));
    poll(
        "the HelmChart API to disappear",
        Duration::from_secs(60),
        || {
            let charts = charts.clone();
            async move {
                Ok(matches!(
                    charts.list_metadata(&ListParams::default().limit(1)).await,
                    Err(kube::Error::Api(s)) if s.code == 404
                ))
            }
        },
    )
    .await?;

    let port = free_port()?;
    let st = stack.clone();
    let _controller = tokio::task::spawn_blocking(move || {
        spawn_private(&st, port, &[], &[], "provenance-auditor-no-helmchart.log")
    })
    .await??;
    let log = stack.dir.join("logs/provenance-auditor-no-helmchart.log");
    wait_ready(
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(60),
        &log,
    )
    .await?;

    // An OCIRepository gets its SourceAudit (ArtifactNotReady or better: source-controller
    // may be down without the CRD; what matters is that the watch runs).
    let ns = "no-helmchart";
    let nsobj = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
        .create(&PostParams::default(), &nsobj)
        .await?;
    let repo = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {"url": format!("oci://{}/app", stack.registry()), "ref": {"tag": "v1"},
                 "interval": "10m", "insecure": true},
    });
    Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &flux("OCIRepository"))
        .patch(
            "app",
            &PatchParams::apply("provenance-e2e"),
            &Patch::Apply(&repo),
        )
        .await?;
    let audits: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ns, &provenance("SourceAudit"));
    poll(
        "SourceAudit ocirepository-app",
        Duration::from_secs(30),
        || {
            let audits = audits.clone();
            async move { Ok(audits.get_opt("ocirepository-app").await?.is_some()) }
        },
    )
    .await?;

    let text = std::fs::read_to_string(&log)?;
    let warnings = text
        .lines()
        .filter(|l| l.contains("HelmChart CRD is not served"))
        .count();
    ensure!(
        warnings == 1,
        "expected the missing CRD to be logged exactly once, found {warnings}:\n{text}"
    );
    ensure!(
        !text.contains("panicked"),
        "the controller panicked:\n{text}"
    );
    Ok(())
}
