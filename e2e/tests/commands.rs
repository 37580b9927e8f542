//! `provenance-auditor audit` and `confirm` (issue 5) as a user runs them: the real binary, as
//! a subprocess, against real source-controller, cosign and registry, with the stack's
//! least-privilege `auditor.kubeconfig` (both commands only read).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use provenance_e2e::{has_cond, prepare, run, Ctx};
use serde_json::{json, Value};

/// Bound on one `audit` run (a handful of sources on a loopback registry).
const AUDIT_RUN: Duration = Duration::from_secs(60);

static BINARY: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The binary under test, built once per test binary (CRDs installed by `prepare`).
async fn binary(ctx: &Ctx) -> Result<PathBuf> {
    let stack = ctx.stack.clone();
    tokio::task::spawn_blocking(move || {
        let mut b = BINARY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = b.as_ref() {
            return Ok(p.clone());
        }
        let p = prepare(&stack)?;
        *b = Some(p.clone());
        Ok(p)
    })
    .await?
}

/// What a run printed and how it ended.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `provenance-auditor <args>` with the least-privilege kubeconfig; killed after `limit`.
async fn cli(ctx: &Ctx, args: &[&str], limit: Duration) -> Result<Ran> {
    let bin = binary(ctx).await?;
    let kubeconfig = ctx.stack.dir.join("auditor.kubeconfig");
    let started = Instant::now();
    let child = tokio::process::Command::new(&bin)
        .args(args)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out?,
        Err(_) => bail!(
            "provenance-auditor {} still running after {limit:?}",
            args.join(" ")
        ),
    };
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    eprintln!("[e2e] provenance-auditor {}: {ran}", args.join(" "));
    Ok(ran)
}

/// A policy file holding one `ProvenancePolicy` with `spec`.
fn policy_file(ctx: &Ctx, file: &str, name: &str, spec: &Value) -> Result<String> {
    let doc = json!({
        "apiVersion": "provenance.dev/v1alpha1", "kind": "ProvenancePolicy",
        "metadata": {"name": name}, "spec": spec,
    });
    let path = ctx.path(file);
    // JSON is YAML; a leading comment and a document marker make it a real YAML file.
    std::fs::write(&path, format!("# test policy\n---\n{doc}\n"))?;
    Ok(path.display().to_string())
}

fn result<'a>(doc: &'a Value, name: &str) -> Result<&'a Value> {
    doc["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .with_context(|| format!("no result for {name} in {doc:#}"))
}

/// (a) A key-signed source with a matching policy is Verified, an unsigned one Unsigned: exit
/// 1, in JSON and in the table, with the controller's own verdicts and evidence; `--policy
/// FILE` replaces the cluster's policies.
#[tokio::test]
async fn audit_reports_each_sources_verdict_and_exits_one_when_one_is_not_verified() {
    run("cmd-audit", |ctx| async move {
        let (key, pubkey) = ctx.keygen("signer").await?;
        let (_, other) = ctx.keygen("other").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        ctx.secret("other-pub", &[("cosign.pub", &other)]).await?;
        let policy = format!("{}-keys", ctx.ns);
        ctx.policy(&policy, ctx.key_policy("cosign-pub")).await?;
        let signed = ctx.flux_source("signed", Some(&key), None).await?;
        ctx.flux_source("unsigned", None, None).await?;

        let ran = cli(&ctx, &["audit", "-n", &ctx.ns, "-o", "json"], AUDIT_RUN).await?;
        ensure!(ran.code == 1, "want exit 1: {ran}");
        let doc: Value = serde_json::from_str(&ran.stdout).context("audit -o json")?;
        ensure!(doc["schema"] == "provenance.dev/audit/v1", "{doc:#}");
        ensure!(doc["policiesFrom"] == "cluster", "{doc:#}");
        ensure!(
            doc["summary"] == json!({"total": 2, "verified": 1, "notVerified": 1, "unknown": 0}),
            "summary: {doc:#}"
        );
        let s = result(&doc, "signed")?;
        ensure!(
            s["namespace"] == ctx.ns && s["kind"] == "OCIRepository",
            "{s:#}"
        );
        ensure!(
            s["verified"] == "True" && s["reason"] == "Verified",
            "{s:#}"
        );
        ensure!(s["digest"] == signed, "digest: {s:#}");
        ensure!(s["revision"] == format!("v1@{signed}"), "revision: {s:#}");
        ensure!(s["url"] == ctx.oci_url("signed"), "url: {s:#}");
        let signer = s["signer"].as_str().unwrap_or_default();
        ensure!(signer.starts_with("key sha256:"), "signer: {s:#}");
        ensure!(s["status"]["policies"] == json!([policy]), "{s:#}");
        ensure!(
            s["status"]["signatures"][0]["verdict"] == "Verified",
            "signatures: {s:#}"
        );
        ensure!(
            s["status"]["suggestedVerify"]["provider"] == "cosign",
            "{s:#}"
        );
        let conds: Vec<&str> = s["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["type"].as_str())
            .collect();
        ensure!(
            conds == ["Ready", "Verified", "Enforced", "FluxAgrees", "Attested"],
            "conditions: {s:#}"
        );
        ensure!(s["status"].get("verdictCache").is_none(), "{s:#}");
        let u = result(&doc, "unsigned")?;
        ensure!(
            u["verified"] == "False" && u["reason"] == "Unsigned",
            "{u:#}"
        );
        ensure!(u["signer"].is_null(), "{u:#}");

        // The controller reaches the same verdicts (same pipeline): compare its SourceAudits.
        ctx.auditor().await?;
        for name in ["signed", "unsigned"] {
            let a = ctx
                .wait_audit(
                    &format!("ocirepository-{name}"),
                    Duration::from_secs(30),
                    "a verdict",
                    |a| {
                        a.is_some_and(|a| {
                            has_cond(a, "Verified", "True", None)
                                || has_cond(a, "Verified", "False", None)
                        })
                    },
                )
                .await?
                .unwrap_or_default();
            let ours = &result(&doc, name)?["status"];
            let verdict = |s: &Value| {
                s["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Verified")
                    .map(|c| (c["status"].clone(), c["reason"].clone()))
            };
            ensure!(
                verdict(&a["status"]) == verdict(ours),
                "{name}: controller {:#} vs audit {ours:#}",
                a["status"]
            );
            for field in [
                "digest",
                "signer",
                "policies",
                "signatures",
                "suggestedVerify",
            ] {
                ensure!(
                    a["status"][field] == ours[field],
                    "{name}.{field}: controller {:#} vs audit {ours:#}",
                    a["status"]
                );
            }
        }

        let ran = cli(&ctx, &["audit", "-n", &ctx.ns], AUDIT_RUN).await?;
        ensure!(ran.code == 1, "want exit 1: {ran}");
        let lines: Vec<&str> = ran.stdout.lines().collect();
        let header: Vec<&str> = lines
            .first()
            .copied()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        ensure!(
            header
                == [
                    "NAMESPACE",
                    "KIND",
                    "NAME",
                    "VERIFIED",
                    "REASON",
                    "SIGNER",
                    "ENFORCED",
                    "REVISION"
                ],
            "{ran}"
        );
        let row = |name: &str| -> Vec<&str> {
            lines
                .iter()
                .find(|l| l.split_whitespace().nth(2) == Some(name))
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default()
        };
        let want_signed = [
            ctx.ns.as_str(),
            "OCIRepository",
            "signed",
            "True",
            "Verified",
        ];
        ensure!(row("signed").starts_with(&want_signed), "{ran}");
        let want_unsigned = [
            ctx.ns.as_str(),
            "OCIRepository",
            "unsigned",
            "False",
            "Unsigned",
            "-",
            "False",
        ];
        ensure!(row("unsigned").starts_with(&want_unsigned), "{ran}");
        // Columns are aligned: every row's REASON starts where the header's does.
        let at = lines[0].find("REASON").unwrap_or_default();
        ensure!(
            lines[1..].iter().all(|l| l[at..].starts_with(['V', 'U'])),
            "{ran}"
        );

        // A local policy file replaces the cluster's: here it wants another key.
        let file = policy_file(
            &ctx,
            "other.yaml",
            "other-key",
            &ctx.key_policy("other-pub"),
        )?;
        let ran = cli(
            &ctx,
            &["audit", "-n", &ctx.ns, "-o", "json", "--policy", &file],
            AUDIT_RUN,
        )
        .await?;
        ensure!(ran.code == 1, "want exit 1: {ran}");
        let doc: Value = serde_json::from_str(&ran.stdout)?;
        ensure!(doc["policiesFrom"] == format!("file:{file}"), "{doc:#}");
        let s = result(&doc, "signed")?;
        ensure!(
            s["verified"] == "False" && s["reason"] == "KeyMismatch",
            "{s:#}"
        );
        ensure!(s["status"]["policies"] == json!(["other-key"]), "{s:#}");
        Ok(())
    })
    .await;
}

/// (a) A namespace where every source is verified exits 0; a local policy file can make it so;
/// a malformed policy file is an error (exit 2).
#[tokio::test]
async fn audit_exits_zero_when_every_source_is_verified() {
    run("cmd-audit-ok", |ctx| async move {
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        // Its own spec.verify (Flux enforces it too) and no ProvenancePolicy for it.
        ctx.flux_source("app", Some(&key), Some("cosign-pub")).await?;
        let other = ctx.flux_source("other", Some(&key), None).await?;

        // `other` has neither a policy nor spec.verify: its key signature cannot be checked
        // without the key (UntrustedSigner, issue 9 item 10), which is not verified.
        let ran = cli(&ctx, &["audit", "-n", &ctx.ns], AUDIT_RUN).await?;
        ensure!(ran.code == 1, "want exit 1 (UntrustedSigner): {ran}");
        ensure!(ran.stdout.contains("UntrustedSigner"), "{ran}");

        // A local policy for the whole namespace: both verified.
        let file = policy_file(&ctx, "good.yaml", "good-key", &ctx.key_policy("cosign-pub"))?;
        let ran = cli(&ctx, &["audit", "-n", &ctx.ns, "--policy", &file, "-o", "json"], AUDIT_RUN).await?;
        ensure!(ran.code == 0, "want exit 0: {ran}");
        let doc: Value = serde_json::from_str(&ran.stdout)?;
        ensure!(doc["summary"]["verified"] == 2, "{doc:#}");
        ensure!(result(&doc, "other")?["digest"] == other, "{doc:#}");

        // The namespace's only source left is verified by its own spec.verify: exit 0, no file.
        ctx.api("OCIRepository").delete("other", &Default::default()).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while ctx.api("OCIRepository").get_opt("other").await?.is_some() {
            ensure!(Instant::now() < deadline, "OCIRepository other not deleted");
            tokio::time::sleep(provenance_e2e::POLL).await;
        }
        let ran = cli(&ctx, &["audit", "-n", &ctx.ns], AUDIT_RUN).await?;
        ensure!(ran.code == 0, "want exit 0: {ran}");
        ensure!(ran.stdout.lines().count() == 2, "{ran}");

        let bad = ctx.path("bad.yaml");
        std::fs::write(&bad, "apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nmetadata: {name: broken}\nspec: {match: {}}\n")?;
        let ran = cli(&ctx, &["audit", "-n", &ctx.ns, "--policy", bad.to_str().unwrap_or_default()], AUDIT_RUN).await?;
        ensure!(ran.code == 2, "want exit 2: {ran}");
        ensure!(
            ran.stderr.contains("bad.yaml") && ran.stderr.contains("ProvenancePolicy broken") && ran.stderr.contains("verify"),
            "{ran}"
        );
        ensure!(ran.stdout.is_empty(), "{ran}");
        Ok(())
    })
    .await;
}

/// Nothing selected is not success (issue 9 item 12): `audit` of a namespace with no source —
/// a typo in `-n` in a CI gate — exits 2 with the reason on stderr, in either output format.
#[tokio::test]
async fn audit_exits_two_when_no_source_is_found() {
    run("cmd-audit-none", |ctx| async move {
        ctx.flux_source("app", None, None).await?;
        let typo = format!("{}-typo", ctx.ns);
        for output in ["table", "json"] {
            let ran = cli(&ctx, &["audit", "-n", &typo, "-o", output], AUDIT_RUN).await?;
            ensure!(ran.code == 2, "-o {output}: want exit 2: {ran}");
            ensure!(
                ran.stderr.contains("No OCIRepository or HelmChart found")
                    && ran.stderr.contains("nothing to audit"),
                "-o {output}: {ran}"
            );
        }
        // The control: the right namespace has a source to judge (exit 1: it is unsigned).
        let ran = cli(&ctx, &["audit", "-n", &ctx.ns], AUDIT_RUN).await?;
        ensure!(ran.code == 1, "want exit 1: {ran}");
        Ok(())
    })
    .await;
}

/// (b) Switching on `spec.verify` with the right key: Flux stays Ready, so confirm passes after
/// observing it for --for; with --require-verified it also waits for the controller's audit of
/// the new spec (before the switch the audit says NoPolicy, which must not fail the gate).
#[tokio::test]
async fn confirm_passes_when_spec_verify_with_the_right_key_keeps_the_source_ready() {
    run("cmd-confirm-ok", |ctx| async move {
        ctx.auditor().await?;
        let (key, pubkey) = ctx.keygen("signer").await?;
        ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
        ctx.flux_source("app", Some(&key), None).await?;
        ctx.wait_audit("ocirepository-app", Duration::from_secs(30), "the audit without spec.verify", |a| {
            a.is_some_and(|a| has_cond(a, "Enforced", "False", Some("VerifyMissing")))
        })
        .await?;

        ctx.merge_patch(
            "OCIRepository",
            "app",
            json!({"spec": {"verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}}}),
        )
        .await?;
        let limit = Duration::from_secs(200);
        let plain = ["confirm", "-n", &ctx.ns, "--for", "15s", "--timeout", "3m"];
        let verified = ["confirm", "-n", &ctx.ns, "--for", "15s", "--timeout", "3m", "--require-verified"];
        let (plain, verified) = tokio::join!(cli(&ctx, &plain, limit), cli(&ctx, &verified, limit));
        for ran in [plain?, verified?] {
            ensure!(ran.code == 0, "want exit 0: {ran}");
            ensure!(ran.elapsed >= Duration::from_secs(15), "passed before observing 15 s: {ran}");
            ensure!(
                ran.stdout.contains("confirmed: 1 source(s)") && ran.stdout.contains(&format!("{}/app", ctx.ns)),
                "{ran}"
            );
            ensure!(ran.stderr.contains("sources Ready"), "no progress on stderr: {ran}");
        }
        // What confirm believed: Flux verified the new generation, and so did the audit.
        let obj = ctx.get("OCIRepository", "app").await?;
        ensure!(has_cond(&obj, "SourceVerified", "True", None), "{obj:#}");
        let audit = ctx.audit("ocirepository-app").await?.unwrap_or_default();
        ensure!(has_cond(&audit, "Verified", "True", Some("Verified")), "{audit:#}");
        Ok(())
    })
    .await;
}

/// (b) Switching on `spec.verify` with a wrong key halts the source: confirm fails fast (long
/// before its --for of 10 minutes), naming the source and Flux's VerificationError.
#[tokio::test]
async fn confirm_fails_fast_when_spec_verify_with_a_wrong_key_halts_the_source() {
    run("cmd-confirm-halt", |ctx| async move {
        let (key, _) = ctx.keygen("signer").await?;
        let (_, wrong) = ctx.keygen("wrong").await?;
        ctx.secret("wrong-pub", &[("cosign.pub", &wrong)]).await?;
        ctx.flux_source("app", Some(&key), None).await?;

        ctx.merge_patch(
            "OCIRepository",
            "app",
            json!({"spec": {"verify": {"provider": "cosign", "secretRef": {"name": "wrong-pub"}}}}),
        )
        .await?;
        let args = [
            "confirm",
            "-n",
            &ctx.ns,
            "--kind",
            "OCIRepository",
            "--for",
            "10m",
            "--timeout",
            "10m",
        ];
        let ran = cli(&ctx, &args, Duration::from_secs(180)).await?;
        ensure!(ran.code == 1, "want exit 1: {ran}");
        ensure!(ran.elapsed < Duration::from_secs(120), "not fast: {ran}");
        let halted = ran
            .stdout
            .lines()
            .find(|l| l.starts_with("halted:"))
            .unwrap_or_default();
        ensure!(
            halted.contains(&format!("OCIRepository {}/app", ctx.ns))
                && halted.contains("Ready=False VerificationError"),
            "{ran}"
        );
        Ok(())
    })
    .await;
}

/// confirm's exit 2: nothing selected, an impossible --for, and a timeout naming what was not
/// confirmed and why.
#[tokio::test]
async fn confirm_exits_two_on_timeout_and_on_errors() {
    run("cmd-confirm-timeout", |ctx| async move {
        ctx.flux_source("app", None, None).await?;
        let ran = cli(
            &ctx,
            &[
                "confirm",
                "-n",
                &ctx.ns,
                "-l",
                "wave=none",
                "--for",
                "1s",
                "--timeout",
                "10s",
            ],
            AUDIT_RUN,
        )
        .await?;
        ensure!(
            ran.code == 2
                && ran
                    .stderr
                    .contains("no OCIRepository or HelmChart selected"),
            "{ran}"
        );
        let ran = cli(
            &ctx,
            &["confirm", "-n", &ctx.ns, "--for", "5m", "--timeout", "1m"],
            AUDIT_RUN,
        )
        .await?;
        ensure!(
            ran.code == 2 && ran.stderr.contains("can never be observed"),
            "{ran}"
        );
        // Ready, but not for long enough: the clock starts when confirm first sees it.
        let ran = cli(
            &ctx,
            &["confirm", "-n", &ctx.ns, "--for", "6s", "--timeout", "6s"],
            AUDIT_RUN,
        )
        .await?;
        ensure!(ran.code == 2, "want exit 2: {ran}");
        ensure!(
            ran.stdout.contains("timed out after 6s")
                && ran
                    .stdout
                    .contains(&format!("OCIRepository {}/app: Ready for", ctx.ns)),
            "{ran}"
        );
        Ok(())
    })
    .await;
}
