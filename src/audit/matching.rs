//! Which `ProvenancePolicy` covers which source: every non-empty field of `spec.match` must
//! match (AND); within a list any entry may match (OR). Empty fields match everything.
//!
//! `urlRegex` is searched (unanchored, like Flux's regexes) in [`FluxSource::match_url`]: an
//! OCIRepository's URL, a HelmChart's `oci://<repository>/<chart>` (or its HTTP repository's
//! URL). A HelmChart whose HelmRepository has not been read is assumed covered.
//!
//! A match field that cannot be evaluated (bad regex, bad selector operator) matches nothing:
//! we cannot tell which sources the policy was meant for, and the policy's own status says it
//! is invalid ([`validate_match`]).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use regex::Regex;

use super::source::FluxSource;
use crate::api::{PolicyMatch, ProvenancePolicySpec};

/// Whether `policy` covers `source`, given the labels of the source's namespace.
pub fn matches(
    policy: &ProvenancePolicySpec,
    source: &FluxSource,
    namespace_labels: &BTreeMap<String, String>,
) -> bool {
    let m = &policy.match_;
    (m.kinds.is_empty() || m.kinds.contains(&source.kind))
        && (m.namespaces.is_empty() || m.namespaces.contains(&source.namespace))
        && selector_matches(m.namespace_selector.as_ref(), namespace_labels)
        && (m.names.is_empty() || m.names.iter().any(|g| glob_matches(g, &source.name)))
        && selector_matches(m.selector.as_ref(), &source.labels)
        && match &m.url_regex {
            None => true,
            Some(re) => crate::engine::regex_memo::compile(re).is_ok_and(|re| {
                // A chart whose repository URL is unknown may be covered: fail closed.
                source.match_url().is_none_or(|url| re.is_match(&url))
            }),
        }
}

fn selector_matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None => true,
        Some(s) => Selector::try_from(s.clone()).is_ok_and(|s| s.matches(labels)),
    }
}

/// What is wrong with a `spec.match`, if anything (reported as `Ready=False/PolicyInvalid`).
pub fn validate_match(m: &PolicyMatch) -> Result<(), String> {
    if let Some(re) = &m.url_regex {
        Regex::new(re).map_err(|e| format!("spec.match.urlRegex {re:?}: {e}"))?;
    }
    for (field, sel) in [
        ("namespaceSelector", &m.namespace_selector),
        ("selector", &m.selector),
    ] {
        if let Some(s) = sel {
            Selector::try_from(s.clone()).map_err(|e| format!("spec.match.{field}: {}", e.0))?;
        }
    }
    Ok(())
}

/// Shell-style glob over a whole name: `*` any run of characters, `?` exactly one.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni) = (0, 0);
    // Where the last `*` was, and how much of the name it has swallowed so far: on a mismatch
    // we let it swallow one more character (linear backtracking, no recursion).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PolicyVerify, SourceKind};
    use crate::audit::fixtures;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn policy(m: PolicyMatch) -> ProvenancePolicySpec {
        ProvenancePolicySpec {
            match_: m,
            verify: PolicyVerify::default(),
            require_source_verify: false,
            lint: None,
            attestations: vec![],
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn podinfo() -> FluxSource {
        fixtures::source(&fixtures::oci_repository())
    }

    #[test]
    fn an_empty_match_covers_every_source() {
        assert!(matches(
            &policy(PolicyMatch::default()),
            &podinfo(),
            &labels(&[])
        ));
    }

    #[test]
    fn kinds_and_namespaces_are_lists_of_alternatives() {
        let mut m = PolicyMatch {
            kinds: vec![SourceKind::HelmChart],
            ..PolicyMatch::default()
        };
        assert!(!matches(&policy(m.clone()), &podinfo(), &labels(&[])));
        m.kinds.push(SourceKind::OciRepository);
        m.namespaces = vec!["other".into(), "apps".into()];
        assert!(matches(&policy(m.clone()), &podinfo(), &labels(&[])));
        m.namespaces = vec!["other".into()];
        assert!(!matches(&policy(m), &podinfo(), &labels(&[])));
    }

    #[test]
    fn namespace_selector_uses_match_labels_and_expressions() {
        let m = PolicyMatch {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("env", "prod")])),
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tenant".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["sandbox".into()]),
                }]),
            }),
            ..PolicyMatch::default()
        };
        let p = policy(m);
        assert!(matches(&p, &podinfo(), &labels(&[("env", "prod")])));
        assert!(!matches(
            &p,
            &podinfo(),
            &labels(&[("env", "prod"), ("tenant", "sandbox")])
        ));
        assert!(!matches(&p, &podinfo(), &labels(&[("env", "dev")])));
    }

    #[test]
    fn source_label_selector_must_match() {
        let m = PolicyMatch {
            selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["frontend".into(), "backend".into()]),
                }]),
                match_labels: None,
            }),
            ..PolicyMatch::default()
        };
        assert!(matches(&policy(m.clone()), &podinfo(), &labels(&[])));
        let mut other = podinfo();
        other.labels.clear();
        assert!(!matches(&policy(m), &other, &labels(&[])));
    }

    #[test]
    fn name_globs_cover_the_whole_name() {
        assert!(glob_matches("pod*", "podinfo"));
        assert!(glob_matches("*info", "podinfo"));
        assert!(glob_matches("p?d*o", "podinfo"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("pod", "podinfo"));
        assert!(!glob_matches("?", ""));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn url_regex_is_unanchored_like_flux() {
        let m = |re: &str| PolicyMatch {
            url_regex: Some(re.into()),
            ..PolicyMatch::default()
        };
        assert!(matches(
            &policy(m("example:5000")),
            &podinfo(),
            &labels(&[])
        ));
        assert!(!matches(
            &policy(m("^registry.example/")),
            &podinfo(),
            &labels(&[])
        ));
    }

    fn chart(repository: Option<&str>) -> FluxSource {
        fixtures::source(&fixtures::helm_chart()).with_chart_repository(repository.map(Into::into))
    }

    #[test]
    fn url_regex_matches_a_chart_by_its_repository_and_name() {
        let m = |re: &str| {
            policy(PolicyMatch {
                url_regex: Some(re.into()),
                ..PolicyMatch::default()
            })
        };
        let oci = chart(Some("oci://ghcr.io/org/charts/"));
        assert_eq!(
            oci.match_url().as_deref(),
            Some("oci://ghcr.io/org/charts/podinfo")
        );
        assert!(matches(
            &m(r"^oci://ghcr\.io/org/charts/"),
            &oci,
            &labels(&[])
        ));
        assert!(matches(&m(r"/podinfo$"), &oci, &labels(&[])));
        assert!(!matches(&m(r"^oci://ghcr\.io/other/"), &oci, &labels(&[])));
        let http = chart(Some("https://charts.example.com/stable"));
        assert!(matches(
            &m(r"^https://charts\.example\.com/"),
            &http,
            &labels(&[])
        ));
        assert!(!matches(&m(r"^oci://"), &http, &labels(&[])));
        // Not read yet: assumed covered, never silently left out.
        assert!(matches(
            &m(r"^oci://ghcr\.io/other/"),
            &chart(None),
            &labels(&[])
        ));
    }

    /// The shipped sample policy covers the charts of its registry.
    #[test]
    fn the_sample_policy_covers_charts_of_its_registry() {
        let text = include_str!("../../config/samples/github-actions-policy.yaml");
        let doc: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        let spec: ProvenancePolicySpec = serde_json::from_value(doc["spec"].clone()).unwrap();
        let ns = labels(&[("provenance.dev/audit", "enforced")]);
        assert!(matches(
            &spec,
            &chart(Some("oci://ghcr.io/example-org/charts")),
            &ns
        ));
        assert!(!matches(
            &spec,
            &chart(Some("oci://ghcr.io/someone-else/charts")),
            &ns
        ));
    }

    #[test]
    fn an_invalid_match_matches_nothing_and_says_why() {
        let m = PolicyMatch {
            url_regex: Some("(".into()),
            ..PolicyMatch::default()
        };
        assert!(!matches(&policy(m.clone()), &podinfo(), &labels(&[])));
        assert!(validate_match(&m).unwrap_err().contains("urlRegex"));
        let bad_selector = PolicyMatch {
            selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "a".into(),
                    operator: "Like".into(),
                    values: None,
                }]),
                match_labels: None,
            }),
            ..PolicyMatch::default()
        };
        assert!(!matches(
            &policy(bad_selector.clone()),
            &podinfo(),
            &labels(&[])
        ));
        assert!(validate_match(&bad_selector)
            .unwrap_err()
            .contains("selector"));
        assert!(validate_match(&PolicyMatch::default()).is_ok());
    }
}
