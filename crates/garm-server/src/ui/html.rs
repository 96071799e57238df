//! A small HTML builder: every dynamic value goes through [`e`], which escapes it; markup is
//! written with `write!` into a `String`. Forms, tables and pagination are built here so
//! every page labels its controls the same way.

use std::fmt::{self, Write};

/// Escapes text for HTML element content and double-quoted attribute values.
pub struct Esc<'a>(pub &'a str);

pub fn e(s: &str) -> Esc<'_> {
    Esc(s)
}

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// Percent-encodes a path segment or query value.
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// "3m 12s" from seconds.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86400, (secs % 86400) / 3600),
    }
}

pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What a form control is.
pub enum Kind<'a> {
    Text,
    Password,
    Number,
    Email,
    Url,
    Textarea,
    /// A tall monospace text area (template text).
    Code,
    /// A text area whose value is never written back into the page (a private key).
    SecretTextarea,
    Checkbox,
    /// (value, label) pairs.
    Select(Vec<(String, String)>),
    #[allow(dead_code)]
    Hidden(&'a str),
}

/// One labelled form control.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: Kind<'a>,
    pub value: String,
    pub required: bool,
    pub help: &'a str,
}

impl<'a> Field<'a> {
    pub fn new(name: &'a str, label: &'a str, kind: Kind<'a>) -> Self {
        Self {
            name,
            label,
            kind,
            value: String::new(),
            required: false,
            help: "",
        }
    }
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn help(mut self, h: &'a str) -> Self {
        self.help = h;
        self
    }
}

/// A POST form with a CSRF token, labelled controls, an optional error and a submit button.
pub fn form(out: &mut String, action: &str, csrf: &str, fields: &[Field], submit: &str, error: Option<&str>) {
    let _ = write!(out, "<form method=\"post\" action=\"{}\" class=\"form\">", e(action));
    if let Some(err) = error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", e(err));
    }
    let _ = write!(out, "<input type=\"hidden\" name=\"_csrf\" value=\"{}\">", e(csrf));
    for f in fields {
        let id = format!("f-{}", f.name);
        let req = if f.required { " required" } else { "" };
        let described = if f.help.is_empty() {
            String::new()
        } else {
            format!(" aria-describedby=\"{id}-help\"")
        };
        match &f.kind {
            Kind::Hidden(v) => {
                let _ = write!(out, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", e(f.name), e(v));
                continue;
            }
            Kind::Checkbox => {
                let checked = if f.value == "true" || f.value == "on" {
                    " checked"
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    "<div class=\"field check\"><input type=\"checkbox\" id=\"{id}\" name=\"{}\" value=\"true\"{checked}{described}><label for=\"{id}\">{}</label>",
                    e(f.name),
                    e(f.label)
                );
            }
            other => {
                let _ = write!(out, "<div class=\"field\"><label for=\"{id}\">{}</label>", e(f.label));
                match other {
                    Kind::Textarea | Kind::Code | Kind::SecretTextarea => {
                        let (rows, class, value) = match other {
                            Kind::Code => ("18", " class=\"code\"", f.value.as_str()),
                            Kind::SecretTextarea => ("6", " class=\"code\" autocomplete=\"off\"", ""),
                            _ => ("3", "", f.value.as_str()),
                        };
                        let _ = write!(
                            out,
                            "<textarea id=\"{id}\" name=\"{}\" rows=\"{rows}\"{class}{req}{described}>{}</textarea>",
                            e(f.name),
                            e(value)
                        );
                    }
                    Kind::Select(options) => {
                        let _ = write!(out, "<select id=\"{id}\" name=\"{}\"{req}{described}>", e(f.name));
                        for (v, l) in options {
                            let sel = if *v == f.value { " selected" } else { "" };
                            let _ = write!(out, "<option value=\"{}\"{sel}>{}</option>", e(v), e(l));
                        }
                        out.push_str("</select>");
                    }
                    _ => {
                        let ty = match other {
                            Kind::Password => "password",
                            Kind::Number => "number",
                            Kind::Email => "email",
                            Kind::Url => "url",
                            _ => "text",
                        };
                        let value = if matches!(other, Kind::Password) { "" } else { &f.value };
                        let _ = write!(
                            out,
                            "<input type=\"{ty}\" id=\"{id}\" name=\"{}\" value=\"{}\"{req}{described}>",
                            e(f.name),
                            e(value)
                        );
                    }
                }
            }
        }
        if !f.help.is_empty() {
            let _ = write!(out, "<small id=\"{id}-help\">{}</small>", e(f.help));
        }
        out.push_str("</div>");
    }
    let _ = write!(out, "<button type=\"submit\">{}</button></form>", e(submit));
}

/// A one-button POST form (delete, enable, logout).
pub fn button(out: &mut String, action: &str, csrf: &str, label: &str, class: &str) {
    let _ = write!(
        out,
        "<form method=\"post\" action=\"{}\" class=\"inline\"><input type=\"hidden\" name=\"_csrf\" value=\"{}\"><button type=\"submit\" class=\"{}\">{}</button></form>",
        e(action),
        e(csrf),
        e(class),
        e(label)
    );
}

/// A labelled checkbox outside [`form`] (extra options of a confirmation).
pub fn check_box(out: &mut String, name: &str, label: &str, checked: bool) {
    let on = if checked { " checked" } else { "" };
    let _ = write!(
        out,
        "<div class=\"field check\"><input type=\"checkbox\" id=\"f-{0}\" name=\"{0}\" value=\"true\"{on}><label for=\"f-{0}\">{1}</label></div>",
        e(name),
        e(label)
    );
}

/// Rows per page of a long list.
pub const PAGE_SIZE: usize = 50;

/// The slice of `items` on `page` (1-based) and the pager's markup; `base` is the list's URL
/// with its other query parameters (ending in `?` or `&`).
pub fn page<'t, T>(items: &'t [T], page: usize, base: &str) -> (&'t [T], String) {
    let pages = items.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    let slice = &items[start.min(items.len())..(start + PAGE_SIZE).min(items.len())];
    let mut nav = String::new();
    if pages > 1 {
        let _ = write!(nav, "<nav class=\"pager\" aria-label=\"pages\">");
        if page > 1 {
            let _ = write!(
                nav,
                "<a href=\"{}page={}\" rel=\"prev\">previous</a> ",
                e(base),
                page - 1
            );
        }
        let _ = write!(nav, "<span>page {page} of {pages} ({} rows)</span>", items.len());
        if page < pages {
            let _ = write!(nav, " <a href=\"{}page={}\" rel=\"next\">next</a>", e(base), page + 1);
        }
        nav.push_str("</nav>");
    }
    (slice, nav)
}

/// A table header with scoped column headings.
pub fn thead(out: &mut String, caption: &str, cols: &[&str]) {
    let _ = write!(out, "<table><caption>{}</caption><thead><tr>", e(caption));
    for c in cols {
        let _ = write!(out, "<th scope=\"col\">{}</th>", e(c));
    }
    out.push_str("</tr></thead><tbody>");
}

/// A filter box for a list page.
pub fn filter(out: &mut String, action: &str, q: &str, what: &str) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"{}\" class=\"filter\" role=\"search\"><label for=\"q\">Filter {}</label><input type=\"search\" id=\"q\" name=\"q\" value=\"{}\"><button type=\"submit\">Filter</button></form>",
        e(action),
        e(what),
        e(q)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            e("<a href=\"x\">Tom & 'Jerry'</a>").to_string(),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(e("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn pages_clamp_and_link() {
        let items: Vec<u32> = (0..120).collect();
        let (slice, nav) = page(&items, 3, "/ui/pools?");
        assert_eq!(slice, &items[100..120]);
        assert!(nav.contains("page 3 of 3"), "{nav}");
        assert!(nav.contains("href=\"/ui/pools?page=2\""), "{nav}");
        assert!(!nav.contains("rel=\"next\""), "{nav}");
        let (slice, _) = page(&items, 99, "/ui/pools?");
        assert_eq!(slice.len(), 20);
        let (slice, nav) = page(&items[..3], 1, "/");
        assert_eq!(slice.len(), 3);
        assert!(nav.is_empty());
    }

    #[test]
    fn url_parts_are_encoded() {
        assert_eq!(url_part("a b/c?d"), "a%20b%2Fc%3Fd");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(7300), "2h 1m");
    }
}
