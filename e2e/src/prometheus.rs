//! A real Prometheus (Debian's `/usr/bin/prometheus`, from `hack/tools.sh apt`) for e2e tests:
//! it listens on 127.0.0.1 only, keeps its TSDB in the test's scratch directory, scrapes the
//! shared controller every second and evaluates a test copy of the committed alert rules.
//!
//! The process runs behind a `sh` that kills it (by its pid) when its stdin closes: when the
//! [`Prometheus`] is dropped, or when the test binary exits however it exits. It never outlives
//! the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::{json, Value};

use crate::auditor::free_port;
use crate::ctx::POLL;

/// The scrape job name: what `ProvenanceAuditorDown` (`job=~".*provenance-auditor.*"`) expects.
pub const JOB: &str = "provenance-auditor";

/// A running Prometheus.
pub struct Prometheus {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
    // Closing this pipe makes the wrapper kill Prometheus.
    stdin: Option<tokio::process::ChildStdin>,
    wrapper: tokio::process::Child,
}

/// A copy of a rule file (YAML) with every rule's `for:` replaced by `hold`, written as JSON
/// (which is YAML). Returns the copy and the names of the alerts whose `for:` changed. Nothing
/// else changes: expressions, labels and annotations are the committed ones.
pub fn rules_with_short_for(yaml: &str, hold: &str) -> Result<(String, Vec<String>)> {
    let mut rules: Value = serde_saphyr::from_str(yaml).context("parsing the rule file")?;
    let mut changed = vec![];
    let groups = rules["groups"]
        .as_array_mut()
        .context("the rule file has no `groups` list")?;
    for group in groups {
        let list = group["rules"]
            .as_array_mut()
            .context("a rule group has no `rules` list")?;
        for rule in list {
            if let Some(f) = rule.get_mut("for") {
                *f = json!(hold);
                changed.push(rule["alert"].as_str().unwrap_or("?").to_string());
            }
        }
    }
    Ok((serde_json::to_string_pretty(&rules)?, changed))
}

impl Prometheus {
    /// Starts Prometheus in `dir` (created) scraping `target` (`http://host:port` serving
    /// `/metrics`) every second and evaluating `rules` (a file) every second; waits until it is
    /// ready and has scraped the target once.
    pub async fn start(dir: &Path, target: &str, rules: &Path) -> Result<Prometheus> {
        let port = free_port()?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let host = target
            .strip_prefix("http://")
            .context("the scrape target must be an http:// URL")?
            .trim_end_matches('/');
        let config = dir.join("prometheus.yml");
        let cfg = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [rules],
            "scrape_configs": [{
                "job_name": JOB, "metrics_path": "/metrics",
                "static_configs": [{"targets": [host]}],
            }],
        });
        std::fs::write(&config, serde_json::to_string_pretty(&cfg)?)?;
        let log = dir.join("prometheus.log");
        let logf = std::fs::File::create(&log)?;
        // `read` returns when our end of stdin closes (drop, or this process exiting).
        let mut wrapper = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & pid=$!; read _; kill $pid; wait $pid"#)
            .arg("prometheus")
            .arg("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1d")
            .stdin(Stdio::piped())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .context("starting /usr/bin/prometheus (installed by `hack/tools.sh apt`)")?;
        let stdin = wrapper.stdin.take();
        let p = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            log,
            stdin,
            wrapper,
        };
        p.wait_ready(Duration::from_secs(60)).await?;
        p.wait_for(
            "the first scrape of the controller",
            Duration::from_secs(30),
            || async {
                let up = p.query(&format!("up{{job=\"{JOB}\"}} == 1")).await?;
                Ok((!result(&up).is_empty()).then_some(()))
            },
        )
        .await?;
        Ok(p)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/-/ready", self.url);
        loop {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "Prometheus at {} not ready after {timeout:?}; log:\n{}",
                self.url,
                self.log_tail(40)
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// `GET /api/v1/<path>` with query parameters; the response's `data`, or an error naming
    /// Prometheus's `errorType`/`error` when `status` is not `success`.
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/{path}", self.url), params)?;
        let bytes = reqwest::get(url.clone())
            .await
            .with_context(|| format!("GET {url}"))?
            .bytes()
            .await?;
        let body: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("GET {url}: not JSON: {}", String::from_utf8_lossy(&bytes)))?;
        if body["status"] != "success" {
            bail!(
                "GET {url}: status {} ({}: {})",
                body["status"],
                body["errorType"],
                body["error"]
            );
        }
        Ok(body["data"].clone())
    }

    /// An instant query (`/api/v1/query`): its `data` (`resultType` and `result`).
    pub async fn query(&self, expr: &str) -> Result<Value> {
        self.api("query", &[("query", expr)])
            .await
            .with_context(|| format!("query {expr}"))
    }

    /// Every alert Prometheus holds (`/api/v1/alerts`), pending or firing.
    pub async fn alerts(&self) -> Result<Vec<Value>> {
        let data = self.api("alerts", &[]).await?;
        Ok(data["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Polls `probe` every [`POLL`] until it returns `Some`, or fails after `timeout` with the
    /// last error and Prometheus's log tail.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, probe: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match probe().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => String::from("not yet"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what} (last: {last}); Prometheus log:\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last `n` lines of Prometheus's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops Prometheus and waits until it has exited (dropping it only starts the stop).
    pub async fn stop(mut self) -> Result<()> {
        self.stdin.take();
        tokio::time::timeout(Duration::from_secs(30), self.wrapper.wait())
            .await
            .context("Prometheus did not stop within 30s")??;
        Ok(())
    }
}

/// `data.result` of a query answer as a list: the series of a vector or matrix, or the one
/// `[time, value]` of a scalar or string; empty for no data.
pub fn result(data: &Value) -> Vec<Value> {
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => data["result"].as_array().cloned().unwrap_or_default(),
        Some(_) => vec![data["result"].clone()],
        None => vec![],
    }
}
