//! The one vocabulary of the controller: condition types, their reasons, and judgements.
//!
//! Status conditions, Kubernetes events and metric labels all use these strings, so the set is
//! fixed and small (a metric label must never be built from an error's text). Every reason a
//! condition can carry is listed in [`REASONS`].
//!
//! Imports nothing from the crate (the engine's verdicts map onto it, not the other way round)
//! and holds no Kubernetes types: a [`Judgement`] becomes a Kubernetes condition only in
//! `audit::status`.

/// Condition types of a `SourceAudit`.
pub mod types {
    /// Whether the source's artifact is signed as the policies require.
    pub const VERIFIED: &str = "Verified";
    /// Whether Flux itself enforces an equivalent check (its `spec.verify`).
    pub const ENFORCED: &str = "Enforced";
    /// Whether Flux's own `SourceVerified` agrees with our verdict.
    pub const FLUX_AGREES: &str = "FluxAgrees";
    /// Whether every attestation the policies require is present, verified and satisfies its
    /// conditions (SLSA provenance, SBOMs, …). Feeds `Ready`.
    pub const ATTESTED: &str = "Attested";
    /// kstatus readiness: the audit of the current revision is complete.
    pub const READY: &str = "Ready";
}

/// Condition reasons (also event reasons and metric label values).
pub mod reasons {
    // Verified=True.
    /// A signature satisfies every policy and is bound to the digest.
    pub const VERIFIED: &str = "Verified";
    // Verified=False: facts about the artifact.
    /// No signature anywhere.
    pub const UNSIGNED: &str = "Unsigned";
    /// Validly signed, by a signer the policy does not accept.
    pub const IDENTITY_MISMATCH: &str = "IdentityMismatch";
    /// Signed with a key, but not one of the policy's keys.
    pub const KEY_MISMATCH: &str = "KeyMismatch";
    /// The signature's cryptography or structure does not hold.
    pub const SIGNATURE_INVALID: &str = "SignatureInvalid";
    /// The signature is about another digest.
    pub const DIGEST_MISMATCH: &str = "DigestMismatch";
    /// The certificate chain or log is not in the trust root.
    pub const UNTRUSTED_SIGNER: &str = "UntrustedSigner";
    /// Signed, but no policy says by whom it must be.
    pub const NO_POLICY: &str = "NoPolicy";
    // Verified=Unknown: we could not tell.
    /// The registry did not answer usefully.
    pub const REGISTRY_UNAVAILABLE: &str = "RegistryUnavailable";
    /// The registry refused our credentials (or the provider is not supported).
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// The trust root (or a key) could not be loaded.
    pub const TRUST_ROOT_ERROR: &str = "TrustRootError";
    /// Flux has not fetched an artifact yet, so there is no digest to audit.
    pub const ARTIFACT_NOT_READY: &str = "ArtifactNotReady";
    /// A policy (or the source's own `spec.verify`) cannot be applied: bad regex, missing Secret.
    pub const POLICY_INVALID: &str = "PolicyInvalid";
    /// An input that decides which policies apply (a namespace's labels for a
    /// `namespaceSelector`) could not be read: no verdict from a smaller set of policies.
    pub const INPUT_UNAVAILABLE: &str = "InputUnavailable";
    /// The verdict's re-check is due but was not made: the registry's request budget
    /// (`--registry-budget`) is spent for now. The last verdict's evidence and
    /// `lastVerifiedTime` are kept, but it is not vouched for beyond its interval.
    pub const RECHECK_OVERDUE: &str = "RecheckOverdue";
    // Enforced.
    /// Flux verifies at least as strictly as the audit.
    pub const ENFORCED: &str = "Enforced";
    /// The source has no `spec.verify`: Flux checks nothing.
    pub const VERIFY_MISSING: &str = "VerifyMissing";
    /// Flux's `spec.verify` accepts more than the policy, or cannot work at all.
    pub const VERIFY_WEAKER: &str = "VerifyWeaker";
    // FluxAgrees.
    /// Flux's `SourceVerified` and our verdict agree.
    pub const AGREES: &str = "Agrees";
    /// Flux says verified, we say not: the alarm bell.
    pub const FLUX_VERIFIED_AUDIT_FAILED: &str = "FluxVerifiedAuditFailed";
    /// We say verified, Flux says not (Flux halts this source).
    pub const AUDIT_VERIFIED_FLUX_FAILED: &str = "AuditVerifiedFluxFailed";
    /// Flux does not verify this source (or not its current generation).
    pub const FLUX_DOES_NOT_VERIFY: &str = "FluxDoesNotVerify";
    // Attested.
    /// Every required attestation is present, verified and satisfies its conditions.
    pub const ATTESTED: &str = "Attested";
    /// No policy requires an attestation of this source.
    pub const ATTESTATION_NOT_REQUIRED: &str = "NotRequired";
    /// A required attestation (predicate type) was not found at all.
    pub const ATTESTATION_MISSING: &str = "AttestationMissing";
    /// Attestations of the required type exist, but none verifies (signature, signer,
    /// subject digest).
    pub const ATTESTATION_INVALID: &str = "AttestationInvalid";
    /// A verified attestation of the required type fails one of the requirement's conditions.
    pub const ATTESTATION_POLICY_FAILED: &str = "AttestationPolicyFailed";
    /// A condition could not be evaluated (a CEL runtime error, a non-boolean result): Unknown.
    pub const CONDITION_ERROR: &str = "ConditionError";
    // Ready.
    /// The audit of the current revision is complete.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The audit of the current revision is not complete (yet, or it is retrying).
    pub const PROGRESSING: &str = "Progressing";
}

/// The reason of an event recorded on the Flux source itself (and of the Flux notification
/// posted with it): `Provenance` and the condition reason that decided it, e.g.
/// `ProvenanceVerified`, `ProvenanceUnsigned`, `ProvenanceIdentityMismatch`,
/// `ProvenanceAttestationMissing`. Prefixed so that `kubectl describe` and `flux events` tell
/// the auditor's events apart from source-controller's own; `None` for a reason outside
/// [`REASONS`] (the set stays bounded).
pub fn source_event_reason(type_: &str, reason: &str) -> Option<String> {
    is_known_reason(type_, reason).then(|| format!("{SOURCE_EVENT_PREFIX}{reason}"))
}

/// The prefix of [`source_event_reason`].
pub const SOURCE_EVENT_PREFIX: &str = "Provenance";

/// Every reason, per condition type, in a stable order: the bounded label set for metrics.
pub const REASONS: [(&str, &[&str]); 5] = [
    (
        types::VERIFIED,
        &[
            reasons::VERIFIED,
            reasons::UNSIGNED,
            reasons::IDENTITY_MISMATCH,
            reasons::KEY_MISMATCH,
            reasons::SIGNATURE_INVALID,
            reasons::DIGEST_MISMATCH,
            reasons::UNTRUSTED_SIGNER,
            reasons::NO_POLICY,
            reasons::REGISTRY_UNAVAILABLE,
            reasons::AUTHENTICATION_FAILED,
            reasons::TRUST_ROOT_ERROR,
            reasons::ARTIFACT_NOT_READY,
            reasons::POLICY_INVALID,
            reasons::INPUT_UNAVAILABLE,
            reasons::RECHECK_OVERDUE,
        ],
    ),
    (
        types::ENFORCED,
        &[
            reasons::ENFORCED,
            reasons::VERIFY_MISSING,
            reasons::VERIFY_WEAKER,
        ],
    ),
    (
        types::FLUX_AGREES,
        &[
            reasons::AGREES,
            reasons::FLUX_VERIFIED_AUDIT_FAILED,
            reasons::AUDIT_VERIFIED_FLUX_FAILED,
            reasons::FLUX_DOES_NOT_VERIFY,
            // When our own verdict is not known yet there is nothing to compare.
            reasons::PROGRESSING,
        ],
    ),
    (
        types::ATTESTED,
        &[
            reasons::ATTESTED,
            reasons::ATTESTATION_NOT_REQUIRED,
            reasons::ATTESTATION_MISSING,
            reasons::ATTESTATION_INVALID,
            reasons::ATTESTATION_POLICY_FAILED,
            reasons::CONDITION_ERROR,
            reasons::REGISTRY_UNAVAILABLE,
            reasons::AUTHENTICATION_FAILED,
            reasons::TRUST_ROOT_ERROR,
            reasons::ARTIFACT_NOT_READY,
            reasons::POLICY_INVALID,
            reasons::INPUT_UNAVAILABLE,
            reasons::RECHECK_OVERDUE,
        ],
    ),
    (
        types::READY,
        &[
            reasons::SUCCEEDED,
            reasons::PROGRESSING,
            // Ready=False when a required attestation definitely fails (see `Attested`).
            reasons::ATTESTATION_MISSING,
            reasons::ATTESTATION_INVALID,
            reasons::ATTESTATION_POLICY_FAILED,
        ],
    ),
];

/// A condition's status, as Kubernetes spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl Status {
    /// `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    /// Parses a condition status; anything unexpected is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "True" => Status::True,
            "False" => Status::False,
            _ => Status::Unknown,
        }
    }
}

/// What a condition says, before it is stamped with a generation and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// True / False / Unknown.
    pub status: Status,
    /// One of [`reasons`].
    pub reason: &'static str,
    /// Why, in words (goes into the condition and the event note).
    pub message: String,
}

impl Judgement {
    /// A judgement from its parts.
    pub fn new(status: Status, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// `Verified=Unknown` for a reason outside the engine (`ArtifactNotReady`, `PolicyInvalid`).
pub fn verified_unknown(reason: &'static str, message: impl Into<String>) -> Judgement {
    Judgement::new(Status::Unknown, reason, message)
}

/// `Enforced=True`.
pub fn enforced(message: impl Into<String>) -> Judgement {
    Judgement::new(Status::True, reasons::ENFORCED, message)
}

/// `Enforced=False/VerifyMissing`.
pub fn verify_missing(message: impl Into<String>) -> Judgement {
    Judgement::new(Status::False, reasons::VERIFY_MISSING, message)
}

/// `Enforced=False/VerifyWeaker`.
pub fn verify_weaker(message: impl Into<String>) -> Judgement {
    Judgement::new(Status::False, reasons::VERIFY_WEAKER, message)
}

/// `Ready=True/Succeeded`.
pub fn ready(message: impl Into<String>) -> Judgement {
    Judgement::new(Status::True, reasons::SUCCEEDED, message)
}

/// `Ready=False/Progressing`.
pub fn progressing(message: impl Into<String>) -> Judgement {
    Judgement::new(Status::False, reasons::PROGRESSING, message)
}

/// Whether `reason` is a known reason for condition `type_` (guards metric labels).
pub fn is_known_reason(type_: &str, reason: &str) -> bool {
    known_reason(type_, reason).is_some()
}

/// `reason` as the vocabulary's own string when it is a known reason for condition `type_`:
/// text read back from a status or an object becomes one of a bounded set, or nothing.
pub fn known_reason(type_: &str, reason: &str) -> Option<&'static str> {
    REASONS
        .iter()
        .filter(|(t, _)| *t == type_)
        .flat_map(|(_, rs)| rs.iter())
        .find(|r| **r == reason)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_set_is_bounded_and_unique_per_type() {
        for (t, rs) in REASONS {
            let mut seen = std::collections::BTreeSet::new();
            for r in rs {
                assert!(seen.insert(r), "{t}: duplicate {r}");
            }
        }
        assert!(!is_known_reason(types::READY, "connection refused"));
    }

    #[test]
    fn source_event_reasons_are_prefixed_and_bounded() {
        assert_eq!(
            source_event_reason(types::VERIFIED, reasons::IDENTITY_MISMATCH).as_deref(),
            Some("ProvenanceIdentityMismatch")
        );
        assert_eq!(
            source_event_reason(types::ATTESTED, reasons::ATTESTATION_MISSING).as_deref(),
            Some("ProvenanceAttestationMissing")
        );
        assert_eq!(
            source_event_reason(types::VERIFIED, "connection refused"),
            None
        );
    }

    #[test]
    fn unexpected_status_text_is_unknown() {
        assert_eq!(Status::parse("True"), Status::True);
        assert_eq!(Status::parse("yes"), Status::Unknown);
    }
}
