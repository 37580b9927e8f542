//! The running local stack, as `hack/stack/stack-up.sh` recorded it, and small I/O helpers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The repository root (the e2e crate lives in `<root>/e2e`). `cargo test` sets
/// `CARGO_MANIFEST_DIR` when it runs a test, so the checkout running the tests is the one read,
/// even when its target directory holds a binary built from another clone (cargo does not
/// rebuild for a moved checkout whose files are older than the binary).
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// `$STACK_DIR`, else `<repo>/.stack` — the same rule as `hack/stack/lib.sh`.
pub fn stack_dir() -> PathBuf {
    match std::env::var_os("STACK_DIR") {
        Some(d) if !d.is_empty() => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap().join(p)
            }
        }
        _ => repo_root().join(".stack"),
    }
}

/// The running stack, as recorded by `hack/stack/stack-up.sh` in `$STACK_DIR/env`.
#[derive(Clone, Debug)]
pub struct Stack {
    pub dir: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Stack {
    /// Reads `$STACK_DIR/env`. Errors (never skips) when the stack is not up.
    pub fn load() -> Result<Stack> {
        Stack::load_from(stack_dir())
    }

    /// Reads `<dir>/env` of a stack started with `STACK_DIR=<dir>` (e.g. a test's private one).
    pub fn load_from(dir: PathBuf) -> Result<Stack> {
        let env = dir.join("env");
        let text = std::fs::read_to_string(&env).map_err(|e| {
            anyhow!(
                "the local stack is not up ({}: {e}). Start it with `make stack-up`, or run `make test-e2e`, \
                 which brings it up first",
                env.display()
            )
        })?;
        let vars = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
                )
            })
            .collect();
        Ok(Stack { dir, vars })
    }

    pub fn var(&self, k: &str) -> String {
        self.vars
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing from {}/env", self.dir.display()))
    }

    /// `host:port` of the plain-HTTP registry.
    pub fn registry(&self) -> String {
        self.var("REGISTRY")
    }

    /// A kube client from `$STACK_DIR/<file>` (admin.kubeconfig or auditor.kubeconfig).
    pub async fn client_from(&self, file: &str) -> Result<Client> {
        let path = self.dir.join(file);
        let kc =
            Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(cfg)?)
    }

    /// The admin client, after checking the API server answers.
    pub async fn admin(&self) -> Result<Client> {
        let client = self.client_from("admin.kubeconfig").await?;
        client.apiserver_version().await.map_err(|e| {
            anyhow!(
                "the local stack's API server ({}) does not answer: {e}. Is the stack up? `make stack-up`",
                self.var("KUBE_APISERVER")
            )
        })?;
        Ok(client)
    }
}

/// Plain HTTP GET (registries, source-controller storage); errors on a non-2xx status.
pub async fn http_get(url: &str) -> Result<Vec<u8>> {
    let resp = reqwest::get(url)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("GET {url}: {status}");
    }
    Ok(resp.bytes().await?.to_vec())
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The kubectl to run: the one `hack/tools.sh kubectl` built at the API server's version when it
/// is there (the stack builds it), else whatever `kubectl` is on `PATH`.
pub fn kubectl() -> PathBuf {
    let cache = std::env::var_os("PA_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("provenance-auditor"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/provenance-auditor"))
        });
    cache
        .map(|c| c.join("bin/kubectl-v1.36.3/kubectl"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}
