//! The cluster's `ProvenancePolicy` objects as read: the specs that parse, and the names of
//! those that do not.
//!
//! An unreadable policy is not "no policy": nothing tells which sources it matches or what it
//! asks of them, so while one exists the verifier judges every source `Unknown` (fail closed)
//! instead of deciding from the policies that happen to parse. The readable specs stay in
//! the set, so the status still names every policy that might apply.

use std::ops::Deref;

use super::ProvenancePolicySpec;

/// How much of a parse error reaches a status message (the error may quote the policy).
const MAX_ERROR_CHARS: usize = 200;

/// A policy whose spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadablePolicy {
    /// The policy's name.
    pub name: String,
    /// Why it does not parse, bounded.
    pub error: String,
}

/// Every policy read: readable ones as `(name, spec)` (the set derefs to them) and the
/// unreadable ones apart.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    specs: Vec<(String, ProvenancePolicySpec)>,
    unreadable: Vec<UnreadablePolicy>,
}

impl PolicySet {
    /// A set from what was read; `unreadable` names the policies that did not parse.
    pub fn new(
        specs: Vec<(String, ProvenancePolicySpec)>,
        unreadable: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut unreadable: Vec<UnreadablePolicy> = unreadable
            .into_iter()
            .map(|(name, error)| UnreadablePolicy {
                name,
                error: bounded(&error),
            })
            .collect();
        // A stable message whatever order the objects were listed in.
        unreadable.sort_by(|a, b| a.name.cmp(&b.name));
        PolicySet { specs, unreadable }
    }

    /// The policies that did not parse, by name.
    pub fn unreadable(&self) -> &[UnreadablePolicy] {
        &self.unreadable
    }

    /// Why no source can be judged while an unreadable policy exists; `None` when every
    /// policy was read.
    pub fn unreadable_message(&self) -> Option<String> {
        let first = self.unreadable.first()?;
        let more = match self.unreadable.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        Some(format!(
            "ProvenancePolicy {} cannot be read: {}{more}",
            first.name, first.error
        ))
    }
}

impl Deref for PolicySet {
    type Target = [(String, ProvenancePolicySpec)];

    fn deref(&self) -> &Self::Target {
        &self.specs
    }
}

impl From<Vec<(String, ProvenancePolicySpec)>> for PolicySet {
    fn from(specs: Vec<(String, ProvenancePolicySpec)>) -> Self {
        PolicySet::new(specs, [])
    }
}

fn bounded(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &error[..at]),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_read_means_no_message() {
        let spec: ProvenancePolicySpec = serde_json::from_value(
            serde_json::json!({"match": {}, "verify": {"provider": "cosign"}}),
        )
        .unwrap();
        let set = PolicySet::from(vec![("a".to_string(), spec)]);
        assert_eq!(set.len(), 1);
        assert!(set.unreadable().is_empty());
        assert_eq!(set.unreadable_message(), None);
    }

    #[test]
    fn the_message_names_the_first_unreadable_policy_and_counts_the_rest() {
        let set = PolicySet::new(
            vec![],
            [
                ("zeta".to_string(), "bad z".to_string()),
                ("alpha".to_string(), "missing field `verify`".to_string()),
            ],
        );
        assert_eq!(
            set.unreadable_message().as_deref(),
            Some("ProvenancePolicy alpha cannot be read: missing field `verify` (and 1 more)")
        );
    }

    #[test]
    fn a_long_parse_error_is_cut() {
        let set = PolicySet::new(vec![], [("p".to_string(), "x".repeat(10_000))]);
        let message = set.unreadable_message().unwrap();
        assert!(message.chars().count() < MAX_ERROR_CHARS + 60, "{message}");
        assert!(message.ends_with('…'));
    }
}
