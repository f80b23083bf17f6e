//! Runs a request's dataloader batches in the request's own task.
//!
//! Dataloaders batch the keys requested before their batch starts. If batches ran as
//! separate runtime tasks, a batch's results could wake the request on another worker
//! thread while later results are still being delivered, so the next level's keys would
//! trickle in and split into several statements, more or fewer depending on load. Driving
//! the batches and the request in one task makes each level of a query register all of
//! its keys in one pass: one statement per loader per level, every time.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::task::AtomicWaker;

#[derive(Clone, Default)]
pub struct LocalTasks {
    queue: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
    waker: Arc<AtomicWaker>,
}

impl LocalTasks {
    /// A spawner for `DataLoader::new`: queues the batch for this request's task.
    pub fn spawner(&self) -> impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static {
        let queue = self.queue.clone();
        let waker = self.waker.clone();
        move |task| {
            queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(task);
            waker.wake();
        }
    }

    fn take_queued(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(
            &mut *self
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Drives `work` together with every batch spawned while it runs.
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        let mut work = pin!(work);
        let mut running: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
        std::future::poll_fn(move |cx| {
            self.waker.register(cx.waker());
            loop {
                running.extend(self.take_queued());
                while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
                if let Poll::Ready(output) = work.as_mut().poll(cx) {
                    return Poll::Ready(output);
                }
                let queued = self
                    .queue
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .is_empty();
                if queued {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}
