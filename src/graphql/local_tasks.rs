//! Runs a request's dataloader batches in the request's own task.
//!
//! Dataloaders batch the keys requested before their batch starts. If batches ran as
//! separate runtime tasks, a batch's results could wake the request on another worker
//! thread while later results are still being delivered, so the next level's keys would
//! trickle in and split into several statements, more or fewer depending on load. Here
//! the batches and the request run in one task, and batches start in waves: the batches
//! queued while others are still loading wait until all of those have finished. So the
//! keys of a wave are exactly those its predecessor's results lead to, whatever the
//! timing of the database: one statement per loader per wave, every time.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
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
        let mut running = FuturesUnordered::new();
        std::future::poll_fn(move |cx| {
            self.poll_driven(&mut running, cx, |cx| work.as_mut().poll(cx))
        })
        .await
    }

    /// Drives `stream` (a subscription) together with every batch spawned while it runs.
    pub fn drive_stream<S: Stream + Unpin>(self, mut stream: S) -> impl Stream<Item = S::Item> {
        let mut running = FuturesUnordered::new();
        futures::stream::poll_fn(move |cx| {
            self.poll_driven(&mut running, cx, |cx| stream.poll_next_unpin(cx))
        })
    }

    /// Polls `work` after the running batches; a new wave starts only when the previous
    /// one has finished.
    fn poll_driven<T>(
        &self,
        running: &mut FuturesUnordered<BoxFuture<'static, ()>>,
        cx: &mut std::task::Context<'_>,
        mut work: impl FnMut(&mut std::task::Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.waker.register(cx.waker());
        loop {
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
            if let Poll::Ready(output) = work(cx) {
                return Poll::Ready(output);
            }
            if !running.is_empty() {
                // The next wave waits for this one to finish.
                return Poll::Pending;
            }
            let wave = self.take_queued();
            if wave.is_empty() {
                return Poll::Pending;
            }
            running.extend(wave);
        }
    }
}
