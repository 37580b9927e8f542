//! A real registry for integration tests: Debian's `docker-registry` (distribution 2.8, which has
//! no referrers API) as a child process on a free 127.0.0.1 port, plus a minimal push client.
//!
//! ```ignore
//! let reg = RealRegistry::start();                 // or start_with_htpasswd("user", "pass")
//! let digest = reg.push_artifact("flux/app", "v1").await;
//! let lines = reg.wait_for_requests(3);            // ["GET /v2/flux/app/manifests/v1 200", …]
//! ```
//! The process is killed when the value is dropped.

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

const BINARY: &str = "/usr/bin/docker-registry";
const WAIT: Duration = Duration::from_secs(30);

/// Output of the registry, appended by reader threads; the condvar fires on every new line.
#[derive(Default)]
struct Output {
    access: String,
    app: String,
    exited: bool,
}

/// A running `docker-registry` child process.
pub struct RealRegistry {
    child: Child,
    host: String,
    basic: Option<String>,
    output: Arc<(Mutex<Output>, Condvar)>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl RealRegistry {
    /// Starts an anonymous registry.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// Starts a registry that requires HTTP Basic `user:pass` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Self {
        Self::start_inner(Some((user, pass)))
    }

    fn start_inner(auth: Option<(&str, &str)>) -> Self {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} is missing: install Debian's docker-registry (bash hack/tools.sh apt)"
        );
        let mut last = String::new();
        // A free port can be taken between probing and binding: retry a few times.
        for _ in 0..3 {
            match Self::try_start(auth) {
                Ok(r) => return r,
                Err(log) => last = log,
            }
        }
        panic!("docker-registry did not start:\n{last}");
    }

    fn try_start(auth: Option<(&str, &str)>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: test-secret\n",
            dir.path().join("data").display()
        );
        let mut basic = None;
        if let Some((user, pass)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .map_err(|e| format!("htpasswd: {e}"))?;
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).map_err(|e| e.to_string())?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
                file.display()
            ));
            basic = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            ));
        }
        let config_path: PathBuf = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let mut child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {BINARY}: {e}"))?;
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        // The access log (combined format) goes to stdout, the application log to stderr.
        spawn_reader(child.stdout.take(), output.clone(), true);
        spawn_reader(child.stderr.take(), output.clone(), false);
        let mut reg = RealRegistry {
            child,
            host,
            basic,
            output,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?,
            _dir: dir,
        };
        let listening = format!("listening on {}", reg.host);
        if !reg.wait_output(|o| o.app.contains(&listening) || o.exited)
            || !reg.app_log().contains(&listening)
        {
            let _ = reg.child.kill();
            return Err(reg.app_log());
        }
        let status = raw_get_status(&reg.host, "/v2/")
            .map_err(|e| format!("GET /v2/: {e}\n{}", reg.app_log()))?;
        assert!(status == 200 || status == 401, "GET /v2/ answered {status}");
        reg.wait_for_requests(1);
        Ok(reg)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The access log so far (one combined-format line per request).
    pub fn log(&self) -> String {
        self.output.0.lock().expect("lock").access.clone()
    }

    /// The registry's application log so far (logrus text).
    pub fn app_log(&self) -> String {
        self.output.0.lock().expect("lock").app.clone()
    }

    /// Every request in the access log as `"METHOD /path STATUS"`, in order.
    pub fn request_lines(&self) -> Vec<String> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// Waits (up to 30 s) until at least `n` requests are logged — the registry writes its access
    /// log after answering, so a test that just got its response may be ahead of the log — and
    /// returns them all.
    pub fn wait_for_requests(&self, n: usize) -> Vec<String> {
        let ok = self.wait_output(|o| {
            o.access.lines().filter_map(parse_access_line).count() >= n || o.exited
        });
        let lines = self.request_lines();
        assert!(
            ok && lines.len() >= n,
            "expected {n} logged requests, got {lines:#?}"
        );
        lines
    }

    fn wait_output(&self, done: impl Fn(&Output) -> bool) -> bool {
        let (lock, cv) = &*self.output;
        let guard = lock.lock().expect("lock");
        let (guard, timeout) = cv
            .wait_timeout_while(guard, WAIT, |o| !done(o))
            .expect("lock");
        !timeout.timed_out() && done(&guard)
    }

    /// Uploads a blob (monolithic POST + PUT) and returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self.authed(
            self.http
                .post(format!("http://{}/v2/{repo}/blobs/uploads/", self.host)),
        );
        let resp = start.send().await.expect("start upload");
        assert_eq!(
            resp.status().as_u16(),
            202,
            "start upload: {:?}",
            resp.text().await
        );
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_string();
        let mut url = if location.starts_with('/') {
            format!("http://{}{location}", self.host)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let resp = self
            .authed(self.http.put(url))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload blob");
        assert_eq!(
            resp.status().as_u16(),
            201,
            "upload blob: {:?}",
            resp.text().await
        );
        digest
    }

    /// Uploads a manifest under `reference` (a tag or its digest) and returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self
            .authed(self.http.put(format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.host
            )))
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put manifest");
        assert_eq!(
            resp.status().as_u16(),
            201,
            "put manifest {reference}: {:?}",
            resp.text().await
        );
        sha256(bytes)
    }

    /// Pushes a small Flux-style artifact (config + one tar+gzip-typed layer) tagged `tag`;
    /// returns the manifest digest. Distinct (repo, tag) pairs give distinct digests.
    pub async fn push_artifact(&self, repo: &str, tag: &str) -> String {
        let config = self.push_blob(repo, b"{}").await;
        let layer_bytes = format!("content of {repo}:{tag}");
        let layer = self.push_blob(repo, layer_bytes.as_bytes()).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "digest": layer, "size": layer_bytes.len()}],
            "annotations": {"org.opencontainers.image.source": "https://example.com/repo"}
        });
        let bytes = serde_json::to_vec(&manifest).expect("json");
        self.push_manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &bytes,
        )
        .await
    }

    fn authed(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic {
            Some(b) => r.header("Authorization", b),
            None => r,
        }
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn spawn_reader(
    pipe: Option<impl Read + Send + 'static>,
    output: Arc<(Mutex<Output>, Condvar)>,
    access: bool,
) {
    let Some(pipe) = pipe else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let (lock, cv) = &*output;
            let mut o = lock.lock().expect("lock");
            let buf = if access { &mut o.access } else { &mut o.app };
            buf.push_str(&line);
            buf.push('\n');
            cv.notify_all();
        }
        let (lock, cv) = &*output;
        lock.lock().expect("lock").exited = true;
        cv.notify_all();
    });
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "ua"` → `GET /v2/ 200`.
fn parse_access_line(line: &str) -> Option<String> {
    let (_, rest) = line.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let (method, path) = (parts.next()?, parts.next()?);
    let status = rest.split_whitespace().next()?;
    Some(format!("{method} {path} {status}"))
}

/// A blocking `GET path` on a fresh connection; returns the status code.
fn raw_get_status(host: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(WAIT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head)?;
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {head:?}")))
}
