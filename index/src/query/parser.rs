//! Dialect-2 query parser: tokens from [`super::lexer`] to the [`Query`] tree, with every
//! `$param` substituted and stopwords dropped.
//!
//! Precedence, loosest first: `|`, juxtaposition (intersection), prefix `-` / `~`, then
//! `@field:` which binds to the one clause after it. A chain is flattened only on its
//! left (`(a b) c` is one intersection of three, `a (b c)` keeps the inner one), which is
//! how RediSearch builds it and so how FT.EXPLAIN shows it.
//!
//! Errors carry RediSearch's texts. A syntax error names the offset of the token where the
//! query stops making sense (the last token when the input ends too early) and, after
//! "near", the text of the latest token that has text, which may be an earlier one.
//!
//! Validation that needs the schema (unknown fields, a field of the wrong type, vector
//! blob sizes, options a FLAT index does not take) is the executor's.

use std::collections::HashMap;
use std::fmt;

use super::ast::{Knn, NumBound, Query, QueryNode, TagMatch, TextMatch};
use super::lexer::{tokenize, Kind, Token};

/// A query that does not parse, with RediSearch's error text (sent as is, with no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn syntax(offset: usize, near: &str) -> Self {
        ParseError(format!("Syntax error at offset {offset} near {near}"))
    }

    fn vector_params(detail: &str) -> Self {
        ParseError(format!("Error parsing vector similarity parameters: {detail}"))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// RediSearch's default English stopwords: dropped from text clauses of a query (and never
/// indexed) unless the index was created with its own STOPWORDS list.
pub fn default_stopwords() -> &'static [&'static str] {
    &[
        "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in",
        "into", "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there",
        "these", "they", "this", "to", "was", "will", "with",
    ]
}

fn is_default_stopword(word: &str) -> bool {
    default_stopwords().contains(&word)
}

/// How to parse, beyond the text and its PARAMS.
pub struct ParseOptions<'a> {
    /// True for a (lower-cased) word that text clauses drop: the index's STOPWORDS.
    pub is_stopword: &'a dyn Fn(&str) -> bool,
}

impl Default for ParseOptions<'_> {
    fn default() -> Self {
        ParseOptions { is_stopword: &is_default_stopword }
    }
}

/// Parses `text` with `params` (the FT.SEARCH `PARAMS` pairs) substituted for `$name`,
/// dropping the default English stopwords.
pub fn parse(text: &str, params: &HashMap<String, Vec<u8>>) -> Result<Query, ParseError> {
    parse_with(text, params, &ParseOptions::default())
}

/// [`parse`] with the index's own options (its stopword list).
pub fn parse_with(
    text: &str,
    params: &HashMap<String, Vec<u8>>,
    options: &ParseOptions<'_>,
) -> Result<Query, ParseError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0, params, options };
    parser.query()
}

/// A clause after stopword removal: `None` when nothing of it is left.
type Clause = Option<QueryNode>;

/// RediSearch lower-cases ASCII letters only (`ÉCOLE` is the term `École`).
fn lowercase(word: &str) -> String {
    word.to_ascii_lowercase()
}

/// A number as RediSearch reads one from a parameter: decimal, or an infinity.
fn parse_number(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        lower if lower.contains("inf") || lower.contains("nan") => None,
        _ => text.parse().ok(),
    }
}

fn is_infinity_word(word: &str) -> bool {
    word.eq_ignore_ascii_case("inf")
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    params: &'a HashMap<String, Vec<u8>>,
    options: &'a ParseOptions<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Kind> {
        self.tokens.get(self.pos + ahead).map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<Kind> {
        let kind = self.tokens.get(self.pos).map(|t| t.kind.clone());
        if kind.is_some() {
            self.pos += 1;
        }
        kind
    }

    /// A syntax error at token `index`; past the end, at the last token.
    fn error_at(&self, index: usize) -> ParseError {
        let Some(last) = self.tokens.len().checked_sub(1) else {
            return ParseError::syntax(0, "");
        };
        let index = index.min(last);
        let near = self.tokens[..=index].iter().rev().find_map(Token::text).unwrap_or("");
        ParseError::syntax(self.tokens[index].offset, near)
    }

    fn error_here(&self) -> ParseError {
        self.error_at(self.pos)
    }

    fn expect(&mut self, wanted: &Kind) -> Result<(), ParseError> {
        if self.peek() == Some(wanted) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    fn param(&self, name: &str) -> Result<&[u8], ParseError> {
        self.params
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| ParseError(format!("No such parameter `{name}`")))
    }

    fn param_text(&self, name: &str) -> Result<String, ParseError> {
        Ok(String::from_utf8_lossy(self.param(name)?).into_owned())
    }

    fn param_number(&self, name: &str) -> Result<f64, ParseError> {
        let text = self.param_text(name)?;
        parse_number(&text).ok_or_else(|| invalid_numeric_param(&text, name))
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        if self.tokens.is_empty() {
            return Ok(Query { filter: QueryNode::Empty, knn: None });
        }
        let parenthesized_star = self.tokens.len() >= 3
            && self.tokens[0].kind == Kind::LParen
            && self.tokens[1].kind == Kind::Star
            && self.tokens[2].kind == Kind::RParen;
        let (filter, knn) = if self.peek() == Some(&Kind::Star) || parenthesized_star {
            // `*` (also `(*)`) stands alone or before `=>[KNN ...]`; anything else breaks
            // after it.
            self.pos += if parenthesized_star { 3 } else { 1 };
            let knn = match self.peek() {
                Some(Kind::Arrow) => Some(self.knn(true)?),
                None => None,
                Some(_) => return Err(self.error_here()),
            };
            (Some(QueryNode::All), knn)
        } else {
            let (filter, clauses) = self.union(&[])?;
            let knn = if self.peek() == Some(&Kind::Arrow) {
                // Only one clause may filter a KNN: `a b=>[KNN ...]` breaks at the `[`.
                if clauses != 1 {
                    return Err(self.error_at(self.pos + 1));
                }
                Some(self.knn(false)?)
            } else {
                None
            };
            (filter, knn)
        };
        if self.pos < self.tokens.len() {
            return Err(self.error_here());
        }
        Ok(Query { filter: filter.unwrap_or(QueryNode::Empty), knn })
    }

    fn starts_clause(&self) -> bool {
        matches!(
            self.peek(),
            Some(
                Kind::Minus
                    | Kind::Tilde
                    | Kind::Term(_)
                    | Kind::Number(_)
                    | Kind::Prefix(_)
                    | Kind::Suffix(_)
                    | Kind::Infix(_)
                    | Kind::Wildcard(_)
                    | Kind::Phrase { .. }
                    | Kind::Modifier(_)
                    | Kind::Param(_)
                    | Kind::ParamPrefix(_)
                    | Kind::LParen
                    | Kind::Percent
            )
        )
    }

    /// `a b | c d`; returns the tree and how many clauses it joined.
    fn union(&mut self, fields: &[String]) -> Result<(Clause, usize), ParseError> {
        let (mut tree, mut clauses) = self.intersection(fields)?;
        while self.peek() == Some(&Kind::Pipe) {
            self.pos += 1;
            let (right, count) = self.intersection(fields)?;
            clauses += count;
            tree = join(tree, right, |node| matches!(node, QueryNode::Union(_)), QueryNode::Union);
        }
        Ok((tree, clauses))
    }

    fn intersection(&mut self, fields: &[String]) -> Result<(Clause, usize), ParseError> {
        let mut tree = None;
        let mut clauses = 0;
        while self.starts_clause() {
            let right = self.unary(fields)?;
            clauses += 1;
            tree = join(
                tree,
                right,
                |node| matches!(node, QueryNode::Intersect(_)),
                QueryNode::Intersect,
            );
        }
        if clauses == 0 {
            return Err(self.error_here());
        }
        Ok((tree, clauses))
    }

    fn unary(&mut self, fields: &[String]) -> Result<Clause, ParseError> {
        match self.peek() {
            Some(Kind::Minus) => {
                self.pos += 1;
                Ok(self.unary(fields)?.map(|node| QueryNode::Not(Box::new(node))))
            }
            Some(Kind::Tilde) => {
                self.pos += 1;
                Ok(self.unary(fields)?.map(|node| QueryNode::Optional(Box::new(node))))
            }
            _ => {
                let mut clause = self.atom(fields)?;
                if self.peek() == Some(&Kind::Arrow) && self.peek_at(1) == Some(&Kind::LBrace) {
                    let attributes = self.attributes()?;
                    apply_attributes(&mut clause, &attributes)?;
                }
                Ok(clause)
            }
        }
    }

    fn text(&self, fields: &[String], matcher: TextMatch) -> Clause {
        Some(QueryNode::Text { fields: fields.to_vec(), matcher })
    }

    fn term(&self, fields: &[String], word: &str) -> Clause {
        let word = lowercase(word);
        if (self.options.is_stopword)(&word) {
            return None;
        }
        self.text(fields, TextMatch::Term(word))
    }

    fn atom(&mut self, fields: &[String]) -> Result<Clause, ParseError> {
        let start = self.pos;
        let Some(kind) = self.next() else {
            return Err(self.error_at(start));
        };
        match kind {
            Kind::Term(word)
                if word.eq_ignore_ascii_case("ismissing") && self.peek() == Some(&Kind::LParen) =>
            {
                self.pos += 1;
                let field = match self.next() {
                    Some(Kind::Modifier(field)) => field,
                    _ => return Err(self.error_at(self.pos - 1)),
                };
                self.expect(&Kind::RParen)?;
                Ok(Some(QueryNode::IsMissing(field)))
            }
            Kind::Term(word) => Ok(self.term(fields, &word)),
            // Numbers are words too, but never stopwords.
            Kind::Number(number) => Ok(self.text(fields, TextMatch::Term(lowercase(&number)))),
            Kind::Prefix(word) => Ok(self.text(fields, TextMatch::Prefix(lowercase(&word)))),
            Kind::Suffix(word) => Ok(self.text(fields, TextMatch::Suffix(lowercase(&word)))),
            Kind::Infix(word) => Ok(self.text(fields, TextMatch::Infix(lowercase(&word)))),
            Kind::Wildcard(pattern) => Ok(self.text(fields, TextMatch::Wildcard(pattern))),
            Kind::Phrase { words, .. } => {
                // Stopwords stay in a phrase: they fix the distance between its words.
                let words = words.iter().map(|w| lowercase(w)).collect();
                Ok(self.text(fields, TextMatch::Phrase(words)))
            }
            Kind::Param(name) => {
                let value = self.param_text(&name)?;
                Ok(self.term(fields, &value))
            }
            Kind::ParamPrefix(name) => {
                let value = self.param_text(&name)?;
                Ok(self.text(fields, TextMatch::Prefix(lowercase(&value))))
            }
            Kind::LParen => {
                let (inner, _) = self.union(fields)?;
                self.expect(&Kind::RParen)?;
                Ok(inner)
            }
            Kind::Percent => self.fuzzy(fields),
            Kind::Modifier(name) => self.field_clause(name),
            _ => Err(self.error_at(start)),
        }
    }

    /// `%word%`, `%%word%%`, `%%%word%%%`: matched as the exact term, as we have no
    /// edit-distance search.
    fn fuzzy(&mut self, fields: &[String]) -> Result<Clause, ParseError> {
        let mut depth = 1;
        while depth < 3 && self.peek() == Some(&Kind::Percent) {
            self.pos += 1;
            depth += 1;
        }
        let word = match self.next() {
            Some(Kind::Term(word) | Kind::Number(word)) => word,
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        for _ in 0..depth {
            self.expect(&Kind::Percent)?;
        }
        Ok(self.text(fields, TextMatch::Term(lowercase(&word))))
    }

    /// After `@name`: `|other` names, then `:clause`, `:{tags}`, `:[range]` or `op number`.
    fn field_clause(&mut self, first: String) -> Result<Clause, ParseError> {
        let mut fields = vec![first];
        while self.peek() == Some(&Kind::Pipe) {
            self.pos += 1;
            match self.next() {
                Some(Kind::Term(name) | Kind::Modifier(name)) => fields.push(name),
                _ => return Err(self.error_at(self.pos.saturating_sub(1))),
            }
        }
        match self.peek() {
            Some(Kind::Compare(op)) => {
                let op = *op;
                self.pos += 1;
                let field = fields.swap_remove(0);
                self.comparison(field, op)
            }
            Some(Kind::Colon) => {
                self.pos += 1;
                match self.peek() {
                    Some(Kind::LBrace) => self.tags(fields.swap_remove(0)),
                    Some(Kind::LBracket) => self.range(fields.swap_remove(0)),
                    _ => self.unary(&fields),
                }
            }
            _ => Err(self.error_here()),
        }
    }

    fn comparison(&mut self, field: String, op: &str) -> Result<Clause, ParseError> {
        let value = match self.next() {
            Some(Kind::Number(text)) => text.parse().map_err(|_| self.error_at(self.pos - 1))?,
            Some(Kind::Param(name)) => self.param_number(&name)?,
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        let at = |inclusive| NumBound { value, inclusive };
        let open = |value| NumBound { value, inclusive: true };
        let (min, max) = match op {
            ">" => (at(false), open(f64::INFINITY)),
            ">=" => (at(true), open(f64::INFINITY)),
            "<" => (open(f64::NEG_INFINITY), at(false)),
            "<=" => (open(f64::NEG_INFINITY), at(true)),
            _ => (at(true), at(true)),
        };
        let node = QueryNode::Numeric { field, min, max };
        Ok(Some(if op == "!=" { QueryNode::Not(Box::new(node)) } else { node }))
    }

    /// `{a | b c | pre* | "x y" | $p}`.
    ///
    /// One word is the tag as written; several words (split by spaces or punctuation)
    /// are lower-cased and joined by single spaces, as RediSearch matches them.
    fn tags(&mut self, field: String) -> Result<Clause, ParseError> {
        self.pos += 1; // `{`
        let mut values = Vec::new();
        loop {
            let mut words: Vec<String> = Vec::new();
            let mut whole: Option<TagMatch> = None;
            loop {
                let affix = |s: &String| Some(s.clone());
                let item = match self.peek() {
                    Some(Kind::Pipe | Kind::RBrace) => break,
                    Some(Kind::Term(word) | Kind::Number(word)) => {
                        words.push(word.clone());
                        None
                    }
                    Some(Kind::Param(name)) => {
                        let name = name.clone();
                        words.push(self.param_text(&name)?);
                        None
                    }
                    Some(Kind::Prefix(word)) => affix(word).map(TagMatch::Prefix),
                    Some(Kind::Suffix(word)) => affix(word).map(TagMatch::Suffix),
                    Some(Kind::Infix(word)) => affix(word).map(TagMatch::Infix),
                    Some(Kind::Phrase { raw, .. }) => affix(raw).map(TagMatch::Exact),
                    Some(Kind::Wildcard(pattern)) => Some(wildcard_tag(pattern)?),
                    _ => return Err(self.error_here()),
                };
                if whole.is_some() || (item.is_some() && !words.is_empty()) {
                    return Err(self.error_here());
                }
                whole = item;
                self.pos += 1;
            }
            let value = match (whole, words.len()) {
                (Some(value), _) => value,
                (None, 0) => return Err(self.error_here()),
                (None, 1) => TagMatch::Exact(words.swap_remove(0)),
                (None, _) => TagMatch::Exact(
                    words.iter().map(|w| lowercase(w)).collect::<Vec<_>>().join(" "),
                ),
            };
            values.push(value);
            match self.next() {
                Some(Kind::Pipe) => continue,
                Some(Kind::RBrace) => break,
                _ => return Err(self.error_at(self.pos.saturating_sub(1))),
            }
        }
        Ok(Some(QueryNode::Tag { field, values }))
    }

    /// `[min max]`, `[value]`, `[lon lat radius unit]` or `[VECTOR_RANGE radius $blob]`.
    fn range(&mut self, field: String) -> Result<Clause, ParseError> {
        self.pos += 1; // `[`
        if let Some(Kind::Term(word)) = self.peek() {
            if word.eq_ignore_ascii_case("VECTOR_RANGE") {
                self.pos += 1;
                return self.vector_range(field);
            }
            if !is_infinity_word(word) {
                // RediSearch's grammar reads `[word number $param]` before it can tell
                // this is no VECTOR_RANGE, so the error lands after the word.
                self.pos += 1;
                if matches!(self.peek(), Some(Kind::Number(_) | Kind::Param(_))) {
                    self.pos += 1;
                }
                return Err(self.error_here());
            }
        }
        let min = self.bound(true)?;
        if self.peek() == Some(&Kind::RBracket) {
            self.pos += 1;
            return Ok(Some(QueryNode::Numeric { field, min, max: min }));
        }
        let max = self.bound(false)?;
        if self.peek() == Some(&Kind::RBracket) {
            self.pos += 1;
            return Ok(Some(QueryNode::Numeric { field, min, max }));
        }
        let radius = self.bound(false)?;
        let unit = match self.next() {
            Some(Kind::Term(unit)) => unit,
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        self.expect(&Kind::RBracket)?;
        let metres_per_unit = match unit.to_ascii_lowercase().as_str() {
            "m" => 1.0,
            "km" => 1000.0,
            "mi" => 1609.34,
            "ft" => 0.3048,
            _ => return Err(ParseError("Invalid GeoFilter unit".into())),
        };
        Ok(Some(QueryNode::Geo {
            field,
            lon: min.value,
            lat: max.value,
            radius_m: radius.value * metres_per_unit,
        }))
    }

    fn bound(&mut self, lower: bool) -> Result<NumBound, ParseError> {
        let inclusive = if self.peek() == Some(&Kind::LParen) {
            self.pos += 1;
            false
        } else {
            true
        };
        let start = self.pos;
        let value = match self.next() {
            Some(Kind::Number(text)) => text.parse().map_err(|_| self.error_at(start))?,
            Some(Kind::Term(word)) if is_infinity_word(&word) => f64::INFINITY,
            Some(Kind::Minus) => match self.next() {
                Some(Kind::Number(text)) => {
                    -text.parse::<f64>().map_err(|_| self.error_at(start + 1))?
                }
                Some(Kind::Term(word)) if is_infinity_word(&word) => f64::NEG_INFINITY,
                _ => return Err(self.error_at(start + 1)),
            },
            Some(Kind::Param(name)) => {
                let text = self.param_text(&name)?;
                // A parameter may carry its own `(`; RediSearch reads the number after it.
                let number = parse_number(text.strip_prefix('(').unwrap_or(&text));
                let wrong_infinity = if lower { f64::INFINITY } else { f64::NEG_INFINITY };
                match number {
                    Some(value) if value != wrong_infinity => value,
                    _ => {
                        let side = if lower { "lower" } else { "upper" };
                        return Err(ParseError(format!("Bad {side} range: {text}")));
                    }
                }
            }
            _ => return Err(self.error_at(start)),
        };
        Ok(NumBound { value, inclusive })
    }

    fn vector_range(&mut self, field: String) -> Result<Clause, ParseError> {
        let radius = match self.next() {
            Some(Kind::Number(text)) => text.parse().map_err(|_| self.error_at(self.pos - 1))?,
            Some(Kind::Param(name)) => self.param_number(&name)?,
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        let blob = match self.next() {
            Some(Kind::Param(name)) => self.param(&name)?.to_vec(),
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        self.expect(&Kind::RBracket)?;
        if radius < 0.0 {
            return Err(ParseError(format!(
                "Error parsing vector similarity query: negative radius ({radius}) given in a \
                 range query"
            )));
        }
        Ok(Some(QueryNode::VectorRange { field, radius, blob, yield_as: None, epsilon: None }))
    }

    /// `=>{$name: value; ...}`: names as written, values with parameters substituted.
    fn attributes(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        self.pos += 2; // `=>{`
        let mut attributes = Vec::new();
        loop {
            match self.next() {
                Some(Kind::RBrace) if !attributes.is_empty() => break,
                Some(Kind::Param(name)) => {
                    self.expect(&Kind::Colon)?;
                    let value = match self.next() {
                        Some(Kind::Term(v) | Kind::Number(v)) => v,
                        Some(Kind::Param(p)) => self.param_text(&p)?,
                        _ => return Err(self.error_at(self.pos.saturating_sub(1))),
                    };
                    attributes.push((name, value));
                    match self.next() {
                        Some(Kind::Semicolon) => {}
                        Some(Kind::RBrace) => break,
                        _ => return Err(self.error_at(self.pos.saturating_sub(1))),
                    }
                }
                _ => return Err(self.error_at(self.pos.saturating_sub(1))),
            }
        }
        Ok(attributes)
    }

    /// `=>[KNN k @field $blob [NAME value]... [AS name]]`, then optional attributes.
    fn knn(&mut self, unfiltered: bool) -> Result<Knn, ParseError> {
        self.pos += 1; // `=>`
        self.expect(&Kind::LBracket)?;
        match self.next() {
            Some(Kind::Term(word)) if word.eq_ignore_ascii_case("KNN") => {}
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        }
        let k = match self.next() {
            Some(Kind::Number(text)) => text.parse().map_err(|_| self.error_at(self.pos - 1))?,
            Some(Kind::Param(name)) => {
                let text = self.param_text(&name)?;
                text.parse().map_err(|_| invalid_numeric_param(&text, &name))?
            }
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        let field = match self.next() {
            Some(Kind::Modifier(field)) => field,
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        let blob = match self.next() {
            Some(Kind::Param(name)) => self.param(&name)?.to_vec(),
            _ => return Err(self.error_at(self.pos.saturating_sub(1))),
        };
        let mut options: Vec<(String, String)> = Vec::new();
        let mut score_as = None;
        loop {
            match self.next() {
                Some(Kind::RBracket) => break,
                Some(Kind::Term(word)) if word.eq_ignore_ascii_case("AS") => {
                    score_as = match self.next() {
                        Some(Kind::Term(name) | Kind::Number(name)) => Some(name),
                        _ => return Err(self.error_at(self.pos.saturating_sub(1))),
                    };
                    self.expect(&Kind::RBracket)?;
                    break;
                }
                Some(Kind::Term(name)) => {
                    let value = match self.next() {
                        Some(Kind::Term(v) | Kind::Number(v)) => v,
                        Some(Kind::Param(p)) => self.param_text(&p)?,
                        _ => return Err(self.error_at(self.pos.saturating_sub(1))),
                    };
                    options.push((name, value));
                }
                _ => return Err(self.error_at(self.pos.saturating_sub(1))),
            }
        }
        let mut knn = Knn {
            k,
            field,
            blob,
            score_as,
            ef_runtime: None,
            epsilon: None,
            hybrid_policy: None,
            batch_size: None,
        };
        knn_options(&mut knn, &options, unfiltered)?;
        if self.peek() == Some(&Kind::Arrow) && self.peek_at(1) == Some(&Kind::LBrace) {
            for (name, value) in self.attributes()? {
                match name.to_ascii_lowercase().as_str() {
                    "yield_distance_as" => knn.score_as = Some(value),
                    "weight" => {}
                    _ => return Err(ParseError(format!("Invalid attribute {name}"))),
                }
            }
        }
        Ok(knn)
    }
}

fn invalid_numeric_param(value: &str, name: &str) -> ParseError {
    ParseError(format!("Invalid numeric value ({value}) for parameter `{name}`"))
}

/// Joins two clauses; a left side that is already a `same` node takes `right` in.
fn join(
    left: Clause,
    right: Clause,
    same: impl Fn(&QueryNode) -> bool,
    make: impl Fn(Vec<QueryNode>) -> QueryNode,
) -> Clause {
    match (left, right) {
        (None, right) => right,
        (left, None) => left,
        (Some(left), Some(right)) if same(&left) => match left {
            QueryNode::Intersect(mut children) | QueryNode::Union(mut children) => {
                children.push(right);
                Some(make(children))
            }
            left => Some(make(vec![left, right])),
        },
        (Some(left), Some(right)) => Some(make(vec![left, right])),
    }
}

/// `w'...'` inside `{}`: the shapes a tag index answers (prefix, suffix, infix, exact).
fn wildcard_tag(pattern: &str) -> Result<TagMatch, ParseError> {
    let inner = pattern.trim_start_matches('*').trim_end_matches('*');
    if inner.contains(['*', '?']) || inner.is_empty() {
        return Err(ParseError(format!("Unsupported tag wildcard pattern `{pattern}`")));
    }
    let inner = inner.to_string();
    Ok(match (pattern.starts_with('*'), pattern.ends_with('*')) {
        (true, true) => TagMatch::Infix(inner),
        (true, false) => TagMatch::Suffix(inner),
        (false, true) => TagMatch::Prefix(inner),
        (false, false) => TagMatch::Exact(inner),
    })
}

/// Attributes on a plain clause are accepted and ignored (scoring hints); on a vector
/// range they set the distance field and epsilon.
fn apply_attributes(
    clause: &mut Clause,
    attributes: &[(String, String)],
) -> Result<(), ParseError> {
    for (name, value) in attributes {
        let lower = name.to_ascii_lowercase();
        match (clause.as_mut(), lower.as_str()) {
            (_, "weight" | "slop" | "inorder" | "phonetic") => {}
            (Some(QueryNode::VectorRange { yield_as, .. }), "yield_distance_as") => {
                *yield_as = Some(value.clone());
            }
            (Some(QueryNode::VectorRange { epsilon, .. }), "epsilon") => {
                let parsed = value.parse::<f64>().ok().filter(|e| *e > 0.0 && e.is_finite());
                *epsilon = Some(parsed.ok_or_else(invalid_value)?);
            }
            _ => return Err(ParseError(format!("Invalid attribute {name}"))),
        }
    }
    Ok(())
}

fn invalid_value() -> ParseError {
    ParseError::vector_params("Invalid value was given")
}

fn positive_integer(value: &str) -> Result<usize, ParseError> {
    value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(invalid_value)
}

/// Checks the `NAME value` pairs of a KNN clause in RediSearch's order: unknown and
/// repeated names, values, then the hybrid-only options.
///
/// Whether the field's algorithm takes EF_RUNTIME / EPSILON (FLAT takes neither, HNSW
/// takes EPSILON only in range queries) needs the schema: the executor checks that.
fn knn_options(
    knn: &mut Knn,
    options: &[(String, String)],
    unfiltered: bool,
) -> Result<(), ParseError> {
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in options {
        let upper = name.to_ascii_uppercase();
        if !["EF_RUNTIME", "EPSILON", "HYBRID_POLICY", "BATCH_SIZE"].contains(&upper.as_str()) {
            return Err(ParseError::vector_params("Invalid option"));
        }
        if seen.contains(&upper) {
            return Err(ParseError::vector_params("Parameter was specified twice"));
        }
        match upper.as_str() {
            "EF_RUNTIME" => knn.ef_runtime = Some(positive_integer(value)?),
            "EPSILON" => {
                let parsed = value.parse::<f64>().ok().filter(|e| *e > 0.0 && e.is_finite());
                knn.epsilon = Some(parsed.ok_or_else(invalid_value)?);
            }
            "BATCH_SIZE" => knn.batch_size = Some(positive_integer(value)?),
            _ => knn.hybrid_policy = Some(value.clone()),
        }
        seen.push(upper);
    }
    if unfiltered && (knn.hybrid_policy.is_some() || knn.batch_size.is_some()) {
        return Err(ParseError::vector_params(
            "hybrid query attributes were sent for a non-hybrid query",
        ));
    }
    if let Some(policy) = &mut knn.hybrid_policy {
        *policy = policy.to_ascii_uppercase();
        if policy != "ADHOC_BF" && policy != "BATCHES" {
            return Err(ParseError::vector_params("invalid hybrid policy was given"));
        }
        if policy == "ADHOC_BF" && knn.batch_size.is_some() {
            return Err(ParseError::vector_params(
                "'batch size' is irrelevant for 'ADHOC_BF' policy",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn params() -> HashMap<String, Vec<u8>> {
        let mut params = HashMap::new();
        for (name, value) in [
            ("B", &[1u8, 0, 128, 63, 0, 0, 0, 64][..]),
            ("K", b"5"),
            ("EF", b"20"),
            ("R", b"0.5"),
            ("t", b"Hello World"),
            ("tg", b"Foo Bar"),
            ("lo", b"10"),
            ("hi", b"(100"),
            ("x", b"abc"),
            ("ninf", b"-inf"),
            ("k15", b"1.5"),
        ] {
            params.insert(name.to_string(), value.to_vec());
        }
        params
    }

    fn filter(text: &str) -> QueryNode {
        let query = parse(text, &params()).unwrap();
        assert_eq!(query.knn, None, "{text}");
        query.filter
    }

    fn error(text: &str) -> String {
        parse(text, &params()).expect_err(text).0
    }

    fn term(word: &str) -> QueryNode {
        QueryNode::Text { fields: vec![], matcher: TextMatch::Term(word.into()) }
    }

    fn in_fields(fields: &[&str], matcher: TextMatch) -> QueryNode {
        QueryNode::Text { fields: fields.iter().map(|f| f.to_string()).collect(), matcher }
    }

    fn tag(field: &str, values: &[TagMatch]) -> QueryNode {
        QueryNode::Tag { field: field.into(), values: values.to_vec() }
    }

    fn exact(tag: &str) -> TagMatch {
        TagMatch::Exact(tag.into())
    }

    fn numeric(field: &str, min: (f64, bool), max: (f64, bool)) -> QueryNode {
        QueryNode::Numeric {
            field: field.into(),
            min: NumBound { value: min.0, inclusive: min.1 },
            max: NumBound { value: max.0, inclusive: max.1 },
        }
    }

    fn not(node: QueryNode) -> QueryNode {
        QueryNode::Not(Box::new(node))
    }

    fn and(nodes: Vec<QueryNode>) -> QueryNode {
        QueryNode::Intersect(nodes)
    }

    fn or(nodes: Vec<QueryNode>) -> QueryNode {
        QueryNode::Union(nodes)
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn star_and_empty_queries() {
        assert_eq!(filter("*"), QueryNode::All);
        assert_eq!(filter(""), QueryNode::Empty);
        assert_eq!(filter("   "), QueryNode::Empty);
    }

    #[test]
    fn words_are_lowercased_ascii_only_and_split_on_punctuation() {
        assert_eq!(filter("Hello"), term("hello"));
        assert_eq!(filter("ÉCOLE"), term("École"));
        assert_eq!(filter("hello.world"), and(vec![term("hello"), term("world")]));
        assert_eq!(filter("foo/bar"), and(vec![term("foo"), term("bar")]));
        assert_eq!(filter("don't"), and(vec![term("don"), term("t")]));
        assert_eq!(filter("foo_bar"), term("foo_bar"));
        assert_eq!(filter("foo!"), term("foo"));
    }

    #[test]
    fn a_dash_inside_a_word_negates_the_rest() {
        assert_eq!(filter("hello-world"), and(vec![term("hello"), not(term("world"))]));
    }

    #[test]
    fn backslash_escapes_keep_punctuation_in_a_word() {
        assert_eq!(filter(r"hello\-world"), term("hello-world"));
        assert_eq!(filter(r"hello\ world"), term("hello world"));
        assert_eq!(filter(r"\(foo"), term("(foo"));
        assert_eq!(filter(r"foo\"), term("foo"));
    }

    #[test]
    fn numbers_are_terms_with_their_sign() {
        assert_eq!(filter("123"), term("123"));
        assert_eq!(filter("-123"), term("-123"));
        assert_eq!(filter("3.14"), term("3.14"));
    }

    #[test]
    fn affixes_phrases_wildcards_and_fuzzy() {
        let all = |m| in_fields(&[], m);
        assert_eq!(filter("Pre*"), all(TextMatch::Prefix("pre".into())));
        assert_eq!(filter("*suf"), all(TextMatch::Suffix("suf".into())));
        assert_eq!(filter("*inf*"), all(TextMatch::Infix("inf".into())));
        assert_eq!(filter("w'Wild?Card'"), all(TextMatch::Wildcard("Wild?Card".into())));
        assert_eq!(filter("%fuzzy%"), term("fuzzy"));
        assert_eq!(filter("%%%fuzzy%%%"), term("fuzzy"));
        assert_eq!(
            filter("\"Hello the World\""),
            all(TextMatch::Phrase(vec!["hello".into(), "the".into(), "world".into()]))
        );
        assert_eq!(filter("$t*"), all(TextMatch::Prefix("hello world".into())));
    }

    #[test]
    fn field_modifiers_bind_to_the_next_clause() {
        let title = |w: &str| in_fields(&["title"], TextMatch::Term(w.into()));
        assert_eq!(filter("@title:foo"), title("foo"));
        assert_eq!(
            filter("@title|body:foo"),
            in_fields(&["title", "body"], TextMatch::Term("foo".into()))
        );
        assert_eq!(filter("@title:(foo|bar)"), or(vec![title("foo"), title("bar")]));
        assert_eq!(filter("@title:foo|bar"), or(vec![title("foo"), term("bar")]));
        assert_eq!(filter("@title:foo bar"), and(vec![title("foo"), term("bar")]));
        assert_eq!(filter("@title:-foo"), not(title("foo")));
        assert_eq!(
            filter("@title:\"ph ra\""),
            in_fields(&["title"], TextMatch::Phrase(vec!["ph".into(), "ra".into()]))
        );
        assert_eq!(filter("@title:$t"), title("hello world"));
    }

    #[test]
    fn juxtaposition_binds_tighter_than_pipe() {
        assert_eq!(
            filter("foo bar | baz"),
            or(vec![and(vec![term("foo"), term("bar")]), term("baz")])
        );
        assert_eq!(
            filter("foo | bar baz"),
            or(vec![term("foo"), and(vec![term("bar"), term("baz")])])
        );
        assert_eq!(filter("foo|bar|baz"), or(vec![term("foo"), term("bar"), term("baz")]));
    }

    #[test]
    fn chains_flatten_on_their_left_only() {
        assert_eq!(filter("(foo bar) baz"), and(vec![term("foo"), term("bar"), term("baz")]));
        assert_eq!(
            filter("baz (foo bar)"),
            and(vec![term("baz"), and(vec![term("foo"), term("bar")])])
        );
        assert_eq!(filter("(foo|bar)|baz"), or(vec![term("foo"), term("bar"), term("baz")]));
        assert_eq!(filter("((foo))"), term("foo"));
    }

    #[test]
    fn negation_and_optional() {
        assert_eq!(filter("foo -bar"), and(vec![term("foo"), not(term("bar"))]));
        assert_eq!(
            filter("foo ~bar"),
            and(vec![term("foo"), QueryNode::Optional(Box::new(term("bar")))])
        );
        assert_eq!(filter("-foo | bar"), or(vec![not(term("foo")), term("bar")]));
        assert_eq!(filter("-(foo bar)"), not(and(vec![term("foo"), term("bar")])));
        assert_eq!(filter("-@tag:{a}"), not(tag("tag", &[exact("a")])));
    }

    #[test]
    fn stopwords_vanish_from_text_clauses() {
        assert_eq!(filter("the"), QueryNode::Empty);
        assert_eq!(filter("a | the"), QueryNode::Empty);
        assert_eq!(filter("-the"), QueryNode::Empty);
        assert_eq!(filter("foo the"), term("foo"));
        assert_eq!(filter("foo -the"), term("foo"));
        assert_eq!(filter("foo (the | a)"), term("foo"));
        assert_eq!(filter("@tag:{the} the"), tag("tag", &[exact("the")]));
        assert_eq!(filter("the*"), in_fields(&[], TextMatch::Prefix("the".into())));
        let none = ParseOptions { is_stopword: &|_| false };
        assert_eq!(parse_with("the", &params(), &none).unwrap().filter, term("the"));
        assert!(default_stopwords().contains(&"with"));
        assert_eq!(default_stopwords().len(), 33);
    }

    #[test]
    fn tags() {
        assert_eq!(filter("@tag:{a | b}"), tag("tag", &[exact("a"), exact("b")]));
        assert_eq!(filter("@tag:{a|b|c}"), tag("tag", &[exact("a"), exact("b"), exact("c")]));
        assert_eq!(filter("@tag:{Hello}"), tag("tag", &[exact("Hello")]));
        assert_eq!(filter(r"@tag:{hello\ world}"), tag("tag", &[exact("hello world")]));
        assert_eq!(filter(r"@tag:{a\-b}"), tag("tag", &[exact("a-b")]));
        assert_eq!(filter(r"@tag:{a\:b}"), tag("tag", &[exact("a:b")]));
        assert_eq!(filter("@tag:{ a }"), tag("tag", &[exact("a")]));
        assert_eq!(filter("@tag:{123}"), tag("tag", &[exact("123")]));
        assert_eq!(filter("@tag:{\"Hello World\"}"), tag("tag", &[exact("Hello World")]));
        assert_eq!(filter("@tag:{$tg}"), tag("tag", &[exact("Foo Bar")]));
        assert_eq!(filter("@tag:{$tg | x}"), tag("tag", &[exact("Foo Bar"), exact("x")]));
    }

    #[test]
    fn unescaped_words_in_a_tag_are_one_lowercased_tag() {
        assert_eq!(filter("@tag:{Hello World}"), tag("tag", &[exact("hello world")]));
        assert_eq!(filter("@tag:{foo   bar}"), tag("tag", &[exact("foo bar")]));
        assert_eq!(filter("@tag:{foo.bar}"), tag("tag", &[exact("foo bar")]));
        assert_eq!(
            filter("@tag:{Hello World | Foo}"),
            tag("tag", &[exact("hello world"), exact("Foo")])
        );
    }

    #[test]
    fn tag_affixes() {
        assert_eq!(filter("@tag:{HeLLo*}"), tag("tag", &[TagMatch::Prefix("HeLLo".into())]));
        assert_eq!(filter("@tag:{*ab}"), tag("tag", &[TagMatch::Suffix("ab".into())]));
        assert_eq!(filter("@tag:{*ab*}"), tag("tag", &[TagMatch::Infix("ab".into())]));
        assert_eq!(filter("@tag:{w'ab*'}"), tag("tag", &[TagMatch::Prefix("ab".into())]));
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(filter("@price:[10 100]"), numeric("price", (10.0, true), (100.0, true)));
        assert_eq!(filter("@price:[(10 (100]"), numeric("price", (10.0, false), (100.0, false)));
        assert_eq!(filter("@price:[-inf +inf]"), numeric("price", (-INF, true), (INF, true)));
        assert_eq!(filter("@price:[-inf inf]"), numeric("price", (-INF, true), (INF, true)));
        assert_eq!(filter("@price:[(-inf 1]"), numeric("price", (-INF, false), (1.0, true)));
        assert_eq!(filter("@price:[10]"), numeric("price", (10.0, true), (10.0, true)));
        assert_eq!(filter("@price:[1.5 1e3]"), numeric("price", (1.5, true), (1000.0, true)));
        assert_eq!(filter("@price:[-5 -1]"), numeric("price", (-5.0, true), (-1.0, true)));
        assert_eq!(filter("@price:[1,2]"), numeric("price", (1.0, true), (2.0, true)));
        assert_eq!(filter("@price : [ 1 2 ]"), numeric("price", (1.0, true), (2.0, true)));
        // Reversed bounds parse (and match nothing).
        assert_eq!(filter("@price:[5 1]"), numeric("price", (5.0, true), (1.0, true)));
    }

    #[test]
    fn numeric_ranges_from_params() {
        assert_eq!(filter("@price:[$lo $hi]"), numeric("price", (10.0, true), (100.0, true)));
        assert_eq!(filter("@price:[($lo 20]"), numeric("price", (10.0, false), (20.0, true)));
        assert_eq!(filter("@price:[$lo]"), numeric("price", (10.0, true), (10.0, true)));
        assert_eq!(error("@price:[$x 5]"), "Bad lower range: abc");
        assert_eq!(error("@price:[$lo $ninf]"), "Bad upper range: -inf");
        assert_eq!(error("@price:[1 $nope]"), "No such parameter `nope`");
    }

    #[test]
    fn numeric_comparisons() {
        assert_eq!(filter("@price==5"), numeric("price", (5.0, true), (5.0, true)));
        assert_eq!(filter("@price!=5"), not(numeric("price", (5.0, true), (5.0, true))));
        assert_eq!(filter("@price>5"), numeric("price", (5.0, false), (INF, true)));
        assert_eq!(filter("@price>=5"), numeric("price", (5.0, true), (INF, true)));
        assert_eq!(filter("@price<5"), numeric("price", (-INF, true), (5.0, false)));
        assert_eq!(filter("@price<=5"), numeric("price", (-INF, true), (5.0, true)));
        assert_eq!(filter("@price>$lo"), numeric("price", (10.0, false), (INF, true)));
        assert_eq!(error("@price>=$x"), "Invalid numeric value (abc) for parameter `x`");
    }

    #[test]
    fn geo_filters() {
        let geo = |radius_m| QueryNode::Geo { field: "loc".into(), lon: 1.5, lat: 2.5, radius_m };
        assert_eq!(filter("@loc:[1.5 2.5 10 km]"), geo(10_000.0));
        assert_eq!(filter("@loc:[1.5 2.5 3 m]"), geo(3.0));
        assert_eq!(filter("@loc:[1.5 2.5 1 mi]"), geo(1609.34));
        assert_eq!(filter("@loc:[1.5 2.5 10 ft]"), geo(3.048));
        assert_eq!(error("@loc:[1 2 3 xx]"), "Invalid GeoFilter unit");
    }

    #[test]
    fn ismissing_and_attributes() {
        assert_eq!(filter("ismissing(@title)"), QueryNode::IsMissing("title".into()));
        assert_eq!(filter("ISMISSING(@title)"), QueryNode::IsMissing("title".into()));
        assert_eq!(
            filter("-ismissing(@tag) foo"),
            and(vec![not(QueryNode::IsMissing("tag".into())), term("foo")])
        );
        assert_eq!(error("ismissing(title)"), "Syntax error at offset 10 near title");
        assert_eq!(filter("foo=>{$weight: 2}"), term("foo"));
        assert_eq!(
            filter("(foo bar)=>{$weight: 2.0; $slop: 1; $inorder: true}"),
            and(vec![term("foo"), term("bar")])
        );
        assert_eq!(error("foo=>{$foo: 2}"), "Invalid attribute foo");
    }

    #[test]
    fn params_in_terms() {
        assert_eq!(filter("$t"), term("hello world"));
        assert_eq!(error("$x2"), "No such parameter `x2`");
        assert_eq!(error("@tag:{$nope}"), "No such parameter `nope`");
        assert_eq!(error("@title:($nope)"), "No such parameter `nope`");
        // Not inside a phrase.
        assert_eq!(
            filter("\"$t foo\""),
            in_fields(&[], TextMatch::Phrase(vec!["t".into(), "foo".into()]))
        );
    }

    fn knn(text: &str) -> Query {
        let query = parse(text, &params()).unwrap();
        assert!(query.knn.is_some(), "{text}");
        query
    }

    #[test]
    fn knn_clauses() {
        let blob = params()["B"].clone();
        let query = knn("*=>[KNN 10 @v $B]");
        assert_eq!(query.filter, QueryNode::All);
        assert_eq!(
            query.knn,
            Some(Knn {
                k: 10,
                field: "v".into(),
                blob,
                score_as: None,
                ef_runtime: None,
                epsilon: None,
                hybrid_policy: None,
                batch_size: None,
            })
        );
        let query = knn("*=>[KNN $K @v $B EF_RUNTIME $EF AS dist]").knn.unwrap();
        assert_eq!((query.k, query.ef_runtime), (5, Some(20)));
        assert_eq!(query.score_as.as_deref(), Some("dist"));
        let query = knn("*=>[knn 10 @v $B as x]").knn.unwrap();
        assert_eq!(query.score_as.as_deref(), Some("x"));
        let query = knn("*=>[KNN 10 @v $B]=>{$YIELD_DISTANCE_AS: d}").knn.unwrap();
        assert_eq!(query.score_as.as_deref(), Some("d"));
        assert_eq!(knn("*=>[KNN 10 @v $B EPSILON 0.1]").knn.unwrap().epsilon, Some(0.1));
        assert_eq!(knn("*=>[KNN 0 @v $B]").knn.unwrap().k, 0);
    }

    #[test]
    fn knn_filters_in_parentheses_or_bare() {
        let a = tag("tag", &[exact("a")]);
        assert_eq!(knn("(@tag:{a})=>[KNN 10 @v $B]").filter, a);
        assert_eq!(knn("@tag:{a}=>[KNN 10 @v $B]").filter, a);
        assert_eq!(knn("@tag:{a} => [ KNN 10 @v $B ]").filter, a);
        assert_eq!(
            knn("(@tag:{a} @price:[1 2]) => [ KNN 10 @v $B ]").filter,
            and(vec![a.clone(), numeric("price", (1.0, true), (2.0, true))])
        );
        assert_eq!(knn("foo=>[KNN 10 @v $B]").filter, term("foo"));
        assert_eq!(knn("(*)=>[KNN 10 @v $B]").filter, QueryNode::All);
        let hybrid = knn("(@tag:{a})=>[KNN 10 @v $B HYBRID_POLICY batches BATCH_SIZE 50]");
        let hybrid = hybrid.knn.unwrap();
        assert_eq!(hybrid.hybrid_policy.as_deref(), Some("BATCHES"));
        assert_eq!(hybrid.batch_size, Some(50));
    }

    #[test]
    fn knn_errors_match_redisearch() {
        let cases = [
            ("*=>[KNN x @v $B]", "Syntax error at offset 8 near x"),
            ("*=>[KNN -1 @v $B]", "Syntax error at offset 8 near -1"),
            ("*=>[KNN 1.5 @v $B]", "Syntax error at offset 8 near 1.5"),
            ("*=>[KNN 10 @v abc]", "Syntax error at offset 14 near abc"),
            ("*=>[KNN 10 @v $B AS]", "Syntax error at offset 19 near AS"),
            ("*=>[KNN 10 @v $B EF_RUNTIME]", "Syntax error at offset 27 near EF_RUNTIME"),
            ("*=>[KNN 10 @v $B AS d EPSILON 0.1]", "Syntax error at offset 22 near EPSILON"),
            ("*=>[KNN 10 @v $B AS d AS e]", "Syntax error at offset 22 near AS"),
            ("*=>[KNN 10 @v $B] foo", "Syntax error at offset 18 near foo"),
            ("foo *=>[KNN 10 @v $B]", "Syntax error at offset 4 near foo"),
            ("*=>[KNN $x @v $B]", "Invalid numeric value (abc) for parameter `x`"),
            ("*=>[KNN $k15 @v $B]", "Invalid numeric value (1.5) for parameter `k15`"),
            ("*=>[KNN 10 @v $NO]", "No such parameter `NO`"),
        ];
        for (query, message) in cases {
            assert_eq!(error(query), message, "{query}");
        }
        let vector = |detail: &str| format!("Error parsing vector similarity parameters: {detail}");
        let cases = [
            ("*=>[KNN 10 @v $B FOO 1]", "Invalid option"),
            ("*=>[KNN 10 @v $B EF_RUNTIME x]", "Invalid value was given"),
            ("*=>[KNN 10 @v $B EF_RUNTIME 0]", "Invalid value was given"),
            ("*=>[KNN 10 @v $B EF_RUNTIME 1.5]", "Invalid value was given"),
            ("*=>[KNN 10 @v $B EF_RUNTIME 5 EF_RUNTIME 6]", "Parameter was specified twice"),
            (
                "*=>[KNN 10 @v $B HYBRID_POLICY XX]",
                "hybrid query attributes were sent for a non-hybrid query",
            ),
            (
                "*=>[KNN 10 @v $B BATCH_SIZE 5]",
                "hybrid query attributes were sent for a non-hybrid query",
            ),
            ("@tag:{a}=>[KNN 10 @v $B HYBRID_POLICY XX]", "invalid hybrid policy was given"),
            (
                "@tag:{a}=>[KNN 10 @v $B HYBRID_POLICY ADHOC_BF BATCH_SIZE 5]",
                "'batch size' is irrelevant for 'ADHOC_BF' policy",
            ),
            (
                "@tag:{a}=>[KNN 10 @v $B HYBRID_POLICY BATCHES BATCH_SIZE 0]",
                "Invalid value was given",
            ),
        ];
        for (query, detail) in cases {
            assert_eq!(error(query), vector(detail), "{query}");
        }
    }

    #[test]
    fn vector_ranges() {
        let range = |radius, yield_as: Option<&str>, epsilon| QueryNode::VectorRange {
            field: "v".into(),
            radius,
            blob: params()["B"].clone(),
            yield_as: yield_as.map(String::from),
            epsilon,
        };
        assert_eq!(filter("@v:[VECTOR_RANGE 0.5 $B]"), range(0.5, None, None));
        assert_eq!(
            filter("@v:[VECTOR_RANGE 0.5 $B]=>{$YIELD_DISTANCE_AS: d}"),
            range(0.5, Some("d"), None)
        );
        assert_eq!(
            filter("@v:[VECTOR_RANGE $R $B]=>{$yield_distance_as: d; $EPSILON: 0.1}"),
            range(0.5, Some("d"), Some(0.1))
        );
        assert_eq!(filter("@v:[VECTOR_RANGE 0.5 $B]=>{$weight: 2}"), range(0.5, None, None));
        assert_eq!(
            filter("@v:[VECTOR_RANGE 0.5 $B] @tag:{a}"),
            and(vec![range(0.5, None, None), tag("tag", &[exact("a")])])
        );
        assert_eq!(error("@v:[VECTOR_RANGE x $B]"), "Syntax error at offset 17 near x");
        assert_eq!(
            error("@v:[VECTOR_RANGE $x $B]"),
            "Invalid numeric value (abc) for parameter `x`"
        );
        assert_eq!(
            error("@v:[VECTOR_RANGE -1 $B]"),
            "Error parsing vector similarity query: negative radius (-1) given in a range query"
        );
        assert_eq!(error("@v:[VECTOR_RANGE 0.5 $B]=>{$FOO: 1}"), "Invalid attribute FOO");
        assert_eq!(
            error("@v:[VECTOR_RANGE 0.5 $B]=>{$EPSILON: x}"),
            "Error parsing vector similarity parameters: Invalid value was given"
        );
    }

    #[test]
    fn syntax_errors_match_redisearch() {
        let cases = [
            ("foo:bar", "Syntax error at offset 3 near foo"),
            ("FOO:bar", "Syntax error at offset 3 near FOO"),
            ("(foo", "Syntax error at offset 1 near foo"),
            ("foo)", "Syntax error at offset 3 near foo"),
            ("foo bar)", "Syntax error at offset 7 near bar"),
            ("foo |", "Syntax error at offset 4 near foo"),
            ("| foo", "Syntax error at offset 0 near "),
            ("foo | | bar", "Syntax error at offset 6 near foo"),
            ("@title:", "Syntax error at offset 6 near title"),
            ("@title", "Syntax error at offset 0 near title"),
            ("@:foo", "Syntax error at offset 1 near "),
            ("foo bar:baz", "Syntax error at offset 7 near bar"),
            ("foo@bar", "Syntax error at offset 3 near bar"),
            ("@price:[1 2", "Syntax error at offset 10 near 2"),
            ("@price:[a b]", "Syntax error at offset 10 near b"),
            ("@price:[abc 1]", "Syntax error at offset 13 near 1"),
            ("@price:[nan 1]", "Syntax error at offset 13 near 1"),
            ("@price:[1 abc]", "Syntax error at offset 10 near abc"),
            ("@price:[1 2 3]", "Syntax error at offset 13 near 3"),
            ("@price:[]", "Syntax error at offset 8 near price"),
            ("@price:[1 2]]", "Syntax error at offset 12 near 2"),
            ("@tag:{", "Syntax error at offset 5 near tag"),
            ("@tag:{}", "Syntax error at offset 6 near tag"),
            ("@tag:{a", "Syntax error at offset 6 near a"),
            ("@tag:{a}}", "Syntax error at offset 8 near a"),
            ("@tag:{a-b}", "Syntax error at offset 7 near a"),
            ("@tag:{-a}", "Syntax error at offset 6 near tag"),
            ("@tag:{a:b}", "Syntax error at offset 7 near a"),
            ("@tag:{a(b}", "Syntax error at offset 7 near a"),
            ("@tag:{a~b}", "Syntax error at offset 7 near a"),
            ("@tag:{a;b}", "Syntax error at offset 7 near a"),
            ("@tag:{a*b}", "Syntax error at offset 8 near b"),
            ("\"foo", "Syntax error at offset 1 near foo"),
            ("foo\"", "Syntax error at offset 3 near foo"),
            ("((foo)", "Syntax error at offset 5 near foo"),
            ("[1 2]", "Syntax error at offset 0 near "),
            ("{a}", "Syntax error at offset 0 near "),
            ("* foo", "Syntax error at offset 2 near foo"),
            ("foo *", "Syntax error at offset 4 near foo"),
            ("-*", "Syntax error at offset 1 near "),
            ("@title:*", "Syntax error at offset 7 near title"),
            ("()", "Syntax error at offset 1 near "),
            ("@title:()", "Syntax error at offset 8 near title"),
            ("foo -", "Syntax error at offset 4 near foo"),
            ("%foo", "Syntax error at offset 1 near foo"),
        ];
        for (query, message) in cases {
            assert_eq!(error(query), message, "{query}");
        }
    }
}
