//! The predefined functions of Go's `text/template` (except `and` and `or`, which the
//! executor evaluates lazily).

use std::borrow::Cow;

use serde_json::{Number, Value};

use crate::format::{go_type, html_escape, integer, js_escape, query_escape, sprint, sprintf, sprintln};
use crate::value::{project, Key, MissingKey, Val};

/// Calls builtin `name` with evaluated arguments. Errors are worded like Go's.
pub(crate) fn call<'d>(name: &str, args: Vec<Val<'d>>, missing: MissingKey) -> Result<Val<'d>, String> {
    let arity = |want: usize| -> Result<(), String> {
        if args.len() == want {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            ))
        }
    };
    let at_least = |want: usize| -> Result<(), String> {
        if args.len() >= want {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want at least {want} got {}",
                args.len()
            ))
        }
    };
    let failed = |err: String| format!("error calling {name}: {err}");
    let lenient = missing == MissingKey::Empty;
    match name {
        "not" => {
            arity(1)?;
            Ok(Val::owned(Value::Bool(!args[0].truth())))
        }
        "len" => {
            arity(1)?;
            length(&args[0], lenient).map(Val::int).map_err(failed)
        }
        "index" => {
            at_least(1)?;
            let mut args = args.into_iter();
            let item = args.next().unwrap_or(Val::Missing);
            index(item, args.collect(), lenient).map_err(failed)
        }
        "slice" => {
            at_least(1)?;
            let mut args = args.into_iter();
            let item = args.next().unwrap_or(Val::Missing);
            slice(item, args.collect(), lenient).map_err(failed)
        }
        "eq" => {
            at_least(1)?;
            let first = basic(&args[0], missing);
            if args.len() == 1 {
                return Err(failed("missing argument for comparison".into()));
            }
            for other in &args[1..] {
                let other = basic(other, missing);
                let (a, b) = coerce(&first, &other, lenient);
                if eq(&a, &b).map_err(|e| failed(e.into()))? {
                    return Ok(Val::owned(Value::Bool(true)));
                }
            }
            Ok(Val::owned(Value::Bool(false)))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(2)?;
            let first = basic(&args[0], missing);
            let second = basic(&args[1], missing);
            let (a, b) = coerce(&first, &second, lenient);
            let result = match name {
                "ne" => eq(&a, &b).map(|t| !t),
                "lt" => lt(&a, &b),
                "le" => le(&a, &b),
                "gt" => le(&a, &b).map(|t| !t),
                _ => lt(&a, &b).map(|t| !t),
            };
            result.map(|t| Val::owned(Value::Bool(t))).map_err(|e| failed(e.into()))
        }
        "print" | "println" | "printf" => {
            let values: Vec<Cow<'_, Value>> = args.iter().map(|a| printable(a, missing)).collect();
            let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
            let text = match name {
                "print" => sprint(&refs),
                "println" => sprintln(&refs),
                _ => {
                    at_least(1)?;
                    let Value::String(format) = refs[0] else {
                        return Err(format!(
                            "wrong type for value; expected string; got {}",
                            go_type(refs[0])
                        ));
                    };
                    sprintf(format, &refs[1..])
                }
            };
            Ok(Val::owned(Value::String(text)))
        }
        "html" | "js" | "urlquery" => {
            let text = match args.as_slice() {
                [Val::Json(value)] if value.is_string() => value.as_str().unwrap_or("").to_string(),
                _ => {
                    let values: Vec<Cow<'_, Value>> = args.iter().map(|a| printable(a, missing)).collect();
                    let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
                    sprint(&refs)
                }
            };
            let escaped = match name {
                "html" => html_escape(&text),
                "js" => js_escape(&text),
                _ => query_escape(&text),
            };
            Ok(Val::owned(Value::String(escaped)))
        }
        "call" => {
            at_least(1)?;
            Err(failed(match args[0].json() {
                None | Some(Value::Null) => "call of nil".into(),
                Some(value) => format!("non-function of type {}", go_type(value)),
            }))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// The value `print` and friends see: a missing key is `""` in lenient mode, else nil.
fn printable<'a>(arg: &'a Val<'_>, missing: MissingKey) -> Cow<'a, Value> {
    match arg {
        Val::Missing if missing == MissingKey::Empty => Cow::Owned(Value::String(String::new())),
        Val::Missing => Cow::Owned(Value::Null),
        Val::Json(value) => Cow::Borrowed(value.as_ref()),
    }
}

fn length(item: &Val<'_>, lenient: bool) -> Result<usize, String> {
    match item.json() {
        None | Some(Value::Null) if lenient => Ok(0),
        None | Some(Value::Null) => Err("len of nil pointer".into()),
        Some(Value::String(s)) => Ok(s.len()),
        Some(Value::Array(a)) => Ok(a.len()),
        Some(Value::Object(m)) => Ok(m.len()),
        Some(other) => Err(format!("len of type {}", go_type(other))),
    }
}

/// Converts an index argument, checking it against `len` (inclusive for slice bounds).
fn index_arg(index: &Val<'_>, len: usize, inclusive: bool) -> Result<usize, String> {
    match index.json() {
        None | Some(Value::Null) => Err("cannot index slice/array with nil".into()),
        Some(Value::Number(n)) if integer(n).is_some() => {
            let i = integer(n).unwrap_or(0);
            let limit = if inclusive { len } else { len.saturating_sub(1) };
            if i < 0 || i > limit as i128 || (!inclusive && len == 0) {
                return Err(format!("index out of range: {i}"));
            }
            Ok(i as usize)
        }
        Some(other) => Err(format!("cannot index slice/array with type {}", go_type(other))),
    }
}

fn index<'d>(item: Val<'d>, indexes: Vec<Val<'d>>, lenient: bool) -> Result<Val<'d>, String> {
    if item.is_nil() {
        if lenient {
            return Ok(Val::Missing);
        }
        return Err("index of untyped nil".into());
    }
    let mut item = item;
    for index in &indexes {
        let Val::Json(value) = item else {
            if lenient {
                return Ok(Val::Missing);
            }
            return Err("index of nil pointer".into());
        };
        item = match value.as_ref() {
            Value::Null if lenient => return Ok(Val::Missing),
            Value::Null => return Err("index of nil pointer".into()),
            Value::Array(a) => {
                let i = index_arg(index, a.len(), false)?;
                project(value, Key::Index(i)).map_or(Val::Missing, Val::Json)
            }
            Value::String(s) => {
                let i = index_arg(index, s.len(), false)?;
                Val::owned(Value::Number(Number::from(s.as_bytes()[i])))
            }
            Value::Object(_) => match index.json() {
                Some(Value::String(key)) => project(value, Key::Field(key)).map_or(Val::Missing, Val::Json),
                Some(other) => return Err(format!("value has type {}; should be string", go_type(other))),
                None => return Err("value is nil; should be of type string".into()),
            },
            other => return Err(format!("can't index item of type {}", go_type(other))),
        };
    }
    Ok(item)
}

fn slice<'d>(item: Val<'d>, indexes: Vec<Val<'d>>, lenient: bool) -> Result<Val<'d>, String> {
    if item.is_nil() {
        if lenient {
            return Ok(Val::Missing);
        }
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let value = item.json().cloned().unwrap_or(Value::Null);
    let len = match &value {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Array(a) => a.len(),
        other => return Err(format!("can't slice item of type {}", go_type(other))),
    };
    let mut bounds = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        bounds[i] = index_arg(index, len, true)?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!("invalid slice index: {} > {}", bounds[0], bounds[1]));
    }
    if indexes.len() == 3 && bounds[1] > bounds[2] {
        return Err(format!("invalid slice index: {} > {}", bounds[1], bounds[2]));
    }
    Ok(Val::owned(match value {
        Value::String(s) => {
            let bytes = &s.as_bytes()[bounds[0]..bounds[1]];
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Value::Array(a) => Value::Array(a[bounds[0]..bounds[1]].to_vec()),
        _ => Value::Null,
    }))
}

/// The comparable shape of a value (Go's `basicKind`).
#[derive(Debug, Clone, PartialEq)]
enum Basic {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Nil,
    /// Missing key (only distinguished in lenient mode, where it takes the other side's zero).
    Missing,
    /// Arrays and objects.
    Composite,
}

fn basic(value: &Val<'_>, missing: MissingKey) -> Basic {
    match value.json() {
        None if missing == MissingKey::Empty => Basic::Missing,
        None | Some(Value::Null) => Basic::Nil,
        Some(Value::Bool(b)) => Basic::Bool(*b),
        Some(Value::Number(n)) => match integer(n) {
            Some(i) => Basic::Int(i),
            None => Basic::Float(n.as_f64().unwrap_or(0.0)),
        },
        Some(Value::String(s)) => Basic::Str(s.clone()),
        Some(Value::Array(_) | Value::Object(_)) => Basic::Composite,
    }
}

fn zero_like(other: &Basic) -> Basic {
    match other {
        Basic::Bool(_) => Basic::Bool(false),
        Basic::Int(_) => Basic::Int(0),
        Basic::Float(_) => Basic::Float(0.0),
        Basic::Str(_) => Basic::Str(String::new()),
        Basic::Nil | Basic::Missing | Basic::Composite => Basic::Nil,
    }
}

/// In lenient mode a missing operand becomes the zero value of the other operand.
fn coerce(a: &Basic, b: &Basic, lenient: bool) -> (Basic, Basic) {
    let fix = |x: &Basic, other: &Basic| match x {
        Basic::Missing if lenient => zero_like(other),
        Basic::Missing => Basic::Nil,
        x => x.clone(),
    };
    (fix(a, b), fix(b, a))
}

fn as_f64(b: &Basic) -> Option<f64> {
    match b {
        Basic::Int(i) => Some(*i as f64),
        Basic::Float(f) => Some(*f),
        _ => None,
    }
}

fn eq(a: &Basic, b: &Basic) -> Result<bool, &'static str> {
    Ok(match (a, b) {
        (Basic::Nil, Basic::Nil) => true,
        (Basic::Nil, _) | (_, Basic::Nil) => false,
        (Basic::Bool(x), Basic::Bool(y)) => x == y,
        (Basic::Int(x), Basic::Int(y)) => x == y,
        (Basic::Int(_) | Basic::Float(_), Basic::Int(_) | Basic::Float(_)) => as_f64(a) == as_f64(b),
        (Basic::Str(x), Basic::Str(y)) => x == y,
        (Basic::Composite, Basic::Composite) => return Err("non-comparable types"),
        _ => return Err("incompatible types for comparison"),
    })
}

fn lt(a: &Basic, b: &Basic) -> Result<bool, &'static str> {
    Ok(match (a, b) {
        (Basic::Nil | Basic::Composite | Basic::Bool(_) | Basic::Missing, _)
        | (_, Basic::Nil | Basic::Composite | Basic::Bool(_) | Basic::Missing) => {
            if std::mem::discriminant(a) == std::mem::discriminant(b)
                || matches!(a, Basic::Nil | Basic::Composite)
                || matches!(b, Basic::Nil | Basic::Composite)
            {
                return Err("invalid type for comparison");
            }
            return Err("incompatible types for comparison");
        }
        (Basic::Int(x), Basic::Int(y)) => x < y,
        (Basic::Int(_) | Basic::Float(_), Basic::Int(_) | Basic::Float(_)) => as_f64(a) < as_f64(b),
        (Basic::Str(x), Basic::Str(y)) => x < y,
        _ => return Err("incompatible types for comparison"),
    })
}

fn le(a: &Basic, b: &Basic) -> Result<bool, &'static str> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, b)
}
