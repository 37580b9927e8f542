//! The controller (`provenance-auditor run`) against real source-controller, cosign and
//! registry: issue 4's acceptance scenarios. The controller runs with the stack's non-admin
//! kubeconfig (the ServiceAccount bound by `config/rbac/`), so every pass also proves that those
//! manifests grant enough (least privilege, scenario 8).

use std::time::Duration;

use anyhow::ensure;
use provenance_e2e::{condition, has_cond, revision, run, OwnRegistry, AUDIT, FLUX};
use serde_json::{json, Value};

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

fn series<'a>(text: &'a str, ns: &str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.contains(&format!("namespace=\"{ns}\"")) && l.contains(&format!("name=\"{name}\""))
        })
        .collect()
}

/// Scenario 1 (and 8): a key-signed source with a matching policy and its own `spec.verify`.
#[tokio::test]
async fn key_signed_source_with_matching_policy_is_verified_and_flux_agrees() {
    run("ctl-key-signed", |ctx| async move {
        let url = ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let digest = ctx
            .flux_source("app", Some(&key), Some("cosign-pub"))
            .await?;
        ctx.wait_for("OCIRepository", "app", FLUX, "SourceVerified=True", |o| {
            has_cond(o, "SourceVerified", "True", None)
        })
        .await?;
        let a = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified and FluxAgrees", |a| {
                verified(a, "True", "Verified")
                    && a.is_some_and(|a| has_cond(a, "FluxAgrees", "True", None))
            })
            .await?
            .unwrap_or_default();
        ensure!(a["status"]["digest"] == digest, "digest: {}", a["status"]);
        let signer = a["status"]["signer"].as_str().unwrap_or_default();
        ensure!(signer.starts_with("key sha256:"), "signer {signer:?}");
        ensure!(
            a["status"]["policies"] == json!([policy]),
            "{}",
            a["status"]
        );
        ensure!(
            a["metadata"]["ownerReferences"][0]["kind"] == "OCIRepository",
            "owner: {}",
            a["metadata"]
        );
        ensure!(
            has_cond(&a, "Enforced", "True", None),
            "{:?}",
            condition(&a, "Enforced")
        );
        // `kubectl get sourceaudits -A` shows the short signer (`status.shortSigner`), and
        // `-o wide` the full one.
        let short = a["status"]["shortSigner"].as_str().unwrap_or_default();
        ensure!(!short.is_empty(), "no status.shortSigner: {}", a["status"]);
        for (wide, want) in [(false, short), (true, signer)] {
            let mut cmd = std::process::Command::new(provenance_e2e::kubectl());
            cmd.arg("--kubeconfig")
                .arg(ctx.stack.dir.join("admin.kubeconfig"))
                .args(["get", "sourceaudits", "-A"]);
            if wide {
                cmd.args(["-o", "wide"]);
            }
            let out = cmd.output()?;
            let table = String::from_utf8_lossy(&out.stdout);
            let row = table
                .lines()
                .find(|l| l.contains(&ctx.ns))
                .unwrap_or_default();
            ensure!(
                row.contains(want) && row.contains("Verified"),
                "kubectl (wide: {wide}) row {row:?} in\n{table}"
            );
        }
        ctx.wait_metrics(&url, AUDIT, "verified=1", |t| {
            series(t, &ctx.ns, "app").iter().any(|l| {
                l.starts_with("provenance_source_verified{")
                    && l.contains("reason=\"Verified\"")
                    && l.ends_with(" 1")
            })
        })
        .await?;
        Ok(())
    })
    .await;
}

/// Scenario 2: an unsigned source under a policy is Unsigned within 30 s, with metric 0 and a
/// Warning event on the source.
#[tokio::test]
async fn unsigned_source_with_policy_is_unsigned_with_metric_zero_and_warning() {
    run("ctl-unsigned", |ctx| async move {
        let url = ctx.auditor().await?;
        let (_, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        ctx.flux_source("app", None, None).await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "Verified=False/Unsigned", |a| {
            verified(a, "False", "Unsigned")
        })
        .await?;
        ctx.wait_metrics(&url, AUDIT, "verified=0 reason Unsigned", |t| {
            series(t, &ctx.ns, "app").iter().any(|l| {
                l.starts_with("provenance_source_verified{")
                    && l.contains("reason=\"Unsigned\"")
                    && l.ends_with(" 0")
            })
        })
        .await?;
        let deadline = std::time::Instant::now() + AUDIT;
        loop {
            let evs = ctx.events_for("app").await?;
            let warned = evs.iter().any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("ProvenanceUnsigned")
                    && e.involved_object.kind.as_deref() == Some("OCIRepository")
            });
            if warned {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "no Warning/ProvenanceUnsigned event on the source: {evs:#?}"
            );
            tokio::time::sleep(provenance_e2e::POLL).await;
        }
        Ok(())
    })
    .await;
}

/// Scenario 3: signed with another key than the policy's → KeyMismatch naming the key found.
#[tokio::test]
async fn source_signed_with_another_key_is_key_mismatch() {
    run("ctl-wrong-key", |ctx| async move {
        ctx.auditor().await?;
        let (key, _) = ctx.keygen("signer").await?;
        let (_, other) = ctx.keygen("expected").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &other)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        ctx.flux_source("app", Some(&key), None).await?;
        let a = ctx
            .wait_audit(
                "ocirepository-app",
                AUDIT,
                "Verified=False/KeyMismatch",
                |a| verified(a, "False", "KeyMismatch"),
            )
            .await?
            .unwrap_or_default();
        let sigs = a["status"]["signatures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            sigs.iter().any(|s| s["verdict"] == "KeyMismatch"),
            "signatures: {sigs:#?}"
        );
        Ok(())
    })
    .await;
}

/// Scenario 7: deleting the source removes its SourceAudit and its metric series.
#[tokio::test]
async fn deleted_source_leaves_no_audit_and_no_series() {
    run("ctl-deleted", |ctx| async move {
        let url = ctx.auditor().await?;
        ctx.flux_source("app", None, None).await?;
        // No policy: still audited (NoPolicy / Unsigned), so there is an audit to remove.
        ctx.wait_audit("ocirepository-app", AUDIT, "an audit", |a| {
            a.is_some_and(|a| condition(a, "Verified").is_some())
        })
        .await?;
        ctx.wait_metrics(&url, AUDIT, "the source's series", |t| {
            !series(t, &ctx.ns, "app").is_empty()
        })
        .await?;
        ctx.api("OCIRepository")
            .delete("app", &Default::default())
            .await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "the audit gone", |a| {
            a.is_none()
        })
        .await?;
        ctx.wait_metrics(&url, AUDIT, "no series of the source", |t| {
            series(t, &ctx.ns, "app").is_empty()
        })
        .await?;
        Ok(())
    })
    .await;
}

/// Scenario 5: the key Secret changes to another key without touching the source: our verdict
/// flips (the Secret poll or the resync, whichever comes first) while Flux still says verified.
#[tokio::test]
async fn key_secret_changed_under_flux_is_flux_verified_audit_failed() {
    run("ctl-key-rotated", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        let (_, other) = ctx.keygen("other").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        // No policy: the source's own spec.verify is re-verified independently.
        ctx.flux_source("app", Some(&key), Some("cosign-pub"))
            .await?;
        ctx.wait_for("OCIRepository", "app", FLUX, "SourceVerified=True", |o| {
            has_cond(o, "SourceVerified", "True", None)
        })
        .await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "Verified and FluxAgrees", |a| {
            verified(a, "True", "Verified")
                && a.is_some_and(|a| has_cond(a, "FluxAgrees", "True", None))
        })
        .await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &other)]).await?;
        ctx.wait_audit(
            "ocirepository-app",
            provenance_e2e::RESYNC + AUDIT,
            "KeyMismatch and FluxAgrees=False/FluxVerifiedAuditFailed",
            |a| {
                verified(a, "False", "KeyMismatch")
                    && a.is_some_and(|a| {
                        has_cond(a, "FluxAgrees", "False", Some("FluxVerifiedAuditFailed"))
                    })
            },
        )
        .await?;
        let src = ctx.get("OCIRepository", "app").await?;
        ensure!(
            has_cond(&src, "SourceVerified", "True", None),
            "Flux itself should still say verified: {:?}",
            condition(&src, "SourceVerified")
        );
        Ok(())
    })
    .await;
}

/// Scenario 4: the registry is down when a re-verification is needed: Verified=Unknown/
/// RegistryUnavailable with the previous evidence kept (never Unsigned); once it is back the
/// source is Verified again without anyone touching it.
#[tokio::test]
async fn registry_outage_is_unknown_keeps_evidence_and_recovers() {
    run("ctl-registry-outage", |ctx| async move {
        ctx.auditor().await?;
        let mut reg = OwnRegistry::start(&ctx).await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        let (_, second) = ctx.keygen("second").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let dir = ctx.artifact_dir("app", "outage")?;
        let digest = ctx.push_artifact_to(&reg.addr, "app", "v1", &dir).await?;
        ctx.sign_to(&reg.addr, &key, "bundle", "app", &digest)
            .await?;
        let mut spec = ctx.oci_spec("app", None);
        spec["url"] = json!(format!("oci://{}/{}/app", reg.addr, ctx.ns));
        ctx.apply("OCIRepository", "app", spec).await?;
        ctx.wait_for("OCIRepository", "app", FLUX, "an artifact", |o| {
            revision(o).is_some_and(|r| r.ends_with(&digest))
        })
        .await?;
        let before = ctx
            .wait_audit("ocirepository-app", AUDIT, "Verified", |a| {
                verified(a, "True", "Verified")
            })
            .await?
            .unwrap_or_default();
        reg.stop().await?;
        // A second accepted key changes the policy fingerprint: the cached verdict no longer
        // applies and the registry must be asked.
        ctx.secret(
            "cosign-pub",
            &[("cosign.pub", &pubkey), ("second.pub", &second)],
        )
        .await?;
        let during = ctx
            .wait_audit(
                "ocirepository-app",
                AUDIT,
                "Unknown/RegistryUnavailable",
                |a| verified(a, "Unknown", "RegistryUnavailable"),
            )
            .await?
            .unwrap_or_default();
        ensure!(
            during["status"]["signatures"] == before["status"]["signatures"]
                && during["status"]["signer"] == before["status"]["signer"]
                && during["status"]["digest"] == before["status"]["digest"],
            "evidence not kept:\nbefore {}\nduring {}",
            before["status"],
            during["status"]
        );
        reg.resume().await?;
        ctx.wait_audit(
            "ocirepository-app",
            Duration::from_secs(60),
            "Verified again",
            |a| verified(a, "True", "Verified"),
        )
        .await?;
        Ok(())
    })
    .await;
}

/// A HelmChart from an OCI HelmRepository: the auditor resolves `<repo>/<chart>:<version>` to a
/// digest (Flux records none), verifies it and says so in `digestNote`.
#[tokio::test]
async fn oci_helm_chart_is_audited_by_the_digest_its_tag_resolves_to() {
    run("ctl-helmchart", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let digest = ctx.flux_chart(&key, "cosign-pub").await?;
        let a = ctx
            .wait_audit("helmchart-chart", AUDIT, "Verified", |a| {
                verified(a, "True", "Verified")
            })
            .await?
            .unwrap_or_default();
        ensure!(a["status"]["digest"] == digest, "digest: {}", a["status"]);
        let note = a["status"]["digestNote"].as_str().unwrap_or_default();
        ensure!(note.contains("e2e-chart:0.1.0"), "digestNote {note:?}");
        ensure!(a["status"]["fluxRevision"] == "0.1.0", "{}", a["status"]);
        Ok(())
    })
    .await;
}

/// A policy whose key Secret does not exist is `Ready=False/PolicyInvalid` naming the Secret,
/// and the source it matches is `Verified=Unknown/PolicyInvalid` (never a verdict about the
/// artifact). A valid policy is `Ready=True` and counts the sources it matches.
#[tokio::test]
async fn policy_status_reports_validity_and_matched_sources() {
    run("ctl-policy-status", |ctx| async move {
        ctx.auditor().await?;
        let (_, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let broken = format!("{}-broken", ctx.ns);
        let valid = format!("{}-valid", ctx.ns);
        ctx.policy(&broken, ctx.key_policy("no-such-secret"))
            .await?;
        ctx.policy(&valid, ctx.key_policy("cosign-pub")).await?;
        ctx.flux_source("app", None, None).await?;
        ctx.wait_audit("ocirepository-app", AUDIT, "Unknown/PolicyInvalid", |a| {
            verified(a, "Unknown", "PolicyInvalid")
        })
        .await?;
        let api = kube::Api::<kube::api::DynamicObject>::all_with(
            ctx.client.clone(),
            &provenance_e2e::provenance("ProvenancePolicy"),
        );
        let deadline = std::time::Instant::now() + AUDIT;
        loop {
            let b = serde_json::to_value(api.get(&broken).await?)?;
            let v = serde_json::to_value(api.get(&valid).await?)?;
            let ok = has_cond(&b, "Ready", "False", Some("PolicyInvalid"))
                && condition(&b, "Ready").is_some_and(|c| c.message.contains("no-such-secret"))
                && has_cond(&v, "Ready", "True", None)
                && v["status"]["matchedSources"] == 1;
            if ok {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "policy status: broken {} valid {}",
                b["status"],
                v["status"]
            );
            tokio::time::sleep(provenance_e2e::POLL).await;
        }
        Ok(())
    })
    .await;
}
