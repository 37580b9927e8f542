//! Leader election with a `coordination.k8s.io/v1` Lease, so two replicas never both write.
//!
//! The holder renews every `duration / 3`; another candidate takes over only once the lease has
//! not been renewed for `duration`. Writes use the Lease's `resourceVersion`, so two candidates
//! racing for an expired lease cannot both win. A leader that fails to renew before its own
//! lease would expire gives up (and the process stops writing) rather than risk a split brain.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::watch;

/// Where the lease lives and how long it lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The controller's namespace.
    pub namespace: String,
    /// The Lease name.
    pub name: String,
    /// This replica's identity (pod name, or host and pid).
    pub identity: String,
    /// How long a lease holds without renewal.
    pub duration: Duration,
}

/// A held lease, renewed in the background until [`Leadership::release`] or loss.
pub struct Leadership {
    rx: watch::Receiver<bool>,
    api: Api<Lease>,
    cfg: LeaseConfig,
    renewal: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Whether this replica still holds the lease.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver that turns `false` when the lease is lost.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Gives the lease up on shutdown, so a standby replica takes over at once instead of
    /// waiting out the lease duration (client-go's `ReleaseOnCancel`). Call it only after the
    /// last write: the lease is marked expired, not deleted, so its history is kept.
    pub async fn release(self) {
        self.renewal.abort();
        let _ = self.renewal.await;
        match release(&self.api, &self.cfg).await {
            Ok(true) => tracing::info!(lease = %self.cfg.name, "released the lease"),
            Ok(false) => {}
            Err(e) => tracing::warn!(lease = %self.cfg.name, error = %e, "releasing the lease"),
        }
    }
}

/// Clears the holder and expires the lease if this replica still holds it (`Ok(false)` if not).
async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(false);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(false);
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        // Someone else wrote it in between: then it is not ours to release.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: Client, cfg: LeaseConfig) -> Leadership {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let retry = cfg.duration / 3;
    loop {
        match try_acquire(&api, &cfg).await {
            Ok(true) => break,
            Ok(false) => tracing::debug!(lease = %cfg.name, "another replica leads"),
            Err(e) => tracing::warn!(lease = %cfg.name, error = %e, "leader election"),
        }
        tokio::time::sleep(retry).await;
    }
    tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    let (tx, rx) = watch::channel(true);
    let (renew_api, renew_cfg) = (api.clone(), cfg.clone());
    let renewal = tokio::spawn(async move {
        let (api, cfg) = (renew_api, renew_cfg);
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(retry).await;
            match try_acquire(&api, &cfg).await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %cfg.name, "lease taken by another replica");
                    let _ = tx.send(false);
                    return;
                }
                // Keep trying while our lease is still valid; give up before it expires.
                Err(e) if last_renewal.elapsed() + retry < cfg.duration => {
                    tracing::warn!(lease = %cfg.name, error = %e, "renewing the lease");
                }
                Err(e) => {
                    tracing::error!(lease = %cfg.name, error = %e, "could not renew the lease in time");
                    let _ = tx.send(false);
                    return;
                }
            }
        }
    });
    Leadership {
        rx,
        api,
        cfg,
        renewal,
    }
}

/// One attempt: take or renew the lease. `Ok(false)` when another live holder has it.
async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let existing = api.get_opt(&cfg.name).await?;
    let Some(mut lease) = existing else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            // Someone else created it first.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let mine = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
    let held_for = i64::from(spec.lease_duration_seconds.unwrap_or(secs));
    let expired = spec
        .renew_time
        .as_ref()
        .is_none_or(|t| t.0.as_second() + held_for < now.as_second());
    if !mine && !expired && spec.holder_identity.is_some() {
        return Ok(false);
    }
    if !mine {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(secs);
    spec.renew_time = Some(MicroTime(now));
    // replace() carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
