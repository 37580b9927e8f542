//! Issue 12's acceptance against the real stack: attestations on the real registry, judged by
//! the controller against `ProvenancePolicy.spec.attestations`, reported by the `Attested`
//! condition (which feeds `Ready`) and `status.attestations[]`.
//!
//! - Keyless, from a private Sigstore (`sigstore-forge`) with GitHub-style Fulcio claims: a
//!   policy requiring SLSA provenance v1 from repository X, a `refs/tags/v*` ref and a
//!   GitHub-hosted runner passes for the right attestation and fails, naming the failed
//!   condition, for another repository, a branch, a self-hosted runner, a statement about
//!   another digest, another predicate type, another signer and an unsigned envelope. Every one
//!   of these sources stays `Verified`: attestations never change the signature verdict.
//! - Real `cosign attest --key` (bundle and legacy `.att`): signed + SBOM + provenance is
//!   Verified, Attested and Ready; signed + SBOM without provenance is Verified,
//!   `Attested=False/AttestationMissing`, `Ready=False`; a condition that errors at evaluation
//!   is `Attested=Unknown/ConditionError`, never True.
//! - Invalid CEL: the policy is `Ready=False/PolicyInvalid` naming the expression.
//!
//! One controller for the binary; each test puts all its sources up at once and then waits.

use std::time::Duration;

use anyhow::{ensure, Result};
use provenance_e2e::attest::{escape, keyless_policy, KeylessAttestation};
use provenance_e2e::{condition, has_cond, run, Ctx, AUDIT, FLUX};
use serde_json::{json, Value};
use sigstore_forge::predicates::{self, Build, SLSA_PROVENANCE_V1, SPDX};
use sigstore_forge::SignOptions;

/// From the OCIRepository applied to the verdict: Flux's fetch, then the audit.
const VERDICT: Duration = Duration::from_secs(FLUX.as_secs() + AUDIT.as_secs());

const APP: &str = "https://github.com/example/app";
const RELEASE: &str = "refs/tags/v1.2.3";

/// The identity the policy accepts: any release workflow of the `example` organisation (so
/// that the claims, not the identity, decide between its repositories and refs).
fn org_workflows() -> String {
    format!(
        "^{}/[^/]+/{}@refs/.+$",
        escape("https://github.com/example"),
        escape(".github/workflows/release.yml")
    )
}

/// What one source's `Attested` condition must say: its status, the reasons accepted, and
/// words of which the message must contain at least one (the failed condition's name or value).
struct Expect {
    name: &'static str,
    status: &'static str,
    reasons: &'static [&'static str],
    needles: &'static [&'static str],
}

fn message_names(message: &str, needles: &[&str]) -> bool {
    let m = message.to_lowercase();
    needles.iter().any(|n| m.contains(&n.to_lowercase()))
}

/// Waits for every source's verdict, then checks all of them; one failure names every wrong one.
async fn expect_all(ctx: &Ctx, expected: &[Expect]) -> Result<Vec<Value>> {
    let mut audits = vec![];
    for e in expected {
        let a = ctx
            .wait_audit(
                &format!("ocirepository-{}", e.name),
                VERDICT,
                &format!("{}: Attested={} {:?}", e.name, e.status, e.reasons),
                |a| {
                    a.is_some_and(|a| {
                        condition(a, "Attested").is_some_and(|c| {
                            c.status == e.status && e.reasons.contains(&c.reason.as_str())
                        })
                    })
                },
            )
            .await?
            .unwrap_or_default();
        audits.push(a);
    }
    let mut bad = vec![];
    for (e, a) in expected.iter().zip(&audits) {
        let att = condition(a, "Attested")
            .map(|c| c.message)
            .unwrap_or_default();
        eprintln!("[e2e] {}: Attested {:?}: {att}", e.name, e.reasons);
        if !message_names(&att, e.needles) {
            bad.push(format!(
                "{}: Attested message names none of {:?}: {att:?}",
                e.name, e.needles
            ));
        }
        // Attestations never change the signature verdict.
        if !has_cond(a, "Verified", "True", Some("Verified")) {
            bad.push(format!("{}: Verified is not True: {}", e.name, a["status"]));
        }
        // Attested feeds Ready.
        let ready = if e.status == "True" { "True" } else { "False" };
        if e.status != "Unknown" && !has_cond(a, "Ready", ready, None) {
            bad.push(format!(
                "{}: Ready is not {ready}: {:?}",
                e.name,
                condition(a, "Ready")
            ));
        }
    }
    ensure!(bad.is_empty(), "{}", bad.join("\n"));
    Ok(audits)
}

/// The `status.attestations[]` entry of `predicate_type`, as text (field names aside, the
/// typed evidence must carry these values).
fn evidence_of(audit: &Value, predicate_type: &str) -> Option<String> {
    audit["status"]["attestations"]
        .as_array()?
        .iter()
        .find(|e| e.to_string().contains(predicate_type))
        .map(Value::to_string)
}

/// The honest attestation of `b`: its SLSA provenance, signed as its workflow with its claims.
fn honest(b: &Build) -> KeylessAttestation<'_> {
    KeylessAttestation {
        build: b,
        identity: None,
        predicate_type: SLSA_PROVENANCE_V1,
        predicate: predicates::slsa_provenance_v1(b),
        opts: SignOptions::default(),
    }
}

#[tokio::test]
async fn keyless_provenance_passes_for_the_right_attestation_and_names_each_failed_condition() {
    run("attest-keyless", |ctx| async move {
        ctx.auditor().await?;
        let sigstore = ctx.private_sigstore().await?;
        let release = Build::github(APP, RELEASE);
        let other_repo = Build::github("https://github.com/example/other", RELEASE);
        let branch = Build::github(APP, "refs/heads/main");
        let mut self_hosted = Build::github(APP, RELEASE);
        self_hosted.runner_environment = "self-hosted".into();
        let forger = "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.2.3";
        let elsewhere = format!("sha256:{}", "ab".repeat(32));

        let names = [
            "good",
            "other-repo",
            "branch",
            "self-hosted",
            "other-digest",
            "other-type",
            "other-signer",
            "unsigned",
        ];
        for name in names {
            let dir = ctx.artifact_dir(name, name)?;
            let digest = ctx.push_artifact(name, "v1", &dir).await?;
            // Every artifact is signed by the release workflow: Verified, whatever follows.
            ctx.sign_keyless(&sigstore, name, &digest, &release).await?;
            let attestation = match name {
                "good" => Some(honest(&release)),
                "other-repo" => Some(honest(&other_repo)),
                "branch" => Some(honest(&branch)),
                "self-hosted" => Some(honest(&self_hosted)),
                "other-digest" => Some(KeylessAttestation {
                    opts: SignOptions {
                        signed_digest: Some(elsewhere.clone()),
                        ..SignOptions::default()
                    },
                    ..honest(&release)
                }),
                "other-type" => Some(KeylessAttestation {
                    predicate_type: SPDX,
                    predicate: predicates::spdx(3),
                    ..honest(&release)
                }),
                // Claims copied from the real release, but another workflow's identity.
                "other-signer" => Some(KeylessAttestation {
                    identity: Some(forger),
                    ..honest(&release)
                }),
                _ => None,
            };
            match attestation {
                Some(a) => ctx.attest_keyless(&sigstore, name, &digest, a).await?,
                None => {
                    let predicate = predicates::slsa_provenance_v1(&release);
                    ctx.attach_unsigned(name, &digest, SLSA_PROVENANCE_V1, &predicate)
                        .await?
                }
            }
            ctx.oci_source(name).await?;
        }
        let requirement = json!([{
            "predicateType": SLSA_PROVENANCE_V1,
            "sourceRepository": escape(APP),
            "sourceRef": "refs/tags/v.*",
            "denySelfHostedRunners": true,
        }]);
        ctx.policy(
            &format!("{}-keyless", ctx.ns),
            keyless_policy(&ctx.ns, &["*"], &org_workflows(), requirement),
        )
        .await?;

        let audits = expect_all(
            &ctx,
            &[
                Expect {
                    name: "good",
                    status: "True",
                    reasons: &["Attested"],
                    needles: &[SLSA_PROVENANCE_V1],
                },
                Expect {
                    name: "other-repo",
                    status: "False",
                    reasons: &["AttestationPolicyFailed"],
                    needles: &["sourceRepository"],
                },
                Expect {
                    name: "branch",
                    status: "False",
                    reasons: &["AttestationPolicyFailed"],
                    needles: &["sourceRef"],
                },
                Expect {
                    name: "self-hosted",
                    status: "False",
                    reasons: &["AttestationPolicyFailed"],
                    needles: &["self-hosted", "runnerEnvironment"],
                },
                Expect {
                    name: "other-digest",
                    status: "False",
                    reasons: &["AttestationInvalid"],
                    needles: &["DigestMismatch", "digest"],
                },
                Expect {
                    name: "other-type",
                    status: "False",
                    reasons: &["AttestationMissing"],
                    needles: &[SLSA_PROVENANCE_V1],
                },
                Expect {
                    name: "other-signer",
                    status: "False",
                    reasons: &["AttestationInvalid"],
                    needles: &["IdentityMismatch", "evil/app"],
                },
                // An envelope nobody signed: of the required type but not verified, or not an
                // attestation at all; never Attested.
                Expect {
                    name: "unsigned",
                    status: "False",
                    reasons: &["AttestationInvalid", "AttestationMissing"],
                    needles: &["Unsigned", "signature", SLSA_PROVENANCE_V1],
                },
            ],
        )
        .await?;

        // The good one's typed evidence: the provenance's source, the certificate's claims.
        let good = evidence_of(&audits[0], SLSA_PROVENANCE_V1).unwrap_or_default();
        for needle in [
            release.commit.as_str(),
            APP,
            "github-hosted",
            RELEASE,
            "Verified",
        ] {
            ensure!(
                good.contains(needle),
                "status.attestations lacks {needle:?}: {good}"
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn cosign_attestations_verified_and_attested_and_a_missing_provenance_is_not_ready() {
    run("attest-cosign", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let release = Build::github(APP, RELEASE);
        let provenance = predicates::slsa_provenance_v1(&release);
        let sbom = predicates::spdx(3);
        // (source, format, with provenance)
        let sources = [
            ("full", "bundle", true),
            ("legacy", "legacy", true),
            ("noprov", "bundle", false),
            ("celerr", "bundle", true),
        ];
        for (name, format, with_provenance) in sources {
            let dir = ctx.artifact_dir(name, name)?;
            let digest = ctx.push_artifact(name, "v1", &dir).await?;
            ctx.sign(&key, format, name, &digest).await?;
            ctx.cosign_attest(&key, "spdxjson", &sbom, format, name, &digest)
                .await?;
            if with_provenance {
                ctx.cosign_attest(&key, "slsaprovenance1", &provenance, format, name, &digest)
                    .await?;
            }
            ctx.oci_source(name).await?;
        }
        let key_policy = |names: &[&str], attestations: Value| {
            let mut p = ctx.key_policy("cosign-pub");
            p["match"]["names"] = json!(names);
            p["attestations"] = attestations;
            p
        };
        // Provenance from our repository (a CEL condition over the predicate) and an SBOM.
        let workflow_repo = format!(
            "predicate.buildDefinition.externalParameters.workflow.repository == \"{APP}\""
        );
        ctx.policy(
            &format!("{}-release", ctx.ns),
            key_policy(
                &["full", "legacy", "noprov"],
                json!([
                    {"predicateType": "slsaprovenance1", "conditions": [{"expression": workflow_repo}]},
                    {"predicateType": SPDX},
                ]),
            ),
        )
        .await?;
        // A condition that compiles but cannot be evaluated (no such field): never True.
        ctx.policy(
            &format!("{}-celerr", ctx.ns),
            key_policy(
                &["celerr"],
                json!([{"predicateType": SLSA_PROVENANCE_V1,
                        "conditions": [{"expression": "predicate.noSuchField == \"x\""}]}]),
            ),
        )
        .await?;

        let audits = expect_all(
            &ctx,
            &[
                Expect { name: "full", status: "True", reasons: &["Attested"], needles: &[SLSA_PROVENANCE_V1] },
                Expect { name: "legacy", status: "True", reasons: &["Attested"], needles: &[SLSA_PROVENANCE_V1] },
                Expect { name: "noprov", status: "False", reasons: &["AttestationMissing"], needles: &[SLSA_PROVENANCE_V1] },
                Expect { name: "celerr", status: "Unknown", reasons: &["ConditionError"], needles: &["noSuchField"] },
            ],
        )
        .await?;
        for (a, name) in audits.iter().zip(["full", "legacy"]) {
            let sbom = evidence_of(a, "spdx.dev").unwrap_or_default();
            ensure!(
                sbom.contains("SPDX-2.3") && sbom.contains("syft"),
                "{name}: no typed SPDX evidence: {sbom}"
            );
            let prov = evidence_of(a, SLSA_PROVENANCE_V1).unwrap_or_default();
            ensure!(
                prov.contains(&release.commit) && prov.contains(".github/workflows/release.yml"),
                "{name}: no typed provenance evidence: {prov}"
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn invalid_cel_makes_the_policy_not_ready_naming_the_expression() {
    run("attest-cel", |ctx| async move {
        ctx.auditor().await?;
        let (_, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        let name = format!("{}-badcel", ctx.ns);
        let expression = "size(predicate.materials) >";
        let mut spec = ctx.key_policy("cosign-pub");
        spec["attestations"] = json!([{"predicateType": SLSA_PROVENANCE_V1,
                                       "conditions": [{"expression": expression}]}]);
        ctx.policy(&name, spec).await?;
        let p = ctx
            .wait_policy(&name, AUDIT, "Ready=False/PolicyInvalid", |p| {
                has_cond(p, "Ready", "False", Some("PolicyInvalid"))
            })
            .await?;
        let message = condition(&p, "Ready")
            .map(|c| c.message)
            .unwrap_or_default();
        eprintln!("[e2e] invalid CEL: {message}");
        ensure!(
            message.contains("size(predicate.materials)"),
            "the PolicyInvalid message does not name the expression: {message:?}"
        );
        Ok(())
    })
    .await;
}
