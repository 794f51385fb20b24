//! Dialect-2 query parser (placeholder: being written).

use std::collections::HashMap;

use super::ast::Query;

/// A query that does not parse, with RediSearch's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Parses `text` with `params` (the FT.SEARCH `PARAMS` pairs) substituted for `$name`.
pub fn parse(text: &str, params: &HashMap<String, Vec<u8>>) -> Result<Query, ParseError> {
    let _ = (text, params);
    Err(ParseError("Syntax error".into()))
}
