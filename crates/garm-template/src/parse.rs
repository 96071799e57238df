//! Builds the syntax tree of a template, reporting errors the way Go's parser words them.

use std::collections::HashMap;
use std::fmt;

use serde_json::Number;

use crate::error::TemplateError;
use crate::format::quote;
use crate::lex::{lex, Keyword, Kind, Token};

/// Functions Go's `text/template` predefines; any other identifier is a parse error.
pub(crate) const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
    "ge", "gt", "le", "lt", "ne",
];

#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) root: Vec<Node>,
    pub(crate) definitions: HashMap<String, Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipe,
    pub(crate) list: Vec<Node>,
    pub(crate) else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub(crate) line: usize,
    /// `$x = ...` rather than `$x := ...`.
    pub(crate) is_assign: bool,
    pub(crate) decl: Vec<String>,
    pub(crate) cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B`: fields of dot.
    Field(Vec<String>),
    /// `$x.A.B` (fields may be empty).
    Variable(String, Vec<String>),
    /// `(pipeline).A.B`.
    Chain(Box<Arg>, Vec<String>),
    Dot,
    Nil,
    Bool(bool),
    Number {
        text: String,
        value: Number,
    },
    String(String),
    /// A function name.
    Identifier(String),
    Pipe(Box<Pipe>),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>, names: &[String]| -> fmt::Result {
            names.iter().try_for_each(|n| write!(f, ".{n}"))
        };
        match self {
            Arg::Field(names) => fields(f, names),
            Arg::Variable(name, names) => {
                f.write_str(name)?;
                fields(f, names)
            }
            Arg::Chain(inner, names) => {
                write!(f, "{inner}")?;
                fields(f, names)
            }
            Arg::Dot => f.write_str("."),
            Arg::Nil => f.write_str("nil"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Number { text, .. } => f.write_str(text),
            Arg::String(s) => f.write_str(&quote(s, false)),
            Arg::Identifier(name) => f.write_str(name),
            Arg::Pipe(pipe) => write!(f, "({pipe})"),
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            for (j, arg) in cmd.args.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{arg}")?;
            }
        }
        Ok(())
    }
}

/// What ended an item list.
enum ListEnd {
    End,
    /// `{{else}}`; `chained` when an `if` or `with` keyword follows (`{{else if ...}}`).
    Else {
        chained: bool,
    },
}

enum Item {
    Node(Node),
    End(ListEnd),
}

#[derive(Clone, Copy, PartialEq)]
enum PipeEnd {
    Delim,
    Paren,
}

pub(crate) fn parse(src: &str) -> Result<Tree> {
    let mut parser = Parser {
        tokens: lex(src),
        pos: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        definitions: HashMap::new(),
    };
    let root = parser.parse_root()?;
    Ok(Tree {
        root,
        definitions: parser.definitions,
    })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
    definitions: HashMap<String, Vec<Node>>,
}

type Result<T> = std::result::Result<T, TemplateError>;

impl Parser {
    fn peek(&self) -> &Token {
        // Invariant: the lexer always ends the token list with Eof or Error and the parser
        // never consumes past it, so `pos` stays in bounds.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Result<Token> {
        let token = self.peek().clone();
        if token.kind == Kind::Error {
            return Err(TemplateError::parse(token.line, token.text));
        }
        if token.kind != Kind::Eof {
            self.pos += 1;
        }
        Ok(token)
    }

    fn backup(&mut self) {
        self.pos -= 1;
    }

    fn skip_spaces(&mut self) {
        while self.peek().kind == Kind::Space {
            self.pos += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_spaces();
        self.peek()
    }

    fn next_non_space(&mut self) -> Result<Token> {
        self.skip_spaces();
        self.next()
    }

    fn error(&self, line: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::parse(line, message)
    }

    fn unexpected(&self, token: &Token, context: &str) -> TemplateError {
        if token.kind == Kind::Error {
            return self.error(token.line, token.text.clone());
        }
        self.error(token.line, format!("unexpected {token} in {context}"))
    }

    fn parse_root(&mut self) -> Result<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.pos;
                self.next()?;
                if self.next_non_space()?.kind == Kind::Keyword(Keyword::Define) {
                    self.parse_definition()?;
                    continue;
                }
                self.pos = save;
            }
            let line = self.peek().line;
            match self.text_or_action()? {
                Item::Node(node) => root.push(node),
                Item::End(ListEnd::End) => return Err(self.error(line, "unexpected {{end}}")),
                Item::End(ListEnd::Else { .. }) => return Err(self.error(line, "unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> Result<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space()?;
        let name = self.template_name(&token, CONTEXT)?;
        let token = self.next_non_space()?;
        if token.kind != Kind::RightDelim {
            return Err(self.unexpected(&token, CONTEXT));
        }
        let line = token.line;
        let outer_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = outer_vars;
        if !matches!(end, ListEnd::End) {
            return Err(self.error(line, format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_definition(line, name, list)
    }

    fn add_definition(&mut self, line: usize, name: String, list: Vec<Node>) -> Result<()> {
        let is_empty = |list: &[Node]| list.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        match self.definitions.get(&name) {
            Some(existing) if !is_empty(existing) => {
                if !is_empty(&list) {
                    return Err(self.error(
                        line,
                        format!("template: multiple definition of template {}", quote(&name, false)),
                    ));
                }
            }
            _ => {
                self.definitions.insert(name, list);
            }
        }
        Ok(())
    }

    fn template_name(&self, token: &Token, context: &str) -> Result<String> {
        match token.kind {
            Kind::String | Kind::RawString => self.unquote(token),
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn text_or_action(&mut self) -> Result<Item> {
        let token = self.next_non_space()?;
        match token.kind {
            Kind::Text => Ok(Item::Node(Node::Text(token.text))),
            Kind::LeftDelim => self.action(),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                Item::End(end) => return Ok((list, end)),
            }
        }
        Err(self.error(self.peek().line, "unexpected EOF"))
    }

    fn action(&mut self) -> Result<Item> {
        let token = self.next_non_space()?;
        match token.kind {
            Kind::Keyword(Keyword::Block) => self.block_control(),
            Kind::Keyword(Keyword::Break) => self.loop_control(&token, Node::Break, "{{break}}"),
            Kind::Keyword(Keyword::Continue) => self.loop_control(&token, Node::Continue, "{{continue}}"),
            Kind::Keyword(Keyword::Else) => self.else_control(),
            Kind::Keyword(Keyword::End) => {
                let token = self.next_non_space()?;
                if token.kind != Kind::RightDelim {
                    return Err(self.unexpected(&token, "end"));
                }
                Ok(Item::End(ListEnd::End))
            }
            Kind::Keyword(Keyword::If) => Ok(Item::Node(Node::If(self.control("if")?))),
            Kind::Keyword(Keyword::Range) => Ok(Item::Node(Node::Range(self.control("range")?))),
            Kind::Keyword(Keyword::With) => Ok(Item::Node(Node::With(self.control("with")?))),
            Kind::Keyword(Keyword::Template) => self.template_control(),
            _ => {
                self.backup();
                let pipe = self.pipeline("command", PipeEnd::Delim)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn loop_control(&mut self, keyword: &Token, node: Node, name: &str) -> Result<Item> {
        let token = self.next_non_space()?;
        if token.kind != Kind::RightDelim {
            return Err(self.unexpected(&token, name));
        }
        if self.range_depth == 0 {
            return Err(self.error(keyword.line, format!("{name} outside {{{{range}}}}")));
        }
        Ok(Item::Node(node))
    }

    fn else_control(&mut self) -> Result<Item> {
        let peek = self.peek_non_space();
        if matches!(peek.kind, Kind::Keyword(Keyword::If) | Kind::Keyword(Keyword::With)) {
            return Ok(Item::End(ListEnd::Else { chained: true }));
        }
        let token = self.next_non_space()?;
        if token.kind != Kind::RightDelim {
            return Err(self.unexpected(&token, "else"));
        }
        Ok(Item::End(ListEnd::Else { chained: false }))
    }

    /// Parses the pipeline and lists of `if`, `with` or `range` up to the matching `{{end}}`.
    fn control(&mut self, context: &str) -> Result<Branch> {
        let vars_mark = self.vars.len();
        let pipe = self.pipeline(context, PipeEnd::Delim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Else { chained } => {
                let keyword = self.peek().kind.clone();
                if chained && context == "if" && keyword == Kind::Keyword(Keyword::If) {
                    self.next()?;
                    Some(vec![Node::If(self.control("if")?)])
                } else if chained && context == "with" && keyword == Kind::Keyword(Keyword::With) {
                    self.next()?;
                    Some(vec![Node::With(self.control("with")?)])
                } else {
                    let line = self.peek().line;
                    let (list, end) = self.item_list()?;
                    if !matches!(end, ListEnd::End) {
                        return Err(self.error(line, "expected end; found {{else}}"));
                    }
                    Some(list)
                }
            }
        };
        self.vars.truncate(vars_mark);
        Ok(Branch { pipe, list, else_list })
    }

    fn template_control(&mut self) -> Result<Item> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space()?;
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space()?.kind == Kind::RightDelim {
            None
        } else {
            self.backup();
            Some(self.pipeline(CONTEXT, PipeEnd::Delim)?)
        };
        Ok(Item::Node(Node::Template {
            line: token.line,
            name,
            pipe,
        }))
    }

    /// `{{block "name" pipeline}} body {{end}}` defines `name` and executes it in place.
    fn block_control(&mut self) -> Result<Item> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space()?;
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, PipeEnd::Delim)?;
        let outer_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let outer_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = outer_vars;
        self.range_depth = outer_depth;
        if !matches!(end, ListEnd::End) {
            return Err(self.error(self.peek().line, format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_definition(token.line, name.clone(), list)?;
        Ok(Item::Node(Node::Template {
            line: token.line,
            name,
            pipe: Some(pipe),
        }))
    }

    fn pipeline(&mut self, context: &str, end: PipeEnd) -> Result<Pipe> {
        let line = self.peek_non_space().line;
        let mut pipe = Pipe {
            line,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let token = self.next_non_space()?;
            match token.kind {
                Kind::RightDelim if end == PipeEnd::Delim => break,
                Kind::RightParen if end == PipeEnd::Paren => break,
                Kind::Bool
                | Kind::CharConstant
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
        if pipe.cmds.is_empty() {
            return Err(self.error(line, format!("missing value for {context}")));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args[0],
                Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Number { .. } | Arg::String(_)
            ) {
                return Err(self.error(line, format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(pipe)
    }

    /// Parses `$x :=`, `$x =` and, for `range`, `$i, $v :=` at the start of a pipeline.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<()> {
        loop {
            let variable = self.peek_non_space().clone();
            if variable.kind != Kind::Variable {
                return Ok(());
            }
            let save = self.pos;
            self.next()?;
            let next = self.peek_non_space().clone();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    self.next()?;
                    pipe.is_assign = next.kind == Kind::Assign;
                    pipe.decl.push(variable.text.clone());
                    self.vars.push(variable.text);
                    return Ok(());
                }
                Kind::Char if next.text == "," => {
                    self.next()?;
                    pipe.decl.push(variable.text.clone());
                    self.vars.push(variable.text);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return Err(self.error(next.line, "range can only initialize variables")),
                        }
                    }
                    return Err(self.error(next.line, format!("too many declarations in {context}")));
                }
                _ => {
                    self.pos = save;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command> {
        let line = self.peek_non_space().line;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.next()?;
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => {
                    self.backup();
                    break;
                }
                Kind::Pipe => break,
                _ => return Err(self.unexpected(&token, "operand")),
            }
        }
        if args.is_empty() {
            return Err(self.error(line, "empty command"));
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(term));
        }
        let line = self.peek().line;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let token = self.next()?;
            fields.push(token.text[1..].to_string());
        }
        Ok(Some(match term {
            Arg::Field(mut names) => {
                names.extend(fields);
                Arg::Field(names)
            }
            Arg::Variable(name, mut names) => {
                names.extend(fields);
                Arg::Variable(name, names)
            }
            Arg::Bool(_) | Arg::String(_) | Arg::Number { .. } | Arg::Nil | Arg::Dot => {
                return Err(self.error(
                    line,
                    format!("unexpected . after term {}", quote(&term.to_string(), false)),
                ))
            }
            other => Arg::Chain(Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        let token = self.next_non_space()?;
        let arg = match token.kind {
            Kind::Identifier => {
                if !BUILTINS.contains(&token.text.as_str()) {
                    return Err(self.error(
                        token.line,
                        format!("function {} not defined", quote(&token.text, false)),
                    ));
                }
                Arg::Identifier(token.text)
            }
            Kind::Dot => Arg::Dot,
            Kind::Nil => Arg::Nil,
            Kind::Variable => {
                if !self.vars.contains(&token.text) {
                    return Err(self.error(token.line, format!("undefined variable {}", quote(&token.text, false))));
                }
                Arg::Variable(token.text, Vec::new())
            }
            Kind::Field => Arg::Field(vec![token.text[1..].to_string()]),
            Kind::Bool => Arg::Bool(token.text == "true"),
            Kind::Number | Kind::CharConstant => {
                let value = self.number(&token)?;
                Arg::Number {
                    text: token.text,
                    value,
                }
            }
            Kind::LeftParen => Arg::Pipe(Box::new(self.pipeline("parenthesized pipeline", PipeEnd::Paren)?)),
            Kind::String | Kind::RawString => Arg::String(self.unquote(&token)?),
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }

    fn unquote(&self, token: &Token) -> Result<String> {
        unquote(&token.text).ok_or_else(|| self.error(token.line, "invalid syntax"))
    }

    fn number(&self, token: &Token) -> Result<Number> {
        let text = token.text.as_str();
        if token.kind == Kind::CharConstant {
            let c = unquote_char(text).ok_or_else(|| self.error(token.line, "invalid syntax"))?;
            return Ok(Number::from(c as u32));
        }
        number_literal(text).map_err(|message| self.error(token.line, message))
    }
}

/// Interprets a number literal as Go's `idealConstant` would: floats when the text has a
/// decimal point or exponent, integers otherwise.
fn number_literal(text: &str) -> std::result::Result<Number, String> {
    let illegal = || format!("illegal number syntax: {}", quote(text, false));
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {}", quote(text, false)));
    }
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    let looks_float = if is_hex {
        lower.contains('p') || lower.contains('.')
    } else {
        lower.contains(['.', 'e'])
    };
    if looks_float {
        if is_hex {
            return Err(format!("hexadecimal floats are not supported: {}", quote(text, false)));
        }
        let cleaned: String = body.chars().filter(|c| *c != '_').collect();
        let value: f64 = cleaned.parse().map_err(|_| illegal())?;
        let value = if negative { -value } else { value };
        return Number::from_f64(value).ok_or_else(illegal);
    }
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_string())
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_string())
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.starts_with('_') && radix == 10 || digits.ends_with('_') || digits.contains("__") {
        return Err(illegal());
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return Err(illegal());
    }
    let magnitude = u128::from_str_radix(&digits, radix).map_err(|_| illegal())?;
    if negative {
        let value = i128::try_from(magnitude)
            .ok()
            .and_then(|m| i64::try_from(-m).ok())
            .ok_or_else(|| format!("integer overflow: {}", quote(text, false)))?;
        Ok(Number::from(value))
    } else if let Ok(value) = u64::try_from(magnitude) {
        Ok(Number::from(value))
    } else {
        Err(format!("integer overflow: {}", quote(text, false)))
    }
}

/// Go's `strconv.Unquote` for double-quoted and back-quoted strings.
pub(crate) fn unquote(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Some(raw.replace('\r', ""));
    }
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c == '"' || c == '\n' {
                return None;
            }
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        unescape(&mut chars, '"', &mut bytes)?;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Decodes a character constant such as `'a'` or `'\n'`.
fn unquote_char(text: &str) -> Option<char> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars().peekable();
    let first = chars.next()?;
    let c = if first == '\\' {
        let mut bytes = Vec::new();
        let c = unescape(&mut chars, '\'', &mut bytes)?;
        match c {
            Some(c) => c,
            // A \x or octal escape is a byte value.
            None => char::from(*bytes.first()?),
        }
    } else {
        if first == '\'' {
            return None;
        }
        first
    };
    if chars.next().is_some() {
        return None;
    }
    Some(c)
}

/// Decodes one escape sequence (after the backslash) into `out`. Returns the character
/// for rune escapes, `None` inside `Some` for byte escapes, and `None` on bad syntax.
fn unescape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    quote_char: char,
    out: &mut Vec<u8>,
) -> Option<Option<char>> {
    let push_char = |c: char, out: &mut Vec<u8>| {
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Some(Some(c))
    };
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            value = value * 16 + chars.next()?.to_digit(16)?;
        }
        Some(value)
    };
    match chars.next()? {
        'a' => push_char('\u{7}', out),
        'b' => push_char('\u{8}', out),
        'f' => push_char('\u{c}', out),
        'n' => push_char('\n', out),
        'r' => push_char('\r', out),
        't' => push_char('\t', out),
        'v' => push_char('\u{b}', out),
        '\\' => push_char('\\', out),
        c @ ('\'' | '"') => {
            if c != quote_char {
                return None;
            }
            push_char(c, out)
        }
        'x' => {
            let byte = hex(chars, 2)?;
            out.push(byte as u8);
            Some(None)
        }
        'u' => push_char(char::from_u32(hex(chars, 4)?)?, out),
        'U' => push_char(char::from_u32(hex(chars, 8)?)?, out),
        d @ '0'..='7' => {
            let mut value = d.to_digit(8)?;
            for _ in 0..2 {
                value = value * 8 + chars.next()?.to_digit(8)?;
            }
            if value > 255 {
                return None;
            }
            out.push(value as u8);
            Some(None)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> String {
        number_literal(text).unwrap().to_string()
    }

    #[test]
    fn number_literals_follow_go_syntax() {
        assert_eq!(number("42"), "42");
        assert_eq!(number("-7"), "-7");
        assert_eq!(number("0x1F"), "31");
        assert_eq!(number("0o17"), "15");
        assert_eq!(number("017"), "15");
        assert_eq!(number("0b101"), "5");
        assert_eq!(number("1_000"), "1000");
        assert_eq!(number("1.5"), "1.5");
        assert_eq!(number("1e3"), "1000.0");
        assert!(number_literal("1__0").is_err());
        assert!(number_literal("99999999999999999999999").is_err());
    }

    #[test]
    fn strings_unquote_like_go() {
        assert_eq!(unquote(r#""a\tb\"c\x41\u00e9\101""#).unwrap(), "a\tb\"cAéA");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert!(unquote(r#""bad\'""#).is_none());
        assert!(unquote(r#""bad\q""#).is_none());
        assert_eq!(unquote_char("'a'"), Some('a'));
        assert_eq!(unquote_char(r"'\n'"), Some('\n'));
        assert_eq!(unquote_char(r"'\''"), Some('\''));
        assert_eq!(unquote_char("'ab'"), None);
    }
}
