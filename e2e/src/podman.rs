//! The controller image run the way the chart's Deployment runs it, with Debian's podman (the
//! machines have no kubelet and no Docker engine).
//!
//! [`PodRun::from_deployment`] translates the Deployment `helm template` rendered into `podman
//! run` flags: the image, the args (with the kubelet's `$(VAR)` expansion), the env (downward API
//! included), the pod's and the container's securityContext, the emptyDir volumes, the
//! resources and the grace period. A field it does not know fails the translation, so a new
//! chart setting is never silently left out of the test. podman runs with
//! `hack/image/containers.conf` (runc, no ulimits) and `--network=host` (the stack is on
//! 127.0.0.1), plus the in-cluster configuration a pod gets: `KUBERNETES_SERVICE_HOST`/`PORT`
//! and the ServiceAccount token, CA and namespace at [`SA_DIR`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;

use crate::install::output;
use crate::stack::repo_root;

/// Where a pod finds its ServiceAccount token, CA and namespace.
pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A `podman` command with the repository's containers.conf.
pub fn podman() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("podman");
    cmd.env(
        "CONTAINERS_CONF",
        repo_root().join("hack/image/containers.conf"),
    );
    cmd
}

/// Runs `podman ARGS`; its stdout.
pub async fn podman_output(args: &[&str]) -> Result<String> {
    output(podman().args(args), &format!("podman {}", args.join(" "))).await
}

/// Checks that podman, buildah and runc are installed (`make tools` installs them before the
/// tests): a machine without them fails here, saying how to install them; the test is never
/// skipped, and never installs them itself.
pub async fn ensure_podman() -> Result<()> {
    output(
        tokio::process::Command::new(repo_root().join("hack/tools.sh"))
            .args(["check", "containers"]),
        "hack/tools.sh check containers",
    )
    .await?;
    Ok(())
}

/// Builds the image (`hack/image/build.sh`, what `make image` runs) as `image`; its image ID.
/// `no_cache` rebuilds it from its root filesystem even when podman has it.
pub async fn build_image(image: &str, no_cache: bool) -> Result<String> {
    let mut cmd = tokio::process::Command::new(repo_root().join("hack/image/build.sh"));
    cmd.env("IMAGE", image)
        .env("IMAGE_NO_CACHE", if no_cache { "1" } else { "0" })
        .current_dir(repo_root());
    Ok(output(&mut cmd, "hack/image/build.sh")
        .await?
        .trim()
        .to_string())
}

/// Pushes a local image to `dest` (`host:port/repo:tag`, plain HTTP); the manifest digest.
pub async fn push(image: &str, dest: &str, scratch: &Path) -> Result<String> {
    let digestfile = scratch.join(format!("digest-{}", crate::sha256(dest.as_bytes())));
    podman_output(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        "--digestfile",
        digestfile.to_str().unwrap(),
        image,
        &format!("docker://{dest}"),
    ])
    .await?;
    let digest = std::fs::read_to_string(&digestfile)?.trim().to_string();
    ensure!(
        digest.starts_with("sha256:"),
        "podman push wrote digest {digest:?}"
    );
    Ok(digest)
}

/// `podman image inspect` of one image, as JSON.
pub async fn inspect_image(image: &str) -> Result<Value> {
    let text = podman_output(&["image", "inspect", image]).await?;
    let v: Value = serde_json::from_str(&text)?;
    Ok(v[0].clone())
}

/// A container this test started; removed (forcibly) when dropped.
pub struct Container {
    /// Its name.
    pub name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .env(
                "CONTAINERS_CONF",
                repo_root().join("hack/image/containers.conf"),
            )
            .args(["rm", "--force", "--time", "0", &self.name])
            .output();
    }
}

/// What the pod would get from the cluster: its name and namespace (downward API), the API
/// server's address and a directory holding `token`, `ca.crt` and `namespace`.
pub struct PodEnv {
    pub pod_name: String,
    pub namespace: String,
    pub service_host: String,
    pub service_port: String,
    pub service_account_dir: PathBuf,
}

/// The `podman run` equivalent of a rendered Deployment's only container.
#[derive(Debug)]
pub struct PodRun {
    /// `podman run` flags, before the image.
    pub flags: Vec<String>,
    /// The image.
    pub image: String,
    /// The container's args, `$(VAR)` expanded as the kubelet does.
    pub args: Vec<String>,
    /// `terminationGracePeriodSeconds`.
    pub grace: Duration,
    /// The port the container's probes and metrics use (its `metrics` containerPort).
    pub metrics_port: u16,
}

impl PodRun {
    /// Translates `deployment` (as rendered) for `env`; fails on anything it cannot honour.
    pub fn from_deployment(deployment: &Value, env: &PodEnv) -> Result<PodRun> {
        let pod = &deployment["spec"]["template"]["spec"];
        let containers = pod["containers"].as_array().context("no containers")?;
        ensure!(containers.len() == 1, "{} containers", containers.len());
        ensure!(
            pod.get("initContainers").is_none(),
            "init containers are not run"
        );
        let c = &containers[0];
        ensure!(
            c.get("command").is_none(),
            "a command overrides the image's entrypoint"
        );
        ensure!(
            pod["automountServiceAccountToken"] != false,
            "the pod does not mount its token, so it cannot run in cluster"
        );
        let mut flags: Vec<String> = vec![
            "--network=host".into(),
            format!("--name=pa-{}", env.pod_name),
            format!("--hostname={}", env.pod_name),
            // Only what the chart mounts is writable (podman would add tmpfs on /tmp, /run…).
            "--read-only-tmpfs=false".into(),
        ];
        let mut vars = BTreeMap::new();
        vars.insert(
            "KUBERNETES_SERVICE_HOST".to_string(),
            env.service_host.clone(),
        );
        vars.insert(
            "KUBERNETES_SERVICE_PORT".to_string(),
            env.service_port.clone(),
        );
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"]
                .as_str()
                .context("env without a name")?
                .to_string();
            let value = match (&e["value"], &e["valueFrom"]) {
                (Value::String(v), Value::Null) => expand(v, &vars),
                (Value::Null, from) => match from["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.name") => env.pod_name.clone(),
                    Some("metadata.namespace") => env.namespace.clone(),
                    _ => bail!("env {name}: valueFrom {from} is not supported"),
                },
                _ => bail!("env {name}: {e}"),
            };
            vars.insert(name, value);
        }
        for (k, v) in &vars {
            flags.push(format!("--env={k}={v}"));
        }
        security(&pod["securityContext"], &c["securityContext"], &mut flags)?;
        volumes(pod, c, &mut flags)?;
        resources(&c["resources"], &mut flags)?;
        flags.push(format!(
            "--volume={}:{SA_DIR}:ro",
            env.service_account_dir.display()
        ));
        let metrics_port = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "metrics")
            .and_then(|p| p["containerPort"].as_u64())
            .context("no metrics containerPort")?;
        let args = c["args"]
            .as_array()
            .context("no args")?
            .iter()
            .map(|a| {
                a.as_str()
                    .map(|a| expand(a, &vars))
                    .context("an arg is no string")
            })
            .collect::<Result<Vec<_>>>()?;
        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        Ok(PodRun {
            flags,
            image: c["image"].as_str().context("no image")?.to_string(),
            args,
            grace: Duration::from_secs(grace),
            metrics_port: u16::try_from(metrics_port)?,
        })
    }
}

/// The kubelet's `$(VAR)` expansion of args and env values: a defined variable is replaced,
/// `$$` is a literal `$`, anything else stays as written.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn security(pod: &Value, container: &Value, flags: &mut Vec<String>) -> Result<()> {
    let mut uid = None;
    let mut gid = None;
    let mut non_root = false;
    for (what, sc) in [("pod", pod), ("container", container)] {
        let Some(map) = sc.as_object() else {
            continue;
        };
        for (k, v) in map {
            match (k.as_str(), v) {
                ("runAsUser", Value::Number(n)) => uid = n.as_u64(),
                ("runAsGroup", Value::Number(n)) => gid = n.as_u64(),
                ("runAsNonRoot", Value::Bool(b)) => non_root |= b,
                ("readOnlyRootFilesystem", Value::Bool(true)) => flags.push("--read-only".into()),
                ("readOnlyRootFilesystem", Value::Bool(false)) => {}
                ("allowPrivilegeEscalation", Value::Bool(false)) => {
                    flags.push("--security-opt=no-new-privileges".into())
                }
                // podman's default seccomp profile is the container runtime's default.
                ("seccompProfile", p) if p["type"] == "RuntimeDefault" => {}
                ("capabilities", caps) => {
                    for (key, flag) in [("drop", "--cap-drop"), ("add", "--cap-add")] {
                        for cap in caps[key].as_array().into_iter().flatten() {
                            flags.push(format!("{flag}={}", cap.as_str().context("capability")?));
                        }
                    }
                }
                _ => bail!("{what} securityContext {k}: {v} is not translated to podman"),
            }
        }
    }
    match (uid, gid) {
        (Some(u), Some(g)) => flags.push(format!("--user={u}:{g}")),
        (Some(u), None) => flags.push(format!("--user={u}")),
        (None, _) => ensure!(
            !non_root,
            "runAsNonRoot without runAsUser: the image's user decides"
        ),
    }
    ensure!(!non_root || uid != Some(0), "runAsNonRoot with runAsUser 0");
    Ok(())
}

fn volumes(pod: &Value, c: &Value, flags: &mut Vec<String>) -> Result<()> {
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().context("volumeMount without a name")?;
        let path = m["mountPath"]
            .as_str()
            .context("volumeMount without a path")?;
        let volume = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .with_context(|| format!("no volume {name}"))?;
        let Some(empty) = volume.get("emptyDir") else {
            bail!("volume {name}: only emptyDir is translated ({volume})");
        };
        // An emptyDir is a fresh, world-writable directory; its sizeLimit becomes tmpfs's size.
        let mut opts = vec!["rw".to_string(), "mode=1777".into()];
        if let Some(limit) = empty["sizeLimit"].as_str() {
            opts.push(format!("size={}", quantity_bytes(limit)?));
        }
        flags.push(format!("--tmpfs={path}:{}", opts.join(",")));
    }
    Ok(())
}

fn resources(r: &Value, flags: &mut Vec<String>) -> Result<()> {
    if let Some(mem) = r["limits"]["memory"].as_str() {
        flags.push(format!("--memory={}", quantity_bytes(mem)?));
    }
    if let Some(cpu) = r["limits"]["cpu"].as_str() {
        let cpus = match cpu.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>()? / 1000.0,
            None => cpu.parse::<f64>()?,
        };
        flags.push(format!("--cpus={cpus}"));
    }
    Ok(())
}

/// A Kubernetes binary-suffixed quantity (`16Mi`, `256Mi`, `1Gi`) in bytes.
pub fn quantity_bytes(q: &str) -> Result<u64> {
    let (num, mult) = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)]
        .iter()
        .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((q, 1));
    Ok(num
        .parse::<u64>()
        .with_context(|| format!("quantity {q}"))?
        * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_is_the_kubelets() {
        let vars = BTreeMap::from([("POD_NAMESPACE".to_string(), "ns1".to_string())]);
        assert_eq!(expand("--ns=$(POD_NAMESPACE)", &vars), "--ns=ns1");
        assert_eq!(
            expand("$(UNSET) $$(POD_NAMESPACE) $x", &vars),
            "$(UNSET) $(POD_NAMESPACE) $x"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("16Mi").unwrap(), 16 << 20);
        assert_eq!(quantity_bytes("1024").unwrap(), 1024);
        assert!(quantity_bytes("1.5Gi").is_err());
    }
}
