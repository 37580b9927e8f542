//! Distinguished names as the Notary Project compares them: a trusted identity
//! `x509.subject: C=US, ST=WA, O=Example, CN=signer` (RFC 4514 syntax) is a set of attributes,
//! and it matches a signing certificate whose subject contains every one of them (the subject
//! may have more). Like notation-go: `S` means `ST`; `C`, `ST` and `O` are mandatory; an
//! attribute may appear once; multi-valued RDNs (`+`) are refused.

use std::collections::BTreeMap;

/// A distinguished name as attribute → value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(pub BTreeMap<String, String>);

impl Dn {
    /// Whether every attribute of `self` is in `other` with the same value.
    pub fn is_subset_of(&self, other: &Dn) -> bool {
        self.0.iter().all(|(k, v)| other.0.get(k) == Some(v))
    }

    /// `self` against a certificate subject's attributes ([`super::certs::Cert`]).
    pub fn matches_subject(&self, subject: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(k, v)| subject.get(k) == Some(v))
    }
}

/// Longest DN accepted (bounded work on a hostile trust policy).
const MAX_DN: usize = 4096;

/// Parses an RFC 4514 distinguished name with the Notary Project's rules.
pub fn parse_dn(s: &str) -> Result<Dn, String> {
    if s.len() > MAX_DN {
        return Err(format!("distinguished name longer than {MAX_DN} bytes"));
    }
    let mut out = BTreeMap::new();
    for rdn in split_unescaped(s, &[',', ';']) {
        if rdn.trim().is_empty() {
            return Err(format!(
                "{:?}: an empty RDN",
                crate::registry::bounded::truncate(s)
            ));
        }
        if split_unescaped(&rdn, &['+']).len() > 1 {
            return Err(format!(
                "{:?}: multi-valued RDNs are not supported",
                crate::registry::bounded::truncate(s)
            ));
        }
        let (k, v) = rdn.split_once('=').ok_or_else(|| {
            format!(
                "{:?}: RDN {:?} has no '='",
                crate::registry::bounded::truncate(s),
                crate::registry::bounded::truncate(&rdn)
            )
        })?;
        let mut key = k.trim().to_string();
        if key == "S" {
            key = "ST".into();
        }
        let value = unescape(v.trim())?;
        if key.is_empty() || value.is_empty() {
            return Err(format!(
                "{:?}: an empty attribute",
                crate::registry::bounded::truncate(s)
            ));
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!(
                "{:?}: attribute {key} appears twice",
                crate::registry::bounded::truncate(s)
            ));
        }
    }
    for m in ["C", "ST", "O"] {
        if !out.contains_key(m) {
            return Err(format!(
                "{:?} has no {m}: a trusted identity needs C, ST (or S) and O",
                crate::registry::bounded::truncate(s)
            ));
        }
    }
    Ok(Dn(out))
}

/// Splits on separators not preceded by a backslash (escapes are kept for [`unescape`]).
fn split_unescaped(s: &str, seps: &[char]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if !escaped && seps.contains(&c) {
            parts.push(String::new());
            continue;
        }
        escaped = !escaped && c == '\\';
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

/// RFC 4514 escapes: `\,` and friends, and `\XX` hex pairs.
fn unescape(v: &str) -> Result<String, String> {
    let mut bytes = vec![];
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let a = chars.next().ok_or("a trailing backslash")?;
        if a.is_ascii_hexdigit() {
            let b = chars
                .next()
                .filter(|b| b.is_ascii_hexdigit())
                .ok_or("an incomplete hex escape")?;
            let pair: String = [a, b].iter().collect();
            bytes.push(u8::from_str_radix(&pair, 16).map_err(|e| e.to_string())?);
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(a.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8(bytes).map_err(|_| "an escape that is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_of_the_subject_matches_and_a_different_value_does_not() {
        let id = parse_dn("C=US, ST=WA, O=Notary").unwrap();
        let subject = parse_dn("C=US,ST=WA,L=Seattle,O=Notary,CN=provenance-test").unwrap();
        assert!(id.is_subset_of(&subject));
        let other = parse_dn("C=US, ST=WA, O=Other").unwrap();
        assert!(!other.is_subset_of(&subject));
    }

    #[test]
    fn s_is_st_and_escapes_are_decoded() {
        let dn = parse_dn(r"C=US, S=WA, O=Acme\, Inc., CN=a\2Bb").unwrap();
        assert_eq!(dn.0["ST"], "WA");
        assert_eq!(dn.0["O"], "Acme, Inc.");
        assert_eq!(dn.0["CN"], "a+b");
    }

    #[test]
    fn mandatory_duplicate_and_multi_valued_are_refused() {
        assert!(parse_dn("CN=x, O=y").unwrap_err().contains("no C"));
        assert!(parse_dn("C=US, ST=WA, O=a, O=b")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_dn("C=US+ST=WA, O=a")
            .unwrap_err()
            .contains("multi-valued"));
        assert!(parse_dn("C=US, ST=WA, O").is_err());
        assert!(parse_dn(&"C=US,".repeat(2000)).is_err());
    }
}
