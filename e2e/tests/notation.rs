//! Notary Project signatures on the real stack: the real notation CLI signs, source-controller
//! verifies the same artifacts with `provider: notation` (notation-go), and the controller's
//! verdict must be the one Notation gives: `FluxAgrees` where Flux fetched the artifact, and
//! Flux's `SourceVerified=False` on a second source where it refuses it.

use anyhow::ensure;
use provenance_e2e::notation::{trust_policy, trust_policy_with_tsa};
use provenance_e2e::{condition, has_cond, revision, run, Ctx, AUDIT, FLUX};
use serde_json::Value;

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

/// For a signature Flux rejects: Flux then never fetches the artifact under `spec.verify`, so
/// the audited source (`app`) has none and a policy requires Notation; a second source on the
/// same artifact (`flux-check`) verified by Flux with the same Secret shows Flux's own
/// judgement: SourceVerified=False/VerificationError.
async fn rejected_by_flux(ctx: &Ctx, repo: &str, digest: &str) -> anyhow::Result<()> {
    ctx.policy(
        &format!("{}-notation", ctx.ns),
        ctx.notation_policy("notation"),
    )
    .await?;
    ctx.apply("OCIRepository", "app", ctx.oci_spec(repo, None))
        .await?;
    ctx.wait_for(
        "OCIRepository",
        "app",
        FLUX,
        "Ready with the artifact",
        |o| revision(o).is_some_and(|r| r.ends_with(digest)) && has_cond(o, "Ready", "True", None),
    )
    .await?;
    ctx.apply(
        "OCIRepository",
        "flux-check",
        ctx.notation_oci_spec(repo, "notation"),
    )
    .await?;
    ctx.wait_for(
        "OCIRepository",
        "flux-check",
        FLUX,
        "SourceVerified=False",
        |o| has_cond(o, "SourceVerified", "False", Some("VerificationError")),
    )
    .await?;
    Ok(())
}

/// Pushes `repo:v1` and returns its digest (not yet signed).
async fn push(ctx: &Ctx, repo: &str) -> anyhow::Result<String> {
    ctx.push_artifact(repo, "v1", &ctx.artifact_dir(repo, repo)?)
        .await
}

/// Applies the Flux source (verified by Flux with Secret `secret`) and waits until Flux has
/// judged the digest: SourceVerified True, or False with VerificationError.
async fn flux_judges(
    ctx: &Ctx,
    repo: &str,
    secret: &str,
    digest: &str,
    ok: bool,
) -> anyhow::Result<()> {
    ctx.apply("OCIRepository", repo, ctx.notation_oci_spec(repo, secret))
        .await?;
    let want = if ok {
        "SourceVerified=True"
    } else {
        "SourceVerified=False/VerificationError"
    };
    ctx.wait_for("OCIRepository", repo, FLUX, want, |o| {
        if ok {
            has_cond(o, "SourceVerified", "True", None)
                && revision(o).is_some_and(|r| r.ends_with(digest))
        } else {
            has_cond(o, "SourceVerified", "False", Some("VerificationError"))
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn notation_signed_by_the_trusted_ca_is_verified_enforced_and_flux_agrees() {
    run("notation-ok", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("release").await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&signer, "app", &digest, &["--signature-format", "cose"])
            .await?;
        let scope = format!("{}/{}/app", ctx.stack.registry(), ctx.ns);
        let tp = trust_policy(
            &scope,
            "strict",
            &["x509.subject: C=US, ST=WA, O=Notary, CN=release"],
        );
        ctx.notation_secret("notation", &tp, &[("release", &signer.certificate)])
            .await?;
        ctx.policy(
            &format!("{}-notation", ctx.ns),
            ctx.notation_policy("notation"),
        )
        .await?;
        flux_judges(&ctx, "app", "notation", &digest, true).await?;
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                AUDIT,
                "Verified, Enforced and FluxAgrees",
                |a| {
                    verified(a, "True", "Verified")
                        && a.is_some_and(|a| has_cond(a, "FluxAgrees", "True", None))
                },
            )
            .await?
            .unwrap_or_default();
        ensure!(a["status"]["digest"] == digest, "digest: {}", a["status"]);
        ensure!(
            has_cond(&a, "Enforced", "True", None),
            "{:?}",
            condition(&a, "Enforced")
        );
        let signer = a["status"]["signer"].as_str().unwrap_or_default();
        ensure!(signer.contains("CN=release"), "signer {signer:?}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn notation_signed_by_another_ca_is_an_untrusted_signer_as_flux_says() {
    run("notation-other-ca", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("release").await?;
        let stranger = ctx.notation_signer("stranger").await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&stranger, "app", &digest, &[]).await?;
        let tp = trust_policy("*", "strict", &["*"]);
        ctx.notation_secret("notation", &tp, &[("release", &signer.certificate)])
            .await?;
        rejected_by_flux(&ctx, "app", &digest).await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "UntrustedSigner", |a| {
            verified(a, "False", "UntrustedSigner")
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn notation_identity_not_trusted_is_an_identity_mismatch() {
    run("notation-identity", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("intern").await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&signer, "app", &digest, &[]).await?;
        let tp = trust_policy(
            "*",
            "strict",
            &["x509.subject: C=US, ST=WA, O=Notary, CN=release"],
        );
        ctx.notation_secret("notation", &tp, &[("ca", &signer.certificate)])
            .await?;
        rejected_by_flux(&ctx, "app", &digest).await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "IdentityMismatch", |a| {
            verified(a, "False", "IdentityMismatch")
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_expired_notation_signature_fails_strict() {
    run("notation-expired", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("release").await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&signer, "app", &digest, &["--expiry", "1s"])
            .await?;
        let tp = trust_policy("*", "strict", &["*"]);
        ctx.notation_secret("notation", &tp, &[("ca", &signer.certificate)])
            .await?;
        rejected_by_flux(&ctx, "app", &digest).await?;
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                AUDIT,
                "SignatureInvalid (expired)",
                |a| verified(a, "False", "SignatureInvalid"),
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

#[tokio::test]
async fn a_notation_signature_moved_to_another_digest_is_a_digest_mismatch() {
    run("notation-moved", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("release").await?;
        let signed = ctx
            .push_artifact("app", "signed", &ctx.artifact_dir("signed", "signed")?)
            .await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&signer, "app", &signed, &[]).await?;
        ctx.notation_move("app", &signed, &digest).await?;
        let tp = trust_policy("*", "strict", &["*"]);
        ctx.notation_secret("notation", &tp, &[("ca", &signer.certificate)])
            .await?;
        rejected_by_flux(&ctx, "app", &digest).await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "DigestMismatch", |a| {
            verified(a, "False", "DigestMismatch")
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn cosign_and_notation_signatures_are_both_reported() {
    run("notation-and-cosign", |ctx| async move {
        ctx.auditor().await?;
        let signer = ctx.notation_signer("release").await?;
        let (key, _) = ctx.keygen("cosign").await?;
        let digest = push(&ctx, "app").await?;
        ctx.notation_sign(&signer, "app", &digest, &[]).await?;
        ctx.sign(&key, "bundle", "app", &digest).await?;
        let tp = trust_policy("*", "strict", &["*"]);
        ctx.notation_secret("notation", &tp, &[("ca", &signer.certificate)])
            .await?;
        flux_judges(&ctx, "app", "notation", &digest, true).await?;
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                AUDIT,
                "Verified with both signatures",
                |a| verified(a, "True", "Verified"),
            )
            .await?
            .unwrap_or_default();
        let formats: Vec<&str> = a["status"]["signatures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["format"].as_str())
            .collect();
        ensure!(
            formats.contains(&"notation") && formats.contains(&"bundle"),
            "signatures: {}",
            a["status"]["signatures"]
        );
        Ok(())
    })
    .await;
}

/// Signs `app` with a timestamp from the TSA `signed_by`, and trusts (in the Secret Flux and the
/// policy read) the signer and the root of `trusted`.
async fn timestamped(ctx: &Ctx, signed_by: &str, trusted: &str) -> anyhow::Result<String> {
    let signer = ctx.notation_signer("release").await?;
    let tsa = ctx.tsa(signed_by).await?;
    let other = if trusted == signed_by {
        None
    } else {
        Some(ctx.tsa(trusted).await?)
    };
    let digest = push(ctx, "app").await?;
    let root = tsa.root_path.to_string_lossy().into_owned();
    ctx.notation_sign(
        &signer,
        "app",
        &digest,
        &["--timestamp-url", &tsa.url, "--timestamp-root-cert", &root],
    )
    .await?;
    let tp = trust_policy_with_tsa("*", "strict", &["*"], "always");
    let tsa_root = other.as_ref().map_or(&tsa.root, |o| &o.root);
    ctx.notation_secret(
        "notation",
        &tp,
        &[("ca", &signer.certificate), ("tsa-root", tsa_root)],
    )
    .await?;
    Ok(digest)
}

#[tokio::test]
async fn a_notation_timestamp_by_the_trusted_tsa_is_verified_and_flux_agrees() {
    run("notation-tsa", |ctx| async move {
        ctx.auditor().await?;
        let digest = timestamped(&ctx, "e2e-tsa", "e2e-tsa").await?;
        ctx.policy(
            &format!("{}-notation", ctx.ns),
            ctx.notation_policy("notation"),
        )
        .await?;
        flux_judges(&ctx, "app", "notation", &digest, true).await?;
        let a = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified and FluxAgrees", |a| {
                verified(a, "True", "Verified")
                    && a.is_some_and(|a| has_cond(a, "FluxAgrees", "True", None))
            })
            .await?
            .unwrap_or_default();
        let message = a["status"]["signatures"][0]["message"]
            .as_str()
            .unwrap_or_default();
        ensure!(
            message.contains("timestamped by") && message.contains("CN=e2e-tsa"),
            "signature message: {message}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_notation_timestamp_by_a_tsa_outside_the_trust_store_is_not_verified_as_flux_refuses() {
    run("notation-tsa-untrusted", |ctx| async move {
        ctx.auditor().await?;
        let digest = timestamped(&ctx, "e2e-tsa", "other-tsa").await?;
        rejected_by_flux(&ctx, "app", &digest).await?;
        let a = ctx
            .wait_audit("ocirepository-app", AUDIT, "UntrustedSigner", |a| {
                verified(a, "False", "UntrustedSigner")
            })
            .await?
            .unwrap_or_default();
        let message = condition(&a, "Verified")
            .map(|c| c.message)
            .unwrap_or_default();
        ensure!(message.contains("tsa trust store"), "{message}");
        Ok(())
    })
    .await;
}
