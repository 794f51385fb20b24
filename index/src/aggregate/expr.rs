//! The APPLY / FILTER expression language: lexer, precedence-climbing parser and evaluator,
//! with RediSearch's operator semantics, functions and error texts.
//!
//! Quirks kept on purpose (the reference behaves so): a `-` glued to digits is part of the
//! number literal (`10-2` is a syntax error, `10 - 2` is 8); there is no unary minus; `&&` and
//! `||` share one precedence level and associate left, as do all binary levels (`2^3^2` = 64);
//! division or modulo by zero gives NaN; `%` works on the integer parts.

use super::time;
use super::value::{compare_values, format_number, Value};
use super::Row;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Value),
    /// `@name`: a row field.
    Property(String),
    /// `op operand` (only `!`).
    Not(Box<Expr>),
    /// `left op right`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `name(args...)`, the name lowercased.
    Call(Function, Vec<Expr>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
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
    /// `&&`
    And,
    /// `||`
    Or,
}

/// Built-in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Function {
    Upper,
    Lower,
    Substr,
    Format,
    MatchedTerms,
    Split,
    Strlen,
    StartsWith,
    Contains,
    Exists,
    Abs,
    Ceil,
    Floor,
    Log,
    Log2,
    Log10,
    Exp,
    Sqrt,
    TimeFmt,
    ParseTime,
    Day,
    Hour,
    Minute,
    Month,
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    Year,
    MonthOfYear,
    GeoDistance,
}

impl Function {
    fn lookup(name: &str) -> Option<(Function, usize, usize)> {
        use Function::*;
        let found = match name {
            "upper" => (Upper, 1, 1),
            "lower" => (Lower, 1, 1),
            "substr" => (Substr, 3, 3),
            "format" => (Format, 1, usize::MAX),
            "matched_terms" => (MatchedTerms, 0, 1),
            "split" => (Split, 1, 3),
            "strlen" => (Strlen, 1, 1),
            "startswith" => (StartsWith, 2, 2),
            "contains" => (Contains, 2, 2),
            "exists" => (Exists, 1, 1),
            "abs" => (Abs, 1, 1),
            "ceil" => (Ceil, 1, 1),
            "floor" => (Floor, 1, 1),
            "log" => (Log, 1, 1),
            "log2" => (Log2, 1, 1),
            "log10" => (Log10, 1, 1),
            "exp" => (Exp, 1, 1),
            "sqrt" => (Sqrt, 1, 1),
            "timefmt" => (TimeFmt, 1, 2),
            "parsetime" => (ParseTime, 2, 2),
            "day" => (Day, 1, 1),
            "hour" => (Hour, 1, 1),
            "minute" => (Minute, 1, 1),
            "month" => (Month, 1, 1),
            "dayofweek" => (DayOfWeek, 1, 1),
            "dayofmonth" => (DayOfMonth, 1, 1),
            "dayofyear" => (DayOfYear, 1, 1),
            "year" => (Year, 1, 1),
            "monthofyear" => (MonthOfYear, 1, 1),
            "geodistance" => (GeoDistance, 2, 4),
            _ => return None,
        };
        Some(found)
    }

    fn name(self) -> &'static str {
        use Function::*;
        match self {
            Upper => "upper",
            Lower => "lower",
            Substr => "substr",
            Format => "format",
            MatchedTerms => "matched_terms",
            Split => "split",
            Strlen => "strlen",
            StartsWith => "startswith",
            Contains => "contains",
            Exists => "exists",
            Abs => "abs",
            Ceil => "ceil",
            Floor => "floor",
            Log => "log",
            Log2 => "log2",
            Log10 => "log10",
            Exp => "exp",
            Sqrt => "sqrt",
            TimeFmt => "timefmt",
            ParseTime => "parsetime",
            Day => "day",
            Hour => "hour",
            Minute => "minute",
            Month => "month",
            DayOfWeek => "dayofweek",
            DayOfMonth => "dayofmonth",
            DayOfYear => "dayofyear",
            Year => "year",
            MonthOfYear => "monthofyear",
            GeoDistance => "geodistance",
        }
    }
}

impl Expr {
    /// Parses an expression, with RediSearch's error texts.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = lex(text);
        let mut parser = Parser { tokens: &tokens, pos: 0, text_len: text.len() };
        let expr = parser.parse_level(0)?;
        match parser.peek() {
            None => Ok(expr),
            Some(token) => Err(syntax_error(token.offset, &token.text)),
        }
    }

    /// Every `@field` the expression reads, in order of first appearance.
    pub fn properties(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_properties(&mut out);
        out
    }

    fn collect_properties(&self, out: &mut Vec<String>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Property(name) => {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            Expr::Not(inner) => inner.collect_properties(out),
            Expr::Binary(_, left, right) => {
                left.collect_properties(out);
                right.collect_properties(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|arg| arg.collect_properties(out)),
        }
    }

    /// Evaluates against a row. `Err(EvalError::MissingField)` means the row lacks a field the
    /// expression reads (RediSearch then silently ends the result set at that row).
    pub fn eval(&self, row: &Row) -> Result<Value, EvalError> {
        match self {
            Expr::Literal(value) => Ok(value.clone()),
            Expr::Property(name) => {
                row.get(name).cloned().ok_or_else(|| EvalError::MissingField(name.clone()))
            }
            Expr::Not(inner) => Ok(bool_value(!inner.eval(row)?.is_truthy())),
            Expr::Binary(op, left, right) => {
                let left = left.eval(row)?;
                let right = right.eval(row)?;
                binary(*op, &left, &right)
            }
            Expr::Call(Function::Exists, args) => match args.first() {
                Some(Expr::Property(name)) => Ok(bool_value(row.get(name).is_some())),
                Some(other) => match other.eval(row) {
                    Ok(value) => Ok(bool_value(value != Value::Null)),
                    Err(EvalError::MissingField(_)) => Ok(bool_value(false)),
                    Err(fatal) => Err(fatal),
                },
                None => Ok(bool_value(false)),
            },
            Expr::Call(function, args) => {
                let values = args.iter().map(|arg| arg.eval(row)).collect::<Result<Vec<_>, _>>()?;
                call(*function, &values)
            }
        }
    }
}

/// Why an expression gave no value for a row.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// The row lacks this field, which the expression reads: the result set ends there (see
    /// [`super::execute`]).
    MissingField(String),
    /// An error the whole command fails with (e.g. `Could not convert value to a number`).
    Fatal(String),
}

fn bool_value(b: bool) -> Value {
    Value::Num(if b { 1.0 } else { 0.0 })
}

const NOT_A_NUMBER: &str = "Could not convert value to a number";

fn binary(op: BinOp, left: &Value, right: &Value) -> Result<Value, EvalError> {
    use BinOp::*;
    match op {
        And => Ok(bool_value(left.is_truthy() && right.is_truthy())),
        Or => Ok(bool_value(left.is_truthy() || right.is_truthy())),
        Eq => Ok(bool_value(compare_values(left, right).is_eq())),
        Ne => Ok(bool_value(!compare_values(left, right).is_eq())),
        Lt => Ok(bool_value(compare_values(left, right).is_lt())),
        Le => Ok(bool_value(compare_values(left, right).is_le())),
        Gt => Ok(bool_value(compare_values(left, right).is_gt())),
        Ge => Ok(bool_value(compare_values(left, right).is_ge())),
        Add | Sub | Mul | Div | Mod | Pow => {
            if *left == Value::Null || *right == Value::Null {
                return Ok(Value::Null);
            }
            let a = left.to_number().ok_or_else(|| EvalError::Fatal(NOT_A_NUMBER.into()))?;
            let b = right.to_number().ok_or_else(|| EvalError::Fatal(NOT_A_NUMBER.into()))?;
            let result = match op {
                Add => a + b,
                Sub => a - b,
                Mul => a * b,
                Div if b == 0.0 => f64::NAN,
                Div => a / b,
                Mod => {
                    let (ai, bi) = (a as i64, b as i64);
                    if bi == 0 {
                        f64::NAN
                    } else {
                        ai.wrapping_rem(bi) as f64
                    }
                }
                _ => a.powf(b),
            };
            Ok(Value::Num(result))
        }
    }
}

fn number_arg(value: &Value) -> f64 {
    value.to_number().unwrap_or(f64::NAN)
}

fn string_arg(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn type_error(function: Function, index: usize, value: &Value) -> EvalError {
    let type_code = match value {
        Value::Num(_) => 1,
        Value::Str(_) => 2,
        Value::Null => 4,
        Value::List(_) => 6,
    };
    EvalError::Fatal(format!(
        "Invalid type ({type_code}) for argument {index} in function '{}'. \
         VALIDATE_ARG__STRING(v, {index}) was false.",
        function.name()
    ))
}

fn required_string(
    function: Function,
    values: &[Value],
    index: usize,
) -> Result<String, EvalError> {
    let value = values.get(index).unwrap_or(&Value::Null);
    string_arg(value).ok_or_else(|| type_error(function, index, value))
}

fn call(function: Function, args: &[Value]) -> Result<Value, EvalError> {
    use Function::*;
    let first = args.first().unwrap_or(&Value::Null);
    let math = |f: fn(f64) -> f64| Ok(Value::Num(f(number_arg(first))));
    match function {
        Upper => Ok(string_arg(first).map_or(Value::Null, |s| Value::Str(s.to_uppercase()))),
        Lower => Ok(string_arg(first).map_or(Value::Null, |s| Value::Str(s.to_lowercase()))),
        Substr => Ok(substr(first, args)),
        Format => format_call(args),
        MatchedTerms => Ok(Value::Null),
        Split => Ok(split(args)),
        Strlen => Ok(Value::Num(required_string(Strlen, args, 0)?.len() as f64)),
        StartsWith => {
            let text = required_string(StartsWith, args, 0)?;
            let prefix = required_string(StartsWith, args, 1)?;
            Ok(bool_value(text.starts_with(&prefix)))
        }
        Contains => {
            let text = required_string(Contains, args, 0)?;
            let needle = required_string(Contains, args, 1)?;
            Ok(Value::Num(count_overlapping(&text, &needle) as f64))
        }
        Exists => Ok(bool_value(*first != Value::Null)),
        Abs => math(f64::abs),
        Ceil => math(f64::ceil),
        Floor => math(f64::floor),
        // glibc prints the NaN of a negative argument as `-nan`; keep that sign.
        Log => math(|x| if x < 0.0 { -f64::NAN } else { x.ln() }),
        Log2 => math(|x| if x < 0.0 { -f64::NAN } else { x.log2() }),
        Log10 => math(|x| if x < 0.0 { -f64::NAN } else { x.log10() }),
        Exp => math(f64::exp),
        Sqrt => math(|x| if x < 0.0 { -f64::NAN } else { x.sqrt() }),
        TimeFmt => {
            let Some(seconds) = first.to_number() else { return Ok(Value::Null) };
            let pattern = match args.get(1) {
                Some(value) => match string_arg(value) {
                    Some(pattern) => pattern,
                    None => return Ok(Value::Null),
                },
                None => "%FT%TZ".to_owned(),
            };
            Ok(Value::Str(time::strftime(seconds.floor() as i64, &pattern)))
        }
        ParseTime => {
            let (Some(text), Some(pattern)) = (string_arg(first), args.get(1).and_then(string_arg))
            else {
                return Ok(Value::Null);
            };
            Ok(time::strptime(&text, &pattern).map_or(Value::Null, |t| Value::Num(t as f64)))
        }
        Day | Hour | Minute | Month | DayOfWeek | DayOfMonth | DayOfYear | Year | MonthOfYear => {
            let Some(seconds) = first.to_number() else { return Ok(Value::Null) };
            if !seconds.is_finite() {
                return Ok(Value::Null);
            }
            let t = seconds.floor() as i64;
            let parts = time::Civil::from_unix(t);
            let result = match function {
                Minute => t - t.rem_euclid(60),
                Hour => t - t.rem_euclid(3600),
                Day => t - t.rem_euclid(86_400),
                Month => time::unix_from_civil(parts.year, parts.month, 1, 0, 0, 0),
                DayOfWeek => parts.weekday,
                DayOfMonth => parts.day,
                DayOfYear => parts.year_day,
                Year => parts.year,
                _ => parts.month - 1,
            };
            Ok(Value::Num(result as f64))
        }
        GeoDistance => Ok(geodistance(args)),
    }
}

fn substr(first: &Value, args: &[Value]) -> Value {
    let Some(text) = string_arg(first) else { return Value::Null };
    let len = text.len() as i64;
    let mut offset = args.get(1).map_or(0.0, number_arg) as i64;
    let mut count = args.get(2).map_or(-1.0, number_arg) as i64;
    if offset < 0 {
        offset += len;
    }
    let offset = offset.clamp(0, len);
    if count < 0 {
        count = (len - offset + count).max(0);
    }
    let end = (offset + count).min(len);
    let bytes = &text.as_bytes()[offset as usize..end.max(offset) as usize];
    Value::Str(String::from_utf8_lossy(bytes).into_owned())
}

fn format_call(args: &[Value]) -> Result<Value, EvalError> {
    let Some(pattern) = args.first().and_then(string_arg) else { return Ok(Value::Null) };
    let mut out = String::new();
    let mut rest = args[1..].iter();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => {
                let value = rest
                    .next()
                    .ok_or_else(|| EvalError::Fatal("Not enough arguments for format".into()))?;
                match value {
                    Value::Null => out.push_str("(null)"),
                    Value::Num(n) => out.push_str(&format_number(*n)),
                    Value::Str(s) => out.push_str(s),
                    Value::List(_) => out.push_str("(array)"),
                }
            }
            _ => return Err(EvalError::Fatal("Unknown format specifier passed".into())),
        }
    }
    Ok(Value::Str(out))
}

fn split(args: &[Value]) -> Value {
    let Some(text) = args.first().and_then(string_arg) else { return Value::Null };
    let separators = args.get(1).and_then(string_arg).unwrap_or_else(|| ",".to_owned());
    let strip = args.get(2).and_then(string_arg).unwrap_or_else(|| " ".to_owned());
    let parts = text
        .split(|c| separators.contains(c))
        .map(|part| part.trim_matches(|c| strip.contains(c)))
        .filter(|part| !part.is_empty())
        .map(|part| Value::Str(part.to_owned()))
        .collect();
    Value::List(parts)
}

/// Occurrences of `needle`, overlapping ones included; an empty needle matches at every
/// position including the end (the reference answers 4 for "abc").
fn count_overlapping(text: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return text.len() + 1;
    }
    let (hay, pat) = (text.as_bytes(), needle.as_bytes());
    hay.windows(pat.len()).filter(|window| *window == pat).count()
}

/// Haversine distance in metres, rounded to centimetres like the reference, between two
/// `"lon,lat"` strings or four numbers (lon1, lat1, lon2, lat2).
fn geodistance(args: &[Value]) -> Value {
    let point = |value: &Value| -> Option<(f64, f64)> {
        let text = string_arg(value)?;
        let (lon, lat) = text.split_once(',')?;
        Some((lon.trim().parse().ok()?, lat.trim().parse().ok()?))
    };
    let points = match args {
        [a, b] => point(a).zip(point(b)),
        [a, lon, lat] => point(a).zip(lon.to_number().zip(lat.to_number())),
        [lon1, lat1, lon2, lat2] => {
            lon1.to_number().zip(lat1.to_number()).zip(lon2.to_number().zip(lat2.to_number()))
        }
        _ => None,
    };
    let Some(((lon1, lat1), (lon2, lat2))) = points else { return Value::Null };
    const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let half_dphi = (phi2 - phi1) / 2.0;
    let half_dlambda = (lon2 - lon1).to_radians() / 2.0;
    let a = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
    let metres = 2.0 * EARTH_RADIUS_M * a.sqrt().asin();
    Value::Num((metres * 100.0).round() / 100.0)
}

// ----- lexer -----

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Number(f64),
    Str(String),
    Property(String),
    Ident(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    offset: usize,
    /// What the reference quotes in a syntax error (a property without its `@`).
    text: String,
}

const OPERATORS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "^", "(", ")", ",",
];

fn lex(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if bytes.get(i) == Some(&b'.') {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(bytes.get(i), Some(b'e' | b'E')) {
                let mut j = i + 1;
                if matches!(bytes.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                if bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let literal = &text[start..i];
            let value = literal.parse::<f64>().unwrap_or(f64::NAN);
            tokens.push(Token {
                kind: TokenKind::Number(value),
                offset: start,
                text: literal.into(),
            });
        } else if c == b'"' || c == b'\'' {
            let mut value = Vec::new();
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            tokens.push(Token {
                kind: TokenKind::Str(String::from_utf8_lossy(&value).into_owned()),
                offset: start,
                text: text[start..i].into(),
            });
        } else if c == b'@' || c.is_ascii_alphabetic() || c == b'_' {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let token = if c == b'@' {
                let name = &text[start + 1..i];
                Token { kind: TokenKind::Property(name.into()), offset: start, text: name.into() }
            } else {
                let name = &text[start..i];
                Token { kind: TokenKind::Ident(name.into()), offset: start, text: name.into() }
            };
            tokens.push(token);
        } else if let Some(op) = OPERATORS.iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
            tokens.push(Token { kind: TokenKind::Op(op), offset: start, text: (*op).into() });
        } else {
            // The reference's scanner skips characters it has no rule for.
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    tokens
}

// ----- parser -----

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    text_len: usize,
}

fn syntax_error(offset: usize, near: &str) -> String {
    format!("Syntax error at offset {offset} near '{near}'")
}

/// Binary operator levels from loosest to tightest.
const LEVELS: &[&[(&str, BinOp)]] = &[
    &[("&&", BinOp::And), ("||", BinOp::Or)],
    &[
        ("==", BinOp::Eq),
        ("!=", BinOp::Ne),
        ("<=", BinOp::Le),
        (">=", BinOp::Ge),
        ("<", BinOp::Lt),
        (">", BinOp::Gt),
    ],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
    &[("^", BinOp::Pow)],
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn eof_error(&self) -> String {
        // The reference reports the end of input at the last token, quoting the one before it.
        match self.tokens.len() {
            0 => syntax_error(0, ""),
            1 => syntax_error(self.text_len, &self.tokens[0].text),
            n => syntax_error(self.tokens[n - 1].offset, &self.tokens[n - 2].text),
        }
    }

    fn parse_level(&mut self, level: usize) -> Result<Expr, String> {
        if level == LEVELS.len() {
            return self.parse_unary();
        }
        let mut left = self.parse_level(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Token { kind: TokenKind::Op(text), .. }) => {
                    LEVELS[level].iter().find(|(symbol, _)| symbol == text).map(|(_, op)| *op)
                }
                _ => None,
            };
            let Some(op) = op else { return Ok(left) };
            self.pos += 1;
            let right = self.parse_level(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn parse_unary(&mut self) -> Result<Expr, String> {
        if matches!(self.peek(), Some(Token { kind: TokenKind::Op("!"), .. })) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.parse_unary()?)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, String> {
        let Some(token) = self.next().cloned() else { return Err(self.eof_error()) };
        match token.kind {
            TokenKind::Number(n) => Ok(Expr::Literal(Value::Num(n))),
            TokenKind::Str(s) => Ok(Expr::Literal(Value::Str(s))),
            TokenKind::Property(name) => Ok(Expr::Property(name)),
            TokenKind::Op("(") => {
                let inner = self.parse_level(0)?;
                self.expect_close()?;
                Ok(inner)
            }
            TokenKind::Ident(name) => {
                if matches!(self.peek(), Some(Token { kind: TokenKind::Op("("), .. })) {
                    self.pos += 1;
                    self.parse_call(&name)
                } else if name.eq_ignore_ascii_case("null") {
                    Ok(Expr::Literal(Value::Null))
                } else {
                    Err(format!("Unknown symbol '{name}'"))
                }
            }
            TokenKind::Op(_) => match self.peek() {
                // The reference has a rule for a sign but no operand form for it, so it
                // complains about what follows.
                Some(after) if token.text == "-" => Err(syntax_error(after.offset, &after.text)),
                _ => Err(syntax_error(token.offset, &token.text)),
            },
        }
    }

    fn expect_close(&mut self) -> Result<(), String> {
        match self.next().cloned() {
            Some(Token { kind: TokenKind::Op(")"), .. }) => Ok(()),
            Some(other) => Err(syntax_error(other.offset, &other.text)),
            None => Err(self.eof_error()),
        }
    }

    fn parse_call(&mut self, name: &str) -> Result<Expr, String> {
        let lowered = name.to_ascii_lowercase();
        let Some((function, min_args, max_args)) = Function::lookup(&lowered) else {
            return Err(format!("Unknown function name '{name}'"));
        };
        let mut args = Vec::new();
        if matches!(self.peek(), Some(Token { kind: TokenKind::Op(")"), .. })) {
            self.pos += 1;
        } else {
            loop {
                args.push(self.parse_level(0)?);
                match self.next().cloned() {
                    Some(Token { kind: TokenKind::Op(")"), .. }) => break,
                    Some(Token { kind: TokenKind::Op(","), .. }) => {}
                    Some(other) => return Err(syntax_error(other.offset, &other.text)),
                    None => return Err(self.eof_error()),
                }
            }
        }
        if args.len() < min_args || args.len() > max_args {
            return Err(format!("Invalid arguments for function '{lowered}'"));
        }
        Ok(Expr::Call(function, args))
    }
}
