//! Policy reports for dashboards that read them (Kyverno's Policy Reporter and others):
//! `--reports=openreports` writes one OpenReports `Report` per namespace, `--reports=policyreport`
//! one wgpolicyk8s `PolicyReport`, with one result per audited source and rule
//! ([`results`]). Flux sources are all namespaced, so there is no cluster-scoped report.
//!
//! The results come from the audits this controller ran ([`Reports::record`] in the
//! reconcile), never from `SourceAudit` statuses read back from the cluster. The writer
//! ([`writer`]) runs on the leader, writes a namespace's report only once every source of the
//! namespace has been audited since start (no partial report after a restart), only when it
//! changed, and deletes it when the namespace has no audited source left. A shard names its
//! reports after its Lease (`provenance-auditor-<hash>`), so two shards auditing one namespace
//! write two reports, never each other's.

pub mod document;
pub mod results;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::api::SourceKind;
pub use document::Format;
use results::{ReportResult, Subject};

/// What the writer knows: each namespace's results per source, and which namespaces changed.
#[derive(Debug)]
pub struct Reports {
    /// The report kind.
    pub format: Format,
    /// The report name in every namespace (per shard).
    pub name: String,
    state: Mutex<State>,
}

type SourceKey = (SourceKind, String);

#[derive(Debug, Default)]
struct State {
    by_namespace: BTreeMap<String, BTreeMap<SourceKey, Vec<ReportResult>>>,
    dirty: BTreeSet<String>,
}

impl Reports {
    /// Reports of `format`, named `name`.
    pub fn new(format: Format, name: String) -> Self {
        Self {
            format,
            name,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A source's results as just audited; its namespace is rewritten only when they changed.
    pub fn record(&self, subject: &Subject, results: Vec<ReportResult>) {
        let mut st = self.state();
        let ns = st
            .by_namespace
            .entry(subject.namespace.clone())
            .or_default();
        let key = (subject.kind, subject.name.clone());
        if ns.get(&key) == Some(&results) {
            return;
        }
        ns.insert(key, results);
        st.dirty.insert(subject.namespace.clone());
    }

    /// Drops a source that is gone (or going).
    pub fn forget(&self, kind: SourceKind, namespace: &str, name: &str) {
        let mut st = self.state();
        let removed = st
            .by_namespace
            .get_mut(namespace)
            .and_then(|ns| ns.remove(&(kind, name.to_string())))
            .is_some();
        if removed {
            if st
                .by_namespace
                .get(namespace)
                .is_some_and(BTreeMap::is_empty)
            {
                st.by_namespace.remove(namespace);
            }
            st.dirty.insert(namespace.to_string());
        }
    }

    /// Keeps only the sources `live` says exist.
    pub fn retain(&self, live: impl Fn(SourceKind, &str, &str) -> bool) {
        let gone: Vec<(SourceKind, String, String)> = {
            let st = self.state();
            st.by_namespace
                .iter()
                .flat_map(|(ns, sources)| {
                    sources
                        .keys()
                        .filter(|(k, n)| !live(*k, ns, n))
                        .map(|(k, n)| (*k, ns.clone(), n.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for (k, ns, n) in gone {
            self.forget(k, &ns, &n);
        }
    }

    /// Whether a source has results.
    pub fn has(&self, kind: SourceKind, namespace: &str, name: &str) -> bool {
        self.state()
            .by_namespace
            .get(namespace)
            .is_some_and(|ns| ns.contains_key(&(kind, name.to_string())))
    }

    /// The namespaces changed since the last call (they are no longer marked).
    pub fn take_dirty(&self) -> Vec<String> {
        std::mem::take(&mut self.state().dirty)
            .into_iter()
            .collect()
    }

    /// Marks a namespace for another write attempt.
    pub fn mark_dirty(&self, namespace: &str) {
        self.state().dirty.insert(namespace.to_string());
    }

    /// The report of `namespace` and how many results it leaves out; `None` when the namespace
    /// has no audited source.
    pub fn document(&self, namespace: &str) -> Option<(serde_json::Value, usize)> {
        let st = self.state();
        let sources = st.by_namespace.get(namespace)?;
        let all = sources.values().flatten().collect();
        Some(document::document(self.format, &self.name, namespace, all))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
