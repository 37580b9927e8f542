//! Installing the auditor the way its users do: the Helm chart rendered by real helm, manifests
//! applied server-side by real kubectl, and a kubeconfig holding a ServiceAccount's token (so a
//! controller run out of cluster has exactly the rights the install grants).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::stack::{repo_root, Stack};

/// The chart, relative to the repository root.
pub const CHART: &str = "charts/provenance-auditor";

/// Runs a command to completion; its stdout, or an error with its stderr.
pub async fn output(cmd: &mut tokio::process::Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The path of a tool `make tools` installed (`hack/tools.sh`, once per machine, before the tests
/// run). A test checks that the tool is there and fails saying how to install it; it never
/// installs one itself, so two tests never race to install the same tool.
pub async fn tool(name: &str) -> Result<PathBuf> {
    let script = repo_root().join("hack/tools.sh");
    output(
        tokio::process::Command::new(&script).args(["check", name]),
        &format!("hack/tools.sh check {name}"),
    )
    .await?;
    let path = output(
        tokio::process::Command::new(&script).args(["path", name]),
        &format!("hack/tools.sh path {name}"),
    )
    .await?;
    Ok(PathBuf::from(path.trim()))
}

/// `kubectl --kubeconfig <admin> ARGS` ([`crate::kubectl`]: the one built at the API server's
/// version, else `PATH`'s), run from the repository root; its stdout.
pub async fn kubectl_admin(stack: &Stack, args: &[&str]) -> Result<String> {
    output(
        tokio::process::Command::new(crate::stack::kubectl())
            .arg("--kubeconfig")
            .arg(stack.dir.join("admin.kubeconfig"))
            .args(args)
            .current_dir(repo_root()),
        &format!("kubectl {}", args.join(" ")),
    )
    .await
}

/// Server-side applies `args` (e.g. `-f FILE` or `-k DIR`) as admin; returns the objects the API
/// server stored, each checked to have a uid.
pub async fn apply_server_side(stack: &Stack, args: &[&str]) -> Result<Vec<Value>> {
    let mut all = vec![
        "apply",
        "--server-side",
        "--field-manager=provenance-e2e-install",
        "-o",
        "json",
    ];
    all.extend_from_slice(args);
    let text = kubectl_admin(stack, &all).await?;
    let v: Value = serde_json::from_str(&text).context("kubectl apply -o json")?;
    let items = match v["kind"].as_str() {
        Some("List") => v["items"].as_array().cloned().unwrap_or_default(),
        _ => vec![v],
    };
    for o in &items {
        ensure!(
            o.pointer("/metadata/uid").and_then(Value::as_str).is_some(),
            "{} {} came back without a uid",
            o["kind"],
            o["metadata"]["name"]
        );
    }
    Ok(items)
}

/// `Kind/name` of every object, sorted (to compare what was rendered with what was stored).
pub fn kinds_and_names(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    v.sort();
    v
}

/// `Kind/name` of every document of rendered YAML (helm template or kustomize output), sorted:
/// the top-level `kind:` and the first `  name:` after the top-level `metadata:`.
pub fn rendered_kinds_and_names(yaml: &str) -> Vec<String> {
    let mut out = vec![];
    for doc in yaml.split("\n---") {
        let mut kind = None;
        let mut name = None;
        let mut in_metadata = false;
        for line in doc.lines() {
            if let Some(k) = line.strip_prefix("kind: ") {
                kind = Some(k.trim().to_string());
            }
            if line == "metadata:" {
                in_metadata = true;
            } else if !line.starts_with(' ') && !line.starts_with('#') {
                in_metadata = false;
            }
            if in_metadata && name.is_none() {
                if let Some(n) = line.strip_prefix("  name: ") {
                    name = Some(n.trim().trim_matches('"').to_string());
                }
            }
        }
        if let (Some(k), Some(n)) = (kind, name) {
            out.push(format!("{k}/{n}"));
        }
    }
    out.sort();
    out
}

/// A fresh TokenRequest token (one hour, the API server's audience) of ServiceAccount
/// `ns/name`, made with the admin client: what a pod's projected token volume holds.
pub async fn service_account_token(admin: &Client, ns: &str, name: &str) -> Result<String> {
    let req: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))?;
    let tr = Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create_token_request(name, &PostParams::default(), &req)
        .await
        .with_context(|| format!("TokenRequest for ServiceAccount {ns}/{name}"))?;
    let token = tr.status.and_then(|s| s.token).unwrap_or_default();
    ensure!(
        !token.is_empty(),
        "TokenRequest for {ns}/{name} returned no token"
    );
    Ok(token)
}

/// Writes a kubeconfig (mode 0600) for a fresh TokenRequest token of ServiceAccount `ns/name`,
/// made with the admin client. The token is never printed.
pub async fn token_kubeconfig(
    stack: &Stack,
    admin: &Client,
    ns: &str,
    name: &str,
    path: &Path,
) -> Result<()> {
    let token = service_account_token(admin, ns, name).await?;
    let kc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "stack", "cluster": {
            "server": stack.var("KUBE_APISERVER"),
            "certificate-authority": stack.var("KUBE_CA_FILE"),
        }}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "stack", "user": name, "namespace": ns}}],
        "current-context": name,
    });
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(serde_json::to_string_pretty(&kc)?.as_bytes())?;
    Ok(())
}

/// A client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(cfg)?)
}

/// One question for a SelfSubjectAccessReview: verb, API group, resource[/subresource], namespace
/// (`None` = all namespaces or cluster-scoped).
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
}

impl std::fmt::Display for Access<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        match self.namespace {
            Some(ns) => write!(f, "{} {}{group} in {ns}", self.verb, self.resource),
            None => write!(f, "{} {}{group} (cluster)", self.verb, self.resource),
        }
    }
}

/// Whether the client's own identity may do `a` (a SelfSubjectAccessReview).
pub async fn can_i(client: &Client, a: Access<'_>) -> Result<bool> {
    let (resource, sub) = match a.resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (a.resource, None),
    };
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "spec": {"resourceAttributes": {
            "verb": a.verb, "group": a.group, "resource": resource,
            "subresource": sub, "namespace": a.namespace,
        }}
    }))?;
    let out = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .with_context(|| format!("SelfSubjectAccessReview {a}"))?;
    Ok(out.status.is_some_and(|s| s.allowed))
}

/// The values file that turns every optional feature of the chart on.
pub const ALL_FEATURES: &str = "charts/provenance-auditor/ci/all-features-values.yaml";
/// The prometheus-operator CRDs the chart's optional ServiceMonitor and PrometheusRule need.
const MONITORING_CRDS: [&str; 2] = [
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
];

/// A chart release applied to the stack: `pa-<namespace suffix>` in the test namespace.
pub struct Release {
    /// The objects' full name (also the ServiceAccount's and the ClusterRole's).
    pub fullname: String,
    /// What the API server stored.
    pub objects: Vec<Value>,
}

impl Release {
    /// The release name and full name [`install_chart`] uses in `ctx`'s namespace (known before
    /// installing, so a failed install can still be cleaned up).
    pub fn names(ctx: &Ctx) -> (String, String) {
        let name = format!("pa-{}", &ctx.ns[ctx.ns.len() - 8..]);
        let fullname = format!("{name}-provenance-auditor");
        (name, fullname)
    }

    /// The first stored object of `kind`.
    pub fn object(&self, kind: &str) -> Result<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind)
            .with_context(|| format!("no {kind} among {:?}", kinds_and_names(&self.objects)))
    }
}

/// The CRDs a full chart install needs before its templates: the prometheus-operator's (from
/// its Go module, `hack/tools.sh prometheus-operator-crds`) and the chart's own `crds/`, which
/// `helm install` would apply first. Idempotent; Established before it returns.
pub async fn install_crds(stack: &Stack) -> Result<()> {
    let dir = tool("prometheus-operator-crds").await?;
    for f in MONITORING_CRDS {
        let p = dir.join(f);
        apply_server_side(stack, &["--force-conflicts", "-f", p.to_str().unwrap()]).await?;
    }
    let chart_crds = repo_root().join(CHART).join("crds");
    apply_server_side(
        stack,
        &["--force-conflicts", "-f", chart_crds.to_str().unwrap()],
    )
    .await?;
    for crd in [
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "sourceaudits.provenance.dev",
        "provenancepolicies.provenance.dev",
    ] {
        kubectl_admin(
            stack,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{crd}"),
            ],
        )
        .await?;
    }
    Ok(())
}

/// `helm template` of the chart with every optional feature on ([`ALL_FEATURES`]), in the test
/// namespace, applied server-side as admin; every rendered object must have been stored.
pub async fn install_chart(ctx: &Ctx) -> Result<Release> {
    let helm = tool("helm").await?;
    install_crds(&ctx.stack).await?;
    // helm built by `go install` assumes Kubernetes v1.20 unless told.
    let version = ctx.client.apiserver_version().await?.git_version;
    let (release, fullname) = Release::names(ctx);
    let rendered = output(
        tokio::process::Command::new(helm)
            .args(["template", &release, CHART, "--namespace", &ctx.ns])
            .args(["--kube-version", &version, "-f", ALL_FEATURES])
            .current_dir(repo_root()),
        "helm template",
    )
    .await?;
    let manifest = ctx.path("chart.yaml");
    std::fs::write(&manifest, &rendered)?;
    let objects = apply_server_side(&ctx.stack, &["-f", manifest.to_str().unwrap()]).await?;
    ensure!(
        kinds_and_names(&objects) == rendered_kinds_and_names(&rendered),
        "the API server stored {:?}, helm rendered {:?}",
        kinds_and_names(&objects),
        rendered_kinds_and_names(&rendered)
    );
    Ok(Release { fullname, objects })
}

/// Deletes a release's cluster-scoped objects (its namespace takes the rest with it).
pub async fn uninstall_cluster_scoped(ctx: &Ctx, fullname: &str) {
    let _ = Api::<ClusterRoleBinding>::all(ctx.client.clone())
        .delete(fullname, &DeleteParams::default())
        .await;
    let _ = Api::<ClusterRole>::all(ctx.client.clone())
        .delete(fullname, &DeleteParams::default())
        .await;
}
