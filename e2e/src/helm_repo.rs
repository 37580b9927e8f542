//! HTTP Helm chart repositories for e2e tests: charts made and signed by the real `helm`
//! (`helm create`, `helm package --sign`, `helm repo index`) with keys made by Debian's `gpg`,
//! served by a plain static file server on 127.0.0.1 (Python's `http.server`, which the stack
//! already requires), and `helm pull --verify` as the reference verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::process::{Child, Command};

use crate::auditor::free_port;
use crate::install::tool;
use crate::POLL;

/// A directory served over plain HTTP on 127.0.0.1 (killed when dropped).
pub struct StaticServer {
    /// The served directory.
    pub dir: PathBuf,
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    child: Option<Child>,
}

impl StaticServer {
    /// Serves `dir`; returns once it answers.
    pub async fn start(dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting python3 -m http.server")?;
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(&url).await.is_err() {
            if Instant::now() >= deadline {
                bail!("the static file server on {url} never answered");
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            url,
            child: Some(child),
        })
    }

    /// Stops serving (the port then refuses connections).
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        Ok(())
    }
}

async fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A throwaway GnuPG home (Debian's `gpg`, from `hack/tools.sh apt`).
pub struct Gpg {
    home: PathBuf,
}

impl Gpg {
    /// A new, empty GnuPG home under `dir`.
    pub async fn new(dir: &Path) -> Result<Self> {
        tool_check_apt().await?;
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            home: dir.to_path_buf(),
        })
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home).args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// A new Ed25519 signing key for `uid` (`Name <email>`); returns its fingerprint.
    pub async fn gen_key(&self, uid: &str) -> Result<String> {
        run(
            self.gpg()
                .args(["--quick-gen-key", uid, "ed25519", "sign", "never"]),
            "gpg --quick-gen-key",
        )
        .await?;
        let out = run(
            self.gpg().args(["--with-colons", "--list-keys", uid]),
            "gpg --list-keys",
        )
        .await?;
        out.lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .context("no fingerprint listed")
    }

    /// The legacy secret keyring `helm package --sign --keyring` reads (every key).
    pub async fn secret_keyring(&self, path: &Path) -> Result<()> {
        let bytes = self
            .gpg()
            .args(["--export-secret-keys"])
            .output()
            .await?
            .stdout;
        std::fs::write(path, bytes)?;
        Ok(())
    }

    /// `uid`'s public key, binary (as `helm verify --keyring` reads it) or armored.
    pub async fn public_key(&self, uid: &str, armor: bool) -> Result<Vec<u8>> {
        let mut c = self.gpg();
        if armor {
            c.arg("--armor");
        }
        Ok(c.args(["--export", uid]).output().await?.stdout)
    }

    /// `text` clear-signed by `uid` (what `helm package --sign` writes, for a package that
    /// exists already).
    pub async fn clearsign(&self, uid: &str, text: &str, out: &Path) -> Result<()> {
        let input = self.home.join("clearsign-input");
        std::fs::write(&input, text)?;
        run(
            self.gpg()
                .args(["--yes", "-u", uid, "--clearsign", "-o"])
                .arg(out)
                .arg(&input),
            "gpg --clearsign",
        )
        .await?;
        Ok(())
    }
}

async fn tool_check_apt() -> Result<()> {
    let script = crate::repo_root().join("hack/tools.sh");
    run(
        Command::new(script).args(["check", "apt"]),
        "hack/tools.sh check apt",
    )
    .await?;
    Ok(())
}

/// The real `helm` (`hack/tools.sh helm`).
pub struct Helm {
    bin: PathBuf,
    /// Its own config and cache (never the user's repositories).
    home: PathBuf,
}

impl Helm {
    /// `helm` with a private home under `dir`.
    pub async fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            bin: tool("helm").await?,
            home: dir.to_path_buf(),
        })
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        for (k, sub) in [
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_DATA_HOME", "data"),
        ] {
            c.env(k, self.home.join(sub));
        }
        c
    }

    /// `helm ARGS` in `dir`; its stdout.
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<String> {
        run(
            self.cmd().args(args).current_dir(dir),
            &format!("helm {}", args.join(" ")),
        )
        .await
    }

    /// `helm pull --verify` of `chart` `version` from `repo` with `keyring`: `Ok(())` when Helm
    /// verified it, else Helm's error text (stderr).
    pub async fn pull_verify(
        &self,
        dir: &Path,
        repo: &str,
        chart: &str,
        version: &str,
        keyring: &Path,
    ) -> Result<std::result::Result<(), String>> {
        std::fs::create_dir_all(dir)?;
        let out = self
            .cmd()
            .args(["pull", "--verify", "--keyring"])
            .arg(keyring)
            .args(["--repo", repo, chart, "--version", version, "-d"])
            .arg(dir)
            .output()
            .await?;
        Ok(if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        })
    }
}

/// What a `helm pull --verify` failure means in the auditor's vocabulary (`Verified`,
/// `Unsigned`, `KeyMismatch`, `DigestMismatch`, `SignatureInvalid`, or `Unknown` when Helm
/// could not tell either), from Helm's error text.
pub fn helm_verdict(result: &std::result::Result<(), String>) -> &'static str {
    let Err(e) = result else {
        return "Verified";
    };
    let e = e.to_ascii_lowercase();
    if e.contains("connection refused") || e.contains("cannot be reached") {
        // Helm could not tell either.
        "Unknown"
    } else if e.contains("sha256 sum does not match") {
        "DigestMismatch"
    } else if e.contains("unknown entity") {
        "KeyMismatch"
    } else if e.contains("failed to fetch provenance") {
        // It fetched the package (from the same server), then not its .prov.
        "Unsigned"
    } else {
        "SignatureInvalid"
    }
}
