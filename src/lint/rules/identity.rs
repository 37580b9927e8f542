//! Rules on a source's own `spec.verify`, no policy needed: `no-signer` (also a blank provider
//! or key Secret name, which verify nothing) and `multiple-identities`.

use super::super::discover::Declared;
use super::super::finding::{rules, Finding};

/// `no-signer` and `multiple-identities` for one source.
pub fn check(d: &Declared) -> Vec<Finding> {
    let Some(v) = &d.source.verify else {
        return vec![];
    };
    if let Some(why) = d.blank_verify() {
        return vec![Finding::error(
            rules::NO_SIGNER,
            d.at(""),
            d.display(),
            why,
            "set provider: cosign and name the key Secret (secretRef.name) or the signing identity (matchOIDCIdentity)",
        )];
    }
    if v.provider != "cosign" || v.secret_ref.is_some() {
        // Flux ignores identities when a key Secret is set; notation is not judged here.
        return vec![];
    }
    let mut out = vec![];
    let ids = &v.match_oidc_identity;
    let constraining = ids
        .iter()
        .any(|(i, s)| !i.trim().is_empty() && !s.trim().is_empty());
    if !constraining {
        out.push(Finding::error(
            rules::NO_SIGNER,
            d.at(""),
            d.display(),
            "spec.verify is on but constrains no signer (no secretRef, and no matchOIDCIdentity entry with both issuer and subject): Flux accepts any keyless signer the Sigstore root knows",
            "add a matchOIDCIdentity entry with the issuer and subject of your signing workflow, or a secretRef to your cosign public key",
        ));
    }
    if ids.len() > 1 {
        out.push(Finding::error(
            rules::MULTIPLE_IDENTITIES,
            d.at("/matchOIDCIdentity"),
            d.display(),
            format!(
                "spec.verify has {} matchOIDCIdentity entries: valid by Flux's schema, but with cosign v3 bundles source-controller refuses every artifact (\"multiple identities are not supported at this time\") and the source halts",
                ids.len()
            ),
            single_entry(ids),
        ));
    }
    out
}

/// The single `matchOIDCIdentity` entry that accepts the same identities, as YAML, or why
/// there is none.
pub fn single_entry(ids: &[(String, String)]) -> String {
    let issuers: Vec<&str> = ids.iter().map(|(i, _)| i.as_str()).collect();
    let subjects: Vec<&str> = ids.iter().map(|(_, s)| s.as_str()).collect();
    if issuers.iter().any(|i| *i != issuers[0]) {
        return format!(
            "the entries have different issuers, so no single entry accepts exactly the same identities (joining both alternations would also accept each issuer with the other's subjects); use one identity per source, e.g. split the artifacts, or one issuer: {}",
            alternation(&issuers)
        );
    }
    format!(
        "replace the list with one entry that accepts the same identities:\n  matchOIDCIdentity:\n    - issuer: '{}'\n      subject: '{}'",
        issuers[0].replace('\'', "''"),
        alternation(&subjects).replace('\'', "''")
    )
}

/// One regex accepting what any of `res` accepts (unanchored search semantics):
/// `^(?:a|b)$` when every regex is `^…$`, else `(?:a)|(?:b)`.
pub fn alternation(res: &[&str]) -> String {
    let mut unique: Vec<&str> = vec![];
    for r in res {
        if !unique.contains(r) {
            unique.push(r);
        }
    }
    if let [only] = unique[..] {
        return only.to_string();
    }
    let anchored = unique.iter().all(|r| {
        r.starts_with('^')
            && r.ends_with('$')
            && !r.ends_with("\\$")
            && r.len() >= 2
            && super::variants::anchors(r) == (true, true)
    });
    if anchored {
        let inner: Vec<&str> = unique.iter().map(|r| &r[1..r.len() - 1]).collect();
        format!("^(?:{})$", inner.join("|"))
    } else {
        unique
            .iter()
            .map(|r| format!("(?:{r})"))
            .collect::<Vec<_>>()
            .join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alternation_accepts_exactly_the_union() {
        let res = [
            r"^https://a/x@refs/heads/main$",
            r"^https://a/y@refs/tags/v1$",
        ];
        let alt = alternation(&res);
        assert_eq!(
            alt,
            r"^(?:https://a/x@refs/heads/main|https://a/y@refs/tags/v1)$"
        );
        let re = regex::Regex::new(&alt).unwrap();
        for s in ["https://a/x@refs/heads/main", "https://a/y@refs/tags/v1"] {
            assert!(re.is_match(s));
        }
        for s in [
            "https://a/x@refs/tags/v1",
            "https://a/x@refs/heads/main2",
            "xhttps://a/y@refs/tags/v1",
        ] {
            assert!(!re.is_match(s), "{s}");
        }
        assert_eq!(alternation(&["a", "^b$"]), "(?:a)|(?:^b$)");
        assert_eq!(alternation(&["^a$", "^a$"]), "^a$", "one regex is itself");
        // `^a|b$` is not anchored on both sides: stripping would change it.
        assert_eq!(alternation(&["^a|b$", "^c$"]), "(?:^a|b$)|(?:^c$)");
    }
}
