//! Splits a dialect-2 query string into tokens, each with its byte offset, so that syntax
//! errors can name the offset and the nearby text the way RediSearch does.
//!
//! Punctuation that has no meaning in the grammar separates words like whitespace; a
//! backslash makes the next character part of a word. Comparison operators are only
//! tokens right after `@field`, because elsewhere `<`, `>`, `=` and `!` are separators.

use super::parser::ParseError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A word, backslash escapes removed, case kept.
    Term(String),
    /// A numeric literal as written (`-12`, `3.5`, `1e3`).
    Number(String),
    /// `word*`.
    Prefix(String),
    /// `*word`.
    Suffix(String),
    /// `*word*`.
    Infix(String),
    /// `w'pattern'`.
    Wildcard(String),
    /// `"..."`: its words, and the unescaped text between the quotes.
    Phrase {
        words: Vec<String>,
        raw: String,
    },
    /// `@name`.
    Modifier(String),
    /// `$name`.
    Param(String),
    /// `$name*`.
    ParamPrefix(String),
    /// `==`, `!=`, `>`, `>=`, `<`, `<=` after `@field`.
    Compare(&'static str),
    Star,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Pipe,
    Minus,
    Tilde,
    Colon,
    Semicolon,
    Percent,
    Arrow,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Byte offset in the query string.
    pub offset: usize,
}

impl Token {
    /// The text RediSearch quotes after "near" when this token (or a later one without
    /// text of its own) is where the syntax breaks.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Term(s)
            | Kind::Number(s)
            | Kind::Prefix(s)
            | Kind::Suffix(s)
            | Kind::Infix(s)
            | Kind::Wildcard(s)
            | Kind::Modifier(s)
            | Kind::Param(s)
            | Kind::ParamPrefix(s) => Some(s),
            Kind::Phrase { words, .. } => words.last().map(String::as_str),
            _ => None,
        }
    }
}

/// Every ASCII character but letters, digits and `_` ends a word unless escaped;
/// other characters (accented letters, CJK, ...) are word characters.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        !c.is_whitespace()
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

/// Tokenizes `text`.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lexer = Lexer { text, pos: 0, tokens: Vec::new() };
    lexer.run()?;
    Ok(lexer.tokens)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, skip: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(skip)
    }

    fn push(&mut self, kind: Kind, offset: usize) {
        self.tokens.push(Token { kind, offset });
    }

    fn starts_word(&self) -> bool {
        match self.peek() {
            Some('\\') => self.peek_at(1).is_some(),
            Some(c) => is_word_char(c),
            None => false,
        }
    }

    /// Reads a word (escapes resolved) starting at `pos`.
    fn word(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.peek_at(1) {
                    Some(escaped) => {
                        out.push(escaped);
                        self.pos += 1 + escaped.len_utf8();
                    }
                    // A trailing backslash escapes nothing and is dropped.
                    None => self.pos += 1,
                }
            } else if is_word_char(c) {
                out.push(c);
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        out
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    /// A numeric literal at `pos` if one is there and is not the start of a longer word.
    fn number_len(&self) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == digits_start {
            return None;
        }
        if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if bytes.get(j).is_some_and(u8::is_ascii_digit) {
                while bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                i = j;
            }
        }
        let next = self.text[i..].chars().next();
        if next.is_some_and(|c| is_word_char(c) || c == '\\') {
            return None;
        }
        Some(i - self.pos)
    }

    fn after_modifier(&self) -> bool {
        matches!(self.tokens.last(), Some(Token { kind: Kind::Modifier(_), .. }))
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            if self.after_modifier() {
                if let Some(op) = self.comparison() {
                    self.push(Kind::Compare(op), start);
                    continue;
                }
            }
            match c {
                '(' => self.single(Kind::LParen),
                ')' => self.single(Kind::RParen),
                '{' => self.single(Kind::LBrace),
                '}' => self.single(Kind::RBrace),
                '[' => self.single(Kind::LBracket),
                ']' => self.single(Kind::RBracket),
                '|' => self.single(Kind::Pipe),
                '~' => self.single(Kind::Tilde),
                ':' => self.single(Kind::Colon),
                ';' => self.single(Kind::Semicolon),
                '%' => self.single(Kind::Percent),
                '"' => self.phrase()?,
                '=' if self.peek_at(1) == Some('>') => {
                    self.pos += 2;
                    self.push(Kind::Arrow, start);
                }
                '-' => {
                    if let Some(len) = self.number_len() {
                        self.pos += len;
                        self.push(Kind::Number(self.text[start..self.pos].to_string()), start);
                    } else {
                        self.single(Kind::Minus);
                    }
                }
                '*' => {
                    self.pos += 1;
                    if self.starts_word() {
                        let word = self.word();
                        if self.peek() == Some('*') {
                            self.pos += 1;
                            self.push(Kind::Infix(word), start);
                        } else {
                            self.push(Kind::Suffix(word), start);
                        }
                    } else {
                        self.push(Kind::Star, start);
                    }
                }
                '@' if self.peek_at(1).is_some_and(is_name_char) => {
                    self.pos += 1;
                    let name = self.name();
                    self.push(Kind::Modifier(name), start);
                }
                '$' if self.peek_at(1).is_some_and(is_name_char) => {
                    self.pos += 1;
                    let name = self.name();
                    if self.peek() == Some('*') {
                        self.pos += 1;
                        self.push(Kind::ParamPrefix(name), start);
                    } else {
                        self.push(Kind::Param(name), start);
                    }
                }
                'w' if self.peek_at(1) == Some('\'') && self.wildcard() => {}
                _ if c.is_ascii_digit() && self.number_len().is_some() => {
                    let len = self.number_len().unwrap_or(0);
                    self.pos += len;
                    self.push(Kind::Number(self.text[start..self.pos].to_string()), start);
                }
                _ if self.starts_word() => {
                    let word = self.word();
                    if self.peek() == Some('*') {
                        self.pos += 1;
                        self.push(Kind::Prefix(word), start);
                    } else if !word.is_empty() {
                        self.push(Kind::Term(word), start);
                    }
                }
                // Punctuation with no role here separates words.
                _ => self.pos += c.len_utf8(),
            }
        }
        Ok(())
    }

    fn single(&mut self, kind: Kind) {
        let start = self.pos;
        self.pos += 1;
        self.push(kind, start);
    }

    fn comparison(&mut self) -> Option<&'static str> {
        let rest = &self.text[self.pos..];
        let op = ["==", "!=", ">=", "<=", ">", "<"].into_iter().find(|op| rest.starts_with(op))?;
        self.pos += op.len();
        Some(op)
    }

    /// `w'pattern'`; false (nothing consumed) when the quote is never closed.
    fn wildcard(&mut self) -> bool {
        let body_start = self.pos + 2;
        let Some(len) = self.text[body_start..].find('\'') else {
            return false;
        };
        let start = self.pos;
        let pattern = self.text[body_start..body_start + len].to_string();
        self.pos = body_start + len + 1;
        self.push(Kind::Wildcard(pattern), start);
        true
    }

    fn phrase(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut words = Vec::new();
        let mut raw = String::new();
        let mut last_word: Option<(usize, String)> = None;
        loop {
            match self.peek() {
                None => {
                    // Unterminated: RediSearch reports the end of input at the last word.
                    return Err(match last_word {
                        Some((offset, word)) => ParseError::syntax(offset, &word),
                        None => {
                            let near = self.tokens.iter().rev().find_map(Token::text);
                            ParseError::syntax(start, near.unwrap_or(""))
                        }
                    });
                }
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) if self.starts_word() => {
                    let word_start = self.pos;
                    let word = self.word();
                    raw.push_str(&word);
                    if word.is_empty() {
                        raw.push(c);
                        self.pos += c.len_utf8();
                    } else {
                        last_word = Some((word_start, word.clone()));
                        words.push(word);
                    }
                }
                Some(c) => {
                    raw.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        self.push(Kind::Phrase { words, raw }, start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        tokenize(text).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn words_numbers_and_affixes_are_told_apart() {
        assert_eq!(
            kinds("foo 12 -3.5 pre* *suf *in* 1e3 foo123"),
            vec![
                Kind::Term("foo".into()),
                Kind::Number("12".into()),
                Kind::Number("-3.5".into()),
                Kind::Prefix("pre".into()),
                Kind::Suffix("suf".into()),
                Kind::Infix("in".into()),
                Kind::Number("1e3".into()),
                Kind::Term("foo123".into()),
            ]
        );
    }

    #[test]
    fn comparisons_are_tokens_only_after_a_field() {
        assert_eq!(
            kinds("@p>=5 a>b"),
            vec![
                Kind::Modifier("p".into()),
                Kind::Compare(">="),
                Kind::Number("5".into()),
                Kind::Term("a".into()),
                Kind::Term("b".into()),
            ]
        );
    }

    #[test]
    fn offsets_are_byte_positions() {
        let tokens = tokenize("ab  (cd").unwrap();
        assert_eq!(tokens.iter().map(|t| t.offset).collect::<Vec<_>>(), [0, 4, 5]);
    }
}
