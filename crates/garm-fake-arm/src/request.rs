//! `Req`: one incoming request, parsed once (segments and query decoded, base URL from `Host`).

use http::HeaderMap;

/// A request as the handlers see it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Upper-case method.
    pub method: String,
    /// The raw path (not decoded).
    pub path: String,
    /// Decoded path segments, in their original case.
    pub segments: Vec<String>,
    /// The raw query string (without `?`).
    pub raw_query: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `http://<Host>`: absolute URLs in answers are built from it.
    pub base: String,
}

impl Req {
    pub fn new(method: &str, path_and_query: &str, headers: HeaderMap, body: Vec<u8>) -> Req {
        let (path, raw_query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let segments = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, value)| value.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let query = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        let host = headers
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        Req {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            segments,
            raw_query: raw_query.to_owned(),
            query,
            headers,
            body,
            base: format!("http://{host}"),
        }
    }

    /// A query parameter; names compared case-insensitively (ARM does).
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Lower-cased segments for matching routes.
    pub fn lower(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.to_ascii_lowercase()).collect()
    }

    /// The absolute URL of this request.
    pub fn url(&self) -> String {
        if self.raw_query.is_empty() {
            format!("{}{}", self.base, self.path)
        } else {
            format!("{}{}?{}", self.base, self.path, self.raw_query)
        }
    }

    /// The body as JSON; `Err` with the parser's message.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|err| err.to_string())
    }
}
