//! A hostile in-process HTTP/1.1 server for the registry module's tests: each test supplies a
//! function from request to [`Reply`], including replies no honest registry would send
//! (truncated bodies, hangs). Every request is recorded so tests can count round trips.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct TestRequest {
    pub method: String,
    /// Path and query, e.g. `/v2/app/manifests/v1`.
    pub target: String,
    /// Lowercased header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What to answer.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Announces `declared` bytes, sends `body` (shorter) and closes the connection.
    Truncated { declared: usize, body: Vec<u8> },
    /// A 200 without Content-Length: the body runs until the connection closes.
    Unframed { body: Vec<u8> },
    /// Sends the head and `body` (shorter than `declared`), then resets the connection (RST).
    Reset { declared: usize, body: Vec<u8> },
    /// Sends the head and `body` (shorter than `declared`), then stalls without closing.
    Stall { declared: usize, body: Vec<u8> },
    /// Never answers.
    Hang,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn json(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((k.into(), v.into()));
        }
        self
    }
}

type Handler = Arc<dyn Fn(&TestRequest) -> Reply + Send + Sync>;

/// A running test server; it lives until the test's runtime shuts down.
pub(crate) struct TestServer {
    pub host: String,
    requests: Arc<Mutex<Vec<TestRequest>>>,
}

impl TestServer {
    pub async fn start(handler: impl Fn(&TestRequest) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test server");
        let host = listener.local_addr().expect("local addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let recorded = requests.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (handler, recorded) = (handler.clone(), recorded.clone());
                tokio::spawn(async move { serve(sock, handler, recorded).await });
            }
        });
        TestServer { host, requests }
    }

    /// All requests received so far.
    pub fn requests(&self) -> Vec<TestRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// `"METHOD path"` of every request so far, for readable assertions.
    pub fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path()))
            .collect()
    }
}

async fn serve(mut sock: TcpStream, handler: Handler, recorded: Arc<Mutex<Vec<TestRequest>>>) {
    // Keep-alive: answer requests on this connection until the client closes it.
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut sock, &mut buf).await else {
            return;
        };
        recorded.lock().expect("lock").push(req.clone());
        let head_only = req.method == "HEAD";
        match handler(&req) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                if !head_only {
                    bytes.extend_from_slice(&body);
                }
                if sock.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Truncated { declared, body } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {declared}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
                return;
            }
            Reply::Unframed { body } => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
                return;
            }
            Reply::Reset { declared, body } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.flush().await;
                // Linger 0: closing sends RST instead of FIN. (Deprecated because a non-zero
                // linger blocks the thread on drop; zero does not.)
                #[allow(deprecated)]
                let _ = sock.set_linger(Some(std::time::Duration::ZERO));
                drop(sock);
                return;
            }
            Reply::Stall { declared, body } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                std::future::pending::<()>().await;
            }
            Reply::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<TestRequest> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Some(TestRequest {
        method,
        target,
        headers,
        body,
    })
}

/// Fixtures shared by the test modules that drive the client against a [`TestServer`].
pub(crate) mod fixtures {
    use std::collections::HashMap;
    use std::time::Duration;

    use base64::Engine as _;

    use super::{Reply, TestRequest};
    use crate::registry::{client, DockerConfig, RegistryClient, RegistryOptions};

    pub(crate) const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub(crate) const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

    pub(crate) fn digest() -> String {
        format!("sha256:{HEX}")
    }
    pub(crate) fn referrers_path() -> String {
        format!("/v2/app/referrers/sha256:{HEX}")
    }
    pub(crate) fn tag_path() -> String {
        format!("/v2/app/manifests/sha256-{HEX}")
    }
    pub(crate) fn sig_path() -> String {
        format!("/v2/app/manifests/sha256-{HEX}.sig")
    }
    pub(crate) fn sha(b: &[u8]) -> String {
        client::sha256_digest(b)
    }

    /// A handler answering fixed paths, and `fallback` for everything else.
    pub(crate) fn routes(
        map: Vec<(String, Reply)>,
        fallback: Reply,
    ) -> impl Fn(&TestRequest) -> Reply + Send + Sync {
        let map: HashMap<String, Reply> = map.into_iter().collect();
        move |r| {
            map.get(r.path())
                .cloned()
                .unwrap_or_else(|| fallback.clone())
        }
    }

    pub(crate) fn client_with(opts: RegistryOptions) -> RegistryClient {
        RegistryClient::new(opts).expect("client")
    }
    pub(crate) fn client() -> RegistryClient {
        client_with(RegistryOptions {
            timeout: Duration::from_secs(5),
            ..Default::default()
        })
    }
    pub(crate) fn creds(host: &str, user: &str, pass: &str) -> DockerConfig {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        DockerConfig::from_json(
            format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#).as_bytes(),
        )
        .expect("config")
    }

    /// Bounds every test: a hang in the client is a failure, not a stuck test run.
    pub(crate) async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .expect("client call did not finish in time")
    }
}
