//! Renders a parsed [`Query`] as FT.EXPLAIN prints it (RediSearch 2.10, dialect 2): one
//! node a line, two spaces of indent a level, and a trailing newline.
//!
//! RediSearch shows each plain text term with its stemming expansion (`+stem(expanded)`,
//! plus `stem(expanded)` when the stem differs), except under `-`, `~` and in a KNN
//! filter. The stemmer is the caller's ([`explain_with_stemmer`]); [`explain`] treats
//! every word as its own stem, which is exact for words the English stemmer keeps.
//!
//! The tree keeps values, not how they were written, so a few renderings differ from
//! RediSearch's: a tag of several unescaped words shows as one tag (RediSearch shows their INTERSECT), a geo radius
//! shows in metres, fuzzy terms show as terms, a field list on `@f:(a b)` shows on the
//! leaves only, and a vector is named by the first parameter holding its bytes.

use std::collections::HashMap;
use std::fmt::Write;

use super::ast::{Knn, NumBound, Query, QueryNode, TagMatch, TextMatch};

/// FT.EXPLAIN's text for `query`, with words as their own stems.
pub fn explain(query: &Query, params: &HashMap<String, Vec<u8>>) -> String {
    explain_with_stemmer(query, params, &|word| word.to_string())
}

/// FT.EXPLAIN's text for `query`; `stem` gives a word's stem for the expansion lines.
pub fn explain_with_stemmer(
    query: &Query,
    params: &HashMap<String, Vec<u8>>,
    stem: &dyn Fn(&str) -> String,
) -> String {
    let mut renderer = Renderer { out: String::new(), params, stem };
    match &query.knn {
        None => renderer.node(&query.filter, 0, true),
        Some(knn) => renderer.knn(&query.filter, knn),
    }
    renderer.out
}

struct Renderer<'a> {
    out: String,
    params: &'a HashMap<String, Vec<u8>>,
    stem: &'a dyn Fn(&str) -> String,
}

fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{value:.6}")
    }
}

fn comparison(bound: NumBound) -> &'static str {
    if bound.inclusive {
        "<="
    } else {
        "<"
    }
}

impl Renderer<'_> {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn block(&mut self, depth: usize, head: &str, children: &[&QueryNode], expand: bool) {
        self.line(depth, head);
        for child in children {
            self.node(child, depth + 1, expand);
        }
        self.line(depth, "}");
    }

    fn blob_name(&self, blob: &[u8]) -> String {
        let mut names: Vec<&String> = self
            .params
            .iter()
            .filter(|(_, value)| value.as_slice() == blob)
            .map(|(k, _)| k)
            .collect();
        names.sort();
        names.first().map_or_else(|| "BLOB".to_string(), |name| name.to_string())
    }

    fn knn(&mut self, filter: &QueryNode, knn: &Knn) {
        let mut text = format!(
            "K={} nearest vectors to `${}` in vector index associated with field @{}",
            knn.k,
            self.blob_name(&knn.blob),
            knn.field
        );
        if let Some(ef) = knn.ef_runtime {
            let _ = write!(text, ", EF_RUNTIME = {ef}");
        }
        if let Some(epsilon) = knn.epsilon {
            let _ = write!(text, ", EPSILON = {epsilon}");
        }
        if let Some(policy) = &knn.hybrid_policy {
            let _ = write!(text, ", HYBRID_POLICY = {policy}");
        }
        if let Some(size) = knn.batch_size {
            let _ = write!(text, ", BATCH_SIZE = {size}");
        }
        let score = knn.score_as.clone().unwrap_or_else(|| format!("__{}_score", knn.field));
        let _ = write!(text, ", yields distance as `{score}`");
        if *filter == QueryNode::All {
            self.line(0, &format!("VECTOR {{{text}}}"));
        } else {
            self.line(0, "VECTOR {");
            self.node(filter, 1, false);
            self.line(0, &format!("}} => {{{text}}}"));
        }
    }

    fn node(&mut self, node: &QueryNode, depth: usize, expand: bool) {
        match node {
            QueryNode::All => self.line(depth, "<WILDCARD>"),
            QueryNode::Empty => self.line(depth, "<empty>"),
            QueryNode::Intersect(children) => {
                let children: Vec<&QueryNode> = children.iter().collect();
                self.block(depth, "INTERSECT {", &children, expand);
            }
            QueryNode::Union(children) => {
                let children: Vec<&QueryNode> = children.iter().collect();
                self.block(depth, "UNION {", &children, expand);
            }
            QueryNode::Not(child) => self.block(depth, "NOT{", &[child], false),
            QueryNode::Optional(child) => self.block(depth, "OPTIONAL{", &[child], false),
            QueryNode::Text { fields, matcher } => self.text(fields, matcher, depth, expand),
            QueryNode::Tag { field, values } => {
                self.line(depth, &format!("TAG:@{field} {{"));
                for value in values {
                    let text = match value {
                        TagMatch::Exact(tag) => tag.clone(),
                        TagMatch::Prefix(tag) => format!("PREFIX{{{tag}*}}"),
                        TagMatch::Suffix(tag) => format!("SUFFIX{{*{tag}}}"),
                        TagMatch::Infix(tag) => format!("INFIX{{*{tag}*}}"),
                    };
                    self.line(depth + 1, &text);
                }
                self.line(depth, "}");
            }
            QueryNode::Numeric { field, min, max } => {
                let text = format!(
                    "NUMERIC {{{} {} @{field} {} {}}}",
                    number(min.value),
                    comparison(*min),
                    comparison(*max),
                    number(max.value)
                );
                self.line(depth, &text);
            }
            QueryNode::Geo { field, lon, lat, radius_m } => {
                let text = format!(
                    "GEO {field}:{{{},{} --> {} m}}",
                    number(*lon),
                    number(*lat),
                    number(*radius_m)
                );
                self.line(depth, &text);
            }
            QueryNode::VectorRange { field, radius, blob, yield_as, epsilon } => {
                let mut text = format!(
                    "VECTOR {{Vectors that are within {radius} distance radius from `${}` in \
                     vector index associated with field @{field}",
                    self.blob_name(blob)
                );
                if let Some(epsilon) = epsilon {
                    let _ = write!(text, ", EPSILON = {epsilon}");
                }
                if let Some(name) = yield_as {
                    let _ = write!(text, ", yields distance as `{name}`");
                }
                text.push('}');
                self.line(depth, &text);
            }
            QueryNode::IsMissing(field) => self.line(depth, &format!("ISMISSING{{{field}}}")),
        }
    }

    fn text(&mut self, fields: &[String], matcher: &TextMatch, depth: usize, expand: bool) {
        let scope =
            if fields.is_empty() { String::new() } else { format!("@{}:", fields.join("|")) };
        match matcher {
            TextMatch::Term(term) if expand && term.parse::<f64>().is_err() => {
                let stem = (self.stem)(term);
                self.line(depth, &format!("{scope}UNION {{"));
                self.line(depth + 1, &format!("{scope}{term}"));
                self.line(depth + 1, &format!("{scope}+{stem}(expanded)"));
                if stem != *term {
                    self.line(depth + 1, &format!("{scope}{stem}(expanded)"));
                }
                self.line(depth, "}");
            }
            TextMatch::Term(term) => self.line(depth, &format!("{scope}{term}")),
            TextMatch::Phrase(words) if words.is_empty() => {
                self.line(depth, &format!("{scope}\"\""));
            }
            TextMatch::Phrase(words) => {
                self.line(depth, &format!("{scope}EXACT {{"));
                for word in words {
                    self.line(depth + 1, &format!("{scope}{word}"));
                }
                self.line(depth, "}");
            }
            TextMatch::Prefix(word) => self.line(depth, &format!("{scope}PREFIX{{{word}*}}")),
            TextMatch::Suffix(word) => self.line(depth, &format!("{scope}SUFFIX{{*{word}}}")),
            TextMatch::Infix(word) => self.line(depth, &format!("{scope}INFIX{{*{word}*}}")),
            TextMatch::Wildcard(pattern) => {
                self.line(depth, &format!("{scope}WILDCARD{{{pattern}}}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::parse;
    use super::*;

    /// Outputs copied from RediSearch 2.10's FT.EXPLAIN (DIALECT 2).
    fn check(query: &str, expected: &str) {
        let mut params = HashMap::new();
        params.insert("B".to_string(), vec![1u8, 2, 3, 4, 5, 6, 7, 8]);
        params.insert("K".to_string(), b"5".to_vec());
        params.insert("EF".to_string(), b"20".to_vec());
        let parsed = parse(query, &params).unwrap();
        let stem = |word: &str| word.strip_suffix('s').unwrap_or(word).to_string();
        assert_eq!(explain_with_stemmer(&parsed, &params, &stem), expected, "{query}");
    }

    #[test]
    fn wildcard_and_empty() {
        check("*", "<WILDCARD>\n");
        check("the", "<empty>\n");
    }

    #[test]
    fn terms_show_their_stem_expansion() {
        check("foo", "UNION {\n  foo\n  +foo(expanded)\n}\n");
        check("runs", "UNION {\n  runs\n  +run(expanded)\n  run(expanded)\n}\n");
        check("123", "123\n");
        check("@title:foo", "@title:UNION {\n  @title:foo\n  @title:+foo(expanded)\n}\n");
    }

    #[test]
    fn unions_and_intersections_nest_by_precedence() {
        check(
            "foo bar | baz",
            "UNION {\n  INTERSECT {\n    UNION {\n      foo\n      +foo(expanded)\n    }\n    \
             UNION {\n      bar\n      +bar(expanded)\n    }\n  }\n  UNION {\n    baz\n    \
             +baz(expanded)\n  }\n}\n",
        );
    }

    #[test]
    fn negation_and_optional_do_not_expand() {
        check(
            "foo -bar ~baz",
            "INTERSECT {\n  UNION {\n    foo\n    +foo(expanded)\n  }\n  NOT{\n    bar\n  }\n  \
             OPTIONAL{\n    baz\n  }\n}\n",
        );
        check("-(foo bar)", "NOT{\n  INTERSECT {\n    foo\n    bar\n  }\n}\n");
    }

    #[test]
    fn leaves_of_other_kinds() {
        check("\"hello world\"", "EXACT {\n  hello\n  world\n}\n");
        check("pre*", "PREFIX{pre*}\n");
        check("*suf", "SUFFIX{*suf}\n");
        check("*inf*", "INFIX{*inf*}\n");
        check("w'wild?card'", "WILDCARD{wild?card}\n");
        check(
            "@tag:{a | b* | *c | *d*}",
            "TAG:@tag {\n  a\n  PREFIX{b*}\n  SUFFIX{*c}\n  INFIX{*d*}\n}\n",
        );
        check("ismissing(@title)", "ISMISSING{title}\n");
    }

    #[test]
    fn numeric_ranges() {
        check("@price:[10 100]", "NUMERIC {10.000000 <= @price <= 100.000000}\n");
        check("@price:[(10 (100]", "NUMERIC {10.000000 < @price < 100.000000}\n");
        check("@price:[-inf +inf]", "NUMERIC {-inf <= @price <= inf}\n");
        check("@price>5", "NUMERIC {5.000000 < @price <= inf}\n");
        check("@price!=5", "NOT{\n  NUMERIC {5.000000 <= @price <= 5.000000}\n}\n");
        check("@loc:[1.5 2.5 10 m]", "GEO loc:{1.500000,2.500000 --> 10.000000 m}\n");
    }

    #[test]
    fn knn_and_vector_ranges() {
        check(
            "*=>[KNN 10 @v $B]",
            "VECTOR {K=10 nearest vectors to `$B` in vector index associated with field @v, \
             yields distance as `__v_score`}\n",
        );
        check(
            "*=>[KNN $K @v $B EF_RUNTIME $EF AS dist]",
            "VECTOR {K=5 nearest vectors to `$B` in vector index associated with field @v, \
             EF_RUNTIME = 20, yields distance as `dist`}\n",
        );
        check(
            "(@tag:{a})=>[KNN 10 @v $B HYBRID_POLICY BATCHES BATCH_SIZE 50]",
            "VECTOR {\n  TAG:@tag {\n    a\n  }\n} => {K=10 nearest vectors to `$B` in vector \
             index associated with field @v, HYBRID_POLICY = BATCHES, BATCH_SIZE = 50, yields \
             distance as `__v_score`}\n",
        );
        check(
            "foo=>[KNN 10 @v $B]",
            "VECTOR {\n  foo\n} => {K=10 nearest vectors to `$B` in vector index associated \
             with field @v, yields distance as `__v_score`}\n",
        );
        check(
            "@v:[VECTOR_RANGE 0.5 $B]=>{$YIELD_DISTANCE_AS: d; $EPSILON: 0.1}",
            "VECTOR {Vectors that are within 0.5 distance radius from `$B` in vector index \
             associated with field @v, EPSILON = 0.1, yields distance as `d`}\n",
        );
    }
}
