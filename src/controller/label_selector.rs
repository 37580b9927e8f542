//! The text form of a Kubernetes label selector (`kubectl -l`, Flux's `--watch-label-selector`):
//! `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key`, `!key`,
//! joined by commas. kube-runtime sends the text to the API server as it is but has no parser;
//! this one lets `run` refuse a malformed selector at start-up (instead of a watch the API
//! server refuses forever) and tells which label keys a selector reads (see
//! [`super::shard`]).

use kube::core::{Expression, Selector};

/// The longest label value, and the longest name part of a key.
const NAME_MAX: usize = 63;
/// The longest prefix (a DNS subdomain) of a key.
const PREFIX_MAX: usize = 253;

/// Parses a selector; `Err` says which term is wrong. An empty text selects everything.
pub fn parse(text: &str) -> Result<Selector, String> {
    let mut selector = Selector::default();
    for term in split_terms(text)? {
        selector.extend(parse_term(term.trim())?);
    }
    Ok(selector)
}

/// The label keys an expression reads.
pub fn key(expr: &Expression) -> &str {
    match expr {
        Expression::In(k, _)
        | Expression::NotIn(k, _)
        | Expression::Equal(k, _)
        | Expression::NotEqual(k, _)
        | Expression::Exists(k)
        | Expression::DoesNotExist(k) => k,
    }
}

/// Splits on the commas that are not inside a `( … )` value set.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let (mut terms, mut depth, mut start) = (vec![], 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(format!("unbalanced parentheses in {text:?}"));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced parentheses in {text:?}"));
    }
    terms.push(&text[start..]);
    // "" selects everything; a stray comma ("a=b,") is a typo worth refusing.
    if terms.len() == 1 && terms[0].trim().is_empty() {
        return Ok(vec![]);
    }
    if terms.iter().any(|t| t.trim().is_empty()) {
        return Err(format!("empty term in {text:?}"));
    }
    Ok(terms)
}

fn parse_term(term: &str) -> Result<Expression, String> {
    if let Some(k) = term.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(label_key(k.trim())?));
    }
    for (op, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((k, set)) = term.split_once(op) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("{term:?}: the values of {op:?} go in parentheses"))?;
            let values = inner
                .split(',')
                .map(|v| label_value(v.trim()))
                .collect::<Result<_, _>>()?;
            let k = label_key(k.trim())?;
            return Ok(if negated {
                Expression::NotIn(k, values)
            } else {
                Expression::In(k, values)
            });
        }
    }
    for (op, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (label_key(k.trim())?, label_value(v.trim())?);
            return Ok(if negated {
                Expression::NotEqual(k, v)
            } else {
                Expression::Equal(k, v)
            });
        }
    }
    Ok(Expression::Exists(label_key(term)?))
}

/// `[prefix/]name`: the prefix a DNS subdomain, the name 1–63 alphanumerics, `-`, `_`, `.`,
/// beginning and ending with an alphanumeric.
fn label_key(k: &str) -> Result<String, String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        let ok = !p.is_empty()
            && p.len() <= PREFIX_MAX
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            return Err(format!("{k:?}: the key's prefix is not a DNS subdomain"));
        }
    }
    if name.is_empty() || !is_name(name) {
        return Err(format!("{k:?} is not a label key"));
    }
    Ok(k.to_string())
}

/// A value: empty, or a name as in [`label_key`].
fn label_value(v: &str) -> Result<String, String> {
    if v.is_empty() || is_name(v) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?} is not a label value"))
    }
}

fn is_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= NAME_MAX
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars()
            .all(|c| alnum(c) || c == '-' || c == '_' || c == '.')
}

#[cfg(test)]
#[path = "label_selector_tests.rs"]
mod tests;
