//! Keeps the wake-ups a task gives itself, while it polls an upstream
//! connection, inside that poll.
//!
//! A request's task polls both ends of hyper's client connection: the
//! connection itself and the handles through which the request goes in and
//! the response comes out. Each hand-off between them wakes the waker the
//! other end registered, which is the task's own. Tokio treats a task woken
//! while it runs as one that yielded: at the end of the poll it goes to the
//! back of the run queue and an idle worker is woken to steal it. On the
//! proxy benchmark's one-connection run that moved every request between
//! the two workers a few times (3.5–4.4 context switches per request against
//! 1.3 when a task of its own ran each connection; p50 latency 41–47 µs
//! against 27–31).
//!
//! Through a [`Relay`], a wake-up that arrives while the task is polling
//! only marks that one more round is due, and the task polls again before
//! it returns; one that arrives between polls (the socket became ready, as
//! the I/O driver says) wakes the task as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Not being polled: a wake-up goes to the task.
const IDLE: u8 = 0;
/// Being polled, no wake-up yet in this round.
const POLLING: u8 = 1;
/// Being polled, and woken during this round: another round is due.
const WOKEN: u8 = 2;

/// Rounds in one poll before the task yields to others the ordinary way,
/// so that a connection that keeps waking itself cannot hold a worker.
const MAX_ROUNDS: usize = 32;

/// The waker handed to the connection and its handles, and the task it
/// stands for.
pub(super) struct Relay {
    shared: Arc<Shared>,
    waker: Waker,
}

struct Shared {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Relay {
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(shared.clone());
        Self { shared, waker }
    }

    /// Polls `round` with the relay's waker until it is ready or a round
    /// passes without a wake-up.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut round: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let state = &self.shared.state;
        self.shared.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..MAX_ROUNDS {
            state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = round(&mut inner) {
                state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            if state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("state", &self.shared.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let marked =
            self.state
                .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire);
        if marked == Err(IDLE) {
            self.task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the wake-ups that reach the task.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_wake_during_the_poll_is_another_round_not_a_wake_of_the_task() {
        let (count, waker) = task();
        let relay = Relay::new();
        let mut rounds = 0;
        let out = relay.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            if rounds < 3 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(rounds)
        });
        assert_eq!(out, Poll::Ready(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_round_without_a_wake_ends_the_poll_and_a_later_wake_reaches_the_task() {
        let (count, waker) = task();
        let relay = Relay::new();
        let mut kept = None;
        let mut rounds = 0;
        let out: Poll<()> = relay.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        assert_eq!((out, rounds), (Poll::Pending, 1));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        kept.unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_poll_that_keeps_waking_itself_yields_to_the_task_after_its_rounds() {
        let (count, waker) = task();
        let relay = Relay::new();
        let mut rounds = 0;
        let out: Poll<()> = relay.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert_eq!((out, rounds), (Poll::Pending, MAX_ROUNDS));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_wake_from_another_thread_during_the_poll_is_not_lost() {
        let (count, waker) = task();
        let relay = Relay::new();
        let mut rounds = 0;
        let out = relay.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            if rounds == 1 {
                let w = cx.waker().clone();
                std::thread::spawn(move || w.wake()).join().unwrap();
                return Poll::Pending;
            }
            Poll::Ready(rounds)
        });
        assert_eq!(out, Poll::Ready(2));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
