//! A throwaway registry for tests: Debian's `docker-registry` (distribution 2.8, no referrers
//! API) on a free 127.0.0.1 port with storage in a fresh temporary directory; killed and
//! cleaned up on drop.

use crate::Result;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct TestRegistry {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:<port>`, the host part of references.
    pub host: String,
}

/// The registry binary: `$DOCKER_REGISTRY` or `/usr/bin/docker-registry`.
fn binary() -> PathBuf {
    std::env::var_os("DOCKER_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"))
}

impl TestRegistry {
    /// Starts a registry and waits (up to 20 s) until it answers `GET /v2/`.
    pub fn start() -> Result<Self> {
        let bin = binary();
        if !bin.exists() {
            return Err(format!(
                "{} not found: install Debian's docker-registry (hack/tools.sh apt) or set DOCKER_REGISTRY",
                bin.display()
            )
            .into());
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!(
            "sigstore-forge-registry-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("storage"))?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config)?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(&bin)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut registry = Self {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
        };
        registry.wait_ready(Duration::from_secs(20))?;
        Ok(registry)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let agent = crate::push::agent();
        let url = format!("http://{}/v2/", self.host);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log =
                    std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
                return Err(format!("docker-registry exited ({status}): {log}").into());
            }
            if TcpStream::connect(&self.host).is_ok() {
                if let Ok(resp) = agent.get(&url).call() {
                    if resp.status() == 200 {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "docker-registry on {} not ready after {timeout:?}",
                    self.host
                )
                .into());
            }
            // Polling interval while waiting for the port, bounded by the deadline above.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
