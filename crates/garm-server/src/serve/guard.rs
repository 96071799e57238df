//! A connection's clock: closes connections whose client is too slow or gone quiet.
//!
//! [`Guarded`] wraps a connection's stream and fails its pending reads and writes with
//! `TimedOut` once the deadline of the connection's phase has passed:
//! - before its first request is dispatched, the connection has `header_read_timeout` from
//!   its start to deliver the request's headers (a slow-loris client that trickles bytes
//!   gains nothing);
//! - between requests on a kept-alive connection, it may stay silent for `idle_timeout`; the
//!   first byte of the next request starts a fresh `header_read_timeout`;
//! - while a request is in flight, nothing may stall for `idle_timeout` (a body that stops
//!   arriving, a client that stops reading its response).
//!
//! The phase comes from [`Requests`], counters the connection's service bumps when hyper
//! hands it a request (the headers are complete) and when the response is ready.

use crate::config::Connections;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Requests a connection's service has started and finished.
#[derive(Debug, Default)]
pub struct Requests {
    started: AtomicU64,
    finished: AtomicU64,
}

impl Requests {
    pub fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream with the deadlines described in the module documentation.
pub struct Guarded<S> {
    inner: S,
    limits: Connections,
    requests: Arc<Requests>,
    born: Instant,
    last_activity: Instant,
    /// Requests started when last looked at; a change means a new request was dispatched.
    seen: u64,
    /// When the first byte of the next request arrived on a kept-alive connection.
    head_since: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    armed_for: Instant,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limits: Connections, requests: Arc<Requests>) -> Self {
        let now = Instant::now();
        let first = now + limits.header_read_timeout;
        Self {
            inner,
            limits,
            requests,
            born: now,
            last_activity: now,
            seen: 0,
            head_since: None,
            sleep: Box::pin(tokio::time::sleep_until(first)),
            armed_for: first,
        }
    }

    fn deadline(&mut self) -> Instant {
        let started = self.requests.started.load(Ordering::Relaxed);
        let finished = self.requests.finished.load(Ordering::Relaxed);
        if started != self.seen {
            self.seen = started;
            self.head_since = None;
        }
        if started > finished {
            return self.last_activity + self.limits.idle_timeout;
        }
        if started == 0 {
            return self.born + self.limits.header_read_timeout;
        }
        match self.head_since {
            Some(since) => since + self.limits.header_read_timeout,
            None => self.last_activity + self.limits.idle_timeout,
        }
    }

    fn read_some(&mut self) {
        let now = Instant::now();
        self.last_activity = now;
        let started = self.requests.started.load(Ordering::Relaxed);
        let between_requests = started > 0 && started == self.requests.finished.load(Ordering::Relaxed);
        if between_requests && started == self.seen && self.head_since.is_none() {
            self.head_since = Some(now);
        }
    }

    /// Called when the stream has nothing to offer: a timed-out error once the phase's
    /// deadline has passed, else `Pending` with the timer armed for it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.deadline();
        if Instant::now() >= deadline {
            return true;
        }
        if deadline != self.armed_for {
            self.sleep.as_mut().reset(deadline);
            self.armed_for = deadline;
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow or idle")
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.last_activity = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
