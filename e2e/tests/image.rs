//! The controller image (issue 10), built by `make image`'s script, pushed to the stack's
//! registry and run with podman the way the chart's Deployment runs it: the Deployment rendered
//! by real helm (so the test fails when the chart and the binary drift apart), its args, env,
//! securityContext, volumes and resources translated by [`PodRun`], the in-cluster
//! configuration a pod gets (API server address, a TokenRequest token of the chart's
//! ServiceAccount, its CA and namespace), host networking to reach the stack on 127.0.0.1.
//!
//! One deviation, forced by host networking: the chart's `--metrics-addr=0.0.0.0:8080` (right in
//! a pod's own network namespace) would take port 8080 on every host interface, so the test
//! checks that arg is exactly the chart's and runs it on a free loopback port instead.
//!
//! Also: two builds of the same commit are the same image (ID and pushed digest), the image
//! holds only the binary and what it needs, and our own release signatures — a cosign key, and
//! keyless as the GitHub release workflow through the private test Sigstore — are verified by
//! `provenance-auditor verify` run from the image itself (dogfooding).
//!
//! Its own test binary: its controller (in the container) must not overlap another binary's.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context as _, Result};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use provenance_e2e::install::{
    apply_server_side, output, service_account_token, tool, uninstall_cluster_scoped, Release,
    CHART,
};
use provenance_e2e::podman::{
    build_image, ensure_podman, inspect_image, podman, podman_output, push, Container, PodEnv,
    PodRun,
};
use provenance_e2e::{free_port, has_cond, install_crds, repo_root, run, Ctx, AUDIT, POLL};
use serde_json::Value;
use sigstore_forge::{push as forge_push, CiClaims, LeafSpec, PrivateSigstore, SignOptions};

const REPOSITORY: &str = "ghcr.io/provenance-dev/provenance-auditor";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The image must stay small, uncompressed: the stripped binary (29 MiB with the OpenPGP,
/// Notation and cloud-identity verifiers) and glibc, nothing else. A binary that grows past
/// this is looked at, not waved through.
const MAX_SIZE: u64 = 34 * 1024 * 1024;

/// The crate version: the image tag, the chart's appVersion (tests/versions.rs).
fn version() -> Result<String> {
    let toml = std::fs::read_to_string(repo_root().join("Cargo.toml"))?;
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .map(str::to_string)
        .context("no version in Cargo.toml")
}

/// The identity our release workflow signs with (`.github/workflows/release.yml` on a tag).
fn release_workflow(version: &str) -> String {
    format!(
        "https://github.com/provenance-dev/provenance-auditor/.github/workflows/release.yml@refs/tags/v{version}"
    )
}

/// An anchored, escaped regex for exactly `s`.
fn exactly(s: &str) -> String {
    let mut re = String::from("^");
    for c in s.chars() {
        if ".+*?()[]{}|^$\\".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re.push('$');
    re
}

/// A file readable by the container's uid 65532 in `dir` (mode 0644; `dir` 0755).
fn world_readable(dir: &Path, name: &str, content: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let p = dir.join(name);
    std::fs::write(&p, content)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

async fn logs(name: &str) -> String {
    podman_output(&["logs", name])
        .await
        .unwrap_or_else(|e| format!("(no logs: {e:#})"))
}

async fn http_status(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// `/proc/<pid>/status` and the root mount of the container's main process, as the host sees it.
async fn process_facts(name: &str) -> Result<(String, String)> {
    let pid = podman_output(&["inspect", "--format", "{{.State.Pid}}", name]).await?;
    let pid = pid.trim();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    let root = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .context("no root mount")?
        .to_string();
    Ok((status, root))
}

fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
}

async fn lease_holder(ctx: &Ctx) -> Result<Option<String>> {
    Ok(Api::<Lease>::namespaced(ctx.client.clone(), &ctx.ns)
        .get_opt("provenance-auditor")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}

fn verified(a: Option<&Value>, status: &str, reason: &str) -> bool {
    a.is_some_and(|a| has_cond(a, "Verified", status, Some(reason)))
}

#[tokio::test]
async fn the_image_runs_as_the_charts_deployment_runs_it() {
    run("image-chart", |ctx| async move {
        ensure_podman().await?;
        let version = version()?;
        let local = format!("{REPOSITORY}:{version}");
        build_image(&local, false).await?;
        let repo = format!("{}/{}/provenance-auditor", ctx.stack.registry(), ctx.ns);
        let digest = push(&local, &format!("{repo}:{version}"), &ctx.work).await?;

        // The chart, rendered by helm for this image, applied as an install would.
        install_crds(&ctx.stack)?;
        let helm = tool("helm").await?;
        let kube_version = ctx.client.apiserver_version().await?.git_version;
        let (release, fullname) = Release::names(&ctx);
        let rendered = output(
            tokio::process::Command::new(helm)
                .args(["template", &release, CHART, "--namespace", &ctx.ns])
                .args(["--kube-version", &kube_version])
                .args(["--set", &format!("image.repository={repo}")])
                .args(["--set", &format!("image.digest={digest}")])
                .current_dir(repo_root()),
            "helm template",
        )
        .await?;
        let manifest = ctx.path("chart.yaml");
        std::fs::write(&manifest, &rendered)?;
        let result = async {
            let objects =
                apply_server_side(&ctx.stack, &["-f", manifest.to_str().unwrap()]).await?;
            let deployment = objects
                .iter()
                .find(|o| o["kind"] == "Deployment")
                .context("the chart rendered no Deployment")?;

            // What the kubelet would give the pod.
            let sa_dir = ctx.path("serviceaccount");
            let token = service_account_token(&ctx.client, &ctx.ns, &fullname).await?;
            world_readable(&sa_dir, "token", token.as_bytes())?;
            world_readable(
                &sa_dir,
                "ca.crt",
                &std::fs::read(ctx.stack.var("KUBE_CA_FILE"))?,
            )?;
            world_readable(&sa_dir, "namespace", ctx.ns.as_bytes())?;
            let api = ctx.stack.var("KUBE_APISERVER");
            let (host, port) = api
                .strip_prefix("https://")
                .and_then(|a| a.rsplit_once(':'))
                .with_context(|| format!("KUBE_APISERVER {api}"))?;
            let pod_name = format!("{fullname}-{}", &ctx.ns[ctx.ns.len() - 5..]);
            let env = PodEnv {
                pod_name: pod_name.clone(),
                namespace: ctx.ns.clone(),
                service_host: host.into(),
                service_port: port.into(),
                service_account_dir: sa_dir,
            };
            let mut pod = PodRun::from_deployment(deployment, &env)?;
            ensure!(
                pod.image == format!("{repo}@{digest}"),
                "the chart runs {}",
                pod.image
            );
            // The kubelet expanded $(POD_NAMESPACE): the Lease goes to the release namespace.
            ensure!(
                pod.args
                    .contains(&format!("--leader-election-namespace={}", ctx.ns)),
                "args {:?}",
                pod.args
            );
            let chart_addr = format!("--metrics-addr=0.0.0.0:{}", pod.metrics_port);
            let at = pod
                .args
                .iter()
                .position(|a| *a == chart_addr)
                .with_context(|| format!("no {chart_addr} in the chart's args {:?}", pod.args))?;
            let metrics_port = free_port()?;
            pod.args[at] = format!("--metrics-addr=127.0.0.1:{metrics_port}");
            let name = format!("pa-{pod_name}");
            let mut cmd = podman();
            cmd.args(["run", "--detach", "--pull=always", "--tls-verify=false"])
                .args(&pod.flags)
                .arg(&pod.image)
                .args(&pod.args);
            output(&mut cmd, "podman run").await?;
            let container = Container { name: name.clone() };
            let url = format!("http://127.0.0.1:{metrics_port}");

            let checks = async {
                // It takes the Lease as the pod, in the release namespace.
                let deadline = Instant::now() + Duration::from_secs(60);
                while lease_holder(&ctx).await?.as_deref() != Some(pod_name.as_str()) {
                    ensure!(Instant::now() < deadline, "no Lease held by {pod_name}");
                    tokio::time::sleep(POLL).await;
                }
                let deadline = Instant::now() + Duration::from_secs(60);
                while http_status(&format!("{url}/readyz")).await != Some(200) {
                    ensure!(Instant::now() < deadline, "/readyz never answered 200");
                    tokio::time::sleep(POLL).await;
                }
                ensure!(
                    http_status(&format!("{url}/healthz")).await == Some(200),
                    "/healthz"
                );

                // The process is what the securityContext says.
                let (status, root) = process_facts(&name).await?;
                for (field, want) in [
                    ("Uid", "65532\t65532\t65532\t65532"),
                    ("Gid", "65532\t65532\t65532\t65532"),
                    ("CapEff", "0000000000000000"),
                    ("CapPrm", "0000000000000000"),
                    ("CapBnd", "0000000000000000"),
                    ("NoNewPrivs", "1"),
                    ("Seccomp", "2"),
                ] {
                    ensure!(
                        status_field(&status, field) == want,
                        "{field}: {:?}, expected {want:?}",
                        status_field(&status, field)
                    );
                }
                let options = root.split(' ').nth(5).unwrap_or("");
                ensure!(
                    options.split(',').any(|o| o == "ro"),
                    "the root filesystem is mounted {options}: {root}"
                );

                // It audits the stack's sources as the chart's ServiceAccount.
                let (key, pubkey) = ctx.keygen("signer").await?;
                ctx.secret("cosign-pub", &[("cosign.pub", &pubkey)]).await?;
                ctx.policy(&format!("{}-keys", ctx.ns), ctx.key_policy("cosign-pub"))
                    .await?;
                ctx.flux_source("signed", Some(&key), None).await?;
                ctx.flux_source("unsigned", None, None).await?;
                ctx.wait_audit("ocirepository-signed", AUDIT, "Verified=True", |a| {
                    verified(a, "True", "Verified")
                })
                .await?;
                ctx.wait_audit(
                    "ocirepository-unsigned",
                    AUDIT,
                    "Verified=False/Unsigned",
                    |a| verified(a, "False", "Unsigned"),
                )
                .await?;
                let metrics = reqwest::get(format!("{url}/metrics")).await?.text().await?;
                let line = format!(
                    "provenance_source_verified{{namespace=\"{}\",name=\"signed\"",
                    ctx.ns
                );
                ensure!(
                    metrics.lines().any(|l| l.starts_with(&line)),
                    "/metrics has no {line}…"
                );

                // SIGTERM, as the kubelet stops a pod: out within the grace period, exit 0,
                // and the Lease released for the next replica.
                let grace = pod.grace.as_secs().to_string();
                let t0 = Instant::now();
                podman_output(&["stop", "--time", &grace, &name]).await?;
                let took = t0.elapsed();
                let code =
                    podman_output(&["inspect", "--format", "{{.State.ExitCode}}", &name]).await?;
                ensure!(
                    code.trim() == "0" && took < pod.grace,
                    "stopped after {took:?} (grace {:?}) with exit code {}",
                    pod.grace,
                    code.trim()
                );
                ensure!(
                    lease_holder(&ctx).await?.is_none(),
                    "the Lease is still held after SIGTERM"
                );
                Ok(())
            }
            .await;
            if checks.is_err() {
                eprintln!("----- podman logs {name} -----\n{}", logs(&name).await);
            }
            drop(container);
            checks
        }
        .await;
        uninstall_cluster_scoped(&ctx, &fullname).await;
        result
    })
    .await;
}

/// Every path in the image's filesystem, relative (the image mounted read-only by podman).
async fn image_files(image: &str) -> Result<BTreeSet<String>> {
    let root = podman_output(&["image", "mount", image]).await?;
    let root = std::path::PathBuf::from(root.trim());
    let mut files = BTreeSet::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let rel = path.strip_prefix(&root)?.display().to_string();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            }
            files.insert(rel);
        }
    }
    podman_output(&["image", "unmount", image]).await?;
    Ok(files)
}

/// `provenance-auditor verify -o json REF ARGS` run from `image` with `files` mounted at /in.
async fn verify_in_image(
    image: &str,
    files: &Path,
    reference: &str,
    args: &[&str],
) -> Result<Value> {
    let out = podman()
        .args([
            "run",
            "--rm",
            "--network=host",
            "--read-only",
            "--cap-drop=ALL",
        ])
        .arg(format!("--volume={}:/in:ro", files.display()))
        .args([image, "verify", "-o", "json", reference])
        .args(args)
        .output()
        .await?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow!(
            "verify printed no JSON ({e}; {}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(v["results"][0].clone())
}

#[tokio::test]
async fn the_image_is_reproducible_and_verifies_its_own_release_signatures() {
    run("image-release", |ctx| async move {
        ensure_podman().await?;
        let version = version()?;
        // Two builds from the root filesystem up, under other names than `make image`'s.
        let (a, b) = (
            format!("localhost/provenance-auditor-repro:a-{version}"),
            format!("localhost/provenance-auditor-repro:b-{version}"),
        );
        let id_a = build_image(&a, true).await?;
        let id_b = build_image(&b, true).await?;
        ensure!(
            id_a == id_b,
            "two builds of one commit: image IDs {id_a} and {id_b}"
        );
        let registry = ctx.stack.registry();
        let digest = push(
            &a,
            &format!("{registry}/{}/release-a:{version}", ctx.ns),
            &ctx.work,
        )
        .await?;
        let digest_b = push(
            &b,
            &format!("{registry}/{}/release-b:{version}", ctx.ns),
            &ctx.work,
        )
        .await?;
        ensure!(digest == digest_b, "pushed digests {digest} and {digest_b}");

        // Labels, user, size, creation time.
        let inspect = inspect_image(&a).await?;
        let labels = &inspect["Labels"];
        let revision = output(
            tokio::process::Command::new("git")
                .args(["rev-parse", "HEAD"])
                .current_dir(repo_root()),
            "git rev-parse",
        )
        .await?;
        for (k, want) in [
            (
                "org.opencontainers.image.source",
                "https://github.com/provenance-dev/provenance-auditor",
            ),
            ("org.opencontainers.image.revision", revision.trim()),
            ("org.opencontainers.image.version", version.as_str()),
        ] {
            ensure!(
                labels[k] == want,
                "label {k}: {}, expected {want}",
                labels[k]
            );
        }
        ensure!(inspect["User"] == "65532:65532", "user {}", inspect["User"]);
        let size = inspect["Size"].as_u64().context("no size")?;
        ensure!(size < MAX_SIZE, "the image is {size} bytes");
        eprintln!("[e2e] image {id_a}: {size} bytes, pushed as {digest}");

        // Only the binary and what it needs: no shell, no package manager.
        let files = image_files(&a).await?;
        for want in [
            "usr/local/bin/provenance-auditor",
            "lib64/ld-linux-x86-64.so.2",
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib/x86_64-linux-gnu/libgcc_s.so.1",
            "etc/ssl/certs/ca-certificates.crt",
            "etc/passwd",
            "usr/share/doc/libc6/copyright",
        ] {
            ensure!(
                files.contains(want),
                "{want} is not in the image: {files:?}"
            );
        }
        let executables = ["usr/local/bin/provenance-auditor"];
        for f in &files {
            ensure!(
                !f.starts_with("bin") && !f.starts_with("sbin") && !f.starts_with("usr/bin"),
                "{f} is in the image"
            );
            ensure!(
                executables.contains(&f.as_str())
                    || f.starts_with("lib")
                    || f.starts_with("etc/")
                    || f.starts_with("usr/share/doc/")
                    || [
                        "etc",
                        "tmp",
                        "usr",
                        "usr/local",
                        "usr/local/bin",
                        "usr/share",
                        "usr/share/doc"
                    ]
                    .contains(&f.as_str()),
                "unexpected {f} in the image"
            );
        }
        let says = podman_output(&["run", "--rm", &a, "--version"]).await?;
        ensure!(
            says.trim() == format!("provenance-auditor {version}"),
            "the image's binary says {says:?}"
        );

        // Dogfooding: sign our image as the release does, verify it with our own tool.
        let reference = format!("{registry}/{}/release-a@{digest}", ctx.ns);
        let (key, pubkey) = ctx.keygen("release").await?;
        ctx.sign(&key, "bundle", "release-a", &digest).await?;
        let sigstore = ctx.path("sigstore");
        let (dir, d, repo) = (
            sigstore.clone(),
            digest.clone(),
            format!("{registry}/{}/release-a", ctx.ns),
        );
        let workflow = release_workflow(&version);
        let (w, v) = (workflow.clone(), version.clone());
        tokio::task::spawn_blocking(move || -> sigstore_forge::Result<String> {
            let forge = PrivateSigstore::generate("release")?;
            forge.save(&dir)?;
            let mut leaf = LeafSpec::uri(&w, ISSUER);
            leaf.ci = CiClaims {
                source_repository_uri: Some(
                    "https://github.com/provenance-dev/provenance-auditor".into(),
                ),
                source_repository_ref: Some(format!("refs/tags/v{v}")),
                build_config_uri: Some(w.clone()),
                build_trigger: Some("push".into()),
                ..CiClaims::default()
            };
            let leaf = forge.issue_leaf(&leaf)?;
            let bundle = forge.sign_bundle(&leaf, &d, &SignOptions::default())?;
            forge_push::attach_bundle(&repo, &d, &bundle)
        })
        .await?
        .map_err(|e| anyhow!("signing keyless: {e}"))?;
        let inputs = ctx.path("verify-inputs");
        world_readable(&inputs, "cosign.pub", pubkey.as_bytes())?;
        world_readable(
            &inputs,
            "trusted_root.json",
            &std::fs::read(sigstore.join("trusted_root.json"))?,
        )?;

        let by_key = verify_in_image(&a, &inputs, &reference, &["--key", "/in/cosign.pub"]).await?;
        ensure!(by_key["verdict"] == "Verified", "with the key: {by_key}");
        let keyless = [
            "--trusted-root",
            "/in/trusted_root.json",
            "--certificate-oidc-issuer-regexp",
            &exactly(ISSUER),
        ];
        let ours = exactly(&workflow);
        let by_workflow = verify_in_image(
            &a,
            &inputs,
            &reference,
            &[&keyless[..], &["--certificate-identity-regexp", &ours]].concat(),
        )
        .await?;
        ensure!(
            by_workflow["verdict"] == "Verified",
            "keyless: {by_workflow}"
        );
        // A fork's workflow is not ours: the same signatures, another identity.
        let fork = exactly(&workflow.replace("provenance-dev/", "someone-else/"));
        let by_fork = verify_in_image(
            &a,
            &inputs,
            &reference,
            &[&keyless[..], &["--certificate-identity-regexp", &fork]].concat(),
        )
        .await?;
        ensure!(
            by_fork["verdict"] == "IdentityMismatch",
            "a fork's identity: {by_fork}"
        );
        Ok(())
    })
    .await;
}
