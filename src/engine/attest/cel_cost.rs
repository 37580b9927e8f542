//! The static cost bound of a CEL condition: its evaluation must stay linear in the size of
//! the statement (up to 32 MiB, chosen by whoever writes to the registry), whatever the data.
//!
//! CEL has no loops or recursion of its own; work grows with the data in two ways only:
//! operators whose cost is linear in an operand (`in`, `==` on lists, `matches()`, `contains()`,
//! `+` concatenation, `size()`, conversions …) and macros (`all`, `exists`, `exists_one`, `map`,
//! `filter`) that run their body once per element. A linear operator inside a macro is quadratic
//! unless its operands are the *element's own parts*: the elements of one list are disjoint
//! parts of the statement, so operations on each element's parts add up to one pass over the
//! data, while an operation on something else (`predicate`, or another list) repeats the whole
//! of it once per element.
//!
//! So every expression gets a degree (the power of the data's size its cost grows with) and
//! every value a [`Reach`]: a constant, a part of the current element, or possibly the whole
//! data. A linear operator adds a degree only when an operand may be the whole data (an
//! equality or prefix comparison only when every operand may be); a macro multiplies its body
//! by the size of its range unless the range is a list literal (bounded by the expression). A
//! `map` whose elements may be the whole data (`L.map(x, predicate)`) counts as quadratic:
//! whoever uses its result pays the whole data once per element. [`degree`] is checked when a
//! policy is compiled: at most 1 is accepted.

use cel::common::ast::{EntryExpr, Expr};
use cel::IdedExpr;

/// How much of the data a value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    /// A literal, or a value of constant size (a boolean, a count).
    Const,
    /// A part of the current element of the innermost macro: summed over the elements, one
    /// pass over the data.
    Part,
    /// Possibly the whole data (a top-level variable, or a field of one).
    Whole,
}

/// Operators and functions of constant cost, whatever their operands.
const CONSTANT_TIME: [&str; 14] = [
    "_&&_",
    "_||_",
    "!_",
    "-_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "_?_:_",
    "_[_]",
    "_[?_]",
    "_?._",
    "@not_strictly_false",
    "has",
];

/// Comparisons whose cost is bounded by the smaller operand: linear in the data only when
/// every operand may be the whole of it.
const BOUNDED_BY_SMALLER: [&str; 8] = [
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "startsWith",
    "endsWith",
];

/// What the analysis knows in a scope: the variables the macros bind.
#[derive(Clone, Default)]
struct Scope<'a> {
    /// The innermost macro's element (and its second variable, if any), with their reach.
    elements: Vec<(&'a str, Reach)>,
    /// The accumulators of the enclosing macros (the macro's own machinery: constant).
    accumulators: Vec<&'a str>,
}

struct Cost {
    degree: usize,
    reach: Reach,
}

const fn cost(degree: usize, reach: Reach) -> Cost {
    Cost { degree, reach }
}

/// The degree of `e`'s cost in the size of the data (0: constant, 1: linear, 2: quadratic …).
pub fn degree(e: &IdedExpr) -> usize {
    walk(e, &Scope::default()).degree
}

fn walk<'a>(e: &'a IdedExpr, scope: &Scope<'a>) -> Cost {
    match &e.expr {
        Expr::Literal(_) | Expr::Unspecified => cost(0, Reach::Const),
        Expr::Ident(name) => {
            if scope.accumulators.iter().any(|a| a == name) {
                return cost(0, Reach::Const);
            }
            let reach = scope
                .elements
                .iter()
                .rev()
                .find(|(v, _)| v == name)
                .map_or(Reach::Whole, |(_, r)| *r);
            cost(0, reach)
        }
        // A field of a value is as much of the data as the value (a map lookup: constant).
        Expr::Select(s) => walk(&s.operand, scope),
        Expr::List(l) => many(l.elements.iter(), scope),
        Expr::Map(m) => entries(&m.entries, scope),
        Expr::Struct(s) => entries(&s.entries, scope),
        Expr::Call(call) => {
            let operands: Vec<Cost> = call
                .target
                .iter()
                .map(|t| walk(t, scope))
                .chain(call.args.iter().map(|a| walk(a, scope)))
                .collect();
            let degree = operands.iter().map(|c| c.degree).max().unwrap_or(0);
            let widest = operands
                .iter()
                .map(|c| c.reach)
                .max()
                .unwrap_or(Reach::Const);
            let name = call.func_name.as_str();
            if CONSTANT_TIME.contains(&name) {
                // A choice or an index is as much of the data as what it yields.
                let reach = if matches!(name, "_?_:_" | "_[_]" | "_[?_]" | "_?._") {
                    widest
                } else {
                    Reach::Const
                };
                return cost(degree, reach);
            }
            let linear_in_whole = if BOUNDED_BY_SMALLER.contains(&name) {
                !operands.is_empty() && operands.iter().all(|c| c.reach == Reach::Whole)
            } else if name == "@in" {
                // `x in list`: one pass over the list, each comparison bounded by `x`.
                operands.get(1).is_some_and(|c| c.reach == Reach::Whole)
            } else {
                widest == Reach::Whole
            };
            let reach = if name == "_+_" { widest } else { Reach::Const };
            cost(degree + usize::from(linear_in_whole), reach)
        }
        Expr::Comprehension(c) => {
            let range = walk(&c.iter_range, scope);
            // The elements of a range of the data are its parts; of a list literal, what it
            // lists (a bounded number of values, each as much of the data as it is).
            let literal = matches!(c.iter_range.expr, Expr::List(_));
            let element = match range.reach {
                Reach::Const => Reach::Const,
                _ if literal => range.reach,
                _ => Reach::Part,
            };
            let mut inner = scope.clone();
            inner.elements = vec![(c.iter_var.as_str(), element)];
            if let Some(v2) = &c.iter_var2 {
                inner.elements.push((v2.as_str(), element));
            }
            inner.accumulators.push(c.accu_var.as_str());
            let body = [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .map(|x| walk(x, &inner))
                .max_by_key(|x| (x.degree, x.reach))
                .unwrap_or(cost(0, Reach::Const));
            let per_element = usize::from(!literal && range.reach != Reach::Const);
            // A `map` (or a `filter`) yields what its step appends: the elements again (parts),
            // or values that may each be the whole data, which costs like a linear operator on
            // the whole data once per element.
            let repeats_whole = body.reach == Reach::Whole;
            let degree = range
                .degree
                .max(body.degree + per_element + usize::from(repeats_whole && per_element == 1));
            let reach = match body.reach {
                Reach::Const => Reach::Const,
                _ => Reach::Part,
            };
            cost(degree, reach)
        }
    }
}

fn many<'a>(items: impl Iterator<Item = &'a IdedExpr>, scope: &Scope<'a>) -> Cost {
    items
        .map(|i| walk(i, scope))
        .fold(cost(0, Reach::Const), |a, b| {
            cost(a.degree.max(b.degree), a.reach.max(b.reach))
        })
}

fn entries<'a>(entries: &'a [cel::common::ast::IdedEntryExpr], scope: &Scope<'a>) -> Cost {
    let exprs = entries.iter().flat_map(|e| match &e.expr {
        EntryExpr::StructField(f) => vec![&f.value],
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
    });
    many(exprs, scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::Env;

    fn degree_of(expression: &str) -> usize {
        let program = Env::stdlib().compile(expression).unwrap();
        degree(program.expression())
    }

    #[test]
    fn linear_conditions_are_degree_one_at_most() {
        for e in [
            "statement.predicateType == 'https://slsa.dev/provenance/v1'",
            "predicate.buildDefinition.externalParameters.workflow.ref.startsWith('refs/tags/v')",
            "predicate.buildDefinition.resolvedDependencies.exists(d, d.digest.gitCommit == '0123abcd')",
            "subject.all(s, s.digest.sha256.matches('^[a-f0-9]{64}$'))",
            "subject.exists(s, s.digest.sha256 == predicate.digest)",
            "predicate.materials.filter(m, m.uri.startsWith('git+')).all(m, m.digest.sha1.size() == 40)",
            "predicate.materials.map(m, m.uri).exists(u, u.contains('github.com'))",
            "'github-hosted' in [certificate.runnerEnvironment, 'x']",
            "predicate.items.size() > 0 && predicate.name in predicate.names",
            "[predicate.a, predicate.b].all(x, x.contains('y'))",
        ] {
            assert!(degree_of(e) <= 1, "{e}: {}", degree_of(e));
        }
    }

    #[test]
    fn quadratic_conditions_are_degree_two() {
        for e in [
            // Nested macros over the data.
            "predicate.a.all(x, predicate.b.exists(y, x == y))",
            // A linear operator on the whole data once per element.
            "predicate.items.all(x, x in predicate.items)",
            "predicate.items.all(x, predicate.items == predicate.other)",
            "predicate.items.all(x, predicate.blob.matches('a+b'))",
            "predicate.items.all(x, predicate.blob.contains(x))",
            "predicate.items.all(x, x.name.matches(predicate.pattern))",
            "predicate.items.exists(x, size(predicate.blob) > 1)",
            "predicate.items.all(x, (predicate.blob + x).size() > 0)",
            // Each element mapped to the whole data: its consumer pays it once per element.
            "predicate.items.map(x, predicate.blob).exists(b, b == 'x')",
        ] {
            assert!(degree_of(e) >= 2, "{e}: {}", degree_of(e));
        }
    }
}
