//! What a first run says: every source Flux does not verify, listed (`no-verify`, info: it fails
//! nothing), how many there are, and the `ProvenancePolicy` that would require them to be
//! verified — one per publisher (registry host and owner), since each signs with its own
//! identity.

use std::collections::BTreeMap;

use super::discover::{Declared, Transport};
use super::finding::{rules, Finding};

/// A publisher's unverified sources and the policy suggested for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// `host/owner`.
    pub publisher: String,
    /// How many unverified declarations it has.
    pub sources: usize,
    /// The policy, as YAML.
    pub policy: String,
}

/// `no-verify` for each declaration in `unverified` (indices into `sources`), and the policies
/// suggested for them, most sources first.
pub fn check(sources: &[Declared], unverified: &[usize]) -> (Vec<Finding>, Vec<Suggestion>) {
    let mut by_publisher: BTreeMap<String, usize> = BTreeMap::new();
    for &i in unverified {
        if let Some(p) = publisher(&sources[i].url) {
            *by_publisher.entry(p).or_default() += 1;
        }
    }
    let suggestions: BTreeMap<String, Suggestion> = by_publisher
        .iter()
        .map(|(p, n)| {
            (
                p.clone(),
                Suggestion {
                    publisher: p.clone(),
                    sources: *n,
                    policy: policy_for(p),
                },
            )
        })
        .collect();
    let findings = unverified
        .iter()
        .map(|&i| &sources[i])
        .filter(|d| d.transport != Transport::Http)
        .map(|d| {
            let fix = match publisher(&d.url).and_then(|p| suggestions.get(&p)) {
                Some(s) => format!(
                    "require verification of {}'s artifacts with a policy (fill in the identity `provenance-auditor verify {}:<tag>` reports), then add the spec.verify lint suggests:\n{}",
                    s.publisher, d.url, s.policy
                ),
                None => "add a spec.verify naming who signs this artifact".into(),
            };
            Finding::error(
                rules::NO_VERIFY,
                d.at(""),
                d.display(),
                format!(
                    "no spec.verify{}: Flux applies whatever is pushed to {}",
                    d.via
                        .as_ref()
                        .map(|v| format!(" (declared through {v})"))
                        .unwrap_or_default(),
                    if d.url.is_empty() { "its repository" } else { &d.url }
                ),
                fix,
            )
            .info()
        })
        .collect();
    let mut ordered: Vec<Suggestion> = suggestions.into_values().collect();
    ordered.sort_by(|a, b| {
        b.sources
            .cmp(&a.sources)
            .then(a.publisher.cmp(&b.publisher))
    });
    (findings, ordered)
}

/// `host/owner` of `oci://host/owner/…`.
fn publisher(url: &str) -> Option<String> {
    let rest = url.strip_prefix("oci://")?;
    let mut parts = rest.split('/');
    let host = parts.next().filter(|h| !h.is_empty())?;
    let owner = parts.next().filter(|o| !o.is_empty())?;
    Some(format!("{host}/{owner}"))
}

fn policy_for(publisher: &str) -> String {
    let (host, owner) = publisher.split_once('/').unwrap_or((publisher, ""));
    let name: String = format!("signed-{}-{owner}", host.split('.').next().unwrap_or(host))
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let identity = if host == "ghcr.io" {
        format!(
            "      - issuer: '^https://token\\.actions\\.githubusercontent\\.com$'\n        subject: '^https://github\\.com/{}/<repository>/\\.github/workflows/<workflow>\\.ya?ml@refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+$'",
            escape(owner)
        )
    } else {
        "      - issuer: '<issuer regex>'\n        subject: '<subject regex>'".into()
    };
    format!(
        "apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nmetadata:\n  name: {name}\nspec:\n  match:\n    kinds: [OCIRepository, HelmChart]\n    urlRegex: '^oci://{}/'\n  requireSourceVerify: true\n  verify:\n    matchOIDCIdentity:\n{identity}",
        escape(publisher)
    )
}

/// `s` with the characters Go and Rust regexes both treat as operators escaped (and no others,
/// so that the policy reads as written).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r".+*?()[]{}|^$\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_per_publisher_covers_its_urls() {
        assert_eq!(
            publisher("oci://ghcr.io/acme/charts/app").as_deref(),
            Some("ghcr.io/acme")
        );
        assert_eq!(publisher("oci://localhost:5000"), None);
        assert_eq!(publisher("https://charts.example"), None);
        let p = policy_for("ghcr.io/bjw-s-labs");
        assert!(p.contains("name: signed-ghcr-bjw-s-labs"), "{p}");
        let spec: serde_json::Value = serde_saphyr::from_str(&p).unwrap();
        let re = regex::Regex::new(spec["spec"]["match"]["urlRegex"].as_str().unwrap()).unwrap();
        assert!(re.is_match("oci://ghcr.io/bjw-s-labs/helm/app-template"));
        assert!(!re.is_match("oci://ghcr.io/bjw-s-labs-evil/x"));
        assert!(
            !re.is_match("oci://ghcrxio/bjw-s-labs/x"),
            "the dot is escaped"
        );
        assert!(
            p.contains(r"urlRegex: '^oci://ghcr\.io/bjw-s-labs/'"),
            "{p}"
        );
    }
}
