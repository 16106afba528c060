//! The queue between callers and the writer thread.
//!
//! A lock, a deque and one condition variable, with a twist: a caller wakes
//! the writer only when the writer is waiting for what the caller brings
//! (anything at all when idle; the N-th caller of a group commit). A batch
//! of eight callers then costs the writer one wake-up instead of eight,
//! which matters in a VM, where a wake-up costs a good part of a disk sync.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
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
    /// to `gather` more until `target` appends are queued (not when a
    /// checkpoint is asked for: its caller is waiting). Takes what is queued.
    pub fn take(&self, idle: Duration, target: usize, gather: Duration) -> Taken {
        let mut st = self.state.lock().expect("queue lock");
        let deadline = Instant::now() + idle;
        while st.reqs.is_empty() {
            if st.closed {
                return Taken::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Taken::Timeout;
            }
            st.wake_at = 1;
            st = self.cv.wait_timeout(st, left).expect("queue lock").0;
        }
        let deadline = Instant::now() + gather;
        while st.appends < target && st.checkpoints == 0 && !st.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st.wake_at = target;
            st = self.cv.wait_timeout(st, left).expect("queue lock").0;
        }
        st.wake_at = 0;
        let mut batch = Vec::new();
        let mut events = 0;
        while let Some(req) = st.reqs.pop_front() {
            match &req {
                Request::Append { tails, .. } => {
                    events += tails.len();
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
}
