//! The signature's CI claims reach the `SourceAudit` status whole (issue 12: runner
//! environment, build signer, repository owner and visibility beside the older ones).

use super::evidence::signature;
use crate::engine::evidence::CiClaims;
use crate::engine::Verdict;
use crate::engine::{SignatureEvidence, SignatureFormat};
use crate::registry::SignatureLocation;

#[test]
fn every_ci_claim_the_engine_reads_reaches_the_status() {
    let v = |s: &str| Some(s.to_string());
    let ci = CiClaims {
        source_repository: v("https://github.com/o/r"),
        runner_environment: v("self-hosted"),
        build_signer_uri: v("https://github.com/o/shared/.github/workflows/w.yml@refs/heads/main"),
        build_signer_digest: v("abc"),
        source_repository_owner_uri: v("https://github.com/o"),
        source_repository_visibility: v("private"),
        ..CiClaims::default()
    };
    let s = signature(&SignatureEvidence {
        location: SignatureLocation::ReferrersApi,
        format: SignatureFormat::Bundle,
        signer: Default::default(),
        ci: Some(ci),
        tlog: None,
        verdict: Verdict::Verified,
        message: String::new(),
    });
    let c = s.ci.unwrap();
    assert_eq!(c.runner_environment.as_deref(), Some("self-hosted"));
    assert_eq!(c.build_signer_digest.as_deref(), Some("abc"));
    assert_eq!(
        c.source_repository_owner_uri.as_deref(),
        Some("https://github.com/o")
    );
    assert_eq!(c.source_repository_visibility.as_deref(), Some("private"));
    assert!(c.build_signer_uri.unwrap().contains("/shared/"));
}
