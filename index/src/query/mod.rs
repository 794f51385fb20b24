//! The FT query language (dialect 2): parsing a query string with its PARAMS into the
//! [`ast::Query`] tree, and rendering a tree the way FT.EXPLAIN does.

pub mod ast;
mod explain;
mod lexer;
mod parser;

pub use explain::{explain, explain_with_stemmer};
pub use parser::{default_stopwords, parse, parse_with, ParseError, ParseOptions};
