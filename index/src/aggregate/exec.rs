//! Running a [`Plan`] over the initial rows: APPLY, FILTER, GROUPBY with its reducers,
//! SORTBY / LIMIT, then the projection to reply rows and the reference's `total` figure.
//!
//! Deterministic by construction: groups, TOLIST and RANDOM_SAMPLE keep first-appearance
//! order, where the reference uses hash order or randomness.

use std::cmp::Ordering;

use super::expr::{EvalError, Expr};
use super::plan::{Arrange, GroupBy, Plan, ReducerKind, Step};
use super::value::{compare_values, Row, Value};

/// The result of [`execute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregated {
    /// Reply rows, each holding exactly the fields to send, in order.
    pub rows: Vec<Row>,
    /// The number RediSearch puts first in the reply (`total_results` in RESP3); see
    /// [`execute`] for its (odd) rule.
    pub total: usize,
    /// Set when the result set was cut short by a row lacking a field an expression reads,
    /// after some rows were already produced: RESP3 lists it under `warning`; RESP2 shows
    /// nothing.
    pub warning: Option<String>,
}

/// A row plus the ordinal of the source row (document or group) it came from, which the
/// reference's `total` depends on.
struct Tracked {
    row: Row,
    source: usize,
}

/// Runs the plan's steps in order over `rows` (one per matching document, in result order,
/// holding `__key` and the fields of [`Plan::fields_needed`] the document has).
///
/// `total` mimics the reference: with a GROUPBY, the number of groups of the last one; else
/// with a SORTBY, the number of input rows; else the 1-based position among the input rows of
/// the row that became the first reply row (the reference counts documents read until it
/// produced its first row), or the number of input rows when no row is left.
///
/// A row lacking a field an APPLY / FILTER expression reads ends the reference's result
/// stream with `<field>: has no value, consider using EXISTS if applicable`: when a later
/// SORTBY or GROUPBY waits for the whole stream, or no row came out before it, that is the
/// command's error; otherwise the rows produced before it are the reply and the text becomes
/// [`Aggregated::warning`]. A LIMIT already satisfied before that row hides it.
pub fn execute(plan: &Plan, rows: Vec<Row>) -> Result<Aggregated, String> {
    let input_count = rows.len();
    let mut current: Vec<Tracked> =
        rows.into_iter().enumerate().map(|(source, row)| Tracked { row, source }).collect();
    let mut groups_total: Option<usize> = None;
    let mut sorted = false;
    // The error that ended the stream early, if one did.
    let mut cut_short: Option<String> = None;
    for step in &plan.steps {
        current = match step {
            Step::Load(_) | Step::LoadAll => current,
            Step::Apply { expr, name } => apply(expr, name, current, &mut cut_short)?,
            Step::Filter(expr) => filter(expr, current, &mut cut_short)?,
            Step::GroupBy(group) => {
                if let Some(error) = cut_short {
                    return Err(error);
                }
                let grouped = group_by(group, current);
                groups_total = Some(grouped.len());
                grouped
            }
            Step::Arrange(arrange) => {
                if !arrange.keys.is_empty() {
                    if let Some(error) = cut_short {
                        return Err(error);
                    }
                    sorted = true;
                }
                if let (_, Some(count)) = arrange.window() {
                    // The pager stops pulling rows once it has enough: the failing row is
                    // never reached.
                    if current.len() >= arrange.window().0 + count {
                        cut_short = None;
                    }
                }
                arrange_rows(arrange, current)
            }
        };
    }
    if let Some(error) = &cut_short {
        if current.is_empty() {
            return Err(error.clone());
        }
    }
    let total = match groups_total {
        Some(groups) => groups,
        None if sorted => input_count,
        None => current.first().map_or(input_count, |first| first.source + 1),
    };
    let rows = current.into_iter().map(|tracked| project(plan, tracked.row)).collect();
    Ok(Aggregated { rows, total, warning: cut_short })
}

/// What happens to the rows of a streaming step when one row lacks a field the expression
/// reads: the reference ends the result set there, silently, keeping the rows before it.
fn stream_until_missing(
    expr: &Expr,
    rows: Vec<Tracked>,
    cut_short: &mut Option<String>,
    mut on_value: impl FnMut(Tracked, Value, &mut Vec<Tracked>),
) -> Result<Vec<Tracked>, String> {
    let mut kept = Vec::with_capacity(rows.len());
    for tracked in rows {
        match expr.eval(&tracked.row) {
            Ok(value) => on_value(tracked, value, &mut kept),
            Err(EvalError::MissingField(field)) => {
                *cut_short =
                    Some(format!("{field}: has no value, consider using EXISTS if applicable"));
                break;
            }
            Err(EvalError::Fatal(message)) => return Err(message),
        }
    }
    Ok(kept)
}

fn apply(
    expr: &Expr,
    name: &str,
    rows: Vec<Tracked>,
    cut_short: &mut Option<String>,
) -> Result<Vec<Tracked>, String> {
    stream_until_missing(expr, rows, cut_short, |mut tracked, value, kept| {
        tracked.row.set(name, value);
        kept.push(tracked);
    })
}

fn filter(
    expr: &Expr,
    rows: Vec<Tracked>,
    cut_short: &mut Option<String>,
) -> Result<Vec<Tracked>, String> {
    stream_until_missing(expr, rows, cut_short, |tracked, value, kept| {
        if value.is_truthy() {
            kept.push(tracked);
        }
    })
}

fn group_by(group: &GroupBy, rows: Vec<Tracked>) -> Vec<Tracked> {
    // Groups in order of first appearance; the index maps a key's identity to its group.
    let mut index: std::collections::HashMap<Vec<String>, usize> = Default::default();
    let mut members: Vec<(Vec<Value>, Vec<Row>)> = Vec::new();
    for tracked in rows {
        let key: Vec<Value> =
            group.keys.iter().map(|k| tracked.row.get(k).cloned().unwrap_or(Value::Null)).collect();
        let identity: Vec<String> = key.iter().map(Value::identity).collect();
        let slot = *index.entry(identity).or_insert_with(|| {
            members.push((key, Vec::new()));
            members.len() - 1
        });
        members[slot].1.push(tracked.row);
    }
    members
        .into_iter()
        .enumerate()
        .map(|(source, (key, group_rows))| {
            let mut row = Row::new();
            for (name, value) in group.keys.iter().zip(key) {
                row.set(name.clone(), value);
            }
            for reducer in &group.reducers {
                row.set(reducer.name.clone(), reduce(&reducer.kind, &group_rows));
            }
            Tracked { row, source }
        })
        .collect()
}

fn numbers<'a>(rows: &'a [Row], field: &'a str) -> impl Iterator<Item = f64> + 'a {
    rows.iter().filter_map(move |row| row.get(field).and_then(Value::to_number))
}

fn present<'a>(rows: &'a [Row], field: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    rows.iter().filter_map(move |row| row.get(field)).filter(|v| **v != Value::Null)
}

fn distinct<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(v.identity())).cloned().collect()
}

fn reduce(kind: &ReducerKind, rows: &[Row]) -> Value {
    use ReducerKind::*;
    match kind {
        Count => Value::Num(rows.len() as f64),
        CountDistinct(f) | CountDistinctish(f) => {
            Value::Num(distinct(present(rows, f)).len() as f64)
        }
        Sum(f) => Value::Num(numbers(rows, f).sum()),
        Min(f) => Value::Num(numbers(rows, f).reduce(f64::min).unwrap_or(0.0)),
        Max(f) => Value::Num(numbers(rows, f).reduce(f64::max).unwrap_or(0.0)),
        // The reference divides by every row of the group, including rows lacking the field.
        Avg(f) => Value::Num(numbers(rows, f).sum::<f64>() / rows.len().max(1) as f64),
        Stddev(f) => {
            let values: Vec<f64> = numbers(rows, f).collect();
            if values.len() < 2 {
                return Value::Num(0.0);
            }
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            Value::Num((squares / (n - 1.0)).sqrt())
        }
        Quantile(f, q) => {
            let mut values: Vec<f64> = numbers(rows, f).collect();
            if values.is_empty() {
                return Value::Num(0.0);
            }
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let rank = (q * values.len() as f64).ceil() as usize;
            Value::Num(values[rank.saturating_sub(1).min(values.len() - 1)])
        }
        ToList(f) => Value::List(distinct(present(rows, f))),
        RandomSample(f, size) => Value::List(present(rows, f).take(*size).cloned().collect()),
        FirstValue { field, by: None } => {
            rows.first().and_then(|row| row.get(field)).cloned().unwrap_or(Value::Null)
        }
        FirstValue { field, by: Some((by, ascending)) } => {
            let mut best: Option<(&Row, Value)> = None;
            for row in rows {
                let key = row.get(by).cloned().unwrap_or(Value::Null);
                let better = match &best {
                    None => true,
                    Some((_, best_key)) => {
                        let order = compare_values(&key, best_key);
                        if *ascending {
                            order.is_lt()
                        } else {
                            order.is_gt()
                        }
                    }
                };
                if better {
                    best = Some((row, key));
                }
            }
            best.and_then(|(row, _)| row.get(field).cloned()).unwrap_or(Value::Null)
        }
    }
}

fn arrange_rows(arrange: &Arrange, mut rows: Vec<Tracked>) -> Vec<Tracked> {
    if !arrange.keys.is_empty() {
        rows.sort_by(|a, b| {
            for key in &arrange.keys {
                let order = match (a.row.get(&key.field), b.row.get(&key.field)) {
                    (None, None) => Ordering::Equal,
                    // Rows lacking the field go last in either direction.
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => {
                        let order = compare_values(x, y);
                        if key.ascending {
                            order
                        } else {
                            order.reverse()
                        }
                    }
                };
                if order.is_ne() {
                    return order;
                }
            }
            Ordering::Equal
        });
    }
    let (offset, count) = arrange.window();
    let rows = rows.into_iter().skip(offset);
    match count {
        Some(count) => rows.take(count).collect(),
        None => rows.collect(),
    }
}

/// Keeps the fields the reply shows, in the reference's order.
fn project(plan: &Plan, row: Row) -> Row {
    let order = plan.output_fields();
    let mut fields: Vec<(String, Value)> = Vec::with_capacity(row.len());
    let mut rest: Vec<(String, Value)> = Vec::new();
    let mut slots: Vec<Option<Value>> = vec![None; order.len()];
    for (name, value) in row.into_fields() {
        match order.iter().position(|n| *n == name) {
            Some(i) => slots[i] = Some(value),
            None if plan.shows_all_fields() && name != "__key" => rest.push((name, value)),
            None => {}
        }
    }
    for (name, slot) in order.iter().zip(slots) {
        if let Some(value) = slot {
            fields.push((name.clone(), value));
        }
    }
    fields.extend(rest);
    Row::from_pairs(fields)
}
