use super::*;
use regex::Regex;

const GHA: &str = r"^https://token\.actions\.githubusercontent\.com$";

fn ids<'a>(entries: &'a [(&'a str, &'a str)], dialect: Dialect) -> Identities<'a> {
    Identities { entries, dialect }
}

fn included(source: &[(&str, &str)], policy: &[(&str, &str)]) -> Inclusion {
    identities_included(
        ids(source, Dialect::Go),
        ids(policy, Dialect::Rust),
        &Bounds::default(),
    )
}

/// The witness really is accepted by the source entry and refused by every policy entry.
fn assert_real(w: &Witness, source: &[(&str, &str)], policy: &[(&str, &str)]) {
    let m = |re: &str, s: &str| Regex::new(re).unwrap().is_match(s);
    let (i, s) = source[w.entry];
    assert!(
        m(i, &w.issuer) && m(s, &w.subject),
        "{w:?} not accepted by the source"
    );
    assert!(
        !policy
            .iter()
            .any(|(i, s)| m(i, &w.issuer) && m(s, &w.subject)),
        "{w:?} accepted by the policy"
    );
}

#[test]
fn a_pinned_workflow_is_included_in_the_organisation_wide_pattern() {
    let source = [(
        GHA,
        r"^https://github\.com/org/actions/\.github/workflows/publish-app\.yaml@[0-9a-f]{40}$",
    )];
    let policy = [(
        GHA,
        r"^https://github\.com/org/[A-Za-z0-9_-]+/\.github/workflows/[A-Za-z0-9_-]+\.ya?ml@[0-9a-f]{40}$",
    )];
    assert_eq!(included(&source, &policy), Inclusion::Included);
    // The other way round the broad pattern accepts another repository's workflow.
    let Inclusion::NotIncluded(w) = identities_included(
        ids(&policy, Dialect::Go),
        ids(&source, Dialect::Rust),
        &Bounds::default(),
    ) else {
        panic!("the broad pattern is not within the pinned one");
    };
    assert_real(&w, &policy, &source);
}

#[test]
fn an_unanchored_source_accepts_more_than_its_text() {
    let source = [(
        GHA,
        r"https://github\.com/org/app/\.github/workflows/r\.yml@refs/heads/main",
    )];
    let policy = [(
        GHA,
        r"^https://github\.com/org/app/\.github/workflows/r\.yml@refs/heads/main$",
    )];
    let Inclusion::NotIncluded(w) = included(&source, &policy) else {
        panic!("an unanchored regex is not within its anchored form");
    };
    assert_real(&w, &source, &policy);
    assert!(w.subject.contains("github.com/org/app"), "{w:?}");
}

#[test]
fn go_perl_classes_are_ascii_and_rust_ones_unicode() {
    let go = [(GHA, r"^v\d+$")];
    let ascii = [(GHA, r"^v[0-9]+$")];
    assert_eq!(included(&go, &ascii), Inclusion::Included);
    // The same text read by Rust accepts other digits.
    let Inclusion::NotIncluded(w) = identities_included(
        ids(&go, Dialect::Rust),
        ids(&ascii, Dialect::Rust),
        &Bounds::default(),
    ) else {
        panic!("Rust's \\d is Unicode");
    };
    assert!(!w.subject.is_ascii(), "{w:?}");
    assert_real(&w, &go, &ascii);
}

#[test]
fn several_policy_entries_together_can_cover_one_source_entry() {
    let source = [(r"^https://(a|b)$", r"^(x|y)$")];
    // Each issuer needs its own entry, and under issuer a both subjects come from two entries.
    let policy = [
        (r"^https://a$", r"^x$"),
        (r"^https://a$", r"^y$"),
        (r"^https://b$", r"^(x|y)$"),
    ];
    assert_eq!(included(&source, &policy), Inclusion::Included);
    // No entry alone covers it, so "some policy entry contains it" would have said no.
    for p in &policy {
        assert_ne!(included(&source, &[*p]), Inclusion::Included);
    }
    // Without the last entry, issuer b is refused whatever the subject.
    let Inclusion::NotIncluded(w) = included(&source, &policy[..2]) else {
        panic!("issuer b is not covered");
    };
    assert_eq!(w.issuer, "https://b");
    assert_real(&w, &source, &policy[..2]);
}

#[test]
fn the_subject_is_judged_per_issuer_region() {
    // Issuer a may sign x only; issuer b may sign y only. A source that lets either sign
    // either is weaker, with the witness pairing the wrong ones.
    let policy = [(r"^a$", r"^x$"), (r"^b$", r"^y$")];
    let source = [(r"^(a|b)$", r"^(x|y)$")];
    let Inclusion::NotIncluded(w) = included(&source, &policy) else {
        panic!("cross pairs are refused");
    };
    assert_real(&w, &source, &policy);
}

#[test]
fn an_empty_regex_accepts_everything_and_an_empty_policy_nothing() {
    assert_eq!(included(&[(GHA, "^x$")], &[("", "")]), Inclusion::Included);
    let Inclusion::NotIncluded(w) = included(&[(GHA, "^x$")], &[]) else {
        panic!("no policy entry accepts nothing");
    };
    assert_eq!(w.subject, "x");
    assert_eq!(included(&[], &[]), Inclusion::Included);
}

#[test]
fn a_hit_bound_is_undecided_never_a_verdict() {
    let source = [(GHA, r"^https://github\.com/[a-z]+/[a-z]+/x@[0-9a-f]{40}$")];
    let policy = [(GHA, r"^https://github\.com/[a-z]+/[a-z]+/x@[0-9a-f]{40}$")];
    let tiny = Bounds {
        automaton_bytes: 4 << 20,
        states: 20,
    };
    let answer = identities_included(
        ids(&source, Dialect::Go),
        ids(&policy, Dialect::Rust),
        &tiny,
    );
    assert!(
        matches!(answer, Inclusion::Undecided(Undecided::Bound(_))),
        "{answer:?}"
    );
    let small = Bounds {
        automaton_bytes: 1000,
        states: 200_000,
    };
    let answer = identities_included(
        ids(&source, Dialect::Go),
        ids(&policy, Dialect::Rust),
        &small,
    );
    assert!(
        matches!(answer, Inclusion::Undecided(Undecided::Bound(_))),
        "{answer:?}"
    );
    assert_eq!(included(&source, &policy), Inclusion::Included);
}

#[test]
fn regexes_that_cannot_be_read_faithfully_are_undecided() {
    // Go reads `[a&&b]` as a class of `a`, `&`, `b`; Rust as an intersection.
    let answer = included(&[(GHA, "[a&&b]")], &[(GHA, "")]);
    assert!(
        matches!(answer, Inclusion::Undecided(Undecided::Unsupported { .. })),
        "{answer:?}"
    );
    // A Unicode word boundary has no DFA.
    let answer = included(&[(GHA, "^x$")], &[(GHA, r"\bx")]);
    assert!(
        matches!(answer, Inclusion::Undecided(Undecided::Unsupported { .. })),
        "{answer:?}"
    );
}

#[test]
fn single_regexes_compare_with_search_semantics() {
    let b = Bounds::default();
    let go = |re| (re, Dialect::Go);
    let rust = |re| (re, Dialect::Rust);
    assert_eq!(regex_included(go("^ab$"), rust("b"), &b), Ok(None));
    assert_eq!(
        regex_included(go("b"), rust("^ab$"), &b),
        Ok(Some("b".into()))
    );
    assert_eq!(regex_included(go(r"\Qa.b\E"), rust(r"a\.b"), &b), Ok(None));
    assert_eq!(regex_included(go(r"x$"), rust(r"x\z"), &b), Ok(None));
    // `$` is the end of the text, not of a line, without (?m).
    assert_eq!(
        regex_included(go(r"(?m)x$"), rust(r"x$"), &b),
        Ok(Some("x\n".into()))
    );
}

#[test]
fn the_memo_answers_as_a_fresh_decision() {
    let source = [(
        GHA,
        r"^https://github\.com/o/r/\.github/workflows/a\.yml@refs/heads/main$",
    )];
    let policy = [(GHA, r"^https://github\.com/o/r/")];
    for _ in 0..2 {
        assert_eq!(
            identities_included_memo(ids(&source, Dialect::Go), ids(&policy, Dialect::Rust)),
            included(&source, &policy)
        );
    }
}
