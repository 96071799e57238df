//! Go `fmt` semantics for JSON values: `print`, `println`, `printf` and string quoting.

use serde_json::{Number, Value};

/// The Go type name of a JSON value as it would appear after decoding into `interface{}`,
/// used in `%!verb(type=value)` and in error messages.
pub(crate) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if is_integer(n) => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

pub(crate) fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64()
}

/// The value of an integer JSON number, or `None` for floats.
pub(crate) fn integer(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Formats like Go's `fmt.Sprint`: operands are separated by a space when neither is a string.
pub(crate) fn sprint(args: &[&Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        format_value(&mut out, arg, 'v', &Flags::default());
        prev_string = is_string;
    }
    out
}

/// Formats like Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln(args: &[&Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        format_value(&mut out, arg, 'v', &Flags::default());
    }
    out.push('\n');
    out
}

/// Formats a value like Go's `%v`.
pub(crate) fn to_go_string(value: &Value) -> String {
    let mut out = String::new();
    format_value(&mut out, value, 'v', &Flags::default());
    out
}

#[derive(Debug, Default, Clone)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Formats like Go's `fmt.Sprintf`, including its in-band error notation
/// (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`).
pub(crate) fn sprintf(format: &str, args: &[&Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => flags.minus = true,
                '+' => flags.plus = true,
                '#' => flags.sharp = true,
                ' ' => flags.space = true,
                '0' => flags.zero = !flags.minus,
                _ => break,
            }
            chars.next();
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            match args.get(next_arg).and_then(|v| v.as_i64()) {
                Some(w) => {
                    if w < 0 {
                        flags.minus = true;
                        flags.zero = false;
                    }
                    flags.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            next_arg += 1;
        } else {
            flags.width = read_number(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match args.get(next_arg).and_then(|v| v.as_i64()) {
                    Some(p) if p >= 0 => flags.precision = Some(p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                flags.precision = Some(read_number(&mut chars).unwrap_or(0));
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            Some(arg) => format_value(&mut out, arg, verb, &flags),
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
        }
        next_arg += 1;
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if arg.is_null() {
                out.push_str("<nil>");
            } else {
                out.push_str(go_type(arg));
                out.push('=');
                format_value(&mut out, arg, 'v', &Flags::default());
            }
        }
        out.push(')');
    }
    out
}

fn read_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
    }
    n
}

fn format_value(out: &mut String, value: &Value, verb: char, flags: &Flags) {
    match value {
        Value::Null => match verb {
            'v' => pad(out, "<nil>", flags),
            _ => bad_verb(out, value, verb),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, flags),
            _ => bad_verb(out, value, verb),
        },
        Value::Number(n) => match integer(n) {
            Some(i) => format_integer(out, value, i, verb, flags),
            None => format_float(out, value, n.as_f64().unwrap_or(0.0), verb, flags),
        },
        Value::String(s) => format_string(out, value, s, verb, flags),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, item, verb, flags);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_string(out, value, key, verb, flags);
                out.push(':');
                format_value(out, &map[key], verb, flags);
            }
            out.push(']');
        }
    }
}

fn bad_verb(out: &mut String, value: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if value.is_null() {
        out.push_str("<nil>");
    } else {
        out.push_str(go_type(value));
        out.push('=');
        format_value(out, value, 'v', &Flags::default());
    }
    out.push(')');
}

/// Pads `s` to the flag width with spaces (or zeros when asked), left or right.
fn pad(out: &mut String, s: &str, flags: &Flags) {
    let len = s.chars().count();
    let width = flags.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if flags.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if flags.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

/// Pads a number: zero padding goes between the sign/prefix and the digits.
fn pad_number(out: &mut String, sign_and_prefix: &str, digits: &str, flags: &Flags) {
    let width = flags.width.unwrap_or(0);
    let len = sign_and_prefix.chars().count() + digits.chars().count();
    if flags.zero && !flags.minus && len < width {
        out.push_str(sign_and_prefix);
        out.extend(std::iter::repeat_n('0', width - len));
        out.push_str(digits);
    } else {
        let no_zero = Flags {
            zero: false,
            ..flags.clone()
        };
        pad(out, &format!("{sign_and_prefix}{digits}"), &no_zero);
    }
}

fn sign(negative: bool, flags: &Flags) -> &'static str {
    if negative {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else {
        ""
    }
}

fn format_integer(out: &mut String, value: &Value, i: i128, verb: char, flags: &Flags) {
    let magnitude = i.unsigned_abs();
    let (digits, prefix) = match verb {
        'd' | 'v' => (magnitude.to_string(), ""),
        'b' => (format!("{magnitude:b}"), if flags.sharp { "0b" } else { "" }),
        'o' => (format!("{magnitude:o}"), if flags.sharp { "0" } else { "" }),
        'O' => (format!("{magnitude:o}"), "0o"),
        'x' => (format!("{magnitude:x}"), if flags.sharp { "0x" } else { "" }),
        'X' => (format!("{magnitude:X}"), if flags.sharp { "0X" } else { "" }),
        'c' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), flags);
            return;
        }
        'q' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, flags.plus), flags);
            return;
        }
        'U' => {
            let mut s = format!("U+{magnitude:04X}");
            if flags.sharp {
                if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                    if is_print(c) {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
            }
            pad(out, &s, flags);
            return;
        }
        _ => return bad_verb(out, value, verb),
    };
    let digits = match flags.precision {
        Some(0) if magnitude == 0 => String::new(),
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let lead = format!("{}{prefix}", sign(i < 0, flags));
    if flags.precision.is_some() {
        // Go ignores the zero flag when a precision is given for integers.
        let no_zero = Flags {
            zero: false,
            ..flags.clone()
        };
        pad_number(out, &lead, &digits, &no_zero);
    } else {
        pad_number(out, &lead, &digits, flags);
    }
}

fn format_float(out: &mut String, value: &Value, f: f64, verb: char, flags: &Flags) {
    let negative = f.is_sign_negative();
    let body = match verb {
        'v' => format_g(f.abs(), None, 'e'),
        'g' => format_g(f.abs(), flags.precision, 'e'),
        'G' => format_g(f.abs(), flags.precision, 'E'),
        'e' => format_e(f.abs(), flags.precision.unwrap_or(6), 'e'),
        'E' => format_e(f.abs(), flags.precision.unwrap_or(6), 'E'),
        'f' | 'F' => format!("{:.*}", flags.precision.unwrap_or(6), f.abs()),
        _ => return bad_verb(out, value, verb),
    };
    pad_number(out, sign(negative, flags), &body, flags);
}

/// Decimal digits and decimal point position of a non-negative float:
/// value = 0.d1d2d3... × 10^point.
struct Digits {
    digits: Vec<u8>,
    point: i32,
}

/// Splits Rust's `{:e}` rendering (`1.2345e3`) into digits and point position.
fn digits_from_exp(s: &str) -> Digits {
    let (mantissa, exponent) = s.split_once('e').unwrap_or((s, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    Digits {
        digits,
        point: exponent + 1,
    }
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` for non-negative `f`.
fn format_g(f: f64, precision: Option<usize>, exp_char: char) -> String {
    let (digits, eprec) = match precision {
        None => (digits_from_exp(&format!("{f:e}")), 6),
        Some(p) => {
            let p = p.max(1);
            let d = digits_from_exp(&format!("{:.*e}", p - 1, f));
            let n = d.digits.len() as i32;
            let mut eprec = p as i32;
            if eprec > n && n >= d.point {
                eprec = n;
            }
            (d, eprec)
        }
    };
    let exp = digits.point - 1;
    let n = digits.digits.len();
    if exp < -4 || exp >= eprec {
        return render_e(&digits, n.saturating_sub(1), exp_char);
    }
    let decimals = (n as i32 - digits.point).max(0) as usize;
    render_f(&digits, decimals)
}

fn format_e(f: f64, precision: usize, exp_char: char) -> String {
    let s = format!("{f:.precision$e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    format!("{mantissa}{}", exponent_suffix(exponent, exp_char))
}

fn exponent_suffix(exp: i32, exp_char: char) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{exp_char}{sign}{:02}", exp.unsigned_abs())
}

fn render_e(d: &Digits, decimals: usize, exp_char: char) -> String {
    let mut s = String::new();
    s.push(d.digits.first().copied().unwrap_or(b'0') as char);
    if decimals > 0 {
        s.push('.');
        for i in 1..=decimals {
            s.push(d.digits.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    let exp = if d.digits.iter().all(|&b| b == b'0') {
        0
    } else {
        d.point - 1
    };
    s.push_str(&exponent_suffix(exp, exp_char));
    s
}

fn render_f(d: &Digits, decimals: usize) -> String {
    let digit = |i: i32| -> char {
        if i < 0 {
            '0'
        } else {
            d.digits.get(i as usize).copied().unwrap_or(b'0') as char
        }
    };
    let mut s = String::new();
    if d.point > 0 {
        for i in 0..d.point {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if decimals > 0 {
        s.push('.');
        for i in 0..decimals as i32 {
            s.push(digit(d.point + i));
        }
    }
    s
}

fn format_string(out: &mut String, value: &Value, s: &str, verb: char, flags: &Flags) {
    let truncated: String;
    let s = match flags.precision {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => {
            truncated = s.chars().take(p).collect();
            truncated.as_str()
        }
        _ => s,
    };
    match verb {
        's' | 'v' => pad(out, s, flags),
        'q' => {
            let quoted = if flags.sharp && can_backquote(s) {
                format!("`{s}`")
            } else {
                quote(s, flags.plus)
            };
            pad(out, &quoted, flags);
        }
        'x' | 'X' => {
            let mut hex = String::new();
            for (i, b) in s.bytes().enumerate() {
                if flags.space && i > 0 {
                    hex.push(' ');
                }
                if flags.sharp && (flags.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    hex.push_str(&format!("{b:02x}"));
                } else {
                    hex.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &hex, flags);
        }
        _ => bad_verb(out, value, verb),
    }
}

/// Approximates Go's `unicode.IsPrint` without the Unicode tables.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

fn push_escaped(out: &mut String, c: char, quote_char: char, ascii_only: bool) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote_char => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x80 && !is_print(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if is_print(c) && !(ascii_only && (c as u32) >= 0x80) => out.push(c),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii_only`).
pub(crate) fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && !is_print(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(format: &str, args: &[Value]) -> String {
        let refs: Vec<&Value> = args.iter().collect();
        sprintf(format, &refs)
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        let cases = [
            (1.0, "1"),
            (1.5, "1.5"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (0.0, "0"),
        ];
        for (value, expected) in cases {
            assert_eq!(to_go_string(&json!(value)), expected, "{value}");
        }
    }

    #[test]
    fn printf_handles_common_verbs() {
        assert_eq!(f("%s-%d-%v", &[json!("a"), json!(3), json!(true)]), "a-3-true");
        assert_eq!(f("%q", &[json!("a\"b\n")]), r#""a\"b\n""#);
        assert_eq!(
            f("%5d|%-5d|%05d", &[json!(42), json!(42), json!(-42)]),
            "   42|42   |-0042"
        );
        assert_eq!(
            f(
                "%x %X %#x %o %b",
                &[json!(255), json!(255), json!(255), json!(8), json!(5)]
            ),
            "ff FF 0xff 10 101"
        );
        assert_eq!(
            f("%.2f %e %g", &[json!(2.34567), json!(1234.5678), json!(0.5)]),
            "2.35 1.234568e+03 0.5"
        );
        assert_eq!(f("%.3s|%8.3f", &[json!("abcdef"), json!(2.5)]), "abc|   2.500");
        assert_eq!(f("%c %q %U", &[json!(65), json!(65), json!(65)]), "A 'A' U+0041");
        assert_eq!(f("100%%", &[]), "100%");
    }

    #[test]
    fn printf_reports_mismatches_in_band() {
        assert_eq!(f("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(f("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[json!(1), json!("x")]), "1%!(EXTRA string=x)");
        assert_eq!(f("%s", &[Value::Null]), "%!s(<nil>)");
        assert_eq!(f("%v", &[Value::Null]), "<nil>");
        assert_eq!(f("%d", &[json!(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("abc%", &[]), "abc%!(NOVERB)");
    }

    #[test]
    fn composite_values_print_like_go() {
        assert_eq!(to_go_string(&json!(["a", 1, null])), "[a 1 <nil>]");
        assert_eq!(to_go_string(&json!({"b": 2, "a": [true]})), "map[a:[true] b:2]");
        assert_eq!(f("%q", &[json!(["a", "b"])]), r#"["a" "b"]"#);
    }

    #[test]
    fn sprint_separates_non_string_operands() {
        assert_eq!(sprint(&[&json!(1), &json!(2), &json!("a"), &json!(3)]), "1 2a3");
        assert_eq!(sprintln(&[&json!("a"), &json!(1)]), "a 1\n");
    }

    #[test]
    fn escapers_match_go() {
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(js_escape("a'b\"<=>\n"), "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A");
        assert_eq!(query_escape("a b&c/d~"), "a+b%26c%2Fd~");
    }
}
