//! The Flux fixtures most scenarios start from: an artifact pushed as `<repo>:v1`, optionally
//! signed with a cosign key, fetched by an OCIRepository; and a key `ProvenancePolicy`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::object::{has_cond, revision};

/// source-controller's time to fetch an artifact.
pub const FLUX: Duration = Duration::from_secs(90);
/// The controller's bound for a verdict once Flux has the artifact (issue 4: 30 s).
pub const AUDIT: Duration = Duration::from_secs(30);

impl Ctx {
    /// The spec of an OCIRepository for `<registry>/<ns>/<repo>:v1`, with a key `spec.verify`
    /// reading Secret `verify_secret` when given.
    pub fn oci_spec(&self, repo: &str, verify_secret: Option<&str>) -> Value {
        let mut spec = json!({
            "url": self.oci_url(repo), "ref": {"tag": "v1"},
            "interval": "10m", "timeout": "30s", "insecure": true,
        });
        if let Some(s) = verify_secret {
            spec["verify"] = json!({"provider": "cosign", "secretRef": {"name": s}});
        }
        spec
    }

    /// Pushes `repo:v1`, signs it (cosign, bundle format) with `sign_with` when given, applies
    /// the OCIRepository and waits until Flux is Ready with that artifact; returns its digest.
    pub async fn flux_source(
        &self,
        repo: &str,
        sign_with: Option<&Path>,
        verify_secret: Option<&str>,
    ) -> Result<String> {
        let digest = self
            .push_artifact(repo, "v1", &self.artifact_dir(repo, repo)?)
            .await?;
        if let Some(key) = sign_with {
            self.sign(key, "bundle", repo, &digest).await?;
        }
        self.apply("OCIRepository", repo, self.oci_spec(repo, verify_secret))
            .await?;
        self.wait_for(
            "OCIRepository",
            repo,
            FLUX,
            "Ready with the artifact",
            |o| {
                revision(o).is_some_and(|r| r.ends_with(&digest))
                    && has_cond(o, "Ready", "True", None)
            },
        )
        .await?;
        Ok(digest)
    }

    /// Pushes chart `e2e-chart` 0.1.0 with helm to `<registry>/<ns>/charts`, signs it (cosign,
    /// bundle format) with `sign_with`, applies an OCI HelmRepository `charts` and a HelmChart
    /// `chart` verified with the key in Secret `verify_secret`, and waits until Flux has an
    /// artifact; returns the chart's digest.
    pub async fn flux_chart(&self, sign_with: &Path, verify_secret: &str) -> Result<String> {
        let chart = self.path("chart-e2e-chart");
        std::fs::create_dir_all(chart.join("templates"))?;
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: e2e-chart\nversion: 0.1.0\ndescription: e2e chart\ntype: application\n",
        )?;
        std::fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )?;
        let repo = format!("{}/{}/charts", self.stack.registry(), self.ns);
        let digest = self
            .script(
                "push-helm-chart.sh",
                &[&repo, chart.to_str().unwrap_or_default()],
            )
            .await?;
        self.sign(sign_with, "bundle", "charts/e2e-chart", &digest)
            .await?;
        self.apply(
            "HelmRepository",
            "charts",
            json!({"type": "oci", "url": format!("oci://{repo}"), "interval": "10m", "insecure": true}),
        )
        .await?;
        self.apply(
            "HelmChart",
            "chart",
            json!({
                "chart": "e2e-chart", "version": "0.1.0", "interval": "10m",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                "verify": {"provider": "cosign", "secretRef": {"name": verify_secret}},
            }),
        )
        .await?;
        self.wait_for("HelmChart", "chart", FLUX, "an artifact", |o| {
            revision(o).is_some()
        })
        .await?;
        Ok(digest)
    }

    /// A `ProvenancePolicy` spec covering exactly this test's namespace, requiring the key in
    /// Secret `secret` of that namespace.
    pub fn key_policy(&self, secret: &str) -> Value {
        json!({
            "match": {"namespaces": [self.ns]},
            "verify": {"provider": "cosign", "secretRef": {"namespace": self.ns, "name": secret}},
        })
    }
}
