//! A minimal HTTP/1.1 server standing in for garm's metadata and callback endpoints.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path including any query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body of {} is not JSON ({err}): {}", self.path, self.body))
    }
}

/// Routes are keyed `"METHOD /path"`; unknown routes answer 404.
pub struct FakeGarm {
    pub base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeGarm {
    pub fn start(routes: HashMap<String, (u16, Vec<u8>)>) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind fake garm"), routes)
    }

    /// Serves `routes` on a listener the caller bound (a fixed port, to play a restart).
    pub fn start_on(listener: TcpListener, routes: HashMap<String, (u16, Vec<u8>)>) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        // The thread lives until the test binary exits; each connection serves one request.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = serve(stream, &routes) {
                    recorded.lock().unwrap().push(request);
                }
            }
        });
        Self { base, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Bodies posted to `path`, parsed as JSON.
    pub fn posted(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .map(|r| r.json())
            .collect()
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, (u16, Vec<u8>)>) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;

    let (status, payload) = routes
        .get(&format!("{method} {path}"))
        .cloned()
        .unwrap_or((404, br#"{"error":"Not Found","details":"no such route"}"#.to_vec()));
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Status",
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&payload).ok()?;
    stream.flush().ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
