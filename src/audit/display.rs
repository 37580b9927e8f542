//! Short forms of the status for `kubectl get sourceaudits`: the default columns must fit a
//! 160-column terminal, so the signer and the digest are shortened here and the full values stay
//! in `signer`, `digest` and the `-o wide` columns.
//!
//! The short forms only display what the status already says; nothing reads them back. They are
//! bounded and single-line because the signer comes from a certificate in the registry.

use crate::api::source_audit::SignerStatus;
use crate::api::SourceAuditStatus;
use crate::engine::Signer;

/// GitHub Actions' OIDC issuer: only its identities are shortened to `owner/repo/workflow@ref`,
/// so a look-alike subject from another issuer never displays like a GitHub workflow.
const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Hex digits kept of a digest or key fingerprint (as `git log --oneline` keeps of a commit).
const SHORT_HEX: usize = 12;
/// Longest short signer, in characters (a GitHub identity is typically 30-50).
const MAX_SIGNER: usize = 64;
/// Longest OpenPGP user-ID name kept after its key.
const MAX_USER_ID: usize = 24;
/// Longest issuer host kept after a non-GitHub subject (`token.actions.githubusercontent.com`
/// is 35).
const MAX_ISSUER: usize = 40;

/// Sets `shortSigner` and `shortDigest` from the rest of the status (called last when the
/// status is computed, so every outcome — evaluated, cached, failed — gets them).
pub fn fill(status: &mut SourceAuditStatus) {
    status.short_signer = status.signer.as_deref().map(|full| {
        // The structured signer of the decisive signature when it is there; else the line.
        status
            .signatures
            .iter()
            .map(|s| &s.signer)
            .find(|s| describe(s) == full)
            .map(short_signer)
            .unwrap_or_else(|| bounded(full))
    });
    status.short_digest = status.digest.as_deref().map(short_digest);
}

/// A signer in at most [`MAX_SIGNER`] characters: `owner/repo/workflow.yml@ref` for a GitHub
/// Actions workflow identity, `subject (issuer host)` for other keyless signers,
/// `key sha256:<12 hex>` for a key, `key openpgp:<12 hex> <user ID name>` for an OpenPGP key.
pub fn short_signer(s: &SignerStatus) -> String {
    let text = match (&s.subject, &s.issuer, &s.key_fingerprint, &s.key_hint) {
        (Some(subject), Some(issuer), _, _) => match github_workflow(subject, issuer) {
            Some(short) => short,
            None => with_issuer(subject, host(issuer)),
        },
        // An OpenPGP signer (Helm provenance): its key and the name of its user ID.
        (Some(subject), None, Some(fp), _) => {
            format!("key {} {}", short_digest(fp), user_id_name(subject))
        }
        (Some(subject), None, _, _) => with_issuer(subject, "no issuer"),
        (None, _, Some(fp), _) => format!("key {}", short_digest(fp)),
        (None, _, None, Some(hint)) => format!("key hint {hint}"),
        _ => "unknown key".into(),
    };
    bounded(&text)
}

/// The name of an OpenPGP user ID `Name (comment) <email>`, else the whole user ID; cut to
/// [`MAX_USER_ID`] characters.
fn user_id_name(uid: &str) -> String {
    let name = uid.split(['<', '(']).next().unwrap_or_default().trim();
    let name = if name.is_empty() { uid.trim() } else { name };
    crate::registry::bounded::cut_chars(name, MAX_USER_ID)
}

/// `sha256:` and the first 12 hex digits; a value in another form is only bounded.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex))
            if !algorithm.is_empty()
                && hex.len() > SHORT_HEX
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            format!("{algorithm}:{}", &hex[..SHORT_HEX])
        }
        _ => bounded(digest),
    }
}

/// `https://github.com/OWNER/REPO/.github/workflows/FILE@REF` → `OWNER/REPO/FILE@REF`.
fn github_workflow(subject: &str, issuer: &str) -> Option<String> {
    if issuer != GITHUB_ACTIONS_ISSUER {
        return None;
    }
    let path = subject.strip_prefix("https://github.com/")?;
    let (repo, workflow) = path.split_once("/.github/workflows/")?;
    let mut parts = repo.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(owner), Some(name), None) if !owner.is_empty() && !name.is_empty() => {
            Some(format!("{owner}/{name}/{workflow}"))
        }
        _ => None,
    }
}

/// `subject (issuer)`, the subject cut first so that the issuer always shows.
fn with_issuer(subject: &str, issuer: &str) -> String {
    let suffix = format!(" ({})", bounded_to(issuer, MAX_ISSUER));
    let room = MAX_SIGNER - suffix.chars().count();
    format!("{}{suffix}", bounded_to(without_scheme(subject), room))
}

fn without_scheme(url: &str) -> &str {
    url.strip_prefix("https://").unwrap_or(url)
}

fn host(url: &str) -> &str {
    let rest = without_scheme(url);
    rest.split('/').next().unwrap_or(rest)
}

/// The status's one-line `signer` for a signer: the engine's own wording, so the two never drift.
fn describe(s: &SignerStatus) -> String {
    Signer {
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
        key_fingerprint: s.key_fingerprint.clone(),
        key_hint: s.key_hint.clone(),
    }
    .describe()
}

/// One line of at most [`MAX_SIGNER`] characters (see [`bounded_to`]).
fn bounded(text: &str) -> String {
    bounded_to(text, MAX_SIGNER)
}

/// One line of at most `max` characters: control characters (a newline would break the table)
/// become `?`, and a longer value ends in `…`.
fn bounded_to(text: &str, max: usize) -> String {
    let clean = text.chars().map(|c| if c.is_control() { '?' } else { c });
    if text.chars().count() <= max {
        clean.collect()
    } else {
        clean.take(max.saturating_sub(1)).chain(['…']).collect()
    }
}

#[cfg(test)]
#[path = "display_tests.rs"]
mod tests;
