//! One search index: the documents it holds (key <-> dense [`DocId`]), the postings of
//! its TEXT, TAG and NUMERIC fields, its vector indexes, and query execution over them.
//!
//! Document ids are stable per key while the key stays indexed, so an update that leaves
//! a vector unchanged costs no graph work; a sequence number stamped on every update gives
//! the result order RediSearch has (it re-numbers a document on every update).

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;

use crate::codec::{Reader, Writer};
use crate::query::ast::{Knn, NumBound, Query, QueryNode, TagMatch, TextMatch};
use crate::schema::{Field, FieldType, FieldValue};
use crate::text::{tokenize, DEFAULT_STOPWORDS};
use crate::vector::{self, SearchOptions, VectorIndex};
use crate::DocId;

/// Tags a saved index (and its format version).
const INDEX_MAGIC: &[u8] = b"engram-index-1";

/// A query that cannot run, with RediSearch's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError(pub String);

/// A totally ordered f64 (NaN never stored: numeric values are validated by the server).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedF64(f64);
impl Eq for OrderedF64 {}
impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug)]
enum Postings {
    Text(HashMap<String, RoaringBitmap>),
    Tag(HashMap<String, RoaringBitmap>),
    Numeric(BTreeMap<OrderedF64, RoaringBitmap>),
    Geo,
    Vector(Box<dyn VectorIndex>),
}

#[derive(Debug)]
struct Doc {
    key: Vec<u8>,
    seq: u64,
    values: Vec<Option<FieldValue>>,
}

/// One matching document.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The document.
    pub id: DocId,
    /// Its relevance score (1 for queries without text terms).
    pub score: f64,
    /// Named distances to return with the document (KNN `AS`, `$YIELD_DISTANCE_AS`).
    pub distances: Vec<(String, f32)>,
}

/// The outcome of [`Index::search`].
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    /// Number of matches before LIMIT.
    pub total: usize,
    /// The page of matches LIMIT asked for, in result order.
    pub hits: Vec<Hit>,
}

/// How to order and page results.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// `SORTBY attribute [ASC|DESC]` (true = ascending).
    pub sort_by: Option<(String, bool)>,
    /// `LIMIT offset num`.
    pub offset: usize,
    /// `LIMIT offset num` (default 10).
    pub count: usize,
    /// `INKEYS`: only these documents may match.
    pub in_keys: Option<Vec<Vec<u8>>>,
    /// `VERBATIM`: terms match only themselves, not their stem's other words.
    pub verbatim: bool,
}

/// A search index over documents.
#[derive(Debug)]
pub struct Index {
    schema: Vec<Field>,
    postings: Vec<Postings>,
    docs: Vec<Option<Doc>>,
    by_key: HashMap<Vec<u8>, DocId>,
    free: Vec<DocId>,
    all: RoaringBitmap,
    next_seq: u64,
}

impl Index {
    /// An empty index with `schema`.
    pub fn new(schema: Vec<Field>) -> Self {
        let postings = schema.iter().map(new_postings).collect();
        Self {
            schema,
            postings,
            docs: Vec::new(),
            by_key: HashMap::new(),
            free: Vec::new(),
            all: RoaringBitmap::new(),
            next_seq: 0,
        }
    }

    /// The fields, in declaration order.
    pub fn schema(&self) -> &[Field] {
        &self.schema
    }

    /// Adds fields (FT.ALTER SCHEMA ADD); existing documents are not re-read here (the
    /// server re-feeds them).
    pub fn add_fields(&mut self, fields: Vec<Field>) {
        for field in fields {
            self.postings.push(new_postings(&field));
            self.schema.push(field);
            for doc in self.docs.iter_mut().flatten() {
                doc.values.push(None);
            }
        }
    }

    /// Number of documents indexed.
    pub fn num_docs(&self) -> usize {
        self.by_key.len()
    }

    /// The largest document id handed out, plus one (FT.INFO `max_doc_id`).
    pub fn max_doc_id(&self) -> u64 {
        self.next_seq
    }

    /// Number of distinct terms over all TEXT fields.
    pub fn num_terms(&self) -> usize {
        self.postings
            .iter()
            .map(|p| match p {
                Postings::Text(terms) => terms.keys().filter(|t| !t.starts_with(STEM_MARK)).count(),
                _ => 0,
            })
            .sum()
    }

    /// The key of document `id`.
    pub fn key(&self, id: DocId) -> Option<&[u8]> {
        self.doc(id).map(|d| d.key.as_slice())
    }

    /// The stored value of field number `field` of document `id`.
    pub fn value(&self, id: DocId, field: usize) -> Option<&FieldValue> {
        self.doc(id)?.values.get(field)?.as_ref()
    }

    /// The position of the field with this attribute name.
    pub fn field_index(&self, attribute: &str) -> Option<usize> {
        self.schema.iter().position(|f| f.attribute == attribute)
    }

    /// Every indexed key, in document-id order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.docs.iter().flatten().map(|d| d.key.as_slice())
    }

    /// True when `key` is indexed.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.by_key.contains_key(key)
    }

    /// Memory held by vector indexes, in bytes.
    pub fn vector_memory_bytes(&self) -> usize {
        self.postings
            .iter()
            .map(|p| match p {
                Postings::Vector(v) => v.memory_bytes(),
                _ => 0,
            })
            .sum()
    }

    /// The distinct values of TAG field `field` (FT.TAGVALS), sorted.
    pub fn tag_values(&self, field: usize) -> Vec<String> {
        match self.postings.get(field) {
            Some(Postings::Tag(tags)) => {
                let mut values: Vec<String> = tags.keys().cloned().collect();
                values.sort();
                values
            }
            _ => Vec::new(),
        }
    }

    /// Indexes `key` with `values` (one per schema field, `None` when the document lacks
    /// it), replacing what it had.
    pub fn upsert(&mut self, key: &[u8], values: Vec<Option<FieldValue>>) {
        let id = match self.by_key.get(key) {
            Some(&id) => {
                self.unpost(id, Some(&values));
                id
            }
            None => {
                let id = self.free.pop().unwrap_or(self.docs.len() as DocId);
                self.by_key.insert(key.to_vec(), id);
                id
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut values = values;
        for (field, value) in values.iter_mut().enumerate() {
            match value {
                Some(v) => {
                    self.post(id, field, v);
                    // The graph holds the vector; a second copy per document would
                    // double the index's memory.
                    if let FieldValue::Vector(vector) = v {
                        *vector = Vec::new();
                    }
                }
                None => {
                    if let Postings::Vector(vectors) = &mut self.postings[field] {
                        vectors.remove(id);
                    }
                }
            }
        }
        let doc = Doc { key: key.to_vec(), seq, values };
        let slot = id as usize;
        if slot >= self.docs.len() {
            self.docs.resize_with(slot + 1, || None);
        }
        self.docs[slot] = Some(doc);
        self.all.insert(id);
    }

    /// Removes `key` from the index; false when it was not indexed.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let Some(id) = self.by_key.remove(key) else {
            return false;
        };
        self.unpost(id, None);
        self.docs[id as usize] = None;
        self.all.remove(id);
        self.free.push(id);
        true
    }

    /// The documents and vector graphs, checksummed, for a snapshot (postings of the
    /// other fields are cheap and are rebuilt as the snapshot's keys are replayed).
    pub fn save(&self) -> Vec<u8> {
        let mut w = Writer::new(INDEX_MAGIC);
        w.u64(self.next_seq);
        w.u64(self.docs.len() as u64);
        for doc in &self.docs {
            match doc {
                Some(doc) => {
                    w.u8(1);
                    w.bytes(&doc.key);
                    w.u64(doc.seq);
                }
                None => w.u8(0),
            }
        }
        w.u32s(&self.free);
        w.u64(self.postings.len() as u64);
        for postings in &self.postings {
            match postings {
                Postings::Vector(vectors) => {
                    w.u8(1);
                    w.bytes(&vectors.save());
                }
                _ => w.u8(0),
            }
        }
        w.finish()
    }

    /// An index with `schema` holding what [`Index::save`] wrote: the documents (their
    /// field values arrive again when their keys are replayed) and the vector graphs, so
    /// that replaying the keys costs no graph work. `None` when `data` is corrupt or does
    /// not fit the schema.
    pub fn restore(schema: Vec<Field>, data: &[u8]) -> Option<Index> {
        let mut r = Reader::open(data, INDEX_MAGIC)?;
        let mut index = Index::new(schema);
        index.next_seq = r.u64()?;
        let slots = r.u64()? as usize;
        if slots > data.len() {
            return None;
        }
        let fields = index.schema.len();
        for id in 0..slots {
            let doc = match r.u8()? {
                1 => {
                    let key = r.bytes()?.to_vec();
                    let seq = r.u64()?;
                    index.by_key.insert(key.clone(), id as DocId);
                    index.all.insert(id as DocId);
                    Some(Doc { key, seq, values: vec![None; fields] })
                }
                _ => None,
            };
            index.docs.push(doc);
        }
        index.free = r.u32s()?;
        if r.u64()? as usize != fields {
            return None;
        }
        for field in 0..fields {
            if r.u8()? == 1 {
                let FieldType::Vector(params) = &index.schema[field].ty else { return None };
                index.postings[field] = Postings::Vector(vector::load(params, r.bytes()?)?);
            }
        }
        r.at_end().then_some(index)
    }

    /// Removes every document.
    pub fn clear(&mut self) {
        *self = Index::new(std::mem::take(&mut self.schema));
    }

    fn doc(&self, id: DocId) -> Option<&Doc> {
        self.docs.get(id as usize)?.as_ref()
    }

    /// Takes document `id` out of every posting. With `next` (an update), vectors stay in
    /// their graphs: `upsert` replaces or drops them, and an unchanged vector costs nothing.
    fn unpost(&mut self, id: DocId, next: Option<&Vec<Option<FieldValue>>>) {
        let Some(doc) = self.docs.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        for (field, value) in doc.values.iter().enumerate() {
            let Some(value) = value else { continue };
            let spec = &self.schema[field];
            match (&mut self.postings[field], value) {
                (Postings::Text(terms), FieldValue::Text(texts)) => {
                    let stemmed = stems(spec);
                    for text in texts {
                        for token in tokenize(text) {
                            if stemmed {
                                remove_posting(terms, &stem_key(&token), id);
                            }
                            remove_posting(terms, &token, id);
                        }
                    }
                }
                (Postings::Tag(tags), FieldValue::Tags(raw)) => {
                    for tag in split_tags(spec, raw) {
                        remove_posting(tags, &tag, id);
                    }
                }
                (Postings::Numeric(tree), FieldValue::Numeric(numbers)) => {
                    for n in numbers {
                        let key = OrderedF64(*n);
                        if let Some(bitmap) = tree.get_mut(&key) {
                            bitmap.remove(id);
                            if bitmap.is_empty() {
                                tree.remove(&key);
                            }
                        }
                    }
                }
                // On an update the new vector replaces the old in place (a no-op when
                // equal), and `upsert` drops vectors the document no longer has.
                (Postings::Vector(vectors), FieldValue::Vector(_)) if next.is_none() => {
                    vectors.remove(id);
                }
                _ => {}
            }
        }
    }

    fn post(&mut self, id: DocId, field: usize, value: &FieldValue) {
        let spec = &self.schema[field];
        if spec.noindex {
            return;
        }
        match (&mut self.postings[field], value) {
            (Postings::Text(terms), FieldValue::Text(texts)) => {
                let stemmed = stems(spec);
                for text in texts {
                    for token in tokenize(text) {
                        if stemmed {
                            terms.entry(stem_key(&token)).or_default().insert(id);
                        }
                        terms.entry(token).or_default().insert(id);
                    }
                }
            }
            (Postings::Tag(tags), FieldValue::Tags(raw)) => {
                for tag in split_tags(spec, raw) {
                    tags.entry(tag).or_default().insert(id);
                }
            }
            (Postings::Numeric(tree), FieldValue::Numeric(numbers)) => {
                for n in numbers {
                    tree.entry(OrderedF64(*n)).or_default().insert(id);
                }
            }
            (Postings::Vector(vectors), FieldValue::Vector(v)) => vectors.upsert(id, v),
            _ => {}
        }
    }

    /// Runs `query`: the matching documents, ordered and paged by `params`.
    pub fn search(&self, query: &Query, params: &SearchParams) -> Result<SearchResult, ExecError> {
        let mut distances: HashMap<DocId, Vec<(String, f32)>> = HashMap::new();
        let mut matches = self.eval(&query.filter, params.verbatim, &mut distances)?;
        let restricted = params.in_keys.is_some();
        if let Some(keys) = &params.in_keys {
            let allowed: RoaringBitmap =
                keys.iter().filter_map(|k| self.by_key.get(k.as_slice()).copied()).collect();
            matches &= allowed;
        }
        let mut hits: Vec<Hit> = match &query.knn {
            Some(knn) => self.knn(knn, &query.filter, restricted, matches, &mut distances)?,
            None => {
                let mut ids: Vec<DocId> = matches.iter().collect();
                ids.sort_by_key(|&id| self.doc(id).map_or(u64::MAX, |d| d.seq));
                ids.into_iter()
                    .map(|id| Hit {
                        id,
                        score: 1.0,
                        distances: distances.remove(&id).unwrap_or_default(),
                    })
                    .collect()
            }
        };
        if let Some((attribute, ascending)) = &params.sort_by {
            if self.field_index(attribute).is_none() && !yields(query, &self.schema, attribute) {
                return Err(ExecError(format!("Property `{attribute}` not loaded nor in schema")));
            }
            self.sort_hits(&mut hits, attribute, *ascending)?;
        }
        let total = hits.len();
        let hits = hits.into_iter().skip(params.offset).take(params.count).collect();
        Ok(SearchResult { total, hits })
    }

    /// Orders hits by an attribute: a schema field's stored value, or a distance the
    /// query yields. Documents without the value go last; ties keep their order.
    fn sort_hits(
        &self,
        hits: &mut [Hit],
        attribute: &str,
        ascending: bool,
    ) -> Result<(), ExecError> {
        let field = self.field_index(attribute);
        let key_of = |hit: &Hit| -> Option<SortKey> {
            if let Some((_, d)) = hit.distances.iter().find(|(n, _)| n == attribute) {
                return Some(SortKey::Num(*d as f64));
            }
            let value = self.value(hit.id, field?)?;
            Some(match value {
                FieldValue::Numeric(n) => SortKey::Num(*n.first()?),
                FieldValue::Text(t) | FieldValue::Tags(t) => {
                    SortKey::Str(t.first()?.to_lowercase())
                }
                _ => return None,
            })
        };
        let mut keyed: Vec<(Option<SortKey>, Hit)> =
            hits.iter().map(|h| (key_of(h), h.clone())).collect();
        keyed.sort_by(|(a, _), (b, _)| match (a, b) {
            (Some(a), Some(b)) => {
                let order = a.cmp(b);
                if ascending {
                    order
                } else {
                    order.reverse()
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        for (slot, (_, hit)) in hits.iter_mut().zip(keyed) {
            *slot = hit;
        }
        Ok(())
    }

    fn knn(
        &self,
        knn: &Knn,
        filter: &QueryNode,
        restricted: bool,
        matches: RoaringBitmap,
        distances: &mut HashMap<DocId, Vec<(String, f32)>>,
    ) -> Result<Vec<Hit>, ExecError> {
        let Some((field, vectors, params)) = self.vector_field(&knn.field) else {
            return Ok(Vec::new());
        };
        let query = params.decode_blob(&knn.blob).ok_or_else(|| {
            ExecError(format!(
                "Error parsing vector similarity query: query vector blob size ({}) does not match index's expected size ({}).",
                knn.blob.len(),
                params.blob_len()
            ))
        })?;
        let options = SearchOptions { ef_runtime: knn.ef_runtime, epsilon: knn.epsilon };
        let allowed = (restricted || !matches!(filter, QueryNode::All)).then_some(&matches);
        let found =
            if knn.k == 0 { Vec::new() } else { vectors.knn(&query, knn.k, allowed, &options) };
        let score_name = knn
            .score_as
            .clone()
            .unwrap_or_else(|| format!("__{}_score", self.schema[field].attribute));
        Ok(found
            .into_iter()
            .map(|(id, d)| {
                let mut named = distances.remove(&id).unwrap_or_default();
                named.push((score_name.clone(), d));
                Hit { id, score: 1.0, distances: named }
            })
            .collect())
    }

    fn vector_field(
        &self,
        attribute: &str,
    ) -> Option<(usize, &dyn VectorIndex, &crate::vector::VectorParams)> {
        let field = self.field_index(attribute)?;
        match (&self.postings[field], &self.schema[field].ty) {
            (Postings::Vector(v), FieldType::Vector(p)) => Some((field, v.as_ref(), p)),
            _ => None,
        }
    }

    /// A field's postings; `None` for an unknown field, which matches nothing (as in
    /// RediSearch, where it is not an error).
    fn field_postings(&self, attribute: &str) -> Option<(usize, &Postings)> {
        let field = self.field_index(attribute)?;
        Some((field, &self.postings[field]))
    }

    fn eval(
        &self,
        node: &QueryNode,
        verbatim: bool,
        distances: &mut HashMap<DocId, Vec<(String, f32)>>,
    ) -> Result<RoaringBitmap, ExecError> {
        Ok(match node {
            QueryNode::All => self.all.clone(),
            QueryNode::Empty => RoaringBitmap::new(),
            QueryNode::Intersect(children) => {
                let mut acc: Option<RoaringBitmap> = None;
                for child in children {
                    if matches!(child, QueryNode::Optional(_)) {
                        continue;
                    }
                    let bits = self.eval(child, verbatim, distances)?;
                    acc = Some(match acc {
                        Some(a) => a & bits,
                        None => bits,
                    });
                }
                acc.unwrap_or_else(|| self.all.clone())
            }
            QueryNode::Union(children) => {
                let mut acc = RoaringBitmap::new();
                for child in children {
                    acc |= self.eval(child, verbatim, distances)?;
                }
                acc
            }
            QueryNode::Not(inner) => &self.all - self.eval(inner, verbatim, distances)?,
            QueryNode::Optional(_) => self.all.clone(),
            QueryNode::Text { fields, matcher } => self.eval_text(fields, matcher, verbatim)?,
            QueryNode::Tag { field, values } => {
                let Some((idx, postings)) = self.field_postings(field) else {
                    return Ok(RoaringBitmap::new());
                };
                let Postings::Tag(tags) = postings else {
                    return Ok(RoaringBitmap::new());
                };
                let case_sensitive =
                    matches!(self.schema[idx].ty, FieldType::Tag { case_sensitive: true, .. });
                let norm = |s: &str| if case_sensitive { s.to_owned() } else { s.to_lowercase() };
                let mut acc = RoaringBitmap::new();
                for value in values {
                    match value {
                        TagMatch::Exact(v) => {
                            if let Some(b) = tags.get(&norm(v)) {
                                acc |= b;
                            }
                        }
                        TagMatch::Prefix(p) => {
                            union_matching(&mut acc, tags, |t| t.starts_with(&norm(p)))
                        }
                        TagMatch::Suffix(s) => {
                            union_matching(&mut acc, tags, |t| t.ends_with(&norm(s)))
                        }
                        TagMatch::Infix(s) => {
                            union_matching(&mut acc, tags, |t| t.contains(&norm(s)))
                        }
                    }
                }
                acc
            }
            QueryNode::Numeric { field, min, max } => {
                let Some((_, postings)) = self.field_postings(field) else {
                    return Ok(RoaringBitmap::new());
                };
                let Postings::Numeric(tree) = postings else {
                    return Ok(RoaringBitmap::new());
                };
                if min.value > max.value {
                    return Ok(RoaringBitmap::new());
                }
                // One multi-way union: folding `|=` over thousands of distinct values
                // (one bitmap each) cost about a microsecond per value.
                use roaring::MultiOps;
                tree.range(OrderedF64(min.value)..=OrderedF64(max.value))
                    .filter(|(value, _)| in_bounds(value.0, min, max))
                    .map(|(_, bits)| bits)
                    .union()
            }
            QueryNode::Geo { field, lon, lat, radius_m } => {
                let Some((idx, _)) = self.field_postings(field) else {
                    return Ok(RoaringBitmap::new());
                };
                let mut acc = RoaringBitmap::new();
                for id in &self.all {
                    if let Some(FieldValue::Geo(points)) = self.value(id, idx) {
                        if points
                            .iter()
                            .any(|&(plon, plat)| haversine_m(*lon, *lat, plon, plat) <= *radius_m)
                        {
                            acc.insert(id);
                        }
                    }
                }
                acc
            }
            QueryNode::VectorRange { field, radius, blob, yield_as, epsilon } => {
                let Some((_, vectors, params)) = self.vector_field(field) else {
                    return Ok(RoaringBitmap::new());
                };
                let query = params.decode_blob(blob).ok_or_else(|| {
                    ExecError(format!(
                        "Error parsing vector similarity query: query vector blob size ({}) does not match index's expected size ({}).",
                        blob.len(),
                        params.blob_len()
                    ))
                })?;
                let options = SearchOptions { ef_runtime: None, epsilon: *epsilon };
                let found = vectors.range(&query, *radius as f32, None, &options);
                let mut acc = RoaringBitmap::new();
                for (id, d) in found {
                    acc.insert(id);
                    if let Some(name) = yield_as {
                        distances.entry(id).or_default().push((name.clone(), d));
                    }
                }
                acc
            }
            QueryNode::IsMissing(field) => {
                let Some((idx, _)) = self.field_postings(field) else {
                    return Ok(RoaringBitmap::new());
                };
                self.all.iter().filter(|&id| self.value(id, idx).is_none()).collect()
            }
        })
    }

    fn eval_text(
        &self,
        fields: &[String],
        matcher: &TextMatch,
        verbatim: bool,
    ) -> Result<RoaringBitmap, ExecError> {
        let mut targets = Vec::new();
        if fields.is_empty() {
            targets.extend(
                self.schema
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| matches!(f.ty, FieldType::Text { .. }))
                    .map(|(i, _)| i),
            );
        } else {
            for name in fields {
                targets.extend(self.field_postings(name).map(|(field, _)| field));
            }
        }
        let mut acc = RoaringBitmap::new();
        for field in targets {
            let Postings::Text(terms) = &self.postings[field] else { continue };
            match matcher {
                TextMatch::Term(t) => {
                    if let Some(b) = terms.get(t.as_str()) {
                        acc |= b;
                    }
                    // A term also matches the words sharing its stem (RediSearch's
                    // default query expansion), unless VERBATIM or NOSTEM.
                    if !verbatim && stems(&self.schema[field]) {
                        if let Some(b) = terms.get(&stem_key(t)) {
                            acc |= b;
                        }
                    }
                }
                TextMatch::Prefix(p) => {
                    union_matching(&mut acc, terms, |t| t.starts_with(p.as_str()))
                }
                TextMatch::Suffix(s) => {
                    union_matching(&mut acc, terms, |t| t.ends_with(s.as_str()))
                }
                TextMatch::Infix(s) => union_matching(&mut acc, terms, |t| t.contains(s.as_str())),
                TextMatch::Wildcard(w) => union_matching(&mut acc, terms, |t| wildcard_match(w, t)),
                TextMatch::Phrase(words) => {
                    let words: Vec<&String> =
                        words.iter().filter(|w| !DEFAULT_STOPWORDS.contains(&w.as_str())).collect();
                    let mut candidates: Option<RoaringBitmap> = None;
                    for w in &words {
                        let bits = terms.get(w.as_str()).cloned().unwrap_or_default();
                        candidates = Some(match candidates {
                            Some(c) => c & bits,
                            None => bits,
                        });
                    }
                    for id in candidates.unwrap_or_default() {
                        if self.has_phrase(id, field, &words) {
                            acc.insert(id);
                        }
                    }
                }
            }
        }
        Ok(acc)
    }

    fn has_phrase(&self, id: DocId, field: usize, words: &[&String]) -> bool {
        let Some(FieldValue::Text(texts)) = self.value(id, field) else { return false };
        texts.iter().any(|text| {
            let tokens: Vec<String> = tokenize(text)
                .into_iter()
                .filter(|t| !DEFAULT_STOPWORDS.contains(&t.as_str()))
                .collect();
            tokens.windows(words.len().max(1)).any(|w| w.iter().zip(words).all(|(a, b)| a == *b))
        })
    }

    /// The matches of a filter alone, for FT.AGGREGATE and FT.PROFILE.
    pub fn matching(&self, filter: &QueryNode) -> Result<Vec<DocId>, ExecError> {
        let mut distances = HashMap::new();
        let bits = self.eval(filter, false, &mut distances)?;
        let mut ids: Vec<DocId> = bits.iter().collect();
        ids.sort_by_key(|&id| self.doc(id).map_or(u64::MAX, |d| d.seq));
        Ok(ids)
    }
}

/// True when `query` produces a distance named `name` (KNN `AS`, `$YIELD_DISTANCE_AS`).
fn yields(query: &Query, schema: &[Field], name: &str) -> bool {
    fn in_tree(node: &QueryNode, name: &str) -> bool {
        match node {
            QueryNode::VectorRange { yield_as, .. } => yield_as.as_deref() == Some(name),
            QueryNode::Intersect(c) | QueryNode::Union(c) => c.iter().any(|n| in_tree(n, name)),
            QueryNode::Not(n) | QueryNode::Optional(n) => in_tree(n, name),
            _ => false,
        }
    }
    let knn_name = query.knn.as_ref().map(|k| {
        k.score_as.clone().unwrap_or_else(|| {
            let attribute = schema
                .iter()
                .find(|f| f.attribute == k.field)
                .map_or(k.field.as_str(), |f| f.attribute.as_str());
            format!("__{attribute}_score")
        })
    });
    knn_name.as_deref() == Some(name) || in_tree(&query.filter, name)
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Num(f64),
    Str(String),
}

impl SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Str(a), SortKey::Str(b)) => a.cmp(b),
            (SortKey::Num(_), SortKey::Str(_)) => std::cmp::Ordering::Less,
            (SortKey::Str(_), SortKey::Num(_)) => std::cmp::Ordering::Greater,
        }
    }
}

fn new_postings(field: &Field) -> Postings {
    match &field.ty {
        FieldType::Text { .. } => Postings::Text(HashMap::new()),
        FieldType::Tag { .. } => Postings::Tag(HashMap::new()),
        FieldType::Numeric => Postings::Numeric(BTreeMap::new()),
        FieldType::Geo => Postings::Geo,
        FieldType::Vector(params) => Postings::Vector(vector::new_index(params)),
    }
}

/// Marks a stem entry in a TEXT field's term map (no token can start with it).
const STEM_MARK: char = '\0';

/// Whether a field indexes stems: TEXT without NOSTEM.
fn stems(field: &Field) -> bool {
    matches!(field.ty, FieldType::Text { nostem: false, .. })
}

/// The term-map key of `word`'s English stem (Porter2, RediSearch's default).
fn stem_key(word: &str) -> String {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    let stemmer =
        STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));
    let mut key = String::with_capacity(word.len() + 1);
    key.push(STEM_MARK);
    key.push_str(&stemmer.stem(word));
    key
}

/// A TAG value's tags: split by the separator, trimmed, lower-cased unless
/// CASESENSITIVE; empty tags dropped.
fn split_tags(field: &Field, raw: &[String]) -> Vec<String> {
    let FieldType::Tag { separator, case_sensitive, .. } = field.ty else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    for value in raw {
        let parts: Vec<&str> = match separator {
            Some(sep) => value.split(sep).collect(),
            None => vec![value.as_str()],
        };
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let tag = if case_sensitive { part.to_owned() } else { part.to_lowercase() };
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    tags
}

fn remove_posting(map: &mut HashMap<String, RoaringBitmap>, term: &str, id: DocId) {
    if let Some(bits) = map.get_mut(term) {
        bits.remove(id);
        if bits.is_empty() {
            map.remove(term);
        }
    }
}

fn union_matching(
    acc: &mut RoaringBitmap,
    map: &HashMap<String, RoaringBitmap>,
    pred: impl Fn(&str) -> bool,
) {
    for (term, bits) in map {
        if pred(term) {
            *acc |= bits;
        }
    }
}

fn in_bounds(v: f64, min: &NumBound, max: &NumBound) -> bool {
    let above = if min.inclusive { v >= min.value } else { v > min.value };
    let below = if max.inclusive { v <= max.value } else { v < max.value };
    above && below
}

/// `?` matches one character, `*` any run.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Great-circle distance in metres (the earth radius Redis's GEO commands use).
fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
    let (lat1r, lat2r) = (lat1.to_radians(), lat2.to_radians());
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2 - lon1).to_radians() / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vector::{Algorithm, Metric, VectorParams, VectorType};

    fn schema() -> Vec<Field> {
        vec![
            Field::new(
                "title",
                "title",
                FieldType::Text {
                    weight: 1.0,
                    nostem: false,
                    phonetic: None,
                    with_suffix_trie: false,
                },
            ),
            Field::new(
                "tag",
                "tag",
                FieldType::Tag {
                    separator: Some(','),
                    case_sensitive: false,
                    with_suffix_trie: false,
                },
            ),
            Field::new("price", "price", FieldType::Numeric),
            Field::new(
                "v",
                "v",
                FieldType::Vector(VectorParams::new(
                    Algorithm::Flat,
                    VectorType::Float32,
                    2,
                    Metric::L2,
                )),
            ),
        ]
    }

    fn doc(title: &str, tag: &str, price: f64, v: [f32; 2]) -> Vec<Option<FieldValue>> {
        vec![
            Some(FieldValue::Text(vec![title.into()])),
            Some(FieldValue::Tags(vec![tag.into()])),
            Some(FieldValue::Numeric(vec![price])),
            Some(FieldValue::Vector(v.to_vec())),
        ]
    }

    fn keys(index: &Index, result: &SearchResult) -> Vec<String> {
        result
            .hits
            .iter()
            .map(|h| String::from_utf8_lossy(index.key(h.id).unwrap()).into_owned())
            .collect()
    }

    fn page() -> SearchParams {
        SearchParams { sort_by: None, offset: 0, count: 10, in_keys: None, verbatim: false }
    }

    fn sample() -> Index {
        let mut index = Index::new(schema());
        index.upsert(b"d1", doc("Hello World", "red,Blue", 10.0, [0.0, 0.0]));
        index.upsert(b"d2", doc("hello there", "green", 20.0, [1.0, 0.0]));
        index.upsert(b"d3", doc("goodbye world", "blue", 30.0, [2.0, 0.0]));
        index
    }

    #[test]
    fn terms_tags_and_ranges_select_documents() {
        let index = sample();
        let q = |filter| Query { filter, knn: None };
        let text = QueryNode::Text { fields: vec![], matcher: TextMatch::Term("world".into()) };
        assert_eq!(keys(&index, &index.search(&q(text), &page()).unwrap()), ["d1", "d3"]);
        let tag =
            QueryNode::Tag { field: "tag".into(), values: vec![TagMatch::Exact("BLUE".into())] };
        assert_eq!(keys(&index, &index.search(&q(tag), &page()).unwrap()), ["d1", "d3"]);
        let range = QueryNode::Numeric {
            field: "price".into(),
            min: NumBound { value: 10.0, inclusive: false },
            max: NumBound { value: 30.0, inclusive: true },
        };
        assert_eq!(keys(&index, &index.search(&q(range), &page()).unwrap()), ["d2", "d3"]);
        let phrase = QueryNode::Text {
            fields: vec![],
            matcher: TextMatch::Phrase(vec!["hello".into(), "world".into()]),
        };
        assert_eq!(keys(&index, &index.search(&q(phrase), &page()).unwrap()), ["d1"]);
    }

    #[test]
    fn updates_move_a_document_to_the_end_and_removal_forgets_it() {
        let mut index = sample();
        index.upsert(b"d1", doc("changed", "red", 5.0, [0.0, 0.0]));
        let all = index.search(&Query { filter: QueryNode::All, knn: None }, &page()).unwrap();
        assert_eq!(keys(&index, &all), ["d2", "d3", "d1"]);
        let old = QueryNode::Text { fields: vec![], matcher: TextMatch::Term("hello".into()) };
        assert_eq!(
            keys(&index, &index.search(&Query { filter: old, knn: None }, &page()).unwrap()),
            ["d2"]
        );
        assert!(index.remove(b"d2"));
        assert!(!index.remove(b"d2"));
        assert_eq!(index.num_docs(), 2);
        assert!(index.tag_values(1).iter().all(|t| t != "green"));
    }

    #[test]
    fn a_restored_index_keeps_ids_and_vectors_until_documents_return() {
        let index = sample();
        let mut restored = Index::restore(schema(), &index.save()).unwrap();
        assert_eq!(restored.num_docs(), 3);
        // Replaying the documents fills the postings again.
        restored.upsert(b"d1", doc("Hello World", "red,Blue", 10.0, [0.0, 0.0]));
        let tag =
            QueryNode::Tag { field: "tag".into(), values: vec![TagMatch::Exact("red".into())] };
        let found = restored.search(&Query { filter: tag, knn: None }, &page()).unwrap();
        assert_eq!(keys(&restored, &found), ["d1"]);
        let knn = Knn {
            k: 1,
            field: "v".into(),
            blob: [2.0f32, 0.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
            score_as: None,
            ef_runtime: None,
            epsilon: None,
            hybrid_policy: None,
            batch_size: None,
        };
        let nearest =
            restored.search(&Query { filter: QueryNode::All, knn: Some(knn) }, &page()).unwrap();
        assert_eq!(keys(&restored, &nearest), ["d3"]);
        let mut bad = index.save();
        bad[3] ^= 1;
        assert!(Index::restore(schema(), &bad).is_none());
    }

    fn nearest(index: &Index, at: [f32; 2], k: usize) -> Vec<String> {
        let knn = Knn {
            k,
            field: "v".into(),
            blob: at.iter().flat_map(|x| x.to_le_bytes()).collect(),
            score_as: None,
            ef_runtime: None,
            epsilon: None,
            hybrid_policy: None,
            batch_size: None,
        };
        let found =
            index.search(&Query { filter: QueryNode::All, knn: Some(knn) }, &page()).unwrap();
        keys(index, &found)
    }

    #[test]
    fn updates_move_or_drop_a_documents_vector() {
        let mut index = sample();
        index.upsert(b"d1", doc("Hello World", "red", 10.0, [9.0, 9.0]));
        assert_eq!(nearest(&index, [9.0, 9.0], 1), ["d1"]);
        assert_eq!(nearest(&index, [0.0, 0.0], 1), ["d2"]);
        let mut without_vector = doc("Hello World", "red", 10.0, [0.0, 0.0]);
        without_vector[3] = None;
        index.upsert(b"d1", without_vector);
        assert_eq!(nearest(&index, [9.0, 9.0], 3), ["d3", "d2"]);
        assert!(index.remove(b"d3"));
        assert_eq!(nearest(&index, [9.0, 9.0], 3), ["d2"]);
    }

    #[test]
    fn sort_by_and_limit_page_the_ordered_matches() {
        let index = sample();
        let params = SearchParams {
            sort_by: Some(("price".into(), false)),
            offset: 1,
            count: 1,
            in_keys: None,
            verbatim: false,
        };
        let result = index.search(&Query { filter: QueryNode::All, knn: None }, &params).unwrap();
        assert_eq!(result.total, 3);
        assert_eq!(keys(&index, &result), ["d2"]);
    }
}
