//! The per-test context: namespace, scratch directory, clients, waits and diagnostics.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::object::*;
use crate::stack::*;
use anyhow::{bail, Context as _, Result};
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

/// Interval between two polls of a condition inside [`Ctx::wait_for`].
pub const POLL: Duration = Duration::from_millis(250);
const FIELD_MANAGER: &str = "provenance-e2e";

/// Per-test context: its namespace, scratch directory and clients.
pub struct Ctx {
    pub stack: Stack,
    pub client: Client,
    pub ns: String,
    /// Scratch directory (keys, artifacts); removed with the namespace unless E2E_KEEP=1.
    pub work: PathBuf,
    started: Instant,
    /// Cluster-scoped `ProvenancePolicy` objects this test created, deleted by the cleanup.
    pub(crate) policies: std::sync::Mutex<Vec<String>>,
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    hex::encode(b)
}

/// Runs one e2e test body in a fresh namespace; on failure dumps diagnostics and panics.
pub async fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce(std::sync::Arc<Ctx>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    if let Err(e) = try_run(name, body).await {
        panic!("{e}");
    }
}

/// Like [`run`], returning the failure instead of panicking, so one test can run several
/// bodies concurrently (each in its own namespace, each cleaned up) and report them all.
pub async fn try_run<F, Fut>(name: &str, body: F) -> std::result::Result<(), String>
where
    F: FnOnce(std::sync::Arc<Ctx>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let ctx = match Ctx::new(name).await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => return Err(format!("{name}: e2e setup failed: {e:#}")),
    };
    eprintln!("[e2e] {name}: namespace {}", ctx.ns);
    let result = body(ctx.clone()).await;
    if let Err(e) = &result {
        eprintln!(
            "[e2e] {name} FAILED after {:?}: {e:#}",
            ctx.started.elapsed()
        );
        eprintln!("{}", ctx.diagnostics().await);
    }
    let keep = std::env::var("E2E_KEEP").is_ok_and(|v| v == "1");
    if keep {
        eprintln!(
            "[e2e] E2E_KEEP=1: keeping namespace {} and {}",
            ctx.ns,
            ctx.work.display()
        );
    } else if let Err(e) = ctx.cleanup().await {
        eprintln!("[e2e] cleanup of {} failed: {e:#}", ctx.ns);
    }
    result.map_err(|e| format!("{name}: {e:#}"))
}

impl Ctx {
    async fn new(name: &str) -> Result<Ctx> {
        let stack = Stack::load()?;
        let client = stack.admin().await?;
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let slug: String = slug
            .chars()
            .take(40)
            .collect::<String>()
            .trim_matches('-')
            .to_string();
        let ns = format!("e2e-{slug}-{}", random_suffix());
        let nsobj: Namespace = serde_json::from_value(json!({
            "metadata": {"name": ns, "labels": {"provenance.dev/e2e": "true"}}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &nsobj)
            .await
            .context("creating namespace")?;
        let work = std::env::temp_dir().join(&ns);
        std::fs::create_dir_all(&work)?;
        Ok(Ctx {
            stack,
            client,
            ns,
            work,
            started: Instant::now(),
            policies: Default::default(),
        })
    }

    async fn cleanup(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.work);
        // Policies are cluster-scoped: they outlive the namespace unless deleted here.
        let policies =
            std::mem::take(&mut *self.policies.lock().unwrap_or_else(|e| e.into_inner()));
        for name in policies {
            self.delete_policy(&name).await;
        }
        Api::<Namespace>::all(self.client.clone())
            .delete(&self.ns, &DeleteParams::background())
            .await?;
        Ok(())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    pub fn api(&self, kind: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.ns, &flux(kind))
    }

    /// Server-side applies a Flux object (`kind`, `metadata.name` and `spec` from `obj`) in the
    /// test namespace; returns it as JSON.
    pub async fn apply(&self, kind: &str, name: &str, spec: Value) -> Result<Value> {
        let ar = flux(kind);
        let obj = json!({
            "apiVersion": ar.api_version, "kind": kind,
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        });
        let out = self
            .api(kind)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&obj),
            )
            .await
            .with_context(|| format!("applying {kind} {}/{name}", self.ns))?;
        Ok(serde_json::to_value(out)?)
    }

    /// Merge-patches an object's metadata/spec (e.g. to add an annotation).
    pub async fn merge_patch(&self, kind: &str, name: &str, patch: Value) -> Result<Value> {
        let out = self
            .api(kind)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(serde_json::to_value(out)?)
    }

    pub async fn get(&self, kind: &str, name: &str) -> Result<Value> {
        Ok(serde_json::to_value(
            self.api(kind)
                .get(name)
                .await
                .with_context(|| format!("getting {kind} {name}"))?,
        )?)
    }

    /// Polls `kind/name` every [`POLL`] until `pred` holds or `timeout` passes; returns the object.
    pub async fn wait_for(
        &self,
        kind: &str,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            match self.get(kind, name).await {
                Ok(obj) => {
                    if pred(&obj) {
                        return Ok(obj);
                    }
                    last = Some(obj);
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {kind} {}/{name}: {what}; last seen: {}",
                    self.ns,
                    last.as_ref().map(status_summary).unwrap_or_else(|| "never read".into())
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Creates or replaces an Opaque Secret with the given string data.
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) -> Result<()> {
        self.secret_typed(name, "Opaque", data).await
    }

    /// Creates or replaces a Secret of type `ty` with the given string data.
    pub async fn secret_typed(&self, name: &str, ty: &str, data: &[(&str, &str)]) -> Result<()> {
        let string_data: BTreeMap<&str, &str> = data.iter().copied().collect();
        let s = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": self.ns},
            "type": ty,
            "stringData": string_data,
        });
        // Apply keeps the Secret's identity (same object, new data) when it exists already.
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&s),
            )
            .await
            .with_context(|| format!("applying Secret {name}"))?;
        Ok(())
    }

    /// Events in the namespace that concern `name`, oldest first.
    pub async fn events_for(&self, name: &str) -> Result<Vec<Event>> {
        let mut evs: Vec<Event> = Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .collect();
        evs.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        Ok(evs)
    }

    /// Runs one of the hack/stack helpers; returns its trimmed stdout.
    pub async fn script(&self, script: &str, args: &[&str]) -> Result<String> {
        let path = repo_root().join("hack/stack").join(script);
        let out = tokio::process::Command::new(&path)
            .args(args)
            .env("STACK_DIR", &self.stack.dir)
            .output()
            .await
            .with_context(|| format!("running {}", path.display()))?;
        if !out.status.success() {
            bail!(
                "{script} {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    /// Writes a small directory of manifests to push; `content` makes each revision distinct.
    pub fn artifact_dir(&self, name: &str, content: &str) -> Result<PathBuf> {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("configmap.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  content: {content:?}\n"),
        )?;
        Ok(dir)
    }

    /// Pushes `dir` as a Flux artifact to `<registry>/<ns>/<repo>:<tag>`; returns the manifest digest.
    pub async fn push_artifact(&self, repo: &str, tag: &str, dir: &Path) -> Result<String> {
        self.push_artifact_to(&self.stack.registry(), repo, tag, dir)
            .await
    }

    /// Like [`Ctx::push_artifact`] to another registry (`host:port`), e.g. `AUTH_REGISTRY`.
    pub async fn push_artifact_to(
        &self,
        registry: &str,
        repo: &str,
        tag: &str,
        dir: &Path,
    ) -> Result<String> {
        let r = format!("{registry}/{}/{repo}:{tag}", self.ns);
        let digest = self
            .script("push-artifact.sh", &[&r, dir.to_str().unwrap()])
            .await?;
        if !digest.starts_with("sha256:") || digest.len() != 71 {
            bail!("push-artifact.sh printed {digest:?}, not a digest");
        }
        Ok(digest)
    }

    /// `oci://<registry>/<ns>/<repo>`, the OCIRepository URL of a pushed repo.
    pub fn oci_url(&self, repo: &str) -> String {
        format!("oci://{}/{}/{repo}", self.stack.registry(), self.ns)
    }

    /// A fresh cosign key pair in the scratch directory: (private key, public key PEM).
    pub async fn keygen(&self, name: &str) -> Result<(PathBuf, String)> {
        let dir = self.path(&format!("keys-{name}"));
        self.script("cosign-keygen.sh", &[dir.to_str().unwrap()])
            .await?;
        let pubkey = std::fs::read_to_string(dir.join("cosign.pub"))?;
        Ok((dir.join("cosign.key"), pubkey))
    }

    /// Signs `<registry>/<ns>/<repo>@<digest>` with real cosign (format "bundle" or "legacy").
    pub async fn sign(&self, key: &Path, format: &str, repo: &str, digest: &str) -> Result<()> {
        self.sign_to(&self.stack.registry(), key, format, repo, digest)
            .await
    }

    /// Like [`Ctx::sign`] on another registry (`host:port`), e.g. an [`crate::OwnRegistry`].
    pub async fn sign_to(
        &self,
        registry: &str,
        key: &Path,
        format: &str,
        repo: &str,
        digest: &str,
    ) -> Result<()> {
        let r = format!("{registry}/{}/{repo}@{digest}", self.ns);
        self.script(
            "cosign-sign.sh",
            &["--key", key.to_str().unwrap(), "--format", format, &r],
        )
        .await?;
        Ok(())
    }

    /// Tags of `<registry>/<ns>/<repo>` (to see where cosign stored signatures).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let url = format!(
            "http://{}/v2/{}/{repo}/tags/list",
            self.stack.registry(),
            self.ns
        );
        let v: Value = serde_json::from_slice(&http_get(&url).await?)?;
        Ok(v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect())
    }

    /// Diagnostics for a failed test: Flux objects and events of the namespace, log tails.
    pub async fn diagnostics(&self) -> String {
        let mut out = format!("===== diagnostics for namespace {} =====\n", self.ns);
        for kind in ["OCIRepository", "HelmRepository", "HelmChart"] {
            match self.api(kind).list(&ListParams::default()).await {
                Ok(list) => {
                    for o in list.items {
                        let mut v = serde_json::to_value(&o).unwrap_or_default();
                        if let Some(m) = v.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                            m.remove("managedFields");
                        }
                        out += &format!(
                            "--- {kind} {}\n{}\n",
                            o.metadata.name.unwrap_or_default(),
                            serde_json::to_string_pretty(&v).unwrap_or_default()
                        );
                    }
                }
                Err(e) => out += &format!("--- listing {kind}: {e}\n"),
            }
        }
        match Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => {
                out += "--- events\n";
                for e in list.items {
                    out += &format!(
                        "{} {} {}/{} {}: {}\n",
                        e.last_timestamp
                            .map(|t| t.0.to_string())
                            .unwrap_or_default(),
                        e.type_.unwrap_or_default(),
                        e.involved_object.kind.unwrap_or_default(),
                        e.involved_object.name.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                        e.message.unwrap_or_default()
                    );
                }
            }
            Err(e) => out += &format!("--- events: {e}\n"),
        }
        let logs = self.stack.dir.join("logs");
        // source-controller lines about this namespace, then every component's tail.
        if let Ok(text) = std::fs::read_to_string(logs.join("source-controller.log")) {
            let mine: Vec<&str> = text.lines().filter(|l| l.contains(&self.ns)).collect();
            out += &format!(
                "--- source-controller log lines mentioning {} (last 60)\n",
                self.ns
            );
            for l in &mine[mine.len().saturating_sub(60)..] {
                out += l;
                out.push('\n');
            }
        }
        for (c, n) in [
            ("source-controller", 20),
            ("kube-apiserver", 15),
            ("kube-controller-manager", 10),
            ("registry", 15),
            ("registry-auth", 5),
            ("etcd", 5),
        ] {
            out += &format!(
                "--- {c} log (last {n} lines)\n{}\n",
                tail(&logs.join(format!("{c}.log")), n)
            );
        }
        out
    }
}

fn tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}
