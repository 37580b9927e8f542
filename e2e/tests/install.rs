//! The install artefacts (issue 5) against the real local stack: the Helm chart as rendered by
//! real helm and the kustomize tree `config/default`, applied server-side by real kubectl to the
//! stack's kube-apiserver. The stack has no kubelet or scheduler, so the Deployments never get
//! pods; the controller runs out of cluster instead, with a token of the chart's ServiceAccount,
//! which proves the chart's RBAC is enough for it, and SelfSubjectAccessReviews prove it is no
//! broader. Its own test binary: it runs a controller that must not overlap with `controller.rs`'s.

use std::time::Duration;

use anyhow::{ensure, Context as _};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use provenance_e2e::install::{
    apply_server_side, can_i, client_from_kubeconfig, install_chart, install_crds, kinds_and_names,
    kubectl_admin, rendered_kinds_and_names, token_kubeconfig, uninstall_cluster_scoped, Access,
    Release,
};
use provenance_e2e::{free_port, has_cond, prepare, repo_root, run, wait_ready, AUDIT};
use serde_json::{json, Value};

fn args_of(deployment: &Value) -> Vec<String> {
    deployment
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn chart_with_every_optional_feature_is_accepted_by_the_api_server() {
    run("install-chart-apply", |ctx| async move {
        let (_, fullname) = Release::names(&ctx);
        let release = install_chart(&ctx).await;
        let result = async {
            let release = release?;
            // The stored Deployment, as the API server defaulted and validated it.
            let d = release.object("Deployment")?;
            let pod = &d["spec"]["template"]["spec"];
            let c = &pod["containers"][0];
            ensure!(d["spec"]["replicas"] == 2, "replicas {}", d["spec"]["replicas"]);
            let args = args_of(d);
            for want in [
                "--leader-elect",
                "--leader-election-namespace=$(POD_NAMESPACE)",
                "--metrics-addr=0.0.0.0:8080",
            ] {
                ensure!(args.iter().any(|a| a == want), "{want} missing from {args:?}");
            }
            let env = c["env"].as_array().cloned().unwrap_or_default();
            for (name, field) in [
                ("POD_NAME", "metadata.name"),
                ("POD_NAMESPACE", "metadata.namespace"),
            ] {
                ensure!(
                    env.iter().any(|e| e["name"] == name
                        && e["valueFrom"]["fieldRef"]["fieldPath"] == field),
                    "{name} is not the downward API's {field}: {env:?}"
                );
            }
            let sc = &c["securityContext"];
            ensure!(
                sc["readOnlyRootFilesystem"] == true
                    && sc["allowPrivilegeEscalation"] == false
                    && sc["capabilities"]["drop"] == json!(["ALL"]),
                "container securityContext {sc}"
            );
            let psc = &pod["securityContext"];
            ensure!(
                psc["runAsNonRoot"] == true && psc["seccompProfile"]["type"] == "RuntimeDefault",
                "pod securityContext {psc}"
            );
            ensure!(
                c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                    && c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                    && c["resources"]["limits"]["memory"].is_string()
                    && c["resources"]["requests"]["cpu"].is_string(),
                "probes/resources {c}"
            );
            // The Lease Role is namespaced to the release, and grants nothing but Leases.
            let role = release
                .objects
                .iter()
                .find(|o| {
                    o["kind"] == "Role"
                        && o["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.ends_with("-leader-election"))
                })
                .context("no leader-election Role")?;
            // The verdict key's Role reads and updates that one Secret, by name.
            let key_role = release
                .objects
                .iter()
                .find(|o| {
                    o["kind"] == "Role"
                        && o["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.ends_with("-verdict-key"))
                })
                .context("no verdict-key Role")?;
            ensure!(
                key_role["rules"][0]["verbs"] == json!(["get", "update"])
                    && key_role["rules"][0]["resourceNames"].as_array().map(Vec::len) == Some(1),
                "verdict-key Role rules {}",
                key_role["rules"]
            );
            ensure!(role["metadata"]["namespace"] == ctx.ns.as_str(), "{role}");
            ensure!(
                role["rules"] == json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]),
                "lease Role rules {}",
                role["rules"]
            );
            // The PrometheusRule: rules.yaml's twelve alerts, with runbooks under the values' base.
            let rule = release.object("PrometheusRule")?;
            let alerts: Vec<&Value> = rule["spec"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            ensure!(alerts.len() == 12, "{} alerts: {}", alerts.len(), rule["spec"]);
            for a in &alerts {
                let name = a["alert"].as_str().unwrap_or_default().to_lowercase();
                ensure!(
                    a["annotations"]["runbook_url"]
                        == format!("https://runbooks.example.com/provenance-auditor#{name}").as_str(),
                    "runbook of {name}: {}",
                    a["annotations"]["runbook_url"]
                );
            }
            let sm = release.object("ServiceMonitor")?;
            ensure!(
                sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
                    && sm["spec"]["endpoints"][0]["port"] == "metrics",
                "ServiceMonitor {}",
                sm["spec"]
            );
            let np = release.object("NetworkPolicy")?;
            ensure!(
                np["spec"]["ingress"].as_array().map(Vec::len) == Some(1)
                    && np["spec"]["ingress"][0]["ports"] == json!([{"port": "metrics", "protocol": "TCP"}]),
                "NetworkPolicy ingress {}",
                np["spec"]["ingress"]
            );
            let cm = release.object("ConfigMap")?;
            ensure!(
                cm["metadata"]["labels"]["grafana_dashboard"] == "1",
                "{}",
                cm["metadata"]
            );
            let dashboard: Value = serde_json::from_str(
                cm["data"]["provenance-auditor.json"].as_str().unwrap_or_default(),
            )
            .context("the dashboard ConfigMap holds no JSON")?;
            ensure!(dashboard["panels"].is_array(), "dashboard {dashboard}");
            Ok(())
        }
        .await;
        uninstall_cluster_scoped(&ctx, &fullname).await;
        result
    })
    .await;
}

// --- the chart's RBAC runs the controller ---------------------------------------------------

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

/// Everything the controller does must be allowed, each in the narrowest form it is used.
fn needed(ns: &str) -> Vec<Access<'_>> {
    let a = |verb, group, resource, namespace| Access {
        verb,
        group,
        resource,
        namespace,
    };
    let flux = "source.toolkit.fluxcd.io";
    vec![
        a("list", flux, "ocirepositories", None),
        a("watch", flux, "ocirepositories", None),
        a("list", flux, "helmcharts", None),
        a("watch", flux, "helmcharts", None),
        a("get", flux, "helmrepositories", Some(ns)),
        // Secrets by name in any namespace (a policy's key Secret may live anywhere).
        a("get", "", "secrets", Some(ns)),
        a("get", "", "secrets", Some("kube-system")),
        a("get", "", "serviceaccounts", Some(ns)),
        // Namespaces' labels (a policy's namespaceSelector), from a metadata-only watch.
        a("get", "", "namespaces", None),
        a("list", "", "namespaces", None),
        a("watch", "", "namespaces", None),
        a("create", "provenance.dev", "sourceaudits", Some(ns)),
        a("patch", "provenance.dev", "sourceaudits/status", Some(ns)),
        a("delete", "provenance.dev", "sourceaudits", Some(ns)),
        a("watch", "provenance.dev", "provenancepolicies", None),
        a("patch", "provenance.dev", "provenancepolicies/status", None),
        a("create", "", "events", Some(ns)),
        a("patch", "events.k8s.io", "events", Some(ns)),
        a("get", "coordination.k8s.io", "leases", Some(ns)),
        a("create", "coordination.k8s.io", "leases", Some(ns)),
        a("update", "coordination.k8s.io", "leases", Some(ns)),
    ]
}

/// What the controller never needs, and so must be denied.
fn not_needed(ns: &str) -> Vec<Access<'_>> {
    let a = |verb, group, resource, namespace| Access {
        verb,
        group,
        resource,
        namespace,
    };
    let flux = "source.toolkit.fluxcd.io";
    vec![
        // It never writes to Flux objects.
        a("patch", flux, "ocirepositories", Some(ns)),
        a("update", flux, "ocirepositories", Some(ns)),
        a("update", flux, "ocirepositories/status", Some(ns)),
        a("delete", flux, "ocirepositories", Some(ns)),
        a("patch", flux, "helmcharts", Some(ns)),
        a("create", flux, "helmrepositories", Some(ns)),
        // Nor to anything else of the cluster's.
        a("create", "apps", "deployments", Some(ns)),
        a("get", "", "configmaps", Some(ns)),
        a("list", "", "configmaps", None),
        // Secrets are read by name only: a list or watch would expose every Secret's data.
        a("list", "", "secrets", None),
        a("list", "", "secrets", Some(ns)),
        a("watch", "", "secrets", None),
        a("watch", "", "secrets", Some(ns)),
        a("list", "", "serviceaccounts", None),
        a("watch", "", "serviceaccounts", Some(ns)),
        a("list", flux, "helmrepositories", None),
        a("create", "", "secrets", Some(ns)),
        a("update", "", "secrets", Some(ns)),
        a("delete", "", "secrets", Some(ns)),
        a("create", "", "serviceaccounts/token", Some(ns)),
        a("create", "", "pods", Some(ns)),
        a("create", "", "pods/exec", Some(ns)),
        a("update", "", "namespaces", None),
        a("delete", "", "events", Some(ns)),
        a("create", "provenance.dev", "provenancepolicies", None),
        a("update", "provenance.dev", "provenancepolicies", None),
        a("delete", "provenance.dev", "provenancepolicies", None),
        // Leases only in its own namespace, and never deleted.
        a("update", "coordination.k8s.io", "leases", Some("default")),
        a(
            "create",
            "coordination.k8s.io",
            "leases",
            Some("kube-system"),
        ),
        a(
            "get",
            "coordination.k8s.io",
            "leases",
            Some("provenance-system"),
        ),
        a("delete", "coordination.k8s.io", "leases", Some(ns)),
        // No way to more rights.
        a(
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
        ),
        a("bind", "rbac.authorization.k8s.io", "clusterroles", None),
        a("impersonate", "", "serviceaccounts", None),
        a("*", "*", "*", None),
    ]
}

#[tokio::test]
async fn chart_rbac_is_enough_to_audit_and_no_broader() {
    run("install-chart-rbac", |ctx| async move {
        let (_, fullname) = Release::names(&ctx);
        let release = install_chart(&ctx).await;
        let policy = format!("{}-keys", ctx.ns);
        let result = async {
            release?;
            let kubeconfig = ctx.path("chart-sa.kubeconfig");
            token_kubeconfig(&ctx.stack, &ctx.client, &ctx.ns, &fullname, &kubeconfig).await?;
            let sa = client_from_kubeconfig(&kubeconfig).await?;
            let me = Api::<SelfSubjectReview>::all(sa.clone())
                .create(&PostParams::default(), &Default::default())
                .await?;
            let user = me
                .status
                .and_then(|s| s.user_info)
                .and_then(|u| u.username)
                .unwrap_or_default();
            ensure!(
                user == format!("system:serviceaccount:{}:{fullname}", ctx.ns),
                "the token authenticates as {user:?}"
            );

            // The controller, out of cluster, as the chart's ServiceAccount, leading in the
            // release namespace as the chart's Deployment would.
            let stack = ctx.stack.clone();
            let bin = tokio::task::spawn_blocking(move || prepare(&stack)).await??;
            let port = free_port()?;
            let log = ctx
                .stack
                .dir
                .join("logs")
                .join(format!("provenance-auditor-{}.log", ctx.ns));
            let logf = std::fs::File::create(&log)?;
            let mut child = tokio::process::Command::new(bin)
                .arg("run")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                // No resync within the test: only the Secret poll can notice the key rotation
                // below, with the chart's RBAC (get on Secrets, no list or watch).
                .args(["--resync-interval", "1h", "--secret-poll-interval", "2s"])
                .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
                .args(["--leader-elect", "--leader-election-namespace", &ctx.ns])
                .env("POD_NAME", "install-e2e")
                .env("RUST_LOG", "info,provenance_auditor=debug")
                .stdout(logf.try_clone()?)
                .stderr(logf)
                .kill_on_drop(true)
                .spawn()
                .context("starting provenance-auditor")?;
            let audited = async {
                // It leads with the chart's Lease Role: the Lease appears in the release namespace.
                let leases = Api::<Lease>::namespaced(ctx.client.clone(), &ctx.ns);
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                loop {
                    let lease = leases.get_opt("provenance-auditor").await?;
                    let holder = lease.and_then(|l| l.spec).and_then(|s| s.holder_identity);
                    if holder.as_deref() == Some("install-e2e") {
                        break;
                    }
                    ensure!(
                        std::time::Instant::now() < deadline,
                        "no Lease held by install-e2e in {} (holder {holder:?}); log:\n{}",
                        ctx.ns,
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    tokio::time::sleep(provenance_e2e::POLL).await;
                }
                wait_ready(
                    &format!("http://127.0.0.1:{port}/readyz"),
                    Duration::from_secs(60),
                    &log,
                )
                .await?;

                let (key, pubkey) = ctx.keygen("signer").await?;
                ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
                ctx.policy(
                    &policy,
                    json!({
                        "match": {"namespaces": [ctx.ns]},
                        "verify": {"provider": "cosign", "secretRef": {"namespace": ctx.ns, "name": "cosign-pub"}},
                    }),
                )
                .await?;
                ctx.flux_source("signed", Some(&key), None).await?;
                ctx.flux_source("unsigned", None, None).await?;
                ctx.wait_audit("ocirepository-signed", AUDIT, "Verified=True", |a| {
                    verified(a, "True", "Verified")
                })
                .await?;
                ctx.wait_audit("ocirepository-unsigned", AUDIT, "Verified=False/Unsigned", |a| {
                    verified(a, "False", "Unsigned")
                })
                .await?;
                // Events are written with the chart's rights too.
                let deadline = std::time::Instant::now() + AUDIT;
                while !ctx.events_for("unsigned").await?.iter().any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.reason.as_deref() == Some("ProvenanceUnsigned")
                }) {
                    ensure!(
                        std::time::Instant::now() < deadline,
                        "no Warning/ProvenanceUnsigned event on OCIRepository unsigned"
                    );
                    tokio::time::sleep(provenance_e2e::POLL).await;
                }
                // The key Secret rotated to another key: the poll sees its new resourceVersion
                // and re-audits the source that the policy naming it matches.
                let (_, other) = ctx.keygen("other").await?;
                ctx.secret("cosign-pub", &[("cosign.pub", &other)]).await?;
                ctx.wait_audit(
                    "ocirepository-signed",
                    AUDIT,
                    "Verified=False/KeyMismatch after the key Secret changed",
                    |a| verified(a, "False", "KeyMismatch"),
                )
                .await?;
                // An RBAC refusal reads `… is forbidden: User "system:serviceaccount:…" cannot …`
                // (unlike the 403 for a namespace being deleted, which other tests' leftovers
                // may cause and which is not about rights).
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                ensure!(
                    !log_text.contains("is forbidden: User"),
                    "the controller was refused something: see {}",
                    log.display()
                );
                Ok(())
            }
            .await;
            child.start_kill()?;
            let _ = child.wait().await;
            audited?;

            // No broader than that.
            let mut wrong = vec![];
            for a in needed(&ctx.ns) {
                if !can_i(&sa, a).await? {
                    wrong.push(format!("denied but needed: {a}"));
                }
            }
            for a in not_needed(&ctx.ns) {
                if can_i(&sa, a).await? {
                    wrong.push(format!("allowed but not needed: {a}"));
                }
            }
            ensure!(wrong.is_empty(), "the chart's RBAC for {user}:\n{}", wrong.join("\n"));
            Ok(())
        }
        .await;
        uninstall_cluster_scoped(&ctx, &fullname).await;
        result
    })
    .await;
}

// --- config/default --------------------------------------------------------------------------

/// The objects `config/default` must install (kustomize output, `Kind/name`).
const DEFAULT_OBJECTS: [&str; 13] = [
    "ClusterRole/provenance-auditor",
    "ClusterRoleBinding/provenance-auditor",
    "CustomResourceDefinition/provenancepolicies.provenance.dev",
    "CustomResourceDefinition/sourceaudits.provenance.dev",
    "Deployment/provenance-auditor",
    "Namespace/provenance-system",
    "Role/provenance-auditor-leader-election",
    "Role/provenance-auditor-verdict-key",
    "RoleBinding/provenance-auditor-leader-election",
    "RoleBinding/provenance-auditor-verdict-key",
    "Secret/provenance-auditor-verdict-key",
    "Service/provenance-auditor-metrics",
    "ServiceAccount/provenance-auditor",
];

#[tokio::test]
async fn config_default_is_accepted_by_the_api_server_with_and_without_its_components() {
    run("install-kustomize", |ctx| async move {
        let built = kubectl_admin(&ctx.stack, &["kustomize", "config/default"]).await?;
        let objects = rendered_kinds_and_names(&built);
        ensure!(
            objects == DEFAULT_OBJECTS,
            "kubectl kustomize config/default: {objects:?}"
        );
        let applied = apply_server_side(&ctx.stack, &["-k", "config/default"]).await?;
        ensure!(
            kinds_and_names(&applied) == DEFAULT_OBJECTS,
            "stored {:?}",
            kinds_and_names(&applied)
        );
        for o in &applied {
            let ns = o["metadata"]["namespace"].as_str();
            let cluster = matches!(
                o["kind"].as_str(),
                Some("Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition")
            );
            ensure!(
                cluster || ns == Some("provenance-system"),
                "{} {} in namespace {ns:?}",
                o["kind"],
                o["metadata"]["name"]
            );
        }

        // The optional components, as a user's overlay would add them.
        install_crds(&ctx.stack).await?;
        let overlay = ctx.path("overlay");
        std::fs::create_dir_all(&overlay)?;
        // Kustomize takes no absolute paths: reach config/ from the overlay through "/".
        let up = "../".repeat(overlay.components().count() - 1);
        let config = format!("{up}{}", repo_root().join("config").display()).replace("//", "/");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {config}/default\ncomponents:\n  - {config}/prometheus\n  - {config}/grafana\n"
            ),
        )?;
        let result = async {
            let with = apply_server_side(&ctx.stack, &["-k", overlay.to_str().unwrap()]).await?;
            let names = kinds_and_names(&with);
            for want in [
                "ConfigMap/provenance-auditor-dashboard",
                "PrometheusRule/provenance-auditor",
                "ServiceMonitor/provenance-auditor",
            ] {
                ensure!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
            }
            let rule = with.iter().find(|o| o["kind"] == "PrometheusRule").unwrap();
            let runbooks: Vec<&str> = rule["spec"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .filter_map(|r| r["annotations"]["runbook_url"].as_str())
                .collect();
            ensure!(
                runbooks.len() == 12 && runbooks.iter().all(|u| u.starts_with("https://")),
                "runbook URLs {runbooks:?}"
            );
            Ok(())
        }
        .await;
        // provenance-system and config/rbac belong to the stack; remove only what was added.
        let _ = kubectl_admin(
            &ctx.stack,
            &[
                "-n",
                "provenance-system",
                "delete",
                "--ignore-not-found",
                "deployment/provenance-auditor",
                "service/provenance-auditor-metrics",
                "configmap/provenance-auditor-dashboard",
                "prometheusrule/provenance-auditor",
                "servicemonitor/provenance-auditor",
            ],
        )
        .await;
        result
    })
    .await;
}
