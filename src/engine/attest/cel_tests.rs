//! CEL conditions: what compiles, what evaluates to what, and that errors never pass.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn statement() -> serde_json::Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "ghcr.io/org/app", "digest": {"sha256": "ab"}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "externalParameters": {"workflow": {"ref": "refs/tags/v1.2.3", "repository": "https://github.com/org/repo"}},
                "resolvedDependencies": [{"uri": "git+https://github.com/org/repo@refs/tags/v1.2.3", "digest": {"gitCommit": "0123abcd"}}]
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
        }
    })
}

fn claims() -> CertificateClaims {
    CertificateClaims {
        source_repository_uri: Some("https://github.com/org/repo".into()),
        runner_environment: Some("github-hosted".into()),
        ..CertificateClaims::default()
    }
}

fn eval(expression: &str, certificate: Option<&CertificateClaims>) -> Outcome {
    let s = statement();
    Condition::compile(expression, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .evaluate(&Inputs {
            statement: &s,
            certificate,
        })
}

#[test]
fn conditions_see_the_statement_predicate_subject_and_certificate() {
    let c = Some(&claims());
    for expression in [
        "statement.predicateType == 'https://slsa.dev/provenance/v1'",
        "predicate.buildDefinition.externalParameters.workflow.ref.startsWith('refs/tags/v')",
        "predicate.buildDefinition.resolvedDependencies.exists(d, d.digest.gitCommit == '0123abcd')",
        "subject[0].name == 'ghcr.io/org/app'",
        "certificate.sourceRepositoryUri == 'https://github.com/org/repo'",
        "certificate.runnerEnvironment.matches('^github-hosted$')",
        "!has(certificate.buildTrigger)",
    ] {
        assert_eq!(eval(expression, c), Outcome::Holds, "{expression}");
    }
    assert_eq!(
        eval("certificate.runnerEnvironment == 'self-hosted'", c),
        Outcome::Fails
    );
}

#[test]
fn errors_and_non_booleans_are_errors_never_a_pass() {
    // A missing key (key-signed: no certificate claims at all).
    assert!(matches!(
        eval("certificate.sourceRepositoryUri == 'x'", None),
        Outcome::Error(_)
    ));
    assert!(matches!(
        eval("predicate.nothing.here", None),
        Outcome::Error(_)
    ));
    let not_bool = eval("statement.predicateType", None);
    assert!(
        matches!(&not_bool, Outcome::Error(m) if m.contains("not a boolean")),
        "{not_bool:?}"
    );
    // A type mismatch.
    assert!(matches!(eval("subject + 1 == 2", None), Outcome::Error(_)));
}

#[test]
fn invalid_expressions_are_refused_with_the_expression_and_the_error() {
    let err = Condition::compile("statement.predicateType ==", None).unwrap_err();
    assert!(err.contains("statement.predicateType =="), "{err}");
    assert!(Condition::compile("  ", None).is_err());
    let long = format!("{} == 'x'", "a".repeat(MAX_EXPRESSION));
    let err = Condition::compile(&long, None).unwrap_err();
    assert!(err.contains("longer than"), "{err}");
    assert!(err.len() < 400, "bounded: {err}");
}

#[test]
fn nested_comprehensions_are_refused_for_their_quadratic_cost() {
    assert!(Condition::compile("subject.exists(s, s.name != '')", None).is_ok());
    // Two in sequence are linear: fine.
    assert!(Condition::compile(
        "subject.all(s, s.name != '') && subject.exists(s, s.name == 'a')",
        None
    )
    .is_ok());
    let err = Condition::compile("subject.all(a, subject.exists(b, a.name == b.name))", None)
        .unwrap_err();
    assert!(err.contains("to the power 2"), "{err}");
    // A linear operator over the whole statement once per element is quadratic too.
    for quadratic in [
        "predicate.items.all(x, x in predicate.items)",
        "predicate.items.all(x, predicate.items == predicate.copy)",
        "predicate.items.all(x, predicate.blob.matches('(a|b)*c'))",
    ] {
        let err = Condition::compile(quadratic, None).unwrap_err();
        assert!(err.contains("to the power 2"), "{quadratic}: {err}");
    }
    // A comprehension over a comprehension's result is evaluated once: still linear.
    assert!(Condition::compile(
        "subject.filter(s, s.name != '').exists(s, s.name == 'a')",
        None
    )
    .is_ok());
}

#[test]
fn a_failure_is_described_by_the_authors_message_and_the_expression() {
    let c = Condition::compile("false", Some("must be built on a tag")).unwrap();
    assert_eq!(c.describe(), "must be built on a tag (false)");
    assert_eq!(Condition::compile("false", Some("")).unwrap().message, None);
}

/// Items in the pathological statement: its quadratic evaluation (90,000 inner steps) takes
/// about two seconds in a debug build, far past the deadline, and ends soon after on the thread
/// it was abandoned on.
const N: usize = 300;

/// A statement with `n` items and a few large strings: what a registry's owner can write
/// within the byte budget.
fn large_statement(n: usize) -> serde_json::Value {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"name": format!("item-{i}"), "uri": format!("pkg:generic/item-{i}")}))
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": "ab"}}],
        "predicateType": "https://example.com/pathological",
        "predicate": {"items": items, "copy": items.clone()},
    })
}

#[test]
fn a_pathological_expression_over_a_large_statement_ends_within_its_deadline_as_an_error() {
    // Quadratic: refused when compiled. Compiled anyway (the static check bypassed), the
    // deadline still ends it.
    let quadratic = "predicate.items.all(x, !predicate.copy.exists(y, y.name == x.name + 'z'))";
    assert!(Condition::compile(quadratic, None).is_err());
    let c = Condition::compile_unbounded(quadratic, None).unwrap();
    let statement = Arc::new(large_statement(N));
    let deadline = Duration::from_millis(100);
    let started = Instant::now();
    let outcome = evaluate_all(&[c], statement, None, deadline);
    let took = started.elapsed();
    assert!(
        matches!(&outcome, AllOutcome::Error(0, why) if why.contains("deadline")),
        "{outcome:?}"
    );
    assert!(
        took < deadline + Duration::from_millis(200),
        "took {took:?}"
    );
}

#[test]
fn conditions_are_evaluated_in_order_once_on_one_conversion() {
    let s = Arc::new(statement());
    let compiled = |es: &[&str]| -> Vec<Condition> {
        es.iter()
            .map(|e| Condition::compile(e, None).unwrap())
            .collect()
    };
    let ok = compiled(&[
        "statement.predicateType == 'https://slsa.dev/provenance/v1'",
        "subject[0].name == 'ghcr.io/org/app'",
    ]);
    assert_eq!(
        evaluate_all(&ok, s.clone(), None, DEADLINE),
        AllOutcome::Hold
    );
    let second_fails = compiled(&["true", "false", "predicate.nothing.here"]);
    assert_eq!(
        evaluate_all(&second_fails, s.clone(), None, DEADLINE),
        AllOutcome::Fails(1)
    );
    let errs = compiled(&["true", "predicate.nothing.here", "false"]);
    assert!(matches!(
        evaluate_all(&errs, s.clone(), None, DEADLINE),
        AllOutcome::Error(1, _)
    ));
    assert_eq!(evaluate_all(&[], s, None, DEADLINE), AllOutcome::Hold);
}

#[test]
fn with_every_evaluator_busy_an_evaluation_says_so_within_its_deadline() {
    // Overruns hold their place until their thread ends: take every place, as they would.
    let held: Vec<Permit> = (0..MAX_EVALUATORS)
        .map(|_| Permit::acquire(Instant::now() + Duration::from_secs(30)).unwrap())
        .collect();
    let c = Condition::compile("true", None).unwrap();
    let started = Instant::now();
    let outcome = evaluate_all(
        std::slice::from_ref(&c),
        Arc::new(statement()),
        None,
        Duration::from_millis(50),
    );
    assert!(
        matches!(&outcome, AllOutcome::Error(0, why) if why.contains("deadline")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    assert_eq!(
        evaluate_all(&[c], Arc::new(statement()), None, DEADLINE),
        AllOutcome::Hold
    );
}
