//! Telling other replicas about writes: PostgreSQL `LISTEN/NOTIFY` on channel `garm_changes`.
//!
//! Each [`Store::connect`] on PostgreSQL gets an origin id and two tasks: a sender that turns
//! local signals into `pg_notify` calls (after the write committed; a burst of signals is sent
//! once), and a listener that receives the other stores' notifications. A `view` notification
//! invalidates this store's [`super::WebhookView`] at once (rather than after
//! [`super::SHARED_VIEW_TTL`]); any other payload (`entity:<id>`, `pool:<id>`: a nudge for work
//! the sender does not hold) is handed to [`Store::subscribe_peers`] subscribers, the
//! scheduler. A notification is lost if the listener's connection is down at that moment; the
//! view's time to live and the scheduler's timers cover that. SQLite has no peers: nothing
//! is sent or received.

use super::*;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc};

const CHANNEL: &str = "garm_changes";

/// The PostgreSQL side of a store: where signals go, and where peers' nudges come from.
#[derive(Debug)]
pub(crate) struct Peers {
    origin: String,
    signals: mpsc::UnboundedSender<String>,
    nudges: broadcast::Sender<String>,
    /// Dropped with the last store handle: the listener then stops.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Store {
    /// Starts the sender and the listener (PostgreSQL only).
    pub(crate) async fn start_peers(&mut self, url: &str) -> Result<()> {
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let (signals, mut rx) = mpsc::unbounded_channel::<String>();
        let nudges = broadcast::channel(1024).0;
        let pool = self.pool.clone();
        let from = origin.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = BTreeSet::from([first]);
                while let Ok(more) = rx.try_recv() {
                    batch.insert(more);
                }
                for topic in batch {
                    let sent = sqlx::query("SELECT pg_notify($1, $2) AS sent")
                        .bind(CHANNEL)
                        .bind(format!("{from} {topic}"))
                        .fetch_optional(&pool)
                        .await;
                    if let Err(err) = sent {
                        tracing::warn!(error = %err, topic, "telling other replicas failed");
                    }
                }
            }
        });
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        let views = self.views.clone();
        let (me, out) = (origin.clone(), nudges.clone());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection.
                let received = tokio::select! {
                    _ = &mut stopped => return,
                    received = listener.recv() => received,
                };
                let note = match received {
                    Ok(note) => note,
                    Err(err) => {
                        tracing::warn!(error = %err, "listening to other replicas failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let Some((origin, topic)) = note.payload().split_once(' ') else {
                    continue;
                };
                if origin == me {
                    continue;
                }
                if topic == "view" {
                    views.generation.fetch_add(1, Ordering::AcqRel);
                } else {
                    let _ = out.send(topic.to_string());
                }
            }
        });
        self.peers = Some(std::sync::Arc::new(Peers {
            origin,
            signals,
            nudges,
            _stop: stop,
        }));
        Ok(())
    }

    /// Tells the other replicas `topic` after the caller's write committed; a no-op on SQLite.
    pub fn notify_peers(&self, topic: &str) {
        if let Some(p) = &self.peers {
            let _ = p.signals.send(topic.to_string());
        }
    }

    /// The nudges other replicas send (`entity:<id>`, `pool:<id>`); `None` on SQLite.
    pub fn subscribe_peers(&self) -> Option<broadcast::Receiver<String>> {
        self.peers.as_ref().map(|p| p.nudges.subscribe())
    }

    /// This store's origin id in notifications (PostgreSQL only).
    pub fn peer_origin(&self) -> Option<&str> {
        self.peers.as_ref().map(|p| p.origin.as_str())
    }
}
