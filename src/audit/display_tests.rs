use super::*;
use crate::api::source_audit::SignatureStatus;

const WORKFLOW: &str =
    "https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main";
const DIGEST: &str = "sha256:ee97750e39ed22a4db7008e5f996bed71135d22b24cc9f4bfe85dca190dd89cc";

fn keyless(subject: &str, issuer: &str) -> SignerStatus {
    SignerStatus {
        subject: Some(subject.into()),
        issuer: Some(issuer.into()),
        ..SignerStatus::default()
    }
}

fn key(fingerprint: &str) -> SignerStatus {
    SignerStatus {
        key_fingerprint: Some(fingerprint.into()),
        ..SignerStatus::default()
    }
}

fn signature(signer: SignerStatus) -> SignatureStatus {
    SignatureStatus {
        format: "bundle".into(),
        location: "referrers-api".into(),
        signer,
        ci: None,
        tlog: None,
        verdict: "Verified".into(),
        message: String::new(),
    }
}

#[test]
fn a_github_actions_identity_is_owner_repo_workflow_and_ref() {
    assert_eq!(
        short_signer(&keyless(WORKFLOW, GITHUB_ACTIONS_ISSUER)),
        "example/infra/publish.yml@refs/heads/main"
    );
    let tag = "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1.2.3";
    assert_eq!(
        short_signer(&keyless(tag, GITHUB_ACTIONS_ISSUER)),
        "o/r/release.yml@refs/tags/v1.2.3"
    );
}

#[test]
fn a_github_look_alike_from_another_issuer_keeps_its_issuer() {
    // Same subject, different issuer: must not display like the real workflow.
    let short = short_signer(&keyless(WORKFLOW, "https://issuer.evil.example/x"));
    // Too long for the column: the subject is cut, the issuer still shows.
    assert_eq!(
        short,
        "github.com/example/infra/.github/workflow… (issuer.evil.example)"
    );
    assert_eq!(short.chars().count(), MAX_SIGNER);
}

#[test]
fn other_keyless_signers_show_subject_and_issuer_host() {
    assert_eq!(
        short_signer(&keyless("alice@example.com", "https://accounts.google.com")),
        "alice@example.com (accounts.google.com)"
    );
    let no_issuer = SignerStatus {
        subject: Some("alice@example.com".into()),
        ..SignerStatus::default()
    };
    assert_eq!(short_signer(&no_issuer), "alice@example.com (no issuer)");
    // A GitHub URL that is not a workflow path stays whole (minus the scheme).
    assert_eq!(
        short_signer(&keyless(
            "https://github.com/o/r/x.yml@main",
            GITHUB_ACTIONS_ISSUER
        )),
        "github.com/o/r/x.yml@main (token.actions.githubusercontent.com)"
    );
}

#[test]
fn a_key_shows_its_short_fingerprint() {
    assert_eq!(short_signer(&key(DIGEST)), "key sha256:ee97750e39ed");
    let hint = SignerStatus {
        key_hint: Some("release-2026".into()),
        ..SignerStatus::default()
    };
    assert_eq!(short_signer(&hint), "key hint release-2026");
    assert_eq!(short_signer(&SignerStatus::default()), "unknown key");
}

#[test]
fn an_openpgp_signer_shows_its_short_fingerprint_and_user_id() {
    let pgp = SignerStatus {
        subject: Some("Chart Signer <signer@example.com>".into()),
        key_fingerprint: Some("openpgp:277ADEFE1ADA1311E173085ED20C80BEF12E95E8".into()),
        ..SignerStatus::default()
    };
    assert_eq!(short_signer(&pgp), "key openpgp:277ADEFE1ADA Chart Signer");
    let email_only = SignerStatus {
        subject: Some("<signer@example.com>".into()),
        ..pgp.clone()
    };
    assert_eq!(
        short_signer(&email_only),
        "key openpgp:277ADEFE1ADA <signer@example.com>"
    );
    let unchecked = SignerStatus {
        subject: None,
        ..pgp
    };
    assert_eq!(short_signer(&unchecked), "key openpgp:277ADEFE1ADA");
}

#[test]
fn a_digest_keeps_its_algorithm_and_twelve_hex_digits() {
    assert_eq!(short_digest(DIGEST), "sha256:ee97750e39ed");
    assert_eq!(
        short_digest("sha512:0123456789abcdef"),
        "sha512:0123456789ab"
    );
    // Not `algorithm:hex`: shown as is, bounded.
    assert_eq!(short_digest("sha256:short"), "sha256:short");
    assert_eq!(
        short_digest("sha256:xyz0123456789abcdef"),
        "sha256:xyz0123456789abcdef"
    );
    assert_eq!(short_digest(&"a".repeat(100)).chars().count(), MAX_SIGNER);
}

#[test]
fn an_untrusted_signer_is_one_bounded_line() {
    let subject = format!("https://example.com/{}\nNAME  True", "x".repeat(200));
    let issuer = format!("https://{}", "i".repeat(200));
    let short = short_signer(&keyless(&subject, &issuer));
    assert_eq!(short.chars().count(), MAX_SIGNER);
    assert!(short.ends_with("i…)"), "{short}");
    assert!(!short.chars().any(char::is_control), "{short:?}");
    assert_eq!(bounded("a\tb\u{1b}[31m"), "a?b?[31m");
}

#[test]
fn fill_shortens_the_decisive_signer_and_the_digest() {
    let mut status = SourceAuditStatus {
        // The decisive signer is the second signature's.
        signer: Some(format!("{WORKFLOW} (issuer {GITHUB_ACTIONS_ISSUER})")),
        signatures: vec![
            signature(key(DIGEST)),
            signature(keyless(WORKFLOW, GITHUB_ACTIONS_ISSUER)),
        ],
        digest: Some(DIGEST.into()),
        ..SourceAuditStatus::default()
    };
    fill(&mut status);
    assert_eq!(
        status.short_signer.as_deref(),
        Some("example/infra/publish.yml@refs/heads/main")
    );
    assert_eq!(status.short_digest.as_deref(), Some("sha256:ee97750e39ed"));
}

#[test]
fn fill_without_a_signer_or_digest_sets_nothing_and_clears_stale_values() {
    let mut status = SourceAuditStatus {
        short_signer: Some("stale".into()),
        short_digest: Some("stale".into()),
        ..SourceAuditStatus::default()
    };
    fill(&mut status);
    assert_eq!(status.short_signer, None);
    assert_eq!(status.short_digest, None);
}

#[test]
fn fill_bounds_a_signer_line_with_no_matching_signature() {
    let line = format!("{} (issuer https://issuer.example)", "s".repeat(100));
    let mut status = SourceAuditStatus {
        signer: Some(line),
        ..SourceAuditStatus::default()
    };
    fill(&mut status);
    let short = status.short_signer.unwrap();
    assert_eq!(short.chars().count(), MAX_SIGNER);
    assert!(short.starts_with("sss"), "{short}");
}
