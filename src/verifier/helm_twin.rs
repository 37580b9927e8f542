//! The OCI twin of an HTTP chart: many publishers push the same chart version to an OCI
//! registry too, signed with cosign. Where the HelmRepository names that registry (annotation
//! [`OCI_MIRROR_ANNOTATION`]), the auditor looks for `<mirror>/<chart>:<version>`, compares its
//! chart layer's digest with the package judged (the layer *is* the `.tgz`, so equal digests are
//! identical bytes), and counts the cosign signatures on it. What it finds is a note in
//! `fluxCompatibility` (code `OciTwin`): the user can move the HelmChart to the OCI source and
//! let Flux enforce `spec.verify`. It never changes the verdict, and a twin that cannot be read
//! is simply not reported.

use serde::Deserialize;

use super::mode::Verifier;
use crate::engine::flux_compat::CompatNote;
use crate::registry::{DiscoverOptions, ImageRef};

/// The HelmRepository annotation naming the OCI registry path where the same charts are
/// published: `oci://host/path` (a chart `<name>` then is `oci://host/path/<name>:<version>`).
pub const OCI_MIRROR_ANNOTATION: &str = "provenance.dev/oci-mirror";

/// The media type of a Helm chart's layer in an OCI artifact.
const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

impl Verifier {
    /// The `OciTwin` note for `chart` `version` whose package is `package_digest`, if the
    /// mirror holds that version (see the module docs).
    pub(super) async fn oci_twin(
        &self,
        mirror: &str,
        chart: &str,
        version: &str,
        package_digest: &str,
    ) -> Option<CompatNote> {
        let base = mirror.trim_start_matches("oci://").trim_end_matches('/');
        // OCI tags cannot hold `+`: Helm pushes it as `_`.
        let reference = format!("{base}/{chart}:{}", version.replace('+', "_"));
        let image: ImageRef = reference.parse().ok()?;
        let tag = image.tag.clone()?;
        let fetched = self
            .registry
            .get_manifest(&image.registry, &image.repository, &tag)
            .await;
        let (digest, _, bytes) = match fetched {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(reference, error = %e, "the OCI twin of an HTTP chart could not be read");
                return None;
            }
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).ok()?;
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == HELM_CHART_LAYER)?;
        let at = format!("oci://{reference} ({digest})");
        if layer.digest != package_digest {
            return Some(note(format!(
                "{at} holds another package for this version (chart layer {}, this one \
                 {package_digest}): not the same chart",
                layer.digest
            )));
        }
        let discovery = self
            .registry
            .discover_with(
                &image.registry,
                &image.repository,
                &digest,
                DiscoverOptions::default(),
            )
            .await
            .ok()?;
        let n = discovery.bundles.len() + discovery.legacy.len();
        Some(note(if n == 0 {
            format!("the same package is published at {at}, unsigned there too")
        } else {
            format!(
                "the same package is published at {at} with {n} cosign signature(s): move the \
                 HelmChart to an OCI HelmRepository for it and Flux can enforce spec.verify"
            )
        }))
    }
}

fn note(message: String) -> CompatNote {
    CompatNote {
        code: "OciTwin",
        message,
    }
}
