//! The fault proxy against a tiny local HTTP server: each fault is what a client sees.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::proxy::{Fault, FaultProxy, Scope, AUDITOR_USER_AGENT};

/// The upstream's body for every GET: JSON-ish text, as a manifest would be.
fn body() -> Vec<u8> {
    let mut s = String::from("{\"layers\":[");
    for i in 0..40 {
        s += &format!("{{\"digest\":\"sha256:{i:064x}\",\"size\":{i}}},");
    }
    s += "{}]}";
    s.into_bytes()
}

/// A keep-alive HTTP/1.1 server answering every request with 200 and [`body`]; returns its
/// `host:port`. Lives as long as the test's runtime.
async fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_string();
                        buf.drain(..i + 4);
                        let b = body();
                        let mut out = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Seen-Host: {}\r\n\r\n",
                            b.len(),
                            head.lines()
                                .find_map(|l| l.strip_prefix("Host: ").or(l.strip_prefix("host: ")))
                                .unwrap_or_default()
                        )
                        .into_bytes();
                        if !head.starts_with("HEAD ") {
                            out.extend_from_slice(&b);
                        }
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn client(ua: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(ua)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

const AUDITOR: &str = "provenance-auditor/0.1.0";

async fn proxy() -> FaultProxy {
    FaultProxy::start(&upstream().await).await.unwrap()
}

fn url(p: &FaultProxy, path: &str) -> String {
    format!("http://{}{path}", p.addr())
}

#[tokio::test]
async fn passes_through_get_and_head_unchanged_keeping_the_host() {
    let p = proxy().await;
    let r = client(AUDITOR)
        .get(url(&p, "/v2/a/manifests/sha256:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-seen-host"], p.addr().as_str());
    assert_eq!(r.bytes().await.unwrap().to_vec(), body());
    let h = client(AUDITOR)
        .head(url(&p, "/v2/a/manifests/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    // A HEAD answer announces the length a GET would have (reqwest's content_length() is the
    // body's, 0, so read the header).
    assert_eq!(
        h.headers()["content-length"],
        body().len().to_string().as_str()
    );
    let seen = p.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.auditor && s.fault == Fault::Pass));
    assert_eq!(p.injected(), 0);
}

#[tokio::test]
async fn reset_mid_body_fails_the_body_read_after_a_200_head() {
    let p = proxy().await;
    p.set(Fault::ResetMidBody, Scope::all());
    let r = client(AUDITOR)
        .get(url(&p, "/v2/a/blobs/sha256:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "a reset body must not read whole");
    assert_eq!(p.injected(), 1);
}

#[tokio::test]
async fn short_body_announces_more_than_it_sends() {
    let p = proxy().await;
    p.set(Fault::ShortBody, Scope::all());
    let r = client(AUDITOR)
        .get(url(&p, "/v2/a/blobs/sha256:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.content_length(), Some(body().len() as u64));
    assert!(r.bytes().await.is_err(), "a short body must not read whole");
    // Raw: exactly half the body arrives, then EOF.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.unwrap();
    let i = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - i, body().len() / 2);
}

#[tokio::test]
async fn stall_outlasts_the_client_timeout_and_counts_in_flight() {
    let p = proxy().await;
    p.set(Fault::Stall, Scope::all());
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let fut = c.get(url(&p, "/v2/")).send();
    let err = fut.await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // While a raw client waits, the request is in flight.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.in_flight() == 0 {
        assert!(std::time::Instant::now() < deadline, "never in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.in_flight() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still in flight after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rate_limit_and_server_errors_carry_their_status() {
    let p = proxy().await;
    p.set(Fault::TooManyRequests { retry_after: 7 }, Scope::all());
    let r = client(AUDITOR).get(url(&p, "/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    for code in [500, 502, 503] {
        p.set(Fault::Status(code), Scope::all());
        let r = client(AUDITOR).get(url(&p, "/v2/")).send().await.unwrap();
        assert_eq!(r.status(), code);
        assert!(r.text().await.unwrap().contains("UNAVAILABLE"));
    }
    assert_eq!(p.injected(), 4);
}

#[tokio::test]
async fn corrupt_body_keeps_length_and_json_but_not_the_digest() {
    let p = proxy().await;
    p.set(Fault::CorruptBody, Scope::all());
    let got = client(AUDITOR)
        .get(url(&p, "/v2/a/manifests/sha256:00"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let want = body();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.iter().zip(&want).filter(|(a, b)| a != b).count(), 1);
    assert_ne!(crate::sha256(&got), crate::sha256(&want));
    serde_json::from_slice::<serde_json::Value>(&got).expect("still JSON");
}

#[tokio::test]
async fn tls_alert_fails_the_handshake() {
    let p = proxy().await;
    p.set(Fault::TlsAlert, Scope::all());
    let err = client(AUDITOR)
        .get(format!("https://{}/v2/", p.addr()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"\x16\x03\x01\x00\x05hello").await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
}

#[tokio::test]
async fn scope_selects_by_user_agent_and_path() {
    let p = proxy().await;
    p.set(Fault::Status(503), Scope::auditor_signature_objects());
    let flux = client("flux/v2");
    let ours = client(AUDITOR);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            flux.get(url(&p, "/v2/a/blobs/sha256:00"))
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            ours.get(url(&p, "/v2/a/referrers/sha256:00"))
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            ours.get(url(&p, "/v2/a/manifests/sha256-00.sig"))
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            ours.get(url(&p, "/v2/a/blobs/sha256:00"))
                .send()
                .await
                .unwrap()
        ),
        503
    );
    assert_eq!(
        status(
            ours.get(url(&p, "/v2/a/manifests/sha256:00"))
                .send()
                .await
                .unwrap()
        ),
        503
    );
    assert_eq!(p.injected(), 2);
    assert_eq!(p.auditor_requests(), 4);
    assert!(AUDITOR.starts_with(AUDITOR_USER_AGENT));
    p.pass();
    assert_eq!(
        status(
            ours.get(url(&p, "/v2/a/blobs/sha256:00"))
                .send()
                .await
                .unwrap()
        ),
        200
    );
}

#[tokio::test]
async fn dropping_the_proxy_closes_listener_and_stalled_connections() {
    let p = proxy().await;
    p.set(Fault::Stall, Scope::all());
    let addr = p.addr();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.in_flight() == 0 {
        assert!(std::time::Instant::now() < deadline, "never in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(p);
    // The stalled connection is closed (EOF or reset), within a bound.
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .expect("the stalled connection should be closed when the proxy is dropped");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let p = FaultProxy::start(&addr).await.unwrap();
    let r = client(AUDITOR).get(url(&p, "/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn a_pull_limit_refuses_the_controllers_manifest_gets_past_it_like_docker_hub() {
    let p = proxy().await;
    p.limit_pulls(Some(2));
    let auditor = client(AUDITOR);
    let flux = client("flux-source-controller/v1.9.1");
    let mut codes = vec![];
    for path in [
        "/v2/a/manifests/sha256-00",
        "/v2/a/blobs/sha256:00",
        "/v2/a/manifests/sha256-00.sig",
        "/v2/a/manifests/v1",
    ] {
        codes.push(
            auditor
                .get(url(&p, path))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    // HEADs and Flux's own pulls are not counted.
    let head = auditor
        .head(url(&p, "/v2/a/manifests/v1"))
        .send()
        .await
        .unwrap();
    let theirs = flux
        .get(url(&p, "/v2/a/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(codes, [200, 200, 200, 429]);
    assert_eq!(
        (head.status().as_u16(), theirs.status().as_u16()),
        (200, 200)
    );
    assert_eq!(p.pulls_refused(), 1);
    let seen = p.seen();
    assert_eq!(
        seen.iter()
            .filter(|s| s.auditor && s.is_manifest_get())
            .count(),
        3
    );
    assert_eq!(p.seen_since(seen.len() - 1).len(), 1);
    assert!(seen.windows(2).all(|w| w[0].at <= w[1].at));
    p.limit_pulls(None);
    let again = auditor
        .get(url(&p, "/v2/a/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}
