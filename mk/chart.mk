# The Helm chart (charts/provenance-auditor) and the kustomize tree (config/default).
# Helm reads nothing outside the chart directory, so what the chart shares with config/ is copied
# in by `chart-sync`; `chart-check` fails when a copy, a CRD or a version has drifted, and lints
# and renders the chart with its defaults and with every optional feature on.
CHART := charts/provenance-auditor
HELM ?= $(shell hack/tools.sh path helm)
# helm built by `go install` believes the cluster is v1.20 unless told; render for the stack's.
CHART_KUBE_VERSION ?= 1.36.3
CRATE_VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n1)
# source:copy pairs, copied verbatim.
CHART_COPIES := \
  config/prometheus/rules.yaml:$(CHART)/files/prometheus-rules.yaml \
  config/grafana/provenance-auditor.json:$(CHART)/files/grafana-dashboard.json \
  config/rbac/cluster_role.yaml:$(CHART)/files/cluster-role.yaml \
  config/reports/cluster_role.yaml:$(CHART)/files/reports-cluster-role.yaml \
  config/thirdparty/openreports/openreports.io_reports.yaml:$(CHART)/files/thirdparty/openreports.io_reports.yaml \
  config/thirdparty/openreports/openreports.io_clusterreports.yaml:$(CHART)/files/thirdparty/openreports.io_clusterreports.yaml \
  config/thirdparty/wgpolicyk8s/wgpolicyk8s.io_policyreports.yaml:$(CHART)/files/thirdparty/wgpolicyk8s.io_policyreports.yaml \
  config/thirdparty/wgpolicyk8s/wgpolicyk8s.io_clusterpolicyreports.yaml:$(CHART)/files/thirdparty/wgpolicyk8s.io_clusterpolicyreports.yaml
# The kustomize component's PrometheusRule: rules.yaml's groups, runbooks made absolute.
PROMETHEUS_RULE := config/prometheus/prometheus_rule.yaml
RUNBOOK_BASE := https://github.com/provenance-dev/provenance-auditor/blob/v$(CRATE_VERSION)/docs/alerts.md

# prometheus_rule: prints the PrometheusRule generated from config/prometheus/rules.yaml.
define prometheus_rule
{ printf '%s\n' \
  '# Generated from rules.yaml by `make chart-sync`: edit rules.yaml, never this file.' \
  'apiVersion: monitoring.coreos.com/v1' 'kind: PrometheusRule' 'metadata:' \
  '  name: provenance-auditor' '  namespace: provenance-system' '  labels:' \
  '    app.kubernetes.io/name: provenance-auditor' '    app.kubernetes.io/part-of: provenance-auditor' \
  'spec:'; \
  sed -n '/^groups:/,$$p' config/prometheus/rules.yaml | \
  sed -e 's|runbook_url: docs/alerts.md#|runbook_url: $(RUNBOOK_BASE)#|' -e 's/^/  /'; }
endef

.PHONY: chart-sync chart-check
chart-sync: crds ## regenerate the chart's CRDs and copied files, and config/prometheus/prometheus_rule.yaml
	@for pair in $(CHART_COPIES); do cp "$${pair%%:*}" "$${pair#*:}"; done
	@$(prometheus_rule) >$(PROMETHEUS_RULE)
	@echo "chart-sync: $(CHART) and $(PROMETHEUS_RULE) regenerated"

chart-check: crds-check ## helm lint (strict) and render; fail on drift of copies, CRDs or versions
	@test -x "$(HELM)" || { echo "helm not installed: run 'hack/tools.sh helm' (make tools)" >&2; exit 1; }
	@status=0; \
	for pair in $(CHART_COPIES); do \
	  diff -u "$${pair#*:}" "$${pair%%:*}" >&2 || { echo "chart-check: $${pair#*:} differs from $${pair%%:*}" >&2; status=1; }; \
	done; \
	$(prometheus_rule) | diff -u $(PROMETHEUS_RULE) - >&2 || { echo "chart-check: $(PROMETHEUS_RULE) differs from config/prometheus/rules.yaml" >&2; status=1; }; \
	if [ $$status -ne 0 ]; then echo "chart-check: copies drifted from their sources: run 'make chart-sync' and commit" >&2; exit 1; fi
	@app=$$(sed -n 's/^appVersion: "\(.*\)"$$/\1/p' $(CHART)/Chart.yaml); \
	[ "$$app" = "$(CRATE_VERSION)" ] || { echo "chart-check: $(CHART)/Chart.yaml appVersion $$app is not the crate version $(CRATE_VERSION)" >&2; exit 1; }; \
	grep -q "image: ghcr.io/provenance-dev/provenance-auditor:$(CRATE_VERSION)$$" config/manager/manager.yaml || \
	  { echo "chart-check: config/manager/manager.yaml's image tag is not the crate version $(CRATE_VERSION)" >&2; exit 1; }
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/all-features-values.yaml
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(HELM) template pa $(CHART) -n provenance-system --kube-version $(CHART_KUBE_VERSION) >"$$tmp/default.yaml" && \
	$(HELM) template pa $(CHART) -n provenance-system --kube-version $(CHART_KUBE_VERSION) \
	  -f $(CHART)/ci/all-features-values.yaml >"$$tmp/all.yaml" && \
	kinds() { grep '^kind: ' "$$1" | sort | uniq | tr '\n' ' '; } && \
	want_default="kind: ClusterRole kind: ClusterRoleBinding kind: Deployment kind: Role kind: RoleBinding kind: Secret kind: Service kind: ServiceAccount " && \
	want_all="kind: ClusterRole kind: ClusterRoleBinding kind: ConfigMap kind: Deployment kind: NetworkPolicy kind: PrometheusRule kind: Role kind: RoleBinding kind: Secret kind: Service kind: ServiceAccount kind: ServiceMonitor " && \
	[ "$$(kinds "$$tmp/default.yaml")" = "$$want_default" ] || { echo "chart-check: default values render [$$(kinds "$$tmp/default.yaml")], expected [$$want_default]" >&2; exit 1; }; \
	[ "$$(kinds "$$tmp/all.yaml")" = "$$want_all" ] || { echo "chart-check: all features render [$$(kinds "$$tmp/all.yaml")], expected [$$want_all]" >&2; exit 1; }; \
	! grep -q -- '--leader-election-id' "$$tmp/default.yaml" || { echo "chart-check: an unsharded release must keep the Lease provenance-auditor" >&2; exit 1; }; \
	$(HELM) template shard1 $(CHART) -n provenance-system --kube-version $(CHART_KUBE_VERSION) \
	  --set 'sharding.labelSelector=!sharding.fluxcd.io/key' --set 'sharding.namespaces={a,b}' >"$$tmp/shard.yaml" && \
	for arg in '"--watch-label-selector=!sharding.fluxcd.io/key"' '"--watch-namespaces=a,b"' '--leader-election-id=shard1-provenance-auditor'; do \
	  grep -qF -- "- $$arg" "$$tmp/shard.yaml" || { echo "chart-check: a shard's Deployment lacks $$arg" >&2; exit 1; }; done; \
	$(HELM) template pa $(CHART) -n provenance-system --kube-version $(CHART_KUBE_VERSION) \
	  --set reports.format=openreports --set reports.installCRDs=true \
	  --set fluxNotifications.url=http://notification-controller.flux-system.svc.cluster.local./ \
	  --set networkPolicy.enabled=true >"$$tmp/reports.yaml" && \
	for want in 'name: reports.openreports.io' 'name: clusterreports.openreports.io' 'helm.sh/resource-policy: keep' \
	  'name: pa-provenance-auditor-reports' '- openreports.io' '- --reports=openreports' \
	  '- "--flux-notification-url=http://notification-controller.flux-system.svc.cluster.local./"' 'app: notification-controller'; do \
	  grep -qF -- "$$want" "$$tmp/reports.yaml" || { echo "chart-check: reports and notifications on: no '$$want'" >&2; exit 1; }; done; \
	! grep -qF -- 'wgpolicyk8s.io' "$$tmp/reports.yaml" || { echo "chart-check: openreports grants or installs wgpolicyk8s.io" >&2; exit 1; }; \
	! grep -qF -- 'app: notification-controller' "$$tmp/all.yaml" || { echo "chart-check: notification egress without fluxNotifications.url" >&2; exit 1; }; \
	$(HELM) lint --strict $(CHART) --set reports.format=policyreport --set reports.installCRDs=true >/dev/null && \
	if $(HELM) template pa $(CHART) --kube-version $(CHART_KUBE_VERSION) --set reports.format=kyverno >/dev/null 2>&1; then \
	  echo "chart-check: reports.format=kyverno must be refused" >&2; exit 1; fi; \
	if $(HELM) template pa $(CHART) --kube-version $(CHART_KUBE_VERSION) --set leaderElection.enabled=false >/dev/null 2>&1; then \
	  echo "chart-check: two replicas without leader election must be refused" >&2; exit 1; fi; \
	echo "chart-check: $(CHART) lints clean and renders with default values and with every optional feature"
