//! The FT query language (dialect 2): parsing a query string with its PARAMS into the
//! [`ast::Query`] tree.

pub mod ast;
mod parser;

pub use parser::{parse, ParseError};
