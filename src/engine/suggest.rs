//! A ready-to-paste Flux `spec.verify` block that would accept a signer we found.
//!
//! Regexes are anchored and escaped: Flux matches them unanchored (Go's `MatchString`), so an
//! unanchored `https://github.com/org/repo` would also accept `https://github.com/org/repo-evil`.

use serde::Serialize;

use super::evidence::{SignatureEvidence, Signer};
use super::verdict::Verdict;

/// One `matchOIDCIdentity` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcIdentity {
    /// Anchored issuer regex.
    pub issuer: String,
    /// Anchored subject regex.
    pub subject: String,
}

/// The suggested `spec.verify` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedVerify {
    /// Always `cosign`.
    pub provider: &'static str,
    /// For a keyless signer: exactly one identity (cosign v3 bundles fail with zero or several).
    #[serde(rename = "matchOIDCIdentity", skip_serializing_if = "Vec::is_empty")]
    pub match_oidc_identity: Vec<OidcIdentity>,
    /// For a key signer: the fingerprint of the key whose `.pub` the Secret must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

impl SuggestedVerify {
    /// A block accepting this keyless signer, if it is one.
    pub fn for_signer(signer: &Signer) -> Option<Self> {
        match (&signer.subject, &signer.issuer, &signer.key_fingerprint) {
            (Some(subject), Some(issuer), _) if !subject.is_empty() && !issuer.is_empty() => {
                Some(Self {
                    provider: "cosign",
                    match_oidc_identity: vec![OidcIdentity {
                        issuer: format!("^{}$", regex::escape(issuer)),
                        subject: format!("^{}$", regex::escape(subject)),
                    }],
                    key_fingerprint: None,
                })
            }
            (None, _, Some(fp)) => Some(Self {
                provider: "cosign",
                match_oidc_identity: vec![],
                key_fingerprint: Some(fp.clone()),
            }),
            _ => None,
        }
    }

    /// The block as Flux YAML (under an OCIRepository's `spec:`).
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("verify:\n  provider: cosign\n");
        if let Some(fp) = &self.key_fingerprint {
            out.push_str(&format!(
                "  secretRef:\n    name: cosign-pub   # a Secret whose <name>.pub holds the key {fp}\n"
            ));
        }
        if !self.match_oidc_identity.is_empty() {
            out.push_str("  matchOIDCIdentity:\n");
            for id in &self.match_oidc_identity {
                out.push_str(&format!(
                    "    - issuer: {}\n      subject: {}\n",
                    yaml_quote(&id.issuer),
                    yaml_quote(&id.subject)
                ));
            }
        }
        out
    }

    /// The suggestion for the most convincing signature: one whose signature is valid and that
    /// the policy accepts (`Verified`), or valid with no policy to judge it (`NoPolicy`).
    ///
    /// Never for a signer the policy refused (`IdentityMismatch`): the block would accept an
    /// identity the policy's author did not, and pasting it would turn the mismatch (perhaps a
    /// compromise) into `Verified`.
    pub fn from_evidence(signatures: &[SignatureEvidence]) -> Option<Self> {
        signatures
            .iter()
            .filter(|s| matches!(s.verdict, Verdict::Verified | Verdict::NoPolicy))
            .max_by_key(|s| s.verdict.closeness())
            .and_then(|s| Self::for_signer(&s.signer))
    }
}

/// Double-quoted YAML scalar (backslashes in regexes must be escaped inside double quotes).
fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::IdentityRule;

    fn github_signer(repo: &str) -> Signer {
        Signer {
            subject: Some(format!(
                "https://github.com/{repo}/.github/workflows/release.yml@refs/heads/main"
            )),
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            ..Signer::default()
        }
    }

    #[test]
    fn suggestion_accepts_the_signer_and_rejects_the_near_miss() {
        let s = SuggestedVerify::for_signer(&github_signer("org/repo")).unwrap();
        let id = &s.match_oidc_identity[0];
        let rule = IdentityRule::new(&id.issuer, &id.subject).unwrap();
        let real = github_signer("org/repo");
        let evil = github_signer("org/repo-evil");
        assert!(rule.matches(
            real.issuer.as_deref().unwrap(),
            real.subject.as_deref().unwrap()
        ));
        assert!(!rule.matches(
            evil.issuer.as_deref().unwrap(),
            evil.subject.as_deref().unwrap()
        ));
    }

    #[test]
    fn yaml_escapes_backslashes_for_double_quotes() {
        let s = SuggestedVerify::for_signer(&github_signer("org/repo")).unwrap();
        let yaml = s.to_yaml();
        assert!(
            yaml.contains(r#"issuer: "^https://token\\.actions\\.githubusercontent\\.com$""#),
            "{yaml}"
        );
        assert!(
            yaml.starts_with("verify:\n  provider: cosign\n  matchOIDCIdentity:\n    - issuer: ")
        );
    }

    #[test]
    fn a_signer_the_policy_refused_gets_no_suggestion() {
        let mut foreign = SignatureEvidence {
            location: crate::registry::SignatureLocation::ReferrersApi,
            format: crate::engine::SignatureFormat::Bundle,
            signer: github_signer("attacker/fork"),
            ci: None,
            tlog: None,
            verdict: Verdict::IdentityMismatch,
            message: "valid signature by another signer".into(),
        };
        assert_eq!(SuggestedVerify::from_evidence(&[foreign.clone()]), None);
        // Without a policy the same signer may be suggested: nobody has refused it yet.
        foreign.verdict = Verdict::NoPolicy;
        let s = SuggestedVerify::from_evidence(&[foreign]).unwrap();
        assert!(s.match_oidc_identity[0].subject.contains("attacker/fork"));
    }

    #[test]
    fn a_certificate_without_identity_gets_no_suggestion() {
        let signer = Signer {
            subject: Some(String::new()),
            issuer: Some("https://issuer.example".into()),
            ..Signer::default()
        };
        assert_eq!(SuggestedVerify::for_signer(&signer), None);
    }

    #[test]
    fn key_signer_gets_a_secret_ref() {
        let signer = Signer {
            key_fingerprint: Some("sha256:ab".into()),
            ..Signer::default()
        };
        let yaml = SuggestedVerify::for_signer(&signer).unwrap().to_yaml();
        assert!(yaml.contains("secretRef:") && yaml.contains("sha256:ab"));
    }
}
