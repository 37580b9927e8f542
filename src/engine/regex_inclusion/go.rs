//! Go RE2 syntax (what Flux compiles with `regexp`) next to Rust `regex` syntax (what this
//! auditor compiles): [`check`] finds where the two disagree, [`to_rust`] writes a Go regex as
//! the Rust regex that accepts exactly the same strings, or says why it cannot.
//!
//! The controller re-verifies with Rust what source-controller enforces with Go, so a regex only
//! one of them accepts — or that they read differently — is a defect either way ([`check`]).
//! Rust's parser is the base; its AST is then searched for what Go refuses or reads otherwise
//! (Go `regexp/syntax`, Perl flags, as `regexp.Compile` uses):
//! - class set operations `[a&&b]`, `[a--b]`, `[a~~b]` and nested classes `[a[b]]`: Go has
//!   none; it reads `&&`/`~~`/`[` as literals (`[a&&b]` accepts `&`) or refuses the range;
//! - `\<`, `\>`, `\b{start}`, `\b{end}`, `\b{start-half}`, `\b{end-half}`: Rust word
//!   boundaries; Go reads `\<` as a literal `<` and `\b{start}` as `\b` then literal `{start}`;
//! - flags `x`, `u`, `R`: Go knows only `i`, `m`, `s`, `U`;
//! - `\u`/`\U` hex escapes: Go has only `\x`;
//! - a repetition of a repetition (`a**`, `a{2}{3}`): Go refuses "invalid nested repetition";
//! - repeat counts above 1000: Go refuses "invalid repeat count";
//! - `\p{…}` names with `=`/`:` (`\p{sc=Greek}`) or binary properties (`\p{Alphabetic}`):
//!   Go knows categories and scripts only (long category names such as `Letter` from Go 1.25);
//! - capture names with `.`, `[`, `]`: Go allows word characters only; `(?<name>…)` (without
//!   `P`) only from Go 1.22.
//!
//! And the reverse: Rust refuses `\Q…\E` and octal escapes (`\012`), which Go accepts. Both
//! refuse look-around and backreferences.
//!
//! [`to_rust`] also carries what both accept with different meanings: Go's `\d`, `\w`, `\s`
//! and `\b` are ASCII-only, Rust's are Unicode-aware; and a `{` that does not start a valid
//! repeat is a literal in Go.

use regex_syntax::ast::{
    self, parse::Parser, visit, AssertionKind, Ast, ClassSetItem, ClassUnicodeKind, Flag,
    FlagsItemKind, GroupKind, HexLiteralKind, LiteralKind, RepetitionKind, RepetitionRange,
};

/// A problem with a regex: `error` = Flux or this auditor refuses it, or they read it
/// differently; otherwise a portability warning (depends on Flux's Go version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexProblem {
    /// Definitely wrong (not only for old Go versions).
    pub error: bool,
    /// What is wrong and who refuses it.
    pub message: String,
}

/// Go's limit on `{n,m}` counts.
const GO_MAX_REPEAT: u32 = 1000;

/// Every problem with `re` (empty = valid in both, same meaning).
pub fn check(re: &str) -> Vec<RegexProblem> {
    let ast = match Parser::new().parse(re) {
        Ok(ast) => ast,
        Err(e) => {
            let go_accepts = if re.contains("\\Q") {
                " (Go accepts `\\Q…\\E` quoting; Rust does not: escape the characters instead)"
            } else if has_octal_escape(re) {
                " (Go reads it as an octal escape; Rust does not: write `\\x{…}`)"
            } else {
                ""
            };
            return vec![RegexProblem {
                error: true,
                message: format!(
                    "this auditor's regex engine refuses it: {}{go_accepts}",
                    e.kind()
                ),
            }];
        }
    };
    let mut problems = visit(&ast, GoDifferences::default()).unwrap_or_default();
    if let Err(e) = regex::Regex::new(re) {
        // The AST parsed but translation failed (e.g. an unknown \p name, size limit).
        problems.push(RegexProblem {
            error: true,
            message: format!(
                "this auditor's regex engine refuses it: {}",
                e.to_string().lines().last().unwrap_or("")
            ),
        });
    }
    problems.dedup();
    problems
}

fn has_octal_escape(re: &str) -> bool {
    let b = re.as_bytes();
    b.windows(2).enumerate().any(|(i, w)| {
        w[0] == b'\\' && (b'0'..=b'7').contains(&w[1]) && (i == 0 || b[i - 1] != b'\\')
    })
}

#[derive(Default)]
struct GoDifferences {
    problems: Vec<RegexProblem>,
}

impl GoDifferences {
    fn go_refuses(&mut self, what: impl Into<String>) {
        self.problems.push(RegexProblem {
            error: true,
            message: what.into(),
        });
    }

    fn unicode_class(&mut self, kind: &ClassUnicodeKind) {
        match kind {
            ClassUnicodeKind::OneLetter(_) => {}
            ClassUnicodeKind::NamedValue { name, value, .. } => self.go_refuses(format!(
                "Flux (Go) refuses `\\p{{{name}={value}}}`: Go has no property=value form; write `\\p{{{value}}}`"
            )),
            ClassUnicodeKind::Named(name) => {
                let category = regex::Regex::new(&format!(r"\p{{gc={name}}}")).is_ok();
                let script = regex::Regex::new(&format!(r"\p{{sc={name}}}")).is_ok();
                let short = name.len() <= 2 || name == "Any";
                if !category && !script && name != "Any" && !name.eq_ignore_ascii_case("ascii") && !name.eq_ignore_ascii_case("assigned") {
                    self.go_refuses(format!(
                        "Flux (Go) refuses `\\p{{{name}}}`: Go knows Unicode categories and scripts only, not binary properties"
                    ));
                } else if category && !short {
                    self.problems.push(RegexProblem {
                        error: false,
                        message: format!(
                            "`\\p{{{name}}}`: Go accepts long category names only from Go 1.25; a Flux built with an older Go refuses it (use the one- or two-letter category)"
                        ),
                    });
                }
            }
        }
    }
}

impl ast::Visitor for GoDifferences {
    type Output = Vec<RegexProblem>;
    type Err = ();

    fn finish(self) -> Result<Self::Output, ()> {
        Ok(self.problems)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
        match ast {
            Ast::Assertion(a) => {
                let rust_only = match a.kind {
                    AssertionKind::WordBoundaryStartAngle => Some(r"\<"),
                    AssertionKind::WordBoundaryEndAngle => Some(r"\>"),
                    AssertionKind::WordBoundaryStart => Some(r"\b{start}"),
                    AssertionKind::WordBoundaryEnd => Some(r"\b{end}"),
                    AssertionKind::WordBoundaryStartHalf => Some(r"\b{start-half}"),
                    AssertionKind::WordBoundaryEndHalf => Some(r"\b{end-half}"),
                    _ => None,
                };
                if let Some(s) = rust_only {
                    self.go_refuses(format!(
                        "`{s}` is a word boundary in Rust but not in Go (Flux reads it as literal text): use `\\b`"
                    ));
                }
            }
            Ast::Flags(f) => self.flags(&f.flags),
            Ast::Group(g) => match &g.kind {
                GroupKind::NonCapturing(flags) => self.flags(flags),
                GroupKind::CaptureName {
                    starts_with_p,
                    name,
                } => {
                    if !name.name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        self.go_refuses(format!(
                            "Flux (Go) refuses the capture name {:?}: Go allows letters, digits and `_` only",
                            name.name
                        ));
                    }
                    if !starts_with_p {
                        self.problems.push(RegexProblem {
                            error: false,
                            message: "`(?<name>…)` needs Go 1.22 or later; `(?P<name>…)` works in every Go and in Rust".into(),
                        });
                    }
                }
                GroupKind::CaptureIndex(_) => {}
            },
            Ast::Literal(l) => self.literal(l),
            Ast::ClassUnicode(u) => self.unicode_class(&u.kind),
            Ast::Repetition(r) => {
                if matches!(*r.ast, Ast::Repetition(_)) {
                    self.go_refuses(
                        "Flux (Go) refuses a repetition of a repetition (`a**`, `a+{2}`): \"invalid nested repetition operator\"; group it: `(?:a*)*`",
                    );
                }
                if let RepetitionKind::Range(range) = &r.op.kind {
                    let (RepetitionRange::Exactly(n)
                    | RepetitionRange::AtLeast(n)
                    | RepetitionRange::Bounded(_, n)) = range;
                    if *n > GO_MAX_REPEAT {
                        self.go_refuses(format!(
                            "Flux (Go) refuses repeat counts above {GO_MAX_REPEAT} ({n})"
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
        match item {
            ClassSetItem::Bracketed(_) => self.go_refuses(
                "a class nested in a class (`[a[bc]]`) is Rust syntax; Go reads `[` as a literal and ends the class at the first `]`",
            ),
            ClassSetItem::Unicode(u) => self.unicode_class(&u.kind),
            ClassSetItem::Literal(l) => self.literal(l),
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ast::ClassSetBinaryOp) -> Result<(), ()> {
        let sym = match op.kind {
            ast::ClassSetBinaryOpKind::Intersection => "&&",
            ast::ClassSetBinaryOpKind::Difference => "--",
            ast::ClassSetBinaryOpKind::SymmetricDifference => "~~",
        };
        self.go_refuses(format!(
            "`{sym}` inside a class is a Rust set operation; Go has none (it reads `{sym}` as literal characters or refuses the range): list the characters instead"
        ));
        Ok(())
    }
}

impl GoDifferences {
    fn flags(&mut self, flags: &ast::Flags) {
        for item in &flags.items {
            if let FlagsItemKind::Flag(f @ (Flag::IgnoreWhitespace | Flag::Unicode | Flag::CRLF)) =
                &item.kind
            {
                let c = match f {
                    Flag::IgnoreWhitespace => 'x',
                    Flag::Unicode => 'u',
                    _ => 'R',
                };
                self.go_refuses(format!(
                    "Flux (Go) refuses the flag `{c}`: Go knows only i, m, s and U"
                ));
            }
        }
    }

    fn literal(&mut self, l: &ast::Literal) {
        match l.kind {
            LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
            | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
                self.go_refuses(format!(
                    "Flux (Go) refuses `\\u`/`\\U` escapes: write `\\x{{{:X}}}`",
                    l.c as u32
                ))
            }
            _ => {}
        }
    }
}

/// Why a Go regex has no faithful Rust form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Untranslatable(pub String);

/// The Rust regex that accepts exactly the strings Go's `regexp` accepts for `go` (same
/// search semantics), or why there is none we can vouch for.
///
/// Go-only syntax is rewritten (`\Q…\E` quoting, octal escapes, a `{` that is no repeat), and
/// so is what both read differently (Go's ASCII `\d`, `\w`, `\s`, `\b`); anything [`check`]
/// reports as an error is refused, since Go would read it otherwise or not at all.
pub fn to_rust(go: &str) -> Result<String, Untranslatable> {
    let lexed = prelex(go)?;
    let ast = Parser::new()
        .parse(&lexed)
        .map_err(|e| Untranslatable(format!("not a valid regex: {}", e.kind())))?;
    let problems = visit(&ast, GoDifferences::default()).unwrap_or_default();
    if let Some(p) = problems.iter().find(|p| p.error) {
        return Err(Untranslatable(p.message.clone()));
    }
    let mut rewrites = visit(&ast, AsciiPerl::default()).unwrap_or_default();
    rewrites.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = lexed;
    for (start, end, text) in rewrites {
        out.replace_range(start..end, &text);
    }
    regex_syntax::Parser::new()
        .parse(&out)
        .map_err(|e| Untranslatable(format!("not a valid regex: {e}")))?;
    Ok(out)
}

/// Rewrites the Go-only lexical forms into Rust syntax: `\Q…\E`, octal escapes, and a `{` that
/// does not start a valid repeat (a literal in Go).
fn prelex(go: &str) -> Result<String, Untranslatable> {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len());
    // Inside a bracketed class: where its items start (a `]` there is a literal).
    let mut class: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                return Err(Untranslatable("trailing backslash".into()));
            };
            if n == 'Q' {
                if class.is_some() {
                    return Err(Untranslatable(
                        "Go refuses `\\Q` inside a character class".into(),
                    ));
                }
                let rest: String = chars[i + 2..].iter().collect();
                let (quoted, used) = match rest.find("\\E") {
                    Some(end) => (&rest[..end], end + 2),
                    None => (rest.as_str(), rest.len()),
                };
                out.push_str(&regex_syntax::escape(quoted));
                i += 2 + rest[..used].chars().count();
                continue;
            }
            if let Some((value, len)) = go_octal(&chars[i + 1..]) {
                out.push_str(&format!("\\x{{{value:X}}}"));
                i += 1 + len;
                continue;
            }
            out.push(c);
            out.push(n);
            i += 2;
            continue;
        }
        match class {
            Some(start) => {
                if c == '[' && chars.get(i + 1) == Some(&':') {
                    // A POSIX class `[:alpha:]` inside the class: copied whole.
                    if let Some(len) = find(&chars[i + 2..], &[':', ']']) {
                        out.extend(&chars[i..i + 2 + len + 2]);
                        i += 2 + len + 2;
                        continue;
                    }
                }
                if c == ']' && i > start {
                    class = None;
                }
                out.push(c);
                i += 1;
            }
            None => {
                if c == '[' {
                    out.push('[');
                    i += 1;
                    if chars.get(i) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    class = Some(i);
                    continue;
                }
                if c == '{' && !is_go_repeat(&chars[i..]) {
                    out.push_str("\\{");
                } else {
                    out.push(c);
                }
                i += 1;
            }
        }
    }
    Ok(out)
}

fn find(hay: &[char], needle: &[char]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's octal escape after a backslash: `\0`, `\0NN`, or `\NNN` with a non-zero first digit and
/// at least two digits (a lone `\1` is a backreference, which Go refuses). `(value, length)`.
fn go_octal(after: &[char]) -> Option<(u32, usize)> {
    let digit = |i: usize| after.get(i).and_then(|c| c.to_digit(8));
    let first = digit(0)?;
    if first != 0 && digit(1).is_none() {
        return None;
    }
    let mut value = first;
    let mut len = 1;
    while len < 3 {
        match digit(len) {
            Some(d) => {
                value = value * 8 + d;
                len += 1;
            }
            None => break,
        }
    }
    Some((value, len))
}

/// Whether `{…}` at the start of `s` is a repeat Go accepts: `{n}`, `{n,}` or `{n,m}`.
fn is_go_repeat(s: &[char]) -> bool {
    let text: String = s.iter().take(24).collect();
    let Some(body) = text.strip_prefix('{').and_then(|t| t.split_once('}')) else {
        return false;
    };
    let (min, max) = body.0.split_once(',').unwrap_or((body.0, "0"));
    !min.is_empty()
        && min.bytes().all(|b| b.is_ascii_digit())
        && max.bytes().all(|b| b.is_ascii_digit())
}

/// Go's Perl classes and word boundaries are ASCII-only: `(start, end, Rust text)` rewrites.
#[derive(Default)]
struct AsciiPerl {
    rewrites: Vec<(usize, usize, String)>,
}

fn perl_set(kind: &ast::ClassPerlKind) -> &'static str {
    match kind {
        ast::ClassPerlKind::Digit => "0-9",
        ast::ClassPerlKind::Space => r"\t\n\x0C\r ",
        ast::ClassPerlKind::Word => "0-9A-Za-z_",
    }
}

impl ast::Visitor for AsciiPerl {
    type Output = Vec<(usize, usize, String)>;
    type Err = ();

    fn finish(self) -> Result<Self::Output, ()> {
        Ok(self.rewrites)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
        let (span, text) = match ast {
            Ast::ClassPerl(p) => (
                p.span,
                format!(
                    "[{}{}]",
                    if p.negated { "^" } else { "" },
                    perl_set(&p.kind)
                ),
            ),
            Ast::Assertion(a) if a.kind == AssertionKind::WordBoundary => {
                (a.span, r"(?-u:\b)".into())
            }
            Ast::Assertion(a) if a.kind == AssertionKind::NotWordBoundary => {
                (a.span, r"(?-u:\B)".into())
            }
            _ => return Ok(()),
        };
        self.rewrites
            .push((span.start.offset, span.end.offset, text));
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
        if let ClassSetItem::Perl(p) = item {
            // Inside a class a negated set needs a nested class (Rust syntax).
            let text = if p.negated {
                format!("[^{}]", perl_set(&p.kind))
            } else {
                perl_set(&p.kind).to_string()
            };
            self.rewrites
                .push((p.span.start.offset, p.span.end.offset, text));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(re: &str) -> usize {
        check(re).iter().filter(|p| p.error).count()
    }

    #[test]
    fn portable_regexes_are_clean() {
        for re in [
            r"^https://github\.com/o/r/\.github/workflows/x\.yml@refs/heads/main$",
            r"^https://token\.actions\.githubusercontent\.com$",
            r"(?i)^[a-f0-9]{40}$",
            r"^(?:a|b)+\pL\p{Greek}[[:alpha:]]\x{41}\/-$",
            r"(?P<ref>refs/tags/v[0-9]+)",
            r"a{1000}",
            r"[a-b-c]",
        ] {
            assert_eq!(check(re), vec![], "{re}");
        }
    }

    #[test]
    fn rust_only_constructs_are_refused() {
        for re in [
            r"[a-z&&[^x]]",
            r"[a-z--x]",
            r"[a~~b]",
            r"[a[bc]]",
            r"\<word\>",
            r"\b{start}x",
            r"(?x) a b",
            r"(?u)a",
            r"(?R)a$",
            r"\u0041",
            r"a**",
            r"a{1001}",
            r"\p{sc=Greek}",
            r"\p{Alphabetic}",
            r"(?P<a.b>x)",
        ] {
            assert!(errors(re) >= 1, "{re}: {:?}", check(re));
        }
    }

    #[test]
    fn both_refuse_lookaround_and_backreferences() {
        for re in [r"a(?=b)", r"(?<!a)b", r"(a)\1", r"(", r"a{2,1}", r"\Z"] {
            assert_eq!(errors(re), 1, "{re}: {:?}", check(re));
        }
    }

    #[test]
    fn go_only_constructs_are_reported_as_refused_by_this_auditor() {
        let q = check(r"\Qa.b\E");
        assert!(q[0].error && q[0].message.contains(r"\Q"), "{q:?}");
        let o = check(r"a\012");
        assert!(o[0].error && o[0].message.contains("octal"), "{o:?}");
    }

    #[test]
    fn version_dependent_constructs_are_warnings() {
        let w = check(r"(?<ref>x)\p{Letter}");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().all(|p| !p.error));
    }

    #[test]
    fn go_only_syntax_is_written_as_the_rust_regex_with_the_same_meaning() {
        for (go, rust) in [
            (r"\Qa.b\E+", r"a\.b+"),
            (r"x\Qa)$", r"xa\)\$"),
            (r"a\012b\0", r"a\x{A}b\x{0}"),
            (r"[\101-\132]", r"[\x{41}-\x{5A}]"),
            (r"a{,3}b{2}c{1,}", r"a\{,3}b{2}c{1,}"),
            (r"^{$", r"^\{$"),
            (
                r"\d\D\w\W\s\S",
                r"[0-9][^0-9][0-9A-Za-z_][^0-9A-Za-z_][\t\n\x0C\r ][^\t\n\x0C\r ]",
            ),
            (r"[\d_][^\D]", r"[0-9_][^[^0-9]]"),
            (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
            (r"[[:alpha:]{]", r"[[:alpha:]{]"),
            (r"[]a]", r"[]a]"),
        ] {
            assert_eq!(to_rust(go).as_deref(), Ok(rust), "{go}");
        }
        let ascii_digit = regex::Regex::new(&to_rust(r"^\d$").unwrap()).unwrap();
        assert!(ascii_digit.is_match("7") && !ascii_digit.is_match("٣"));
    }

    #[test]
    fn what_go_reads_otherwise_or_refuses_is_not_translated() {
        for go in [
            r"[a&&b]",
            r"a**",
            r"\1",
            r"[\Qa\E]",
            r"(?x)a",
            r"a(?=b)",
            r"\",
            r"\p{sc=Greek}",
        ] {
            assert!(to_rust(go).is_err(), "{go}: {:?}", to_rust(go));
        }
    }
}
