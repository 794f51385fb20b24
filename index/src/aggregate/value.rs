//! Row cells and rows of the FT.AGGREGATE pipeline: the value model, RediSearch's number text,
//! conversions and the ordering SORTBY and the reducers use.

use std::cmp::Ordering;

/// One cell of a row. RediSearch keeps every number as a double, so does this.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An explicit null (the `NULL` symbol, a function without a result, a group key of
    /// documents lacking the field). A field a document lacks is *absent* from its row instead.
    Null,
    /// A number (NUMERIC fields, arithmetic, reducer outputs).
    Num(f64),
    /// A string (TEXT and TAG fields, fields outside the schema, string functions).
    Str(String),
    /// An array (TOLIST, RANDOM_SAMPLE, split()); the server replies with a RESP array.
    List(Vec<Value>),
}

impl Value {
    /// The exact text RediSearch replies with for this value, as a bulk string.
    ///
    /// Numbers: integral values that fit an i64 print as integers (`3`, `-9223372036854775808`),
    /// everything else as C's `%.12g` (`0.333333333333`, `1e+20`, `1.23456789012e+12`),
    /// NaN as `nan` / `-nan` by its sign bit (glibc's spelling), infinities as `inf` / `-inf`.
    /// `Null` has no text (the server sends a RESP null); a `List` joins nothing here (the
    /// server sends an array of the elements' texts), so both return `None`.
    pub fn format(&self) -> Option<String> {
        match self {
            Value::Null | Value::List(_) => None,
            Value::Num(n) => Some(format_number(*n)),
            Value::Str(s) => Some(s.clone()),
        }
    }

    /// The value as a number the way RediSearch converts: numbers as they are, strings that
    /// parse as a whole as a decimal number; anything else is `None`.
    pub fn to_number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => parse_number(s),
            Value::Null | Value::List(_) => None,
        }
    }

    /// Truthiness for FILTER, `!`, `&&` and `||`: non-zero numbers, non-empty strings and lists.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Num(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::List(items) => !items.is_empty(),
        }
    }

    /// Text used to compare values for equality in COUNT_DISTINCT, TOLIST and group keys.
    pub(crate) fn identity(&self) -> String {
        match self {
            Value::Null => "\u{0}null".to_owned(),
            Value::List(items) => {
                let parts: Vec<String> = items.iter().map(Value::identity).collect();
                format!("\u{0}[{}]", parts.join("\u{1}"))
            }
            other => other.format().unwrap_or_default(),
        }
    }
}

/// Parses a decimal number the way the expression language accepts one inside a string
/// (surrounding spaces allowed; `inf`/`nan` words and hex are not numbers here).
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let looks_numeric = !trimmed.is_empty()
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    trimmed.parse::<f64>().ok()
}

/// RediSearch's reply text for a double (see [`Value::format`]).
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".to_owned() } else { "nan".to_owned() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".to_owned() } else { "-inf".to_owned() };
    }
    // 2^63 is exactly representable; anything integral strictly inside (-2^63-1, 2^63) fits i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if n.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&n) {
        return format!("{}", n as i64);
    }
    format_g(n, 12)
}

/// C's `%.{precision}g` for a finite double: shortest of fixed and scientific by the exponent
/// rule, trailing zeros removed, exponent with a sign and at least two digits.
fn format_g(n: f64, precision: usize) -> String {
    let sci = format!("{:.*e}", precision - 1, n);
    let (mantissa, exponent) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
        strip_fraction_zeros(&format!("{:.*}", decimals, n)).to_owned()
    }
}

fn strip_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Orders two present values as SORTBY and FIRST_VALUE ... BY do: numbers numerically,
/// strings bytewise, a number against a string numerically when the string is a number and
/// as text otherwise; `Null` sorts before everything.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Num(x), Value::Str(s)) => match parse_number(s) {
            Some(y) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            None => format_number(*x).as_bytes().cmp(s.as_bytes()),
        },
        (Value::Str(_), Value::Num(_)) => compare_values(b, a).reverse(),
        (Value::List(x), Value::List(y)) => x.len().cmp(&y.len()),
        (Value::List(_), _) => Ordering::Greater,
        (_, Value::List(_)) => Ordering::Less,
    }
}

/// One row of the pipeline: field name (without `@`) to value, in insertion order. Rows are
/// small (a handful of fields), so lookups scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    fields: Vec<(String, Value)>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Row::default()
    }

    /// Builds a row from `(name, value)` pairs (later duplicates replace earlier ones).
    pub fn from_pairs<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        let mut row = Row::new();
        for (name, value) in pairs {
            row.set(name, value);
        }
        row
    }

    /// The value of `name`, if the row has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value)
    }

    /// Sets `name`, keeping its position when it already exists.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self.fields.iter_mut().find(|(field, _)| *field == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(String, Value)] {
        &self.fields
    }

    /// Consumes the row, giving its fields in order.
    pub fn into_fields(self) -> Vec<(String, Value)> {
        self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the row has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}
