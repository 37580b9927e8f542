//! One regex as a byte-level DFA with Go's `MatchString` semantics: a string is accepted when
//! a match ends anywhere in it (unanchored start, and "some match" rather than "which match":
//! `MatchKind::All`).
//!
//! regex-automata's dense DFA reports a match one byte late (the byte after the match decides
//! look-ahead such as `$` or `\b`), and a match at the very end only through its end-of-input
//! transition: [`Dfa::matched_before`] and [`Dfa::matches_at_end`] say which.

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

use super::undecided::Undecided;

/// A compiled regex.
pub(super) struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Dfa {
    /// Builds the DFA of `rust_pattern` (Rust syntax, Unicode and UTF-8 mode as `regex` uses),
    /// refusing to use more than `limit` bytes for the NFA, the determinization or the DFA.
    pub(super) fn build(rust_pattern: &str, limit: usize) -> Result<Self, Undecided> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Unanchored)
                    .minimize(false)
                    .accelerate(false)
                    .specialize_start_states(false)
                    .dfa_size_limit(Some(limit))
                    .determinize_size_limit(Some(limit)),
            )
            .syntax(syntax::Config::new().unicode(true).utf8(true))
            .thompson(thompson::Config::new().nfa_size_limit(Some(limit)))
            .build(rust_pattern)
            .map_err(|e| {
                // A size limit of the NFA (or a syntax error) is reported through the source.
                let nfa = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<thompson::BuildError>());
                if e.is_size_limit_exceeded() || nfa.is_some_and(|n| n.size_limit().is_some()) {
                    Undecided::Bound(format!(
                        "the automaton of {rust_pattern:?} needs more than {limit} bytes"
                    ))
                } else {
                    Undecided::Unsupported {
                        pattern: rust_pattern.to_string(),
                        why: nfa.map_or_else(|| e.to_string(), |n| n.to_string()),
                    }
                }
            })?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::No))
            .map_err(|e| Undecided::Unsupported {
                pattern: rust_pattern.to_string(),
                why: e.to_string(),
            })?;
        Ok(Self { dfa, start })
    }

    /// The state before any input.
    pub(super) fn start(&self) -> StateID {
        self.start
    }

    /// The state after `byte`.
    pub(super) fn next(&self, state: StateID, byte: u8) -> StateID {
        self.dfa.next_state(state, byte)
    }

    /// Whether reaching `state` (after a byte) means a match ended before that byte.
    pub(super) fn matched_before(&self, state: StateID) -> bool {
        self.dfa.is_match_state(state)
    }

    /// Whether the input ending in `state` has a match ending at its end.
    pub(super) fn matches_at_end(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }

    /// Whether no continuation from `state` can ever match.
    pub(super) fn is_dead(&self, state: StateID) -> bool {
        self.dfa.is_dead_state(state)
    }

    /// The equivalence class of `byte` (bytes of one class take the same transitions).
    pub(super) fn class(&self, byte: u8) -> u8 {
        self.dfa.byte_classes().get(byte)
    }

    /// The state as a plain number (product states are vectors of these).
    pub(super) fn id(state: StateID) -> u32 {
        state.as_u32()
    }

    /// The state a number from [`Dfa::id`] stands for.
    pub(super) fn state(id: u32) -> StateID {
        StateID::new(id as usize).expect("a state id this DFA produced")
    }
}
