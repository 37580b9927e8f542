//! Restarting the stack's kube-apiserver in place, for outage scenarios (issue 9's fault
//! campaign): the process `hack/stack/stack-up.sh` started and recorded in
//! `$STACK_DIR/pids/kube-apiserver.pid` is stopped (TERM to its process group, as `stack-down`
//! does, KILL after 10 s as it does too) and started again with the same command line and environment, appending to the same
//! log; the pid file is rewritten in the same `<pid> <executable>` form, so `stack-down` still
//! stops exactly it. Only a test binary that owns the stack for the duration may call it (a
//! restart interrupts every client of the API server).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};

use crate::ctx::POLL;
use crate::stack::Stack;

/// How long the old process gets to exit on TERM (stack-down's 10 s) before KILL, how long
/// KILL may take, and how long the new one gets to become ready.
const TERM_GRACE: Duration = Duration::from_secs(10);
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What a restart took.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// From the TERM until the old process was gone.
    pub stopped_after: Duration,
    /// From the TERM until the new process answered `/readyz` with `ok` again.
    pub unavailable_for: Duration,
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn nul_split(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Stops the stack's kube-apiserver and starts it again with the same flags; returns once the
/// new one answers with the admin kubeconfig.
pub async fn restart_apiserver(stack: &Stack) -> Result<Restart> {
    let pidfile = stack.dir.join("pids/kube-apiserver.pid");
    let recorded = std::fs::read_to_string(&pidfile)
        .with_context(|| format!("reading {}", pidfile.display()))?;
    let (pid, exe) = recorded
        .trim()
        .split_once(' ')
        .context("the pid file is not `<pid> <executable>`")?;
    let pid: u32 = pid.parse().context("the pid file's pid")?;
    let running = std::fs::read_link(format!("/proc/{pid}/exe"))
        .with_context(|| format!("kube-apiserver (pid {pid}) is not running"))?;
    ensure!(
        running == Path::new(exe),
        "pid {pid} is {}, not the recorded {exe}",
        running.display()
    );
    let argv = nul_split(&std::fs::read(format!("/proc/{pid}/cmdline"))?);
    let env = nul_split(&std::fs::read(format!("/proc/{pid}/environ"))?);
    ensure!(!argv.is_empty(), "pid {pid} has an empty command line");

    let t0 = Instant::now();
    // stack-up starts every component with setsid: its pid is its process group.
    let status = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .status()?;
    ensure!(status.success(), "kill -TERM -{pid} failed");
    let mut killed = false;
    while alive(pid) {
        if !killed && t0.elapsed() > TERM_GRACE {
            // As stack-down does: a kube-apiserver can hang in its graceful shutdown.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            killed = true;
        }
        if t0.elapsed() > TERM_GRACE + KILL_TIMEOUT {
            bail!("kube-apiserver (pid {pid}) did not stop on TERM, then KILL");
        }
        tokio::time::sleep(POLL).await;
    }
    let stopped_after = t0.elapsed();

    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(stack.dir.join("logs/kube-apiserver.log"))?;
    let child = Command::new(exe)
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().filter_map(|kv| kv.split_once('=')))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group again, so stack-down's group kill reaches it (and only it).
        .process_group(0)
        .spawn()
        .context("starting kube-apiserver again")?;
    std::fs::write(&pidfile, format!("{} {exe}\n", child.id()))?;
    // Not waited on: like the stack's other components it outlives this process.
    drop(child);

    loop {
        let ready = match stack.client_from("admin.kubeconfig").await {
            Ok(c) => match http::Request::get("/readyz").body(vec![]) {
                Ok(req) => c.request_text(req).await.is_ok_and(|t| t.trim() == "ok"),
                Err(_) => false,
            },
            Err(_) => false,
        };
        if ready {
            break;
        }
        if t0.elapsed() > READY_TIMEOUT {
            bail!(
                "kube-apiserver not ready {READY_TIMEOUT:?} after the restart; see {}",
                stack.dir.join("logs/kube-apiserver.log").display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(Restart {
        stopped_after,
        unavailable_for: t0.elapsed(),
    })
}
