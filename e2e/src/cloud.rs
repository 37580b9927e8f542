//! What the cloud identity scenarios need on 127.0.0.1: a registry behind Basic auth that
//! accepts exactly the credential a cloud would issue, a tiny HTTP server that plays a
//! documented token endpoint and records every request it receives (so a test asserts what
//! the controller sent), and a suspended OCIRepository whose Flux status the test sets
//! (source-controller cannot fetch with a cloud identity here).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ctx::{Ctx, POLL};
use crate::object::flux;

/// A request a [`TokenServer`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl Received {
    /// The form fields of an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> BTreeMap<String, String> {
        url_decode_pairs(&self.body)
    }
}

fn url_decode_pairs(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer: status, extra headers, JSON body.
pub type Reply = (u16, Vec<(&'static str, String)>, Value);

/// A one-purpose HTTP/1.1 server on 127.0.0.1 (one request per connection), stopped when
/// dropped.
pub struct TokenServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    /// Serves every request with `handler`.
    pub async fn start(
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (rec, handler) = (received.clone(), Arc::new(handler));
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (rec, handler) = (rec.clone(), handler.clone());
                tokio::spawn(async move {
                    let Ok(Some(req)) = read_request(&mut sock).await else {
                        return;
                    };
                    let (status, headers, body) = handler(&req);
                    rec.lock().unwrap_or_else(|e| e.into_inner()).push(req);
                    let body = body.to_string();
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Ok(TokenServer {
            url,
            received,
            task,
        })
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Result<Option<Received>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        ensure!(buf.len() < 1 << 20, "request head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

/// Debian's docker-registry of the test's own, first open (to push and sign), then behind
/// Basic auth with one user.
pub struct AuthRegistry {
    dir: PathBuf,
    port: u16,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    child: Option<tokio::process::Child>,
}

impl AuthRegistry {
    /// Starts it open.
    pub async fn start(ctx: &Ctx, name: &str) -> Result<Self> {
        let port = crate::free_port()?;
        let dir = ctx.path(&format!("registry-{name}"));
        std::fs::create_dir_all(dir.join("data"))?;
        let mut r = AuthRegistry {
            dir,
            port,
            addr: format!("127.0.0.1:{port}"),
            child: None,
        };
        r.serve(None).await?;
        Ok(r)
    }

    /// Restarts it accepting only `user`/`password` (Basic auth, bcrypt htpasswd).
    pub async fn require(&mut self, user: &str, password: &str) -> Result<()> {
        let out = std::process::Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .context("running htpasswd")?;
        ensure!(
            out.status.success(),
            "htpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = self.dir.join("htpasswd");
        std::fs::write(&file, out.stdout)?;
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        self.serve(Some(file)).await?;
        // Now anonymous requests are refused.
        let status = reqwest::get(format!("http://{}/v2/", self.addr))
            .await?
            .status();
        ensure!(
            status == 401,
            "the registry still answers {status} without credentials"
        );
        Ok(())
    }

    async fn serve(&mut self, htpasswd: Option<PathBuf>) -> Result<()> {
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: 127.0.0.1:{}\n  secret: e2e-cloud\n",
            self.dir.join("data").display(),
            self.port
        );
        if let Some(f) = htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: e2e-cloud\n    path: {}\n",
                f.display()
            ));
        }
        let path = self.dir.join("config.yml");
        std::fs::write(&path, config)?;
        self.child = Some(
            tokio::process::Command::new("docker-registry")
                .arg("serve")
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting docker-registry")?,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(format!("http://{}/v2/", self.addr))
                .await
                .is_ok()
            {
                return Ok(());
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "registry {} did not start",
                self.addr
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Ctx {
    /// A suspended OCIRepository `name` on `url` with `spec` fields added (e.g. `provider`), and
    /// the Flux status of having fetched `digest` (set by the test, as source-controller would).
    pub async fn fetched_source(
        &self,
        name: &str,
        url: &str,
        digest: &str,
        extra: Value,
    ) -> Result<()> {
        let mut spec =
            json!({"url": url, "ref": {"tag": "v1"}, "interval": "10m", "suspend": true});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        self.apply("OCIRepository", name, spec).await?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &flux("OCIRepository"));
        let now = "2026-01-01T00:00:00Z";
        let status = json!({"status": {
            "artifact": {"revision": format!("v1@{digest}"), "digest": digest, "path": "x.tar.gz",
                         "url": "http://example.invalid/x.tar.gz", "lastUpdateTime": now},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                            "message": "stored artifact", "lastTransitionTime": now}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("setting the Flux status of {name}"))?;
        Ok(())
    }

    /// Pushes `<registry>/<ns>/<repo>:v1`, signs it with a fresh key (cosign, bundle format)
    /// and creates a key policy for this namespace; returns the digest.
    pub async fn signed_artifact(&self, registry: &str, repo: &str) -> Result<String> {
        let digest = self
            .push_artifact_to(registry, repo, "v1", &self.artifact_dir(repo, repo)?)
            .await?;
        let (key, pubkey) = self.keygen(repo).await?;
        self.sign_to(registry, &key, "bundle", repo, &digest)
            .await?;
        self.secret("cosign-pub", &[("cosign.pub", &pubkey)])
            .await?;
        self.policy(&format!("{}-key", self.ns), self.key_policy("cosign-pub"))
            .await?;
        Ok(digest)
    }

    /// A controller of this test's own, auditing only its namespace, with the cloud
    /// `endpoints` file and the cloud identity `env`; returns it (killed when dropped).
    pub async fn cloud_controller(
        &self,
        endpoints: Value,
        env: &[(&str, &str)],
    ) -> Result<tokio::process::Child> {
        let file = self.path("cloud-endpoints.json");
        std::fs::write(&file, endpoints.to_string())?;
        let port = crate::free_port()?;
        let log = format!("provenance-auditor-{}.log", self.ns);
        let (stack, ns, f, env) = (
            self.stack.clone(),
            self.ns.clone(),
            file.display().to_string(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        );
        let lg = log.clone();
        let child = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crate::spawn_private(
                &stack,
                port,
                &["--watch-namespaces", &ns, "--cloud-endpoints-file", &f],
                &env,
                &lg,
            )
        })
        .await??;
        crate::wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
            &self.stack.dir.join("logs").join(log),
        )
        .await?;
        Ok(child)
    }

    /// Waits for SourceAudit `ocirepository-<name>` to have `Verified` with `status` and
    /// `reason`; returns its `Verified` message.
    pub async fn wait_verified(&self, name: &str, status: &str, reason: &str) -> Result<String> {
        let audit = self
            .wait_audit(
                &format!("ocirepository-{name}"),
                Duration::from_secs(60),
                &format!("Verified={status}/{reason}"),
                |a| a.is_some_and(|a| crate::has_cond(a, "Verified", status, Some(reason))),
            )
            .await?;
        let Some(a) = audit else { bail!("no audit") };
        Ok(crate::condition(&a, "Verified")
            .map(|c| c.message)
            .unwrap_or_default())
    }
}
