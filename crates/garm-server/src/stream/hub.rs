//! Bounded fan-out to websocket subscribers.
//!
//! Every subscriber has its own queue of at most [`QUEUE`] messages (garm's client send
//! buffer). Publishing never waits: a message goes to each interested subscriber with a
//! non-blocking `try_send`, and a subscriber whose queue is full is evicted on the spot (its
//! connection is closed, as garm's hub evicts a client it cannot write to). So a client that
//! reads slowly or not at all costs at most its queue, and the publisher never notices it.
//!
//! Messages are shared (`Arc<str>`): a message queued for many subscribers exists once.
//! Nothing here logs: the log stream publishes from inside the tracing layer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages a subscriber may have queued before it is evicted (garm's `clientSendBuffer`).
pub const QUEUE: usize = 1024;

/// One published message, shared by every queue it sits in.
pub type Message = Arc<str>;

struct Sub<F> {
    id: u64,
    filter: F,
    tx: mpsc::Sender<Message>,
    queued: Arc<AtomicUsize>,
    evicted: CancellationToken,
}

/// Subscribers of one stream; `F` is what each one asked for.
pub struct Hub<F> {
    subs: Mutex<Vec<Sub<F>>>,
    next: AtomicU64,
    capacity: usize,
    evictions: AtomicU64,
}

/// A subscriber's end: its queue, and the token cancelled when it is evicted.
pub struct Subscription {
    pub id: u64,
    rx: mpsc::Receiver<Message>,
    queued: Arc<AtomicUsize>,
    pub evicted: CancellationToken,
}

impl Subscription {
    /// The next message; `None` once the hub dropped this subscriber.
    pub async fn recv(&mut self) -> Option<Message> {
        let msg = self.rx.recv().await?;
        self.queued.fetch_sub(msg.len(), Ordering::Relaxed);
        Some(msg)
    }
}

impl<F> Default for Hub<F> {
    fn default() -> Self {
        Self::with_capacity(QUEUE)
    }
}

impl<F> Hub<F> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            subs: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            capacity: capacity.max(1),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sub<F>>> {
        self.subs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn subscribe(&self, filter: F) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        let evicted = CancellationToken::new();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push(Sub {
            id,
            filter,
            tx,
            queued: queued.clone(),
            evicted: evicted.clone(),
        });
        Subscription {
            id,
            rx,
            queued,
            evicted,
        }
    }

    pub fn unsubscribe(&self, id: u64) {
        self.lock().retain(|s| s.id != id);
    }

    /// Queues `msg` for every subscriber whose filter `wants` it; never waits.
    pub fn publish(&self, msg: &Message, wants: impl Fn(&F) -> bool) {
        let mut subs = self.lock();
        subs.retain(|s| {
            if !wants(&s.filter) {
                return !s.tx.is_closed();
            }
            match s.tx.try_send(msg.clone()) {
                Ok(()) => {
                    s.queued.fetch_add(msg.len(), Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    s.evicted.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Whether anyone is subscribed (to skip building messages nobody gets).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn subscribers(&self) -> usize {
        self.lock().len()
    }

    /// Bytes of messages queued and not yet taken, over all subscribers.
    pub fn queued_bytes(&self) -> usize {
        self.lock().iter().map(|s| s.queued.load(Ordering::Relaxed)).sum()
    }

    /// Subscribers evicted for a full queue since the start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Whether any subscriber's filter satisfies `pred`.
    pub fn any(&self, pred: impl Fn(&F) -> bool) -> bool {
        self.lock().iter().any(|s| pred(&s.filter))
    }

    /// Each subscriber's filter (for the events stream's selection updates).
    pub fn with_filter<R>(&self, id: u64, f: impl FnOnce(&mut F) -> R) -> Option<R> {
        self.lock().iter_mut().find(|s| s.id == id).map(|s| f(&mut s.filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_evicts_without_waiting() {
        let hub: Hub<()> = Hub::with_capacity(2);
        let mut slow = hub.subscribe(());
        let msg: Message = Arc::from("x".repeat(100));
        for _ in 0..5 {
            hub.publish(&msg, |_| true);
        }
        assert!(slow.evicted.is_cancelled());
        assert_eq!(hub.subscribers(), 0);
        assert_eq!(hub.evictions(), 1);
        // What was queued before the eviction is still readable, then the queue ends.
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_none());
    }

    #[tokio::test]
    async fn filters_pick_subscribers_and_queued_bytes_drain() {
        let hub: Hub<bool> = Hub::default();
        let mut yes = hub.subscribe(true);
        let _no = hub.subscribe(false);
        hub.publish(&Message::from("abc"), |wants| *wants);
        assert_eq!(hub.queued_bytes(), 3);
        assert_eq!(&*yes.recv().await.unwrap(), "abc");
        assert_eq!(hub.queued_bytes(), 0);
        hub.unsubscribe(yes.id);
        assert_eq!(hub.subscribers(), 1);
    }
}
