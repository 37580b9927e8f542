//! The policy store's specs parsed once per change instead of once per reconcile.
//!
//! Every reconcile needs every readable policy's spec; parsing them from the watched JSON each
//! time was a fixed cost of every no-op reconcile. The parsed list is kept with the store
//! entries it was parsed from, and reused while the store holds exactly those entries: the
//! reflector replaces an object's `Arc` on every watch event, so pointer equality of the whole
//! set is an exact "nothing changed" without trusting any field of the objects.

use std::sync::{Arc, Mutex};

use kube::api::DynamicObject;

use crate::api::PolicySet;

/// The policies as read (readable specs and unreadable names).
pub type Policies = Arc<PolicySet>;

/// The last parse and the store entries it came from.
#[derive(Default)]
pub struct ParsedPolicies {
    last: Mutex<Option<(Vec<Arc<DynamicObject>>, Policies)>>,
}

impl ParsedPolicies {
    /// The readable policies among `state` (the store's entries), parsed with `parse` only when
    /// the entries differ from the last call's.
    pub fn get(
        &self,
        state: Vec<Arc<DynamicObject>>,
        parse: impl FnOnce(&[Arc<DynamicObject>]) -> PolicySet,
    ) -> Policies {
        let mut state = state;
        // The store iterates in no fixed order: compare as sets of pointers.
        state.sort_by_key(|o| Arc::as_ptr(o) as usize);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((entries, parsed)) = last.as_ref() {
            if entries.len() == state.len()
                && entries.iter().zip(&state).all(|(a, b)| Arc::ptr_eq(a, b))
            {
                return parsed.clone();
            }
        }
        let parsed: Policies = Arc::new(parse(&state));
        *last = Some((state, parsed.clone()));
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, namespaces: &[&str]) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "provenance.dev/v1alpha1",
                "kind": "ProvenancePolicy",
                "metadata": {"name": name},
                "spec": {"match": {"namespaces": namespaces},
                         "verify": {"provider": "cosign"}},
            }))
            .unwrap(),
        )
    }

    fn parse(state: &[Arc<DynamicObject>]) -> PolicySet {
        crate::cluster::readable(state.iter().map(|p| p.as_ref()), |_, _| {})
    }

    #[test]
    fn parses_again_exactly_when_an_entry_changed() {
        let cache = ParsedPolicies::default();
        let (a, b) = (policy("a", &["x"]), policy("b", &["y"]));
        let mut parses = 0;
        let mut get = |state: Vec<Arc<DynamicObject>>| {
            cache.get(state, |s| {
                parses += 1;
                parse(s)
            })
        };
        let first = get(vec![a.clone(), b.clone()]);
        assert_eq!(first.len(), 2);
        // The same entries in another order: no parse, the same list.
        let again = get(vec![b.clone(), a.clone()]);
        assert!(Arc::ptr_eq(&first, &again));
        // An edited policy is a new Arc, even with equal content: parsed again.
        let a2 = policy("a", &["x", "z"]);
        let edited = get(vec![a2.clone(), b.clone()]);
        let spec_a = &edited.iter().find(|(n, _)| n == "a").unwrap().1;
        assert_eq!(spec_a.match_.namespaces.len(), 2);
        // A deleted one is gone.
        assert_eq!(get(vec![b.clone()]).len(), 1);
        // None left.
        assert!(get(vec![]).is_empty());
        assert_eq!(parses, 4);
    }
}
