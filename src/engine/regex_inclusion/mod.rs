//! Whether every signer identity one `matchOIDCIdentity` list accepts is accepted by another:
//! the question behind `Enforced` (is Flux's `spec.verify` at least as strict as the policy?)
//! and lint's `verify-weaker`.
//!
//! Go's RE2 syntax is regular, so the question is decidable: each regex becomes a DFA with Go's
//! search semantics (`MatchString` matches anywhere, so an unanchored regex accepts more than its
//! text suggests), and the product of the DFAs is searched for a string one side accepts and
//! the other refuses. A list of `(issuer, subject)` entries accepts the union of its entries'
//! rectangles `issuer × subject`; a source entry is covered by the policy's union when, for every
//! set `T` of policy entries whose issuers (and only those) accept some issuer of the source
//! entry, the source's subjects are all accepted by some entry of `T`. That is exact also when
//! only several policy entries together cover one source entry.
//!
//! An answer is [`Inclusion::Included`], or [`Inclusion::NotIncluded`] with a concrete identity
//! (valid UTF-8) the source accepts and the policy refuses. Only when a size or work bound is
//! hit, or a regex cannot be read faithfully, is it [`Inclusion::Undecided`] — never a guess.

mod automaton;
pub mod go;
mod product;
mod undecided;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{LazyLock, Mutex};

use automaton::Dfa;
use product::{Budget, Product, Role};
pub use undecided::Undecided;

/// How a regex's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Go `regexp` (RE2 syntax), as Flux compiles a source's `spec.verify`.
    Go,
    /// Rust `regex`, as this auditor compiles a policy.
    Rust,
}

/// Limits on the work one decision may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes one regex's NFA, determinization or DFA may use.
    pub automaton_bytes: usize,
    /// Product states one decision may visit (all its searches together).
    pub states: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            automaton_bytes: 4 << 20,
            states: 200_000,
        }
    }
}

/// An identity the source accepts and the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// An OIDC issuer.
    pub issuer: String,
    /// A certificate subject.
    pub subject: String,
    /// Which source entry accepts it.
    pub entry: usize,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inclusion {
    /// Everything the source accepts, the policy accepts.
    Included,
    /// The source accepts this identity and the policy does not.
    NotIncluded(Witness),
    /// Not known (a bound was hit, or a regex cannot be read faithfully).
    Undecided(Undecided),
}

/// One side of the comparison: `(issuer, subject)` regexes read in one dialect.
#[derive(Debug, Clone, Copy)]
pub struct Identities<'a> {
    /// The entries (OR).
    pub entries: &'a [(&'a str, &'a str)],
    /// How their text is read.
    pub dialect: Dialect,
}

/// Whether every identity `source` accepts, `policy` accepts. An empty `source` list accepts
/// nothing here (Flux's "any signer" reading of no identities is the caller's to handle).
pub fn identities_included(source: Identities, policy: Identities, bounds: &Bounds) -> Inclusion {
    match decide(source, policy, bounds) {
        Ok(None) => Inclusion::Included,
        Ok(Some(w)) => Inclusion::NotIncluded(w),
        Err(e) => Inclusion::Undecided(e),
    }
}

/// [`identities_included`] with the default [`Bounds`], remembered per question: the controller
/// asks the same one on every reconcile of an unchanged source.
pub fn identities_included_memo(source: Identities, policy: Identities) -> Inclusion {
    type Key = (
        Vec<(String, String)>,
        Dialect,
        Vec<(String, String)>,
        Dialect,
    );
    const MAX_ANSWERS: usize = 1024;
    static MEMO: LazyLock<Mutex<HashMap<Key, Inclusion>>> = LazyLock::new(Default::default);
    let owned = |s: &Identities| -> Vec<(String, String)> {
        s.entries
            .iter()
            .map(|(i, s)| (i.to_string(), s.to_string()))
            .collect()
    };
    let key = (
        owned(&source),
        source.dialect,
        owned(&policy),
        policy.dialect,
    );
    let lock = || MEMO.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = lock().get(&key) {
        return answer.clone();
    }
    let answer = identities_included(source, policy, &Bounds::default());
    let mut memo = lock();
    if memo.len() >= MAX_ANSWERS {
        memo.clear();
    }
    memo.insert(key, answer.clone());
    answer
}

/// Whether every string `source` matches (anywhere), `policy` matches: `Ok(None)` if so, else a
/// string only `source` matches.
pub fn regex_included(
    source: (&str, Dialect),
    policy: (&str, Dialect),
    bounds: &Bounds,
) -> Result<Option<String>, Undecided> {
    let mut automata = Automata::new(bounds);
    let (s, p) = (automata.get(source)?, automata.get(policy)?);
    let mut budget = Budget::new(bounds.states);
    Product::new(vec![(&*s, Role::Must), (&*p, Role::MustNot)])
        .shortest(&mut budget)
        .map(|w| w.map(text))
}

fn decide(
    source: Identities,
    policy: Identities,
    bounds: &Bounds,
) -> Result<Option<Witness>, Undecided> {
    let mut automata = Automata::new(bounds);
    let mut budget = Budget::new(bounds.states);
    let policy_issuers = policy
        .entries
        .iter()
        .map(|(i, _)| automata.get((i, policy.dialect)))
        .collect::<Result<Vec<_>, _>>()?;
    let policy_subjects = policy
        .entries
        .iter()
        .map(|(_, s)| automata.get((s, policy.dialect)))
        .collect::<Result<Vec<_>, _>>()?;
    for (entry, (issuer, subject)) in source.entries.iter().enumerate() {
        let issuer = automata.get((issuer, source.dialect))?;
        let subject = automata.get((subject, source.dialect))?;
        // Every way the policy's issuers can split this entry's issuers.
        let parts = std::iter::once((&*issuer, Role::Must))
            .chain(policy_issuers.iter().map(|d| (&**d, Role::Record)))
            .collect();
        for (which, issuer_witness) in Product::new(parts).signatures(&mut budget)? {
            // Those issuers are accepted by exactly the policy entries in `which`: every
            // subject of the source entry must be accepted by one of them.
            let parts = std::iter::once((&*subject, Role::Must))
                .chain(
                    policy_subjects
                        .iter()
                        .zip(&which)
                        .filter(|(_, on)| **on)
                        .map(|(d, _)| (&**d, Role::MustNot)),
                )
                .collect();
            if let Some(subject_witness) = Product::new(parts).shortest(&mut budget)? {
                return Ok(Some(Witness {
                    issuer: text(issuer_witness),
                    subject: text(subject_witness),
                    entry,
                }));
            }
        }
    }
    Ok(None)
}

/// The witness as text: the product only walks valid UTF-8.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The DFAs of one decision, each regex translated and built once.
struct Automata {
    limit: usize,
    built: HashMap<(String, Dialect), Rc<Dfa>>,
}

impl Automata {
    fn new(bounds: &Bounds) -> Self {
        Self {
            limit: bounds.automaton_bytes,
            built: HashMap::new(),
        }
    }

    fn get(&mut self, (pattern, dialect): (&str, Dialect)) -> Result<Rc<Dfa>, Undecided> {
        let key = (pattern.to_string(), dialect);
        if let Some(d) = self.built.get(&key) {
            return Ok(d.clone());
        }
        let rust = match dialect {
            Dialect::Rust => pattern.to_string(),
            Dialect::Go => go::to_rust(pattern).map_err(|e| Undecided::Unsupported {
                pattern: pattern.to_string(),
                why: e.to_string(),
            })?,
        };
        let dfa = Rc::new(Dfa::build(&rust, self.limit)?);
        self.built.insert(key, dfa.clone());
        Ok(dfa)
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
