//! Flux's side of the audit: does source-controller itself enforce an equivalent check
//! (`Enforced`), and does its `SourceVerified` agree with our verdict (`FluxAgrees`)?

use super::decide::{AppliedPolicy, Decision};
use super::source::FluxSource;
use crate::engine::regex_inclusion::{self, Dialect, Identities, Inclusion};
use crate::engine::{Policy, SignatureEvidence, SignatureFormat};
use crate::vocabulary::{self as vocab, reasons, Judgement, Status};

/// `Enforced` of a chart from an HTTP Helm repository: always False, whatever its `spec.verify`.
pub const HTTP_CHART_NOT_ENFORCED: &str = "Flux cannot verify charts from HTTP Helm repositories \
    (a HelmChart's spec.verify is for OCI charts only): nothing blocks an unsigned or altered \
    chart, the audit's verdict is the only check; a chart also published to an OCI registry with \
    a cosign signature can be moved to that source and enforced by Flux";

/// `Enforced`: whether Flux's `spec.verify` blocks what the policies reject.
///
/// `signatures` are the ones found on the artifact (current or kept evidence): whether cosign
/// v3 bundles are present decides whether Flux's identity list can work at all.
pub fn enforced(
    source: &FluxSource,
    decision: &Decision,
    signatures: &[SignatureEvidence],
) -> Judgement {
    let has_bundle = signatures
        .iter()
        .any(|s| s.format == SignatureFormat::Bundle);
    enforced_given_formats(source, decision, has_bundle)
}

/// [`enforced`] when only the signature formats are known (e.g. from evidence kept in status).
pub fn enforced_given_formats(
    source: &FluxSource,
    decision: &Decision,
    has_bundle: bool,
) -> Judgement {
    // --- HTTP Helm charts (helm-prov): Flux cannot verify them at all. ---
    if decision.http_chart {
        return vocab::verify_missing(HTTP_CHART_NOT_ENFORCED);
    }
    // --- end HTTP Helm charts ---
    let Some(verify) = &source.verify else {
        return vocab::verify_missing(format!(
            "{} has no spec.verify: Flux applies whatever is pushed to {}",
            source.kind,
            if source.url.is_empty() {
                "its repository"
            } else {
                &source.url
            }
        ));
    };
    if verify.provider.trim().is_empty() {
        // The API server refuses a blank provider (the CRD's enum), so Flux verifies nothing.
        return vocab::verify_missing(
            "spec.verify.provider is blank: the API server refuses the object, and Flux \
             verifies nothing",
        );
    }
    if verify
        .secret_ref
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return vocab::verify_missing(
            "spec.verify.secretRef.name is blank: it names no key, so Flux verifies nothing",
        );
    }
    // Notation: its own comparison (trust policy and trust store), in enforced_notation.rs.
    if verify.provider == "notation" {
        return super::enforced_notation::enforced(source, decision);
    }
    if verify.provider != "cosign" {
        return vocab::enforced(format!(
            "Flux verifies with {}; the audit checks cosign and Notation signatures only",
            verify.provider
        ));
    }
    if verify.secret_ref.is_none() {
        let n = verify.match_oidc_identity.len();
        if n == 0 && has_bundle {
            return vocab::verify_weaker(
                "spec.verify is keyless with no matchOIDCIdentity: Flux will halt this source, \
                 cosign v3 bundles cannot be verified without exactly one identity",
            );
        }
        if n == 0 {
            return vocab::verify_weaker(
                "spec.verify is keyless with no matchOIDCIdentity: Flux accepts a legacy signature \
                 by any signer the trust root knows",
            );
        }
        if verify
            .match_oidc_identity
            .iter()
            .any(|(issuer, subject)| issuer.is_empty() || subject.is_empty())
        {
            return vocab::verify_weaker(
                "spec.verify has a matchOIDCIdentity entry with an empty issuer or subject regex: \
                 an empty regex matches anything, so Flux accepts a legacy signature by any signer \
                 the trust root knows for that field",
            );
        }
        if n > 1 && has_bundle {
            return vocab::verify_weaker(format!(
                "spec.verify has {n} matchOIDCIdentity entries: Flux will halt this source, cosign \
                 v3 bundles support exactly one (\"unsupported: multiple identities\")"
            ));
        }
    }
    let source_policy = match &decision.source_verify {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return vocab::verify_weaker(format!("spec.verify cannot work: {e}")),
        None => None,
    };
    let mut undecided = None;
    for required in decision.policies.iter().filter(|p| p.require_source_verify) {
        let ours = source_policy.map(|p| &p.policy);
        match at_least_as_strict(ours, source_policy, required) {
            Strictness::AtLeast => {}
            Strictness::Weaker(why) => {
                return vocab::verify_weaker(format!(
                    "policy {} requires spec.verify at least as strict: {why}",
                    required.name
                ))
            }
            Strictness::Undecided(why) => {
                undecided.get_or_insert(format!(
                    "whether spec.verify is at least as strict as policy {} requires: {why}",
                    required.name
                ));
            }
        }
    }
    match undecided {
        // Not shown to be enforced, and not shown weaker: Unknown, never a verdict.
        Some(why) => Judgement::new(Status::Unknown, reasons::VERIFY_WEAKER, why),
        None => vocab::enforced("Flux verifies this source's signature itself"),
    }
}

/// How a source's `spec.verify` compares with a policy it must be at least as strict as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strictness {
    /// Everything Flux accepts, the policy accepts.
    AtLeast,
    /// Flux accepts something the policy refuses (said how).
    Weaker(String),
    /// Not decidable within the bounds (said why).
    Undecided(String),
}

/// Whether the source's `spec.verify` (compiled) is at least as strict as `required`:
/// everything Flux would accept, the policy accepts too.
///
/// - keys: Flux must use keys, and every key in its Secret must be one of the policy's keys
///   (a subset, compared by fingerprint);
/// - keyless: Flux must be keyless with at least one identity, and every identity its regexes
///   accept (read as Go reads them, matched anywhere as Flux's `MatchString` does) must be
///   accepted by the policy's identities ([`regex_inclusion`]: decided on automata, with a
///   concrete identity when not), and it must trust the same root.
pub fn at_least_as_strict(
    source: Option<&Policy>,
    source_policy: Option<&AppliedPolicy>,
    required: &AppliedPolicy,
) -> Strictness {
    let weaker = |why: String| Strictness::Weaker(why);
    match (&required.policy, source) {
        (Policy::None, _) => Strictness::AtLeast,
        (_, None) => weaker("the source has none".into()),
        (Policy::Keys { keys: want, .. }, Some(Policy::Keys { keys: have, .. })) => {
            match have
                .iter()
                .find(|k| !want.iter().any(|w| w.fingerprint == k.fingerprint))
            {
                Some(extra) => weaker(format!(
                    "Flux also accepts key {} ({})",
                    extra.name, extra.fingerprint
                )),
                None => Strictness::AtLeast,
            }
        }
        (Policy::Keyless { identities: want }, Some(Policy::Keyless { identities: have })) => {
            if have.is_empty() {
                return weaker("the source's spec.verify accepts any identity".into());
            }
            let flux: Vec<(&str, &str)> = have
                .iter()
                .map(|h| (h.issuer.as_str(), h.subject.as_str()))
                .collect();
            // A policy identity with matchCertificate claims is stricter than any Flux identity
            // (Flux cannot check those claims): it covers nothing Flux accepts.
            let policy: Vec<(&str, &str)> = want
                .iter()
                .filter(|w| w.certificate.is_empty())
                .map(|w| (w.issuer.as_str(), w.subject.as_str()))
                .collect();
            let answer = regex_inclusion::identities_included_memo(
                Identities {
                    entries: &flux,
                    dialect: Dialect::Go,
                },
                Identities {
                    entries: &policy,
                    dialect: Dialect::Rust,
                },
            );
            match answer {
                Inclusion::Included => {}
                Inclusion::NotIncluded(w) => {
                    let claims = if policy.len() < want.len() {
                        " (policy identities with matchCertificate claims cover nothing Flux checks)"
                    } else {
                        ""
                    };
                    return weaker(format!(
                        "Flux also accepts issuer {:?} with subject {:?} (its identity issuer=~{:?} subject=~{:?}), which the policy refuses{claims}",
                        w.issuer, w.subject, flux[w.entry].0, flux[w.entry].1
                    ));
                }
                Inclusion::Undecided(why) => return Strictness::Undecided(why.to_string()),
            }
            let root = source_policy.map(|p| p.trust_root.fingerprint());
            if root.as_deref() != Some(required.trust_root.fingerprint().as_str()) {
                return weaker("Flux trusts a different Sigstore root".into());
            }
            Strictness::AtLeast
        }
        (Policy::Notation(_), Some(_)) => {
            weaker("the policy requires a Notation signature, the source verifies cosign".into())
        }
        (Policy::Keys { .. }, Some(_)) => {
            weaker("the policy requires keys, the source is keyless".into())
        }
        (Policy::Keyless { .. }, Some(_)) => {
            weaker("the policy requires keyless identities, the source uses keys".into())
        }
    }
}

/// `FluxAgrees`: Flux's `SourceVerified` for the current generation against our `Verified`.
pub fn flux_agrees(source: &FluxSource, verified: Status) -> Judgement {
    let current = source
        .source_verified
        .as_ref()
        .filter(|c| c.observed_generation.is_none() || c.observed_generation == source.generation);
    let flux =
        match (&source.verify, current) {
            (None, _) => {
                return Judgement::new(
                    Status::Unknown,
                    reasons::FLUX_DOES_NOT_VERIFY,
                    "the source has no spec.verify",
                )
            }
            (Some(_), None) => return Judgement::new(
                Status::Unknown,
                reasons::FLUX_DOES_NOT_VERIFY,
                "Flux has not verified the current generation yet (no SourceVerified condition)",
            ),
            (Some(_), Some(c)) => c,
        };
    let said = format!(
        "Flux SourceVerified={}/{}: {}",
        flux.status, flux.reason, flux.message
    );
    match (Status::parse(&flux.status), verified) {
        (Status::Unknown, _) => {
            Judgement::new(Status::Unknown, reasons::FLUX_DOES_NOT_VERIFY, said)
        }
        (_, Status::Unknown) => Judgement::new(
            Status::Unknown,
            reasons::PROGRESSING,
            format!("the audit has no verdict to compare yet; {said}"),
        ),
        (Status::True, Status::False) => Judgement::new(
            Status::False,
            reasons::FLUX_VERIFIED_AUDIT_FAILED,
            format!("Flux accepted an artifact the audit rejects; {said}"),
        ),
        (Status::False, Status::True) => Judgement::new(
            Status::False,
            reasons::AUDIT_VERIFIED_FLUX_FAILED,
            format!("the audit verified an artifact Flux rejects; {said}"),
        ),
        _ => Judgement::new(Status::True, reasons::AGREES, said),
    }
}

#[cfg(test)]
#[path = "enforced_tests.rs"]
mod tests;
