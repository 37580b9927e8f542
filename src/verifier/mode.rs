//! [`Verifier`]: what verifying a source needs, built once by either front end. One type for
//! both, the difference between them one typed [`Mode`]: the one-shot `audit` command checks
//! every verdict fresh and reads what it needs with a GET; the controller also has the watched
//! namespaces, Secret data its poller confirms, per-source registry clients kept while their
//! inputs are unchanged, and metrics.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use kube::Client;

use super::cache::VerdictCache;
use super::clients::ClientMemo;
use super::limits::Limits;
use super::metrics::VerifierMetrics;
use super::pacing::Pacer;
use super::remembered::Remembered;
use super::schedule::Intervals;
use super::seal::Sealer;
use super::secret_cache::SecretCache;
use crate::registry::cloud::{CloudCredentials, CloudEndpoints, CloudEnv};
use crate::registry::{Observer, RegistryClient};

/// Verifies sources: see [`super::pipeline`] for what it does with these.
pub struct Verifier {
    /// The Kubernetes client (reads only).
    pub(super) client: Client,
    /// The registry client for sources without their own credentials.
    pub(super) registry: RegistryClient,
    /// Verdicts by (registry, repository, digest, policy fingerprint, trust-root fingerprint),
    /// with their re-check schedule.
    pub(super) cache: VerdictCache,
    /// Bounds the registry verifications running at once, globally and per registry.
    pub(super) limits: Limits,
    /// Gives re-checks their turns per registry.
    pub(super) pacer: Pacer,
    /// What each cached verdict was judged from, for its cheap re-check.
    pub(super) remembered: Remembered,
    /// Seals the statuses computed, and says which previous statuses may be read back.
    pub(super) sealer: Sealer,
    /// Registry credentials from the process's cloud identity, for sources with
    /// `spec.provider: aws | azure | gcp`.
    pub(super) cloud: CloudCredentials,
    /// One-shot or controller.
    pub(super) mode: Mode,
}

/// How a [`Verifier`] runs.
pub enum Mode {
    /// One run (`audit`): nothing is watched or kept between audits, nothing is counted.
    OneShot,
    /// The controller's: see [`Watched`].
    Controller(Box<Watched>),
}

/// What the controller gives its verifier beyond the one-shot mode.
pub struct Watched {
    /// Namespaces' metadata as watched, read before a GET.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// Secret data kept while the Secret poller confirms it: a GET otherwise.
    pub secrets: Arc<SecretCache>,
    /// Per-source registry clients kept while their inputs are unchanged.
    pub clients: ClientMemo,
    /// The verifier's metrics.
    pub metrics: VerifierMetrics,
    /// Sees every registry request of the per-source clients (the controller's metrics).
    pub observer: Option<Observer>,
}

impl Verifier {
    /// A verifier reading with `client` and `registry`: one-shot, with one verification at a
    /// time, no sealing, no cloud identity and the default re-check intervals until told
    /// otherwise.
    pub fn builder(client: Client, registry: RegistryClient) -> VerifierBuilder {
        VerifierBuilder {
            verifier: Verifier {
                client,
                registry,
                cache: VerdictCache::default(),
                limits: Limits::new(1, 1),
                pacer: Pacer::default(),
                remembered: Remembered::default(),
                sealer: Sealer::none(),
                cloud: CloudCredentials::new(
                    CloudEnv::default(),
                    CloudEndpoints::default(),
                    std::time::Duration::from_secs(30),
                ),
                mode: Mode::OneShot,
            },
        }
    }

    /// The sealer of the statuses this verifier computes.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The controller's parts, when it runs in the controller.
    pub(super) fn watched(&self) -> Option<&Watched> {
        match &self.mode {
            Mode::OneShot => None,
            Mode::Controller(w) => Some(w),
        }
    }
}

/// Builds a [`Verifier`] ([`Verifier::builder`]).
pub struct VerifierBuilder {
    verifier: Verifier,
}

impl VerifierBuilder {
    /// At most `global` registry verifications at once, `per_registry` against one registry.
    pub fn limits(mut self, global: usize, per_registry: usize) -> Self {
        self.verifier.limits = Limits::new(global, per_registry);
        self
    }

    /// Re-checks verdicts on these intervals (an empty verdict cache).
    pub fn intervals(mut self, intervals: Intervals) -> Self {
        self.verifier.cache = VerdictCache::new(intervals);
        self
    }

    /// Seals statuses with `sealer` (and reads back only those it sealed).
    pub fn sealer(mut self, sealer: Sealer) -> Self {
        self.verifier.sealer = sealer;
        self
    }

    /// Gets registry credentials for `spec.provider` sources from `cloud` (the process's
    /// cloud identity); without it such sources are `AuthenticationFailed`.
    pub fn cloud(mut self, cloud: CloudCredentials) -> Self {
        self.verifier.cloud = cloud;
        self
    }

    /// Runs in the controller, with what it watches and keeps.
    pub fn controller(mut self, watched: Watched) -> Self {
        self.verifier.mode = Mode::Controller(Box::new(watched));
        self
    }

    /// The verifier.
    pub fn build(self) -> Verifier {
        self.verifier
    }
}
