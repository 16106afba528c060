//! The queue between callers and the writer thread.
//!
//! A lock, a deque and one condition variable, with a twist: a caller wakes
//! the writer only when the writer is waiting for what the caller brings
//! (anything at all when idle; the N-th caller of a group commit). A batch
//! of eight callers then costs the writer one wake-up instead of eight,
//! which matters in a VM, where a wake-up costs a good part of a disk sync.
//! When the callers are threads, the writer gathers a group without
//! sleeping at all (see [`Gather::yielding`]).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::AuditError;
use crate::writer::Request;

/// Most events taken for one commit; bounds latency and memory.
const MAX_BATCH: usize = 8192;

#[derive(Default)]
struct State {
    reqs: VecDeque<Request>,
    /// Append requests queued.
    appends: usize,
    /// Checkpoint requests queued.
    checkpoints: usize,
    /// The writer sleeps until this many appends are queued (0: awake).
    wake_at: usize,
    closed: bool,
}

/// What [`Queue::take`] returns.
pub(crate) enum Taken {
    /// Requests to handle together.
    Batch(Vec<Request>),
    /// Nothing arrived in time.
    Timeout,
    /// Closed, and everything queued was taken.
    Closed,
}

/// How the writer gathers a group commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gather {
    /// Appends to wait for.
    pub target: usize,
    /// For at most this long.
    pub wait: Duration,
    /// Yield the CPU while waiting instead of sleeping: the callers are
    /// threads, each being woken by its last acknowledgement, and the
    /// writer's own wake-up would come on top of theirs. When recent batches
    /// held several callers, the first of the next group is waited for the
    /// same way.
    pub yielding: bool,
}

impl Gather {
    /// Take what is queued, without waiting for more.
    pub const NONE: Self = Self {
        target: 1,
        wait: Duration::ZERO,
        yielding: false,
    };
}

/// The request queue.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    cv: Condvar,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue")
    }
}

impl Queue {
    /// Queues a request; Err once the log is closing.
    pub fn push(&self, req: Request) -> Result<(), AuditError> {
        let mut st = self.state.lock().expect("queue lock");
        if st.closed {
            return Err(AuditError::Closed);
        }
        match req {
            Request::Append { .. } => st.appends += 1,
            Request::Checkpoint { .. } => st.checkpoints += 1,
        }
        st.reqs.push_back(req);
        let wanted = st.wake_at > 0 && (st.appends >= st.wake_at || st.checkpoints > 0);
        if wanted {
            st.wake_at = 0;
            drop(st);
            self.cv.notify_one();
        }
        Ok(())
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.state.lock().expect("queue lock").reqs.is_empty()
    }

    /// Stops accepting requests; the writer takes what is queued, then stops.
    pub fn close(&self) {
        self.state.lock().expect("queue lock").closed = true;
        self.cv.notify_one();
    }

    /// Waits up to `idle` for a first request; then, for a group commit, up
    /// to `gather.wait` more until `gather.target` appends are queued (not
    /// when a checkpoint is asked for: its caller is waiting). Takes what is
    /// queued.
    pub fn take(&self, idle: Duration, gather: Gather) -> Taken {
        let mut st = self.state.lock().expect("queue lock");
        let empty = |st: &State| st.reqs.is_empty() && !st.closed;
        if gather.yielding && gather.target > 1 {
            st = self.yield_while(st, Instant::now() + gather.wait, empty);
        }
        st = self.sleep_while(st, Instant::now() + idle, 1, empty);
        if st.reqs.is_empty() {
            return if st.closed {
                Taken::Closed
            } else {
                Taken::Timeout
            };
        }
        let deadline = Instant::now() + gather.wait;
        let gathering =
            |st: &State| st.appends < gather.target && st.checkpoints == 0 && !st.closed;
        st = if gather.yielding {
            self.yield_while(st, deadline, gathering)
        } else {
            self.sleep_while(st, deadline, gather.target, gathering)
        };
        let mut batch = Vec::new();
        let mut events = 0;
        while let Some(req) = st.reqs.pop_front() {
            match &req {
                Request::Append { prepared, .. } => {
                    events += prepared.len();
                    st.appends -= 1;
                }
                Request::Checkpoint { .. } => st.checkpoints -= 1,
            }
            batch.push(req);
            if events >= MAX_BATCH {
                break;
            }
        }
        Taken::Batch(batch)
    }

    /// Sleeps while `pending` holds, up to `deadline`, asking to be woken by
    /// the push that makes `wake_at` appends queued (or any checkpoint).
    fn sleep_while<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        wake_at: usize,
        pending: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while pending(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st.wake_at = wake_at;
            st = self.cv.wait_timeout(st, left).expect("queue lock").0;
        }
        st.wake_at = 0;
        st
    }

    /// Yields the CPU, lock released, while `pending` holds, up to `deadline`.
    fn yield_while<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        pending: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while pending(&st) && Instant::now() < deadline {
            drop(st);
            std::thread::yield_now();
            st = self.state.lock().expect("queue lock");
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::writer::Reply;

    fn append() -> Request {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let ev = crate::AuditEvent::new(crate::EventCode::UserLogin);
        Request::Append {
            prepared: vec![crate::writer::Prepared {
                tail: b"{}".to_vec(),
                searchable: crate::event::Searchable::of(&ev),
            }],
            reply: Reply::Blocking(tx),
        }
    }

    fn gather(target: usize, wait_ms: u64, yielding: bool) -> Gather {
        Gather {
            target,
            wait: Duration::from_millis(wait_ms),
            yielding,
        }
    }

    fn batch_len(taken: Taken) -> usize {
        match taken {
            Taken::Batch(reqs) => reqs.len(),
            Taken::Timeout => panic!("timed out"),
            Taken::Closed => panic!("closed"),
        }
    }

    /// Pushes `n` appends from another thread after `after`.
    fn push_later(q: &Arc<Queue>, n: usize, after: Duration) -> std::thread::JoinHandle<()> {
        let q = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            for _ in 0..n {
                q.push(append()).unwrap();
            }
        })
    }

    #[test]
    fn a_gathering_group_is_taken_whole_whether_the_writer_sleeps_or_yields() {
        for yielding in [false, true] {
            let q = Arc::new(Queue::default());
            q.push(append()).unwrap();
            let late = push_later(&q, 3, Duration::from_millis(2));
            let taken = q.take(Duration::from_secs(5), gather(4, 2_000, yielding));
            assert_eq!(batch_len(taken), 4, "yielding: {yielding}");
            late.join().unwrap();
        }
    }

    #[test]
    fn gathering_gives_up_after_its_wait() {
        for yielding in [false, true] {
            let q = Queue::default();
            q.push(append()).unwrap();
            let started = Instant::now();
            let taken = q.take(Duration::from_secs(5), gather(4, 20, yielding));
            assert_eq!(batch_len(taken), 1);
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(20), "{took:?}");
            assert!(took < Duration::from_secs(5), "{took:?}");
        }
    }

    #[test]
    fn a_group_that_starts_after_the_writer_waits_is_taken_whole() {
        let q = Arc::new(Queue::default());
        let late = push_later(&q, 2, Duration::from_millis(2));
        let taken = q.take(Duration::from_secs(5), gather(2, 2_000, true));
        assert_eq!(batch_len(taken), 2);
        late.join().unwrap();
    }

    #[test]
    fn an_idle_writer_times_out_and_a_closed_queue_says_so() {
        let q = Queue::default();
        let taken = q.take(Duration::from_millis(5), gather(2, 5, true));
        assert!(matches!(taken, Taken::Timeout));
        q.close();
        assert!(matches!(
            q.take(Duration::from_secs(5), Gather::NONE),
            Taken::Closed
        ));
        assert!(q.push(append()).is_err());
    }
}
