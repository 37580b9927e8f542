//! Sharding, the way Flux shards its controllers: a shard is one `run` (one chart release) with
//! `--watch-label-selector` (e.g. `sharding.fluxcd.io/key=shard1`, or `!sharding.fluxcd.io/key`
//! for the rest) and/or `--watch-namespaces`, and audits only the sources it selects. Nothing it
//! does may touch another shard's sources:
//!
//! - its source watches carry the selector and are namespaced to the allow-list, so it
//!   reconciles, writes and exports metric series for its own sources only;
//! - each `SourceAudit` it writes carries the source's values of the label keys the selector
//!   reads ([`Shard::audit_labels`]), so the garbage collector's audit watch can use the same
//!   selector and never even sees another shard's audits; and before deleting one it asks the
//!   API server whether the source really is gone (a source that moved to another shard keeps
//!   its audit for the new shard to take over);
//! - its Lease name is derived from the selector and namespaces ([`Shard::lease_name`]), so two
//!   shards in one namespace never share one;
//! - `ProvenancePolicy` status (`matchedSources` counts every source of the cluster) is not
//!   written by a shard, which would count only its own sources and fight the other shards.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, Selector, SelectorExt};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use sha2::{Digest, Sha256};

use super::label_selector;
use crate::api::SourceKind;

/// Which sources this controller audits.
#[derive(Debug, Clone, Default)]
pub struct Shard {
    selector: Selector,
    /// Sorted, deduplicated; empty means every namespace.
    namespaces: Vec<String>,
}

impl Shard {
    /// A shard from the `run` flags; `Err` for a malformed selector or namespace name.
    pub fn new(label_selector: Option<&str>, namespaces: &[String]) -> Result<Shard, String> {
        let selector = label_selector::parse(label_selector.unwrap_or_default())
            .map_err(|e| format!("--watch-label-selector: {e}"))?;
        let mut namespaces: Vec<String> = namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(bad) = namespaces.iter().find(|n| !is_namespace_name(n)) {
            return Err(format!(
                "--watch-namespaces: {bad:?} is not a namespace name"
            ));
        }
        namespaces.sort();
        namespaces.dedup();
        Ok(Shard {
            selector,
            namespaces,
        })
    }

    /// Whether this controller audits a subset of the cluster's sources.
    pub fn is_sharded(&self) -> bool {
        !self.selector.selects_all() || !self.namespaces.is_empty()
    }

    /// The watcher configuration of the source and audit watches (the label selector).
    pub fn watcher_config(&self) -> watcher::Config {
        if self.selector.selects_all() {
            watcher::Config::default()
        } else {
            watcher::Config::default().labels_from(&self.selector)
        }
    }

    /// One API per watched scope: every namespace, or each allowed one (a namespaced watch
    /// each, so the shard needs no cluster-wide list and each scope has its own store).
    pub fn apis(&self, client: &Client, ar: &ApiResource) -> Vec<Api<DynamicObject>> {
        if self.namespaces.is_empty() {
            vec![Api::all_with(client.clone(), ar)]
        } else {
            self.namespaces
                .iter()
                .map(|ns| Api::namespaced_with(client.clone(), ns, ar))
                .collect()
        }
    }

    /// Whether a namespace is this shard's.
    pub fn owns_namespace(&self, ns: &str) -> bool {
        self.namespaces.is_empty()
            || self
                .namespaces
                .binary_search_by(|n| n.as_str().cmp(ns))
                .is_ok()
    }

    /// Whether a source with these labels in this namespace is this shard's.
    pub fn owns(&self, ns: &str, labels: &BTreeMap<String, String>) -> bool {
        self.owns_namespace(ns) && self.selector.matches(labels)
    }

    /// The labels a source's `SourceAudit` carries: the source's values of the keys the
    /// selector reads, so that the selector selects a source and its audit alike.
    pub fn audit_labels(&self, source: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.selector
            .clone()
            .into_iter()
            .filter_map(|e| {
                let k = label_selector::key(&e);
                source.get(k).map(|v| (k.to_string(), v.clone()))
            })
            .collect()
    }

    /// The Lease name: `base` unsharded (an upgrade keeps the Lease the running replicas
    /// hold), else `base` and a hash of the selector and namespaces, so shards never share one.
    pub fn lease_name(&self, base: &str) -> String {
        if !self.is_sharded() {
            return base.to_string();
        }
        let mut h = Sha256::new();
        h.update(self.selector.to_string());
        h.update("\n");
        h.update(self.namespaces.join(","));
        format!("{base}-{}", &hex::encode(h.finalize())[..10])
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        let ns = if self.namespaces.is_empty() {
            "all namespaces".to_string()
        } else {
            format!("namespaces {}", self.namespaces.join(","))
        };
        if self.selector.selects_all() {
            ns
        } else {
            format!("{ns}, labels {}", self.selector)
        }
    }
}

/// How long a "the source still exists" answer is trusted before asking again.
const STILL_THERE_FOR: Duration = Duration::from_secs(60);

/// Asks the API server whether an audit's source is gone, for a shard's garbage collector:
/// the shard's store lacks every source of the other shards, so "not in my store" is not
/// "gone". A source that exists is not asked about again for a minute (an audit another shard
/// has not relabelled yet would otherwise cost a GET every sweep).
#[derive(Debug, Default)]
pub struct GoneCheck {
    still_there: HashMap<String, Instant>,
}

impl GoneCheck {
    /// Whether the API server says the source of `audit` does not exist; any error is "not
    /// known to be gone" (the audit stays).
    pub async fn source_gone(
        &mut self,
        client: &Client,
        audit: &impl ResourceExt,
        kind: SourceKind,
        name: &str,
    ) -> bool {
        let now = Instant::now();
        self.still_there
            .retain(|_, at| now.duration_since(*at) < STILL_THERE_FOR);
        let key = audit.uid().unwrap_or_default();
        if self.still_there.contains_key(&key) {
            return false;
        }
        let ns = audit.namespace().unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &crate::cluster::source_resource(kind));
        match api.get_metadata_opt(name).await {
            Ok(None) => true,
            Ok(Some(_)) => {
                self.still_there.insert(key, now);
                false
            }
            Err(e) => {
                tracing::debug!(namespace = %ns, source = %name, error = %e, "is the source of an audit gone?");
                false
            }
        }
    }
}

/// A namespace name: a DNS label.
fn is_namespace_name(n: &str) -> bool {
    n.len() <= 63
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
