//! Group commit for webhooks: handlers queue verified deliveries; one writer task
//! records whatever has queued up in one transaction and answers each handler after
//! the commit, so many deliveries share one commit.

use garm_pool::intake::{self, Done, Item};
use garm_pool::Ctx;
use garm_store::StoreError;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Most deliveries committed together.
const MAX_BATCH: usize = 256;

type Request = (Item, oneshot::Sender<Result<Done, StoreError>>);

/// The queue in front of the writer task (started on first use).
#[derive(Default)]
pub struct IntakeQueue {
    tx: OnceLock<mpsc::Sender<Request>>,
}

impl IntakeQueue {
    /// Records `item` (job, then delivery key) and returns once it is committed;
    /// `None` if the writer is gone (the delivery may or may not have been recorded).
    pub async fn submit(&self, ctx: &Arc<Ctx>, item: Item) -> Option<Result<Done, StoreError>> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(writer(ctx.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((item, _))) = tx.send((item, reply)).await {
            return Some(intake::record_one(ctx, item).await);
        }
        answer.await.ok()
    }
}

async fn writer(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Request>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<Item>, Vec<_>) = queued.drain(..).unzip();
        let results = intake::record_batch(&ctx, items).await;
        for (result, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(result);
        }
    }
}
