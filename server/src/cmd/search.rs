//! FT.* (RediSearch 2.10): index definitions are logged writes; searches, FT.INFO and
//! the other introspection commands are reads over `Keyspace::search`. Argument
//! parsing and reply shapes live here; matching lives in `engram_index`.

use std::collections::HashMap;

use bytes::Bytes;
use engram_index::aggregate::{self, Row, SchemaField, Value as AggValue};
use engram_index::query::ast::{NumBound, Query, QueryNode};
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
    ft(
        "ft._restoreindex",
        "Restores an index's documents and vector graphs from a snapshot",
        3,
        W,
        write::<FtRestoreIndex>(),
    ),
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
        -2,
        R,
        read::<FtSearch>(),
    ),
    ft("ft.tagvals", "Returns the distinct tags indexed in a Tag field", 3, R, read::<FtTagVals>()),
    ft(
        "ft.aggregate",
        "Run a search query on an index and perform aggregate transformations on the results",
        -2,
        R,
        read::<FtAggregate>(),
    ),
    ft(
        "ft.explain",
        "Returns the execution plan for a complex query",
        -2,
        R,
        read::<FtExplain<false>>(),
    ),
    ft(
        "ft.explaincli",
        "Returns the execution plan for a complex query",
        -2,
        R,
        read::<FtExplain<true>>(),
    ),
    ft(
        "ft.profile",
        "Performs a FT.SEARCH or FT.AGGREGATE command and collects performance information",
        -5,
        R,
        crate::cmd::Exec::Read(profile),
    ),
    CommandSpec {
        subcommands: CONFIG_SUBCOMMANDS,
        ..ft("ft.config", "Configures runtime options", -2, R, crate::cmd::Exec::Container)
    },
    CommandSpec {
        subcommands: CURSOR_SUBCOMMANDS,
        ..ft("ft.cursor", "Reads or deletes a cursor", -2, R, crate::cmd::Exec::Container)
    },
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    ft("get", "Retrieves runtime configuration options", 3, R, crate::cmd::Exec::Read(config_get)),
    ft("set", "Sets runtime configuration options", 4, R, crate::cmd::Exec::Read(config_set)),
    ft(
        "help",
        "Help description of runtime configuration options",
        2,
        R,
        crate::cmd::Exec::Read(config_help),
    ),
];

const CURSOR_SUBCOMMANDS: &[CommandSpec] = &[
    ft("read", "Reads from a cursor", -4, R, crate::cmd::Exec::Read(cursor_read)),
    ft("del", "Deletes a cursor", 4, R, crate::cmd::Exec::Read(cursor_del)),
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
        backfill_before_reply(cx);
        Ok(Reply::ok())
    }
}

/// Indexes existing keys for up to 20 ms before the reply: small databases are indexed
/// when FT.CREATE / FT.ALTER answers, big ones continue in the background.
fn backfill_before_reply(cx: &mut ApplyCtx<'_>) {
    let (db0, search) = cx.ks.search_parts();
    search.backfill_step(db0, cx.now_ms, std::time::Duration::from_millis(20));
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
            return Err(err("ALTER must be followed by SCHEMA"));
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
        let added = fields.len();
        index.def.add_fields(fields).map_err(err)?;
        let normalized = index.def.fields[index.def.fields.len() - added..].to_vec();
        index.index.add_fields(normalized);
        index.history.push(self.argv);
        if !self.skip_scan {
            index.backfill = Some(0);
            backfill_before_reply(cx);
        }
        Ok(Reply::ok())
    }
}

/// `FT._RESTOREINDEX index data`: what `Index::save` wrote, replayed from a snapshot so a
/// restart does not rebuild vector graphs. Data that does not verify is ignored: the
/// snapshot's keys, replayed next, rebuild the index the slow way.
struct FtRestoreIndex {
    name: String,
    data: Bytes,
}

impl Parse for FtRestoreIndex {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(FtRestoreIndex { name: text(&args.next_bytes()?), data: args.next_bytes()? })
    }
}

impl WriteCommand for FtRestoreIndex {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let Some(index) = cx.ks.search.get_mut(&self.name) else {
            return Err(err("Unknown index name"));
        };
        let started = crate::clock::monotonic();
        match engram_index::Index::restore(index.def.fields.clone(), &self.data) {
            Some(restored) => {
                tracing::info!(
                    index = %self.name,
                    docs = restored.num_docs(),
                    ms = started.elapsed().as_millis() as u64,
                    "search index restored from the snapshot"
                );
                index.index = restored;
                Ok(Reply::ok())
            }
            None => {
                tracing::warn!(index = %self.name, "saved search index does not verify; rebuilding from the keys");
                Err(err("Invalid index data"))
            }
        }
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
        Ok(Reply::Set(cx.ks.search.names().map(|n| simple(n.as_str())).collect()))
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
    (simple(name), value)
}

/// A simple string (RediSearch sends names and most words that way).
fn simple(s: impl Into<String>) -> Reply {
    Reply::Status(s.into().into())
}

fn mb(bytes: usize) -> Reply {
    Reply::bulk(format_g12(bytes as f64 / (1024.0 * 1024.0)))
}

fn field_attributes(field: &engram_index::Field) -> Reply {
    let mut out = vec![
        pair("identifier", simple(&field.identifier)),
        pair("attribute", simple(&field.attribute)),
        pair("type", simple(field.ty.name())),
    ];
    let flag = |out: &mut Vec<(Reply, Reply)>, name: &str| out.push((simple(name), Reply::Null));
    match &field.ty {
        FieldType::Text { weight, nostem, phonetic, with_suffix_trie } => {
            out.push(pair("WEIGHT", double(*weight)));
            if *nostem {
                flag(&mut out, "NOSTEM");
            }
            if let Some(p) = phonetic {
                out.push(pair("PHONETIC", simple(p.as_str())));
            }
            if *with_suffix_trie {
                flag(&mut out, "WITHSUFFIXTRIE");
            }
        }
        FieldType::Tag { separator, case_sensitive, with_suffix_trie } => {
            let sep = separator.map(String::from).unwrap_or_default();
            out.push(pair("SEPARATOR", simple(sep)));
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
            out.push(pair("algorithm", simple(algorithm)));
            out.push(pair("data_type", simple(ty)));
            out.push(pair("dim", Reply::Int(p.dim as i64)));
            out.push(pair("distance_metric", simple(metric)));
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
    // RESP2 lists flags as lone words; RESP3 gathers them under `flags`.
    let mut flat = Vec::new();
    let mut map = Vec::new();
    let mut flags = Vec::new();
    for (k, v) in out {
        if matches!(v, Reply::Null) {
            flat.push(k.clone());
            flags.push(k);
        } else {
            flat.push(k.clone());
            flat.push(v.clone());
            map.push((k, v));
        }
    }
    map.push((simple("flags"), Reply::Array(flags)));
    Reply::PerProto(Box::new((Reply::Array(flat), Reply::Map(map))))
}

/// A double: text in RESP2 (as RediSearch prints it), a double in RESP3.
fn double(v: f64) -> Reply {
    Reply::PerProto(Box::new((Reply::bulk(format_g12(v)), Reply::Double(v))))
}

fn info_reply(name: &str, index: &SearchIndex, tables: usize) -> Reply {
    let def = &index.def;
    let mut definition = vec![
        pair("key_type", simple(if def.on_json { "JSON" } else { "HASH" })),
        pair(
            "prefixes",
            Reply::Array(if def.prefixes.is_empty() {
                vec![simple("")]
            } else {
                def.prefixes.iter().map(|p| simple(String::from_utf8_lossy(p))).collect()
            }),
        ),
    ];
    if let Some(filter) = &def.filter {
        definition.push(pair("filter", simple(filter.as_str())));
    }
    if let Some(language) = &def.language {
        definition.push(pair("default_language", simple(language.as_str())));
    }
    definition.push(pair("default_score", double(def.score)));
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
                pair("identifier", simple(&f.identifier)),
                pair("attribute", simple(&f.attribute)),
                pair("Index Errors", errors(index)),
            ])
        })
        .collect();
    let fields = vec![
        pair("index_name", simple(name)),
        pair("index_options", Reply::Array(def.options.iter().map(|o| simple(*o)).collect())),
        pair("index_definition", Reply::Map(definition)),
        pair("attributes", Reply::Array(def.fields.iter().map(field_attributes).collect())),
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
        pair("percent_indexed", double(index.percent_indexed(tables))),
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
    /// `INKEYS`: only these documents may match.
    in_keys: Option<Vec<Vec<u8>>>,
    /// `VERBATIM`: no stem expansion.
    verbatim: bool,
    /// Legacy `FILTER` / `GEOFILTER` clauses, intersected with the query.
    extra_filters: Vec<QueryNode>,
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
            dialect: 0,
            in_keys: None,
            verbatim: false,
            extra_filters: Vec::new(),
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
                "VERBATIM" => cmd.verbatim = true,
                "NOSTOPWORDS" | "WITHPAYLOADS" | "INORDER" | "EXPLAINSCORE" => {}
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
                        return Err(err("Parameters must be specified in PARAM VALUE pairs"));
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
                // Accepted, not applied yet: results come back unhighlighted and whole.
                "HIGHLIGHT" | "SUMMARIZE" => {
                    while let Some(option) = argv.get(i).map(|a| text(a).to_ascii_uppercase()) {
                        let takes = match option.as_str() {
                            "FIELDS" => 1 + count_arg(i + 1, &word)?,
                            "TAGS" => 2,
                            "FRAGS" | "LEN" | "SEPARATOR" => 1,
                            _ => break,
                        };
                        need(i + 1, takes, &word)?;
                        i += 1 + takes;
                    }
                }
                "INKEYS" | "INFIELDS" => {
                    let n = count_arg(i, &word)?;
                    need(i + 1, n, &word)?;
                    if word == "INKEYS" {
                        let keys = argv[i + 1..i + 1 + n].iter().map(|k| k.to_vec());
                        cmd.in_keys.get_or_insert_with(Vec::new).extend(keys);
                    }
                    i += 1 + n;
                }
                "FILTER" => {
                    need(i, 3, "FILTER")?;
                    let field = text(&argv[i]);
                    let bound = |arg: &[u8], which: &str| -> Result<NumBound, CmdError> {
                        let s = text(arg);
                        let (inclusive, number) = match s.strip_prefix('(') {
                            Some(rest) => (false, rest.to_owned()),
                            None => (true, s.clone()),
                        };
                        let value = crate::search::parse_number(number.as_bytes())
                            .ok_or_else(|| err(format!("Bad {which} range: {s}")))?;
                        Ok(NumBound { value, inclusive })
                    };
                    let (min, max) = (bound(&argv[i + 1], "lower")?, bound(&argv[i + 2], "upper")?);
                    cmd.extra_filters.push(QueryNode::Numeric { field, min, max });
                    i += 3;
                }
                "GEOFILTER" => {
                    need(i, 5, "GEOFILTER")?;
                    let field = text(&argv[i]);
                    let number = |arg: &[u8]| {
                        crate::search::parse_number(arg)
                            .ok_or_else(|| err("Bad arguments for GEOFILTER: Could not convert argument to expected type"))
                    };
                    let (lon, lat, radius) =
                        (number(&argv[i + 1])?, number(&argv[i + 2])?, number(&argv[i + 3])?);
                    let unit = match text(&argv[i + 4]).to_ascii_lowercase().as_str() {
                        "m" => 1.0,
                        "km" => 1000.0,
                        "mi" => 1609.34,
                        "ft" => 0.3048,
                        other => return Err(err(format!("Unknown distance unit {other}"))),
                    };
                    cmd.extra_filters.push(QueryNode::Geo {
                        field,
                        lon,
                        lat,
                        radius_m: radius * unit,
                    });
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
        let dialect = effective_dialect(cx, self.dialect);
        let mut query = parse_query(index, &self.query, &self.params, dialect)?;
        if !self.extra_filters.is_empty() {
            let mut all = vec![query.filter];
            all.extend(self.extra_filters.iter().cloned());
            query.filter = QueryNode::Intersect(all);
        }
        let params = SearchParams {
            sort_by: self.sort_by.clone(),
            offset: self.offset,
            count: self.count,
            in_keys: self.in_keys.clone(),
            verbatim: self.verbatim,
        };
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
            pair("format", simple("STRING")),
            pair("results", Reply::Array(resp3_results)),
            pair("warning", Reply::Array(Vec::new())),
        ]);
        Ok(Reply::PerProto(Box::new((Reply::Array(resp2), resp3))))
    }
}

/// The dialect a query runs in: its own DIALECT, else FT.CONFIG's DEFAULT_DIALECT.
fn effective_dialect(cx: &ReadCtx<'_>, requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    config_value(cx, "DEFAULT_DIALECT").and_then(|d| d.parse().ok()).unwrap_or(1)
}

/// Parses a query in `dialect`. Dialect 1 (the default) has no vector clauses and no
/// parameters: RediSearch reports them as syntax errors at the `=>` or `VECTOR_RANGE`.
pub(crate) fn parse_query(
    index: &SearchIndex,
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
    // The index's STOPWORDS replace the default list (`STOPWORDS 0`: none).
    let custom = index.def.stopwords.as_deref();
    let is_stopword = |word: &str| match custom {
        Some(words) => words.iter().any(|w| w == word),
        None => engram_index::text::DEFAULT_STOPWORDS.contains(&word),
    };
    let options = engram_index::query::ParseOptions { is_stopword: &is_stopword };
    engram_index::query::parse_with(text, params, &options).map_err(|e| err(e.0))
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
                            if sort_field.as_deref().is_some_and(|sf| sf.as_bytes() == slot.field) {
                                continue;
                            }
                            out.push((Reply::bulk(slot.field), Reply::bulk(slot.value)));
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
                // Distances first, then the sort field, then the rest in RETURN order.
                let sort_field = self.sort_by.as_ref().map(|(f, _)| f.as_str());
                let rank = |f: &ReturnField| {
                    if hit.distances.iter().any(|(n, _)| *n == f.name) {
                        0
                    } else if Some(f.name.as_str()) == sort_field {
                        1
                    } else {
                        2
                    }
                };
                let mut ordered: Vec<&ReturnField> = fields.iter().collect();
                ordered.sort_by_key(|f| rank(f));
                for field in ordered {
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
            Some(Reply::bulk(json_text(first)))
        }
        _ => None,
    }
}

/// A JSON value as FT.SEARCH prints it: strings bare, numbers `%.12g`-style, the rest
/// serialized.
fn json_text(value: &serde_json::Value) -> String {
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

// ---------------------------------------------------------------------------------------
// FT.AGGREGATE, FT.CURSOR

/// `FT.AGGREGATE index query [pipeline...]`
struct FtAggregate {
    index: String,
    query: String,
    pipeline: Vec<Bytes>,
}

impl Parse for FtAggregate {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let index = text(&args.next_bytes()?);
        let query = text(&args.next_bytes().map_err(|_| err("No query string provided"))?);
        Ok(FtAggregate { index, query, pipeline: rest(args) })
    }
}

impl ReadCommand for FtAggregate {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let index = cx.ks.search.get(&self.index).ok_or_else(|| no_such_index(&self.index))?;
        crate::search::count_use(index);
        let args: Vec<&[u8]> = self.pipeline.iter().map(|a| &a[..]).collect();
        let plan = aggregate::parse(&args).map_err(err)?;
        plan.check_fields(&|name| match index.index.field_index(name) {
            None => SchemaField::Unknown,
            Some(f) if index.def.fields[f].sortable => SchemaField::Sortable,
            Some(_) => SchemaField::Indexed,
        })
        .map_err(err)?;
        let params: HashMap<String, Vec<u8>> = plan.params.iter().cloned().collect();
        let dialect = effective_dialect(cx, plan.dialect.unwrap_or(0) as usize);
        let query = parse_query(index, &self.query, &params, dialect)?;
        let all = SearchParams {
            sort_by: None,
            offset: 0,
            count: usize::MAX,
            in_keys: None,
            verbatim: plan.verbatim,
        };
        let result = index.index.search(&query, &all).map_err(|e| err(e.0))?;
        let needed = plan.fields_needed();
        let db0 = cx.ks.db(0);
        let mut rows = Vec::with_capacity(result.hits.len());
        for hit in &result.hits {
            let Some(key) = index.index.key(hit.id) else { continue };
            let mut row = Row::new();
            row.set("__key", AggValue::Str(text(key)));
            for (name, d) in &hit.distances {
                row.set(name.clone(), AggValue::Num(f64::from(*d)));
            }
            let value = db0.get(key, cx.now_ms);
            // Sortable fields are readable without LOAD; numbers stay numbers.
            for (f, field) in index.def.fields.iter().enumerate() {
                if field.sortable {
                    if let Some(v) = index_value(index, hit.id, f) {
                        row.set(field.attribute.clone(), v);
                    }
                }
            }
            if needed.all {
                load_all(index, value, cx.now_ms, &mut row);
            }
            for load in &needed.fields {
                if let Some(v) = load_agg_value(index, hit.id, value, &load.source, cx.now_ms) {
                    row.set(load.name.clone(), v);
                }
            }
            if plan.add_scores {
                row.set("__score", AggValue::Num(hit.score));
            }
            rows.push(row);
        }
        let mut out = aggregate::execute(&plan, rows).map_err(err)?;
        // A distance the query yields leads its row, whatever the LOAD order.
        let yielded: Vec<&String> = result
            .hits
            .first()
            .map(|h| h.distances.iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        if !yielded.is_empty() {
            for row in &mut out.rows {
                let fields = std::mem::take(row).into_fields();
                let (first, rest): (Vec<_>, Vec<_>) =
                    fields.into_iter().partition(|(n, _)| yielded.contains(&n));
                *row = Row::from_pairs(first.into_iter().chain(rest));
            }
        }
        match &plan.cursor {
            None => Ok(aggregate_reply(out.total, out.rows, out.warning.as_deref())),
            Some(options) => {
                let count =
                    options.count.map_or(crate::search::cursor::DEFAULT_COUNT, |c| c as usize);
                let max_idle = options.max_idle_ms.map(std::time::Duration::from_millis);
                let name = cx.ks.search.resolve(&self.index).unwrap_or(self.index.clone());
                let mut cursors = cx.shared.search_cursors.lock();
                let id = cursors.open(name.clone(), out.rows, count, max_idle);
                let (page, next) = cursors.read(&name, id, None).unwrap_or_default();
                Ok(Reply::Array(vec![
                    aggregate_reply(out.total, page, out.warning.as_deref()),
                    Reply::Int(next as i64),
                ]))
            }
        }
    }
}

/// A schema field's indexed value as an aggregation cell.
fn index_value(index: &SearchIndex, id: engram_index::DocId, field: usize) -> Option<AggValue> {
    Some(match index.index.value(id, field)? {
        engram_index::FieldValue::Numeric(n) => AggValue::Num(*n.first()?),
        engram_index::FieldValue::Text(t) | engram_index::FieldValue::Tags(t) => {
            AggValue::Str(t.first()?.clone())
        }
        _ => return None,
    })
}

/// `LOAD *`: every field of a hash, or the whole JSON document as `$`.
fn load_all(index: &SearchIndex, value: Option<&Value>, now_ms: u64, row: &mut Row) {
    match value {
        Some(Value::Hash(hash)) => {
            for slot in hash.iter_live(now_ms) {
                let name = text(slot.field);
                let numeric = index
                    .def
                    .fields
                    .iter()
                    .any(|f| f.identifier == name && matches!(f.ty, FieldType::Numeric));
                let cell = match (numeric, crate::search::parse_number(slot.value)) {
                    (true, Some(n)) => AggValue::Num(n),
                    _ => AggValue::Str(text(slot.value)),
                };
                if row.get(&name).is_none() {
                    row.set(name, cell);
                }
            }
        }
        Some(Value::Json(doc)) => {
            row.set("$", AggValue::Str(doc.to_json(&engram_json::Format::default())))
        }
        _ => {}
    }
}

/// One LOAD field: NUMERIC schema fields as numbers, everything else as text.
fn load_agg_value(
    index: &SearchIndex,
    id: engram_index::DocId,
    value: Option<&Value>,
    source: &str,
    now_ms: u64,
) -> Option<AggValue> {
    let source = source.strip_prefix('@').unwrap_or(source);
    let field =
        index.def.fields.iter().position(|f| f.attribute == source || f.identifier == source);
    if let Some(f) = field {
        if matches!(index.def.fields[f].ty, FieldType::Numeric) {
            if let Some(v) = index_value(index, id, f) {
                return Some(v);
            }
        }
    }
    match load_field(index, None, value, source, now_ms)? {
        Reply::Bulk(b) => Some(AggValue::Str(text(&b))),
        _ => None,
    }
}

fn cell_reply(value: &AggValue) -> Reply {
    match value {
        AggValue::List(items) => Reply::Array(items.iter().map(cell_reply).collect()),
        other => match other.format() {
            Some(s) => Reply::bulk(s),
            None => Reply::Null,
        },
    }
}

/// FT.AGGREGATE's reply: `[total, row...]` in RESP2, a result map in RESP3.
fn aggregate_reply(total: usize, rows: Vec<Row>, warning: Option<&str>) -> Reply {
    let mut resp2 = vec![Reply::Int(total as i64)];
    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        let fields: Vec<(Reply, Reply)> =
            row.fields().iter().map(|(name, v)| (Reply::bulk(name), cell_reply(v))).collect();
        resp2.push(Reply::Array(fields.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()));
        results.push(Reply::Map(vec![
            (Reply::Status("extra_attributes".into()), Reply::Map(fields)),
            (Reply::Status("values".into()), Reply::Array(Vec::new())),
        ]));
    }
    let warnings = warning.map(|w| vec![Reply::Status(w.to_owned().into())]).unwrap_or_default();
    let resp3 = Reply::Map(vec![
        (Reply::Status("attributes".into()), Reply::Array(Vec::new())),
        (Reply::Status("total_results".into()), Reply::Int(total as i64)),
        (Reply::Status("format".into()), Reply::Status("STRING".into())),
        (Reply::Status("results".into()), Reply::Array(results)),
        (Reply::Status("warning".into()), Reply::Array(warnings)),
    ]);
    Reply::PerProto(Box::new((Reply::Array(resp2), resp3)))
}

/// `FT.CURSOR READ index id [COUNT n]` / `FT.CURSOR DEL index id`
fn cursor_read(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let index = text(&args.next_bytes()?);
    let id = args.next_bytes()?;
    let id: u64 = std::str::from_utf8(&id)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("Bad cursor ID"))?;
    let mut count = None;
    if args.eat("COUNT") {
        count = Some(args.next_usize()?);
    }
    args.finish()?;
    let name = cx.ks.search.resolve(&index).unwrap_or(index);
    let (page, next) = cx
        .shared
        .search_cursors
        .lock()
        .read(&name, id, count)
        .ok_or_else(|| err("Cursor not found"))?;
    Ok(Reply::Array(vec![aggregate_reply(0, page, None), Reply::Int(next as i64)]))
}

fn cursor_del(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let index = text(&args.next_bytes()?);
    let id = args.next_bytes()?;
    let id: u64 = std::str::from_utf8(&id)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("Bad cursor ID"))?;
    args.finish()?;
    let name = cx.ks.search.resolve(&index).unwrap_or(index);
    if !cx.shared.search_cursors.lock().delete(&name, id) {
        return Err(err("Cursor does not exist"));
    }
    Ok(Reply::ok())
}

/// `FT.EXPLAIN index query [DIALECT d] [PARAMS n k v...]` (and EXPLAINCLI, one line per
/// array element).
struct FtExplain<const CLI: bool> {
    index: String,
    query: String,
    params: HashMap<String, Vec<u8>>,
    dialect: usize,
}

impl<const CLI: bool> Parse for FtExplain<CLI> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let index = text(&args.next_bytes()?);
        let query = text(&args.next_bytes().map_err(|_| err("No query string provided"))?);
        let mut cmd = FtExplain { index, query, params: HashMap::new(), dialect: 0 };
        while !args.is_empty() {
            if args.eat("DIALECT") {
                cmd.dialect =
                    args.next_usize().ok().filter(|d| (1..=4).contains(d)).ok_or_else(|| {
                        err("DIALECT requires a non negative integer >=1 and <= 4")
                    })?;
            } else if args.eat("PARAMS") {
                let n = args.next_usize()?;
                if n % 2 != 0 {
                    return Err(err("Parameters must be specified in PARAM VALUE pairs"));
                }
                for _ in 0..n / 2 {
                    let k = text(&args.next_bytes()?);
                    cmd.params.insert(k, args.next_bytes()?.to_vec());
                }
            } else {
                let arg = args.next_bytes()?;
                return Err(bad_argument(&arg, 3));
            }
        }
        Ok(cmd)
    }
}

impl<const CLI: bool> ReadCommand for FtExplain<CLI> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let index = cx.ks.search.get(&self.index).ok_or_else(|| no_such_index(&self.index))?;
        let query =
            parse_query(index, &self.query, &self.params, effective_dialect(cx, self.dialect))?;
        let plan = engram_index::query::explain(&query, &self.params);
        if CLI {
            return Ok(Reply::Array(plan.lines().map(Reply::bulk).collect()));
        }
        Ok(Reply::bulk(plan))
    }
}

// ---------------------------------------------------------------------------------------
// FT.PROFILE, FT.CONFIG

/// `FT.PROFILE index SEARCH|AGGREGATE [LIMITED] QUERY query [args...]`: the command's
/// reply and how long it took.
fn profile(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let index = args.next_bytes()?;
    let kind = args.next_bytes()?;
    let aggregate = if kind.eq_ignore_ascii_case(b"AGGREGATE") {
        true
    } else if kind.eq_ignore_ascii_case(b"SEARCH") {
        false
    } else {
        return Err(err("No `SEARCH` or `AGGREGATE` provided"));
    };
    args.eat("LIMITED");
    if !args.eat("QUERY") {
        return Err(err("The QUERY keyword is expected"));
    }
    let mut inner = vec![index];
    inner.extend(args.take_rest().iter().cloned());
    let mut inner_args = Args::new(&inner);
    let started = crate::clock::monotonic();
    let reply = if aggregate {
        FtAggregate::parse(&mut inner_args)?.run(cx)?
    } else {
        let cmd = FtSearch::parse(&mut inner_args)?;
        inner_args.finish()?;
        cmd.run(cx)?
    };
    let ms = format_g12(started.elapsed().as_secs_f64() * 1000.0);
    let profile_pairs = vec![
        (simple("Total profile time"), Reply::bulk(&ms)),
        (simple("Parsing time"), Reply::bulk("0")),
        (simple("Pipeline creation time"), Reply::bulk("0")),
        (simple("Warning"), Reply::PerProto(Box::new((Reply::Array(Vec::new()), simple("None"))))),
    ];
    let resp2_profile: Vec<Reply> = profile_pairs
        .iter()
        .map(|(k, v)| match v {
            Reply::PerProto(_) => Reply::Array(vec![k.clone()]),
            v => Reply::Array(vec![k.clone(), v.clone()]),
        })
        .collect();
    let (resp2, resp3) = match reply {
        Reply::PerProto(both) => *both,
        other => (other.clone(), other),
    };
    let resp3 = match resp3 {
        Reply::Map(mut fields) => {
            fields.push((simple("profile"), Reply::Map(profile_pairs)));
            Reply::Map(fields)
        }
        other => other,
    };
    Ok(Reply::PerProto(Box::new((Reply::Array(vec![resp2, Reply::Array(resp2_profile)]), resp3))))
}

/// RediSearch's run-time options FT.CONFIG lists, with their defaults. Only
/// DEFAULT_DIALECT changes behaviour here; the others are kept for clients that read them.
const CONFIG_DEFAULTS: &[(&str, &str)] = &[
    ("EXTLOAD", ""),
    ("NOGC", "false"),
    ("MINPREFIX", "2"),
    ("MINSTEMLEN", "4"),
    ("FORKGC_SLEEP_BEFORE_EXIT", "0"),
    ("MAXDOCTABLESIZE", "1000000"),
    ("MAXSEARCHRESULTS", "10000"),
    ("MAXAGGREGATERESULTS", "10000"),
    ("MAXEXPANSIONS", "200"),
    ("MAXPREFIXEXPANSIONS", "200"),
    ("TIMEOUT", "500"),
    ("FRISOINI", ""),
    ("ON_TIMEOUT", "return"),
    ("GCSCANSIZE", "100"),
    ("MIN_PHONETIC_TERM_LEN", "3"),
    ("GC_POLICY", "fork"),
    ("FORK_GC_RUN_INTERVAL", "30"),
    ("FORK_GC_CLEAN_THRESHOLD", "100"),
    ("FORK_GC_RETRY_INTERVAL", "5"),
    ("FORK_GC_CLEAN_NUMERIC_EMPTY_NODES", "true"),
    ("UNION_ITERATOR_HEAP", "20"),
    ("CURSOR_MAX_IDLE", "300000"),
    ("NO_MEM_POOLS", "false"),
    ("PARTIAL_INDEXED_DOCS", "false"),
    ("RAW_DOCID_ENCODING", "false"),
    ("DEFAULT_DIALECT", "1"),
    ("VSS_MAX_RESIZE", "0"),
    ("MULTI_TEXT_SLOP", "100"),
    ("BG_INDEX_SLEEP_GAP", "100"),
];

/// The current value of an FT.CONFIG option.
pub fn config_value(cx: &ReadCtx<'_>, name: &str) -> Option<String> {
    let overrides = cx.shared.search_config.lock();
    if let Some(v) = overrides.get(name) {
        return Some(v.clone());
    }
    CONFIG_DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
}

fn config_get(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let pattern = text(&args.next_bytes()?).to_ascii_uppercase();
    args.finish()?;
    let mut out = Vec::new();
    for (name, _) in CONFIG_DEFAULTS {
        if pattern == "*" || pattern == *name {
            let value = config_value(cx, name).unwrap_or_default();
            let value = if value.is_empty() { Reply::Null } else { Reply::bulk(value) };
            out.push(Reply::Array(vec![Reply::bulk(*name), value]));
        }
    }
    Ok(Reply::Array(out))
}

fn config_set(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let name = text(&args.next_bytes()?).to_ascii_uppercase();
    let value = text(&args.next_bytes()?);
    args.finish()?;
    if !CONFIG_DEFAULTS.iter().any(|(n, _)| *n == name) {
        return Err(err("Invalid option"));
    }
    if name == "DEFAULT_DIALECT" && !matches!(value.as_str(), "1" | "2" | "3" | "4") {
        return Err(err("Invalid option"));
    }
    cx.shared.search_config.lock().insert(name, value);
    Ok(Reply::ok())
}

fn config_help(args: &mut Args<'_>, _cx: &ReadCtx<'_>) -> CmdResult {
    args.finish()?;
    Ok(Reply::Array(
        CONFIG_DEFAULTS.iter().map(|(name, _)| Reply::Array(vec![Reply::bulk(*name)])).collect(),
    ))
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
