//! Acknowledged exceptions, written in the file itself next to what they excuse:
//!
//! ```yaml
//!         # provenance-auditor: allow identity-too-broad — merge-queue refs are signed on purpose
//!         subject: '^https://github\.com/acme/app/\.github/workflows/release\.yml@.+$'
//! ```
//!
//! A comment alone on its line applies to the next line that is not a comment; a comment at the
//! end of a line applies to that line. It names the rule ids it allows (comma-separated) and
//! must say why after a dash. An acknowledged finding is still printed, marked acknowledged with
//! the reason, and does not fail the run; an acknowledgement that excuses nothing, or that gives
//! no reason, is itself reported, so an exception can neither go stale nor be silent.

use super::finding::{rules, Finding};

/// The marker that starts an acknowledgement inside a YAML comment.
pub const MARKER: &str = "provenance-auditor:";

/// One acknowledgement comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The file.
    pub file: String,
    /// The line of the comment.
    pub comment_line: u64,
    /// The line whose findings it excuses.
    pub line: u64,
    /// The rule ids it allows.
    pub rules: Vec<String>,
    /// Why (empty: not given, and then it excuses nothing).
    pub reason: String,
}

/// Every acknowledgement comment in `text`.
pub fn scan(file: &str, text: &str) -> Vec<Ack> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![];
    for (i, line) in lines.iter().enumerate() {
        let Some((before, comment)) = comment_of(line) else {
            continue;
        };
        let Some(rest) = comment.trim_start().strip_prefix(MARKER) else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix("allow") else {
            out.push(Ack {
                file: file.to_string(),
                comment_line: i as u64 + 1,
                line: i as u64 + 1,
                rules: vec![],
                reason: String::new(),
            });
            continue;
        };
        let (ids, reason) = split_reason(rest);
        let target = if before.trim().is_empty() {
            // The next line that is not blank or a comment.
            lines[i + 1..]
                .iter()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map_or(i + 1, |j| i + 1 + j)
        } else {
            i
        };
        out.push(Ack {
            file: file.to_string(),
            comment_line: i as u64 + 1,
            line: target as u64 + 1,
            rules: ids
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            reason: reason.trim().to_string(),
        });
    }
    out
}

/// `(text before the comment, comment text)` when the line has a `#` comment: at the start or
/// after whitespace, outside quotes.
fn comment_of(line: &str) -> Option<(&str, &str)> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => {
                return Some((&line[..i], &line[i + 1..]));
            }
            _ => {}
        }
        prev = c;
    }
    None
}

/// `allow a, b — why` → (`a, b`, `why`): the reason follows an em dash, ` - `, ` -- ` or `:`.
fn split_reason(rest: &str) -> (&str, &str) {
    for sep in ["—", " -- ", " - ", ":"] {
        if let Some((ids, why)) = rest.split_once(sep) {
            return (ids, why);
        }
    }
    (rest, "")
}

/// Marks the findings the acknowledgements excuse; returns what is wrong with the
/// acknowledgements themselves (no reason, unknown rule, excusing nothing).
pub fn apply(findings: &mut [Finding], acks: &[Ack]) -> Vec<Finding> {
    let mut problems = vec![];
    for a in acks {
        let at = (a.file.as_str(), a.comment_line);
        let problem = |message: String| {
            Finding::error(
                rules::ACKNOWLEDGEMENT,
                at,
                &a.file,
                message,
                "write `# provenance-auditor: allow <rule-id> — <why this is acceptable>` on the line of the finding or the line above it",
            )
            .warning()
        };
        let unknown: Vec<&String> = a
            .rules
            .iter()
            .filter(|r| !rules::ALL.iter().any(|(id, _)| id == r) || !acknowledgeable(r))
            .collect();
        if a.rules.is_empty() || !unknown.is_empty() {
            problems.push(problem(format!(
                "not an acknowledgement lint understands (rule ids {unknown:?}): nothing is excused"
            )));
            continue;
        }
        if a.reason.is_empty() {
            problems.push(problem(
                "an acknowledgement without a reason excuses nothing".into(),
            ));
            continue;
        }
        let mut used = false;
        for f in findings
            .iter_mut()
            .filter(|f| f.file == a.file && f.line == a.line && a.rules.iter().any(|r| r == f.rule))
        {
            f.acknowledged = Some(a.reason.clone());
            used = true;
        }
        if !used {
            problems.push(problem(format!(
                "allows {} on line {}, but there is no such finding there (any more)",
                a.rules.join(", "),
                a.line
            )));
        }
    }
    problems
}

/// Input problems and the acknowledgements' own findings cannot be excused.
fn acknowledgeable(rule: &str) -> bool {
    ![
        rules::INPUT_ERROR,
        rules::INPUT_SKIPPED,
        rules::ACKNOWLEDGEMENT,
    ]
    .contains(&rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "spec:\n  verify:\n    # provenance-auditor: allow identity-too-broad — merge queue\n    # (reviewed by security)\n    subject: '^x@.+$'\n    issuer: 'a#b' # provenance-auditor: allow regex-unanchored, drift - why\n    # provenance-auditor: allow drift\n    x: 1\n    # provenance-auditor: nonsense\n";

    #[test]
    fn comments_name_rules_reasons_and_the_line_they_excuse() {
        let acks = scan("f.yaml", TEXT);
        assert_eq!(acks.len(), 4, "{acks:?}");
        assert_eq!(
            (acks[0].line, acks[0].rules.as_slice()),
            (5, &["identity-too-broad".to_string()][..])
        );
        assert_eq!(acks[0].reason, "merge queue");
        assert_eq!(
            (acks[1].line, acks[1].rules.len(), acks[1].reason.as_str()),
            (6, 2, "why")
        );
        assert_eq!((acks[2].line, acks[2].reason.as_str()), (8, ""));
        assert!(acks[3].rules.is_empty());
        // A `#` inside a quoted scalar is not a comment.
        assert!(scan("f", "a: '# provenance-auditor: allow drift — x'\n").is_empty());
    }

    #[test]
    fn acknowledged_findings_are_marked_and_bad_acknowledgements_reported() {
        let f = |line, rule| Finding::error(rule, ("f.yaml", line), "s", "m", "fix");
        let mut findings = vec![
            f(5, rules::IDENTITY_TOO_BROAD),
            f(5, rules::REGEX_UNANCHORED),
            f(8, rules::DRIFT),
        ];
        let problems = apply(&mut findings, &scan("f.yaml", TEXT));
        assert_eq!(findings[0].acknowledged.as_deref(), Some("merge queue"));
        assert_eq!(
            findings[1].acknowledged, None,
            "another rule is not excused"
        );
        assert_eq!(findings[2].acknowledged, None, "no reason, no excuse");
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 3, "{messages:?}");
        assert!(messages[0].contains("no such finding"), "line 6 has none");
        assert!(messages[1].contains("without a reason"));
        assert!(messages[2].contains("nothing is excused"));
        assert!(problems
            .iter()
            .all(|p| p.severity == crate::lint::Severity::Warning));
    }
}
