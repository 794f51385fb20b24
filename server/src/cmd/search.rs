//! FT.* (RediSearch 2.10): index definitions are logged writes; searches, FT.INFO and
//! the other introspection commands are reads over `Keyspace::search`. Argument
//! parsing and reply shapes live here; matching lives in `engram_index`.

use std::collections::HashMap;

use bytes::Bytes;
use engram_index::query::ast::Query;
use engram_index::{FieldType, SearchParams};

use crate::cmd::args::Args;
use crate::cmd::ctx::{ApplyCtx, ReadCtx};
use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, Parse, ReadCommand, WriteCommand,
};
use crate::error::CmdError;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::search::{define, IndexDef, SearchIndex};

/// RediSearch's module name and version as `MODULE LIST` reports them (2.10.5).
pub const MODULE_NAME: &str = "search";
/// See [`MODULE_NAME`].
pub const MODULE_VERSION: i64 = 21005;

const W: Flags = Flags::WRITE.with(Flags::MODULE).with(Flags::DENYOOM);
const R: Flags = Flags::READONLY.with(Flags::MODULE);

const fn ft(
    name: &'static str,
    summary: &'static str,
    arity: i32,
    flags: Flags,
    exec: crate::cmd::Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Search,
        summary,
        since: "1.0.0",
        complexity: "O(N)",
        arity,
        flags,
        exec,
        ..CommandSpec::DEFAULT
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    ft("ft.create", "Creates an index with the given spec", -5, W, write::<FtCreate>()),
    ft("ft.dropindex", "Deletes the index", -2, W, write::<FtDropIndex>()),
    ft("ft._dropindexifx", "Deletes the index if it exists", -2, W, write::<FtDropIndexIfx>()),
    ft("ft.alter", "Adds a new field to the index", -3, W, write::<FtAlter>()),
    ft("ft.aliasadd", "Adds an alias to the index", 3, W, write::<FtAlias<{ ALIAS_ADD }>>()),
    ft(
        "ft.aliasupdate",
        "Adds or updates an alias to the index",
        3,
        W,
        write::<FtAlias<{ ALIAS_UPDATE }>>(),
    ),
    ft("ft.aliasdel", "Deletes an alias from the index", 2, W, write::<FtAliasDel>()),
    ft("ft._list", "Returns a list of all existing indexes", 1, R, read::<FtList>()),
    ft("ft.info", "Returns information and statistics on the index", 2, R, read::<FtInfo>()),
    ft(
        "ft.search",
        "Searches the index with a textual query, returning either documents or just ids",
        -3,
        R,
        read::<FtSearch>(),
    ),
    ft("ft.tagvals", "Returns the distinct tags indexed in a Tag field", 3, R, read::<FtTagVals>()),
];

// ---------------------------------------------------------------------------------------
// Helpers

fn err(text: impl Into<String>) -> CmdError {
    CmdError::Custom(text.into())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rest(args: &mut Args<'_>) -> Vec<Bytes> {
    args.take_rest().to_vec()
}

/// FT.INFO / FT.SEARCH's error for an unknown index.
fn no_such_index(name: &str) -> CmdError {
    err(format!("{name}: no such index"))
}

/// A number formatted as RediSearch prints doubles (`%.12g`).
pub fn format_g12(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-5..12).contains(&exp) {
        let s = format!("{:.11e}", v);
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim_zeros(mantissa);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (11 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Index definitions (writes)

/// `FT.CREATE index [options] SCHEMA field...`
struct FtCreate {
    name: String,
    def: IndexDef,
    argv: Vec<Bytes>,
}

impl Parse for FtCreate {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let all = args.rest().to_vec();
        let name = text(&args.next_bytes()?);
        let def = IndexDef::parse(&rest(args)).map_err(err)?;
        let mut argv = vec![Bytes::from_static(b"FT.CREATE")];
        argv.extend(all);
        Ok(FtCreate { name, def, argv })
    }
}

impl WriteCommand for FtCreate {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        if cx.ks.search.exists(&self.name) {
            return Err(err("Index already exists"));
        }
        cx.ks.search.create(self.name, self.def, self.argv);
        // Small databases are indexed before the reply; big ones continue in the
        // background (`percent_indexed` climbs meanwhile).
        let (db0, search) = cx.ks.search_parts();
        search.backfill_step(db0, cx.now_ms, std::time::Duration::from_millis(20));
        Ok(Reply::ok())
    }
}

/// `FT.DROPINDEX index [DD]`
struct FtDropIndex {
    name: String,
    delete_docs: bool,
}

impl Parse for FtDropIndex {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let name = text(&args.next_bytes()?);
        let delete_docs = args.eat("DD");
        Ok(FtDropIndex { name, delete_docs })
    }
}

impl WriteCommand for FtDropIndex {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let Some(name) = cx.ks.search.resolve(&self.name) else {
            return Err(err("Unknown Index name"));
        };
        drop_index(cx, &name, self.delete_docs);
        Ok(Reply::ok())
    }
}

fn drop_index(cx: &mut ApplyCtx<'_>, name: &str, delete_docs: bool) {
    let keys = cx.ks.search.drop_index(name).unwrap_or_default();
    if delete_docs {
        let now_ms = cx.now_ms;
        let mut db = cx.ks.db_mut(0);
        for key in keys {
            db.remove(&key, now_ms, "del");
        }
    }
}

/// `FT._DROPINDEXIFX index [DD]` (what redis-py's drop with `if_exists` style helpers send).
struct FtDropIndexIfx(FtDropIndex);

impl Parse for FtDropIndexIfx {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        FtDropIndex::parse(args).map(FtDropIndexIfx)
    }
}

impl WriteCommand for FtDropIndexIfx {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        if let Some(name) = cx.ks.search.resolve(&self.0.name) {
            drop_index(cx, &name, self.0.delete_docs);
        }
        Ok(Reply::ok())
    }
}

/// `FT.ALTER index [SKIPINITIALSCAN] SCHEMA ADD field...`
struct FtAlter {
    name: String,
    skip_scan: bool,
    fields: Vec<Bytes>,
    argv: Vec<Bytes>,
}

impl Parse for FtAlter {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let all = args.rest().to_vec();
        let name = text(&args.next_bytes()?);
        let skip_scan = args.eat("SKIPINITIALSCAN");
        if !args.eat("SCHEMA") {
            return Err(err(format!(
                "Unknown argument `{}`",
                args.peek().map(|a| text(a)).unwrap_or_default()
            )));
        }
        if !args.eat("ADD") {
            return Err(err("Unknown action passed to ALTER SCHEMA"));
        }
        let fields = rest(args);
        if fields.is_empty() {
            return Err(err("No fields provided"));
        }
        define::parse_fields(&fields, &[]).map_err(err)?;
        let mut argv = vec![Bytes::from_static(b"FT.ALTER")];
        argv.extend(all);
        Ok(FtAlter { name, skip_scan, fields, argv })
    }
}

impl WriteCommand for FtAlter {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let Some(index) = cx.ks.search.get_mut(&self.name) else {
            return Err(err("Unknown index name"));
        };
        let fields = define::parse_fields(&self.fields, &index.def.fields).map_err(err)?;
        index.def.add_fields(fields.clone()).map_err(err)?;
        index.index.add_fields(fields);
        index.history.push(self.argv);
        if !self.skip_scan {
            index.backfill = Some(0);
            let (db0, search) = cx.ks.search_parts();
            search.backfill_step(db0, cx.now_ms, std::time::Duration::from_millis(20));
        }
        Ok(Reply::ok())
    }
}

const ALIAS_ADD: u8 = 0;
const ALIAS_UPDATE: u8 = 1;

/// `FT.ALIASADD alias index` / `FT.ALIASUPDATE alias index`
struct FtAlias<const MODE: u8> {
    alias: String,
    index: String,
}

impl<const MODE: u8> Parse for FtAlias<MODE> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtAlias { alias: text(&args.next_bytes()?), index: text(&args.next_bytes()?) })
    }
}

impl<const MODE: u8> WriteCommand for FtAlias<MODE> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let search = &mut cx.ks.search;
        if !search.exists(&self.index) {
            return Err(err("Unknown index name (or name is an alias itself)"));
        }
        if MODE == ALIAS_ADD && (search.is_alias(&self.alias) || search.exists(&self.alias)) {
            return Err(err("Alias already exists"));
        }
        search.set_alias(self.alias, self.index);
        Ok(Reply::ok())
    }
}

/// `FT.ALIASDEL alias`
struct FtAliasDel(String);

impl Parse for FtAliasDel {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtAliasDel(text(&args.next_bytes()?)))
    }
}

impl WriteCommand for FtAliasDel {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        if !cx.ks.search.remove_alias(&self.0) {
            return Err(err("Alias does not exist"));
        }
        Ok(Reply::ok())
    }
}

// ---------------------------------------------------------------------------------------
// Introspection (reads)

/// `FT._LIST`
struct FtList;

impl Parse for FtList {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtList)
    }
}

impl ReadCommand for FtList {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        Ok(Reply::Set(cx.ks.search.names().map(Reply::bulk).collect()))
    }
}

/// `FT.TAGVALS index field`
struct FtTagVals {
    index: String,
    field: String,
}

impl Parse for FtTagVals {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtTagVals { index: text(&args.next_bytes()?), field: text(&args.next_bytes()?) })
    }
}

impl ReadCommand for FtTagVals {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let index = cx.ks.search.get(&self.index).ok_or_else(|| err("Unknown Index name"))?;
        let Some(field) = index.index.field_index(&self.field) else {
            return Err(err("No such field"));
        };
        if !matches!(index.def.fields[field].ty, FieldType::Tag { .. }) {
            return Err(err("Not a tag field"));
        }
        Ok(Reply::Set(index.index.tag_values(field).into_iter().map(Reply::bulk).collect()))
    }
}

/// `FT.INFO index`
struct FtInfo(String);

impl Parse for FtInfo {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtInfo(text(&args.next_bytes()?)))
    }
}

impl ReadCommand for FtInfo {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let index = cx.ks.search.get(&self.0).ok_or_else(|| err("Unknown index name"))?;
        let name = cx.ks.search.resolve(&self.0).unwrap_or_else(|| self.0.clone());
        Ok(info_reply(&name, index, crate::keyspace::db::SLOTS))
    }
}

fn pair(name: &str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk(name), value)
}

fn mb(bytes: usize) -> Reply {
    Reply::bulk(format_g12(bytes as f64 / (1024.0 * 1024.0)))
}

fn field_attributes(field: &engram_index::Field, on_json: bool) -> Reply {
    let mut out = vec![
        pair("identifier", Reply::bulk(&field.identifier)),
        pair("attribute", Reply::bulk(&field.attribute)),
        pair("type", Reply::bulk(field.ty.name())),
    ];
    let flag =
        |out: &mut Vec<(Reply, Reply)>, name: &str| out.push((Reply::bulk(name), Reply::Null));
    match &field.ty {
        FieldType::Text { weight, nostem, phonetic, with_suffix_trie } => {
            out.push(pair("WEIGHT", Reply::bulk(format_g12(*weight))));
            if *nostem {
                flag(&mut out, "NOSTEM");
            }
            if let Some(p) = phonetic {
                out.push(pair("PHONETIC", Reply::bulk(p)));
            }
            if *with_suffix_trie {
                flag(&mut out, "WITHSUFFIXTRIE");
            }
        }
        FieldType::Tag { separator, case_sensitive, with_suffix_trie } => {
            let sep =
                if on_json && *separator == ',' { String::new() } else { separator.to_string() };
            out.push(pair("SEPARATOR", Reply::bulk(sep)));
            if *case_sensitive {
                flag(&mut out, "CASESENSITIVE");
            }
            if *with_suffix_trie {
                flag(&mut out, "WITHSUFFIXTRIE");
            }
        }
        FieldType::Vector(p) => {
            use engram_index::vector::{Algorithm, Metric, VectorType};
            let algorithm = if p.algorithm == Algorithm::Hnsw { "HNSW" } else { "FLAT" };
            let ty = match p.ty {
                VectorType::Float32 => "FLOAT32",
                VectorType::Float64 => "FLOAT64",
                VectorType::Float16 => "FLOAT16",
                VectorType::BFloat16 => "BFLOAT16",
            };
            let metric = match p.metric {
                Metric::L2 => "L2",
                Metric::InnerProduct => "IP",
                Metric::Cosine => "COSINE",
            };
            out.push(pair("algorithm", Reply::bulk(algorithm)));
            out.push(pair("data_type", Reply::bulk(ty)));
            out.push(pair("dim", Reply::Int(p.dim as i64)));
            out.push(pair("distance_metric", Reply::bulk(metric)));
            if p.algorithm == Algorithm::Hnsw {
                out.push(pair("M", Reply::Int(p.m as i64)));
                out.push(pair("ef_construction", Reply::Int(p.ef_construction as i64)));
            }
        }
        FieldType::Numeric | FieldType::Geo => {}
    }
    if field.sortable {
        flag(&mut out, "SORTABLE");
        if field.unf || matches!(field.ty, FieldType::Tag { .. }) {
            flag(&mut out, "UNF");
        }
    }
    if field.noindex {
        flag(&mut out, "NOINDEX");
    }
    // Flags print as lone words in RESP2 arrays (RediSearch lists them without values).
    let mut flat = Vec::new();
    for (k, v) in out {
        flat.push(k);
        if !matches!(v, Reply::Null) {
            flat.push(v);
        }
    }
    Reply::Array(flat)
}

fn info_reply(name: &str, index: &SearchIndex, tables: usize) -> Reply {
    let def = &index.def;
    let mut definition = vec![
        pair("key_type", Reply::bulk(if def.on_json { "JSON" } else { "HASH" })),
        pair(
            "prefixes",
            Reply::Array(if def.prefixes.is_empty() {
                vec![Reply::bulk("")]
            } else {
                def.prefixes.iter().map(Reply::bulk).collect()
            }),
        ),
    ];
    if let Some(filter) = &def.filter {
        definition.push(pair("filter", Reply::bulk(filter)));
    }
    if let Some(language) = &def.language {
        definition.push(pair("default_language", Reply::bulk(language)));
    }
    definition.push(pair("default_score", Reply::bulk(format_g12(def.score))));
    let docs = index.index.num_docs();
    let vector_bytes = index.index.vector_memory_bytes();
    let indexing = index.backfill.is_some();
    let errors = |index: &SearchIndex| {
        let (error, key) = match &index.last_error {
            Some((e, k)) => (Reply::bulk(e), Reply::bulk(k)),
            None => (Reply::bulk("N/A"), Reply::bulk("N/A")),
        };
        Reply::Map(vec![
            pair("indexing failures", Reply::Int(index.failures as i64)),
            pair("last indexing error", error),
            pair("last indexing error key", key),
        ])
    };
    let field_stats: Vec<Reply> = def
        .fields
        .iter()
        .map(|f| {
            Reply::Map(vec![
                pair("identifier", Reply::bulk(&f.identifier)),
                pair("attribute", Reply::bulk(&f.attribute)),
                pair("Index Errors", errors(index)),
            ])
        })
        .collect();
    let fields = vec![
        pair("index_name", Reply::bulk(name)),
        pair("index_options", Reply::Array(def.options.iter().map(|o| Reply::bulk(*o)).collect())),
        pair("index_definition", Reply::Map(definition)),
        pair(
            "attributes",
            Reply::Array(def.fields.iter().map(|f| field_attributes(f, def.on_json)).collect()),
        ),
        pair("num_docs", Reply::Int(docs as i64)),
        pair("max_doc_id", Reply::Int(index.index.max_doc_id() as i64)),
        pair("num_terms", Reply::Int(index.index.num_terms() as i64)),
        pair("num_records", Reply::Int(docs as i64 * def.fields.len() as i64)),
        pair("inverted_sz_mb", mb(0)),
        pair("vector_index_sz_mb", mb(vector_bytes)),
        pair("total_inverted_index_blocks", Reply::Int(0)),
        pair("offset_vectors_sz_mb", mb(0)),
        pair("doc_table_size_mb", mb(docs * 64)),
        pair("sortable_values_size_mb", mb(0)),
        pair("key_table_size_mb", mb(docs * 32)),
        pair("tag_overhead_sz_mb", mb(0)),
        pair("text_overhead_sz_mb", mb(0)),
        pair("total_index_memory_sz_mb", mb(vector_bytes + docs * 96)),
        pair("geoshapes_sz_mb", mb(0)),
        pair(
            "records_per_doc_avg",
            Reply::bulk(if docs == 0 {
                "nan".to_owned()
            } else {
                format_g12(def.fields.len() as f64)
            }),
        ),
        pair("bytes_per_record_avg", Reply::bulk(if docs == 0 { "nan" } else { "0" })),
        pair("offsets_per_term_avg", Reply::bulk(if docs == 0 { "nan" } else { "0" })),
        pair("offset_bits_per_record_avg", Reply::bulk(if docs == 0 { "nan" } else { "0" })),
        pair("hash_indexing_failures", Reply::Int(index.failures as i64)),
        pair("total_indexing_time", Reply::bulk(format_g12(index.indexing_us as f64 / 1000.0))),
        pair("indexing", Reply::Int(i64::from(indexing))),
        pair("percent_indexed", Reply::bulk(format_g12(index.percent_indexed(tables)))),
        pair(
            "number_of_uses",
            Reply::Int(index.uses.load(std::sync::atomic::Ordering::Relaxed) as i64),
        ),
        pair("cleaning", Reply::Int(0)),
        pair(
            "gc_stats",
            Reply::Map(vec![
                pair("bytes_collected", Reply::Int(0)),
                pair("total_ms_run", Reply::Int(0)),
                pair("total_cycles", Reply::Int(0)),
                pair("average_cycle_time_ms", Reply::bulk("nan")),
                pair("last_run_time_ms", Reply::Int(0)),
                pair("gc_numeric_trees_missed", Reply::Int(0)),
                pair("gc_blocks_denied", Reply::Int(0)),
            ]),
        ),
        pair(
            "cursor_stats",
            Reply::Map(vec![
                pair("global_idle", Reply::Int(0)),
                pair("global_total", Reply::Int(0)),
                pair("index_capacity", Reply::Int(128)),
                pair("index_total", Reply::Int(0)),
            ]),
        ),
        pair(
            "dialect_stats",
            Reply::Map((1..=4).map(|d| pair(&format!("dialect_{d}"), Reply::Int(0))).collect()),
        ),
        pair("Index Errors", errors(index)),
        pair("field statistics", Reply::Array(field_stats)),
    ];
    Reply::Map(fields)
}

// ---------------------------------------------------------------------------------------
// FT.SEARCH

/// One RETURN entry: a field (attribute, hash field or JSONPath) and its output name.
#[derive(Debug, Clone)]
struct ReturnField {
    name: String,
    alias: Option<String>,
}

/// `FT.SEARCH index query [options]`
struct FtSearch {
    index: String,
    query: String,
    params: HashMap<String, Vec<u8>>,
    no_content: bool,
    with_scores: bool,
    with_sort_keys: bool,
    returns: Option<Vec<ReturnField>>,
    sort_by: Option<(String, bool)>,
    offset: usize,
    count: usize,
    dialect: usize,
}

/// RediSearch's error for a bad option at `position` (1-based after the command name).
fn bad_argument(arg: &[u8], position: usize) -> CmdError {
    err(format!("Unknown argument `{}` at position {position} for <main>", text(arg)))
}

impl Parse for FtSearch {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let index = text(&args.next_bytes()?);
        let query = text(&args.next_bytes().map_err(|_| err("No query string provided"))?);
        let mut cmd = FtSearch {
            index,
            query,
            params: HashMap::new(),
            no_content: false,
            with_scores: false,
            with_sort_keys: false,
            returns: None,
            sort_by: None,
            offset: 0,
            count: 10,
            dialect: 1,
        };
        let argv = args.take_rest();
        let mut i = 0;
        let count_arg = |i: usize, what: &str| -> Result<usize, CmdError> {
            argv.get(i).and_then(|a| std::str::from_utf8(a).ok()?.parse::<usize>().ok()).ok_or_else(
                || {
                    err(format!(
                        "Bad arguments for {what}: Could not convert argument to expected type"
                    ))
                },
            )
        };
        let need = |i: usize, n: usize, what: &str| -> Result<(), CmdError> {
            if i + n > argv.len() {
                return Err(err(format!(
                    "Bad arguments for {what}: Not enough arguments were provided"
                )));
            }
            Ok(())
        };
        while i < argv.len() {
            let word = text(&argv[i]).to_ascii_uppercase();
            i += 1;
            match word.as_str() {
                "NOCONTENT" => cmd.no_content = true,
                "WITHSCORES" => cmd.with_scores = true,
                "WITHSORTKEYS" => cmd.with_sort_keys = true,
                "VERBATIM" | "NOSTOPWORDS" | "WITHPAYLOADS" | "INORDER" | "EXPLAINSCORE" => {}
                "LIMIT" => {
                    if i + 2 > argv.len() {
                        return Err(err("LIMIT requires two arguments"));
                    }
                    let numeric = |i: usize| {
                        count_arg(i, "LIMIT").map_err(|_| err("LIMIT needs two numeric arguments"))
                    };
                    let offset = numeric(i)?;
                    let count = numeric(i + 1)?;
                    cmd.offset = offset;
                    cmd.count = count;
                    i += 2;
                }
                "SORTBY" => {
                    need(i, 1, "SORTBY")?;
                    let field = text(&argv[i]);
                    let field = field.strip_prefix('@').unwrap_or(&field).to_owned();
                    i += 1;
                    let mut ascending = true;
                    if let Some(dir) = argv.get(i) {
                        if dir.eq_ignore_ascii_case(b"ASC") {
                            i += 1;
                        } else if dir.eq_ignore_ascii_case(b"DESC") {
                            ascending = false;
                            i += 1;
                        }
                    }
                    if argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(b"WITHCOUNT")) {
                        i += 1;
                    }
                    cmd.sort_by = Some((field, ascending));
                }
                "RETURN" => {
                    let n = count_arg(i, "RETURN")?;
                    i += 1;
                    if i + n > argv.len() {
                        return Err(err(
                            "Bad arguments for RETURN: Expected an argument, but none provided",
                        ));
                    }
                    let end = i + n;
                    let mut fields = Vec::new();
                    while i < end {
                        let name = text(&argv[i]);
                        let name = name.strip_prefix('@').unwrap_or(&name).to_owned();
                        i += 1;
                        let mut alias = None;
                        if i + 1 < end + 1
                            && argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(b"AS"))
                            && i < end
                        {
                            alias = argv.get(i + 1).map(|a| text(a));
                            i += 2;
                        }
                        fields.push(ReturnField { name, alias });
                    }
                    i = end.max(i);
                    cmd.no_content = cmd.no_content || n == 0;
                    cmd.returns = Some(fields);
                }
                "PARAMS" => {
                    let n = count_arg(i, "PARAMS")?;
                    i += 1;
                    if n % 2 != 0 {
                        return Err(err(
                            "Bad arguments for PARAMS: Expected an even number of arguments",
                        ));
                    }
                    need(i, n, "PARAMS")?;
                    for pair in argv[i..i + n].chunks_exact(2) {
                        cmd.params.insert(text(&pair[0]), pair[1].to_vec());
                    }
                    i += n;
                }
                "DIALECT" => {
                    let d =
                        count_arg(i, "DIALECT").ok().filter(|d| (1..=4).contains(d)).ok_or_else(
                            || err("DIALECT requires a non negative integer >=1 and <= 4"),
                        )?;
                    cmd.dialect = d;
                    i += 1;
                }
                "TIMEOUT" | "SLOP" | "LANGUAGE" | "EXPANDER" | "SCORER" | "PAYLOAD" => {
                    need(i, 1, &word)?;
                    i += 1;
                }
                "INKEYS" | "INFIELDS" => {
                    let n = count_arg(i, &word)?;
                    need(i + 1, n, &word)?;
                    i += 1 + n;
                }
                "FILTER" => {
                    need(i, 3, "FILTER")?;
                    i += 3;
                }
                "GEOFILTER" => {
                    need(i, 5, "GEOFILTER")?;
                    i += 5;
                }
                _ => return Err(bad_argument(&argv[i - 1], i)),
            }
        }
        Ok(cmd)
    }
}

impl ReadCommand for FtSearch {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let index = cx.ks.search.get(&self.index).ok_or_else(|| no_such_index(&self.index))?;
        crate::search::count_use(index);
        let query: Query =
            engram_index::query::parse(&self.query, &self.params).map_err(|e| err(e.0))?;
        let params =
            SearchParams { sort_by: self.sort_by.clone(), offset: self.offset, count: self.count };
        let result = index.index.search(&query, &params).map_err(|e| err(e.0))?;
        let db0 = cx.ks.db(0);
        let mut resp2 = vec![Reply::Int(result.total as i64)];
        let mut resp3_results = Vec::new();
        for hit in &result.hits {
            let Some(key) = index.index.key(hit.id) else { continue };
            resp2.push(Reply::bulk(key));
            let score = Reply::bulk(format_g12(hit.score));
            if self.with_scores {
                resp2.push(score.clone());
            }
            let sort_key =
                self.sort_by.as_ref().map(|(field, _)| sort_key_reply(index, hit, field));
            if self.with_sort_keys {
                resp2.push(sort_key.clone().unwrap_or(Reply::Null));
            }
            let fields = if self.no_content {
                Vec::new()
            } else {
                self.document_fields(index, db0, key, hit, cx.now_ms)
            };
            let mut entry = vec![pair("id", Reply::bulk(key))];
            if self.with_scores {
                entry.push(pair("score", Reply::Double(hit.score)));
            }
            if self.with_sort_keys {
                entry.push(pair("sortkey", sort_key.unwrap_or(Reply::Null)));
            }
            if !self.no_content {
                resp2.push(Reply::Array(
                    fields.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
                ));
                entry.push(pair("extra_attributes", Reply::Map(fields)));
            }
            entry.push(pair("values", Reply::Array(Vec::new())));
            resp3_results.push(Reply::Map(entry));
        }
        let resp3 = Reply::Map(vec![
            pair("attributes", Reply::Array(Vec::new())),
            pair("total_results", Reply::Int(result.total as i64)),
            pair("format", Reply::bulk("STRING")),
            pair("results", Reply::Array(resp3_results)),
            pair("warning", Reply::Array(Vec::new())),
        ]);
        Ok(Reply::PerProto(Box::new((Reply::Array(resp2), resp3))))
    }
}

/// Parses a query in `dialect`. Dialect 1 (the default) has no vector clauses and no
/// parameters: RediSearch reports them as syntax errors at the `=>` or `VECTOR_RANGE`.
pub(crate) fn parse_query(
    text: &str,
    params: &HashMap<String, Vec<u8>>,
    dialect: usize,
) -> Result<Query, CmdError> {
    if dialect < 2 {
        if let Some(at) = text.find("=>[") {
            return Err(err(format!("Syntax error at offset {} near >[", at)));
        }
        if let Some(at) = text.to_ascii_uppercase().find("VECTOR_RANGE") {
            return Err(err(format!("Syntax error at offset {at} near VECTOR_RANGE")));
        }
    }
    engram_index::query::parse(text, params).map_err(|e| err(e.0))
}

fn sort_key_reply(index: &SearchIndex, hit: &engram_index::Hit, field: &str) -> Reply {
    if let Some((_, d)) = hit.distances.iter().find(|(n, _)| n == field) {
        return Reply::bulk(format!("#{}", format_g12(f64::from(*d))));
    }
    let Some(f) = index.index.field_index(field) else { return Reply::Null };
    match index.index.value(hit.id, f) {
        Some(engram_index::FieldValue::Numeric(n)) => match n.first() {
            Some(v) => Reply::bulk(format!("#{}", format_g12(*v))),
            None => Reply::Null,
        },
        Some(engram_index::FieldValue::Text(t)) | Some(engram_index::FieldValue::Tags(t)) => {
            match t.first() {
                Some(s) => Reply::bulk(format!("${}", s.to_lowercase())),
                None => Reply::Null,
            }
        }
        _ => Reply::Null,
    }
}

impl FtSearch {
    /// The field list of one result: distances the query yields, then the document's
    /// fields (all of them, or RETURN's).
    fn document_fields(
        &self,
        index: &SearchIndex,
        db0: &crate::keyspace::Db,
        key: &[u8],
        hit: &engram_index::Hit,
        now_ms: u64,
    ) -> Vec<(Reply, Reply)> {
        let value = db0.get(key, now_ms);
        let mut out = Vec::new();
        match &self.returns {
            None => {
                for (name, d) in &hit.distances {
                    out.push((Reply::bulk(name), Reply::bulk(format_g12(f64::from(*d)))));
                }
                match value {
                    Some(Value::Hash(hash)) => {
                        let sort_field =
                            self.sort_by.as_ref().map(|(f, _)| sort_identifier(index, f));
                        if let Some(sf) = &sort_field {
                            if let Some(v) = hash.get_live(sf.as_bytes(), now_ms) {
                                out.push((Reply::bulk(sf), Reply::bulk(v)));
                            }
                        }
                        for slot in hash.iter_live(now_ms) {
                            if sort_field
                                .as_deref()
                                .is_some_and(|sf| sf.as_bytes() == &slot.field[..])
                            {
                                continue;
                            }
                            out.push((Reply::bulk(&slot.field), Reply::bulk(&slot.value)));
                        }
                    }
                    Some(Value::Json(doc)) => {
                        out.push((
                            Reply::bulk("$"),
                            Reply::bulk(doc.to_json(&engram_json::Format::default())),
                        ));
                    }
                    _ => {}
                }
            }
            Some(fields) => {
                for field in fields {
                    let name = field.alias.clone().unwrap_or_else(|| field.name.clone());
                    if let Some((_, d)) = hit.distances.iter().find(|(n, _)| *n == field.name) {
                        out.push((Reply::bulk(&name), Reply::bulk(format_g12(f64::from(*d)))));
                        continue;
                    }
                    if let Some(v) = load_field(index, Some(hit.id), value, &field.name, now_ms) {
                        out.push((Reply::bulk(&name), v));
                    }
                }
            }
        }
        out
    }
}

/// The hash field or JSONPath behind an attribute name (itself when not in the schema).
fn sort_identifier(index: &SearchIndex, name: &str) -> String {
    index
        .def
        .fields
        .iter()
        .find(|f| f.attribute == name)
        .map_or_else(|| name.to_owned(), |f| f.identifier.clone())
}

/// A document field by attribute, hash field name or JSONPath, as FT.SEARCH returns it.
pub(crate) fn load_field(
    index: &SearchIndex,
    doc_id: Option<engram_index::DocId>,
    value: Option<&Value>,
    name: &str,
    now_ms: u64,
) -> Option<Reply> {
    let identifier = sort_identifier(index, name);
    // A sortable number comes from the sorting vector, printed as a double.
    if let Some(field) = index.index.field_index(name) {
        if index.def.fields[field].sortable {
            if let Some(engram_index::FieldValue::Numeric(n)) = index.index.value(doc_id?, field) {
                return n.first().map(|v| Reply::bulk(format_g12(*v)));
            }
        }
    }
    match value? {
        Value::Hash(hash) => hash.get_live(identifier.as_bytes(), now_ms).map(Reply::bulk),
        Value::Json(doc) => {
            let path = engram_json::Path::parse(&identifier).ok()?;
            let selected = doc.select(&path);
            let first = selected.first()?;
            Some(Reply::bulk(json_text(
                first,
                path.is_legacy() || selected.len() == 1 && !identifier.starts_with('$'),
            )))
        }
        _ => None,
    }
}

/// A JSON value as FT.SEARCH prints it: strings bare, numbers `%.12g`-style, the rest
/// serialized.
fn json_text(value: &serde_json::Value, _legacy: bool) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format_g12(f),
            _ => n.to_string(),
        },
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Null => "null".into(),
        other => {
            let doc = engram_json::Document::from_value(other.clone());
            doc.to_json(&engram_json::Format::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_printf_g12() {
        assert_eq!(format_g12(0.285641372204), "0.285641372204");
        assert_eq!(format_g12(1.622899889946), "1.62289988995");
        assert_eq!(format_g12(3.0), "3");
        assert_eq!(format_g12(1.5), "1.5");
        assert_eq!(format_g12(0.0), "0");
        assert_eq!(format_g12(1e-7), "1e-07");
        assert_eq!(format_g12(f64::INFINITY), "inf");
    }
}
