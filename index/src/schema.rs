//! An index's schema: its fields (what FT.CREATE's SCHEMA declares) and the field values
//! the server extracts from a document for them.

use crate::vector::VectorParams;

/// What kind of field, with its type-specific options.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// Tokenized text, matched by exact (lower-cased) terms.
    Text {
        /// `WEIGHT` (accepted; scoring weight).
        weight: f64,
        /// `NOSTEM`.
        nostem: bool,
        /// `PHONETIC` matcher name, if any.
        phonetic: Option<String>,
        /// `WITHSUFFIXTRIE`.
        with_suffix_trie: bool,
    },
    /// Tags split by a separator, matched whole.
    Tag {
        /// `SEPARATOR` (default `,`).
        /// `None`: values are not split (JSON tags without SEPARATOR: each array
        /// element is one tag).
        separator: Option<char>,
        /// `CASESENSITIVE`.
        case_sensitive: bool,
        /// `WITHSUFFIXTRIE`.
        with_suffix_trie: bool,
    },
    /// A double, matched by ranges.
    Numeric,
    /// `lon,lat`, matched by radius.
    Geo,
    /// An embedding.
    Vector(VectorParams),
}

impl FieldType {
    /// RediSearch's type name (`TEXT`, `TAG`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "TEXT",
            FieldType::Tag { .. } => "TAG",
            FieldType::Numeric => "NUMERIC",
            FieldType::Geo => "GEO",
            FieldType::Vector(_) => "VECTOR",
        }
    }
}

/// One declared field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Where the value comes from: a hash field name, or a JSONPath for JSON documents.
    pub identifier: String,
    /// The name queries use (`AS` alias, else the identifier).
    pub attribute: String,
    /// Type and options.
    pub ty: FieldType,
    /// `SORTABLE`.
    pub sortable: bool,
    /// `UNF` (sortable values kept un-normalized).
    pub unf: bool,
    /// `NOINDEX`: stored for sorting/loading but not searchable.
    pub noindex: bool,
    /// `INDEXMISSING`.
    pub index_missing: bool,
    /// `INDEXEMPTY`.
    pub index_empty: bool,
}

impl Field {
    /// A field with default options.
    pub fn new(identifier: &str, attribute: &str, ty: FieldType) -> Self {
        Self {
            identifier: identifier.to_owned(),
            attribute: attribute.to_owned(),
            ty,
            sortable: false,
            unf: false,
            noindex: false,
            index_missing: false,
            index_empty: false,
        }
    }
}

/// A document's value for one field, as the server extracted it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// TEXT: the raw text (one or more strings, e.g. a JSON array of strings).
    Text(Vec<String>),
    /// TAG: the raw strings before separator splitting (a JSON array gives several).
    Tags(Vec<String>),
    /// NUMERIC: one or more numbers.
    Numeric(Vec<f64>),
    /// GEO: (longitude, latitude) pairs.
    Geo(Vec<(f64, f64)>),
    /// VECTOR: the decoded vector (already of the field's `dim`).
    Vector(Vec<f32>),
}
