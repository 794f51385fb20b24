//! Text tokenization as RediSearch does it: punctuation and whitespace separate tokens,
//! a backslash escapes the character after it, `_` is part of words, and letters are
//! lower-cased.

/// The characters that separate tokens besides whitespace.
const SEPARATORS: &str = ",.<>{}[]\"':;!@#$%^&*()-+=~|/";

/// True when `c` ends a token.
pub fn is_separator(c: char) -> bool {
    c.is_whitespace() || SEPARATORS.contains(c)
}

/// The lower-cased tokens of `text`, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                current.extend(escaped.to_lowercase());
            }
            continue;
        }
        if is_separator(c) {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
        } else {
            current.extend(c.to_lowercase());
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// RediSearch's default English stopwords: not indexed, dropped from queries.
pub const DEFAULT_STOPWORDS: &[&str] = &[
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_punctuation_and_lowercases() {
        assert_eq!(tokenize("Hello, World! foo_bar-baz"), ["hello", "world", "foo_bar", "baz"]);
    }

    #[test]
    fn backslash_keeps_a_separator_inside_a_token() {
        assert_eq!(tokenize(r"hello\-world x"), ["hello-world", "x"]);
    }

    #[test]
    fn empty_and_separator_only_texts_have_no_tokens() {
        assert!(tokenize("").is_empty());
        assert!(tokenize(" ,.; ").is_empty());
    }
}
