//! Without a `runner_install_template`, the built-in bootstrap fetches garm's install script over the host network.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{bootstrap, instance_name, Controller};

/// A stand-in for garm's metadata service on 127.0.0.1: serves an install script to the
/// right bearer token and reports what the script posts back.
fn serve(listener: TcpListener, token: String, reports: mpsc::Sender<(String, String)>) {
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "#!/bin/bash\ncurl -fsS -X POST --data-binary \"user=$(id -un) home=$HOME\" http://127.0.0.1:{port}/report\nnohup setsid sleep 600 >/dev/null 2>&1 &\n"
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        let mut authorization = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("authorization:") {
                authorization = line[line.len() - value.len()..].trim().to_owned();
            }
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let (status, answer) = if path == "/api/v1/metadata/install-script/" {
            if authorization == format!("Bearer {token}") {
                ("200 OK", script.clone())
            } else {
                ("401 Unauthorized", String::new())
            }
        } else {
            ("200 OK", String::new())
        };
        let _ = reports.send((path, String::from_utf8_lossy(&body).into_owned()));
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
    }
}

#[test]
fn without_a_template_the_bootstrap_fetches_and_runs_garms_install_script_over_loopback() {
    let controller = Controller::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (reports, received) = mpsc::channel();
    std::thread::spawn(move || serve(listener, "instance-token-not-for-logs".into(), reports));

    let name = instance_name();
    let mut params = bootstrap(&name, "pool", "small", None);
    params["metadata-url"] = format!("http://127.0.0.1:{port}/api/v1/metadata").into();
    params["callback-url"] = format!("http://127.0.0.1:{port}/api/v1/callbacks").into();
    controller.create_ok("pool", &params);

    let mut seen = Vec::new();
    loop {
        let (path, body) = received
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no report from the container; requests so far: {seen:?}"));
        if path == "/report" {
            assert_eq!(body, "user=runner home=/home/runner");
            break;
        }
        seen.push(path);
    }
    assert_eq!(seen, ["/api/v1/metadata/install-script/"]);
}
