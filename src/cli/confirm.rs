//! `provenance-auditor confirm`: the staged-rollout gate after switching on `spec.verify`.
//! Polls the selected Flux sources (and, with `--require-verified`, their `SourceAudit`s) every
//! second and feeds what it sees to the pure gate in [`crate::audit::confirm`], which decides.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::Client;

use super::duration::parse_duration;
use super::{EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_VERIFIED};
use crate::api::{SourceAudit, SourceAuditStatus, SourceKind};
use crate::audit::confirm::{fmt_duration, AuditSeen, Gate, Observation, Verdict};
use crate::audit::source::FluxSource;
use crate::cluster::{kube_client, source_resource};

/// How often the sources are looked at.
const POLL: Duration = Duration::from_secs(1);
/// How often progress is printed while waiting.
const PROGRESS: Duration = Duration::from_secs(5);

/// Flags of `confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the sources (default: the kubeconfig context's namespace, else `default`).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Label selector of the sources (e.g. `app=podinfo,tier!=canary`); default: all.
    #[arg(short = 'l', long, value_name = "S")]
    pub selector: Option<String>,
    /// Only this kind: OCIRepository or HelmChart (default: both).
    #[arg(long, value_name = "K", value_parser = parse_kind)]
    pub kind: Option<SourceKind>,
    /// How long every source must hold Ready=True, observed by confirm itself (e.g. 5m).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub hold: Duration,
    /// Give up (exit 2) after this long (e.g. 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Also require each source's SourceAudit to say Verified=True for its current revision.
    #[arg(long)]
    pub require_verified: bool,
}

/// `OCIRepository` / `HelmChart`, as kubectl spells them (any case, plural, `ocirepo`).
pub fn parse_kind(s: &str) -> Result<SourceKind, String> {
    match s.to_ascii_lowercase().as_str() {
        "ocirepository" | "ocirepositories" | "ocirepo" => Ok(SourceKind::OciRepository),
        "helmchart" | "helmcharts" => Ok(SourceKind::HelmChart),
        _ => Err(format!("{s:?} is not OCIRepository or HelmChart")),
    }
}

/// Runs `confirm`; returns the exit code.
pub async fn run(args: ConfirmArgs) -> u8 {
    match confirm(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("provenance-auditor confirm: {e}");
            EXIT_ERROR
        }
    }
}

async fn confirm(args: &ConfirmArgs) -> Result<u8, String> {
    if args.hold > args.timeout {
        return Err(format!(
            "--for {} can never be observed within --timeout {}",
            fmt_duration(args.hold),
            fmt_duration(args.timeout)
        ));
    }
    let client = kube_client(args.kubeconfig.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let kinds = match args.kind {
        Some(k) => vec![k],
        None => vec![SourceKind::OciRepository, SourceKind::HelmChart],
    };
    let started = Instant::now();
    let deadline = started + args.timeout;
    // The same deadline on the clock the gate measures holds with.
    let deadline_at = Timestamp::now()
        .checked_add(args.timeout)
        .unwrap_or(Timestamp::MAX);
    let mut gate = Gate::new(args.hold, args.require_verified);
    let mut last_progress: Option<Instant> = None;
    let mut first = true;
    let mut last = None;
    loop {
        match observe(&client, &ns, &kinds, args).await {
            // Nothing judged yet: an API error now is a configuration problem.
            Err(e) if first => return Err(e),
            // Later, a failed look is no observation: it must not look like the sources went.
            Err(e) => eprintln!("warning: {e} (retrying)"),
            Ok(observations) => {
                if first && observations.is_empty() {
                    return Err(nothing_selected(&ns, &kinds, args.selector.as_deref()));
                }
                first = false;
                // A look that ended after the deadline is judged as of the deadline: a hold
                // that completes only after --timeout is a timeout, not a confirmation (a poll
                // that wakes at the deadline used to pass `--for 6s --timeout 6s` by the
                // length of its own request).
                let report = gate.observe(Timestamp::now().min(deadline_at), &observations);
                match report.verdict() {
                    Verdict::Failed => {
                        for f in report.failures() {
                            println!("halted: {f}");
                        }
                        return Ok(EXIT_NOT_VERIFIED);
                    }
                    Verdict::Passed => {
                        let names: Vec<String> =
                            report.states.iter().map(|(id, _)| id.to_string()).collect();
                        println!(
                            "confirmed: {} source(s) held Ready{} for {}: {}",
                            names.len(),
                            if args.require_verified {
                                " and Verified"
                            } else {
                                ""
                            },
                            fmt_duration(args.hold),
                            names.join(", ")
                        );
                        return Ok(EXIT_VERIFIED);
                    }
                    Verdict::Pending => {}
                }
                if last_progress.is_none_or(|t: Instant| t.elapsed() >= PROGRESS) {
                    eprintln!(
                        "[{}] {}",
                        fmt_duration(started.elapsed()),
                        report.progress_line()
                    );
                    last_progress = Some(Instant::now());
                }
                last = Some(report);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            println!(
                "timed out after {}: not confirmed:",
                fmt_duration(args.timeout)
            );
            for u in last.iter().flat_map(|r| r.unconfirmed()) {
                println!("  {u}");
            }
            return Ok(EXIT_ERROR);
        }
        // The next look, not a decision: the gate decides from what it sees.
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

fn nothing_selected(ns: &str, kinds: &[SourceKind], selector: Option<&str>) -> String {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    format!(
        "no {} selected in namespace {ns}{}",
        kinds.join(" or "),
        selector
            .map(|s| format!(" by selector {s:?}"))
            .unwrap_or_default()
    )
}

/// The selected sources now (and their audits when required).
async fn observe(
    client: &Client,
    ns: &str,
    kinds: &[SourceKind],
    args: &ConfirmArgs,
) -> Result<Vec<Observation>, String> {
    let mut lp = ListParams::default();
    if let Some(s) = &args.selector {
        lp = lp.labels(s);
    }
    let audits = if args.require_verified {
        Some(audits(client, ns).await?)
    } else {
        None
    };
    let mut out = vec![];
    for &kind in kinds {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &source_resource(kind));
        let items = match api.list(&lp).await {
            Ok(l) => l.items,
            // Both kinds by default: a cluster without the HelmChart CRD has none of them.
            Err(kube::Error::Api(s)) if s.code == 404 && kinds.len() > 1 => continue,
            Err(e) => return Err(format!("listing {kind}s in {ns}: {e}")),
        };
        for mut obj in items {
            obj.types.get_or_insert_with(|| kube::core::TypeMeta {
                api_version: "source.toolkit.fluxcd.io/v1".into(),
                kind: kind.as_str().into(),
            });
            let source = FluxSource::from_dynamic(&obj).map_err(|e| {
                format!(
                    "cannot read {kind} {ns}/{}: {e}",
                    obj.metadata.name.as_deref().unwrap_or("?")
                )
            })?;
            let audit = match &audits {
                None => AuditSeen::NotRequired,
                Some(a) => match a.get(&crate::api::SourceAudit::name_for(kind, &source.name)) {
                    Some(status) => AuditSeen::Status(Box::new(status.clone())),
                    None => AuditSeen::Missing,
                },
            };
            out.push(Observation {
                observed_generation: obj
                    .data
                    .pointer("/status/observedGeneration")
                    .and_then(serde_json::Value::as_i64),
                source,
                audit,
            });
        }
    }
    Ok(out)
}

/// The `SourceAudit` statuses of a namespace, by name (an unreadable status reads as empty).
async fn audits(client: &Client, ns: &str) -> Result<BTreeMap<String, SourceAuditStatus>, String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<SourceAudit>(&()));
    let list = api.list(&ListParams::default()).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => {
            "--require-verified needs the SourceAudit CRD and the provenance-auditor controller: the CRD is not installed".to_string()
        }
        e => format!("listing SourceAudits in {ns}: {e}"),
    })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|a| {
            let name = a.metadata.name.clone()?;
            let status = a
                .data
                .get("status")
                .cloned()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default();
            Some((name, status))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_spelled_as_kubectl_does() {
        assert_eq!(parse_kind("OCIRepository"), Ok(SourceKind::OciRepository));
        assert_eq!(parse_kind("ocirepo"), Ok(SourceKind::OciRepository));
        assert_eq!(parse_kind("helmcharts"), Ok(SourceKind::HelmChart));
        assert!(parse_kind("GitRepository").is_err());
    }
}
