//! Where Flux (source-controller v1.9, cosign v3 libraries) would judge the same artifact and
//! policy differently from us — reported separately, never folded into our verdict.

use serde::Serialize;

use super::evidence::{SignatureEvidence, SignatureFormat};
use super::policy::Policy;
use super::verdict::Verdict;

/// A difference between what Flux will do and what the audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompatNote {
    /// Stable code: `NoIdentities`, `MultipleIdentities`, `EmptyRegex`, `UnanchoredRegex`,
    /// `BundleHidesLegacy`, `AcceptsAnySigner`.
    pub code: &'static str,
    /// What Flux will do, and why.
    pub message: String,
}

/// The notes for an artifact's signatures under a policy.
pub fn notes(policy: &Policy, signatures: &[SignatureEvidence]) -> Vec<CompatNote> {
    let has_bundle = signatures
        .iter()
        .any(|s| s.format == SignatureFormat::Bundle);
    let mut out = vec![];
    if let Policy::Keyless { identities } = policy {
        if has_bundle && identities.is_empty() {
            out.push(CompatNote {
                code: "NoIdentities",
                message: "Flux will fail: cosign v3 bundles cannot be verified without at least one matchOIDCIdentity entry".into(),
            });
        }
        if has_bundle && identities.len() > 1 {
            out.push(CompatNote {
                code: "MultipleIdentities",
                message: format!(
                    "Flux will fail: cosign v3 bundles support exactly one matchOIDCIdentity entry, this policy has {} (\"unsupported: multiple identities\")",
                    identities.len()
                ),
            });
        }
        if has_bundle
            && identities
                .iter()
                .any(|i| i.issuer.as_str().is_empty() || i.subject.as_str().is_empty())
        {
            out.push(CompatNote {
                code: "EmptyRegex",
                message: "Flux will fail: an empty issuer or subject regex is an error on the bundle path".into(),
            });
        }
        if identities
            .iter()
            .any(|i| !i.subject.as_str().starts_with('^') || !i.subject.as_str().ends_with('$'))
        {
            out.push(CompatNote {
                code: "UnanchoredRegex",
                message: "a subject regex is not anchored (^…$): like Flux, it matches anywhere, so `https://github.com/org/repo` also accepts `https://github.com/org/repo-evil/…`".into(),
            });
        }
        if !has_bundle && identities.is_empty() && !signatures.is_empty() {
            out.push(CompatNote {
                code: "AcceptsAnySigner",
                message: "Flux accepts any certificate from the trust root for legacy signatures when no identity is given".into(),
            });
        }
    }
    // Flux reads legacy signatures only when no bundle is found at all.
    let bundle_ok = signatures
        .iter()
        .any(|s| s.format == SignatureFormat::Bundle && s.verdict == Verdict::Verified);
    let legacy_ok = signatures
        .iter()
        .any(|s| s.format == SignatureFormat::Legacy && s.verdict == Verdict::Verified);
    if has_bundle && !bundle_ok && legacy_ok {
        out.push(CompatNote {
            code: "BundleHidesLegacy",
            message: "Flux will fail: it checks only the Sigstore bundles when any are attached, and none of them verifies; the valid legacy signature is never consulted".into(),
        });
    }
    out
}
