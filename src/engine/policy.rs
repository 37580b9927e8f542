//! What a signature must satisfy: keys (any may match) or keyless identities (any entry may
//! match, each entry requiring both its issuer and subject regexes), or nothing at all.
//!
//! Regexes are unanchored, like Go's `regexp.MatchString` that cosign and Flux use: `org/repo`
//! also matches `org/repo-evil`. The suggested `spec.verify` blocks we print are anchored.

use regex::Regex;

use super::claims::CertificateRule;
use super::fingerprint::{fields_text, Fingerprint};
pub use super::policy_error::PolicyError;
use sha2::{Digest, Sha256};
use sigstore_verify::crypto::KeyAlgorithm;
use sigstore_verify::types::DerPublicKey;

/// A public key a signature may be made with.
#[derive(Clone)]
pub struct PublicKey {
    /// Where the key came from (file or Secret key name), for messages.
    pub name: String,
    /// DER-encoded SubjectPublicKeyInfo.
    pub der: DerPublicKey,
    /// Its algorithm (ECDSA P-256/P-384, RSA, Ed25519).
    pub algorithm: KeyAlgorithm,
    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo.
    pub fingerprint: String,
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` (PKIX) block, as `cosign generate-key-pair` writes.
    pub fn from_pem(name: &str, pem: &[u8]) -> Result<Self, PolicyError> {
        let bad = |detail: String| PolicyError::Key {
            name: name.to_string(),
            detail,
        };
        let text = std::str::from_utf8(pem).map_err(|_| bad("not UTF-8 PEM".into()))?;
        let der = DerPublicKey::from_pem(text.trim()).map_err(|e| bad(e.to_string()))?;
        let algorithm =
            KeyAlgorithm::from_spki(&der).map_err(|e| bad(format!("unsupported key: {e}")))?;
        let fingerprint = fingerprint_der(der.as_bytes());
        Ok(Self {
            name: name.to_string(),
            der,
            algorithm,
            fingerprint,
        })
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} {})", self.name, self.fingerprint)
    }
}

/// `sha256:<hex>` of a DER public key, the key fingerprint reported as a signer.
pub fn fingerprint_der(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// One accepted keyless identity: both regexes must match, and the certificate's claims must
/// satisfy `certificate` (`spec.verify.matchCertificate`; empty by default).
#[derive(Clone, Debug)]
pub struct IdentityRule {
    /// Regex for the OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8 / .1.1).
    pub issuer: Regex,
    /// Regex for the certificate's SAN (URI or email).
    pub subject: Regex,
    /// Fulcio claims the certificate must also carry (whole-value regexes).
    pub certificate: CertificateRule,
}

impl IdentityRule {
    /// Compiles an identity from its two regexes.
    pub fn new(issuer: &str, subject: &str) -> Result<Self, PolicyError> {
        let compile = |field: &'static str, re: &str| {
            super::regex_memo::compile(re).map_err(|e| PolicyError::Regex {
                field,
                regex: re.to_string(),
                detail: e.to_string(),
            })
        };
        Ok(Self {
            issuer: compile("issuer", issuer)?,
            subject: compile("subject", subject)?,
            certificate: CertificateRule::default(),
        })
    }

    /// The same identity, also demanding these certificate claims.
    pub fn with_certificate(mut self, certificate: CertificateRule) -> Self {
        self.certificate = certificate;
        self
    }

    /// Whether a signer's issuer and subject satisfy this rule (unanchored search).
    pub fn matches(&self, issuer: &str, subject: &str) -> bool {
        self.issuer.is_match(issuer) && self.subject.is_match(subject)
    }
}

impl std::fmt::Display for IdentityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "issuer=~{:?} subject=~{:?}",
            self.issuer.as_str(),
            self.subject.as_str()
        )?;
        if !self.certificate.is_empty() {
            write!(f, " certificate {}", self.certificate.describe())?;
        }
        Ok(())
    }
}

/// What the artifact's signature must satisfy.
#[derive(Clone, Debug, Default)]
pub enum Policy {
    /// No expectation: signatures are discovered and checked against the trust root only.
    #[default]
    None,
    /// Signed with any of these keys (Flux `secretRef`).
    Keys {
        /// The accepted keys.
        keys: Vec<PublicKey>,
        /// Also require a verified transparency-log entry. Flux's key mode ignores the log.
        require_tlog: bool,
    },
    /// Keyless: a certificate from the trust root whose identity matches any rule.
    Keyless {
        /// The accepted identities (OR). Empty accepts any signer (Flux legacy-path semantics).
        identities: Vec<IdentityRule>,
    },
    /// A Notary Project signature satisfying a trust policy with its trust store (Flux
    /// `provider: notation`).
    Notation(Box<super::notation::NotationPolicy>),
}

impl Policy {
    /// A stable fingerprint of the policy's content, for verdict caching: every field
    /// length-prefixed ([`super::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        let mut f = Fingerprint::new("provenance.dev/policy/v2");
        match self {
            Policy::None => {
                f.field("none");
            }
            Policy::Keys { keys, require_tlog } => {
                f.field(if *require_tlog { "keys+tlog" } else { "keys" });
                let mut fps: Vec<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
                fps.sort_unstable();
                for fp in fps {
                    f.field(fp);
                }
            }
            Policy::Notation(p) => {
                f.field("notation");
                f.field(&p.fingerprint);
            }
            Policy::Keyless { identities } => {
                f.field("keyless");
                for id in identities {
                    f.field(fields_text([
                        id.issuer.as_str(),
                        id.subject.as_str(),
                        &id.certificate.describe(),
                    ]));
                }
            }
        }
        f.finish()
    }

    /// Whether the policy says who must have signed: keys, or at least one keyless identity.
    /// `Keyless` with no identity accepts any signer of the trust root (Flux's `spec.verify`
    /// without `matchOIDCIdentity`): what such a signature says proves nothing about who made it.
    pub fn names_a_signer(&self) -> bool {
        match self {
            Policy::None => false,
            Policy::Keys { keys, .. } => !keys.is_empty(),
            Policy::Keyless { identities } => !identities.is_empty(),
            // A trust policy accepts only signers its trust store's CAs issued.
            Policy::Notation(_) => true,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Policy::None => "no policy".into(),
            Policy::Keys { keys, .. } if keys.is_empty() => "no cosign key".into(),
            Policy::Keys { keys, .. } => {
                let names: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{} ({})", k.name, short_fp(&k.fingerprint)))
                    .collect();
                format!("key {}", names.join(" or "))
            }
            Policy::Notation(p) => format!("Notation trust policy of {}", p.source),
            Policy::Keyless { identities } if identities.is_empty() => {
                "keyless, any identity".into()
            }
            Policy::Keyless { identities } => {
                let ids: Vec<String> = identities.iter().map(|i| i.to_string()).collect();
                format!("keyless {}", ids.join(" or "))
            }
        }
    }
}

/// The first 12 hex digits of a fingerprint, for compact messages.
pub fn short_fp(fp: &str) -> &str {
    let hex = fp.strip_prefix("sha256:").unwrap_or(fp);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_regexes_are_unanchored_like_go() {
        let rule = IdentityRule::new("token.actions", "https://github.com/org/repo").unwrap();
        assert!(rule.matches(
            "https://token.actions.githubusercontent.com",
            "https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main"
        ));
        // The near-miss Go's MatchString also accepts: this is why suggestions are anchored.
        assert!(rule.matches(
            "https://token.actions.githubusercontent.com",
            "https://github.com/org/repo-evil/.github/workflows/x.yml@refs/heads/main"
        ));
    }

    #[test]
    fn anchored_identity_rejects_the_near_miss() {
        let rule = IdentityRule::new(
            r"^https://token\.actions\.githubusercontent\.com$",
            r"^https://github\.com/org/repo/\.github/workflows/x\.yml@refs/heads/main$",
        )
        .unwrap();
        assert!(!rule.matches(
            "https://token.actions.githubusercontent.com",
            "https://github.com/org/repo-evil/.github/workflows/x.yml@refs/heads/main"
        ));
        assert!(rule.matches(
            "https://token.actions.githubusercontent.com",
            "https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main"
        ));
    }

    #[test]
    fn both_issuer_and_subject_must_match() {
        let rule = IdentityRule::new("^https://accounts.google.com$", "^me@example.com$").unwrap();
        assert!(!rule.matches("https://evil.example", "me@example.com"));
        assert!(!rule.matches("https://accounts.google.com", "you@example.com"));
    }

    #[test]
    fn bad_regex_is_a_clear_error() {
        let err = IdentityRule::new("(", "x").unwrap_err();
        assert!(err.to_string().contains("invalid issuer regex"), "{err}");
    }

    #[test]
    fn garbage_key_is_a_clear_error() {
        let err = PublicKey::from_pem(
            "k.pub",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("public key k.pub:"), "{err}");
        assert!(PublicKey::from_pem("k.pub", b"not pem").is_err());
    }

    #[test]
    fn fingerprint_is_independent_of_key_order_but_not_of_mode() {
        let none = Policy::None.fingerprint();
        let keyless = Policy::Keyless { identities: vec![] }.fingerprint();
        assert_ne!(none, keyless);
    }

    #[test]
    fn certificate_claims_change_the_fingerprint_and_description() {
        use crate::engine::claims::Claim;
        let plain = IdentityRule::new("i", "s").unwrap();
        let strict = plain
            .clone()
            .with_certificate(CertificateRule::new([(Claim::SourceRef, "refs/tags/.*")]).unwrap());
        let fp = |r: &IdentityRule| {
            Policy::Keyless {
                identities: vec![r.clone()],
            }
            .fingerprint()
        };
        assert_ne!(fp(&plain), fp(&strict));
        assert!(strict.to_string().contains("sourceRef"), "{strict}");
    }

    #[test]
    fn an_identity_fingerprint_cannot_shift_text_between_issuer_and_subject() {
        let fp = |issuer: &str, subject: &str| {
            Policy::Keyless {
                identities: vec![IdentityRule::new(issuer, subject).unwrap()],
            }
            .fingerprint()
        };
        assert_ne!(fp("a\x01b", "c"), fp("a", "b\x01c"));
        assert_ne!(fp("a\u{1}b", "c"), fp("a", "b\u{1}c"));
        assert_eq!(fp("a", "b"), fp("a", "b"));
    }
}
