//! A real Prometheus scrapes the controller: the committed alerts fire for an unsigned source,
//! a source signed with the wrong key, a source whose registry is unreachable and a signed
//! source without the SLSA provenance its policy requires, never for a verified one; and every
//! query of the Grafana dashboard returns data from that Prometheus.
//!
//! Prometheus evaluates a TEST COPY of `config/prometheus/rules.yaml`, made by parsing the file
//! and rewriting it. The only change: every `for:` is shortened to [`HOLD`] (15 and 30 minutes
//! would not fit in a test). Expressions, labels and annotations are the committed ones.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::prometheus::{result, rules_with_short_for, Prometheus};
use provenance_e2e::{has_cond, repo_root, run, Ctx, AUDIT, FLUX};
use serde_json::{json, Value};

/// Every alert's `for:` in the test copy of the rules.
const HOLD: &str = "5s";
/// From a verdict to its alert firing: scrape (1 s) + evaluation (1 s) + HOLD, with slack.
const FIRE: Duration = Duration::from_secs(60);
/// What `$__rate_interval` stands for: Grafana's rule (at least four scrape intervals), with
/// room for the controller's 10 s resync to have moved every counter inside the window.
const RATE_INTERVAL: &str = "1m";

const DASHBOARD: &str = "config/grafana/provenance-auditor.json";

/// An OCIRepository on a registry port nobody listens on. It is suspended and its status is
/// written here (as if Flux had fetched it before the registry went away), so the auditor has
/// a digest to verify and every request it makes fails: `RegistryUnavailable`, and
/// `provenance_registry_requests_total{code="error"}` for the registry-errors panel.
async fn unreachable_source(ctx: &Ctx, name: &str) -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("oci://127.0.0.1:{port}/{}/{name}", ctx.ns);
    let spec = json!({"url": url, "ref": {"tag": "v1"}, "interval": "10m", "suspend": true, "insecure": true});
    ctx.apply("OCIRepository", name, spec).await?;
    let now = "2026-01-01T00:00:00Z";
    let digest = format!("sha256:{}", "1".repeat(64));
    let status = json!({"status": {
        "observedGeneration": 1,
        "artifact": {"revision": format!("v1@{digest}"), "digest": digest,
                     "path": "p.tar.gz", "url": "http://127.0.0.1/p.tar.gz", "lastUpdateTime": now},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored",
                        "lastTransitionTime": now, "observedGeneration": 1}],
    }});
    ctx.api("OCIRepository")
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await?;
    Ok(())
}

/// (alertname, source name) of the alerts in `state` about the test namespace.
async fn alerts_in(prom: &Prometheus, ns: &str, state: &str) -> Result<BTreeSet<(String, String)>> {
    Ok(prom
        .alerts()
        .await?
        .iter()
        .filter(|a| a["labels"]["namespace"] == ns && a["state"] == state)
        .map(|a| {
            let l = &a["labels"];
            (
                l["alertname"].as_str().unwrap_or_default().to_string(),
                l["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Waits until Prometheus says `alert` fires for source `name` of kind OCIRepository with
/// `reason`, and checks its severity and runbook.
async fn wait_firing(
    prom: &Prometheus,
    ns: &str,
    alert: &str,
    name: &str,
    reason: &str,
    severity: &str,
) -> Result<()> {
    let what = format!("{alert} firing for {ns}/{name}");
    let a = prom
        .wait_for(&what, FIRE, || async {
            Ok(prom.alerts().await?.into_iter().find(|a| {
                let l = &a["labels"];
                a["state"] == "firing"
                    && l["alertname"] == alert
                    && l["namespace"] == ns
                    && l["name"] == name
            }))
        })
        .await?;
    let l = &a["labels"];
    ensure!(
        l["kind"] == "OCIRepository" && l["reason"] == reason && l["severity"] == severity,
        "{alert} for {name}: labels {l}"
    );
    ensure!(
        a["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|u| u == format!("docs/alerts.md#{}", alert.to_lowercase())),
        "{alert}: annotations {}",
        a["annotations"]
    );
    Ok(())
}

/// Prometheus loaded every committed alert, with the committed labels, and a hold of [`HOLD`]
/// exactly where the committed rule has a `for:`.
async fn loaded_rules_are_the_committed_ones(prom: &Prometheus, committed: &str) -> Result<()> {
    let committed: Value = serde_saphyr::from_str(committed)?;
    let hold: f64 = HOLD.trim_end_matches('s').parse()?;
    let mut expected: Vec<(String, f64, Value)> = committed["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            let hold = if r.get("for").is_some() { hold } else { 0.0 };
            (
                r["alert"].as_str().unwrap_or_default().to_string(),
                hold,
                r["labels"].clone(),
            )
        })
        .collect();
    let loaded = prom.api("rules", &[("type", "alert")]).await?;
    let mut loaded: Vec<(String, f64, Value)> = loaded["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            (
                name,
                r["duration"].as_f64().unwrap_or(-1.0),
                r["labels"].clone(),
            )
        })
        .collect();
    // The API lists groups in its own order.
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    loaded.sort_by(|a, b| a.0.cmp(&b.0));
    ensure!(
        expected.len() == 12 && loaded == expected,
        "Prometheus loaded {loaded:?}, the committed rules are {expected:?}"
    );
    Ok(())
}

/// What the overview panels must show for this namespace's five sources (verified, unsigned,
/// mismatch, offline, noprov; only `verified` has Flux's own `spec.verify`; only `noprov` has a
/// policy requiring an attestation, which it lacks): (panel, refId, value).
const EXPECTED: &[(&str, &str, f64)] = &[
    ("Sources audited", "A", 5.0),
    ("Verified", "A", 2.0),
    ("Not verified", "A", 3.0),
    ("Signature mismatches", "A", 1.0),
    ("Flux says verified, audit fails", "A", 0.0),
    ("spec.verify required but missing", "A", 0.0),
    ("Flux agreement", "A", 1.0),
    ("Flux agreement", "B", 0.0),
    ("Flux agreement", "C", 1.0),
    ("Flux agreement", "D", 4.0),
    ("Required attestations missing or failing", "A", 1.0),
    ("Attested (required and verified)", "A", 0.0),
];

/// The per-source table's main query joins the signer onto the verdict: one row per source,
/// with its reason, and the key found on the two signed ones (`key sha256:<fingerprint>` for
/// the expected key, `key with hint <hint>` for another).
fn table_rows_carry_reason_and_signer(data: &Value) -> Result<()> {
    let rows: BTreeSet<(String, String, bool)> = result(data)
        .iter()
        .map(|r| {
            let m = &r["metric"];
            let signer = m["signer"].as_str().unwrap_or_default();
            (
                m["name"].as_str().unwrap_or_default().to_string(),
                m["reason"].as_str().unwrap_or_default().to_string(),
                signer.starts_with("key "),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, bool)> = [
        ("verified", "Verified", true),
        ("noprov", "Verified", true),
        ("unsigned", "Unsigned", false),
        // Signed by a key, just not the expected one: the key found is still named.
        ("mismatch", "KeyMismatch", true),
        ("offline", "RegistryUnavailable", false),
    ]
    .into_iter()
    .map(|(n, r, k)| (n.to_string(), r.to_string(), k))
    .collect();
    ensure!(
        rows == expected,
        "per-source table rows (name, reason, signed by a key): {rows:?}; {data}"
    );
    Ok(())
}

/// The values of an instant query's answer (vector or scalar).
fn sample_values(data: &Value) -> Vec<f64> {
    let value = |v: &Value| {
        v[1].as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let scalar = data["resultType"] == "scalar";
    result(data)
        .iter()
        .map(|r| if scalar { value(r) } else { value(&r["value"]) })
        .collect()
}

/// Every panel of a dashboard, rows' nested panels included.
fn all_panels(panels: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

/// A panel query as Grafana would send it for this test namespace.
fn substitute(expr: &str, ns: &str) -> String {
    expr.replace("$namespace", ns)
        .replace("${namespace}", ns)
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
}

/// The dashboard parses; every panel has a title, and every panel that is not a row has at
/// least one target with an expression. Returns (panel title, refId, expression) of each.
fn dashboard_queries() -> Result<Vec<(String, String, String)>> {
    let path = repo_root().join(DASHBOARD);
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    ensure!(
        vars.contains(&"datasource") && vars.contains(&"namespace"),
        "template variables: {vars:?}"
    );
    let mut queries = vec![];
    let panels = all_panels(&dash["panels"]);
    ensure!(!panels.is_empty(), "the dashboard has no panels");
    for p in panels {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        ensure!(!title.trim().is_empty(), "a panel without a title: {p}");
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        ensure!(!targets.is_empty(), "panel {title:?} has no target");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default().to_string();
            ensure!(
                !expr.trim().is_empty(),
                "panel {title:?}: a target without expr: {t}"
            );
            let ref_id = t["refId"].as_str().unwrap_or_default().to_string();
            queries.push((title.clone(), ref_id, expr));
        }
    }
    Ok(queries)
}

#[tokio::test]
async fn alerts_fire_in_a_real_prometheus_and_every_dashboard_query_has_data() {
    run("prometheus", |ctx| async move {
        // Fails fast on a broken dashboard, before the slow part.
        let queries = dashboard_queries()?;
        let metrics_url = ctx.auditor().await?;
        let committed = std::fs::read_to_string(repo_root().join("config/prometheus/rules.yaml"))?;
        let (rules, shortened) = rules_with_short_for(&committed, HOLD)?;
        ensure!(
            shortened.iter().any(|a| a == "ProvenanceSourceNotVerified"),
            "no `for:` was shortened on ProvenanceSourceNotVerified: {shortened:?}"
        );
        let rules_file = ctx.path("rules.test.yaml");
        std::fs::write(&rules_file, rules)?;
        let prom = Prometheus::start(&ctx.path("prometheus"), &metrics_url, &rules_file).await?;
        eprintln!(
            "[e2e] Prometheus at {} (log {})",
            prom.url,
            prom.log.display()
        );
        loaded_rules_are_the_committed_ones(&prom, &committed).await?;

        let (key, pubkey) = ctx.keygen("signer").await?;
        let (other_key, _) = ctx.keygen("other").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let result = scenario(&ctx, &prom, &queries, &key, &other_key).await;
        prom.stop().await?;
        result
    })
    .await;
}

async fn scenario(
    ctx: &Ctx,
    prom: &Prometheus,
    queries: &[(String, String, String)],
    key: &std::path::Path,
    other_key: &std::path::Path,
) -> Result<()> {
    let ns = ctx.ns.as_str();
    ctx.flux_source("verified", Some(key), Some("cosign-pub"))
        .await?;
    ctx.flux_source("unsigned", None, None).await?;
    ctx.flux_source("mismatch", Some(other_key), None).await?;
    unreachable_source(ctx, "offline").await?;
    // Signed with the expected key and carrying an SBOM, but not the SLSA provenance a second
    // policy requires of it.
    let digest = ctx.flux_source("noprov", Some(key), None).await?;
    let sbom = sigstore_forge::predicates::spdx(2);
    ctx.cosign_attest(key, "spdxjson", &sbom, "bundle", "noprov", &digest)
        .await?;
    let mut provenance = ctx.key_policy("cosign-pub");
    provenance["match"]["names"] = json!(["noprov"]);
    provenance["attestations"] = json!([{"predicateType": "https://slsa.dev/provenance/v1"}]);
    ctx.policy(&format!("{ns}-provenance"), provenance).await?;
    ctx.wait_audit(
        "ocirepository-noprov",
        AUDIT,
        "Verified, Attested=False/AttestationMissing",
        |a| {
            a.is_some_and(|a| {
                has_cond(a, "Verified", "True", Some("Verified"))
                    && has_cond(a, "Attested", "False", Some("AttestationMissing"))
            })
        },
    )
    .await?;
    for (name, status, reason) in [
        ("verified", "True", "Verified"),
        ("unsigned", "False", "Unsigned"),
        ("mismatch", "False", "KeyMismatch"),
        ("offline", "Unknown", "RegistryUnavailable"),
    ] {
        ctx.wait_audit(&format!("ocirepository-{name}"), AUDIT, reason, |a| {
            a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
        })
        .await?;
    }
    // The verified source also has Flux's own check, so the flux-agrees series exists.
    ctx.wait_audit("ocirepository-verified", FLUX, "FluxAgrees=True", |a| {
        a.is_some_and(|a| has_cond(a, "FluxAgrees", "True", None))
    })
    .await?;

    let verdicts = Instant::now();
    for (alert, name, reason, severity) in [
        (
            "ProvenanceSourceNotVerified",
            "unsigned",
            "Unsigned",
            "warning",
        ),
        (
            "ProvenanceSignatureMismatch",
            "mismatch",
            "KeyMismatch",
            "critical",
        ),
        (
            "ProvenanceRegistryUnreachable",
            "offline",
            "RegistryUnavailable",
            "warning",
        ),
        (
            "ProvenanceAttestationMissing",
            "noprov",
            "AttestationMissing",
            "warning",
        ),
    ] {
        wait_firing(prom, ns, alert, name, reason, severity).await?;
        eprintln!(
            "[e2e] {alert} firing for {name} {:?} after the last verdict",
            verdicts.elapsed()
        );
    }

    // Exactly these alerts about the namespace, and the verified source has never had one,
    // not even pending, over the whole run.
    let expected: BTreeSet<(String, String)> = [
        ("ProvenanceSourceNotVerified", "unsigned"),
        ("ProvenanceSignatureMismatch", "mismatch"),
        ("ProvenanceRegistryUnreachable", "offline"),
        ("ProvenanceAttestationMissing", "noprov"),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_string(), n.to_string()))
    .collect();
    let firing = alerts_in(prom, ns, "firing").await?;
    ensure!(firing == expected, "firing alerts about {ns}: {firing:?}");
    let pending = alerts_in(prom, ns, "pending").await?;
    ensure!(pending.is_empty(), "pending alerts about {ns}: {pending:?}");
    let ever = prom
        .query(&format!(
            "count_over_time(ALERTS{{namespace=\"{ns}\",name=\"verified\"}}[1h])"
        ))
        .await?;
    ensure!(
        result(&ever).is_empty(),
        "the verified source had alerts: {ever}"
    );
    let down = prom
        .query("ALERTS{alertname=\"ProvenanceAuditorDown\"}")
        .await?;
    ensure!(result(&down).is_empty(), "ProvenanceAuditorDown: {down}");

    // The namespace variable's query lists the test namespace.
    let namespaces = prom
        .api(
            "label/namespace/values",
            &[("match[]", "provenance_source_verified")],
        )
        .await?;
    ensure!(
        namespaces
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == ns)),
        "label_values(provenance_source_verified, namespace): {namespaces}"
    );

    let mut bad = vec![];
    for (title, ref_id, expr) in queries {
        let q = substitute(expr, ns);
        let data = prom
            .query(&q)
            .await
            .with_context(|| format!("panel {title:?} target {ref_id}"))?;
        let values = sample_values(&data);
        if title == "Sources" && ref_id == "A" {
            table_rows_carry_reason_and_signer(&data)?;
        }
        eprintln!("[e2e] panel {title:?} {ref_id}: {values:?}");
        let expected = EXPECTED
            .iter()
            .find(|(t, r, _)| t == title && r == ref_id)
            .map(|(_, _, v)| *v);
        if values.is_empty() {
            bad.push(format!("{title:?} {ref_id} has no data: {q}"));
        } else if values.iter().any(|v| !v.is_finite()) {
            bad.push(format!(
                "{title:?} {ref_id} is not a number {values:?}: {q}"
            ));
        } else if expected.is_some_and(|e| values != [e]) {
            bad.push(format!(
                "{title:?} {ref_id} is {values:?}, expected {expected:?}: {q}"
            ));
        }
    }
    ensure!(bad.is_empty(), "dashboard queries:\n{}", bad.join("\n"));
    Ok(())
}
