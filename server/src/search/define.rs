//! FT.CREATE and FT.ALTER arguments: the index definition (which keys, which fields)
//! parsed with RediSearch's error texts.

use bytes::Bytes;
use engram_index::vector::{Algorithm, Metric, VectorParams, VectorType};
use engram_index::{Field, FieldType};

/// What an index covers and how (everything FT.CREATE declares).
#[derive(Debug, Clone)]
pub struct IndexDef {
    /// `ON JSON` (else HASH).
    pub on_json: bool,
    /// `PREFIX n p...`; empty means every key.
    pub prefixes: Vec<Bytes>,
    /// `FILTER expr` (stored and reported; not evaluated yet).
    pub filter: Option<String>,
    /// `filter`, parsed.
    pub filter_expr: Option<engram_index::aggregate::Expr>,
    /// `LANGUAGE`.
    pub language: Option<String>,
    /// `LANGUAGE_FIELD`.
    pub language_field: Option<String>,
    /// `SCORE` (default 1).
    pub score: f64,
    /// `SCORE_FIELD`.
    pub score_field: Option<String>,
    /// `PAYLOAD_FIELD`.
    pub payload_field: Option<String>,
    /// `STOPWORDS n w...` (None: the defaults).
    pub stopwords: Option<Vec<String>>,
    /// `SKIPINITIALSCAN`.
    pub skip_initial_scan: bool,
    /// Index options as FT.INFO lists them (`NOOFFSETS`, `NOFREQS`, ...).
    pub options: Vec<&'static str>,
    /// The fields.
    pub fields: Vec<Field>,
    /// For JSON indexes, each field's parsed path (None for hashes).
    pub json_paths: Vec<Option<engram_json::Path>>,
}

/// An argument error, with RediSearch's text.
pub type DefError = String;

impl IndexDef {
    /// True when `key` is under one of the prefixes.
    pub fn matches_key(&self, key: &[u8]) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    /// Parses FT.CREATE's arguments after the index name.
    pub fn parse(args: &[Bytes]) -> Result<IndexDef, DefError> {
        let mut def = IndexDef {
            on_json: false,
            prefixes: Vec::new(),
            filter: None,
            filter_expr: None,
            language: None,
            language_field: None,
            score: 1.0,
            score_field: None,
            payload_field: None,
            stopwords: None,
            skip_initial_scan: false,
            options: Vec::new(),
            fields: Vec::new(),
            json_paths: Vec::new(),
        };
        let mut i = 0;
        let word = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).to_ascii_uppercase());
        loop {
            let Some(keyword) = word(i) else {
                return Err("Fields arguments are missing".into());
            };
            let value = |n: usize| args.get(i + n).map(|a| String::from_utf8_lossy(a).into_owned());
            match keyword.as_str() {
                "SCHEMA" => {
                    i += 1;
                    break;
                }
                "ON" => {
                    match value(1).map(|v| v.to_ascii_uppercase()).as_deref() {
                        Some("HASH") => def.on_json = false,
                        Some("JSON") => def.on_json = true,
                        Some(other) => return Err(format!("Invalid rule type: {other}")),
                        None => {
                            return Err(
                                "Bad arguments for ON: Expected an argument, but none provided"
                                    .into(),
                            )
                        }
                    }
                    i += 2;
                }
                "PREFIX" => {
                    let n: usize = value(1).and_then(|v| v.parse().ok()).ok_or(
                        "Bad arguments for PREFIX: Could not convert argument to expected type",
                    )?;
                    if i + 2 + n > args.len() {
                        return Err(
                            "Bad arguments for PREFIX: Not enough arguments were provided".into()
                        );
                    }
                    def.prefixes.extend(args[i + 2..i + 2 + n].iter().cloned());
                    i += 2 + n;
                }
                "FILTER" => {
                    def.filter = value(1);
                    if let Some(text) = &def.filter {
                        def.filter_expr = Some(engram_index::aggregate::Expr::parse(text)?);
                    }
                    i += 2;
                }
                "LANGUAGE" => {
                    def.language = value(1);
                    i += 2;
                }
                "LANGUAGE_FIELD" => {
                    def.language_field = value(1);
                    i += 2;
                }
                "SCORE" => {
                    def.score = value(1).and_then(|v| v.parse().ok()).ok_or(
                        "Bad arguments for SCORE: Could not convert argument to expected type",
                    )?;
                    i += 2;
                }
                "SCORE_FIELD" => {
                    def.score_field = value(1);
                    i += 2;
                }
                "PAYLOAD_FIELD" => {
                    def.payload_field = value(1);
                    i += 2;
                }
                "TEMPORARY" => i += 2,
                "STOPWORDS" => {
                    let n: usize = value(1).and_then(|v| v.parse().ok()).ok_or(
                        "Bad arguments for STOPWORDS: Could not convert argument to expected type",
                    )?;
                    if i + 2 + n > args.len() {
                        return Err(
                            "Bad arguments for STOPWORDS: Not enough arguments were provided"
                                .into(),
                        );
                    }
                    def.stopwords = Some(
                        args[i + 2..i + 2 + n]
                            .iter()
                            .map(|w| String::from_utf8_lossy(w).to_lowercase())
                            .collect(),
                    );
                    i += 2 + n;
                }
                "SKIPINITIALSCAN" => {
                    def.skip_initial_scan = true;
                    i += 1;
                }
                "NOOFFSETS" | "NOHL" | "NOFIELDS" | "NOFREQS" | "MAXTEXTFIELDS" | "ASYNC" => {
                    let option = match keyword.as_str() {
                        "NOOFFSETS" => "NOOFFSETS",
                        "NOHL" => "NOHL",
                        "NOFIELDS" => "NOFIELDS",
                        "NOFREQS" => "NOFREQS",
                        "MAXTEXTFIELDS" => "MAXTEXTFIELDS",
                        _ => "ASYNC",
                    };
                    def.options.push(option);
                    i += 1;
                }
                _ => {
                    return Err(format!(
                        "Unknown argument `{}`",
                        String::from_utf8_lossy(&args[i])
                    ));
                }
            }
        }
        let fields = parse_fields(&args[i..], &[])?;
        if fields.is_empty() {
            return Err("Fields arguments are missing".into());
        }
        def.add_fields(fields)?;
        Ok(def)
    }

    /// Appends fields (FT.CREATE's schema, FT.ALTER SCHEMA ADD), parsing JSON paths.
    pub fn add_fields(&mut self, fields: Vec<Field>) -> Result<(), DefError> {
        for mut field in fields {
            // Hash tags split on `,` unless told otherwise; JSON tags only when told.
            if let FieldType::Tag { separator: separator @ None, .. } = &mut field.ty {
                if !self.on_json {
                    *separator = Some(',');
                }
            }
            if self.fields.iter().any(|f| f.attribute == field.attribute) {
                return Err(format!("Duplicate field in schema - {}", field.attribute));
            }
            let path = if self.on_json {
                Some(engram_json::Path::parse(&field.identifier).map_err(|_| {
                    format!(
                        "Invalid JSONPath '{}' in attribute '{}' in index",
                        field.identifier, field.attribute
                    )
                })?)
            } else {
                None
            };
            self.json_paths.push(path);
            self.fields.push(field);
        }
        Ok(())
    }
}

/// Parses `identifier [AS attribute] TYPE options...` repeated; `existing` are the
/// attributes already declared (duplicates are errors).
pub fn parse_fields(args: &[Bytes], existing: &[Field]) -> Result<Vec<Field>, DefError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut i = 0;
    let text = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
    let upper = |i: usize| text(i).map(|t| t.to_ascii_uppercase());
    while i < args.len() {
        let identifier = text(i).unwrap_or_default();
        i += 1;
        let mut attribute = identifier.clone();
        if upper(i).as_deref() == Some("AS") {
            attribute = text(i + 1)
                .ok_or("Bad arguments for AS: Expected an argument, but none provided")?;
            i += 2;
        }
        let Some(type_name) = upper(i) else {
            return Err(format!("Field `{identifier}` does not have a type"));
        };
        i += 1;
        let ty = match type_name.as_str() {
            "TEXT" => FieldType::Text {
                weight: 1.0,
                nostem: false,
                phonetic: None,
                with_suffix_trie: false,
            },
            "TAG" => {
                FieldType::Tag { separator: None, case_sensitive: false, with_suffix_trie: false }
            }
            "NUMERIC" => FieldType::Numeric,
            "GEO" => FieldType::Geo,
            "VECTOR" => {
                let (params, used) = parse_vector(&args[i..])?;
                i += used;
                FieldType::Vector(params)
            }
            _ => {
                if is_field_option(&identifier) {
                    return Err(format!("Field `{identifier}` does not have a type"));
                }
                return Err(format!("Invalid field type for field `{identifier}`"));
            }
        };
        let mut field = Field::new(&identifier, &attribute, ty);
        // Options until the next field's identifier.
        while let Some(option) = upper(i) {
            match (option.as_str(), &mut field.ty) {
                ("SORTABLE", ty) if !matches!(ty, FieldType::Vector(_)) => field.sortable = true,
                ("UNF", _) if field.sortable => field.unf = true,
                ("NOINDEX", _) => field.noindex = true,
                ("INDEXMISSING", _) => field.index_missing = true,
                ("INDEXEMPTY", _) => field.index_empty = true,
                ("WEIGHT", FieldType::Text { weight, .. }) => {
                    *weight = text(i + 1).and_then(|w| w.parse().ok()).ok_or(
                        "Bad arguments for weight: Could not convert argument to expected type",
                    )?;
                    i += 1;
                }
                ("NOSTEM", FieldType::Text { nostem, .. }) => *nostem = true,
                ("PHONETIC", FieldType::Text { phonetic, .. }) => {
                    *phonetic = text(i + 1);
                    i += 1;
                }
                ("WITHSUFFIXTRIE", FieldType::Text { with_suffix_trie, .. })
                | ("WITHSUFFIXTRIE", FieldType::Tag { with_suffix_trie, .. }) => {
                    *with_suffix_trie = true
                }
                ("SEPARATOR", FieldType::Tag { separator, .. }) => {
                    let sep = text(i + 1).unwrap_or_default();
                    let mut chars = sep.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => *separator = Some(c),
                        _ => {
                            return Err(format!(
                                "Tag separator must be a single character. Got `{sep}`"
                            ))
                        }
                    }
                    i += 1;
                }
                ("CASESENSITIVE", FieldType::Tag { case_sensitive, .. }) => *case_sensitive = true,
                _ => break,
            }
            i += 1;
        }
        if matches!(field.ty, FieldType::Numeric) && field.sortable {
            // RediSearch reports numeric sortables as UNF (they are never normalized).
            field.unf = true;
        }
        if existing.iter().chain(fields.iter()).any(|f| f.attribute == field.attribute) {
            return Err(format!("Duplicate field in schema - {}", field.attribute));
        }
        fields.push(field);
    }
    Ok(fields)
}

fn is_field_option(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().as_str(),
        "SORTABLE"
            | "UNF"
            | "NOINDEX"
            | "NOSTEM"
            | "WEIGHT"
            | "SEPARATOR"
            | "CASESENSITIVE"
            | "PHONETIC"
            | "WITHSUFFIXTRIE"
    )
}

/// `HNSW|FLAT n key value ...`: the parameters and how many arguments they took.
fn parse_vector(args: &[Bytes]) -> Result<(VectorParams, usize), DefError> {
    let text = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
    let algorithm_name = text(0)
        .ok_or("Bad arguments for vector similarity algorithm: Expected an argument, but none provided")?
        .to_ascii_uppercase();
    let algorithm = match algorithm_name.as_str() {
        "HNSW" => Algorithm::Hnsw,
        "FLAT" => Algorithm::Flat,
        _ => return Err("Bad arguments for vector similarity algorithm: Unknown argument".into()),
    };
    let count: usize = text(1)
        .ok_or("Bad arguments for vector similarity number of parameters: Expected an argument, but none provided")?
        .parse()
        .map_err(|_| "Bad arguments for vector similarity number of parameters: Could not convert argument to expected type")?;
    if !count.is_multiple_of(2) {
        return Err(format!(
            "Bad number of arguments for vector similarity index: got {count} but expected even number as algorithm parameters (should be submitted as named arguments)"
        ));
    }
    if args.len() < 2 + count {
        return Err(format!("Expected {count} parameters but got {}", args.len() - 2));
    }
    let mut ty = None;
    let mut dim = None;
    let mut metric = None;
    let mut params = VectorParams::new(algorithm, VectorType::Float32, 0, Metric::L2);
    let prefix = format!("Bad arguments for vector similarity {algorithm_name} index");
    let mut j = 2;
    while j < 2 + count {
        let key = text(j).unwrap_or_default().to_ascii_uppercase();
        let value = text(j + 1).unwrap_or_default();
        let number = |what: &str, min: u64| -> Result<u64, DefError> {
            let n: i64 = value.parse().map_err(|_| {
                format!("{prefix} {what}: Could not convert argument to expected type")
            })?;
            if n < min as i64 {
                return Err(format!("{prefix} {what}: Value is outside acceptable bounds"));
            }
            Ok(n as u64)
        };
        match key.as_str() {
            "TYPE" => {
                ty = Some(match value.to_ascii_uppercase().as_str() {
                    "FLOAT32" => VectorType::Float32,
                    "FLOAT64" => VectorType::Float64,
                    "FLOAT16" => VectorType::Float16,
                    "BFLOAT16" => VectorType::BFloat16,
                    _ => return Err(format!("{prefix} type: Unknown argument")),
                })
            }
            "DIM" => dim = Some(number("dim", 1)? as usize),
            "DISTANCE_METRIC" => {
                metric = Some(match value.to_ascii_uppercase().as_str() {
                    "L2" => Metric::L2,
                    "IP" => Metric::InnerProduct,
                    "COSINE" => Metric::Cosine,
                    _ => return Err(format!("{prefix} metric: Unknown argument")),
                })
            }
            "INITIAL_CAP" => params.initial_cap = number("initial cap", 0)? as usize,
            "BLOCK_SIZE" if algorithm == Algorithm::Flat => {
                params.block_size = number("block size", 1)? as usize
            }
            "M" if algorithm == Algorithm::Hnsw => params.m = number("M", 1)? as usize,
            "EF_CONSTRUCTION" if algorithm == Algorithm::Hnsw => {
                params.ef_construction = number("efConstruction", 1)? as usize
            }
            "EF_RUNTIME" if algorithm == Algorithm::Hnsw => {
                params.ef_runtime = number("efRuntime", 1)? as usize
            }
            "EPSILON" if algorithm == Algorithm::Hnsw => {
                params.epsilon = value.parse::<f64>().ok().filter(|e| *e > 0.0).ok_or(format!(
                    "{prefix} epsilon: Could not convert argument to expected type"
                ))?
            }
            _ => {
                return Err(format!(
                    "Bad arguments for algorithm {algorithm_name}: {}",
                    text(j).unwrap_or_default()
                ))
            }
        }
        j += 2;
    }
    let missing = |what: &str| {
        format!("Missing mandatory parameter: cannot create {algorithm_name} index without specifying {what} argument")
    };
    params.ty = ty.ok_or_else(|| missing("TYPE"))?;
    params.dim = dim.ok_or_else(|| missing("DIM"))?;
    params.metric = metric.ok_or_else(|| missing("DISTANCE_METRIC"))?;
    Ok((params, 2 + count))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn parses_a_hash_index_with_every_field_type() {
        let def = IndexDef::parse(&args(
            "ON HASH PREFIX 2 a: b: SCHEMA t TEXT WEIGHT 2 SORTABLE g TAG SEPARATOR ; CASESENSITIVE n AS num NUMERIC SORTABLE v VECTOR HNSW 8 TYPE FLOAT32 DIM 4 DISTANCE_METRIC COSINE M 8",
        ))
        .unwrap();
        assert_eq!(def.prefixes, vec![Bytes::from("a:"), Bytes::from("b:")]);
        assert_eq!(def.fields.len(), 4);
        assert!(def.fields[0].sortable);
        assert_eq!(def.fields[2].attribute, "num");
        let FieldType::Vector(p) = &def.fields[3].ty else { panic!() };
        assert_eq!((p.dim, p.m, p.metric), (4, 8, Metric::Cosine));
    }

    #[test]
    fn errors_match_redisearch() {
        let err = |s: &str| IndexDef::parse(&args(s)).unwrap_err();
        assert_eq!(err("ON FOO SCHEMA t TEXT"), "Invalid rule type: FOO");
        assert_eq!(err("SCHEMA t TEXT t TEXT"), "Duplicate field in schema - t");
        assert_eq!(err("SCHEMA v FOO"), "Invalid field type for field `v`");
        assert_eq!(err("ON HASH SCHEMA"), "Fields arguments are missing");
        assert_eq!(err("FOO SCHEMA t TEXT"), "Unknown argument `FOO`");
        assert_eq!(
            err("SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 2"),
            "Expected 6 parameters but got 4"
        );
        assert_eq!(
            err("SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 2 M 4"),
            "Missing mandatory parameter: cannot create HNSW index without specifying DISTANCE_METRIC argument"
        );
        assert_eq!(
            err("SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 0 DISTANCE_METRIC L2"),
            "Bad arguments for vector similarity HNSW index dim: Value is outside acceptable bounds"
        );
        assert_eq!(
            err("SCHEMA v VECTOR FLAT 8 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 M 1"),
            "Bad arguments for algorithm FLAT: M"
        );
        assert_eq!(
            err("SCHEMA t TAG SEPARATOR ab"),
            "Tag separator must be a single character. Got `ab`"
        );
        assert_eq!(
            err("SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 SORTABLE"),
            "Field `SORTABLE` does not have a type"
        );
    }
}
