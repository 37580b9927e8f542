//! `http-chart`: a chart from an HTTP HelmRepository. Flux verifies charts only from OCI
//! HelmRepositories (an HTTP one fails `spec.verify` with `ChartVerificationError`), so such a
//! chart is never "verified", whatever a policy requires: reported, never silently met.

use super::super::discover::{Declared, Transport};
use super::super::finding::{rules, Finding};
use super::policy::Covering;

/// `http-chart` for one declaration: an error when a policy requires verification or the chart
/// asks for it, else an info (the inventory).
pub fn check(d: &Declared, covering: &[Covering]) -> Vec<Finding> {
    if d.transport != Transport::Http {
        return vec![];
    }
    let fix = "publish the chart to an OCI registry and point a HelmRepository of type oci at it, then sign it with cosign and add spec.verify";
    let from = format!("this chart comes from the HTTP HelmRepository {}", d.url);
    let requiring: Vec<&Covering> = covering
        .iter()
        .filter(|c| c.policy.spec.require_source_verify)
        .collect();
    if let Some(c) = requiring.first() {
        let names: Vec<&str> = requiring.iter().map(|c| c.policy.name.as_str()).collect();
        let f = Finding::error(
            rules::HTTP_CHART,
            d.at(""),
            d.display(),
            format!(
                "policy {} requires spec.verify, but {from}: Flux cannot verify a chart from an HTTP repository{}",
                names.join(", "),
                c.assumed.map(|a| format!(" ({a})")).unwrap_or_default()
            ),
            fix,
        );
        return vec![if requiring.iter().all(|c| c.assumed.is_some()) {
            f.warning()
        } else {
            f
        }];
    }
    if d.source.verify.is_some() {
        return vec![Finding::error(
            rules::HTTP_CHART,
            d.at(""),
            d.display(),
            format!("spec.verify is set, but {from}: source-controller fails verification of HTTP charts (ChartVerificationError) and the chart is never fetched"),
            fix,
        )];
    }
    vec![Finding::error(
        rules::HTTP_CHART,
        d.at(""),
        d.display(),
        format!("{from}: Flux cannot verify who published it"),
        fix,
    )
    .info()]
}
