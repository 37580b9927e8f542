//! Further facts about source-controller v1.9.6 (the stack's; first observed on v1.9.1) the
//! auditor must match (docs/flux-behaviour.md):
//! digest refs, several keys in the Secret, and the bundle-before-legacy lookup order.

use std::time::Duration;

use anyhow::{ensure, Result};
use provenance_e2e::{condition, has_cond, revision, run, status_summary, Ctx};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(90);

fn verified_at(obj: &Value, rev: &str) -> bool {
    has_cond(obj, "Ready", "True", Some("Succeeded"))
        && has_cond(obj, "SourceVerified", "True", Some("Succeeded"))
        && revision(obj).as_deref() == Some(rev)
}

fn halted(obj: &Value) -> bool {
    has_cond(obj, "SourceVerified", "False", Some("VerificationError"))
        && has_cond(obj, "Ready", "False", Some("VerificationError"))
}

async fn ocirepo(ctx: &Ctx, name: &str, reference: Value, secret: &str) -> Result<()> {
    ctx.apply(
        "OCIRepository",
        name,
        json!({
            "url": ctx.oci_url("app"), "ref": reference, "interval": "10m", "timeout": "30s",
            "insecure": true, "verify": {"provider": "cosign", "secretRef": {"name": secret}},
        }),
    )
    .await?;
    Ok(())
}

/// `spec.ref.digest`: the revision is the bare digest (no tag).
#[tokio::test]
async fn digest_ref_revision_is_the_bare_digest() {
    run("digest-ref", |ctx| async move {
        let (key, pubkey) = ctx.keygen("a").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let digest = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("v1", "digest")?)
            .await?;
        ctx.sign(&key, "bundle", "app", &digest).await?;
        ocirepo(&ctx, "app", json!({"digest": digest}), "cosign-pub").await?;
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "app",
                SETTLE,
                "verified at the bare digest",
                |o| verified_at(o, &digest),
            )
            .await?;
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(
            sv.message == format!("verified signature of revision {digest}"),
            "message: {}",
            sv.message
        );
        Ok(())
    })
    .await;
}

/// Several `*.pub` keys in the Secret: any one that verifies is enough (OCIRepository).
#[tokio::test]
async fn any_key_of_the_secret_verifies() {
    run("several-keys", |ctx| async move {
        let (key_a, pub_a) = ctx.keygen("a").await?;
        let (_key_b, pub_b) = ctx.keygen("b").await?;
        let (_key_c, pub_c) = ctx.keygen("c").await?;
        let digest = ctx
            .push_artifact("app", "v1", &ctx.artifact_dir("v1", "keys")?)
            .await?;
        ctx.sign(&key_a, "bundle", "app", &digest).await?;
        // The right key sorts in the middle; a non-.pub entry is ignored.
        ctx.secret(
            "keys",
            &[
                ("1-other.pub", &pub_b),
                ("2-right.pub", &pub_a),
                ("3-other.pub", &pub_c),
                ("notes.txt", "x"),
            ],
        )
        .await?;
        ocirepo(&ctx, "app", json!({"tag": "v1"}), "keys").await?;
        let want = format!("v1@{digest}");
        ctx.wait_for(
            "OCIRepository",
            "app",
            SETTLE,
            "verified with one of three keys",
            |o| verified_at(o, &want),
        )
        .await?;
        // Only wrong keys: halted.
        ctx.secret("wrong", &[("1.pub", &pub_b), ("2.pub", &pub_c)])
            .await?;
        ocirepo(&ctx, "wrong", json!({"tag": "v1"}), "wrong").await?;
        ctx.wait_for(
            "OCIRepository",
            "wrong",
            SETTLE,
            "halt with only wrong keys",
            halted,
        )
        .await?;
        Ok(())
    })
    .await;
}

/// Bundles are looked up first and legacy `.sig` only when no bundle exists: a bundle by another
/// key hides a valid legacy signature; a legacy signature does not hide a valid bundle.
#[tokio::test]
async fn foreign_bundle_hides_a_valid_legacy_signature() {
    run("bundle-hides-legacy", |ctx| async move {
        let (key_a, pub_a) = ctx.keygen("a").await?;
        let (key_b, _pub_b) = ctx.keygen("b").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pub_a)]).await?;

        // Legacy by the trusted key A, bundle by an unknown key B.
        let d1 = ctx
            .push_artifact("app", "hidden", &ctx.artifact_dir("hidden", "hidden")?)
            .await?;
        ctx.sign(&key_a, "legacy", "app", &d1).await?;
        ctx.sign(&key_b, "bundle", "app", &d1).await?;
        ocirepo(&ctx, "hidden", json!({"tag": "hidden"}), "cosign-pub").await?;
        let obj = ctx
            .wait_for(
                "OCIRepository",
                "hidden",
                SETTLE,
                "halt: foreign bundle hides legacy",
                halted,
            )
            .await?;
        eprintln!("[e2e] bundle-hides-legacy: {}", status_summary(&obj));

        // Bundle by A, legacy by B: verified.
        let d2 = ctx
            .push_artifact("app", "shown", &ctx.artifact_dir("shown", "shown")?)
            .await?;
        ctx.sign(&key_b, "legacy", "app", &d2).await?;
        ctx.sign(&key_a, "bundle", "app", &d2).await?;
        ocirepo(&ctx, "shown", json!({"tag": "shown"}), "cosign-pub").await?;
        let want = format!("shown@{d2}");
        ctx.wait_for(
            "OCIRepository",
            "shown",
            SETTLE,
            "verified through the bundle",
            |o| verified_at(o, &want),
        )
        .await?;
        Ok(())
    })
    .await;
}

/// A missing verification Secret is reported as a verification failure, not a fetch failure.
#[tokio::test]
async fn missing_verify_secret_is_a_verification_error() {
    run("missing-verify-secret", |ctx| async move {
        ctx.push_artifact("app", "v1", &ctx.artifact_dir("v1", "nosecret")?).await?;
        ocirepo(&ctx, "app", json!({"tag": "v1"}), "does-not-exist").await?;
        let obj = ctx
            .wait_for("OCIRepository", "app", SETTLE, "halt on the missing Secret", halted)
            .await?;
        let sv = condition(&obj, "SourceVerified").unwrap();
        ensure!(
            sv.message
                == "failed to verify the signature using provider 'cosign': secrets \"does-not-exist\" not found",
            "message: {}",
            sv.message
        );
        ensure!(condition(&obj, "FetchFailed").is_none(), "{}", status_summary(&obj));
        Ok(())
    })
    .await;
}
