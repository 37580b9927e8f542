//! A programmable fault-injecting HTTP/1.1 proxy between a client (the controller, Flux) and a
//! real registry, for the fault campaign (issue 9).
//!
//! It listens on `127.0.0.1:<random>` and forwards every request to one upstream `host:port`
//! until a test switches it, at run time, to one [`Fault`] at a time for the requests a
//! [`Scope`] selects (e.g. only the controller's reads of signature objects, so that Flux still
//! fetches the artifact). It speaks HTTP/1.1 itself over raw TCP rather than through a server
//! library because several faults are wrong on purpose at the TCP level: a reset in the middle
//! of a body, a `Content-Length` larger than what is sent, a request never answered, a TLS alert
//! where an HTTP answer was expected.
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections at once, request heads up to 64 KiB, bodies up
//! to 64 MiB; a request log of at most [`MAX_LOG`] entries. Dropping the [`FaultProxy`] closes the
//! listener and every connection (stalled ones included).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// Entries kept in the request log (the oldest are dropped).
pub const MAX_LOG: usize = 100_000;
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 64 << 20;
/// How long [`Fault::ResetMidBody`] waits between the half body and the reset.
const RESET_AFTER: Duration = Duration::from_millis(200);
/// The controller's `User-Agent` prefix (`provenance-auditor/<version>`).
pub const AUDITOR_USER_AGENT: &str = "provenance-auditor/";
/// A TLS 1.2 record: fatal alert `handshake_failure` (what a server that rejects the client's
/// hello sends).
const TLS_HANDSHAKE_FAILURE: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// What the proxy does to the requests its [`Scope`] selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward unchanged.
    Pass,
    /// The response head and half the body, then a TCP reset (RST). A response without a body
    /// (HEAD) is reset before anything is sent.
    ResetMidBody,
    /// A `Content-Length` of the whole body, half of the body, then a clean close (FIN).
    ShortBody,
    /// The request is read and never answered, until the client gives up or the proxy stops.
    Stall,
    /// Forwarded after a delay: a slow registry, not a failure (used to catch work in flight).
    Delay(Duration),
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    TooManyRequests { retry_after: u64 },
    /// This status (500, 502, 503...) with a registry error body, upstream not asked.
    Status(u16),
    /// A `200` whose body has one byte changed (same length): it no longer matches its digest.
    CorruptBody,
    /// Every new connection gets a TLS fatal `handshake_failure` alert and is closed (applies to
    /// connections, so [`Scope`] is not consulted: no HTTP is read).
    TlsAlert,
}

/// Which requests a [`Fault`] applies to: all the given conditions must hold. Others pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The request's `User-Agent` starts with this.
    pub user_agent_prefix: Option<String>,
    /// The request path contains one of these (empty: any path).
    pub path_contains: Vec<String>,
}

impl Scope {
    /// Every request.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// Every request of the controller (`provenance-auditor/…`), none of Flux's.
    pub fn auditor() -> Scope {
        Scope {
            user_agent_prefix: Some(AUDITOR_USER_AGENT.into()),
            path_contains: vec![],
        }
    }

    /// The controller's reads of content-addressed objects (manifests and blobs by digest):
    /// the signature objects it finds through the referrers list, not the list itself.
    pub fn auditor_signature_objects() -> Scope {
        Scope {
            path_contains: vec!["/manifests/sha256:".into(), "/blobs/sha256:".into()],
            ..Scope::auditor()
        }
    }

    fn selects(&self, path: &str, user_agent: &str) -> bool {
        self.user_agent_prefix
            .as_deref()
            .is_none_or(|p| user_agent.starts_with(p))
            && (self.path_contains.is_empty()
                || self.path_contains.iter().any(|p| path.contains(p.as_str())))
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The request came from the controller (see [`AUDITOR_USER_AGENT`]).
    pub auditor: bool,
    /// The fault applied to it (`Pass` when none).
    pub fault: Fault,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Seen {
    /// A `GET` of a manifest or index: what Docker Hub counts as a pull.
    pub fn is_manifest_get(&self) -> bool {
        self.method == "GET" && self.path.contains("/manifests/")
    }
}

/// A pull limit like Docker Hub's: the controller's manifest GETs past `limit` (counted from
/// when it was set) are answered `429` with `Retry-After`.
#[derive(Clone, Debug, Default)]
struct PullLimit {
    limit: usize,
    used: usize,
    refused: usize,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    mode: Mutex<(Fault, Scope)>,
    pull_limit: Mutex<Option<PullLimit>>,
    log: Mutex<Vec<Seen>>,
    in_flight: AtomicU64,
    in_flight_faulted: AtomicU64,
}

/// A running proxy; stops (listener and connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a pass-through proxy on `127.0.0.1:<random>` to `upstream` (`host:port`, HTTP).
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        FaultProxy::start_on("127.0.0.1:0".parse()?, upstream).await
    }

    /// Like [`FaultProxy::start`] on a given address (e.g. a port chosen in advance).
    pub async fn start_on(bind: SocketAddr, upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the fault proxy on {bind}"))?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()?;
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            http,
            mode: Mutex::new((Fault::Pass, Scope::all())),
            pull_limit: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicU64::new(0),
            in_flight_faulted: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy { addr, shared, task })
    }

    /// `127.0.0.1:<port>`, the registry host to give clients.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Applies `fault` to the requests `scope` selects, from the next request on.
    pub fn set(&self, fault: Fault, scope: Scope) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = (fault, scope);
    }

    /// Back to forwarding everything.
    pub fn pass(&self) {
        self.set(Fault::Pass, Scope::all());
    }

    /// Answers the controller's manifest GETs past `limit` from now on with `429` and
    /// `Retry-After: 3600`, like Docker Hub's pull limit (`None`: no limit).
    pub fn limit_pulls(&self, limit: Option<usize>) {
        *self
            .shared
            .pull_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = limit.map(|limit| PullLimit {
            limit,
            ..PullLimit::default()
        });
    }

    /// Manifest GETs of the controller the pull limit refused so far.
    pub fn pulls_refused(&self) -> usize {
        self.shared
            .pull_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |l| l.refused)
    }

    /// The requests seen after the first `from` (a count [`FaultProxy::seen`] returned before).
    pub fn seen_since(&self, from: usize) -> Vec<Seen> {
        let log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
        log.get(from..).map(<[Seen]>::to_vec).unwrap_or_default()
    }

    /// Requests seen so far (a mark for [`FaultProxy::seen_since`]).
    pub fn mark(&self) -> usize {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The requests seen so far (at most [`MAX_LOG`], oldest dropped).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests of the controller seen so far.
    pub fn auditor_requests(&self) -> usize {
        self.seen().iter().filter(|s| s.auditor).count()
    }

    /// Requests a fault (anything but `Pass`) was applied to so far.
    pub fn injected(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.fault != Fault::Pass)
            .count()
    }

    /// Requests being handled right now (read, not yet fully answered).
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Like [`FaultProxy::in_flight`], only requests a fault applies to (e.g. held by
    /// [`Fault::Delay`] or [`Fault::Stall`]).
    pub fn in_flight_faulted(&self) -> u64 {
        self.shared.in_flight_faulted.load(Ordering::Relaxed)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.len() >= MAX_CONNECTIONS {
            conns.join_next().await;
        }
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                conns.spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A parsed request head (and its body, if it announced one).
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The upstream's answer, read whole.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) -> Result<()> {
    if shared.mode.lock().unwrap_or_else(|e| e.into_inner()).0 == Fault::TlsAlert {
        // Read (some of) the client hello first, as a server does, then refuse it.
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        let _ = stream.write_all(&TLS_HANDSHAKE_FAILURE).await;
        let _ = stream.shutdown().await;
        return Ok(());
    }
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(&shared.in_flight);
        let user_agent = req.header("user-agent").unwrap_or_default().to_string();
        let (fault, scope) = shared
            .mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let path = req.target.split('?').next().unwrap_or_default().to_string();
        let fault = if fault != Fault::TlsAlert && scope.selects(&path, &user_agent) {
            fault
        } else {
            Fault::Pass
        };
        let auditor = user_agent.starts_with(AUDITOR_USER_AGENT);
        let pull = auditor && req.method == "GET" && path.contains("/manifests/");
        let fault = match shared
            .pull_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(l) if pull => {
                l.used += 1;
                if l.used > l.limit {
                    l.refused += 1;
                    Fault::TooManyRequests { retry_after: 3600 }
                } else {
                    fault
                }
            }
            _ => fault,
        };
        let _faulted = (fault != Fault::Pass).then(|| {
            shared.in_flight_faulted.fetch_add(1, Ordering::Relaxed);
            InFlight(&shared.in_flight_faulted)
        });
        {
            let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
            if log.len() >= MAX_LOG {
                log.remove(0);
            }
            log.push(Seen {
                method: req.method.clone(),
                path,
                auditor,
                fault: fault.clone(),
                at: std::time::Instant::now(),
            });
        }
        let head_only = req.method.eq_ignore_ascii_case("HEAD");
        match &fault {
            Fault::Stall => {
                // Hold the connection until the client closes it (or the proxy is dropped).
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return Ok(());
            }
            Fault::TooManyRequests { retry_after } => {
                let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited by the fault proxy"}]}"#;
                let extra = [("Retry-After".to_string(), retry_after.to_string())];
                write_simple(&mut stream, 429, &extra, body, head_only).await?;
                continue;
            }
            Fault::Status(code) => {
                let body = br#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}"#;
                write_simple(&mut stream, *code, &[], body, head_only).await?;
                continue;
            }
            Fault::Delay(d) => tokio::time::sleep(*d).await,
            _ => {}
        }
        let resp = match forward(&shared, &req).await {
            Ok(r) => r,
            Err(_) => {
                write_simple(&mut stream, 502, &[], b"upstream unreachable", head_only).await?;
                continue;
            }
        };
        match fault {
            Fault::ResetMidBody | Fault::ShortBody => {
                let half = resp.body.len() / 2;
                if !head_only {
                    let head = response_head(&resp, false);
                    stream.write_all(head.as_bytes()).await?;
                    stream.write_all(&resp.body[..half]).await?;
                    stream.flush().await?;
                }
                if fault == Fault::ResetMidBody {
                    // Let the client read the head and the half body first (an RST can discard
                    // data the peer has not read yet), so the reset lands mid-body.
                    tokio::time::sleep(RESET_AFTER).await;
                    // SO_LINGER 0: closing sends RST instead of FIN.
                    stream.set_zero_linger()?;
                } else {
                    stream.shutdown().await?;
                }
                return Ok(());
            }
            Fault::CorruptBody if resp.status == 200 && !head_only && !resp.body.is_empty() => {
                let mut resp = resp;
                corrupt(&mut resp.body);
                write_response(&mut stream, &resp, head_only).await?;
            }
            _ => write_response(&mut stream, &resp, head_only).await?,
        }
        if req.close {
            return Ok(());
        }
    }
}

/// Reads one request (head and announced body) from `stream`; `None` at a clean EOF between
/// requests. `buf` carries bytes read past the previous request (pipelining).
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Request>> {
    let end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            bail!("request head larger than {MAX_HEAD} bytes");
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            bail!("connection closed inside a request head");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("malformed request line");
    };
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        close: version == "HTTP/1.0",
        headers,
        body: Vec::new(),
    };
    if req
        .header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    {
        req.close = true;
    }
    if req.header("transfer-encoding").is_some() {
        bail!("chunked request bodies are not supported by the fault proxy");
    }
    let len: usize = req
        .header("content-length")
        .map(|v| v.parse())
        .transpose()
        .context("bad Content-Length")?
        .unwrap_or(0);
    if len > MAX_BODY {
        bail!("request body larger than {MAX_BODY} bytes");
    }
    while buf.len() < len {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed inside a request body");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    req.body = buf.drain(..len).collect();
    Ok(Some(req))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Headers that describe one connection or one framing, not the message.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Sends `req` upstream and reads the whole answer (at most [`MAX_BODY`] bytes).
async fn forward(shared: &Shared, req: &Request) -> Result<Response> {
    let url = format!("http://{}{}", shared.upstream, req.target);
    let method = reqwest::Method::from_bytes(req.method.as_bytes())?;
    let mut rb = shared.http.request(method, url);
    for (k, v) in &req.headers {
        // The client's Host is kept, so the registry's Location/Link headers name the proxy.
        if !hop_by_hop(k) {
            rb = rb.header(k.as_str(), v.as_str());
        }
    }
    if !req.body.is_empty() {
        rb = rb.body(req.body.clone());
    }
    let mut resp = rb.send().await?;
    let status = resp.status().as_u16();
    let mut headers = Vec::new();
    for (k, v) in resp.headers() {
        let keep = !hop_by_hop(k.as_str()) || k.as_str().eq_ignore_ascii_case("content-length");
        if keep {
            headers.push((
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            ));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            bail!("upstream body larger than {MAX_BODY} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The status line and headers. `Content-Length` is the body's length, except for a HEAD
/// answer, which keeps the upstream's (the length a GET would have).
fn response_head(resp: &Response, head_only: bool) -> String {
    let mut s = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        s += &format!("{k}: {v}\r\n");
    }
    let upstream_len = resp
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.clone());
    let len = match (head_only, upstream_len) {
        (true, Some(l)) => l,
        _ => resp.body.len().to_string(),
    };
    s += &format!("Content-Length: {len}\r\n\r\n");
    s
}

async fn write_response(stream: &mut TcpStream, resp: &Response, head_only: bool) -> Result<()> {
    stream
        .write_all(response_head(resp, head_only).as_bytes())
        .await?;
    if !head_only {
        stream.write_all(&resp.body).await?;
    }
    stream.flush().await?;
    Ok(())
}

async fn write_simple(
    stream: &mut TcpStream,
    status: u16,
    extra: &[(String, String)],
    body: &[u8],
    head_only: bool,
) -> Result<()> {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    headers.extend_from_slice(extra);
    let resp = Response {
        status,
        headers,
        body: body.to_vec(),
    };
    write_response(stream, &resp, head_only).await
}

/// Changes one byte in the middle of `body`, keeping its length (and, for text, its character
/// class, so JSON stays JSON and only the digest is wrong).
fn corrupt(body: &mut [u8]) {
    let i = body.len() / 2;
    // Prefer an alphanumeric byte near the middle: changing it keeps a JSON document parseable.
    let j = (i..body.len())
        .chain(0..i)
        .find(|&j| body[j].is_ascii_alphanumeric())
        .unwrap_or(i);
    body[j] = match body[j] {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => body[j] + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        other => other ^ 0x01,
    };
}
