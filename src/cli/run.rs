//! `provenance-auditor run`: the controller. Flags only; the work is in [`crate::controller`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::duration::parse_duration;
use super::{EXIT_ERROR, EXIT_VERIFIED};
use crate::controller::{ReportFormat, RunOptions};
use crate::registry::BudgetSpec;

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig file (default: in-cluster, else $KUBECONFIG / ~/.kube/config).
    #[arg(long, value_name = "FILE", env = "KUBECONFIG_AUDITOR")]
    pub kubeconfig: Option<PathBuf>,
    /// Re-audit every source this often even if nothing changed (e.g. 1h, 10m, 30s).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Registry verifications running at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Registry verifications running at once against any one registry.
    #[arg(long, default_value_t = 4)]
    pub registry_concurrency: usize,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub metrics_addr: SocketAddr,
    /// Hold a Lease before writing, so that only one replica audits.
    #[arg(long, default_value_t = false)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = "provenance-system")]
    pub leader_election_namespace: String,
    /// Timeout of each registry request.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub registry_timeout: Duration,
    /// How often to check the Secrets that sources and policies name for changes (one
    /// metadata GET each, from the API server's cache), so a rotated key re-audits its sources
    /// without waiting for the resync. 0s turns it off.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub secret_poll_interval: Duration,
    /// Check every verdict (Verified included) against the registry again at least this often,
    /// so a deleted signature or a changed referrer set shows up. Negative verdicts are
    /// re-checked sooner: after --min-recheck-delay, then doubling, up to the resync interval.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub reverify_interval: Duration,
    /// The first re-check of a negative verdict (Unsigned, KeyMismatch, Attested=False, …)
    /// comes this long after it was found, then after as long as it has held so far: how soon
    /// an artifact signed or attested after its audit turns Verified (under 1s counts as 1s).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub min_recheck_delay: Duration,
    /// Namespace of the Secret holding the key that seals SourceAudit statuses: the
    /// controller's own namespace.
    #[arg(long, env = "POD_NAMESPACE", default_value = "provenance-system")]
    pub verdict_key_namespace: String,
    /// Name of that Secret; created with a random key when absent. Without it statuses are
    /// neither sealed nor read back (every restart re-verifies every source).
    #[arg(long, default_value = crate::verifier::seal::DEFAULT_SECRET)]
    pub verdict_key_secret: String,
    /// Audit only the sources this label selector selects, like Flux's flag of the same name
    /// (e.g. `sharding.fluxcd.io/key=shard1`, or `!sharding.fluxcd.io/key` for the unsharded
    /// rest): one release per shard, see docs/sharding.md.
    #[arg(long, value_name = "SELECTOR")]
    pub watch_label_selector: Option<String>,
    /// Audit only the sources of these namespaces (comma-separated; default: all).
    #[arg(long, value_name = "NS,...", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
    /// Name of the leader-election Lease (default: provenance-auditor, and for a shard that name
    /// with a hash of its selector and namespaces, so shards never share a Lease).
    #[arg(long, value_name = "NAME")]
    pub leader_election_id: Option<String>,
    /// Test only: replace the cloud endpoints (STS, ECR, metadata server, Entra ID, …) with
    /// emulators on loopback; every URL in the file must be a loopback address (docs/cloud.md).
    #[arg(long, hide = true, value_name = "FILE")]
    pub cloud_endpoints_file: Option<PathBuf>,
    /// Post every verdict change to Flux's notification-controller at this URL (its event
    /// endpoint, e.g. http://notification-controller.flux-system.svc.cluster.local./), as a
    /// Flux event about the source, for existing Alerts to forward (docs/notifications.md).
    #[arg(long, value_name = "URL")]
    pub flux_notification_url: Option<String>,
    /// Write policy reports for dashboards such as Policy Reporter: one per namespace,
    /// openreports (openreports.io Report), policyreport (wgpolicyk8s.io PolicyReport) or none.
    #[arg(long, default_value = "none", value_parser = ["openreports", "policyreport", "none"])]
    pub reports: String,
    /// A registry's request budget, HOST=N/WINDOW (e.g. docker.io=80/6h; repeat the flag or
    /// comma-separate for several registries): at most N manifest GETs in any WINDOW, what
    /// Docker Hub counts as pulls (100 per 6 hours for an anonymous IP; leave headroom for
    /// source-controller, which pulls from the same IP). A re-check that would pass it keeps
    /// its last verdict as Verified=Unknown/RecheckOverdue until there is room; new sources and
    /// new revisions are always checked first. The count starts afresh when the controller
    /// restarts.
    #[arg(long = "registry-budget", value_name = "HOST=N/WINDOW", value_delimiter = ',', value_parser = parse_budget)]
    pub registry_budgets: Vec<BudgetSpec>,
}

/// `HOST=N/WINDOW`, e.g. `docker.io=80/6h`.
pub fn parse_budget(s: &str) -> Result<BudgetSpec, String> {
    let bad =
        || format!("invalid registry budget {s:?} (expected HOST=N/WINDOW, e.g. docker.io=80/6h)");
    let (host, rest) = s.trim().split_once('=').ok_or_else(bad)?;
    let (limit, window) = rest.split_once('/').ok_or_else(bad)?;
    let host = host.trim();
    let plausible = !host.is_empty()
        && host.len() <= 259
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    if !plausible {
        return Err(bad());
    }
    let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
    let window = parse_duration(window)?;
    if limit == 0 || window.is_zero() {
        return Err(format!(
            "registry budget {s:?}: the limit and the window must be above zero"
        ));
    }
    Ok(BudgetSpec {
        host: host.to_ascii_lowercase(),
        limit,
        window,
    })
}

/// Runs the controller until SIGTERM/SIGINT.
pub async fn run(args: RunArgs) -> u8 {
    let reports = match ReportFormat::parse(&args.reports) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("provenance-auditor run: {e}");
            return EXIT_ERROR;
        }
    };
    let opts = RunOptions {
        kubeconfig: args.kubeconfig,
        resync: args.resync_interval,
        concurrency: args.concurrency,
        registry_concurrency: args.registry_concurrency,
        metrics_addr: args.metrics_addr,
        leader_elect: args.leader_elect,
        leader_election_namespace: args.leader_election_namespace,
        registry_timeout: args.registry_timeout,
        secret_poll_interval: args.secret_poll_interval,
        reverify: args.reverify_interval,
        min_recheck_delay: args.min_recheck_delay,
        verdict_key_namespace: args.verdict_key_namespace,
        verdict_key_secret: args.verdict_key_secret,
        watch_label_selector: args.watch_label_selector,
        watch_namespaces: args.watch_namespaces,
        leader_election_id: args.leader_election_id,
        cloud_endpoints_file: args.cloud_endpoints_file,
        flux_notification_url: args.flux_notification_url,
        reports,
        registry_budgets: args.registry_budgets,
    };
    match crate::controller::run(opts).await {
        Ok(()) => EXIT_VERIFIED,
        Err(e) => {
            eprintln!("provenance-auditor run: {e}");
            EXIT_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_as_the_docs_spell_them() {
        assert_eq!(
            parse_budget("docker.io=80/6h"),
            Ok(BudgetSpec {
                host: "docker.io".into(),
                limit: 80,
                window: Duration::from_secs(6 * 3600),
            })
        );
        assert_eq!(
            parse_budget(" 127.0.0.1:5000=3/90s ").map(|b| (b.host, b.limit)),
            Ok(("127.0.0.1:5000".into(), 3))
        );
        for bad in [
            "docker.io",
            "docker.io=80",
            "=80/6h",
            "docker.io=x/6h",
            "docker.io=80/soon",
            "docker.io=0/6h",
            "docker.io=5/0s",
            "a b=1/1h",
            "evil\"=1/1h",
        ] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }
}
