//! The compute pool: CPU-bound work of the server (route searches, navigation reroutes, the
//! traffic dump) runs here, on its own threads, never on the async runtime that carries Raft's
//! heartbeats and RPCs, the websocket ingest and the acks. Its threads run at a lower scheduling
//! priority (nice +10), so on a busy box the runtime's threads win the CPU.
//!
//! Admission is bounded: at most `capacity` jobs are queued or running at once. HTTP requests use
//! [`ComputePool::try_run`], which refuses at once when the pool is full (the server answers
//! `503` with `Retry-After`); navigation sessions use [`ComputePool::run`], which waits for a
//! place, since a phone's session cannot be refused halfway.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not give its result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComputeError {
    #[error("the server is busy ({0} requests in progress); retry shortly")]
    Busy(usize),
    #[error("the computation failed: {0}")]
    Panicked(String),
}

/// Counters shown at `/metrics`.
#[derive(Debug, Default)]
pub struct ComputeStats {
    pub completed: AtomicU64,
    pub refused: AtomicU64,
}

pub struct ComputePool {
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    capacity: usize,
    threads: usize,
    pub stats: ComputeStats,
}

impl ComputePool {
    /// A pool of `threads` workers admitting at most `capacity` jobs queued or running.
    pub fn new(threads: usize, capacity: usize) -> Arc<Self> {
        let threads = threads.max(1);
        let capacity = capacity.max(threads);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("compute-{i}"))
                .spawn(move || {
                    route::priority::lower_this_thread();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .expect("spawning a compute thread");
        }
        Arc::new(ComputePool {
            jobs,
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            threads,
            stats: ComputeStats::default(),
        })
    }

    /// Threads as many as the machine has cores; room for eight jobs per thread.
    pub fn for_this_machine() -> Arc<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(threads, threads * 8)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs queued or running now.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// Runs `f` on the pool if it has room, else refuses at once with [`ComputeError::Busy`].
    pub async fn try_run<T, F>(&self, f: F) -> Result<T, ComputeError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => self.submit(permit, f).await,
            Err(_) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Err(ComputeError::Busy(self.capacity))
            }
        }
    }

    /// Runs `f` on the pool, waiting for room first.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ComputeError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ComputeError::Busy(self.capacity))?;
        self.submit(permit, f).await
    }

    async fn submit<T, F>(&self, permit: OwnedSemaphorePermit, f: F) -> Result<T, ComputeError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into())
            });
            drop(permit);
            let _ = tx.send(result);
        });
        if self.jobs.send(job).is_err() {
            return Err(ComputeError::Panicked(
                "the compute pool has stopped".into(),
            ));
        }
        let result = rx
            .await
            .map_err(|_| ComputeError::Panicked("the job was dropped".into()))?;
        self.stats.completed.fetch_add(1, Ordering::Relaxed);
        result.map_err(ComputeError::Panicked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_returns_their_results() {
        let pool = ComputePool::new(2, 4);
        let a = pool.try_run(|| 2 + 2).await.unwrap();
        let b = pool.run(|| "x".repeat(3)).await.unwrap();
        assert_eq!((a, b.as_str()), (4, "xxx"));
        assert_eq!(pool.in_flight(), 0);
    }

    #[tokio::test]
    async fn refuses_when_full_and_admits_again_after() {
        let pool = ComputePool::new(1, 2);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let mut held = Vec::new();
        for _ in 0..2 {
            let (pool, wait) = (pool.clone(), wait.clone());
            held.push(tokio::spawn(async move {
                pool.try_run(move || wait.lock().unwrap().recv().ok())
                    .await
                    .is_ok()
            }));
        }
        while pool.in_flight() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.try_run(|| 1).await, Err(ComputeError::Busy(2)));
        assert_eq!(pool.stats.refused.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        release.send(()).unwrap();
        for h in held {
            assert!(h.await.unwrap());
        }
        assert_eq!(pool.try_run(|| 1).await, Ok(1));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_dead_pool() {
        let pool = ComputePool::new(1, 1);
        let r = pool.try_run(|| -> u32 { panic!("boom") }).await;
        assert_eq!(r, Err(ComputeError::Panicked("boom".into())));
        assert_eq!(pool.try_run(|| 7).await, Ok(7));
    }
}
