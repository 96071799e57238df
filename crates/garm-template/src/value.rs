//! Values flowing through template evaluation and how a missing map key behaves.

use std::borrow::Cow;

use serde_json::{Number, Value};

/// What a lookup of a key that the data does not have (`.Missing`, `index .M "x"`) yields.
///
/// Go's `text/template` distinguishes struct fields (always present, zero-valued when unset)
/// from map keys (absent keys are an "invalid value" printed as `<no value>`). JSON data
/// cannot tell the two apart, so the caller picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// For struct-like contexts such as garm's install-script parameters: a missing key or a
    /// JSON `null` prints as the empty string, is false, has length 0, ranges and indexes as
    /// empty, and compares equal to the zero value of the other operand (`""`, `0`, `false`).
    /// This is what a Go struct field of unknown type would do when left unset.
    #[default]
    Empty,
    /// Go's default for maps (`missingkey=default`): a missing key or `null` prints as
    /// `<no value>`, and is passed to functions as `nil`.
    NoValue,
    /// Go's `missingkey=error`: looking up a missing key is an execution error.
    Error,
}

/// A value during evaluation: JSON borrowed from the data or produced by the template.
#[derive(Debug, Clone)]
pub(crate) enum Val<'d> {
    /// Go's "invalid value": the result of looking up a missing key.
    Missing,
    Json(Cow<'d, Value>),
}

impl<'d> Val<'d> {
    pub(crate) fn owned(value: Value) -> Self {
        Self::Json(Cow::Owned(value))
    }

    pub(crate) fn borrowed(value: &'d Value) -> Self {
        Self::Json(Cow::Borrowed(value))
    }

    pub(crate) fn int(i: usize) -> Self {
        Self::owned(Value::Number(Number::from(i as u64)))
    }

    /// The JSON value, or `None` when missing.
    pub(crate) fn json(&self) -> Option<&Value> {
        match self {
            Self::Missing => None,
            Self::Json(value) => Some(value),
        }
    }

    /// True when missing or JSON `null`.
    pub(crate) fn is_nil(&self) -> bool {
        matches!(self.json(), None | Some(Value::Null))
    }

    /// Go's truthiness: false, 0, "", nil and empty collections are false.
    pub(crate) fn truth(&self) -> bool {
        match self.json() {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
        }
    }
}

/// A step into a JSON value.
#[derive(Clone, Copy)]
pub(crate) enum Key<'k> {
    Field(&'k str),
    Index(usize),
}

/// Takes the child at `key`, borrowing when the parent is borrowed and moving otherwise.
pub(crate) fn project<'d>(parent: Cow<'d, Value>, key: Key<'_>) -> Option<Cow<'d, Value>> {
    match parent {
        Cow::Borrowed(value) => match key {
            Key::Field(name) => value.as_object()?.get(name).map(Cow::Borrowed),
            Key::Index(i) => value.as_array()?.get(i).map(Cow::Borrowed),
        },
        Cow::Owned(mut value) => match key {
            Key::Field(name) => value.as_object_mut()?.remove(name).map(Cow::Owned),
            Key::Index(i) => value.as_array_mut()?.get_mut(i).map(|v| Cow::Owned(v.take())),
        },
    }
}
