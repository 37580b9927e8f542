//! A HelmChart from an HTTP Helm repository: its verdict from Helm provenance (`.prov`).
//!
//! The walk: the chart version and package digest Flux recorded (`status.artifact.revision`,
//! `.digest`) → the verdict cache (keyed by the repository, chart, version, that digest and
//! the policies' OpenPGP keyrings) → `index.yaml` with the HelmRepository's own credentials
//! (Flux's `secretRef`, `certSecretRef`, `passCredentials` rules) → the entry's package URL →
//! its `.prov` → [`crate::engine::helm::evaluate_prov`] per policy.
//!
//! Fail closed: every repository fault is `Unknown`; only a definite 404 on the `.prov`, with
//! the index listing the version and the package answering, is `Unsigned`. When Flux
//! repackaged the chart (it merges `valuesFiles` into it) its stored digest is not the
//! publisher's: the repository's package is downloaded and compared instead, and the message
//! says so.

use std::sync::Arc;
use std::time::Instant;

use super::cache::Lookup;
use super::creds::{CredentialError, HelmRepo};
use super::found::Found;
use super::mode::Verifier;
use super::pipeline::{cached, still_fresh};
use super::secret_cache::SecretData;
use crate::api::{SourceAuditStatus, VerdictCacheKey};
use crate::audit::attested::attest;
use crate::audit::decide::{combine, Decision};
use crate::audit::source::FluxSource;
use crate::audit::status::{Location, Outcome};
use crate::cluster::{self, time};
use crate::engine::helm::{evaluate_prov, Keyring, Package};
use crate::engine::{registry_verdict, Evaluation};
use crate::error::Error;
use crate::registry::{HelmRepoClient, HelmRepoOptions, RegistryError};
use crate::vocabulary::{self as vocab, reasons};

impl Verifier {
    /// The verdict of a chart from the HTTP repository `repo` (see the module docs).
    pub(super) async fn find_http_chart(
        &self,
        source: &FluxSource,
        repo: &HelmRepo,
        decision: &Decision,
        previous: Option<&SourceAuditStatus>,
        location: &mut Location,
    ) -> Result<Found, Error> {
        location.http_chart = true;
        location.url = Some(repo.url.clone());
        let unknown = |reason: &'static str, msg: String, digest: Option<String>| {
            Found::Outcome(Outcome::Unknown {
                judgement: vocab::verified_unknown(reason, msg),
                digest,
            })
        };
        let (Some(chart), Some(revision), Some(digest)) = (
            source.chart.as_ref(),
            source.artifact_revision.as_deref(),
            source.artifact_digest.clone(),
        ) else {
            return Ok(unknown(
                reasons::ARTIFACT_NOT_READY,
                format!(
                    "{} has no artifact (revision and digest) yet",
                    source.display()
                ),
                None,
            ));
        };
        let version = chart_version(revision, chart.has_values_files, source.generation);
        // Flux repackaged the chart (merged values files) exactly when it marked the revision.
        let repackaged = version != revision;
        let client = match self.helm_repo_client(source, repo).await {
            Ok(c) => c,
            Err(e) => return Ok(unknown(reasons::AUTHENTICATION_FAILED, e.to_string(), None)),
        };
        let host = client.url().host_str().unwrap_or_default().to_string();
        let key = VerdictCacheKey {
            registry: client
                .url()
                .port()
                .map_or(host.clone(), |p| format!("{host}:{p}")),
            repository: format!(
                "{}/{}:{version}",
                client.url().path().trim_matches('/'),
                chart.chart
            ),
            ..decision.cache_key(&digest)
        };
        let intervals = self.cache.intervals();
        let now = cluster::now().0.as_second();
        match self.cache.lookup(&key, now) {
            Lookup::Fresh(entry) => {
                self.cache_hit();
                return Ok(cached(entry, digest, key, now, intervals));
            }
            Lookup::Due(_) => {}
            Lookup::Miss => {
                if let Some(due) = previous.and_then(|p| still_fresh(p, &key, now, intervals)) {
                    self.cache_hit();
                    return Ok(Found::Scheduled(Outcome::Unchanged, due));
                }
            }
        }
        let _flight = self.cache.flight(&key).await;
        let now = cluster::now().0.as_second();
        if let Lookup::Fresh(entry) = self.cache.lookup(&key, now) {
            self.cache_hit();
            return Ok(cached(entry, digest, key, now, intervals));
        }
        let _permits = self.limits.acquire(&key.registry).await;
        let started = Instant::now();
        let fetched = fetch(&client, &chart.chart, &version, repackaged).await;
        let (package_url, prov, compared) = match fetched {
            Ok(f) => f,
            Err(e) => {
                let verdict = registry_verdict(&e);
                self.verification(verdict, started);
                return Ok(Found::Outcome(Outcome::Unknown {
                    judgement: verdict.judgement(e.to_string()),
                    digest: Some(digest),
                }));
            }
        };
        location.url = Some(package_url.to_string());
        let file_name = package_url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or_default()
            .to_string();
        let compared_digest = compared.as_deref().unwrap_or(&digest);
        let package = Package {
            file_name: &file_name,
            name: &chart.chart,
            version: &version,
            digest: compared_digest,
        };
        let checked = cluster::now().0.as_second();
        let mut evaluation = judge_prov(prov.as_deref(), &package, decision, checked);
        if let Some(mirror) = &repo.oci_mirror {
            let twin = self
                .oci_twin(mirror, &chart.chart, &version, compared_digest)
                .await;
            evaluation.flux_compatibility.extend(twin);
        }
        if let Some(d) = &compared {
            evaluation.message = format!(
                "{}; Flux repackaged the chart to merge valuesFiles (its artifact is {digest}): \
                 the .prov was compared with the repository's package ({d})",
                evaluation.message
            );
        }
        // HTTP repositories carry no attestations: a required one is missing, as a fact.
        evaluation.attested = Some(Box::new(attest(
            &crate::registry::Discovery::default(),
            &digest,
            decision,
        )));
        self.verification(evaluation.verdict, started);
        if evaluation.verdict.is_indeterminate() {
            return Ok(Found::Outcome(Outcome::Evaluated {
                digest,
                evaluation,
                key,
                checked: time(checked),
            }));
        }
        let entry = self.cache.insert(key.clone(), evaluation, checked);
        let due = entry.due_in(&key, checked, intervals);
        Ok(Found::Scheduled(
            Outcome::Evaluated {
                digest,
                evaluation: entry.evaluation,
                key,
                checked: time(checked),
            },
            due,
        ))
    }

    /// The repository client with the HelmRepository's credentials, as Flux builds them:
    /// `secretRef` `username`/`password` (and, deprecated, `certFile`/`keyFile`/`caFile`),
    /// `certSecretRef` `tls.crt`/`tls.key`/`ca.crt` (preferred for TLS), `passCredentials`.
    async fn helm_repo_client(
        &self,
        source: &FluxSource,
        repo: &HelmRepo,
    ) -> Result<HelmRepoClient, CredentialError> {
        let ns = &source.namespace;
        let mut opts = HelmRepoOptions {
            timeout: self.registry.options().timeout,
            pass_credentials: repo.pass_credentials,
            ..HelmRepoOptions::default()
        };
        let mut tls: Option<(String, Arc<SecretData>, [&str; 3])> = None;
        if let Some(name) = &repo.secret_ref {
            let data = self.secret_data(ns, name).await?;
            let secret = format!("{ns}/{name}");
            match (data.get("username"), data.get("password")) {
                (Some(u), Some(p)) => {
                    let text = |b: &Vec<u8>| String::from_utf8(b.clone());
                    opts.basic = Some(
                        text(u)
                            .and_then(|u| Ok((u, text(p)?)))
                            .map_err(|_| CredentialError::BadBasicAuth(secret.clone()))?,
                    );
                }
                (None, None) => {}
                _ => return Err(CredentialError::BadBasicAuth(secret.clone())),
            }
            tls = Some((secret, data, ["certFile", "keyFile", "caFile"]));
        }
        if let Some(name) = &repo.cert_secret_ref {
            let data = self.secret_data(ns, name).await?;
            tls = Some((
                format!("{ns}/{name}"),
                data,
                ["tls.crt", "tls.key", "ca.crt"],
            ));
        }
        if let Some((secret, data, [cert, key, ca])) = tls {
            opts.ca_pem = data.get(ca).cloned();
            match (data.get(cert), data.get(key)) {
                (Some(c), Some(k)) => opts.identity_pem = Some([c.as_slice(), b"\n", k].concat()),
                (None, None) => {}
                _ => return Err(CredentialError::BadClientCertificate(secret)),
            }
        }
        HelmRepoClient::new(&repo.url, opts).map_err(CredentialError::Client)
    }
}

/// What the repository answers for one chart version: the package URL, its `.prov` (`None`:
/// a definite 404 while the package answers), and the repository package's digest when it
/// must be compared instead of Flux's (a chart Flux repackaged).
async fn fetch(
    client: &HelmRepoClient,
    chart: &str,
    version: &str,
    repackaged: bool,
) -> Result<(reqwest::Url, Option<Vec<u8>>, Option<String>), RegistryError> {
    let entry = client.chart_entry(chart, version).await?;
    let prov = client.prov(&entry.url).await?;
    let compared = if repackaged {
        Some(client.package(&entry.url).await?.digest)
    } else {
        if prov.is_none() {
            client.package_exists(&entry.url).await?;
        }
        None
    };
    Ok((entry.url, prov, compared))
}

/// Every policy's OpenPGP keys against the `.prov` (all must be satisfied); without a
/// policy, who signed.
fn judge_prov(
    prov: Option<&[u8]>,
    package: &Package<'_>,
    decision: &Decision,
    now: i64,
) -> Evaluation {
    static NO_KEYS: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
    let policies = decision.openpgp_to_evaluate();
    if policies.is_empty() {
        return evaluate_prov(prov, package, None, now);
    }
    let none = NO_KEYS.get_or_init(Keyring::default);
    combine(
        policies
            .into_iter()
            .map(|(name, keys)| {
                (
                    name.to_string(),
                    evaluate_prov(prov, package, Some(keys.unwrap_or(none)), now),
                )
            })
            .collect(),
    )
}

/// The chart version of a revision: Flux appends `+<generation>` when it merged values files.
fn chart_version(revision: &str, has_values_files: bool, generation: Option<i64>) -> String {
    match (has_values_files, generation) {
        (true, Some(g)) => revision
            .strip_suffix(&format!("+{g}"))
            .unwrap_or(revision)
            .to_string(),
        _ => revision.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repackaged_revision_names_the_chart_version() {
        assert_eq!(chart_version("1.2.3+4", true, Some(4)), "1.2.3");
        assert_eq!(chart_version("1.2.3+4", false, Some(4)), "1.2.3+4");
        assert_eq!(chart_version("1.2.3+build", true, Some(4)), "1.2.3+build");
    }
}
