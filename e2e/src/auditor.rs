//! The auditor under test: the project CRDs installed (admin), one controller process per test
//! binary running as the stack's non-admin ServiceAccount (least privilege), and helpers to read
//! `SourceAudit`s, `ProvenancePolicy`s and the controller's metrics.
//!
//! One controller per test binary because tests run in parallel and two controllers would both
//! write every audit. It is started behind a `sh` that kills it when the test binary's pipe to
//! it closes, so it never outlives the tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{json, Value};

use crate::ctx::{Ctx, POLL};
use crate::object::status_summary;
use crate::stack::{repo_root, Stack};

/// `provenance.dev/v1alpha1` kinds (`SourceAudit`, `ProvenancePolicy`).
pub fn provenance(kind: &str) -> ApiResource {
    let plural = match kind {
        "SourceAudit" => "sourceaudits",
        "ProvenancePolicy" => "provenancepolicies",
        other => panic!("unknown provenance.dev kind {other}"),
    };
    ApiResource {
        group: "provenance.dev".into(),
        version: "v1alpha1".into(),
        api_version: "provenance.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The running controller shared by the tests of one binary.
pub struct Auditor {
    /// Where `/metrics` is served.
    pub metrics_url: String,
    /// The controller's log file.
    pub log: PathBuf,
    /// The flags it was started with after [`run_args`].
    pub extra: Vec<String>,
    _child: Child,
}

static AUDITOR: OnceLock<Mutex<Option<Auditor>>> = OnceLock::new();

/// The resync interval the shared controller runs with (scenarios waiting on a resync use it).
pub const RESYNC: Duration = Duration::from_secs(10);

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        repo_root().join(target)
    };
    target.join("debug/provenance-auditor")
}

/// Installs (or updates) the project CRDs with the admin kubeconfig and waits until the API
/// server serves them, so a test may create a `ProvenancePolicy` right away.
pub fn install_crds(stack: &Stack) -> Result<()> {
    let admin = stack.dir.join("admin.kubeconfig");
    let crds = repo_root().join("config/crd/bases");
    for args in [
        &["apply", "--server-side", "--force-conflicts", "-f"][..],
        &["wait", "--for=condition=Established", "--timeout=60s", "-f"][..],
    ] {
        let out = Command::new(crate::stack::kubectl())
            .arg("--kubeconfig")
            .arg(&admin)
            .args(args)
            .arg(&crds)
            .output()
            .context("running kubectl for the CRDs")?;
        if !out.status.success() {
            bail!(
                "kubectl {} CRDs: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// Installs the project CRDs (admin) and builds the controller binary; returns its path.
pub fn prepare(stack: &Stack) -> Result<PathBuf> {
    install_crds(stack)?;
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "provenance-auditor"])
        .current_dir(repo_root())
        .status()
        .context("building provenance-auditor")?;
    if !status.success() {
        bail!("cargo build --bin provenance-auditor failed");
    }
    Ok(binary())
}

/// Whether `provenance-auditor run` of this build accepts `flag` (e.g. `--reverify-interval`),
/// so a test can say which change it waits for instead of failing on an unknown flag.
pub fn run_supports(stack: &Stack, flag: &str) -> Result<bool> {
    let out = Command::new(prepare(stack)?)
        .args(["run", "--help"])
        .output()
        .context("running provenance-auditor run --help")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|w| w == flag))
}

/// A free loopback port (for a controller's metrics address).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The `run` arguments every e2e controller uses: the non-admin kubeconfig, the e2e resync.
pub fn run_args(stack: &Stack, port: u16) -> Vec<String> {
    run_args_with_resync(stack, port, RESYNC)
}

/// [`run_args`] with another resync interval (a scenario timing the re-check backoff needs a
/// resync long enough not to hide it).
pub fn run_args_with_resync(stack: &Stack, port: u16, resync: Duration) -> Vec<String> {
    vec![
        "run".into(),
        "--kubeconfig".into(),
        stack.dir.join("auditor.kubeconfig").display().to_string(),
        "--resync-interval".into(),
        format!("{}s", resync.as_secs()),
        "--metrics-addr".into(),
        format!("127.0.0.1:{port}"),
    ]
}

/// A controller owned by one test (killed when dropped), for restart and leader scenarios.
/// Only for test binaries that do not also use the shared controller.
pub fn spawn_private(
    stack: &Stack,
    port: u16,
    extra: &[&str],
    env: &[(&str, &str)],
    log: &str,
) -> Result<tokio::process::Child> {
    spawn_private_resync(stack, port, RESYNC, extra, env, log)
}

/// [`spawn_private`] with its own resync interval.
pub fn spawn_private_resync(
    stack: &Stack,
    port: u16,
    resync: Duration,
    extra: &[&str],
    env: &[(&str, &str)],
    log: &str,
) -> Result<tokio::process::Child> {
    let bin = prepare(stack)?;
    let logf = std::fs::File::create(stack.dir.join("logs").join(log))?;
    tokio::process::Command::new(bin)
        .args(run_args_with_resync(stack, port, resync))
        .args(extra)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info,provenance_auditor=debug")
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .kill_on_drop(true)
        .spawn()
        .context("starting provenance-auditor")
}

/// Stops a private controller with SIGTERM (its graceful shutdown) and waits up to 20 s for it.
pub async fn sigterm(child: &mut tokio::process::Child) -> Result<std::process::ExitStatus> {
    let pid = child.id().context("controller already gone")?;
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?
        .success();
    ensure!(ok, "kill -TERM {pid} failed");
    Ok(tokio::time::timeout(Duration::from_secs(20), child.wait()).await??)
}

/// Installs the CRDs and starts the shared controller once; returns its metrics URL and log.
pub fn ensure_auditor(stack: &Stack) -> Result<(String, PathBuf)> {
    ensure_auditor_with(stack, &[])
}

/// Like [`ensure_auditor`], the controller started with `extra` flags after [`run_args`]. One
/// test binary passes the same `extra` from every test: the first call decides, a later call
/// with other flags is an error.
pub fn ensure_auditor_with(stack: &Stack, extra: &[String]) -> Result<(String, PathBuf)> {
    let cell = AUDITOR.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = guard.as_ref() {
        ensure!(
            a.extra == extra,
            "the shared controller runs with {:?}, not {extra:?}",
            a.extra
        );
        return Ok((a.metrics_url.clone(), a.log.clone()));
    }
    let bin = prepare(stack)?;
    let port = free_port()?;
    let log = stack.dir.join("logs/provenance-auditor-e2e.log");
    let logf = std::fs::File::create(&log)?;
    // `read` returns when the test binary exits and its end of stdin closes.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & pid=$!; read _; kill $pid; wait $pid"#)
        .arg("auditor")
        .arg(bin)
        .args(run_args(stack, port))
        .args(extra)
        .env("RUST_LOG", "info,provenance_auditor=debug")
        .stdin(Stdio::piped())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .spawn()
        .context("starting provenance-auditor")?;
    // Keep stdin open for the binary's lifetime (leaked on purpose: closing it stops the child).
    if let Some(stdin) = child.stdin.take() {
        std::mem::forget(stdin);
    }
    let metrics_url = format!("http://127.0.0.1:{port}");
    *guard = Some(Auditor {
        metrics_url: metrics_url.clone(),
        log: log.clone(),
        extra: extra.to_vec(),
        _child: child,
    });
    Ok((metrics_url, log))
}

/// Polls `url` until it answers 2xx, or fails after `timeout` showing `log`.
pub async fn wait_ready(url: &str, timeout: Duration, log: &std::path::Path) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let ok = reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{url} never answered 2xx; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

impl Ctx {
    /// The shared controller's metrics URL (starting it if needed); waits for `/readyz`.
    pub async fn auditor(&self) -> Result<String> {
        let stack = self.stack.clone();
        let (url, log) = tokio::task::spawn_blocking(move || ensure_auditor(&stack)).await??;
        wait_ready(&format!("{url}/readyz"), Duration::from_secs(60), &log).await?;
        Ok(url)
    }

    /// Like [`Ctx::auditor`], the shared controller started with `extra` flags (see
    /// [`ensure_auditor_with`]).
    pub async fn auditor_with(&self, extra: &[String]) -> Result<String> {
        let stack = self.stack.clone();
        let extra = extra.to_vec();
        let (url, log) =
            tokio::task::spawn_blocking(move || ensure_auditor_with(&stack, &extra)).await??;
        wait_ready(&format!("{url}/readyz"), Duration::from_secs(60), &log).await?;
        Ok(url)
    }

    /// The controller's metrics text.
    pub async fn metrics(&self, url: &str) -> Result<String> {
        Ok(reqwest::get(format!("{url}/metrics")).await?.text().await?)
    }

    /// Creates a cluster-scoped `ProvenancePolicy`; installs the CRDs first when this test
    /// binary has not yet. The test's cleanup deletes it (or [`Ctx::delete_policy`] earlier).
    pub async fn policy(&self, name: &str, spec: Value) -> Result<()> {
        static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        let stack = self.stack.clone();
        CRDS.get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || install_crds(&stack)).await?
        })
        .await?;
        let obj = json!({
            "apiVersion": "provenance.dev/v1alpha1", "kind": "ProvenancePolicy",
            "metadata": {"name": name}, "spec": spec,
        });
        Api::<DynamicObject>::all_with(self.client.clone(), &provenance("ProvenancePolicy"))
            .patch(
                name,
                &PatchParams::apply("provenance-e2e").force(),
                &Patch::Apply(&obj),
            )
            .await
            .with_context(|| format!("applying ProvenancePolicy {name}"))?;
        let mut mine = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        if !mine.iter().any(|n| n == name) {
            mine.push(name.to_string());
        }
        Ok(())
    }

    /// Deletes a `ProvenancePolicy` (cluster-scoped objects outlive the test namespace).
    pub async fn delete_policy(&self, name: &str) {
        let _ =
            Api::<DynamicObject>::all_with(self.client.clone(), &provenance("ProvenancePolicy"))
                .delete(name, &DeleteParams::default())
                .await;
    }

    /// The `SourceAudit` `name` in the test namespace, if it exists.
    pub async fn audit(&self, name: &str) -> Result<Option<Value>> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &provenance("SourceAudit"));
        Ok(api
            .get_opt(name)
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or_default()))
    }

    /// Polls the `SourceAudit` until `pred` holds (`None` = it does not exist) or `timeout`.
    pub async fn wait_audit(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(Option<&Value>) -> bool,
    ) -> Result<Option<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let a = self.audit(name).await?;
            if pred(a.as_ref()) {
                return Ok(a);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for SourceAudit {}/{name}: {what}; last seen: {}",
                    self.ns,
                    a.as_ref().map(|a| format!("{} {}", status_summary(a), a["status"])).unwrap_or_else(|| "absent".into())
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the metrics until `pred` holds on their text.
    pub async fn wait_metrics(
        &self,
        url: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.metrics(url).await?;
            if pred(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                let mine: Vec<&str> = text.lines().filter(|l| l.contains(&self.ns)).collect();
                bail!("timed out after {timeout:?} waiting for metrics: {what}; series of {}: {mine:#?}", self.ns);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A registry of the test's own (plain HTTP, loopback), so it can be stopped and started.
pub struct OwnRegistry {
    config: std::path::PathBuf,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    child: Option<tokio::process::Child>,
}

impl OwnRegistry {
    /// Starts a fresh registry (data in the test's scratch directory).
    pub async fn start(ctx: &Ctx) -> Result<OwnRegistry> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = ctx.path("own-registry");
        std::fs::create_dir_all(dir.join("data"))?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e-own-registry\n",
                dir.join("data").display()
            ),
        )?;
        let mut r = OwnRegistry {
            config,
            addr: format!("127.0.0.1:{port}"),
            child: None,
        };
        r.resume().await?;
        Ok(r)
    }

    /// Starts it again on the same port and data.
    pub async fn resume(&mut self) -> Result<()> {
        let child = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while crate::stack::http_get(&format!("http://{}/v2/", self.addr))
            .await
            .is_err()
        {
            ensure!(
                std::time::Instant::now() < deadline,
                "registry {} did not start",
                self.addr
            );
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Kills it (an outage).
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        Ok(())
    }
}
