//! CEL conditions of an attestation requirement (`conditions: [{expression, message}]`), with
//! the `cel` crate (cel-rust): compiled when a policy is compiled (an invalid one makes the
//! policy invalid), evaluated against each verified attestation.
//!
//! Variables: `statement` (the in-toto statement), `predicate` (its `predicate`), `subject` (its
//! `subject` list), `certificate` (the signer's Fulcio claims, camelCase keys as in the status;
//! an absent claim is an absent key, so `has(certificate.runnerEnvironment)` tells; an empty
//! map for a key-signed attestation).
//!
//! Fail closed: an evaluation error (a missing key, a type mismatch) or a result that is not a
//! boolean is [`Outcome::Error`], which the requirement turns into `Unknown/ConditionError`,
//! never into a pass.
//!
//! Cost: CEL has no loops or recursion, so its cost is bounded by the expression and the data.
//! The statement is already bounded (the discovery's byte budget); the expression is bounded in
//! length ([`MAX_EXPRESSION`]) and in comprehension nesting ([`MAX_NESTING`]: `exists`, `all`,
//! `map`, `filter` inside another would cost the product of two list sizes — quadratic in an
//! SBOM's size, which the registry's owner chooses).

use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, Env, IdedExpr, Program, Value};

use super::CertificateClaims;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION: usize = 1024;
/// Deepest comprehension (macro) nesting accepted: one level keeps evaluation linear in the
/// statement's size.
pub const MAX_NESTING: usize = 1;
/// Longest quote of an expression or an error in a message.
const MAX_QUOTE: usize = 160;

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    /// The expression as written.
    pub expression: String,
    /// The policy author's words for a failure, if any.
    pub message: Option<String>,
    program: Arc<Program>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.expression)
    }
}

/// What one condition said about one attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The expression is `true`.
    Holds,
    /// The expression is `false`.
    Fails,
    /// It could not be evaluated (an error, or not a boolean): could not tell.
    Error(String),
}

/// What the expressions see of one attestation.
pub struct Inputs<'a> {
    /// The in-toto statement.
    pub statement: &'a serde_json::Value,
    /// The signer's certificate claims (keyless), if any.
    pub certificate: Option<&'a CertificateClaims>,
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

/// `s` cut to [`MAX_QUOTE`] bytes on a character boundary, on one line.
pub fn quote(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.len() <= MAX_QUOTE {
        return one_line;
    }
    let mut end = MAX_QUOTE;
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &one_line[..end])
}

impl Condition {
    /// Compiles an expression; `Err` says why in a bounded message naming it.
    pub fn compile(expression: &str, message: Option<&str>) -> Result<Self, String> {
        let named = |why: String| format!("condition {:?}: {why}", quote(expression));
        if expression.trim().is_empty() {
            return Err(named("empty expression".into()));
        }
        if expression.len() > MAX_EXPRESSION {
            return Err(named(format!(
                "{} bytes, longer than the {MAX_EXPRESSION} accepted",
                expression.len()
            )));
        }
        let program = env()
            .compile(expression)
            .map_err(|e| named(quote(&e.to_string())))?;
        let depth = nesting(program.expression());
        if depth > MAX_NESTING {
            return Err(named(format!(
                "macros (exists, all, map, filter) nested {depth} deep; at most {MAX_NESTING} \
                 is accepted, so that evaluation stays linear in the statement's size"
            )));
        }
        Ok(Self {
            expression: expression.to_string(),
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
            program: Arc::new(program),
        })
    }

    /// Evaluates the condition against one attestation.
    pub fn evaluate(&self, inputs: &Inputs<'_>) -> Outcome {
        let mut ctx = Context::with_env(env());
        let empty = serde_json::Value::Object(Default::default());
        let statement = inputs.statement;
        let vars: [(&str, Result<(), String>); 4] = [
            ("statement", add(&mut ctx, "statement", statement)),
            (
                "predicate",
                add(
                    &mut ctx,
                    "predicate",
                    statement.get("predicate").unwrap_or(&empty),
                ),
            ),
            (
                "subject",
                add(
                    &mut ctx,
                    "subject",
                    statement
                        .get("subject")
                        .unwrap_or(&serde_json::Value::Array(vec![])),
                ),
            ),
            (
                "certificate",
                match inputs.certificate {
                    Some(c) => ctx
                        .add_variable("certificate", c)
                        .map_err(|e| e.to_string()),
                    None => add(&mut ctx, "certificate", &empty),
                },
            ),
        ];
        if let Some((name, Err(e))) = vars.iter().find(|(_, r)| r.is_err()) {
            return Outcome::Error(format!("variable {name}: {}", quote(e)));
        }
        match self.program.execute(&ctx) {
            Ok(Value::Bool(true)) => Outcome::Holds,
            Ok(Value::Bool(false)) => Outcome::Fails,
            Ok(other) => Outcome::Error(format!(
                "the result is not a boolean but {}",
                quote(&format!("{other:?}"))
            )),
            Err(e) => Outcome::Error(quote(&e.to_string())),
        }
    }

    /// What a failure says: the author's message, else the expression.
    pub fn describe(&self) -> String {
        match &self.message {
            Some(m) => format!("{} ({})", quote(m), quote(&self.expression)),
            None => quote(&self.expression),
        }
    }
}

fn add(ctx: &mut Context<'_, '_>, name: &str, value: &serde_json::Value) -> Result<(), String> {
    ctx.add_variable(name, value).map_err(|e| e.to_string())
}

/// The deepest comprehension nesting in `e` (0: none).
fn nesting(e: &IdedExpr) -> usize {
    match &e.expr {
        Expr::Comprehension(c) => {
            let inner = [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .map(nesting)
                .max()
                .unwrap_or(0);
            // The range is evaluated once, outside the loop.
            nesting(&c.iter_range).max(inner + 1)
        }
        Expr::Call(call) => call
            .target
            .iter()
            .map(|t| nesting(t))
            .chain(call.args.iter().map(nesting))
            .max()
            .unwrap_or(0),
        Expr::List(l) => l.elements.iter().map(nesting).max().unwrap_or(0),
        Expr::Map(m) => entries(&m.entries),
        Expr::Struct(s) => entries(&s.entries),
        Expr::Select(s) => nesting(&s.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 0,
    }
}

fn entries(entries: &[cel::common::ast::IdedEntryExpr]) -> usize {
    entries
        .iter()
        .map(|e| match &e.expr {
            EntryExpr::StructField(f) => nesting(&f.value),
            EntryExpr::MapEntry(m) => nesting(&m.key).max(nesting(&m.value)),
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "cel_tests.rs"]
mod tests;
