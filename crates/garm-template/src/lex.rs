//! Splits template source into tokens the way Go's `text/template/parse` lexer does.

use std::fmt;

/// The keywords of the action language; `true`, `false` and `nil` are lexed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "block" => Self::Block,
            "break" => Self::Break,
            "continue" => Self::Continue,
            "define" => Self::Define,
            "else" => Self::Else,
            "end" => Self::End,
            "if" => Self::If,
            "range" => Self::Range,
            "template" => Self::Template,
            "with" => Self::With,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Assign,
    Declare,
    Pipe,
    LeftParen,
    RightParen,
    /// A printable ASCII character with no other meaning, such as the `,` of range declarations.
    Char,
    /// A double-quoted string, still quoted.
    String,
    /// A back-quoted string, still quoted.
    RawString,
    /// A character constant such as `'a'`, still quoted.
    CharConstant,
    Number,
    Bool,
    Nil,
    Dot,
    /// `.Name`; the token text keeps the leading dot.
    Field,
    /// `$` or `$name`.
    Variable,
    Identifier,
    Keyword(Keyword),
    Eof,
    /// A lexical error; the text is the message. Lexing stops here.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) line: usize,
}

impl fmt::Display for Token {
    /// Mirrors Go's `item.String`, which parse errors embed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Eof => f.write_str("EOF"),
            Kind::Error => f.write_str(&self.text),
            Kind::Keyword(_) | Kind::Nil | Kind::Dot => write!(f, "<{}>", self.text),
            _ if self.text.chars().count() > 10 => {
                let head: String = self.text.chars().take(10).collect();
                write!(f, "{}...", crate::format::quote(&head, false))
            }
            _ => f.write_str(&crate::format::quote(&self.text, false)),
        }
    }
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// `{{- ` trims the text before the action: a dash followed by a space character.
fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// ` -}}` trims the text after the action: a space character followed by a dash.
fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Length of the run of space characters at the end of `s`.
fn right_trim_len(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

/// Length of the run of space characters at the start of `s`.
fn left_trim_len(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

/// Tokenises `src`. The last token is always `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        tokens: Vec::new(),
    };
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: i32,
    tokens: Vec<Token>,
}

/// What the lexer does after a step: keep going or stop (after an error or EOF).
type Step = Result<(), ()>;

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    /// Moves `pos` forward by `n` bytes, counting newlines.
    fn advance(&mut self, n: usize) {
        self.line += self.src[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    /// Drops the pending input between `start` and `pos`.
    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn emit(&mut self, kind: Kind) {
        let text = self.src[self.start..self.pos].to_string();
        self.emit_text(kind, text);
    }

    fn emit_text(&mut self, kind: Kind, text: String) {
        self.tokens.push(Token {
            kind,
            text,
            line: self.start_line,
        });
        self.ignore();
    }

    fn error(&mut self, message: impl Into<String>) -> Step {
        self.tokens.push(Token {
            kind: Kind::Error,
            text: message.into(),
            line: self.start_line,
        });
        Err(())
    }

    fn run(&mut self) {
        while self.lex_text().is_ok() {}
    }

    /// Scans text up to the next action (or EOF) and then the action itself.
    fn lex_text(&mut self) -> Step {
        let Some(offset) = self.rest().find(LEFT_DELIM) else {
            if self.pos < self.src.len() {
                self.advance(self.src.len() - self.pos);
                let text = self.src[self.start..self.pos].to_string();
                self.emit_text(Kind::Text, text);
            }
            self.emit(Kind::Eof);
            return Err(());
        };
        let delim_at = self.pos + offset;
        let trim = has_left_trim_marker(&self.src[delim_at + LEFT_DELIM.len()..]);
        let text_end = if trim {
            delim_at - right_trim_len(&self.src[self.pos..delim_at])
        } else {
            delim_at
        };
        let text = self.src[self.pos..text_end].to_string();
        self.advance(text_end - self.pos);
        if !text.is_empty() {
            self.emit_text(Kind::Text, text);
        }
        self.advance(delim_at - self.pos);
        self.ignore();
        self.lex_left_delim(trim)
    }

    fn lex_left_delim(&mut self, trim: bool) -> Step {
        self.advance(LEFT_DELIM.len());
        let after_marker = if trim { 2 } else { 0 };
        if self.src[self.pos + after_marker..].starts_with(LEFT_COMMENT) {
            self.advance(after_marker);
            self.ignore();
            return self.lex_comment();
        }
        self.emit(Kind::LeftDelim);
        self.advance(after_marker);
        self.ignore();
        self.paren_depth = 0;
        self.lex_inside_action()
    }

    /// Returns (at right delimiter, with trim marker).
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[2..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    fn lex_comment(&mut self) -> Step {
        self.advance(LEFT_COMMENT.len());
        let Some(end) = self.rest().find(RIGHT_COMMENT) else {
            return self.error("unclosed comment");
        };
        self.advance(end + RIGHT_COMMENT.len());
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter");
        }
        if trim {
            self.advance(2);
        }
        self.advance(RIGHT_DELIM.len());
        if trim {
            self.advance(left_trim_len(self.rest()));
        }
        self.ignore();
        Ok(())
    }

    fn lex_right_delim(&mut self, trim: bool) -> Step {
        if trim {
            self.advance(2);
            self.ignore();
        }
        self.advance(RIGHT_DELIM.len());
        self.emit_text(Kind::RightDelim, RIGHT_DELIM.to_string());
        if trim {
            self.advance(left_trim_len(self.rest()));
            self.ignore();
        }
        Ok(())
    }

    fn lex_inside_action(&mut self) -> Step {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    return self.lex_right_delim(trim);
                }
                return self.error("unclosed left paren");
            }
            let Some(c) = self.next_char() else {
                return self.error("unclosed action");
            };
            match c {
                c if is_space(c) => {
                    self.backup(c);
                    self.lex_space();
                }
                '=' => self.emit(Kind::Assign),
                ':' => {
                    if self.next_char() != Some('=') {
                        return self.error("expected :=");
                    }
                    self.emit(Kind::Declare);
                }
                '|' => self.emit(Kind::Pipe),
                '"' => self.lex_quote()?,
                '`' => self.lex_raw_quote()?,
                '$' => self.lex_field_or_variable(Kind::Variable)?,
                '\'' => self.lex_char()?,
                '.' if self.peek().is_some_and(|n| !n.is_ascii_digit()) => self.lex_field_or_variable(Kind::Field)?,
                '.' | '+' | '-' | '0'..='9' => {
                    self.backup(c);
                    self.lex_number()?;
                }
                c if is_alphanumeric(c) => {
                    self.backup(c);
                    self.lex_identifier()?;
                }
                '(' => {
                    self.emit(Kind::LeftParen);
                    self.paren_depth += 1;
                }
                ')' => {
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return self.error("unexpected right paren");
                    }
                    self.emit(Kind::RightParen);
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Kind::Char),
                c => return self.error(format!("unrecognized character in action: {}", describe_char(c))),
            }
        }
    }

    /// Scans a run of spaces, leaving a trim-marked right delimiter (` -}}`) alone.
    fn lex_space(&mut self) {
        let mut n_spaces = 0;
        while self.peek().is_some_and(is_space) {
            self.next_char();
            n_spaces += 1;
        }
        let last_space = self.pos - 1;
        if has_right_trim_marker(&self.src[last_space..]) && self.src[last_space + 2..].starts_with(RIGHT_DELIM) {
            let c = self.src[last_space..].chars().next().unwrap_or(' ');
            self.backup(c);
            if n_spaces == 1 {
                return;
            }
        }
        self.emit(Kind::Space);
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT_DELIM),
        }
    }

    fn lex_field_or_variable(&mut self, kind: Kind) -> Step {
        if self.at_terminator() {
            let kind = if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            };
            self.emit(kind);
            return Ok(());
        }
        while self.peek().is_some_and(is_alphanumeric) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.error(format!("bad character {}", describe_char(c)));
        }
        self.emit(kind);
        Ok(())
    }

    fn lex_identifier(&mut self) -> Step {
        while self.peek().is_some_and(is_alphanumeric) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.error(format!("bad character {}", describe_char(c)));
        }
        let word = &self.src[self.start..self.pos];
        let kind = if let Some(keyword) = Keyword::from_word(word) {
            Kind::Keyword(keyword)
        } else {
            match word {
                "nil" => Kind::Nil,
                "true" | "false" => Kind::Bool,
                _ => Kind::Identifier,
            }
        };
        self.emit(kind);
        Ok(())
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next_char();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn lex_number(&mut self) -> Step {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next_char();
            let text = self.src[self.start..self.pos].to_string();
            return self.error(format!("bad number syntax: {}", crate::format::quote(&text, false)));
        }
        self.emit(Kind::Number);
        Ok(())
    }

    fn lex_quote(&mut self) -> Step {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    Some('\n') | None => return self.error("unterminated quoted string"),
                    Some(_) => {}
                },
                Some('\n') | None => return self.error("unterminated quoted string"),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        Ok(())
    }

    fn lex_raw_quote(&mut self) -> Step {
        loop {
            match self.next_char() {
                None => return self.error("unterminated raw quoted string"),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::RawString);
        Ok(())
    }

    fn lex_char(&mut self) -> Step {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    Some('\n') | None => return self.error("unterminated character constant"),
                    Some(_) => {}
                },
                Some('\n') | None => return self.error("unterminated character constant"),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::CharConstant);
        Ok(())
    }
}

/// Formats a character like Go's `%#U`: `U+0023 '#'`.
fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn text_and_action_tokens_are_separated() {
        assert_eq!(
            kinds("a {{.B}} c"),
            vec![
                (Kind::Text, "a ".into()),
                (Kind::LeftDelim, "{{".into()),
                (Kind::Field, ".B".into()),
                (Kind::RightDelim, "}}".into()),
                (Kind::Text, " c".into()),
                (Kind::Eof, "".into()),
            ]
        );
    }

    #[test]
    fn trim_markers_remove_adjacent_whitespace() {
        let tokens = kinds("a \n\t{{- 1 -}} \n b");
        assert_eq!(tokens[0], (Kind::Text, "a".into()));
        assert_eq!(tokens[2], (Kind::Number, "1".into()));
        assert_eq!(tokens[4], (Kind::Text, "b".into()));
    }

    #[test]
    fn dash_without_space_is_a_negative_number() {
        let tokens = kinds("{{-3}}");
        assert_eq!(tokens[1], (Kind::Number, "-3".into()));
    }

    #[test]
    fn comments_produce_no_tokens() {
        assert_eq!(
            kinds("a{{/* x\ny */}}b"),
            vec![
                (Kind::Text, "a".into()),
                (Kind::Text, "b".into()),
                (Kind::Eof, "".into())
            ]
        );
    }

    #[test]
    fn lines_count_newlines_in_text_and_actions() {
        let tokens = lex("a\n{{.X\n}}\nb");
        let field = tokens.iter().find(|t| t.kind == Kind::Field).unwrap();
        assert_eq!(field.line, 2);
        let last_text = tokens.iter().rfind(|t| t.kind == Kind::Text).unwrap();
        assert_eq!(last_text.line, 3);
    }

    #[test]
    fn unclosed_action_is_an_error() {
        let tokens = lex("{{ .X ");
        let last = tokens.last().unwrap();
        assert_eq!(last.kind, Kind::Error);
        assert_eq!(last.text, "unclosed action");
    }
}
