//! Search indexes as keyspace state: the FT index definitions and aliases, the
//! `engram_index::Index` each one feeds, and the adapter that turns key changes into
//! document updates (ARCHITECTURE.md §2.6: the search observer).
//!
//! Definitions are state (created through the log, in snapshots as FT.CREATE entries);
//! the postings and graphs are derived: rebuilt from the keys on every node, in apply
//! for changed keys and by a background backfill for keys that existed before FT.CREATE.
//! RediSearch indexes database 0 only, and so do we.

pub mod backfill;
pub mod cursor;
pub mod define;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use engram_index::{FieldType, FieldValue, Index};

use crate::keyspace::{Db, KeyEvent, Value, DB_EVENT_FLUSHED, DB_EVENT_SWAPPED};

pub use define::IndexDef;

/// Every index and alias.
#[derive(Debug, Default)]
pub struct SearchState {
    indexes: BTreeMap<String, SearchIndex>,
    aliases: BTreeMap<String, String>,
}

/// One index: its definition, contents and counters.
#[derive(Debug)]
pub struct SearchIndex {
    /// FT.CREATE's options and fields.
    pub def: IndexDef,
    /// The documents and their postings.
    pub index: Index,
    /// Documents that failed to index (`hash_indexing_failures`).
    pub failures: u64,
    /// The newest indexing error and its key.
    pub last_error: Option<(String, Bytes)>,
    /// The next slot table of database 0 the backfill scans; `None` when done.
    pub backfill: Option<usize>,
    /// Queries run against the index (`number_of_uses`).
    pub uses: AtomicU64,
    /// Seconds spent indexing, in microseconds (`total_indexing_time`).
    pub indexing_us: u64,
    /// The commands that recreate this index (FT.CREATE, then each FT.ALTER), for snapshots.
    pub history: Vec<Vec<Bytes>>,
}

impl SearchState {
    /// The index named `name` or through an alias of that name.
    pub fn get(&self, name: &str) -> Option<&SearchIndex> {
        self.indexes.get(name).or_else(|| self.indexes.get(self.aliases.get(name)?))
    }

    /// Mutable access to an index by name or alias.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut SearchIndex> {
        let name = match self.aliases.get(name) {
            Some(target) if !self.indexes.contains_key(name) => target.clone(),
            _ => name.to_owned(),
        };
        self.indexes.get_mut(&name)
    }

    /// The real name behind `name` (itself, or the index an alias points to).
    pub fn resolve(&self, name: &str) -> Option<String> {
        if self.indexes.contains_key(name) {
            return Some(name.to_owned());
        }
        self.aliases.get(name).filter(|t| self.indexes.contains_key(*t)).cloned()
    }

    /// True when an index has this exact name.
    pub fn exists(&self, name: &str) -> bool {
        self.indexes.contains_key(name)
    }

    /// Index names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.indexes.keys()
    }

    /// Every index with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &SearchIndex)> {
        self.indexes.iter()
    }

    /// Aliases and the index each names.
    pub fn aliases(&self) -> impl Iterator<Item = (&String, &String)> {
        self.aliases.iter()
    }

    /// Adds an index (the name is free) and starts its backfill over database 0.
    pub fn create(&mut self, name: String, def: IndexDef, argv: Vec<Bytes>) {
        let index = Index::new(def.fields.clone());
        let backfill = (!def.skip_initial_scan).then_some(0);
        let entry = SearchIndex {
            def,
            index,
            failures: 0,
            last_error: None,
            backfill,
            uses: AtomicU64::new(0),
            indexing_us: 0,
            history: vec![argv],
        };
        self.indexes.insert(name, entry);
    }

    /// Removes an index and the aliases pointing at it; the keys it held, for `DD`.
    pub fn drop_index(&mut self, name: &str) -> Option<Vec<Bytes>> {
        let removed = self.indexes.remove(name)?;
        self.aliases.retain(|_, target| target != name);
        let keys = removed.index_keys();
        Some(keys)
    }

    /// Points `alias` at `index` (replacing what it named).
    pub fn set_alias(&mut self, alias: String, index: String) {
        self.aliases.insert(alias, index);
    }

    /// Removes an alias; false when there was none.
    pub fn remove_alias(&mut self, alias: &str) -> bool {
        self.aliases.remove(alias).is_some()
    }

    /// True when `alias` names an index through an alias.
    pub fn is_alias(&self, alias: &str) -> bool {
        self.aliases.contains_key(alias)
    }

    /// True while some index is still scanning existing keys.
    pub fn backfilling(&self) -> bool {
        self.indexes.values().any(|i| i.backfill.is_some())
    }

    /// Brings the indexes up to date with one applied entry's key changes.
    pub fn on_events(&mut self, db0: &Db, events: &[KeyEvent], now_ms: u64) {
        if self.indexes.is_empty() {
            return;
        }
        for event in events {
            if event.db != 0 {
                continue;
            }
            if event.event == DB_EVENT_FLUSHED {
                // FLUSHDB and FLUSHALL drop every index, as RediSearch 2.10 does.
                self.indexes.clear();
                self.aliases.clear();
                return;
            }
            if event.event == DB_EVENT_SWAPPED {
                for index in self.indexes.values_mut() {
                    index.index.clear();
                    index.backfill = Some(0);
                }
                continue;
            }
            // RediSearch 2.10 re-reads a JSON key after JSON.DEL / JSON.FORGET of its root,
            // finds nothing, and counts that as an indexing failure (error text `N/A`).
            let json_root_deleted =
                event.event == "json.del" && db0.get(&event.key, now_ms).is_none();
            for index in self.indexes.values_mut() {
                if index.def.matches_key(&event.key) {
                    index.reindex(db0, &event.key, now_ms);
                    if json_root_deleted && index.def.on_json {
                        index.failures += 1;
                        index.last_error =
                            Some(("N/A".to_string(), Bytes::copy_from_slice(&event.key)));
                    }
                }
            }
        }
    }
}

impl SearchIndex {
    /// Every key the index holds.
    pub fn index_keys(&self) -> Vec<Bytes> {
        self.index.keys().map(Bytes::copy_from_slice).collect()
    }

    /// Re-reads `key` from the database and updates or removes its document.
    pub fn reindex(&mut self, db0: &Db, key: &[u8], now_ms: u64) {
        let started = crate::clock::monotonic();
        let extracted = match db0.get(key, now_ms) {
            Some(Value::Hash(hash)) if !self.def.on_json => {
                Some(extract(&self.def, |field| hash.get_live(field.as_bytes(), now_ms)))
            }
            Some(Value::Json(doc)) if self.def.on_json => Some(extract_json(&self.def, doc)),
            _ => None,
        };
        let extracted = match extracted {
            Some(Ok(values)) if !self.passes_filter(db0, key, &values, now_ms) => None,
            other => other,
        };
        match extracted {
            Some(Ok(values)) => self.index.upsert(key, values),
            Some(Err(error)) => {
                self.index.remove(key);
                self.failures += 1;
                self.last_error = Some((error, Bytes::copy_from_slice(key)));
            }
            None => {
                self.index.remove(key);
            }
        }
        self.indexing_us += started.elapsed().as_micros() as u64;
    }

    /// FT.CREATE's FILTER: a document it rejects is not indexed. A filter that cannot be
    /// evaluated (a field it reads is missing) admits the document, as in RediSearch.
    fn passes_filter(
        &self,
        db0: &Db,
        key: &[u8],
        values: &[Option<FieldValue>],
        now_ms: u64,
    ) -> bool {
        use engram_index::aggregate::{Row, Value as Cell};
        let Some(expr) = &self.def.filter_expr else { return true };
        let mut row = Row::new();
        row.set("__key", Cell::Str(String::from_utf8_lossy(key).into_owned()));
        if let Some(Value::Hash(hash)) = db0.get(key, now_ms) {
            for slot in hash.iter_live(now_ms) {
                let text = String::from_utf8_lossy(slot.value).into_owned();
                row.set(String::from_utf8_lossy(slot.field).into_owned(), Cell::Str(text));
            }
        }
        for (field, value) in self.def.fields.iter().zip(values) {
            let cell = match value {
                Some(FieldValue::Numeric(n)) => n.first().map(|n| Cell::Num(*n)),
                Some(FieldValue::Text(t)) | Some(FieldValue::Tags(t)) => {
                    t.first().map(|s| Cell::Str(s.clone()))
                }
                _ => None,
            };
            if let Some(cell) = cell {
                row.set(field.attribute.clone(), cell);
            }
        }
        expr.eval(&row).map_or(true, |v| v.is_truthy())
    }

    /// `percent_indexed`: 1 when the backfill is done.
    pub fn percent_indexed(&self, tables: usize) -> f64 {
        match self.backfill {
            None => 1.0,
            Some(next) if tables > 0 => (next as f64 / tables as f64).min(0.999),
            Some(_) => 0.0,
        }
    }
}

/// Extracts one value per schema field from a hash; an error names why the document
/// cannot be indexed (RediSearch then leaves it out and counts a failure).
fn extract<'a>(
    def: &IndexDef,
    get: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Vec<Option<FieldValue>>, String> {
    let mut values = Vec::with_capacity(def.fields.len());
    for field in &def.fields {
        let Some(raw) = get(&field.identifier) else {
            values.push(None);
            continue;
        };
        let text = || String::from_utf8_lossy(raw).into_owned();
        let value = match &field.ty {
            FieldType::Text { .. } => FieldValue::Text(vec![text()]),
            FieldType::Tag { .. } => FieldValue::Tags(vec![text()]),
            FieldType::Numeric => match parse_number(raw) {
                Some(n) => FieldValue::Numeric(vec![n]),
                None => {
                    return Err(format!(
                        "Invalid numeric value: '{}'",
                        String::from_utf8_lossy(raw)
                    ))
                }
            },
            FieldType::Geo => match parse_geo(raw) {
                Some(point) => FieldValue::Geo(vec![point]),
                None => return Err(format!("Invalid geo string: '{}'", text())),
            },
            FieldType::Vector(params) => match params.decode_blob(raw) {
                Some(v) => FieldValue::Vector(v),
                None => {
                    return Err(format!(
                        "Could not add vector with blob size {} (expected size {})",
                        raw.len(),
                        params.blob_len()
                    ))
                }
            },
        };
        values.push(Some(value));
    }
    Ok(values)
}

fn extract_json(
    def: &IndexDef,
    doc: &engram_json::Document,
) -> Result<Vec<Option<FieldValue>>, String> {
    use serde_json::Value as J;
    let mut values = Vec::with_capacity(def.fields.len());
    for (field, path) in def.fields.iter().zip(&def.json_paths) {
        let Some(path) = path else {
            values.push(None);
            continue;
        };
        let selected = doc.select(path);
        // A path to an array of scalars selects its elements (RediSearch's multi-value).
        let mut scalars: Vec<&J> = Vec::new();
        for v in &selected {
            match v {
                J::Array(items) if !matches!(field.ty, FieldType::Vector(_)) => {
                    scalars.extend(items.iter())
                }
                J::Null => {}
                other => scalars.push(other),
            }
        }
        if scalars.is_empty() {
            values.push(None);
            continue;
        }
        let type_error = |what: &str| {
            format!("Invalid JSON type: {what} type can represent only {}", field.ty.name())
        };
        let value = match &field.ty {
            FieldType::Text { .. } => FieldValue::Text(
                scalars
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| type_error("non-string")))
                    .collect::<Result<_, _>>()?,
            ),
            FieldType::Tag { .. } => FieldValue::Tags(
                scalars
                    .iter()
                    .map(|v| match v {
                        J::String(s) => Ok(s.clone()),
                        J::Bool(b) => Ok(b.to_string()),
                        J::Number(n) => Ok(n.to_string()),
                        _ => Err(type_error("non-scalar")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            FieldType::Numeric => FieldValue::Numeric(
                scalars
                    .iter()
                    .map(|v| v.as_f64().ok_or_else(|| type_error("non-numeric")))
                    .collect::<Result<_, _>>()?,
            ),
            FieldType::Geo => FieldValue::Geo(
                scalars
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .and_then(|s| parse_geo(s.as_bytes()))
                            .ok_or_else(|| type_error("invalid geo"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            FieldType::Vector(params) => {
                let Some(J::Array(items)) = scalars.first() else {
                    return Err(type_error("non-array"));
                };
                let v: Option<Vec<f32>> =
                    items.iter().map(|x| x.as_f64().map(|f| f as f32)).collect();
                match v {
                    Some(v) if v.len() == params.dim => FieldValue::Vector(v),
                    Some(v) => {
                        return Err(format!(
                            "Invalid vector length. Expected {}, got {}",
                            params.dim,
                            v.len()
                        ))
                    }
                    None => return Err(type_error("non-numeric array")),
                }
            }
        };
        values.push(Some(value));
    }
    Ok(values)
}

/// A NUMERIC field's value as RediSearch reads it (strtod, so surrounding spaces are
/// allowed; `inf` too, NaN never).
pub fn parse_number(raw: &[u8]) -> Option<f64> {
    crate::cmd::args::parse_f64(raw.trim_ascii())
}

/// `lon,lat` (also `lon lat`), within Redis's GEO bounds.
pub fn parse_geo(raw: &[u8]) -> Option<(f64, f64)> {
    let s = std::str::from_utf8(raw).ok()?;
    let (lon, lat) = s.split_once(',').or_else(|| s.split_once(' '))?;
    let lon: f64 = lon.trim().parse().ok()?;
    let lat: f64 = lat.trim().parse().ok()?;
    ((-180.0..=180.0).contains(&lon) && (-85.05112878..=85.05112878).contains(&lat))
        .then_some((lon, lat))
}

/// Counts FT.SEARCH / FT.AGGREGATE uses of an index.
pub fn count_use(index: &SearchIndex) {
    index.uses.fetch_add(1, Ordering::Relaxed);
}
