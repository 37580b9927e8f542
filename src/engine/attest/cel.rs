//! CEL conditions of an attestation requirement (`conditions: [{expression, message}]`), with
//! the `cel` crate (cel-rust): compiled when a policy is compiled (an invalid one makes the
//! policy invalid), evaluated against each verified attestation.
//!
//! Variables: `statement` (the in-toto statement), `predicate` (its `predicate`), `subject` (its
//! `subject` list), `certificate` (the signer's Fulcio claims, camelCase keys as in the status;
//! an absent claim is an absent key, so `has(certificate.runnerEnvironment)` tells; an empty
//! map for a key-signed attestation).
//!
//! Fail closed: an evaluation error (a missing key, a type mismatch), a result that is not a
//! boolean, or an evaluation that does not finish within its deadline is [`Outcome::Error`],
//! which the requirement turns into `Unknown/ConditionError`, never into a pass.
//!
//! Cost, bounded twice. Statically: the expression is bounded in length ([`MAX_EXPRESSION`])
//! and its cost must be linear in the statement's size ([`MAX_DEGREE`], see
//! [`super::cel_cost`]: nested macros, and `in`, list `==`, `matches()` … over the whole data
//! inside a macro, are refused when the policy is compiled); the statement is bounded by the
//! discovery's byte budget. At run time: the statement is converted to CEL values once per
//! attestation for all its conditions, and they are evaluated on a thread of their own (at
//! most [`MAX_EVALUATORS`] at once, never a tokio worker) with a deadline ([`DEADLINE`]). The
//! deadline is the backstop: an evaluation that overruns it is reported as `Unknown` at once and
//! finishes (bounded by the static check) on its thread, holding its place, so overruns cannot
//! pile up.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cel::{Context, Env, Program, Value};

use super::cel_cost;
use super::CertificateClaims;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION: usize = 1024;
/// Highest cost degree accepted (1: linear in the statement's size).
pub const MAX_DEGREE: usize = 1;
/// How long the conditions of one attestation may take, conversion of the statement included.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Evaluations running at once (each on its own thread).
pub const MAX_EVALUATORS: usize = 2;
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

/// What the conditions of one attestation said, in order: all hold, or the first that does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllOutcome {
    /// Every condition holds.
    Hold,
    /// The condition at this index is false.
    Fails(usize),
    /// The condition at this index could not be evaluated (the index is that of the first
    /// condition not known to hold when the deadline passed).
    Error(usize, String),
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
        let c = Self::compile_unbounded(expression, message)?;
        let degree = cel_cost::degree(c.program.expression());
        if degree > MAX_DEGREE {
            return Err(format!(
                "condition {:?}: its cost grows with the statement's size to the power {degree}; \
                 at most {MAX_DEGREE} is accepted (nested macros, or in, ==, matches(), \
                 contains(), + or size() over anything but the current element inside a macro)",
                quote(expression)
            ));
        }
        Ok(c)
    }

    /// [`Self::compile`] without the cost check: only for tests of the run-time bounds.
    pub(crate) fn compile_unbounded(
        expression: &str,
        message: Option<&str>,
    ) -> Result<Self, String> {
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
        Ok(Self {
            expression: expression.to_string(),
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
            program: Arc::new(program),
        })
    }

    /// Evaluates the condition against one attestation, on the caller's thread, without a
    /// deadline (see [`evaluate_all`] for the bounded evaluation).
    pub fn evaluate(&self, inputs: &Inputs<'_>) -> Outcome {
        match context(inputs.statement, inputs.certificate) {
            Ok(ctx) => self.run(&ctx),
            Err(e) => Outcome::Error(e),
        }
    }

    fn run(&self, ctx: &Context<'_, '_>) -> Outcome {
        match self.program.execute(ctx) {
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

/// The variables of one attestation, converted to CEL values once for all its conditions.
fn context(
    statement: &serde_json::Value,
    certificate: Option<&CertificateClaims>,
) -> Result<Context<'static, 'static>, String> {
    let mut ctx = Context::with_env(env());
    let empty = serde_json::Value::Object(Default::default());
    let no_subject = serde_json::Value::Array(vec![]);
    let add = |ctx: &mut Context<'_, '_>, name: &str, v: &serde_json::Value| {
        ctx.add_variable(name, v)
            .map_err(|e| format!("variable {name}: {}", quote(&e.to_string())))
    };
    add(&mut ctx, "statement", statement)?;
    add(
        &mut ctx,
        "predicate",
        statement.get("predicate").unwrap_or(&empty),
    )?;
    add(
        &mut ctx,
        "subject",
        statement.get("subject").unwrap_or(&no_subject),
    )?;
    match certificate {
        Some(c) => ctx
            .add_variable("certificate", c)
            .map_err(|e| format!("variable certificate: {}", quote(&e.to_string())))?,
        None => add(&mut ctx, "certificate", &empty)?,
    }
    Ok(ctx)
}

/// Evaluates `conditions` in order against one attestation (the statement converted once),
/// stopping at the first that does not hold: on an evaluator thread of its own, within
/// `deadline` (waiting for a free evaluator included). Blocks the caller up to `deadline`:
/// call it off the async workers.
pub fn evaluate_all(
    conditions: &[Condition],
    statement: Arc<serde_json::Value>,
    certificate: Option<CertificateClaims>,
    deadline: Duration,
) -> AllOutcome {
    if conditions.is_empty() {
        return AllOutcome::Hold;
    }
    let until = Instant::now() + deadline;
    let overran = |at: usize| {
        AllOutcome::Error(
            at,
            format!("the evaluation did not finish within its deadline of {deadline:?}"),
        )
    };
    let Some(permit) = Permit::acquire(until) else {
        return overran(0);
    };
    let conditions: Vec<Condition> = conditions.to_vec();
    let count = conditions.len();
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let spawned = std::thread::Builder::new()
        .name("cel-evaluator".into())
        .spawn(move || {
            let _permit = permit;
            let ctx = match context(&statement, certificate.as_ref()) {
                Ok(ctx) => ctx,
                Err(e) => {
                    let _ = tx.send((0, Outcome::Error(e)));
                    return;
                }
            };
            for (i, c) in conditions.iter().enumerate() {
                let outcome = c.run(&ctx);
                let stop = outcome != Outcome::Holds;
                // The caller may have given up (deadline): then nobody listens, and the work
                // left is bounded by the static cost check.
                if tx.send((i, outcome)).is_err() || stop {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        return AllOutcome::Error(0, format!("no evaluator thread: {e}"));
    }
    let mut held = 0;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Outcome::Holds)) => {
                held = i + 1;
                if held == count {
                    return AllOutcome::Hold;
                }
            }
            Ok((i, Outcome::Fails)) => return AllOutcome::Fails(i),
            Ok((i, Outcome::Error(e))) => return AllOutcome::Error(i, e),
            Err(mpsc::RecvTimeoutError::Timeout) => return overran(held),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return AllOutcome::Error(held, "the evaluator stopped without an answer".into())
            }
        }
    }
}

/// Runs `f`, which may block on [`evaluate_all`], without holding up a tokio worker: on a
/// multi-threaded runtime the worker hands its other tasks over first (`block_in_place`);
/// elsewhere (a current-thread runtime, no runtime) it just runs.
pub fn off_the_async_workers<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A place among the [`MAX_EVALUATORS`], held by an evaluation until its thread ends.
struct Permit;

fn slots() -> &'static (Mutex<usize>, Condvar) {
    static SLOTS: OnceLock<(Mutex<usize>, Condvar)> = OnceLock::new();
    SLOTS.get_or_init(|| (Mutex::new(0), Condvar::new()))
}

impl Permit {
    /// Waits for a free place until `until`; `None` when none came free in time.
    fn acquire(until: Instant) -> Option<Permit> {
        let (busy, freed) = slots();
        let mut n = busy.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_EVALUATORS {
            let left = until.checked_duration_since(Instant::now())?;
            n = freed
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *n += 1;
        Some(Permit)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (busy, freed) = slots();
        let mut n = busy.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        freed.notify_one();
    }
}

#[cfg(test)]
#[path = "cel_tests.rs"]
mod tests;
