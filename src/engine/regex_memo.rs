//! Compiled regexes by pattern, shared by every audit.
//!
//! Every reconcile compiles its policies again (identity regexes, certificate claims,
//! `urlRegex`), and compiling a regex was the largest single cost of a reconcile that changes
//! nothing. A pattern compiles to the same matcher every time, so reusing it cannot change a
//! verdict; an invalid pattern is not kept and fails the same way on every call.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

/// Above this many patterns the memo starts over (policies hold a handful each).
const MAX_PATTERNS: usize = 1024;

static MEMO: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Default::default);

/// `Regex::new(pattern)`, compiled once per pattern.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    if let Some(re) = lock().get(pattern) {
        return Ok(re.clone());
    }
    let re = Regex::new(pattern)?;
    let mut m = lock();
    if m.len() >= MAX_PATTERNS {
        m.clear();
    }
    m.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, Regex>> {
    MEMO.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_as_compiled_afresh_and_an_invalid_one_keeps_failing() {
        let invalid = String::from("(unclosed");
        let expected = Regex::new(&invalid).unwrap_err().to_string();
        for _ in 0..2 {
            let re = compile("^https://github\\.com/org/").unwrap();
            assert!(re.is_match("https://github.com/org/repo"));
            assert!(!re.is_match("https://github.com/other/repo"));
            assert_eq!(re.as_str(), "^https://github\\.com/org/");
            assert_eq!(compile(&invalid).unwrap_err().to_string(), expected);
        }
        assert!(!lock().contains_key("(unclosed"));
    }
}
