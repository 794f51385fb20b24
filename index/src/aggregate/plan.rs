//! Parsing the arguments of FT.AGGREGATE (everything after `index query`) into a [`Plan`],
//! with the reference's error texts, and resolving the plan's field references against the
//! index schema.

use super::expr::Expr;

/// Most rows one LIMIT may ask for (RediSearch's default MAXAGGREGATERESULTS).
pub const MAX_LIMIT: usize = 10_000;
/// Rows a SORTBY without MAX or LIMIT keeps (the reference's quirk, cursors included).
pub const DEFAULT_SORT_LIMIT: usize = 10;

/// A parsed FT.AGGREGATE request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The pipeline, in order.
    pub steps: Vec<Step>,
    /// `WITHCURSOR` options, if given.
    pub cursor: Option<CursorOptions>,
    /// `PARAMS` name/value pairs, in order.
    pub params: Vec<(String, Vec<u8>)>,
    /// `DIALECT d` (1..=4), if given.
    pub dialect: Option<u32>,
    /// `TIMEOUT ms`, if given.
    pub timeout_ms: Option<u64>,
    /// `VERBATIM` was given.
    pub verbatim: bool,
    /// `ADDSCORES` was given: the server puts each document's score in its row as `__score`.
    pub add_scores: bool,
    /// `SCORER name`, uppercased, if given.
    pub scorer: Option<String>,
    /// Row fields of the final stage in reply order (see [`Plan::output_fields`]).
    output: Vec<String>,
    /// The final stage started with `LOAD *` (and no GROUPBY since): every row field is shown.
    output_all: bool,
}

/// `WITHCURSOR [COUNT c] [MAXIDLE ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CursorOptions {
    /// Rows per read; `None` means the server's default.
    pub count: Option<u64>,
    /// Idle time before the cursor is dropped; `None` means the server's default.
    pub max_idle_ms: Option<u64>,
}

/// One step of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `LOAD n field [AS alias] ...` (the server loads these before the pipeline runs).
    Load(Vec<LoadField>),
    /// `LOAD *`.
    LoadAll,
    /// `GROUPBY n @key ... REDUCE ...`.
    GroupBy(GroupBy),
    /// `APPLY expr [AS name]`.
    Apply {
        /// The expression.
        expr: Expr,
        /// The field it writes (the expression's text when AS is absent).
        name: String,
    },
    /// `FILTER expr`: keeps rows whose value is truthy.
    Filter(Expr),
    /// `SORTBY` and/or `LIMIT`: RediSearch folds a LIMIT or SORTBY into the step before when
    /// that is one of these, so `LIMIT 0 1 SORTBY 1 @x` sorts first then limits.
    Arrange(Arrange),
}

/// A field to load from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadField {
    /// What to read: a schema attribute or identifier, a hash field, a JSONPath (no `@`).
    pub source: String,
    /// The row field it is stored as.
    pub name: String,
}

/// `GROUPBY`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    /// Group key fields (without `@`).
    pub keys: Vec<String>,
    /// Reducers, in order.
    pub reducers: Vec<Reducer>,
}

/// One `REDUCE fn nargs args... [AS name]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reducer {
    /// What it computes.
    pub kind: ReducerKind,
    /// Output field (given by AS, or `__generated_alias<fn><args>` like the reference).
    pub name: String,
}

/// The reducers (field names without `@`).
#[derive(Debug, Clone, PartialEq)]
pub enum ReducerKind {
    /// Rows in the group.
    Count,
    /// Distinct values.
    CountDistinct(String),
    /// Distinct values (approximate in the reference; exact here).
    CountDistinctish(String),
    /// Sum of the numeric values.
    Sum(String),
    /// Smallest numeric value (0 when none).
    Min(String),
    /// Largest numeric value (0 when none).
    Max(String),
    /// Sum of the numeric values over the group's row count.
    Avg(String),
    /// Sample standard deviation.
    Stddev(String),
    /// Nearest-rank quantile.
    Quantile(String, f64),
    /// Distinct values as a list.
    ToList(String),
    /// The field's value in the group's first row, or in the row with the smallest (ASC) or
    /// largest (DESC) `by` value.
    FirstValue {
        /// The field returned.
        field: String,
        /// `BY @field` and whether ascending.
        by: Option<(String, bool)>,
    },
    /// Up to `n` values; the reference samples at random, this takes the first `n`.
    RandomSample(String, usize),
}

impl ReducerKind {
    fn fields(&self) -> Vec<&str> {
        use ReducerKind::*;
        match self {
            Count => vec![],
            CountDistinct(f)
            | CountDistinctish(f)
            | Sum(f)
            | Min(f)
            | Max(f)
            | Avg(f)
            | Stddev(f)
            | Quantile(f, _)
            | ToList(f)
            | RandomSample(f, _) => vec![f.as_str()],
            FirstValue { field, by } => {
                let mut fields = vec![field.as_str()];
                if let Some((by, _)) = by {
                    fields.push(by.as_str());
                }
                fields
            }
        }
    }
}

/// `SORTBY` and `LIMIT` folded together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Arrange {
    /// Sort keys, in priority order.
    pub keys: Vec<SortKey>,
    /// `MAX m` (0 means absent).
    pub max: usize,
    /// `LIMIT offset num`.
    pub limit: Option<(usize, usize)>,
}

impl Arrange {
    /// The rows this step keeps after sorting: `(offset, count)`.
    pub fn window(&self) -> (usize, Option<usize>) {
        match self.limit {
            Some((offset, count)) => (offset, Some(count)),
            None if self.keys.is_empty() => (0, None),
            None if self.max > 0 => (0, Some(self.max)),
            None => (0, Some(DEFAULT_SORT_LIMIT)),
        }
    }
}

/// One SORTBY key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Field name (without `@`).
    pub field: String,
    /// ASC (the default) or DESC.
    pub ascending: bool,
}

/// What the server must load into each initial row (see [`Plan::fields_needed`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldsNeeded {
    /// `LOAD *`: every field of the document, in the document's order.
    pub all: bool,
    /// Fields to load (also with `all`, for aliases), in order.
    pub fields: Vec<LoadField>,
}

/// What the schema says of a field name, for [`Plan::check_fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaField {
    /// Not in the schema.
    Unknown,
    /// In the schema, not SORTABLE.
    Indexed,
    /// In the schema and SORTABLE (readable by APPLY / FILTER without LOAD).
    Sortable,
}

struct Args<'a> {
    args: &'a [&'a [u8]],
    pos: usize,
}

const EXPECTED_ARGUMENT: &str = "Expected an argument, but none provided";
const BAD_TYPE: &str = "Could not convert argument to expected type";

fn bad_args(what: &str, why: &str) -> String {
    format!("Bad arguments for {what}: {why}")
}

impl<'a> Args<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let arg = self.args.get(self.pos).copied();
        if arg.is_some() {
            self.pos += 1;
        }
        arg
    }

    fn next_text(&mut self) -> Option<String> {
        self.next().map(|arg| String::from_utf8_lossy(arg).into_owned())
    }

    fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    /// A count argument of a sub-clause (`GROUPBY n`, `SORTBY n`, nargs...).
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let arg = self.next().ok_or_else(|| bad_args(what, EXPECTED_ARGUMENT))?;
        parse_unsigned(arg).ok_or_else(|| bad_args(what, BAD_TYPE))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<Vec<String>, String> {
        if n > self.remaining() {
            return Err(bad_args(what, EXPECTED_ARGUMENT));
        }
        Ok((0..n).filter_map(|_| self.next_text()).collect())
    }

    fn peek_is(&self, word: &str) -> bool {
        self.args.get(self.pos).is_some_and(|arg| arg.eq_ignore_ascii_case(word.as_bytes()))
    }
}

fn parse_unsigned(arg: &[u8]) -> Option<usize> {
    std::str::from_utf8(arg).ok()?.parse::<usize>().ok()
}

fn strip_at(field: &str) -> &str {
    field.strip_prefix('@').unwrap_or(field)
}

const SCORERS: &[&str] = &[
    "TFIDF",
    "TFIDF.DOCNORM",
    "BM25",
    "BM25STD",
    "BM25STD.TANH",
    "BM25STD.NORM",
    "DISMAX",
    "DOCSCORE",
    "HAMMING",
];

/// Parses everything after `FT.AGGREGATE index query`.
pub fn parse(args: &[&[u8]]) -> Result<Plan, String> {
    let mut args = Args { args, pos: 0 };
    let mut plan = Plan {
        steps: Vec::new(),
        cursor: None,
        params: Vec::new(),
        dialect: None,
        timeout_ms: None,
        verbatim: false,
        add_scores: false,
        scorer: None,
        output: Vec::new(),
        output_all: false,
    };
    while let Some(arg) = args.next() {
        let keyword = String::from_utf8_lossy(arg).to_ascii_uppercase();
        match keyword.as_str() {
            "VERBATIM" => plan.verbatim = true,
            "ADDSCORES" => plan.add_scores = true,
            "LOAD" => plan.steps.push(parse_load(&mut args)?),
            "GROUPBY" => plan.steps.push(Step::GroupBy(parse_group_by(&mut args)?)),
            "SORTBY" => parse_sort_by(&mut args, &mut plan.steps)?,
            "LIMIT" => parse_limit(&mut args, &mut plan.steps)?,
            "APPLY" | "FILTER" => {
                let text =
                    args.next_text().ok_or_else(|| bad_args("APPLY/FILTER", EXPECTED_ARGUMENT))?;
                let expr = Expr::parse(&text)?;
                if keyword == "FILTER" {
                    plan.steps.push(Step::Filter(expr));
                } else {
                    let name = if args.peek_is("AS") {
                        args.pos += 1;
                        args.next_text().ok_or("AS needs argument")?
                    } else {
                        text
                    };
                    plan.steps.push(Step::Apply { expr, name });
                }
            }
            "TIMEOUT" => {
                let value = args.next().ok_or("Need argument for TIMEOUT")?;
                let ms = parse_unsigned(value).ok_or("TIMEOUT requires a non negative integer")?;
                plan.timeout_ms = Some(ms as u64);
            }
            "WITHCURSOR" => plan.cursor = Some(parse_cursor(&mut args)?),
            "PARAMS" => plan.params = parse_params(&mut args)?,
            "DIALECT" => {
                const BAD_DIALECT: &str = "DIALECT requires a non negative integer >=1 and <= 4";
                let value = args.next().ok_or("Need an argument for DIALECT")?;
                let dialect = parse_unsigned(value).ok_or(BAD_DIALECT)?;
                if !(1..=4).contains(&dialect) {
                    return Err(BAD_DIALECT.into());
                }
                plan.dialect = Some(dialect as u32);
            }
            "SCORER" => {
                let name = args.next_text().ok_or_else(|| bad_args("SCORER", EXPECTED_ARGUMENT))?;
                let upper = name.to_ascii_uppercase();
                if !SCORERS.contains(&upper.as_str()) {
                    return Err(format!("No such scorer {name}"));
                }
                plan.scorer = Some(upper);
            }
            _ => {
                return Err(format!(
                    "Unknown argument `{}` at position {} for <main>",
                    String::from_utf8_lossy(arg),
                    args.pos
                ))
            }
        }
    }
    plan.compute_output();
    Ok(plan)
}

fn parse_load(args: &mut Args<'_>) -> Result<Step, String> {
    const BAD_LOAD: &str = "Bad arguments for LOAD: SUCCESS";
    let first = args.next().ok_or_else(|| bad_args("LOAD", EXPECTED_ARGUMENT))?;
    if first == b"*" {
        return Ok(Step::LoadAll);
    }
    let count = parse_unsigned(first).ok_or(BAD_LOAD)?;
    if count > args.remaining() {
        return Err(BAD_LOAD.into());
    }
    let words = args.take(count, "LOAD")?;
    let mut fields: Vec<LoadField> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let source = strip_at(&words[i]).to_owned();
        let mut name = source.clone();
        if words.get(i + 1).is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
            name = words
                .get(i + 2)
                .cloned()
                .ok_or("LOAD path AS name - must be accompanied with NAME")?;
            i += 2;
        }
        i += 1;
        if !fields.iter().any(|f| f.name == name) {
            fields.push(LoadField { source, name });
        }
    }
    Ok(Step::Load(fields))
}

fn parse_group_by(args: &mut Args<'_>) -> Result<GroupBy, String> {
    let count = args.count("GROUPBY")?;
    let keys = args.take(count, "GROUPBY")?;
    let mut group = GroupBy { keys: Vec::new(), reducers: Vec::new() };
    for key in keys {
        match key.strip_prefix('@') {
            Some(name) => group.keys.push(name.to_owned()),
            None => {
                return Err(bad_args(
                    "GROUPBY",
                    &format!("Unknown property `{key}`. Did you mean `@{key}`?"),
                ))
            }
        }
    }
    while args.peek_is("REDUCE") {
        args.pos += 1;
        group.reducers.push(parse_reducer(args)?);
    }
    Ok(group)
}

fn parse_reducer(args: &mut Args<'_>) -> Result<Reducer, String> {
    let function = args.next_text().ok_or_else(|| bad_args("REDUCE", "SUCCESS"))?;
    let upper = function.to_ascii_uppercase();
    const KNOWN: &[&str] = &[
        "COUNT",
        "COUNT_DISTINCT",
        "COUNT_DISTINCTISH",
        "SUM",
        "MIN",
        "MAX",
        "AVG",
        "STDDEV",
        "QUANTILE",
        "TOLIST",
        "FIRST_VALUE",
        "RANDOM_SAMPLE",
    ];
    if !KNOWN.contains(&upper.as_str()) {
        return Err(format!("No such reducer: {function}"));
    }
    let nargs = args.count(&upper)?;
    let reducer_args = args.take(nargs, &upper)?;
    let missing = || format!("Missing arguments for {upper}");
    let field = |i: usize| reducer_args.get(i).map(|f| strip_at(f).to_owned());
    let kind = match upper.as_str() {
        "COUNT" => {
            if nargs != 0 {
                return Err("Count accepts 0 values only".into());
            }
            ReducerKind::Count
        }
        "QUANTILE" => {
            let name = field(0).ok_or_else(missing)?;
            let q = reducer_args.get(1).ok_or_else(missing)?;
            let q: f64 = q.parse().map_err(|_| bad_args("QUANTILE", BAD_TYPE))?;
            if !(0.0..=1.0).contains(&q) {
                return Err("Percentage must be between 0.0 and 1.0".into());
            }
            ReducerKind::Quantile(name, q)
        }
        "RANDOM_SAMPLE" => {
            let name = field(0).ok_or_else(missing)?;
            let size =
                reducer_args.get(1).ok_or_else(|| bad_args("<sample size>", EXPECTED_ARGUMENT))?;
            let size = size.parse::<usize>().map_err(|_| bad_args("<sample size>", BAD_TYPE))?;
            ReducerKind::RandomSample(name, size)
        }
        "FIRST_VALUE" => {
            let name = field(0).ok_or_else(missing)?;
            let unknown = |i: usize| {
                format!("Unknown argument `{}` at position {i} for FIRST_VALUE", reducer_args[i])
            };
            let by = match reducer_args.get(1) {
                None => None,
                Some(word) if word.eq_ignore_ascii_case("BY") => {
                    let by_field = field(2).ok_or_else(missing)?;
                    let ascending = match reducer_args.get(3) {
                        None => true,
                        Some(dir) if dir.eq_ignore_ascii_case("ASC") => true,
                        Some(dir) if dir.eq_ignore_ascii_case("DESC") => false,
                        Some(_) => return Err(unknown(3)),
                    };
                    if reducer_args.len() > 4 {
                        return Err(unknown(4));
                    }
                    Some((by_field, ascending))
                }
                Some(_) => return Err(unknown(1)),
            };
            ReducerKind::FirstValue { field: name, by }
        }
        _ => {
            let name = field(0).ok_or_else(missing)?;
            match upper.as_str() {
                "COUNT_DISTINCT" => ReducerKind::CountDistinct(name),
                "COUNT_DISTINCTISH" => ReducerKind::CountDistinctish(name),
                "SUM" => ReducerKind::Sum(name),
                "MIN" => ReducerKind::Min(name),
                "MAX" => ReducerKind::Max(name),
                "AVG" => ReducerKind::Avg(name),
                "STDDEV" => ReducerKind::Stddev(name),
                _ => ReducerKind::ToList(name),
            }
        }
    };
    let name = if args.peek_is("AS") {
        args.pos += 1;
        args.next_text().ok_or_else(|| bad_args("AS", EXPECTED_ARGUMENT))?
    } else {
        let joined: Vec<&str> = reducer_args.iter().map(|a| strip_at(a)).collect();
        format!("__generated_alias{}{}", upper, joined.join(",")).to_lowercase()
    };
    Ok(Reducer { kind, name })
}

/// Runs `edit` on the arrange step SORTBY / LIMIT fold into: the last step when it is one,
/// else a new one appended once `edit` succeeds.
fn with_arrange_step(
    steps: &mut Vec<Step>,
    edit: impl FnOnce(&mut Arrange) -> Result<(), String>,
) -> Result<(), String> {
    match steps.last_mut() {
        Some(Step::Arrange(arrange)) => edit(arrange),
        _ => {
            let mut arrange = Arrange::default();
            edit(&mut arrange)?;
            steps.push(Step::Arrange(arrange));
            Ok(())
        }
    }
}

fn parse_sort_by(args: &mut Args<'_>, steps: &mut Vec<Step>) -> Result<(), String> {
    let count = args.count("SORTBY")?;
    let words = args.take(count, "SORTBY")?;
    let mut keys: Vec<SortKey> = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('@') {
            keys.push(SortKey { field: name.to_owned(), ascending: true });
        } else if word.eq_ignore_ascii_case("ASC") || word.eq_ignore_ascii_case("DESC") {
            if let Some(last) = keys.last_mut() {
                last.ascending = word.eq_ignore_ascii_case("ASC");
            }
        } else {
            return Err(format!("MISSING ASC or DESC after sort field ({word})"));
        }
    }
    let mut max = 0;
    if args.peek_is("MAX") {
        args.pos += 1;
        max = args.next().and_then(parse_unsigned).ok_or_else(|| bad_args("MAX", BAD_TYPE))?;
    }
    with_arrange_step(steps, |arrange| {
        if !arrange.keys.is_empty() {
            return Err(
                "Multiple SORTBY steps are not allowed. Sort multiple fields in a single step"
                    .into(),
            );
        }
        arrange.keys = keys;
        arrange.max = max;
        Ok(())
    })
}

fn parse_limit(args: &mut Args<'_>, steps: &mut Vec<Step>) -> Result<(), String> {
    if args.remaining() < 2 {
        return Err("LIMIT requires two arguments".into());
    }
    let offset = args.next().and_then(parse_unsigned);
    let count = args.next().and_then(parse_unsigned);
    let (Some(offset), Some(count)) = (offset, count) else {
        return Err("LIMIT needs two numeric arguments".into());
    };
    if count > MAX_LIMIT {
        return Err(format!("LIMIT exceeds maximum of {MAX_LIMIT}"));
    }
    with_arrange_step(steps, |arrange| {
        arrange.limit = Some((offset, count));
        Ok(())
    })
}

fn parse_cursor(args: &mut Args<'_>) -> Result<CursorOptions, String> {
    let mut options = CursorOptions::default();
    loop {
        let slot = if args.peek_is("COUNT") {
            &mut options.count
        } else if args.peek_is("MAXIDLE") {
            &mut options.max_idle_ms
        } else {
            return Ok(options);
        };
        let what = if args.peek_is("COUNT") { "COUNT" } else { "MAXIDLE" };
        args.pos += 1;
        let value = args.count(what)?;
        if value == 0 {
            return Err(bad_args(what, "Value is outside acceptable bounds"));
        }
        *slot = Some(value as u64);
    }
}

fn parse_params(args: &mut Args<'_>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let count = args.count("PARAMS")?;
    if count == 0 || count % 2 != 0 {
        return Err("Parameters must be specified in PARAM VALUE pairs".into());
    }
    if count > args.remaining() {
        return Err(bad_args("PARAMS", EXPECTED_ARGUMENT));
    }
    let mut params: Vec<(String, Vec<u8>)> = Vec::new();
    for _ in 0..count / 2 {
        let name = args.next_text().unwrap_or_default();
        let value = args.next().unwrap_or_default().to_vec();
        if params.iter().any(|(existing, _)| *existing == name) {
            return Err(format!("Duplicate parameter `{name}`"));
        }
        params.push((name, value));
    }
    Ok(params)
}

/// Field names in the order RediSearch registers them while it builds the pipeline: this is
/// the order of fields in reply rows.
struct Registry {
    names: Vec<String>,
}

impl Registry {
    fn add(&mut self, name: &str) {
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
    }
}

impl Plan {
    fn compute_output(&mut self) {
        let mut registry = Registry { names: Vec::new() };
        if self.add_scores {
            registry.add("__score");
        }
        let mut all = false;
        for step in &self.steps {
            match step {
                Step::LoadAll => all = true,
                Step::Load(fields) => fields.iter().for_each(|f| registry.add(&f.name)),
                Step::Apply { expr, name } => {
                    expr.properties().iter().for_each(|p| registry.add(p));
                    registry.add(name);
                }
                Step::Filter(expr) => expr.properties().iter().for_each(|p| registry.add(p)),
                Step::Arrange(arrange) => arrange.keys.iter().for_each(|k| registry.add(&k.field)),
                Step::GroupBy(group) => {
                    registry = Registry { names: Vec::new() };
                    all = false;
                    group.keys.iter().for_each(|k| registry.add(k));
                    group.reducers.iter().for_each(|r| registry.add(&r.name));
                }
            }
        }
        self.output = registry.names;
        self.output_all = all;
    }

    /// Row fields of the final stage in reply order. With `LOAD *` in the final stage, rows
    /// also show their other fields after these (see [`Plan::shows_all_fields`]).
    pub fn output_fields(&self) -> &[String] {
        &self.output
    }

    /// Whether reply rows show every field they hold (`LOAD *` and no GROUPBY after it).
    pub fn shows_all_fields(&self) -> bool {
        self.output_all
    }

    /// The document fields the pipeline reads before any step produces them, for the server
    /// to load into the initial rows: LOAD lists, then `@field` references of APPLY, FILTER,
    /// SORTBY, GROUPBY and REDUCE before the first GROUPBY, minus APPLY outputs. A field the
    /// document lacks is left out of its row. `__key` is always expected in rows (the server
    /// adds it) and is shown only when a step names it.
    pub fn fields_needed(&self) -> FieldsNeeded {
        let mut needed = FieldsNeeded::default();
        let mut produced: Vec<&str> = Vec::new();
        let want = |needed: &mut FieldsNeeded, produced: &[&str], name: &str| {
            if !produced.contains(&name) && !needed.fields.iter().any(|f| f.name == name) {
                needed.fields.push(LoadField { source: name.to_owned(), name: name.to_owned() });
            }
        };
        for step in &self.steps {
            match step {
                Step::LoadAll => needed.all = true,
                Step::Load(fields) => {
                    for field in fields {
                        if !needed.fields.iter().any(|f| f.name == field.name) {
                            needed.fields.push(field.clone());
                        }
                    }
                }
                Step::Apply { expr, name } => {
                    expr.properties().iter().for_each(|p| want(&mut needed, &produced, p));
                    produced.push(name);
                }
                Step::Filter(expr) => {
                    expr.properties().iter().for_each(|p| want(&mut needed, &produced, p))
                }
                Step::Arrange(arrange) => {
                    arrange.keys.iter().for_each(|k| want(&mut needed, &produced, &k.field))
                }
                Step::GroupBy(group) => {
                    group.keys.iter().for_each(|k| want(&mut needed, &produced, k));
                    for reducer in &group.reducers {
                        reducer.kind.fields().iter().for_each(|f| want(&mut needed, &produced, f));
                    }
                    break;
                }
            }
        }
        needed
    }

    /// Checks every field reference against what the pipeline has at that point, with the
    /// reference's errors. `schema` tells what the index schema says of a name (attribute
    /// names, as the query uses them). Before the first GROUPBY, APPLY and FILTER may read
    /// loaded fields, earlier APPLY outputs and SORTABLE schema fields; GROUPBY, SORTBY and
    /// REDUCE may also read any schema field; `LOAD *` allows anything. After a GROUPBY only
    /// its keys, its reducers' outputs and later APPLY outputs exist.
    pub fn check_fields(&self, schema: &dyn Fn(&str) -> SchemaField) -> Result<(), String> {
        let mut known: Vec<String> = vec!["__key".into(), "__score".into()];
        let mut first_stage = true;
        let mut all = false;
        let is_known =
            |known: &[String], first_stage: bool, all: bool, name: &str, any_schema: bool| {
                if all || known.iter().any(|k| k == name) {
                    return true;
                }
                first_stage
                    && match schema(name) {
                        SchemaField::Sortable => true,
                        SchemaField::Indexed => any_schema,
                        SchemaField::Unknown => false,
                    }
            };
        for step in &self.steps {
            match step {
                Step::LoadAll => all = true,
                Step::Load(fields) => known.extend(fields.iter().map(|f| f.name.clone())),
                Step::Apply { expr, name } => {
                    for p in expr.properties() {
                        if !is_known(&known, first_stage, all, &p, false) {
                            return Err(format!("Property `{p}` not loaded nor in pipeline"));
                        }
                    }
                    known.push(name.clone());
                }
                Step::Filter(expr) => {
                    for p in expr.properties() {
                        if !is_known(&known, first_stage, all, &p, false) {
                            return Err(format!("Property `{p}` not loaded nor in pipeline"));
                        }
                    }
                }
                Step::Arrange(arrange) => {
                    for key in &arrange.keys {
                        if !is_known(&known, first_stage, all, &key.field, true) {
                            return Err(format!(
                                "Property `{}` not loaded nor in schema",
                                key.field
                            ));
                        }
                    }
                }
                Step::GroupBy(group) => {
                    for key in &group.keys {
                        if !is_known(&known, first_stage, all, key, true) {
                            return Err(format!("No such property `{key}`"));
                        }
                    }
                    for reducer in &group.reducers {
                        for field in reducer.kind.fields() {
                            if !is_known(&known, first_stage, all, field, true) {
                                return Err(format!(
                                    "Property `{field}` not present in document or pipeline"
                                ));
                            }
                        }
                    }
                    first_stage = false;
                    all = false;
                    known = group.keys.clone();
                    known.extend(group.reducers.iter().map(|r| r.name.clone()));
                }
            }
        }
        Ok(())
    }
}
