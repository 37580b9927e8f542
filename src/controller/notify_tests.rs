use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::*;

/// A Flux event as the controller posts it.
fn event() -> FluxEvent {
    FluxEvent {
        involved_object: ObjectReference {
            kind: Some("OCIRepository".into()),
            name: Some("unsigned".into()),
            namespace: Some("demo".into()),
            ..Default::default()
        },
        severity: "error",
        timestamp: crate::cluster::time(0),
        message: "Unsigned for sha256:685b".into(),
        reason: "ProvenanceUnsigned".into(),
        metadata: Default::default(),
        reporting_controller: "provenance-auditor".into(),
        reporting_instance: None,
    }
}

#[test]
fn answers_are_sent_retried_or_rejected() {
    assert_eq!(classify(202), Answer::Sent);
    assert_eq!(classify(200), Answer::Sent);
    for s in [408, 429, 500, 503] {
        assert_eq!(classify(s), Answer::Retry, "{s}");
    }
    for s in [301, 400, 401, 403, 404] {
        assert_eq!(classify(s), Answer::Rejected, "{s}");
    }
}

#[test]
fn only_http_urls_with_a_host_are_accepted_and_errors_do_not_echo_them() {
    assert!(parse_url("http://notification-controller.flux-system.svc.cluster.local./").is_ok());
    assert!(parse_url("https://127.0.0.1:9090/").is_ok());
    for bad in [
        "ftp://x/",
        "unix:/tmp/s",
        "http://",
        "not a url with secret-token",
    ] {
        let e = parse_url(bad).unwrap_err();
        assert!(!e.contains("secret-token"), "{e}");
    }
    let u = parse_url("http://user:hunter2@nc.example:9090/?token=abc").unwrap();
    assert_eq!(describe(&u), "http://nc.example:9090");
}

/// A receiver on 127.0.0.1 answering `codes` in turn (then 202), recording each body.
async fn receiver(codes: Vec<u16>) -> (reqwest::Url, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = reqwest::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let codes = Arc::new(Mutex::new(codes.into_iter()));
    let seen = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, codes) = (seen.clone(), codes.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (seen, codes) = (seen.clone(), codes.clone());
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        seen.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        let code = codes.lock().unwrap().next().unwrap_or(202);
                        let mut r = Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, bodies)
}

fn counters(m: &IntegrationMetrics, registry: &Registry) -> String {
    let _ = m;
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

/// Runs the worker over `events` to completion (the sender is dropped, so it ends).
async fn deliver(codes: Vec<u16>, events: usize) -> (Vec<Value>, String) {
    let (url, bodies) = receiver(codes).await;
    let mut registry = Registry::default();
    let metrics = IntegrationMetrics::register(&mut registry);
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap();
    let (tx, rx) = mpsc::channel(QUEUE);
    for _ in 0..events {
        tx.send(event()).await.unwrap();
    }
    drop(tx);
    let backoff = vec![Duration::from_millis(10); 2];
    tokio::time::timeout(
        Duration::from_secs(20),
        worker(client, url, rx, metrics.clone(), backoff),
    )
    .await
    .expect("the worker ends once the queue is drained");
    let seen = bodies.lock().unwrap().clone();
    (seen, counters(&metrics, &registry))
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_backoff_until_it_takes_the_event() {
    let (bodies, metrics) = deliver(vec![503, 429], 1).await;
    assert_eq!(bodies.len(), 3, "two failures, then accepted");
    assert!(bodies.iter().all(|b| b["reason"] == "ProvenanceUnsigned"));
    assert!(
        metrics.contains("provenance_flux_notifications_total{result=\"sent\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("provenance_flux_notification_retries_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn retries_are_bounded_and_a_rejection_is_not_retried() {
    let (bodies, metrics) = deliver(vec![500, 500, 500, 400], 2).await;
    // The first: three attempts (two retries), then given up; the second: rejected at once.
    assert_eq!(bodies.len(), 4);
    assert!(
        metrics.contains("provenance_flux_notifications_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("provenance_flux_notifications_total{result=\"rejected\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_without_blocking_the_sender() {
    let mut registry = Registry::default();
    let metrics = IntegrationMetrics::register(&mut registry);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let (notifier, _worker) = Notifier::new(url, metrics.clone()).unwrap();
    // Without a worker running, the queue fills and further sends drop instead of waiting.
    for _ in 0..QUEUE + 3 {
        notifier.send(event());
    }
    let text = counters(&metrics, &registry);
    assert!(
        text.contains("provenance_flux_notifications_total{result=\"dropped\"} 3"),
        "{text}"
    );
}
