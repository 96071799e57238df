//! The webhook sender: signs and posts queued deliveries, applying the drop/duplicate/delay/reorder
//! switches, and records every attempt.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng as _;
use ring::hmac;
use tokio::sync::mpsc;

use crate::model::{Delivery, Scope};
use crate::state::FakeState;
use crate::world::Pending;

/// The `User-Agent` GitHub's webhook sender uses (its version suffix varies).
pub const USER_AGENT: &str = "GitHub-Hookshot/fake";

/// `sha256=<hex>` of `body` keyed with `secret`, as in `X-Hub-Signature-256`.
pub fn signature_256(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// What the switches decided for one delivery.
struct Plan {
    drop: bool,
    copies: u32,
    delay: Duration,
    hold: bool,
    release: bool,
}

fn plan(state: &FakeState) -> Plan {
    state.quiet(|w, _| {
        let switches = &mut w.switches;
        let mut rng = rand::thread_rng();
        let drop = if switches.drop_next > 0 {
            switches.drop_next -= 1;
            true
        } else {
            switches.drop_share > 0.0 && rng.gen_bool(switches.drop_share.clamp(0.0, 1.0))
        };
        let duplicate = if switches.duplicate_next > 0 {
            switches.duplicate_next -= 1;
            true
        } else {
            switches.duplicate_share > 0.0 && rng.gen_bool(switches.duplicate_share.clamp(0.0, 1.0))
        };
        let hold = switches.reorder_next > 0;
        if hold {
            switches.reorder_next -= 1;
        }
        Plan {
            drop,
            copies: if duplicate { 2 } else { 1 },
            delay: Duration::from_millis(switches.delay_ms),
            hold,
            release: hold && switches.reorder_next == 0,
        }
    })
}

/// Runs until the queue closes.
pub(crate) async fn run(state: FakeState, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let client = reqwest::Client::builder()
        .timeout(state.config().delivery_timeout)
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap_or_default();
    let mut held: Vec<(Pending, Plan)> = Vec::new();
    while let Some(pending) = queue.recv().await {
        let plan = plan(&state);
        if plan.hold {
            let release = plan.release;
            held.push((pending, plan));
            if release {
                while let Some((pending, plan)) = held.pop() {
                    deliver(&state, &client, pending, &plan).await;
                }
            }
            continue;
        }
        deliver(&state, &client, pending, &plan).await;
    }
}

async fn deliver(state: &FakeState, client: &reqwest::Client, pending: Pending, plan: &Plan) {
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    for _ in 0..plan.copies {
        send_once(state, client, &pending, plan.drop).await;
    }
}

async fn send_once(state: &FakeState, client: &reqwest::Client, pending: &Pending, dropped: bool) {
    let hook = &pending.hook;
    let json = serde_json::to_string(&pending.payload).unwrap_or_default();
    let (body, content_type) = if hook.content_type == "form" {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &json)
            .finish();
        (form, "application/x-www-form-urlencoded")
    } else {
        (json, "application/json")
    };
    let (target_type, target_id) = state.quiet(|w, _| match &hook.scope {
        Scope::Repo { owner, repo } => ("repository", w.repo(owner, repo).map(|r| r.id).unwrap_or(0)),
        Scope::Org { org } => ("organization", w.org(org).map(|o| o.id).unwrap_or(0)),
        Scope::Enterprise { enterprise } => ("business", w.enterprise(enterprise).map(|e| e.id).unwrap_or(0)),
    });
    let mut headers = BTreeMap::new();
    headers.insert("X-GitHub-Event".to_owned(), pending.event.clone());
    headers.insert("X-GitHub-Delivery".to_owned(), pending.guid.clone());
    headers.insert("X-GitHub-Hook-ID".to_owned(), hook.id.to_string());
    headers.insert(
        "X-GitHub-Hook-Installation-Target-Type".to_owned(),
        target_type.to_owned(),
    );
    headers.insert("X-GitHub-Hook-Installation-Target-ID".to_owned(), target_id.to_string());
    headers.insert("User-Agent".to_owned(), USER_AGENT.to_owned());
    headers.insert("Content-Type".to_owned(), content_type.to_owned());
    if let Some(secret) = &hook.secret {
        headers.insert("X-Hub-Signature-256".to_owned(), signature_256(secret, body.as_bytes()));
    }
    let started = Instant::now();
    let delivered_at = Utc::now();
    let (status_code, status) = if dropped {
        (0, "Dropped by the fake (switch)".to_owned())
    } else {
        let mut request = client.post(&hook.url).body(body.clone());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let status = if response.status().is_success() {
                    "OK".to_owned()
                } else {
                    format!("Invalid HTTP Response: {code}")
                };
                (code, status)
            }
            Err(err) if err.is_timeout() => (0, "timed out".to_owned()),
            Err(_) => (0, "failed to connect to host".to_owned()),
        }
    };
    let duration_secs = started.elapsed().as_secs_f64();
    tracing::debug!(hook = hook.id, event = %pending.event, status_code, dropped, "webhook delivery");
    state.with(|w, _| {
        let id = w.ids.delivery.next();
        w.deliveries.push(Delivery {
            id,
            guid: pending.guid.clone(),
            hook_id: hook.id,
            event: pending.event.clone(),
            action: pending.action.clone(),
            repository_id: pending.repository_id,
            redelivery: pending.redelivery,
            dropped,
            delivered_at,
            duration_secs,
            status_code,
            status: status.clone(),
            url: hook.url.clone(),
            headers,
            body,
            payload: pending.payload.clone(),
        });
        if let Some(stored) = w.hooks.get_mut(&hook.id) {
            stored.last_response_code = Some(status_code);
            stored.last_response_status = if (200..300).contains(&status_code) {
                "active"
            } else {
                "failed"
            }
            .to_owned();
            stored.last_response_message = Some(status);
        }
    });
}
