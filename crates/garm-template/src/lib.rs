//! Go `text/template` rendering for garm's runner install scripts, and the install scripts
//! garm-rs ships.
//!
//! Install templates are stored in the database and edited by operators, so they must keep
//! Go's syntax and semantics: [`parse`] accepts the `text/template` action language (text,
//! `{{ }}` actions with `{{-`/`-}}` trimming, comments, fields, variables, pipelines,
//! `if`/`else if`/`range`/`with`/`define`/`template`/`block`, `break`/`continue`, and all
//! predefined functions), and [`Template::render`] evaluates it against a
//! [`serde_json::Value`] context. Parse errors read `line N: message`, which is the detail
//! the API returns for invalid templates.
//!
//! The embedded scripts ([`system_template`], [`wrapper_template`]) are written for garm-rs:
//! bash for Linux and PowerShell for Windows, rendered with the context described in the
//! compatibility spec (3.5) and the wrapper fields (6.10).
//!
//! This crate deliberately does not: build the render context (the server knows instances,
//! pools and tools), talk to the network, offer functions beyond Go's predefined ones (a
//! template using our own helpers would not be portable to garm), custom delimiters,
//! methods on data, or `html/template` contextual escaping.

mod error;
mod exec;
mod format;
mod funcs;
mod lex;
mod parse;
mod scripts;
mod value;

pub use error::TemplateError;
pub use scripts::{system_template, wrapper_template};
pub use value::MissingKey;

/// A parsed template, ready to render any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    tree: parse::Tree,
}

/// Parses a Go `text/template` document.
///
/// Fails with [`TemplateError::Parse`] on syntax errors, unknown functions (Go checks these
/// at parse time too), undefined variables, and unbalanced control structures.
pub fn parse(src: &str) -> Result<Template, TemplateError> {
    parse::parse(src).map(|tree| Template { tree })
}

impl Template {
    /// Renders with [`MissingKey::Empty`]: missing keys and `null` print as nothing, which is
    /// how garm's struct-typed install contexts behave in Go.
    ///
    /// Fails with [`TemplateError::Exec`] when an action cannot be evaluated (for example
    /// a field of a string, an out-of-range `index`, or `lt` on incompatible values).
    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.render_with(data, MissingKey::Empty)
    }

    /// Renders choosing how missing keys behave; see [`MissingKey`].
    pub fn render_with(&self, data: &serde_json::Value, missing: MissingKey) -> Result<String, TemplateError> {
        exec::execute(&self.tree, data, missing)
    }

    /// Names of the templates declared with `{{define}}` or `{{block}}`, sorted.
    pub fn defined_templates(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tree.definitions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(src: &str) -> Result<Self, Self::Err> {
        parse(src)
    }
}

#[cfg(test)]
mod tests;
