//! The parsed form of an FT.SEARCH / FT.AGGREGATE query string (dialect 2), with every
//! `$param` already substituted. Field names are as written (attribute names or
//! aliases); the executor resolves them against the schema.

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumBound {
    /// The bound's value; may be infinite (`-inf`, `+inf`).
    pub value: f64,
    /// False for an exclusive bound written `(value`.
    pub inclusive: bool,
}

/// A value in a tag clause `@f:{a | b*}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMatch {
    /// The whole tag (unescaped: `\ ` has become ` `).
    Exact(String),
    /// `abc*`.
    Prefix(String),
    /// `*abc`.
    Suffix(String),
    /// `*abc*`.
    Infix(String),
}

/// A text-matching leaf (`word`, `"a phrase"`, `pre*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// A single term (lower-cased as the tokenizer would).
    Term(String),
    /// Consecutive terms (`"hello world"`).
    Phrase(Vec<String>),
    /// `pre*`.
    Prefix(String),
    /// `*suf`.
    Suffix(String),
    /// `*in*`.
    Infix(String),
    /// `w'pattern'` wildcard.
    Wildcard(String),
}

/// A node of the boolean query tree.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryNode {
    /// `*`: every document.
    All,
    /// Matches nothing (e.g. an empty union after stopword removal).
    Empty,
    /// Juxtaposed clauses: all must match.
    Intersect(Vec<QueryNode>),
    /// `a | b`: any must match.
    Union(Vec<QueryNode>),
    /// `-a`.
    Not(Box<QueryNode>),
    /// `~a`: matches everything, `a` only affects scoring.
    Optional(Box<QueryNode>),
    /// Text match, in `fields` (`@a|b:word`) or in every TEXT field when empty.
    Text {
        /// Fields named by the clause; empty for all TEXT fields.
        fields: Vec<String>,
        /// What to match.
        matcher: TextMatch,
    },
    /// `@field:{...}`: any of the values.
    Tag {
        /// The TAG field.
        field: String,
        /// Alternatives.
        values: Vec<TagMatch>,
    },
    /// `@field:[min max]`.
    Numeric {
        /// The NUMERIC field.
        field: String,
        /// Lower bound.
        min: NumBound,
        /// Upper bound.
        max: NumBound,
    },
    /// `@field:[VECTOR_RANGE radius $blob]=>{$YIELD_DISTANCE_AS: d; $EPSILON: e}`.
    VectorRange {
        /// The VECTOR field.
        field: String,
        /// Radius (a distance in the field's metric).
        radius: f64,
        /// The query vector's raw bytes (from PARAMS).
        blob: Vec<u8>,
        /// `$YIELD_DISTANCE_AS`.
        yield_as: Option<String>,
        /// `$EPSILON`.
        epsilon: Option<f64>,
    },
    /// `@field:[lon lat radius unit]`.
    Geo {
        /// The GEO field.
        field: String,
        /// Longitude.
        lon: f64,
        /// Latitude.
        lat: f64,
        /// Radius in metres.
        radius_m: f64,
    },
    /// `ismissing(@field)`.
    IsMissing(String),
}

/// `=>[KNN k @field $blob ...]` after the filter part.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// Number of neighbours.
    pub k: usize,
    /// The VECTOR field.
    pub field: String,
    /// The query vector's raw bytes (from PARAMS).
    pub blob: Vec<u8>,
    /// `AS name`: the score field; `__<field>_score` when absent.
    pub score_as: Option<String>,
    /// `EF_RUNTIME n`.
    pub ef_runtime: Option<usize>,
    /// `EPSILON x`.
    pub epsilon: Option<f64>,
    /// `HYBRID_POLICY ADHOC_BF | BATCHES` (accepted; our planner decides).
    pub hybrid_policy: Option<String>,
    /// `BATCH_SIZE n` (accepted).
    pub batch_size: Option<usize>,
}

/// A whole query: the filter tree and an optional KNN clause over its matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which documents match.
    pub filter: QueryNode,
    /// Rank the matches by vector distance, keeping the nearest `k`.
    pub knn: Option<Knn>,
}
