//! The decision against an oracle: generated regexes (the syntax Go and Rust read alike) and
//! strings, matched by the `regex` crate. "Included" must never be contradicted by a sampled
//! string; "not included" must come with a witness the oracle confirms.

use proptest::prelude::*;
use regex::Regex;

use super::*;

/// Small regexes over `a`, `b`, `c` with classes, alternation, repetition and anchors.
fn regex() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just(".".to_string()),
        Just("[ab]".to_string()),
        Just("[^a]".to_string()),
        Just("".to_string()),
    ];
    let body = atom.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.concat()),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(?:{a}|{b})")),
            inner.clone().prop_map(|a| format!("(?:{a})*")),
            inner.clone().prop_map(|a| format!("(?:{a})+")),
            inner.prop_map(|a| format!("(?:{a})?")),
        ]
    });
    (any::<bool>(), body, any::<bool>()).prop_map(|(start, body, end)| {
        format!(
            "{}{body}{}",
            if start { "^" } else { "" },
            if end { "$" } else { "" }
        )
    })
}

/// Every string over `a`, `b`, `c` up to length 4, and `é` to reach a multi-byte character.
fn strings() -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..4 {
        layer = layer
            .iter()
            .flat_map(|s| ["a", "b", "c"].map(|c| format!("{s}{c}")))
            .collect();
        out.extend(layer.iter().cloned());
    }
    out.push("é".into());
    out.push("aé".into());
    out
}

fn m(re: &str, s: &str) -> bool {
    Regex::new(re).unwrap().is_match(s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn single_regex_decisions_agree_with_the_oracle(a in regex(), b in regex()) {
        let answer = regex_included((&a, Dialect::Go), (&b, Dialect::Rust), &Bounds::default());
        match answer {
            Ok(None) => {
                let (ra, rb) = (Regex::new(&a).unwrap(), Regex::new(&b).unwrap());
                for s in strings() {
                    prop_assert!(
                        !ra.is_match(&s) || rb.is_match(&s),
                        "{a:?} ⊆ {b:?} said, but {s:?}"
                    );
                }
            }
            Ok(Some(w)) => {
                prop_assert!(m(&a, &w) && !m(&b, &w), "witness {w:?} for {a:?} ⊄ {b:?}");
            }
            Err(e) => prop_assert!(false, "{a:?} vs {b:?}: {e}"),
        }
    }

    #[test]
    fn identity_list_decisions_agree_with_the_oracle(
        source in prop::collection::vec((regex(), regex()), 1..3),
        policy in prop::collection::vec((regex(), regex()), 0..4),
        samples in prop::collection::vec((0usize..123, 0usize..123), 300),
    ) {
        let s: Vec<(&str, &str)> = source.iter().map(|(i, s)| (i.as_str(), s.as_str())).collect();
        let p: Vec<(&str, &str)> = policy.iter().map(|(i, s)| (i.as_str(), s.as_str())).collect();
        let compiled = |list: &[(&str, &str)]| -> Vec<(Regex, Regex)> {
            list.iter().map(|(i, s)| (Regex::new(i).unwrap(), Regex::new(s).unwrap())).collect()
        };
        let (cs, cp) = (compiled(&s), compiled(&p));
        let accepts = |list: &[(Regex, Regex)], i: &str, sub: &str| {
            list.iter().any(|(ri, rs)| ri.is_match(i) && rs.is_match(sub))
        };
        let answer = identities_included(
            Identities { entries: &s, dialect: Dialect::Go },
            Identities { entries: &p, dialect: Dialect::Rust },
            &Bounds::default(),
        );
        let all = strings();
        match answer {
            Inclusion::Included => {
                for (x, y) in samples {
                    let (i, sub) = (&all[x], &all[y]);
                    prop_assert!(
                        !accepts(&cs, i, sub) || accepts(&cp, i, sub),
                        "{s:?} ⊆ {p:?} said, but ({i:?}, {sub:?})"
                    );
                }
            }
            Inclusion::NotIncluded(w) => {
                let (ri, rs) = s[w.entry];
                prop_assert!(m(ri, &w.issuer) && m(rs, &w.subject), "{w:?} not the source's");
                prop_assert!(!accepts(&cp, &w.issuer, &w.subject), "{w:?} accepted by {p:?}");
            }
            Inclusion::Undecided(e) => prop_assert!(false, "{s:?} vs {p:?}: {e}"),
        }
    }
}
