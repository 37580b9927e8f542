//! `regex-invalid` for the certificate-claim regexes of policies (`verify.matchCertificate`,
//! an attestation requirement's `sourceRepository`, `sourceRef`, `signerWorkflow`): each must
//! be a whole regex on its own, because the anchors go around the parsed expression. One that
//! is not (`https://github\.com/org/repo)|(.*`) makes the policy invalid; pasted as text
//! between `^(?:` and `)$`, as anchoring once worked, it would have accepted any value.

use super::policy::LoadedPolicy;
use crate::api::{CertificateMatch, PolicyVerify};
use crate::engine::claims::anchored;
use crate::lint::finding::{rules, Finding};

/// The findings for every claim regex of `policies` that is not a whole regex.
pub fn check(policies: &[LoadedPolicy]) -> Vec<Finding> {
    let mut out = vec![];
    for p in policies {
        let (file, line) = p
            .location
            .rsplit_once(':')
            .map(|(f, l)| (f, l.parse().unwrap_or(1)))
            .unwrap_or((p.location.as_str(), 1));
        let owner = format!("ProvenancePolicy/{}", p.name);
        let mut regexes = verify_regexes("spec.verify", &p.spec.verify);
        for (i, a) in p.spec.attestations.iter().enumerate() {
            let at = format!("spec.attestations[{i}]");
            for (field, re) in [
                ("sourceRepository", &a.source_repository),
                ("sourceRef", &a.source_ref),
                ("signerWorkflow", &a.signer_workflow),
            ] {
                if let Some(re) = re {
                    regexes.push((format!("{at}.{field}"), re.clone()));
                }
            }
            if let Some(v) = &a.verify {
                regexes.extend(verify_regexes(&format!("{at}.verify"), v));
            }
        }
        for (field, re) in regexes {
            let Err(why) = anchored(&re) else { continue };
            let escapes = regex::Regex::new(&format!("^(?:{re})$")).is_ok();
            let consequence = if escapes {
                "; pasted as text between ^(?: and )$ it would escape its anchors and accept other values"
            } else {
                ""
            };
            out.push(Finding::error(
                rules::REGEX_INVALID,
                (file, line),
                owner.as_str(),
                format!(
                    "{field} {re:?} is not a whole regex on its own ({}){consequence}: the policy is invalid",
                    first_line(&why)
                ),
                "balance its parentheses (the claim regex is matched against the whole value: no ^…$ or outer group is needed)",
            ));
        }
    }
    out
}

fn verify_regexes(at: &str, v: &PolicyVerify) -> Vec<(String, String)> {
    let Some(m) = &v.match_certificate else {
        return vec![];
    };
    let CertificateMatch {
        source_repository,
        source_ref,
        source_digest,
        signer_workflow,
        build_config,
        trigger,
        runner_environment,
    } = m;
    [
        ("sourceRepository", source_repository),
        ("sourceRef", source_ref),
        ("sourceDigest", source_digest),
        ("signerWorkflow", signer_workflow),
        ("buildConfig", build_config),
        ("trigger", trigger),
        ("runnerEnvironment", runner_environment),
    ]
    .into_iter()
    .filter_map(|(f, re)| {
        re.as_ref()
            .map(|re| (format!("{at}.matchCertificate.{f}"), re.clone()))
    })
    .collect()
}

fn first_line(s: &str) -> &str {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
}
