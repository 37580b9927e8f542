//! `verify`'s attestation side: `--attestation TYPE` / `--attestation-condition EXPR` as
//! requirements, and, when none is asked for, a ready-to-paste `attestations:` block for a
//! `ProvenancePolicy` that would accept what was found.

use crate::engine::attest::cel::Condition;
use crate::engine::attest::require::Requirement;
use crate::engine::attest::AttestationEvidence;
use crate::engine::claims::CertificateRule;
use crate::engine::Verdict;

/// One requirement per `--attestation` type; every `--attestation-condition` applies to each.
pub fn requirements(types: &[String], conditions: &[String]) -> Result<Vec<Requirement>, String> {
    if types.is_empty() && !conditions.is_empty() {
        return Err(
            "--attestation-condition needs --attestation TYPE (the predicate type it \
                    is about)"
                .into(),
        );
    }
    let compiled = conditions
        .iter()
        .map(|c| Condition::compile(c, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(types
        .iter()
        .map(|t| {
            Requirement::new(
                format!("--attestation {t}"),
                t,
                CertificateRule::default(),
                compiled.clone(),
            )
        })
        .collect())
}

/// The `attestations:` block (under a policy's `spec:`) that requires what was found: one entry
/// per predicate type with a valid signature, with the gh-attestation-verify short form from
/// its certificate (the repository, tags when built from a tag, the signing workflow, hosted
/// runners). `None` when nothing valid was found.
pub fn suggested_block(found: &[AttestationEvidence]) -> Option<String> {
    let mut out = String::from("attestations:\n");
    let mut seen: Vec<&str> = vec![];
    for a in found {
        let valid = matches!(a.verdict, Verdict::Verified | Verdict::NoPolicy);
        if !valid || a.predicate_type.is_empty() || seen.contains(&a.predicate_type.as_str()) {
            continue;
        }
        seen.push(&a.predicate_type);
        out.push_str(&format!(
            "  - predicateType: {}\n",
            quote(&a.predicate_type)
        ));
        let Some(c) = &a.certificate else {
            continue;
        };
        if let Some(repo) = &c.source_repository_uri {
            out.push_str(&format!(
                "    sourceRepository: {}\n",
                quote(&regex::escape(repo))
            ));
        }
        if let Some(r) = &c.source_repository_ref {
            let pattern = if r.starts_with("refs/tags/") {
                "refs/tags/.*".to_string()
            } else {
                regex::escape(r)
            };
            out.push_str(&format!("    sourceRef: {}\n", quote(&pattern)));
        }
        if let Some(w) = &c.build_signer_uri {
            // The workflow file, at any ref (a release workflow runs at each tag).
            let path = w.split_once('@').map_or(w.as_str(), |(p, _)| p);
            out.push_str(&format!(
                "    signerWorkflow: {}\n",
                quote(&format!("{}@.*", regex::escape(path)))
            ));
        }
        if c.runner_environment.as_deref() == Some("github-hosted") {
            out.push_str("    denySelfHostedRunners: true\n");
        }
    }
    (!seen.is_empty()).then_some(out)
}

/// A YAML single-quoted scalar (backslashes stay as they are: regexes paste unchanged).
fn quote(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("'{}'", one_line.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProvenancePolicySpec;
    use crate::engine::attest::CertificateClaims;
    use crate::engine::{SignatureFormat, Signer};
    use crate::registry::SignatureLocation;

    fn found(predicate_type: &str, verdict: Verdict) -> AttestationEvidence {
        AttestationEvidence {
            location: SignatureLocation::ReferrersApi,
            format: SignatureFormat::Bundle,
            predicate_type: predicate_type.into(),
            signer: Signer::default(),
            certificate: Some(CertificateClaims {
                source_repository_uri: Some("https://github.com/org/repo".into()),
                source_repository_ref: Some("refs/tags/v1.2.3".into()),
                build_signer_uri: Some(
                    "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3"
                        .into(),
                ),
                runner_environment: Some("github-hosted".into()),
                ..CertificateClaims::default()
            }),
            tlog: None,
            predicate: None,
            verdict,
            message: String::new(),
            statement: None,
        }
    }

    #[test]
    fn the_suggested_block_parses_as_a_policy_and_accepts_what_was_found() {
        let evidence = [
            found("https://slsa.dev/provenance/v1", Verdict::NoPolicy),
            found("https://slsa.dev/provenance/v1", Verdict::Verified),
            found("https://spdx.dev/Document", Verdict::Verified),
            found("https://evil.example/predicate", Verdict::SignatureInvalid),
        ];
        let block = suggested_block(&evidence).unwrap();
        let yaml = format!("verify:\n  secretRef: {{namespace: a, name: b}}\n{block}");
        let spec: ProvenancePolicySpec = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(spec.attestations.len(), 2, "{block}");
        assert!(!block.contains("evil"), "{block}");
        let a = &spec.attestations[0];
        assert_eq!(a.source_ref.as_deref(), Some("refs/tags/.*"));
        assert!(a.deny_self_hosted_runners);
        // Compiled as the controller would, the block accepts the attestation it came from.
        let rule = crate::audit::compile::certificate_rule(Some(&crate::api::CertificateMatch {
            source_repository: a.source_repository.clone(),
            source_ref: a.source_ref.clone(),
            signer_workflow: a.signer_workflow.clone(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(rule.check(evidence[1].certificate.as_ref()), Ok(()));
        let mut other = evidence[1].certificate.clone().unwrap();
        other.source_repository_uri = Some("https://github.com/org/repo-evil".into());
        assert!(rule.check(Some(&other)).is_err());
    }

    #[test]
    fn nothing_valid_suggests_nothing_and_conditions_need_a_type() {
        assert_eq!(
            suggested_block(&[found("x", Verdict::IdentityMismatch)]),
            None
        );
        assert!(requirements(&[], &["true".into()]).is_err());
        let r = requirements(&["slsaprovenance1".into()], &["true".into()]).unwrap();
        assert_eq!(r[0].predicate_type, "https://slsa.dev/provenance/v1");
        assert_eq!(r[0].conditions.len(), 1);
        assert!(requirements(&["x".into()], &["(".into()]).is_err());
    }
}
