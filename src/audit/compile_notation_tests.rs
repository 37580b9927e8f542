use super::*;

fn secrets(entries: &[(&str, &[u8])]) -> Secrets {
    let data: BTreeMap<String, Vec<u8>> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    [(("apps".to_string(), "notation".to_string()), data)].into()
}

const DOC: &str = r#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],
    "signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}]}"#;

fn crt() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/notation/provenance-test.crt"
    ))
    .unwrap()
}

#[test]
fn flux_s_secret_layout_compiles_to_a_notation_policy() {
    let crt = crt();
    let s = secrets(&[
        (TRUST_POLICY_KEY, DOC.as_bytes()),
        ("ca.crt", &crt),
        ("note.txt", b"x"),
    ]);
    let p = notation_policy(("apps", "notation"), &s).unwrap();
    assert!(
        matches!(p, Policy::Notation(ref n) if n.certificates.len() == 1),
        "{p:?}"
    );
}

#[test]
fn a_missing_secret_trust_policy_or_certificate_is_a_clear_error() {
    let crt = crt();
    assert!(notation_policy(("apps", "nope"), &secrets(&[]))
        .unwrap_err()
        .contains("not found"));
    let no_policy = secrets(&[("ca.crt", &crt)]);
    assert!(notation_policy(("apps", "notation"), &no_policy)
        .unwrap_err()
        .contains("trustpolicy.json"));
    let no_certs = secrets(&[(TRUST_POLICY_KEY, DOC.as_bytes())]);
    assert!(notation_policy(("apps", "notation"), &no_certs)
        .unwrap_err()
        .contains("no certificates"));
    assert!(require_secret(None).unwrap_err().contains("secretRef"));
}
