//! Notary Project signing for e2e tests: the real notation CLI (`hack/tools.sh notation`, built
//! from its Go module) with a private configuration directory per signer, signing on the
//! stack's plain-HTTP registry, and Flux's Secret layout (`trustpolicy.json` + `*.crt`); and a
//! local RFC 3161 timestamp authority (`openssl ts -reply` behind the repository's
//! `tests/data/notation/tsa/server.py`) for `notation sign --timestamp-url`.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;

use crate::ctx::Ctx;
use crate::install::tool;
use crate::stack::repo_root;

/// A timestamp authority on 127.0.0.1 (killed when dropped): a root CA and the TSA certificate
/// it issues, made by `tests/data/notation/tsa/ca.sh` with Debian's openssl.
pub struct Tsa {
    /// `http://127.0.0.1:<port>/`, what `--timestamp-url` takes.
    pub url: String,
    /// The TSA's root certificate (PEM), what a `tsa` trust store holds.
    pub root: String,
    /// Its path, what `--timestamp-root-cert` takes.
    pub root_path: PathBuf,
    _child: tokio::process::Child,
}

/// One notation signer: a configuration directory with a `generate-test` key and certificate.
pub struct NotationSigner {
    home: PathBuf,
    /// The signer's self-signed test certificate (PEM), what a trust store holds.
    pub certificate: String,
}

impl Ctx {
    /// A fresh signer: `notation cert generate-test --default <name>` in its own directory.
    /// Its certificate's subject is `C=US, ST=WA, L=Seattle, O=Notary, CN=<name>`.
    pub async fn notation_signer(&self, name: &str) -> Result<NotationSigner> {
        let home = self.path(&format!("notation-{name}"));
        std::fs::create_dir_all(&home)?;
        notation(&home, &["cert", "generate-test", "--default", name]).await?;
        let crt = home.join(format!("config/notation/localkeys/{name}.crt"));
        let certificate =
            std::fs::read_to_string(&crt).with_context(|| format!("reading {}", crt.display()))?;
        Ok(NotationSigner { home, certificate })
    }

    /// A fresh TSA named `name`, answering on 127.0.0.1.
    pub async fn tsa(&self, name: &str) -> Result<Tsa> {
        let dir = self.path(&format!("tsa-{name}"));
        let scripts = repo_root().join("tests/data/notation/tsa");
        let out = tokio::process::Command::new(scripts.join("ca.sh"))
            .arg(&dir)
            .arg(name)
            .output()
            .await
            .context("running tsa/ca.sh")?;
        if !out.status.success() {
            bail!("tsa/ca.sh: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let mut child = tokio::process::Command::new("python3")
            .arg(scripts.join("server.py"))
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting tsa/server.py")?;
        let stdout = child.stdout.take().context("tsa/server.py stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .context("tsa/server.py did not print its port")??;
        let port: u16 = line.trim().parse().context("tsa/server.py port")?;
        let root_path = dir.join("root.crt");
        Ok(Tsa {
            url: format!("http://127.0.0.1:{port}/"),
            root: std::fs::read_to_string(&root_path)?,
            root_path,
            _child: child,
        })
    }

    /// `notation sign` of `<registry>/<ns>/<repo>@<digest>` (JWS unless `extra` says otherwise).
    pub async fn notation_sign(
        &self,
        signer: &NotationSigner,
        repo: &str,
        digest: &str,
        extra: &[&str],
    ) -> Result<()> {
        let r = format!("{}/{}/{repo}@{digest}", self.stack.registry(), self.ns);
        let mut args = vec!["sign", "--insecure-registry"];
        args.extend_from_slice(extra);
        args.push(&r);
        notation(&signer.home, &args).await?;
        Ok(())
    }

    /// A Secret in Flux's Notation layout: `trustpolicy.json` and `<name>.crt` per certificate.
    pub async fn notation_secret(
        &self,
        name: &str,
        trust_policy: &Value,
        certificates: &[(&str, &str)],
    ) -> Result<()> {
        let policy = trust_policy.to_string();
        let mut data: Vec<(String, &str)> = vec![("trustpolicy.json".into(), policy.as_str())];
        for (n, pem) in certificates {
            data.push((format!("{n}.crt"), pem));
        }
        let refs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.secret(name, &refs).await
    }

    /// An OCIRepository spec verified by Flux with `provider: notation` and Secret `secret`.
    pub fn notation_oci_spec(&self, repo: &str, secret: &str) -> Value {
        let mut spec = self.oci_spec(repo, None);
        spec["verify"] = json!({"provider": "notation", "secretRef": {"name": secret}});
        spec
    }

    /// A `ProvenancePolicy` spec for this namespace requiring a Notation signature judged by the
    /// trust policy in Secret `secret` (and the source's own `spec.verify` at least as strict).
    pub fn notation_policy(&self, secret: &str) -> Value {
        json!({
            "match": {"namespaces": [self.ns]},
            "requireSourceVerify": true,
            "verify": {"provider": "notation", "secretRef": {"namespace": self.ns, "name": secret}},
        })
    }

    /// Attaches the Notation signatures of `from` to `to` as well (the referrers tag index of
    /// `from` copied to `to`'s tag): a signature moved to another digest.
    pub async fn notation_move(&self, repo: &str, from: &str, to: &str) -> Result<()> {
        let base = format!(
            "http://{}/v2/{}/{repo}/manifests",
            self.stack.registry(),
            self.ns
        );
        let tag = |d: &str| d.replacen(':', "-", 1);
        let client = reqwest::Client::new();
        let index = client
            .get(format!("{base}/{}", tag(from)))
            .header("Accept", "application/vnd.oci.image.index.v1+json")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let resp = client
            .put(format!("{base}/{}", tag(to)))
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(index)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("PUT referrers tag of {to}: HTTP {}", resp.status());
        }
        Ok(())
    }
}

/// A trust policy with one statement for `scope` (`*` or `registry/repository`).
pub fn trust_policy(scope: &str, level: &str, identities: &[&str]) -> Value {
    json!({"version": "1.0", "trustPolicies": [{
        "name": "e2e", "registryScopes": [scope],
        "signatureVerification": {"level": level},
        "trustStores": ["ca:e2e"], "trustedIdentities": identities,
    }]})
}

/// [`trust_policy`] with a `tsa` trust store too, and `verifyTimestamp` (`always` or
/// `afterCertExpiry`).
pub fn trust_policy_with_tsa(
    scope: &str,
    level: &str,
    identities: &[&str],
    verify_timestamp: &str,
) -> Value {
    let mut tp = trust_policy(scope, level, identities);
    let statement = &mut tp["trustPolicies"][0];
    statement["trustStores"] = json!(["ca:e2e", "tsa:e2e"]);
    statement["signatureVerification"]["verifyTimestamp"] = json!(verify_timestamp);
    tp
}

async fn notation(home: &std::path::Path, args: &[&str]) -> Result<String> {
    let bin = tool("notation").await?;
    let out = tokio::process::Command::new(&bin)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "notation {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
