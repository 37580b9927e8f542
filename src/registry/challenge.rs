//! Parsing of `WWW-Authenticate` challenges (RFC 7235 syntax as registries use it), kept
//! separate because it is pure string work on untrusted input and must never panic.

use std::collections::BTreeMap;

/// One parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased scheme (`bearer`, `basic`, ...).
    pub scheme: String,
    /// Lowercased parameter names → unquoted values.
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` header value, which may hold several challenges:
/// `Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push", Basic realm="r"`.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A token followed by '=' is a parameter of the current challenge; otherwise a new scheme.
        let name_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        if let (Some(value_part), false) = (after.strip_prefix('='), name.is_empty()) {
            let (value, remaining) = parse_value(value_part.trim_start());
            if let Some(ch) = out.last_mut() {
                ch.params.insert(name.to_ascii_lowercase(), value);
            }
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        } else {
            if !name.is_empty() {
                out.push(Challenge {
                    scheme: name.to_ascii_lowercase(),
                    params: BTreeMap::new(),
                });
            }
            rest = after.trim_start_matches(',').trim_start();
            if name.is_empty() && after.len() == rest.len() {
                // Nothing consumed (e.g. a stray '='): skip one char so parsing always ends.
                let mut chars = rest.chars();
                chars.next();
                rest = chars.as_str();
            }
        }
    }
    out
}

/// Parses a quoted-string (with backslash escapes) or a bare token; returns it and the rest.
fn parse_value(s: &str) -> (String, &str) {
    if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match (escaped, c) {
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => return (value, &body[i + 1..]),
                (false, c) => value.push(c),
            }
        }
        (value, "") // unterminated: take what there is
    } else {
        let end = s.find(',').unwrap_or(s.len());
        (s[..end].trim().to_string(), &s[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quoted_commas_and_several_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="reg.example.com",scope="repository:a/b:pull,push", Basic realm="x\"y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example.com/token");
        assert_eq!(c[0].params["service"], "reg.example.com");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].params["realm"], "x\"y");
    }

    #[test]
    fn parses_bare_tokens_case_and_garbage_without_panicking() {
        let c = parse_challenges("BASIC Realm=registry");
        assert_eq!(
            c,
            vec![Challenge {
                scheme: "basic".into(),
                params: [("realm".into(), "registry".into())].into()
            }]
        );
        for junk in [
            "",
            "=",
            "==,,",
            "Bearer realm=\"unterminated",
            "\"",
            "Bearer ,,, =x",
            "é=ü",
        ] {
            let _ = parse_challenges(junk);
        }
        assert_eq!(
            parse_challenges("Bearer realm=\"unterminated")[0].params["realm"],
            "unterminated"
        );
    }
}
