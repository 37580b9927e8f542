//! The fixed vocabulary of verification outcomes.
//!
//! A verdict either says something about the artifact (it is signed as required, or it is not,
//! and why) or says that we could not tell. The two kinds never mix: a registry outage is never
//! reported as `Unsigned`, and nothing that failed to check is ever `Verified`.

use serde::{Deserialize, Serialize};

use crate::vocabulary::{Judgement, Status};

/// One outcome for an artifact (or for a single signature found on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// A signature satisfies the policy and is bound to the artifact digest.
    Verified,
    /// No signature in any of the three places (referrers API, referrers tag, legacy `.sig` tag).
    Unsigned,
    /// A valid signature exists, but by a signer the policy does not accept.
    IdentityMismatch,
    /// Signed with a key, but not with any of the policy's keys.
    KeyMismatch,
    /// The signature's cryptography or structure does not hold.
    SignatureInvalid,
    /// The signature is about another digest (or another kind of statement).
    DigestMismatch,
    /// The certificate chain or log is not in the trust root, or the signature is made with a
    /// key that no policy names (so no signer can be established and nothing was checked).
    UntrustedSigner,
    /// Signatures were found and checked, but there is no policy to judge the signer against.
    NoPolicy,
    /// Could not tell: the registry did not answer usefully (5xx, timeout, bad response).
    RegistryUnavailable,
    /// Could not tell: the registry refused our credentials.
    AuthenticationFailed,
    /// Could not tell: the trust root (or a key) could not be loaded.
    TrustRootError,
}

impl Verdict {
    /// Every verdict, in a stable order (used for metrics and documentation).
    pub const ALL: [Verdict; 11] = [
        Verdict::Verified,
        Verdict::Unsigned,
        Verdict::IdentityMismatch,
        Verdict::KeyMismatch,
        Verdict::SignatureInvalid,
        Verdict::DigestMismatch,
        Verdict::UntrustedSigner,
        Verdict::NoPolicy,
        Verdict::RegistryUnavailable,
        Verdict::AuthenticationFailed,
        Verdict::TrustRootError,
    ];

    /// The verdict's name, as used in JSON, conditions and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "Verified",
            Verdict::Unsigned => "Unsigned",
            Verdict::IdentityMismatch => "IdentityMismatch",
            Verdict::KeyMismatch => "KeyMismatch",
            Verdict::SignatureInvalid => "SignatureInvalid",
            Verdict::DigestMismatch => "DigestMismatch",
            Verdict::UntrustedSigner => "UntrustedSigner",
            Verdict::NoPolicy => "NoPolicy",
            Verdict::RegistryUnavailable => "RegistryUnavailable",
            Verdict::AuthenticationFailed => "AuthenticationFailed",
            Verdict::TrustRootError => "TrustRootError",
        }
    }

    /// True for the errors that say nothing about the artifact itself.
    pub fn is_indeterminate(self) -> bool {
        matches!(
            self,
            Verdict::RegistryUnavailable | Verdict::AuthenticationFailed | Verdict::TrustRootError
        )
    }

    /// How close a failed signature came to satisfying the policy; the artifact-level verdict
    /// is that of its closest signature, so the report names the most useful fact (e.g. "signed,
    /// but by someone else" beats "a second, broken signature exists").
    pub(crate) fn closeness(self) -> u8 {
        match self {
            Verdict::Verified => 9,
            Verdict::NoPolicy => 8,
            Verdict::IdentityMismatch => 7,
            Verdict::KeyMismatch => 6,
            Verdict::DigestMismatch => 5,
            Verdict::UntrustedSigner => 4,
            Verdict::SignatureInvalid => 3,
            Verdict::Unsigned => 2,
            Verdict::TrustRootError
            | Verdict::AuthenticationFailed
            | Verdict::RegistryUnavailable => 0,
        }
    }
}

impl Verdict {
    /// The `Verified` condition's status and reason for this verdict: `True` when verified,
    /// `Unknown` when we could not tell, `False` otherwise. Verdict names are the `Verified`
    /// reasons by design.
    pub fn condition(self) -> (Status, &'static str) {
        let status = match self {
            Verdict::Verified => Status::True,
            v if v.is_indeterminate() => Status::Unknown,
            _ => Status::False,
        };
        (status, self.as_str())
    }

    /// `Verified` saying this verdict, with why.
    pub fn judgement(self, message: impl Into<String>) -> Judgement {
        let (status, reason) = self.condition();
        Judgement::new(status, reason, message)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Picks the artifact-level verdict from the per-signature verdicts (none = unsigned).
pub fn aggregate(signature_verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    signature_verdicts
        .into_iter()
        .max_by_key(|v| v.closeness())
        .unwrap_or(Verdict::Unsigned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_signature_means_unsigned() {
        assert_eq!(aggregate([]), Verdict::Unsigned);
    }

    #[test]
    fn one_good_signature_among_broken_ones_verifies() {
        let v = aggregate([
            Verdict::SignatureInvalid,
            Verdict::Verified,
            Verdict::DigestMismatch,
        ]);
        assert_eq!(v, Verdict::Verified);
    }

    #[test]
    fn a_valid_foreign_signer_is_reported_over_a_broken_signature() {
        let v = aggregate([Verdict::SignatureInvalid, Verdict::IdentityMismatch]);
        assert_eq!(v, Verdict::IdentityMismatch);
    }

    #[test]
    fn names_round_trip_through_json() {
        for v in Verdict::ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
        }
    }

    #[test]
    fn every_verdict_is_a_known_verified_reason() {
        use crate::vocabulary::{is_known_reason, types};
        for v in Verdict::ALL {
            let (_, reason) = v.condition();
            assert!(is_known_reason(types::VERIFIED, reason), "{reason}");
        }
    }

    #[test]
    fn a_registry_outage_is_unknown_never_false() {
        use crate::vocabulary::reasons;
        assert_eq!(
            Verdict::RegistryUnavailable.condition(),
            (Status::Unknown, reasons::REGISTRY_UNAVAILABLE)
        );
        assert_eq!(
            Verdict::Unsigned.condition(),
            (Status::False, reasons::UNSIGNED)
        );
        assert_eq!(
            Verdict::NoPolicy.condition(),
            (Status::False, reasons::NO_POLICY)
        );
        assert_eq!(Verdict::Verified.condition().0, Status::True);
    }

    #[test]
    fn only_errors_are_indeterminate() {
        let indeterminate: Vec<_> = Verdict::ALL
            .into_iter()
            .filter(|v| v.is_indeterminate())
            .collect();
        assert_eq!(
            indeterminate,
            [
                Verdict::RegistryUnavailable,
                Verdict::AuthenticationFailed,
                Verdict::TrustRootError
            ]
        );
    }
}
