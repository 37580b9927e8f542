//! The controller's HTTP endpoints: `/metrics`, `/healthz` (the process serves) and `/readyz`
//! (the watch caches have synced, so an audit reflects the cluster — or, under leader election,
//! this replica is a healthy standby waiting for the lease).
//!
//! A standby is ready, as in controller-runtime: were it not, a two-replica Deployment would
//! never become available and every rolling update would stall on its progress deadline. The
//! body tells the two apart (`ok: caches synced` / `ok: standby, …`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    /// The metrics to encode.
    pub metrics: Arc<Metrics>,
    /// Set once every watch has listed its objects.
    pub ready: Arc<AtomicBool>,
    /// Set while this replica waits for the leader-election lease.
    pub standby: Arc<AtomicBool>,
}

/// Binds `addr` (so a bad address fails at start-up, not later) and returns the serving future,
/// which ends when `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    Ok(async move {
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a metrics connection");
                        continue;
                    }
                },
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(respond(&state, &req)) }
                });
                // A scraper hanging up mid-response is not worth a log line above debug.
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection");
                }
            });
        }
    })
}

fn respond(state: &HttpState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if state.ready.load(Ordering::Relaxed) => (
            StatusCode::OK,
            "text/plain",
            "ok: caches synced\n".to_string(),
        ),
        "/readyz" if state.standby.load(Ordering::Relaxed) => (
            StatusCode::OK,
            "text/plain",
            "ok: standby, waiting for the leader-election lease\n".to_string(),
        ),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "caches not synced yet\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
