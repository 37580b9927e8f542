//! Matching a keyless signer's Fulcio certificate claims (OIDs 1.3.6.1.4.1.57264.1.8–.22):
//! `spec.verify.matchCertificate` for signatures (like cosign's
//! `--certificate-github-workflow-*` flags) and the short form of an attestation requirement
//! (`sourceRepository`, `sourceRef`, `signerWorkflow`, `denySelfHostedRunners`, like
//! `gh attestation verify`).
//!
//! Each regex must match the claim's WHOLE value (it is anchored for you), unlike the
//! unanchored `matchOIDCIdentity` regexes Flux compatibility imposes: these are new fields, and
//! `github.com/org/repo` must not also accept `github.com/org/repo-evil`. The anchors go around
//! the *parsed* expression, never around its text: `^(?:{re})$` with
//! `re = https://github\.com/org/repo)|(.*` would be `^(?:…repo)|(.*)$`, which accepts any
//! repository. A regex that is not a whole expression on its own does not compile at all. A claim the
//! certificate does not carry never matches (fail closed): a key-signed statement, or a
//! certificate from a CI without these extensions, does not satisfy a claim rule.

use regex::Regex;
use regex_syntax::hir::{Hir, Look};
use sigstore_verify::crypto::CertificateInfo;

use super::fulcio::CertificateClaims;
use super::policy_error::PolicyError;

/// The claims a rule may name. The names are the API's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Claim {
    /// `.12` source repository URI (the caller's repository, also for a reusable workflow).
    SourceRepository,
    /// `.14` source repository ref (`refs/tags/v1.2.3`).
    SourceRef,
    /// `.13` source repository digest (the commit).
    SourceDigest,
    /// `.9` build signer URI (the workflow that signed, `…/.github/workflows/x.yml@ref`).
    SignerWorkflow,
    /// `.18` build config URI (the calling workflow).
    BuildConfig,
    /// `.20` build trigger (event name).
    Trigger,
    /// `.11` runner environment (`github-hosted`, `self-hosted`).
    RunnerEnvironment,
}

impl Claim {
    /// The API field name, for messages.
    pub fn field(self) -> &'static str {
        match self {
            Claim::SourceRepository => "sourceRepository",
            Claim::SourceRef => "sourceRef",
            Claim::SourceDigest => "sourceDigest",
            Claim::SignerWorkflow => "signerWorkflow",
            Claim::BuildConfig => "buildConfig",
            Claim::Trigger => "trigger",
            Claim::RunnerEnvironment => "runnerEnvironment",
        }
    }

    /// The certificate claim it reads.
    pub fn value(self, c: &CertificateClaims) -> Option<&str> {
        match self {
            Claim::SourceRepository => c.source_repository_uri.as_deref(),
            Claim::SourceRef => c.source_repository_ref.as_deref(),
            Claim::SourceDigest => c.source_repository_digest.as_deref(),
            Claim::SignerWorkflow => c.build_signer_uri.as_deref(),
            Claim::BuildConfig => c.build_config_uri.as_deref(),
            Claim::Trigger => c.build_trigger.as_deref(),
            Claim::RunnerEnvironment => c.runner_environment.as_deref(),
        }
    }
}

/// `re` parsed on its own, then anchored to the whole text (`\A…\z`) in the parsed form, and
/// compiled. `Err` when `re` is not a whole regex by itself (an unbalanced `)` included).
pub fn anchored(re: &str) -> Result<Regex, String> {
    let hir = regex_syntax::Parser::new()
        .parse(re)
        .map_err(|e| e.to_string())?;
    let whole = Hir::concat(vec![Hir::look(Look::Start), hir, Hir::look(Look::End)]);
    // The printed form of a parsed expression parses back to the same expression.
    super::regex_memo::compile(&whole.to_string()).map_err(|e| e.to_string())
}

/// One claim's rule: the regex as written (for messages and fingerprints) and its anchored form.
#[derive(Debug, Clone)]
struct ClaimRegex {
    claim: Claim,
    written: String,
    anchored: Regex,
}

/// Claim regexes a certificate must all satisfy (AND); empty = no demand.
#[derive(Debug, Clone, Default)]
pub struct CertificateRule {
    rules: Vec<ClaimRegex>,
}

impl PartialEq for CertificateRule {
    fn eq(&self, other: &Self) -> bool {
        self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.claim == b.claim && a.written == b.written)
    }
}

impl CertificateRule {
    /// Compiles `(claim, regex)` pairs, each anchored to the whole claim. Empty regexes are
    /// skipped (an absent field).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (Claim, &'a str)>) -> Result<Self, PolicyError> {
        let mut rules = vec![];
        for (claim, re) in pairs {
            if re.is_empty() {
                continue;
            }
            let anchored = anchored(re).map_err(|detail| PolicyError::Regex {
                field: claim.field(),
                regex: re.to_string(),
                detail,
            })?;
            rules.push(ClaimRegex {
                claim,
                written: re.to_string(),
                anchored,
            });
        }
        rules.sort_by_key(|r| r.claim);
        Ok(Self { rules })
    }

    /// Whether no claim is demanded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `Ok` when every rule holds; `Err` names the first unmet claim and what the certificate
    /// says (bounded by the caller's status bounds).
    pub fn check(&self, claims: Option<&CertificateClaims>) -> Result<(), String> {
        for ClaimRegex {
            claim,
            written,
            anchored,
        } in &self.rules
        {
            let value = claims.and_then(|c| claim.value(c));
            match value {
                Some(v) if anchored.is_match(v) => {}
                Some(v) => {
                    return Err(format!(
                        "certificate claim {} is {v:?}, which does not match {written} (the whole value)",
                        claim.field(),
                    ))
                }
                None => {
                    return Err(format!(
                        "the signer's certificate carries no {} claim (required to match {written})",
                        claim.field(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// A stable text for fingerprints and messages (`claim=~re,…`).
    pub fn describe(&self) -> String {
        self.rules
            .iter()
            .map(|r| format!("{}=~{:?}", r.claim.field(), r.written))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Every Fulcio claim of a parsed certificate, with its SAN and issuer.
pub fn from_certificate(info: &CertificateInfo) -> CertificateClaims {
    let c = &info.ci_claims;
    CertificateClaims {
        subject: info.identity.as_ref().map(|s| s.as_str().to_string()),
        issuer: info.issuer.clone(),
        build_signer_uri: c.build_signer_uri.clone(),
        build_signer_digest: c.build_signer_digest.clone(),
        runner_environment: c.runner_environment.clone(),
        source_repository_uri: c.source_repository_uri.clone(),
        source_repository_digest: c.source_repository_digest.clone(),
        source_repository_ref: c.source_repository_ref.clone(),
        source_repository_identifier: c.source_repository_identifier.clone(),
        source_repository_owner_uri: c.source_repository_owner_uri.clone(),
        source_repository_owner_identifier: c.source_repository_owner_identifier.clone(),
        build_config_uri: c.build_config_uri.clone(),
        build_config_digest: c.build_config_digest.clone(),
        build_trigger: c.build_trigger.clone(),
        run_invocation_uri: c.run_invocation_uri.clone(),
        source_repository_visibility_at_signing: c.source_repository_visibility_at_signing.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github() -> CertificateClaims {
        CertificateClaims {
            source_repository_uri: Some("https://github.com/org/repo".into()),
            source_repository_ref: Some("refs/tags/v1.2.3".into()),
            build_signer_uri: Some(
                "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3".into(),
            ),
            runner_environment: Some("github-hosted".into()),
            ..CertificateClaims::default()
        }
    }

    #[test]
    fn every_claim_must_match_its_whole_value() {
        let rule = CertificateRule::new([
            (Claim::SourceRepository, r"https://github\.com/org/repo"),
            (Claim::SourceRef, r"refs/tags/v.*"),
        ])
        .unwrap();
        assert_eq!(rule.check(Some(&github())), Ok(()));
        let mut evil = github();
        evil.source_repository_uri = Some("https://github.com/org/repo-evil".into());
        let err = rule.check(Some(&evil)).unwrap_err();
        assert!(err.contains("sourceRepository"), "{err}");
        let mut branch = github();
        branch.source_repository_ref = Some("refs/heads/main".into());
        assert!(rule.check(Some(&branch)).unwrap_err().contains("sourceRef"));
    }

    #[test]
    fn an_absent_claim_or_certificate_never_matches() {
        let rule = CertificateRule::new([(Claim::RunnerEnvironment, "github-hosted")]).unwrap();
        let mut none = github();
        none.runner_environment = None;
        assert!(rule.check(Some(&none)).unwrap_err().contains("carries no"));
        assert!(rule.check(None).is_err());
        // Even a regex that accepts the empty string.
        let any = CertificateRule::new([(Claim::Trigger, ".*")]).unwrap();
        assert!(any.check(Some(&github())).is_err());
    }

    #[test]
    fn empty_rules_demand_nothing_and_bad_regexes_say_which_field() {
        let empty = CertificateRule::new([(Claim::SourceRef, "")]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.check(None), Ok(()));
        let err = CertificateRule::new([(Claim::SignerWorkflow, "(")]).unwrap_err();
        assert!(err.to_string().contains("signerWorkflow"), "{err}");
    }

    #[test]
    fn description_is_order_independent() {
        let a = CertificateRule::new([(Claim::SourceRef, "a"), (Claim::Trigger, "b")]).unwrap();
        let b = CertificateRule::new([(Claim::Trigger, "b"), (Claim::SourceRef, "a")]).unwrap();
        assert_eq!(a.describe(), b.describe());
        assert_eq!(a, b);
    }

    #[test]
    fn anchoring_wraps_the_parsed_expression_not_its_text() {
        // As text, `^(?:{re})$` would be `^(?:…repo)|(.*)$`: any repository.
        let escape = r"https://github\.com/org/repo)|(.*";
        let err = CertificateRule::new([(Claim::SourceRepository, escape)]).unwrap_err();
        assert!(err.to_string().contains("sourceRepository"), "{err}");
        assert!(anchored(escape).is_err());
        // A top-level alternation stays inside the anchors.
        let either = anchored(r"https://github\.com/org/a|https://github\.com/org/b").unwrap();
        assert!(either.is_match("https://github.com/org/a"));
        assert!(either.is_match("https://github.com/org/b"));
        assert!(!either.is_match("https://github.com/org/a-evil"));
        assert!(!either.is_match("https://evil.example/https://github.com/org/b"));
        // A multi-line flag does not turn the anchors into line anchors.
        let lines = anchored(r"(?m)refs/tags/v1").unwrap();
        assert!(!lines.is_match("refs/heads/main\nrefs/tags/v1"));
        // An extended-mode comment cannot swallow the closing anchor.
        let commented = anchored("(?x) refs/tags/v1 # the release").unwrap();
        assert!(commented.is_match("refs/tags/v1"));
        assert!(!commented.is_match("refs/tags/v1-evil"));
    }

    #[test]
    fn messages_and_descriptions_quote_the_regex_as_written() {
        let rule = CertificateRule::new([(Claim::SourceRef, r"refs/tags/v\d+")]).unwrap();
        assert_eq!(rule.describe(), r#"sourceRef=~"refs/tags/v\\d+""#);
        let mut branch = github();
        branch.source_repository_ref = Some("refs/heads/main".into());
        let err = rule.check(Some(&branch)).unwrap_err();
        assert!(err.contains(r"refs/tags/v\d+"), "{err}");
    }
}
