//! Support for the fault campaign (issue 9): sources read through a [`crate::proxy::FaultProxy`],
//! a recorder of every `Verified` verdict an audit shows while a fault is on, the metric series
//! behind the alert rules, and the alert rules' own reason lists (read from
//! `config/prometheus/rules.yaml`, so the tests follow the rules as committed).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::ctx::{Ctx, POLL};
use crate::fixtures::FLUX;
use crate::object::{condition, revision};
use crate::stack::repo_root;

/// Verdicts a registry fault must never produce: a decision about the artifact.
pub const DEFINITE_FROM_FAULT: [&str; 3] = ["Unsigned", "SignatureInvalid", "DigestMismatch"];

impl Ctx {
    /// Pushes `repo:v1` to the stack's registry and signs it (cosign, bundle format) with
    /// `sign_with` when given; returns the digest. No Flux object yet.
    pub async fn push_signed(&self, repo: &str, sign_with: Option<&Path>) -> Result<String> {
        let digest = self
            .push_artifact(repo, "v1", &self.artifact_dir(repo, repo)?)
            .await?;
        if let Some(key) = sign_with {
            self.sign(key, "bundle", repo, &digest).await?;
        }
        Ok(digest)
    }

    /// Applies an OCIRepository for `<registry>/<ns>/<repo>:v1`, `registry` being a `host:port`
    /// in front of the stack's registry (a fault proxy).
    pub async fn apply_source_via(&self, registry: &str, repo: &str) -> Result<()> {
        let mut spec = self.oci_spec(repo, None);
        spec["url"] = json!(format!("oci://{registry}/{}/{repo}", self.ns));
        self.apply("OCIRepository", repo, spec).await?;
        Ok(())
    }

    /// Waits until Flux has fetched `digest` for OCIRepository `repo`.
    pub async fn wait_flux_artifact(&self, repo: &str, digest: &str) -> Result<()> {
        self.wait_for("OCIRepository", repo, FLUX, "an artifact", |o| {
            revision(o).is_some_and(|r| r.ends_with(digest))
        })
        .await?;
        Ok(())
    }

    /// [`Ctx::push_signed`], [`Ctx::apply_source_via`] and [`Ctx::wait_flux_artifact`].
    pub async fn source_via(
        &self,
        registry: &str,
        repo: &str,
        sign_with: Option<&Path>,
    ) -> Result<String> {
        let digest = self.push_signed(repo, sign_with).await?;
        self.apply_source_via(registry, repo).await?;
        self.wait_flux_artifact(repo, &digest).await?;
        Ok(digest)
    }

    /// A suspended OCIRepository (source-controller leaves it alone) at `url` whose status the
    /// test writes, claiming Flux fetched `digest`: for registries Flux itself cannot reach
    /// (an unresolvable host, a TLS failure), whose audit is what the test is about.
    pub async fn written_source(&self, name: &str, url: &str, digest: &str) -> Result<()> {
        let spec = json!({"url": url, "ref": {"tag": "v1"}, "interval": "10m", "suspend": true});
        self.apply("OCIRepository", name, spec).await?;
        let now = "2026-01-01T00:00:00Z";
        let status = json!({"status": {
            "observedGeneration": 1,
            "artifact": {"revision": format!("v1@{digest}"), "digest": format!("sha256:{}", "0".repeat(64)),
                         "path": "p.tar.gz", "url": "http://127.0.0.1/p.tar.gz", "lastUpdateTime": now},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                            "message": "stored (written by the test)",
                            "lastTransitionTime": now, "observedGeneration": 1}],
        }});
        self.api("OCIRepository")
            .patch_status(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&status),
            )
            .await
            .with_context(|| format!("writing the status of OCIRepository {name}"))?;
        Ok(())
    }
}

/// Per audit name, its `Verified` (status, reason) in the order seen.
type Verdicts = BTreeMap<String, Vec<(String, String)>>;

/// Every distinct `Verified` (status, reason) each watched `SourceAudit` showed, in order,
/// polled every [`POLL`] from [`VerdictLog::start`] until dropped.
pub struct VerdictLog {
    seen: Arc<Mutex<Verdicts>>,
    task: tokio::task::JoinHandle<()>,
    names: Vec<String>,
}

async fn poll(ctx: &Ctx, names: &[String], seen: &Mutex<Verdicts>) {
    for n in names {
        if let Ok(Some(a)) = ctx.audit(n).await {
            if let Some(c) = condition(&a, "Verified") {
                let mut m = seen.lock().unwrap_or_else(|e| e.into_inner());
                let list = m.entry(n.clone()).or_default();
                let v = (c.status, c.reason);
                if list.last() != Some(&v) {
                    list.push(v);
                }
            }
        }
    }
}

impl Drop for VerdictLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VerdictLog {
    /// Starts polling the `SourceAudit`s named `audits` of the test's namespace.
    pub fn start(ctx: Arc<Ctx>, audits: &[&str]) -> VerdictLog {
        let seen: Arc<Mutex<Verdicts>> = Arc::default();
        let names: Vec<String> = audits.iter().map(|s| s.to_string()).collect();
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                poll(&ctx, &names, &shared).await;
                tokio::time::sleep(POLL).await;
            }
        });
        VerdictLog {
            seen,
            task,
            names: audits.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Polls once now, so what a test just waited for is in the log before it reads it.
    pub async fn poll_now(&self, ctx: &Ctx) {
        poll(ctx, &self.names, &self.seen).await;
    }

    /// The verdicts `audit` showed so far, as `Status/Reason`.
    pub fn seen(&self, audit: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(audit)
            .into_iter()
            .flatten()
            .map(|(s, r)| format!("{s}/{r}"))
            .collect()
    }

    /// Fails when any watched audit showed `Verified=False` (for a source signed with the
    /// policy's key, any False came from the fault).
    pub fn ensure_never_false(&self) -> Result<()> {
        let m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (audit, list) in m.iter() {
            if let Some((_, r)) = list.iter().find(|(s, _)| s == "False") {
                bail!("{audit} showed Verified=False/{r} (a definite verdict from a fault); all: {list:?}");
            }
        }
        Ok(())
    }
}

/// One sample of the metrics text: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the samples of a Prometheus/OpenMetrics text (comments skipped).
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_sample)
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some(Sample {
                name: n.to_string(),
                labels: BTreeMap::new(),
                value: v.split_whitespace().next()?.parse().ok()?,
            });
        }
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.char_indices().peekable();
    let end;
    loop {
        // key="value" pairs separated by ',' until '}'.
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c == '}' {
                break;
            }
            chars.next();
            if c != ',' && c != ' ' {
                key.push(c);
            }
        }
        if let (i, '}') = chars.next()? {
            end = i;
            break;
        }
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => val.push(chars.next()?.1),
                '"' => break,
                c => val.push(c),
            }
        }
        labels.insert(key, val);
    }
    let value = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The `provenance_source_verified` samples of source `ns/name`.
pub fn verified_samples(text: &str, ns: &str, name: &str) -> Vec<Sample> {
    samples(text)
        .into_iter()
        .filter(|s| {
            s.name == "provenance_source_verified"
                && s.labels.get("namespace").map(String::as_str) == Some(ns)
                && s.labels.get("name").map(String::as_str) == Some(name)
        })
        .collect()
}

/// The reasons alert `alert` of `config/prometheus/rules.yaml` fires on, for the rules of the
/// form `provenance_source_verified{reason=~"A|B"} == 0` (anything else is an error: the
/// test would no longer evaluate what the rule does).
pub fn alert_reasons(alert: &str) -> Result<Vec<String>> {
    let path = repo_root().join("config/prometheus/rules.yaml");
    let rules: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let expr = rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["alert"] == alert)
        .and_then(|r| r["expr"].as_str())
        .with_context(|| format!("no alert {alert} in {}", path.display()))?
        .trim()
        .to_string();
    let inner = expr
        .strip_prefix("provenance_source_verified{reason=~\"")
        .and_then(|s| s.strip_suffix("\"} == 0"))
        .with_context(|| {
            format!("{alert}'s expression changed shape ({expr:?}); update the fault campaign")
        })?;
    Ok(inner.split('|').map(str::to_string).collect())
}

/// Whether alert `reasons` (see [`alert_reasons`]) would hold for source `ns/name` on this
/// metrics text: a `provenance_source_verified` series with one of them and value 0.
pub fn alert_input(text: &str, ns: &str, name: &str, reasons: &[String]) -> bool {
    verified_samples(text, ns, name).iter().any(|s| {
        s.value == 0.0
            && s.labels
                .get("reason")
                .is_some_and(|r| reasons.iter().any(|x| x == r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_and_bare_samples() {
        let text = "# HELP x y\nprovenance_source_verified{kind=\"OCIRepository\",name=\"a\",namespace=\"n\",reason=\"RegistryUnavailable\"} 0\nup 1\nq{a=\"x\\\"y\",b=\"\"} 2.5 1700000000\n";
        let s = samples(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels["reason"], "RegistryUnavailable");
        assert_eq!(s[0].value, 0.0);
        assert_eq!(s[1].name, "up");
        assert_eq!(s[2].labels["a"], "x\"y");
        assert_eq!(s[2].value, 2.5);
        let reasons = vec!["RegistryUnavailable".to_string()];
        assert!(alert_input(text, "n", "a", &reasons));
        assert!(!alert_input(text, "n", "b", &reasons));
        assert!(!alert_input(text, "n", "a", &["Unsigned".to_string()]));
    }

    #[test]
    fn reads_the_committed_alert_reasons() {
        let r = alert_reasons("ProvenanceRegistryUnreachable").unwrap();
        assert!(r.contains(&"RegistryUnavailable".to_string()), "{r:?}");
        let m = alert_reasons("ProvenanceSignatureMismatch").unwrap();
        assert!(m.contains(&"SignatureInvalid".to_string()), "{m:?}");
        assert!(alert_reasons("NoSuchAlert").is_err());
    }
}
