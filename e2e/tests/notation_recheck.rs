//! A Notation verdict is judged as of the time of its check (the signature's
//! `io.cncf.notary.expiry`, its certificate chain's validity), so time alone can change it: a
//! signature that expires after its audit must be found expired at a later re-check, although
//! nothing in the registry changed. A re-check that only asked the registry whether anything
//! changed (HEADs) would keep `Verified` for ever.

use std::time::{Duration, Instant};

use anyhow::ensure;
use provenance_e2e::notation::trust_policy;
use provenance_e2e::{condition, has_cond, revision, run, AUDIT, FLUX};

/// The controller's `--reverify-interval`: short, so that re-checks come soon after the expiry.
const REVERIFY: Duration = Duration::from_secs(10);
/// The signature's lifetime (`notation sign --expiry`): long enough for the first audit.
const EXPIRY: Duration = Duration::from_secs(40);

#[tokio::test]
async fn a_notation_signature_that_expires_after_its_audit_is_found_expired_at_a_re_check() {
    run("notation-expires", |ctx| async move {
        ctx.auditor_with(&[
            "--reverify-interval".to_string(),
            format!("{}s", REVERIFY.as_secs()),
        ])
        .await?;
        let signer = ctx.notation_signer("release").await?;
        let digest = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("app", "app")?)
            .await?;
        let expiry = format!("{}s", EXPIRY.as_secs());
        ctx.notation_sign(&signer, "app", &digest, &["--expiry", &expiry])
            .await?;
        let expires = Instant::now() + EXPIRY;
        let tp = trust_policy("*", "strict", &["*"]);
        ctx.notation_secret("notation", &tp, &[("ca", &signer.certificate)])
            .await?;
        ctx.policy(
            &format!("{}-notation", ctx.ns),
            ctx.notation_policy("notation"),
        )
        .await?;
        ctx.apply("OCIRepository", "app", ctx.oci_spec("app", None))
            .await?;
        ctx.wait_for(
            "OCIRepository",
            "app",
            FLUX,
            "Ready with the artifact",
            |o| {
                revision(o).is_some_and(|r| r.ends_with(&digest))
                    && has_cond(o, "Ready", "True", None)
            },
        )
        .await?;
        ctx.wait_audit(
            "ocirepository-app",
            AUDIT,
            "Verified before the expiry",
            |a| a.is_some_and(|a| has_cond(a, "Verified", "True", Some("Verified"))),
        )
        .await?;
        ensure!(
            Instant::now() < expires,
            "the first audit came after the signature expired: nothing left to re-check"
        );
        // After the expiry, the next re-check (within the interval) must judge it again.
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                EXPIRY + 3 * REVERIFY,
                "SignatureInvalid (expired) at a re-check",
                |a| a.is_some_and(|a| has_cond(a, "Verified", "False", Some("SignatureInvalid"))),
            )
            .await?
            .unwrap_or_default();
        let message = condition(&a, "Verified")
            .map(|c| c.message)
            .unwrap_or_default();
        ensure!(message.contains("expired"), "{message}");
        Ok(())
    })
    .await;
}
