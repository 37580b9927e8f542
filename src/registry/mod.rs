//! Registry access for the verification engine: finds every cosign signature (and attestation)
//! attached to one artifact digest over the OCI distribution API.
//!
//! Three places are searched (see `discovery`): the OCI 1.1 referrers API, its tag fallback
//! `sha256-<hex>` (both carry Sigstore bundles, cosign v3's default), and the legacy cosign tag
//! `sha256-<hex>.sig`. The module's central promise is that "could not check" (an error) is never
//! confused with "unsigned" (an empty [`Discovery`]): every transport, authentication or protocol
//! problem with a signature *store* is an error, and only a definitive 404 means "nothing there".
//! What could not be read in full (a listing cut short, a listed object missing, wrong for its
//! digest, too large, or past the discovery's byte budget) marks the [`Discovery`] incomplete,
//! from which only a verifying signature may be concluded; see `discovery` for the whole rule.
//!
//! No Kubernetes types live here; the CLI and the controller both build a [`RegistryClient`] from
//! plain options.

mod attestation;
mod auth;
pub(crate) mod bounded;
mod budget;
mod bundle_kind;
mod challenge;
mod client;
mod client_auth;
pub mod cloud;
mod discovery;
mod docker_config;
mod error;
mod found;
pub mod helm_http;
mod http;
mod legacy;
mod manifest;
mod next_link;
mod notation;
mod recheck;
mod reference;
mod request_budget;
mod retry_after;
mod seen;
mod throttle;

#[cfg(test)]
mod attestation_options_tests;
#[cfg(test)]
mod attestation_tests;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod proptest_tests;
#[cfg(test)]
mod referrers_tests;
#[cfg(test)]
pub(crate) mod testserver;

pub use budget::Purpose;
pub use client::{Observer, RegistryClient, RegistryOptions, RequestRecord};
pub use docker_config::DockerConfig;
pub use error::{PauseCause, RegistryError};
pub use found::{
    DiscoverOptions, Discovery, FoundBundle, FoundLegacy, FoundLegacyAttestation, FoundNotation,
    MalformedSignature, SignatureLocation, Unread,
};
pub use helm_http::{ChartEntry, FetchedPackage, HelmRepoClient, HelmRepoOptions};
pub use legacy::simple_signing_payload;
pub use manifest::is_sigstore_bundle_media_type;
pub use notation::{NOTARY_ENVELOPES, NOTARY_SIGNATURE, NOTATION_MALFORMED};
pub use recheck::Recheck;
pub(crate) use reference::is_repository;
pub use reference::{ImageRef, RefError};
pub use request_budget::BudgetSpec;
pub use seen::Seen;
pub use throttle::{Room, Throttle, DEFAULT_PAUSE, MAX_PAUSE};

/// The discovery's bounds, for the engine's tests that push a registry past them.
#[cfg(test)]
pub(crate) mod discovery_limits {
    pub(crate) use super::discovery::{MAX_REFERRER_PAGES, MAX_SIGNATURES_PER_PLACE};
}
