//! The API server itself refuses a `ProvenancePolicy` that names no signer (issue 9 item 5):
//! `verify` with neither a key Secret nor an identity, or with an empty identity regex, would
//! accept any certificate the trust root knows. The CRD's CEL rules (`x-kubernetes-validations`
//! on `spec.verify`) are checked here by the real kube-apiserver of the local stack.

use anyhow::{ensure, Result};
use provenance_e2e::*;
use serde_json::{json, Value};

/// Applies a policy that must be refused; returns the API server's message.
async fn refused(ctx: &Ctx, name: &str, spec: Value) -> Result<String> {
    match ctx.policy(name, spec.clone()).await {
        Ok(()) => {
            ctx.delete_policy(name).await;
            anyhow::bail!("the API server accepted {spec}")
        }
        Err(e) => Ok(format!("{e:#}")),
    }
}

#[tokio::test]
async fn a_policy_naming_no_signer_is_refused_by_the_api_server() {
    run("policy-validation", |ctx| async move {
        let ns = ctx.ns.clone();
        let name = |n: &str| format!("{ns}-{n}");
        let no_signer = "verify must name a key (secretRef, openpgp) or at least one identity";
        for (n, verify) in [
            ("bare", json!({"provider": "cosign"})),
            ("empty", json!({})),
            (
                "root-only",
                json!({"provider": "cosign", "trustedRootSecretRef": {"namespace": ns, "name": "root"}}),
            ),
            ("no-entries", json!({"provider": "cosign", "matchOIDCIdentity": []})),
        ] {
            let msg = refused(&ctx, &name(n), json!({"verify": verify})).await?;
            ensure!(msg.contains(no_signer), "{n}: {msg}");
        }
        let msg = refused(
            &ctx,
            &name("empty-regex"),
            json!({"verify": {"matchOIDCIdentity": [{"issuer": "^https://token\\.actions\\.githubusercontent\\.com$", "subject": ""}]}}),
        )
        .await?;
        ensure!(msg.contains("non-empty issuer and subject"), "empty-regex: {msg}");

        // What names a signer is accepted: a key Secret, OpenPGP keys, or one identity.
        ctx.policy(&name("key"), ctx.key_policy("cosign-pub")).await?;
        ctx.policy(
            &name("openpgp"),
            json!({"verify": {"openpgp": {"secretRef": {"namespace": ns, "name": "chart-signers"}}}}),
        )
        .await?;
        ctx.policy(
            &name("identity"),
            json!({"verify": {"matchOIDCIdentity": [{
                "issuer": "^https://token\\.actions\\.githubusercontent\\.com$",
                "subject": "^https://github\\.com/org/repo/",
            }]}}),
        )
        .await?;
        // And an accepted policy cannot be edited into one that names no signer.
        let msg = refused(&ctx, &name("key"), json!({"verify": {"provider": "cosign"}})).await?;
        ensure!(msg.contains(no_signer), "update: {msg}");
        Ok(())
    })
    .await;
}
