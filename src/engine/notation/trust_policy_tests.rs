use super::*;

fn doc(statements: &str) -> String {
    format!(r#"{{"version":"1.0","trustPolicies":[{statements}]}}"#)
}

fn stmt(name: &str, scopes: &str, sv: &str) -> String {
    format!(
        r#"{{"name":"{name}","registryScopes":[{scopes}],"signatureVerification":{sv},
        "trustStores":["ca:s"],"trustedIdentities":["*"]}}"#
    )
}

fn parse(s: &str) -> Result<TrustPolicy, String> {
    TrustPolicy::parse(s.as_bytes())
}

#[test]
fn levels_enforce_log_and_skip_as_notation_go_does() {
    use Action::{Enforce as E, Log as L, Skip as S};
    let table = [
        ("strict", [E, E, E, E, E]),
        ("permissive", [E, E, L, L, L]),
        ("audit", [E, L, L, L, L]),
        ("skip", [S, S, S, S, S]),
    ];
    for (name, actions) in table {
        let l = Level::base(name).unwrap();
        let got = [
            Check::Integrity,
            Check::Authenticity,
            Check::AuthenticTimestamp,
            Check::Expiry,
            Check::Revocation,
        ]
        .map(|c| l.action(c));
        assert_eq!(got, actions, "{name}");
    }
}

#[test]
fn overrides_change_a_level_but_never_integrity_and_only_skip_revocation() {
    let p = parse(&doc(&stmt(
        "a",
        r#""*""#,
        r#"{"level":"strict","override":{"expiry":"log","revocation":"skip"}}"#,
    )))
    .unwrap();
    let l = &p.statements[0].level;
    assert_eq!(l.name, "custom");
    assert_eq!(l.action(Check::Expiry), Action::Log);
    assert_eq!(l.action(Check::Revocation), Action::Skip);
    assert_eq!(l.action(Check::Authenticity), Action::Enforce);
    for bad in [
        r#"{"level":"strict","override":{"integrity":"log"}}"#,
        r#"{"level":"strict","override":{"expiry":"skip"}}"#,
        r#"{"level":"skip","override":{"expiry":"log"}}"#,
        r#"{"level":"strict","override":{"nonsense":"log"}}"#,
        r#"{"level":"strict","override":{"expiry":"maybe"}}"#,
        r#"{"level":"lenient"}"#,
        r#"{"level":""}"#,
        r#"{"level":"strict","verifyTimestamp":"never"}"#,
    ] {
        assert!(parse(&doc(&stmt("a", r#""*""#, bad))).is_err(), "{bad}");
    }
}

#[test]
fn the_statement_naming_the_repository_wins_over_the_wildcard() {
    let p = parse(&doc(&format!(
        "{},{}",
        stmt("any", r#""*""#, r#"{"level":"audit"}"#),
        stmt(
            "app",
            r#""r.example:5000/team/app""#,
            r#"{"level":"strict"}"#
        )
    )))
    .unwrap();
    assert_eq!(p.applicable("r.example:5000/team/app").unwrap().name, "app");
    assert_eq!(
        p.applicable("r.example:5000/team/other").unwrap().name,
        "any"
    );
    let only = parse(&doc(&stmt(
        "app",
        r#""r.example/app""#,
        r#"{"level":"strict"}"#,
    )))
    .unwrap();
    assert!(only.applicable("r.example/other").is_none());
}

#[test]
fn documents_notation_go_refuses_are_refused() {
    let strict = r#"{"level":"strict"}"#;
    for bad in [
        r#"{"trustPolicies":[]}"#.to_string(),
        r#"{"version":"2.0","trustPolicies":[]}"#.to_string(),
        doc(""),
        doc(&format!(
            "{},{}",
            stmt("a", r#""*""#, strict),
            stmt("a", r#""x.io/a""#, strict)
        )),
        doc(&format!(
            "{},{}",
            stmt("a", r#""x.io/a""#, strict),
            stmt("b", r#""x.io/a""#, strict)
        )),
        doc(&stmt("a", r#""*","x.io/a""#, strict)),
        doc(&stmt("a", "", strict)),
        doc(&stmt("a", r#""x.io/a:tag""#, strict)),
        doc(&stmt("a", r#""x.io/*""#, strict)),
        doc(&stmt("a", r#""noslash""#, strict)),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":[],"trustedIdentities":["*"]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":[]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["x509:s"],"trustedIdentities":["*"]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:bad/name"],"trustedIdentities":["*"]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*","x509.subject: C=US, ST=WA, O=a"]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["x509.subject: CN=a"]}"#,
        ),
        doc(
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=a","x509.subject: C=US, ST=WA, O=a, CN=b"]}"#,
        ),
        doc(
            r#"{"name":"","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#,
        ),
        "not json".to_string(),
    ] {
        assert!(parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn a_skip_statement_drops_its_stores_and_identities_as_flux_does() {
    let p = parse(&doc(&stmt("a", r#""*""#, r#"{"level":"skip"}"#))).unwrap();
    assert!(p.statements[0].level.is_skip());
    assert!(p.statements[0].store_types.is_empty());
}
