//! Path parsing: RedisJSON's JSONPath dialect (`$...`) and its legacy dotted syntax.
//!
//! The grammar follows what RedisJSON 2.8 accepts (checked against the reference): dotted
//! names may contain `-_:$^/+#%~\`` and backquote besides ASCII alphanumerics, brackets take
//! quoted names, integer unions (negative allowed), slices with a positive step, `*`, and
//! filters `?(...)` or `?...` with `== != < <= > >= =~`, `&&`, `||` and parentheses. RFC 9535
//! function extensions and `!` are rejected, as RedisJSON 2.8 rejects them.

use crate::error::JsonError;
use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Apply the selector to the children of the current nodes (`.x`, `[...]`).
    Child(Selector),
    /// Apply the selector to the current nodes and all their descendants (`..x`).
    Descendant(Selector),
}

impl Segment {
    /// True when the segment names at most one child: a member name or a single index.
    pub fn is_static(&self) -> bool {
        match self {
            Segment::Child(Selector::Name(_)) => true,
            Segment::Child(Selector::Indexes(v)) => v.len() == 1,
            _ => false,
        }
    }
}

/// A selector inside a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// An object member by name.
    Name(String),
    /// Several names (`['a','b']`), in order, duplicates kept.
    Names(Vec<String>),
    /// All children (`*`).
    Wildcard,
    /// Array indexes (`[0]`, `[0,-1]`); negative counts from the end.
    Indexes(Vec<i64>),
    /// Array slice `[start:end:step]`, step positive.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// Filter `[?(...)]`.
    Filter(Box<Expr>),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a || b || ...`
    Or(Vec<Expr>),
    /// `a && b && ...`
    And(Vec<Expr>),
    /// A comparison.
    Cmp(Operand, CmpOp, Operand),
    /// A bare operand: true when the query finds a value.
    Exists(Operand),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~` (RedisJSON regex extension)
    Regex,
}

/// An operand of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@...`: relative to the current node.
    Current(Vec<Segment>),
    /// `$...`: relative to the document root.
    Root(Vec<Segment>),
    /// A literal.
    Literal(Value),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    original: String,
    text: String,
    legacy: bool,
    segments: Vec<Segment>,
}

impl Path {
    /// Parses a path as RedisJSON does: `$`, `$.x`, `$[..]` are JSONPath; anything else is a
    /// legacy path (`.`, `.a.b`, `a`, `[0]`), translated by prefixing `$` or `$.`.
    pub fn parse(input: &str) -> Result<Path, JsonError> {
        let b = input.as_bytes();
        let jsonpath =
            b.first() == Some(&b'$') && matches!(b.get(1), None | Some(b'.') | Some(b'['));
        let (text, legacy) = if jsonpath {
            (input.to_string(), false)
        } else if input == "." {
            ("$".to_string(), true)
        } else if b.first() == Some(&b'.') {
            (format!("${input}"), true)
        } else {
            (format!("$.{input}"), true)
        };
        let segments = {
            let mut p = Parser { s: text.as_bytes(), pos: 1 };
            let segs = p.segments()?;
            p.ws();
            if p.pos < p.s.len() {
                return Err(p.err("EOI, '..'"));
            }
            segs
        };
        Ok(Path { original: input.to_string(), text, legacy, segments })
    }

    /// The root path `$` in legacy form (`.`), the default of JSON.GET and friends.
    pub fn root_legacy() -> Path {
        Path { original: ".".into(), text: "$".into(), legacy: true, segments: Vec::new() }
    }

    /// True for legacy paths: replies are single values and a missing path is an error.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The path in `$` form, as RedisJSON quotes it in `Path '...' does not exist`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path as the client wrote it (JSON.GET uses it as the key of multi-path replies).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the path is the root itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// True when the path can match at most one location (names and single indexes only).
    pub fn is_static(&self) -> bool {
        self.segments.iter().all(Segment::is_static)
    }
}

fn name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_:$^/+#%~`\\".contains(&c)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

const BRACKET_EXPECT: &str = "'<string>[,<string>,...]', '<number>', ['start:end:steps'], '*'";

impl<'a> Parser<'a> {
    fn err(&self, expected: &str) -> JsonError {
        let pos = self.pos.min(self.s.len());
        let (head, tail) = self.s.split_at(pos);
        let head = String::from_utf8_lossy(head);
        let shown = if tail.is_empty() {
            format!("{head} <<<<----")
        } else {
            format!("{head} ---->>>> {}", String::from_utf8_lossy(tail))
        };
        JsonError::PathSyntax(format!(
            "Error occurred on position {pos}, \"{shown}\", expected one of the following: {expected}."
        ))
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.pos.min(self.s.len())..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    /// Segments until something that is not a segment.
    fn segments(&mut self) -> Result<Vec<Segment>, JsonError> {
        let mut out = Vec::new();
        loop {
            let save = self.pos;
            self.ws();
            if self.eat("..") {
                self.ws();
                if self.peek() == Some(b'[') {
                    out.push(Segment::Descendant(self.bracket()?));
                } else if self.eat("*") {
                    out.push(Segment::Descendant(Selector::Wildcard));
                } else if let Some(n) = self.name() {
                    out.push(Segment::Descendant(Selector::Name(n)));
                } else {
                    return Err(self.err("<string>, '*'"));
                }
            } else if self.eat(".") {
                self.ws();
                if self.peek() == Some(b'[') {
                    out.push(Segment::Child(self.bracket()?));
                } else if self.eat("*") {
                    out.push(Segment::Child(Selector::Wildcard));
                } else if let Some(n) = self.name() {
                    out.push(Segment::Child(Selector::Name(n)));
                } else {
                    return Err(self.err("<string>, '*'"));
                }
            } else if self.peek() == Some(b'[') {
                out.push(Segment::Child(self.bracket()?));
            } else {
                self.pos = save;
                return Ok(out);
            }
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while self.pos < self.s.len() && name_char(self.s[self.pos]) {
            self.pos += 1;
        }
        if self.pos == start {
            None
        } else {
            Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
        }
    }

    fn string(&mut self) -> Result<Option<String>, JsonError> {
        let q = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Ok(None),
        };
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == q {
                return Ok(Some(String::from_utf8_lossy(&out).into_owned()));
            }
            if c == b'\\' {
                match self.peek() {
                    Some(e) => {
                        self.pos += 1;
                        out.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            b'r' => b'\r',
                            other => other,
                        });
                    }
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        self.pos = start;
        Err(self.err(BRACKET_EXPECT))
    }

    /// An integer: `-?(0|[1-9][0-9]*)`. None if there is no digit here.
    fn int(&mut self) -> Option<i64> {
        let start = self.pos;
        let neg = self.eat("-");
        let ds = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.s[ds..self.pos];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            self.pos = start;
            return None;
        }
        let mut v: i64 = 0;
        for d in digits {
            v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        }
        Some(if neg { -v } else { v })
    }

    fn bracket(&mut self) -> Result<Selector, JsonError> {
        self.pos += 1; // '['
        let open = self.pos;
        self.ws();
        let sel = if self.eat("*") {
            Selector::Wildcard
        } else if self.peek() == Some(b'?') {
            self.pos += 1;
            self.ws();
            let e = if self.peek() == Some(b'(') {
                let save = self.pos;
                self.pos += 1;
                let e = self.expr()?;
                self.ws();
                if !self.eat(")") {
                    self.pos = save;
                    self.expr()?
                } else {
                    e
                }
            } else {
                self.expr()?
            };
            Selector::Filter(Box::new(e))
        } else if matches!(self.peek(), Some(b'"' | b'\'')) {
            let mut names = Vec::new();
            loop {
                self.ws();
                match self.string()? {
                    Some(n) => names.push(n),
                    None => return Err(self.err(BRACKET_EXPECT)),
                }
                self.ws();
                if !self.eat(",") {
                    break;
                }
            }
            if names.len() == 1 {
                Selector::Name(names.remove(0))
            } else {
                Selector::Names(names)
            }
        } else {
            let start = self.int();
            self.ws();
            if self.peek() == Some(b':') {
                self.pos += 1;
                self.ws();
                let end = self.int();
                self.ws();
                let mut step = None;
                if self.eat(":") {
                    self.ws();
                    let at = self.pos;
                    match self.int() {
                        Some(n) if n > 0 => step = Some(n),
                        Some(_) => {
                            self.pos = at;
                            return Err(self.err("pos_number"));
                        }
                        None if self.peek() == Some(b']') => {}
                        None => return Err(self.err("pos_number")),
                    }
                }
                Selector::Slice(start, end, step)
            } else if let Some(first) = start {
                let mut v = vec![first];
                while self.eat(",") {
                    self.ws();
                    match self.int() {
                        Some(n) => v.push(n),
                        None => return Err(self.err("'<number>'")),
                    }
                    self.ws();
                }
                if self.peek() != Some(b']') && v.len() == 1 {
                    self.pos = open;
                    return Err(self.err("['start:end:steps']"));
                }
                Selector::Indexes(v)
            } else {
                self.pos = open;
                let expected = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    "['start:end:steps']"
                } else {
                    BRACKET_EXPECT
                };
                return Err(self.err(expected));
            }
        };
        self.ws();
        if !self.eat("]") {
            return Err(self.err(BRACKET_EXPECT));
        }
        Ok(sel)
    }

    fn expr(&mut self) -> Result<Expr, JsonError> {
        let mut terms = vec![self.and_expr()?];
        loop {
            self.ws();
            if self.eat("||") {
                terms.push(self.and_expr()?);
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and_expr(&mut self) -> Result<Expr, JsonError> {
        let mut terms = vec![self.factor()?];
        loop {
            self.ws();
            if self.eat("&&") {
                terms.push(self.factor()?);
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn factor(&mut self) -> Result<Expr, JsonError> {
        self.ws();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let e = self.expr()?;
            self.ws();
            if !self.eat(")") {
                return Err(self.err("and, or"));
            }
            return Ok(e);
        }
        let lhs = match self.operand()? {
            Some(o) => o,
            None => return Err(self.err("single_filter")),
        };
        self.ws();
        let op = if self.eat("==") {
            CmpOp::Eq
        } else if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat(">") {
            CmpOp::Gt
        } else if self.eat("=~") {
            CmpOp::Regex
        } else {
            return Ok(Expr::Exists(lhs));
        };
        self.ws();
        let rhs = match self.operand()? {
            Some(o) => o,
            None => return Err(self.err("single_filter")),
        };
        Ok(Expr::Cmp(lhs, op, rhs))
    }

    fn operand(&mut self) -> Result<Option<Operand>, JsonError> {
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                Ok(Some(Operand::Current(self.segments()?)))
            }
            Some(b'$') => {
                self.pos += 1;
                Ok(Some(Operand::Root(self.segments()?)))
            }
            Some(b'"' | b'\'') => Ok(self.string()?.map(|s| Operand::Literal(Value::String(s)))),
            _ => {
                for (lit, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.eat(lit) {
                        return Ok(Some(Operand::Literal(v)));
                    }
                }
                let start = self.pos;
                if self.int().is_some() || self.peek() == Some(b'.') {
                    if self.peek() == Some(b'.')
                        && self.s.get(self.pos + 1).is_some_and(|c| c.is_ascii_digit())
                    {
                        self.pos += 1;
                        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            self.pos += 1;
                        }
                    }
                    let txt = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                    match serde_json::from_str::<Value>(&txt) {
                        Ok(v @ Value::Number(_)) => return Ok(Some(Operand::Literal(v))),
                        _ => {
                            self.pos = start;
                            return Ok(None);
                        }
                    }
                }
                Ok(None)
            }
        }
    }
}
