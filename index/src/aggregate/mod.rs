//! FT.AGGREGATE: the pipeline after the query has matched documents.
//!
//! Owns the argument parser ([`parse`] into a [`Plan`]), the APPLY / FILTER expression language
//! ([`Expr`]), the reducers and [`execute`]. Knows nothing of RESP or the keyspace: the server
//! parses with [`parse`], checks field references with [`Plan::check_fields`], loads
//! [`Plan::fields_needed`] (plus `__key`) into one [`Row`] per matching document, runs
//! [`execute`] and formats the rows ([`Value::format`] gives each cell's exact text).
//!
//! ```
//! use engram_index::aggregate::{execute, parse, Row, Value};
//!
//! let args: Vec<&[u8]> = ["GROUPBY", "1", "@cat", "REDUCE", "SUM", "1", "@price", "AS", "total"]
//!     .iter()
//!     .map(|a| a.as_bytes())
//!     .collect();
//! let plan = parse(&args).unwrap();
//! let rows = vec![
//!     Row::from_pairs([("cat", Value::Str("a".into())), ("price", Value::Num(1.5))]),
//!     Row::from_pairs([("cat", Value::Str("a".into())), ("price", Value::Num(2.0))]),
//! ];
//! let out = execute(&plan, rows).unwrap();
//! assert_eq!(out.rows[0].get("total").and_then(Value::format).as_deref(), Some("3.5"));
//! ```
//!
//! Where the reference is nondeterministic (group order without SORTBY, TOLIST order,
//! RANDOM_SAMPLE), this module is deterministic (first appearance), and tests must not rely
//! on either.

mod exec;
mod expr;
mod plan;
mod time;
mod value;

pub use exec::{execute, Aggregated};
pub use expr::{BinOp, EvalError, Expr, Function};
pub use plan::{
    parse, Arrange, CursorOptions, FieldsNeeded, GroupBy, LoadField, Plan, Reducer, ReducerKind,
    SchemaField, SortKey, Step, DEFAULT_SORT_LIMIT, MAX_LIMIT,
};
pub use value::{compare_values, format_number, Row, Value};

#[cfg(test)]
mod tests;
