//! Size bounds on the `SourceAudit` status: every string in it that registry or signature
//! content (or a tenant-writable previous status) can fill is cut to a fixed length, every list
//! to a fixed count, and the whole serialized status to [`MAX_STATUS_BYTES`].
//!
//! Why: a status patch larger than the API server accepts (etcd's request limit is about
//! 1.5 MiB, and a huge object slows every watcher) fails, and the previous revision's verdict
//! then stays in place. A signature is hostile input: a 2 MiB legacy payload string, a
//! certificate with a 100 KiB SAN or 10 000 referrers must not decide whether the status can be
//! written. Applied once, at the end of [`super::status::compute`], so no path (fresh
//! evaluation, kept evidence, failure message quoting the last verdict) escapes it.

use crate::api::attestation_status::{AttestationStatus, CertificateClaimsStatus};
use crate::api::source_audit::{CiClaimsStatus, SignatureStatus, SignerStatus};
use crate::api::SourceAuditStatus;

/// The whole status, as JSON. Kubernetes stores a custom resource as JSON; the limit that
/// matters is etcd's (about 1.5 MiB per object), so this leaves a wide margin while keeping
/// every watcher's copy small.
pub const MAX_STATUS_BYTES: usize = 32 * 1024;
/// A condition's, a signature's or a compatibility note's message.
pub const MAX_MESSAGE: usize = 1024;
/// An identity string (certificate SAN, issuer) and the one-line `status.signer`.
pub const MAX_IDENTITY: usize = 512;
/// Any other single value (URL, revision, digest, CI claim, key hint).
pub const MAX_TEXT: usize = 256;
/// Signatures listed; the rest are counted in `signaturesOmitted`.
pub const MAX_SIGNATURES: usize = 8;
/// Attestations listed; the rest are counted in `attestationsOmitted`.
pub const MAX_ATTESTATIONS: usize = 8;
/// Flux compatibility notes listed.
pub const MAX_NOTES: usize = 8;
/// Policy names listed (cluster-scoped objects, but a wide selector can match many).
pub const MAX_POLICIES: usize = 32;
/// Identities in a suggested `spec.verify`.
pub const MAX_SUGGESTED_IDENTITIES: usize = 4;
/// The suggested block's YAML.
pub const MAX_SUGGESTED_YAML: usize = 4096;

/// What a cut string ends with, so a reader knows it is not the whole value.
const CUT: &str = "…(cut)";

/// `s` with control characters made spaces (JSON would escape each to six bytes) and, when
/// longer than `max` bytes, cut on a character boundary and marked; never longer than `max`.
pub fn clip(s: &str, max: usize) -> String {
    // Only the first `max` bytes are looked at: the input may be megabytes.
    let mut cleaned = String::with_capacity(s.len().min(max) + 4);
    let mut whole = true;
    for c in s.chars() {
        if cleaned.len() + c.len_utf8() > max {
            whole = false;
            break;
        }
        cleaned.push(if c.is_control() { ' ' } else { c });
    }
    if whole {
        return cleaned;
    }
    let marker = if max >= 2 * CUT.len() { CUT } else { "" };
    let mut end = max - marker.len();
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    cleaned.truncate(end);
    cleaned.push_str(marker);
    cleaned
}

fn clip_opt(s: &mut Option<String>, max: usize) {
    if let Some(v) = s {
        *v = clip(v, max);
    }
}

fn clip_in_place(s: &mut String, max: usize) {
    if s.len() > max || s.contains(char::is_control) {
        *s = clip(s, max);
    }
}

/// Bounds every field of `status` (see the module doc). `decisive` is the overall verdict's
/// reason: when signatures must be dropped, the ones with that verdict are kept first.
pub fn bound(status: &mut SourceAuditStatus, decisive: Option<&str>) {
    if let Some(s) = &mut status.source {
        clip_opt(&mut s.url, MAX_TEXT);
    }
    clip_opt(&mut status.flux_revision, MAX_TEXT);
    clip_opt(&mut status.digest, MAX_TEXT);
    clip_opt(&mut status.digest_note, MAX_MESSAGE);
    if status.policies.len() > MAX_POLICIES {
        let more = status.policies.len() - (MAX_POLICIES - 1);
        status.policies.truncate(MAX_POLICIES - 1);
        status.policies.push(format!("…and {more} more"));
    }
    for p in &mut status.policies {
        clip_in_place(p, MAX_TEXT);
    }
    clip_opt(&mut status.signer, MAX_IDENTITY);
    bound_signatures(status, decisive);
    bound_attestations(status);
    clip_opt(&mut status.built_from, MAX_TEXT);
    status.flux_compatibility.truncate(MAX_NOTES);
    for n in &mut status.flux_compatibility {
        clip_in_place(&mut n.code, MAX_TEXT);
        clip_in_place(&mut n.message, MAX_MESSAGE);
    }
    // A suggestion is offered whole or not at all: a cut identity would suggest accepting a
    // different signer than the one found.
    if status.suggested_verify.as_ref().is_some_and(|s| {
        s.match_oidc_identity.len() > MAX_SUGGESTED_IDENTITIES
            || s.match_oidc_identity
                .iter()
                .any(|i| i.issuer.len() > MAX_IDENTITY || i.subject.len() > MAX_IDENTITY)
            || s.key_fingerprint
                .as_ref()
                .is_some_and(|f| f.len() > MAX_TEXT)
            || s.yaml.len() > MAX_SUGGESTED_YAML
            || s.provider.len() > MAX_TEXT
    }) {
        status.suggested_verify = None;
    }
    for c in &mut status.conditions {
        clip_in_place(&mut c.message, MAX_MESSAGE);
    }
    if let Some(v) = &mut status.last_verdict {
        clip_in_place(&mut v.status, MAX_TEXT);
        clip_in_place(&mut v.reason, MAX_TEXT);
        clip_in_place(&mut v.message, MAX_MESSAGE);
    }
    bound_cache_key(status);
    fit(status);
}

/// Drops an oversized verdict cache key. Never cut (a cut key would match another's); a
/// dropped key only costs a registry request. Called again by the verifier once it has put the
/// full key (with the tenant-chosen registry and repository) into the status.
pub fn bound_cache_key(status: &mut SourceAuditStatus) {
    if let Some(k) = &status.verdict_cache {
        let too_long = [
            &k.registry,
            &k.repository,
            &k.digest,
            &k.policy_fingerprint,
            &k.trust_root_fingerprint,
        ]
        .iter()
        .any(|v| v.len() > MAX_TEXT);
        if too_long {
            status.verdict_cache = None;
        }
    }
}

fn bound_signatures(status: &mut SourceAuditStatus, decisive: Option<&str>) {
    let found = status.signatures.len().saturating_add(omitted(status));
    if status.signatures.len() > MAX_SIGNATURES {
        // The evidence for the verdict first, in the order found (a stable partition).
        if let Some(d) = decisive {
            status.signatures.sort_by_key(|s| s.verdict != d);
        }
        status.signatures.truncate(MAX_SIGNATURES);
    }
    for s in &mut status.signatures {
        bound_signature(s);
    }
    set_omitted(status, found);
}

fn bound_signature(s: &mut SignatureStatus) {
    clip_in_place(&mut s.format, MAX_TEXT);
    clip_in_place(&mut s.location, MAX_TEXT);
    clip_in_place(&mut s.verdict, MAX_TEXT);
    clip_in_place(&mut s.message, MAX_MESSAGE);
    let SignerStatus {
        subject,
        issuer,
        key_fingerprint,
        key_hint,
    } = &mut s.signer;
    clip_opt(subject, MAX_IDENTITY);
    clip_opt(issuer, MAX_IDENTITY);
    clip_opt(key_fingerprint, MAX_TEXT);
    clip_opt(key_hint, MAX_TEXT);
    if let Some(CiClaimsStatus {
        source_repository,
        source_repository_ref,
        source_repository_digest,
        workflow,
        trigger,
        run_invocation_uri,
        build_signer_uri,
        build_signer_digest,
        runner_environment,
        source_repository_owner_uri,
        source_repository_visibility,
    }) = &mut s.ci
    {
        for v in [
            source_repository,
            source_repository_ref,
            source_repository_digest,
            workflow,
            trigger,
            run_invocation_uri,
            build_signer_uri,
            build_signer_digest,
            runner_environment,
            source_repository_owner_uri,
            source_repository_visibility,
        ] {
            clip_opt(v, MAX_TEXT);
        }
    }
    if let Some(t) = &mut s.tlog {
        clip_opt(&mut t.integrated_time, MAX_TEXT);
    }
}

fn bound_attestations(status: &mut SourceAuditStatus) {
    let found = status
        .attestations
        .len()
        .saturating_add(attestations_omitted(status));
    // Verified ones first (a stable partition): they are the evidence for `Attested`.
    if status.attestations.len() > MAX_ATTESTATIONS {
        status.attestations.sort_by_key(|a| a.verdict != "Verified");
        status.attestations.truncate(MAX_ATTESTATIONS);
    }
    for a in &mut status.attestations {
        bound_attestation(a);
    }
    set_attestations_omitted(status, found);
}

fn bound_attestation(a: &mut AttestationStatus) {
    for v in [
        &mut a.predicate_type,
        &mut a.format,
        &mut a.location,
        &mut a.verdict,
    ] {
        clip_in_place(v, MAX_TEXT);
    }
    clip_in_place(&mut a.message, MAX_MESSAGE);
    let SignerStatus {
        subject,
        issuer,
        key_fingerprint,
        key_hint,
    } = &mut a.signer;
    clip_opt(subject, MAX_IDENTITY);
    clip_opt(issuer, MAX_IDENTITY);
    clip_opt(key_fingerprint, MAX_TEXT);
    clip_opt(key_hint, MAX_TEXT);
    if let Some(c) = &mut a.certificate {
        let CertificateClaimsStatus {
            issuer,
            build_signer_uri,
            build_signer_digest,
            runner_environment,
            source_repository_uri,
            source_repository_digest,
            source_repository_ref,
            source_repository_identifier,
            source_repository_owner_uri,
            source_repository_owner_identifier,
            build_config_uri,
            build_config_digest,
            build_trigger,
            run_invocation_uri,
            source_repository_visibility_at_signing,
        } = c;
        for v in [
            issuer,
            build_signer_uri,
            build_signer_digest,
            runner_environment,
            source_repository_uri,
            source_repository_digest,
            source_repository_ref,
            source_repository_identifier,
            source_repository_owner_uri,
            source_repository_owner_identifier,
            build_config_uri,
            build_config_digest,
            build_trigger,
            run_invocation_uri,
            source_repository_visibility_at_signing,
        ] {
            clip_opt(v, MAX_TEXT);
        }
    }
    if let Some(t) = &mut a.tlog {
        clip_opt(&mut t.integrated_time, MAX_TEXT);
    }
    if let Some(p) = &mut a.provenance {
        clip_in_place(&mut p.slsa_version, MAX_TEXT);
        for v in [
            &mut p.builder_id,
            &mut p.build_type,
            &mut p.source_repository,
            &mut p.source_commit,
            &mut p.source_ref,
            &mut p.workflow_repository,
            &mut p.workflow_path,
            &mut p.workflow_ref,
            &mut p.invocation_id,
        ] {
            clip_opt(v, MAX_TEXT);
        }
    }
    if let Some(b) = &mut a.sbom {
        clip_in_place(&mut b.format, MAX_TEXT);
        clip_opt(&mut b.version, MAX_TEXT);
        clip_opt(&mut b.generator, MAX_TEXT);
    }
}

fn attestations_omitted(status: &SourceAuditStatus) -> usize {
    status
        .attestations_omitted
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

fn set_attestations_omitted(status: &mut SourceAuditStatus, found: usize) {
    status.attestations_omitted = match found.saturating_sub(status.attestations.len()) {
        0 => None,
        n => Some(i64::try_from(n).unwrap_or(i64::MAX)),
    };
}

fn omitted(status: &SourceAuditStatus) -> usize {
    status
        .signatures_omitted
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

fn set_omitted(status: &mut SourceAuditStatus, found: usize) {
    let listed = status.signatures.len();
    status.signatures_omitted = match found.saturating_sub(listed) {
        0 => None,
        n => Some(i64::try_from(n).unwrap_or(i64::MAX)),
    };
}

/// The serialized size of a status (what the API server stores).
pub fn serialized_len(status: &SourceAuditStatus) -> usize {
    serde_json::to_vec(status).map_or(usize::MAX, |v| v.len())
}

/// The last resort when the per-field bounds still add up to too much (escaped characters, a
/// future field): drop the least essential evidence, one piece at a time, until it fits. The
/// conditions, digest and signer — the verdict itself — are always kept.
fn fit(status: &mut SourceAuditStatus) {
    // Attestations go first, from the end of the list (the verified ones are listed first).
    let found = status
        .attestations
        .len()
        .saturating_add(attestations_omitted(status));
    while serialized_len(status) > MAX_STATUS_BYTES && !status.attestations.is_empty() {
        status.attestations.pop();
        set_attestations_omitted(status, found);
    }
    let found = status.signatures.len().saturating_add(omitted(status));
    while serialized_len(status) > MAX_STATUS_BYTES && !status.signatures.is_empty() {
        status.signatures.pop();
        set_omitted(status, found);
    }
    if serialized_len(status) > MAX_STATUS_BYTES {
        status.flux_compatibility.clear();
    }
    if serialized_len(status) > MAX_STATUS_BYTES {
        status.suggested_verify = None;
    }
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
