//! CEL conditions: what compiles, what evaluates to what, and that errors never pass.

use serde_json::json;

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
    assert!(err.contains("nested 2 deep"), "{err}");
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
