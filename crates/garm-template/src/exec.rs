//! Walks a parsed template against JSON data, following Go's execution rules.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::TemplateError;
use crate::format::{go_type, integer, quote, to_go_string};
use crate::funcs;
use crate::parse::{Arg, Branch, Command, Node, Pipe, Tree};
use crate::value::{project, Key, MissingKey, Val};

/// How deep `{{template}}` calls may nest before we assume runaway recursion.
const MAX_TEMPLATE_DEPTH: usize = 1000;

type Result<T> = std::result::Result<T, TemplateError>;

pub(crate) fn execute(tree: &Tree, data: &Value, missing: MissingKey) -> Result<String> {
    let dot = Val::borrowed(data);
    let mut state = State {
        tree,
        missing,
        vars: vec![("$", dot.clone())],
        out: String::new(),
        depth: 0,
    };
    state.walk(&dot, &tree.root)?;
    Ok(state.out)
}

/// How a list finished: normally, or by `{{break}}`/`{{continue}}` inside a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'t, 'd> {
    tree: &'t Tree,
    missing: MissingKey,
    /// Variables in scope, innermost last.
    vars: Vec<(&'t str, Val<'d>)>,
    out: String,
    depth: usize,
}

impl<'t, 'd> State<'t, 'd> {
    fn walk(&mut self, dot: &Val<'d>, list: &'t [Node]) -> Result<Flow> {
        for node in list {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(&value);
                    }
                    Flow::Normal
                }
                Node::If(branch) => self.walk_if_or_with(dot, branch, false)?,
                Node::With(branch) => self.walk_if_or_with(dot, branch, true)?,
                Node::Range(branch) => self.walk_range(dot, branch)?,
                Node::Template { line, name, pipe } => {
                    self.walk_template(dot, *line, name, pipe.as_ref())?;
                    Flow::Normal
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, value: &Val<'d>) {
        match value.json() {
            None | Some(Value::Null) => {
                if self.missing != MissingKey::Empty {
                    self.out.push_str("<no value>");
                }
            }
            Some(Value::String(s)) => self.out.push_str(s),
            Some(other) => self.out.push_str(&to_go_string(other)),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Val<'d>, branch: &'t Branch, with: bool) -> Result<Flow> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let flow = if value.truth() {
            if with {
                self.walk(&value, &branch.list)?
            } else {
                self.walk(dot, &branch.list)?
            }
        } else if let Some(else_list) = &branch.else_list {
            self.walk(dot, else_list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Val<'d>, branch: &'t Branch) -> Result<Flow> {
        let pipe = &branch.pipe;
        let mark = self.vars.len();
        let value = self.eval_commands(dot, pipe)?;
        if !pipe.is_assign {
            for name in &pipe.decl {
                self.vars.push((name, value.clone()));
            }
        }
        let items = self.range_items(value, pipe)?;
        let iterations = items.len();
        let body_mark = self.vars.len();
        for (key, elem) in items {
            match (pipe.decl.as_slice(), pipe.is_assign) {
                ([], _) => {}
                ([only], true) => self.set_var(only, elem.clone(), pipe.line)?,
                ([first, second, ..], true) => {
                    self.set_var(first, key, pipe.line)?;
                    self.set_var(second, elem.clone(), pipe.line)?;
                }
                ([_], false) => self.set_top_var(1, elem.clone()),
                ([_, _, ..], false) => {
                    self.set_top_var(1, elem.clone());
                    self.set_top_var(2, key);
                }
            }
            let flow = self.walk(&elem, &branch.list)?;
            self.vars.truncate(body_mark);
            if flow == Flow::Break {
                break;
            }
        }
        if iterations == 0 {
            if let Some(else_list) = &branch.else_list {
                let flow = self.walk(dot, else_list)?;
                self.vars.truncate(mark);
                return Ok(flow);
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// The (key, element) pairs a range visits: indexes of arrays, sorted keys of objects,
    /// `0..n` for an integer `n`.
    fn range_items(&self, value: Val<'d>, pipe: &Pipe) -> Result<Vec<(Val<'d>, Val<'d>)>> {
        let Val::Json(value) = value else {
            return Ok(Vec::new());
        };
        match value {
            Cow::Borrowed(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, elem)| (Val::int(i), Val::borrowed(elem)))
                .collect()),
            Cow::Owned(Value::Array(items)) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, elem)| (Val::int(i), Val::owned(elem)))
                .collect()),
            Cow::Borrowed(Value::Object(map)) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Ok(entries
                    .into_iter()
                    .map(|(key, elem)| (Val::owned(Value::String(key.clone())), Val::borrowed(elem)))
                    .collect())
            }
            Cow::Owned(Value::Object(map)) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(entries
                    .into_iter()
                    .map(|(key, elem)| (Val::owned(Value::String(key)), Val::owned(elem)))
                    .collect())
            }
            other => self.range_scalar(other.as_ref(), pipe),
        }
    }

    /// Ranging over `null` visits nothing and over an integer `n` visits `0..n` (Go 1.22).
    fn range_scalar(&self, value: &Value, pipe: &Pipe) -> Result<Vec<(Val<'d>, Val<'d>)>> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Number(n) if integer(n).is_some() => {
                if pipe.decl.len() > 1 {
                    return Err(TemplateError::exec(
                        pipe.line,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                let n = integer(n).unwrap_or(0).max(0) as usize;
                Ok((0..n).map(|i| (Val::int(i), Val::int(i))).collect())
            }
            other => Err(TemplateError::exec(
                pipe.line,
                format!("range can't iterate over {}", to_go_string(other)),
            )),
        }
    }

    fn walk_template(&mut self, dot: &Val<'d>, line: usize, name: &str, pipe: Option<&'t Pipe>) -> Result<()> {
        let tree = self.tree;
        let Some(body) = tree.definitions.get(name) else {
            return Err(TemplateError::exec(
                line,
                format!("no such template {}", quote(name, false)),
            ));
        };
        let new_dot = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Val::Missing,
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(TemplateError::exec(
                line,
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            ));
        }
        self.depth += 1;
        let outer_vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let result = self.walk(&new_dot, body);
        self.vars = outer_vars;
        self.depth -= 1;
        result.map(|_| ())
    }

    fn set_var(&mut self, name: &str, value: Val<'d>, line: usize) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some((_, slot)) => {
                *slot = value;
                Ok(())
            }
            None => Err(TemplateError::exec(line, format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Val<'d>) {
        let i = self.vars.len() - n;
        self.vars[i].1 = value;
    }

    fn var(&self, name: &str, line: usize) -> Result<Val<'d>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| TemplateError::exec(line, format!("undefined variable: {name}")))
    }

    fn eval_pipeline(&mut self, dot: &Val<'d>, pipe: &'t Pipe) -> Result<Val<'d>> {
        let value = self.eval_commands(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe.line)?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    /// Runs the commands of a pipeline, each one's result becoming the next one's last argument.
    fn eval_commands(&mut self, dot: &Val<'d>, pipe: &'t Pipe) -> Result<Val<'d>> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value, pipe.line)?);
        }
        Ok(value.unwrap_or(Val::Missing))
    }

    fn eval_command(&mut self, dot: &Val<'d>, cmd: &'t Command, last: Option<Val<'d>>, line: usize) -> Result<Val<'d>> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        let has_args = !rest.is_empty() || last.is_some();
        let not_a_function = || TemplateError::exec(line, format!("can't give argument to non-function {first}"));
        let not_a_method = |names: &[String]| {
            TemplateError::exec(
                line,
                format!(
                    "{} is not a method but has arguments",
                    names.last().map_or("", String::as_str)
                ),
            )
        };
        match first {
            Arg::Identifier(name) => self.call(dot, name, rest, last, line),
            Arg::Field(names) => {
                if has_args {
                    return Err(not_a_method(names));
                }
                self.field_chain(dot.clone(), names, line)
            }
            Arg::Chain(inner, names) => {
                if has_args {
                    return Err(not_a_method(names));
                }
                let receiver = self.eval_arg(dot, inner, line)?;
                self.field_chain(receiver, names, line)
            }
            Arg::Variable(name, names) => {
                if has_args {
                    return Err(if names.is_empty() {
                        not_a_function()
                    } else {
                        not_a_method(names)
                    });
                }
                let value = self.var(name, line)?;
                self.field_chain(value, names, line)
            }
            Arg::Pipe(pipe) => {
                if has_args {
                    return Err(not_a_function());
                }
                self.eval_pipeline(dot, pipe)
            }
            Arg::Nil => Err(TemplateError::exec(line, "nil is not a command")),
            Arg::Dot | Arg::Bool(_) | Arg::Number { .. } | Arg::String(_) => {
                if has_args {
                    return Err(not_a_function());
                }
                self.eval_arg(dot, first, line)
            }
        }
    }

    fn eval_arg(&mut self, dot: &Val<'d>, arg: &'t Arg, line: usize) -> Result<Val<'d>> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Val::owned(Value::Null)),
            Arg::Bool(b) => Ok(Val::owned(Value::Bool(*b))),
            Arg::Number { value, .. } => Ok(Val::owned(Value::Number(value.clone()))),
            Arg::String(s) => Ok(Val::owned(Value::String(s.clone()))),
            Arg::Field(names) => self.field_chain(dot.clone(), names, line),
            Arg::Variable(name, names) => {
                let value = self.var(name, line)?;
                self.field_chain(value, names, line)
            }
            Arg::Chain(inner, names) => {
                let receiver = self.eval_arg(dot, inner, line)?;
                self.field_chain(receiver, names, line)
            }
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe),
            Arg::Identifier(name) => self.call(dot, name, &[], None, line),
        }
    }

    fn call(
        &mut self,
        dot: &Val<'d>,
        name: &str,
        args: &'t [Arg],
        last: Option<Val<'d>>,
        line: usize,
    ) -> Result<Val<'d>> {
        if name == "and" || name == "or" {
            // Short-circuit: the first value that decides the result is returned as is.
            let n_args = args.len() + usize::from(last.is_some());
            if n_args == 0 {
                return Err(TemplateError::exec(
                    line,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let deciding = name == "or";
            let mut result = Val::Missing;
            for arg in args {
                let value = self.eval_arg(dot, arg, line)?;
                if value.truth() == deciding {
                    return Ok(value);
                }
                result = value;
            }
            return Ok(last.unwrap_or(result));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.eval_arg(dot, arg, line)?);
        }
        values.extend(last);
        funcs::call(name, values, self.missing).map_err(|message| TemplateError::exec(line, message))
    }

    fn field_chain(&self, mut value: Val<'d>, names: &[String], line: usize) -> Result<Val<'d>> {
        for name in names {
            value = self.field(value, name, line)?;
        }
        Ok(value)
    }

    fn field(&self, receiver: Val<'d>, name: &str, line: usize) -> Result<Val<'d>> {
        let missing = |message: String| {
            if self.missing == MissingKey::Error {
                Err(TemplateError::exec(line, message))
            } else {
                Ok(Val::Missing)
            }
        };
        let Val::Json(value) = receiver else {
            return missing(format!("nil data; no entry for key {}", quote(name, false)));
        };
        match value.as_ref() {
            Value::Object(_) => match project(value, Key::Field(name)) {
                Some(child) => Ok(Val::Json(child)),
                None => missing(format!("map has no entry for key {}", quote(name, false))),
            },
            Value::Null => missing(format!("nil pointer evaluating interface {{}}.{name}")),
            other => Err(TemplateError::exec(
                line,
                format!("can't evaluate field {name} in type {}", go_type(other)),
            )),
        }
    }
}
