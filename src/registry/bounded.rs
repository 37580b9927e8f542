//! Untrusted text (registry content, references, headers) is cut short before it is echoed
//! into an error, evidence or a status, so no input can make a message arbitrarily long.

/// Characters of untrusted text kept in a message.
pub(crate) const ECHO_CHARS: usize = 100;

/// Characters kept of a whole message built around untrusted text (see [`cap`]).
pub(crate) const MESSAGE_CHARS: usize = 1000;

/// `s` cut to [`ECHO_CHARS`] characters, with `…` when something was cut.
pub(crate) fn truncate(s: &str) -> String {
    cut_chars(s, ECHO_CHARS)
}

/// A whole message cut to [`MESSAGE_CHARS`]: for messages that embed text from a library error
/// (the Sigstore and serde errors quote their input) rather than one known untrusted field.
pub(crate) fn cap(s: String) -> String {
    if s.len() <= MESSAGE_CHARS {
        return s;
    }
    cut_chars(&s, MESSAGE_CHARS)
}

/// `s` cut to `chars` characters, with `…` when something was cut.
pub(crate) fn cut_chars(s: &str, chars: usize) -> String {
    let mut t: String = s.chars().take(chars).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// A JSON error's text with the quoted part cut like [`truncate`] (serde's type errors quote the
/// offending value, which may be megabytes of registry content), its position kept.
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    format!(
        "{} at line {} column {}",
        truncate(msg),
        e.line(),
        e.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_by_characters_and_marks_the_cut() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(300);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), ECHO_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(cap("x".repeat(5000)).chars().count(), MESSAGE_CHARS + 1);
        assert_eq!(cap("short".into()), "short");
    }

    #[test]
    fn json_errors_keep_their_position_but_not_the_quoted_value() {
        let json = format!("{{\"a\": 1, \"layers\": \"{}\"}}", "x".repeat(10_000));
        let e = serde_json::from_str::<std::collections::BTreeMap<String, u8>>(&json).unwrap_err();
        let text = json_error(&e);
        assert!(text.len() < 200 && text.contains("line 1 column"), "{text}");
    }
}
