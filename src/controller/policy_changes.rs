//! Which `ProvenancePolicy` watch events can change which sources a policy matches or what it
//! demands: a policy created, deleted, or with a new `metadata.generation` (its spec). A status
//! write (the controller's own `matchedSources`, every few seconds while sources change) or a
//! label edit changes neither, and must not re-audit every source.

use std::collections::{HashMap, HashSet};

use kube::api::DynamicObject;
use kube::runtime::watcher::Event;
use kube::ResourceExt;

/// The generation last seen of each policy, to tell spec changes from status writes.
#[derive(Debug, Default)]
pub struct PolicyGenerations {
    seen: HashMap<String, Option<i64>>,
    /// Names listed since the watch (re)started; `None` outside a re-list.
    relisted: Option<HashSet<String>>,
}

impl PolicyGenerations {
    /// Records one watch event; true when the sources must be re-audited.
    pub fn changed(&mut self, event: &Event<DynamicObject>) -> bool {
        match event {
            Event::Apply(p) => self.apply(p),
            Event::InitApply(p) => {
                if let Some(r) = self.relisted.as_mut() {
                    r.insert(p.name_any());
                }
                self.apply(p)
            }
            Event::Delete(p) => self.seen.remove(&p.name_any()).is_some(),
            Event::Init => {
                self.relisted = Some(HashSet::new());
                false
            }
            // Policies deleted while the watch was down are gone from the new list.
            Event::InitDone => {
                let listed = self.relisted.take().unwrap_or_default();
                let before = self.seen.len();
                self.seen.retain(|name, _| listed.contains(name));
                self.seen.len() != before
            }
        }
    }

    fn apply(&mut self, p: &DynamicObject) -> bool {
        let generation = p.metadata.generation;
        self.seen.insert(p.name_any(), generation) != Some(generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, generation: i64, status: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "provenance.dev/v1alpha1", "kind": "ProvenancePolicy",
            "metadata": {"name": name, "generation": generation},
            "spec": {}, "status": {"matchedSources": status},
        }))
        .unwrap()
    }

    #[test]
    fn a_status_write_is_no_change_but_a_spec_edit_is() {
        let mut g = PolicyGenerations::default();
        assert!(
            g.changed(&Event::Apply(policy("p", 1, "1"))),
            "a new policy"
        );
        assert!(!g.changed(&Event::Apply(policy("p", 1, "2"))), "its status");
        assert!(g.changed(&Event::Apply(policy("p", 2, "2"))), "its spec");
        assert!(
            g.changed(&Event::Delete(policy("p", 2, "2"))),
            "its deletion"
        );
        assert!(
            !g.changed(&Event::Delete(policy("p", 2, "2"))),
            "nothing left to delete"
        );
    }

    #[test]
    fn a_relist_notices_policies_deleted_while_the_watch_was_down() {
        let mut g = PolicyGenerations::default();
        for e in [
            Event::Init,
            Event::InitApply(policy("a", 1, "")),
            Event::InitApply(policy("b", 1, "")),
        ] {
            g.changed(&e);
        }
        assert!(!g.changed(&Event::InitDone), "the first list only adds");
        assert!(!g.changed(&Event::Init));
        assert!(
            !g.changed(&Event::InitApply(policy("a", 1, ""))),
            "unchanged"
        );
        assert!(g.changed(&Event::InitDone), "b is gone");
    }
}
