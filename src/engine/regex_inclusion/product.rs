//! Breadth-first search of the product of several [`Dfa`]s and a UTF-8 automaton: the shortest
//! valid UTF-8 strings that every [`Role::Must`] regex matches and no [`Role::MustNot`] regex
//! matches (anywhere in the string, as Go's `MatchString`), and which [`Role::Record`] regexes
//! match too.
//!
//! Matching anywhere is monotone: once a regex has matched a prefix it matches every extension.
//! So a `Must` part that has matched is no longer tracked, a `MustNot` part that matches prunes
//! the branch, and a part that can never match again collapses to one state. Every visited
//! product state counts against a [`Budget`]; running out is an answer ("could not decide"),
//! never a guess.

use std::collections::{HashMap, HashSet, VecDeque};

use super::automaton::Dfa;
use super::undecided::Undecided;

/// What a regex must do with the strings searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Must match.
    Must,
    /// Must not match.
    MustNot,
    /// Either: whether it matches is reported.
    Record,
}

/// Product states a decision may still visit.
#[derive(Debug)]
pub(super) struct Budget {
    /// States left.
    pub left: usize,
    /// States allowed in all (for the message).
    pub total: usize,
}

impl Budget {
    pub(super) fn new(total: usize) -> Self {
        Self { left: total, total }
    }

    fn spend(&mut self) -> Result<(), Undecided> {
        if self.left == 0 {
            return Err(Undecided::Bound(format!(
                "the search visited its limit of {} automaton states",
                self.total
            )));
        }
        self.left -= 1;
        Ok(())
    }
}

/// Distinct `Record` outcomes, each with the shortest string that has it.
pub(super) type Signatures = Vec<(Vec<bool>, Vec<u8>)>;

/// A part has matched already (and stays matched).
const MATCHED: u32 = u32::MAX;
/// A part can never match from here.
const NEVER: u32 = u32::MAX - 1;

/// The regexes searched together.
pub(super) struct Product<'a> {
    parts: Vec<(&'a Dfa, Role)>,
    /// One byte per class of bytes that every part (and UTF-8) treats alike, nicest first.
    alphabet: Vec<u8>,
}

impl<'a> Product<'a> {
    pub(super) fn new(parts: Vec<(&'a Dfa, Role)>) -> Self {
        let mut groups: HashMap<Vec<u8>, u8> = HashMap::new();
        for b in 0..=255u8 {
            if utf8_category(b) == INVALID {
                continue;
            }
            let mut key: Vec<u8> = parts.iter().map(|(d, _)| d.class(b)).collect();
            key.push(utf8_category(b));
            let best = groups.entry(key).or_insert(b);
            if rank(b) < rank(*best) {
                *best = b;
            }
        }
        let mut alphabet: Vec<u8> = groups.into_values().collect();
        alphabet.sort_by_key(|b| rank(*b));
        Self { parts, alphabet }
    }

    /// The shortest string with the wanted matches, if any.
    pub(super) fn shortest(&self, budget: &mut Budget) -> Result<Option<Vec<u8>>, Undecided> {
        Ok(self
            .explore(budget, true)?
            .into_iter()
            .next()
            .map(|(_, w)| w))
    }

    /// Every distinct way the `Record` parts can match on a wanted string, each with the
    /// shortest such string.
    pub(super) fn signatures(&self, budget: &mut Budget) -> Result<Signatures, Undecided> {
        self.explore(budget, false)
    }

    fn explore(&self, budget: &mut Budget, first_only: bool) -> Result<Signatures, Undecided> {
        let Some(initial) = self.initial() else {
            return Ok(vec![]);
        };
        // Node i: its state, its parent and the byte that led to it (for the witness).
        let mut nodes: Vec<(usize, u8)> = vec![(usize::MAX, 0)];
        let mut seen: HashSet<Vec<u32>> = HashSet::from([initial.clone()]);
        let mut queue = VecDeque::from([(initial, 0usize)]);
        let mut found: Signatures = vec![];
        budget.spend()?;
        while let Some((state, index)) = queue.pop_front() {
            if let Some(signature) = self.accepts(&state) {
                if !found.iter().any(|(s, _)| *s == signature) {
                    found.push((signature, witness(&nodes, index)));
                    if first_only {
                        return Ok(found);
                    }
                }
            }
            for &byte in &self.alphabet {
                let Some(next) = self.step(&state, byte) else {
                    continue;
                };
                if seen.contains(&next) {
                    continue;
                }
                budget.spend()?;
                nodes.push((index, byte));
                seen.insert(next.clone());
                queue.push_back((next, nodes.len() - 1));
            }
        }
        Ok(found)
    }

    /// The start of every part and of UTF-8 (`None`: a `Must` part can never match).
    fn initial(&self) -> Option<Vec<u32>> {
        let mut state = Vec::with_capacity(self.parts.len() + 1);
        for (dfa, role) in &self.parts {
            let s = dfa.start();
            state.push(if dfa.is_dead(s) {
                if *role == Role::Must {
                    return None;
                }
                NEVER
            } else {
                Dfa::id(s)
            });
        }
        state.push(UTF8_BOUNDARY);
        Some(state)
    }

    /// The product state after `byte`, or `None` when the branch cannot lead to a wanted string.
    fn step(&self, state: &[u32], byte: u8) -> Option<Vec<u32>> {
        let utf8 = utf8_next(*state.last()?, byte)?;
        let mut next = Vec::with_capacity(state.len());
        for ((dfa, role), &s) in self.parts.iter().zip(state) {
            if s == MATCHED || s == NEVER {
                next.push(s);
                continue;
            }
            let t = dfa.next(Dfa::state(s), byte);
            next.push(if dfa.matched_before(t) {
                if *role == Role::MustNot {
                    return None;
                }
                MATCHED
            } else if dfa.is_dead(t) {
                if *role == Role::Must {
                    return None;
                }
                NEVER
            } else {
                Dfa::id(t)
            });
        }
        next.push(utf8);
        Some(next)
    }

    /// Whether the input read so far, ended here, is wanted: then which `Record` parts match.
    fn accepts(&self, state: &[u32]) -> Option<Vec<bool>> {
        if *state.last()? != UTF8_BOUNDARY {
            return None;
        }
        let mut signature = vec![];
        for ((dfa, role), &s) in self.parts.iter().zip(state) {
            let matches = match s {
                MATCHED => true,
                NEVER => false,
                s => dfa.matches_at_end(Dfa::state(s)),
            };
            match role {
                Role::Must if !matches => return None,
                Role::MustNot if matches => return None,
                Role::Record => signature.push(matches),
                _ => {}
            }
        }
        Some(signature)
    }
}

fn witness(nodes: &[(usize, u8)], mut index: usize) -> Vec<u8> {
    let mut bytes = vec![];
    while index != 0 {
        let (parent, byte) = nodes[index];
        bytes.push(byte);
        index = parent;
    }
    bytes.reverse();
    bytes
}

/// Bytes in the order witnesses should prefer them: readable identities first.
fn rank(b: u8) -> u16 {
    const NICE: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._/:@ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match NICE.iter().position(|n| *n == b) {
        Some(i) => i as u16,
        None if (0x20..0x7f).contains(&b) => 100 + u16::from(b),
        None => 300 + u16::from(b),
    }
}

/// The UTF-8 automaton's start (and only accepting) state: at a character boundary.
const UTF8_BOUNDARY: u32 = 0;
const INVALID: u8 = 11;

/// Bytes the UTF-8 automaton treats alike.
fn utf8_category(b: u8) -> u8 {
    match b {
        0x00..=0x7f => 0,
        0x80..=0x8f => 1,
        0x90..=0x9f => 2,
        0xa0..=0xbf => 3,
        0xc2..=0xdf => 4,
        0xe0 => 5,
        0xe1..=0xec | 0xee..=0xef => 6,
        0xed => 7,
        0xf0 => 8,
        0xf1..=0xf3 => 9,
        0xf4 => 10,
        _ => INVALID,
    }
}

/// Valid UTF-8 (no surrogates, no overlong forms, nothing above U+10FFFF), byte by byte:
/// states 1–3 await that many continuation bytes, 4–7 a restricted first one.
fn utf8_next(state: u32, b: u8) -> Option<u32> {
    Some(match (state, b) {
        (0, 0x00..=0x7f) => 0,
        (0, 0xc2..=0xdf) => 1,
        (0, 0xe0) => 4,
        (0, 0xe1..=0xec | 0xee..=0xef) => 2,
        (0, 0xed) => 5,
        (0, 0xf0) => 6,
        (0, 0xf1..=0xf3) => 3,
        (0, 0xf4) => 7,
        (1, 0x80..=0xbf) => 0,
        (2, 0x80..=0xbf) => 1,
        (3, 0x80..=0xbf) => 2,
        (4, 0xa0..=0xbf) => 1,
        (5, 0x80..=0x9f) => 1,
        (6, 0x90..=0xbf) => 2,
        (7, 0x80..=0x8f) => 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_utf8_automaton_accepts_exactly_valid_utf8() {
        let accepts = |bytes: &[u8]| {
            bytes
                .iter()
                .try_fold(UTF8_BOUNDARY, |s, b| utf8_next(s, *b))
                == Some(UTF8_BOUNDARY)
        };
        for s in ["", "a", "é", "€", "𝄞", "\u{10FFFF}", "\u{D7FF}", "\u{E000}"] {
            assert!(accepts(s.as_bytes()), "{s:?}");
        }
        for b in [
            &[0xc0, 0x80][..],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xe0, 0x80, 0x80],
            &[0x80],
            &[0xe2, 0x82],
        ] {
            assert!(!accepts(b), "{b:x?}");
            assert!(std::str::from_utf8(b).is_err());
        }
    }
}
