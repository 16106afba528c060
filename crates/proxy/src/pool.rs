//! Keep-alive connections to upstreams, driven by the task of the request
//! that uses them.
//!
//! A pooled client that runs each connection on a task of its own pays two
//! hand-offs between tasks per request (the request to the connection's
//! task, the response back) and its pool's bookkeeping. Here a request takes
//! an idle connection for its destination (or opens one through the
//! [`Connector`]: resolution, the internal-address guard, TLS), and its own
//! task polls the connection while the request is sent, while the response
//! head is awaited, and, through [`DrivenBody`], while the body is read. When
//! the body has been read to its end the connection goes back to the pool;
//! a body dropped earlier takes its connection with it. One request at a
//! time per connection, as HTTP/1.1 without pipelining has it.
//!
//! The connection and its handles are polled through a [`wakes::Relay`], so
//! that the wake-ups they give each other stay inside the task's poll
//! instead of sending the task through the scheduler (why that matters is
//! in [`wakes`]).
//!
//! Measured against hyper-util's pooled client on the proxy benchmark, six
//! alternated pairs of 4-second runs: durable-audit requests per second
//! +7.5 % at the median (+4 % to +19 %, every pair faster), no-op sink
//! within the noise, one-connection latency unchanged
//! (docs/benchmarks.md, access proxy).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::upstream::{BoxError, Conn, ConnectError, Connector, ProxyBody};

mod wakes;

use wakes::Relay;

/// Idle connections kept per destination.
const MAX_IDLE_PER_DESTINATION: usize = 256;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often idle connections of every destination are looked over.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

type Connection = http1::Connection<TokioIo<Conn>, ProxyBody>;
type IncomingFrame = Result<Frame<Bytes>, hyper::Error>;

/// A connection, the handle requests are sent through, and the waker both
/// are polled with (see [`wakes`]).
struct Driven {
    tx: http1::SendRequest<ProxyBody>,
    conn: Pin<Box<Connection>>,
    wakes: Relay,
}

impl Driven {
    /// Polls the connection; `true` once it has ended (closed or failed).
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> bool {
        let conn = &mut self.conn;
        self.wakes
            .poll(cx, |cx| conn.as_mut().poll(cx).map(|_| ()))
            .is_ready()
    }

    /// Polls the response `body` for a frame, driving the connection that
    /// delivers it; also says whether the connection has ended.
    fn poll_body(
        &mut self,
        body: &mut Incoming,
        cx: &mut Context<'_>,
    ) -> (Poll<Option<IncomingFrame>>, bool) {
        let Self { conn, wakes, .. } = self;
        let mut ended = false;
        let frame = wakes.poll(cx, |cx| {
            // The body first: asking for a frame is what lets the
            // connection read one.
            if let Poll::Ready(frame) = Pin::new(&mut *body).poll_frame(cx) {
                return Poll::Ready(frame);
            }
            if !ended && conn.as_mut().poll(cx).is_ready() {
                ended = true;
            }
            Pin::new(&mut *body).poll_frame(cx)
        });
        (frame, ended)
    }

    /// Drives the connection until it can take a request; `false` if it
    /// ended instead (the upstream closed it while idle).
    async fn ready(&mut self) -> bool {
        let Self { tx, conn, wakes } = self;
        std::future::poll_fn(|cx| {
            wakes.poll(cx, |cx| {
                if conn.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                tx.poll_ready(cx).map(|r| r.is_ok())
            })
        })
        .await
    }
}

/// `https` or not, and `host:port`.
type Destination = (bool, String);

struct Idle {
    driven: Driven,
    since: Instant,
}

#[derive(Default)]
struct IdleSet {
    by_destination: HashMap<Destination, Vec<Idle>>,
    swept: Option<Instant>,
}

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made.
    #[error("cannot connect: {0}")]
    Connect(#[source] ConnectError),
    /// The connection failed while sending or before the response head.
    #[error("{0}")]
    Http(#[source] hyper::Error),
    /// The request's URI names no host.
    #[error("no host to connect to")]
    NoHost,
}

/// Connections to upstreams of one trust setting (see [`crate::upstream`]).
pub(crate) struct Pool {
    connector: Connector,
    idle: Mutex<IdleSet>,
}

impl Pool {
    pub fn new(connector: Connector) -> Arc<Self> {
        Arc::new(Self {
            connector,
            idle: Mutex::default(),
        })
    }

    /// Sends `request` (absolute URI) on a kept connection to its
    /// destination, or a new one, and returns the response whose body
    /// drives the connection until it has been read.
    pub async fn request(
        self: &Arc<Self>,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<DrivenBody>, SendError> {
        let uri = request.uri().clone();
        let dest = destination(&uri)?;
        *request.uri_mut() = origin_form(&uri);
        // A kept connection the upstream closed just as the request went
        // out gives the request back unsent; it then goes on another.
        while let Some(mut driven) = self.take_idle(&dest).await {
            match send(&mut driven, request).await {
                Ok(resp) => return Ok(self.wrap(resp, driven, dest)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(e.into_error())),
                },
            }
        }
        // Boxed: a new connection is the rare case, and its future (the
        // resolution, the guard and TLS) would otherwise take room in every
        // request's state.
        let mut driven = Box::pin(self.connect(&uri)).await?;
        match send(&mut driven, request).await {
            Ok(resp) => Ok(self.wrap(resp, driven, dest)),
            Err(e) => Err(SendError::Http(e.into_error())),
        }
    }

    fn wrap(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        driven: Driven,
        dest: Destination,
    ) -> Response<DrivenBody> {
        resp.map(|inner| DrivenBody {
            inner,
            driven: Some(driven),
            home: Some((Arc::downgrade(self), dest)),
        })
    }

    async fn connect(&self, uri: &Uri) -> Result<Driven, SendError> {
        let io = self
            .connector
            .clone()
            .connect(uri.clone())
            .await
            .map_err(SendError::Connect)?;
        let (tx, conn) = http1::handshake(io).await.map_err(SendError::Http)?;
        Ok(Driven {
            tx,
            conn: Box::pin(conn),
            wakes: Relay::new(),
        })
    }

    /// The most recently parked connection to `dest` that still works.
    async fn take_idle(&self, dest: &Destination) -> Option<Driven> {
        loop {
            let idle = {
                let mut set = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                set.by_destination.get_mut(dest)?.pop()?
            };
            if idle.since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            let mut driven = idle.driven;
            if driven.ready().await {
                return Some(driven);
            }
        }
    }

    fn put(&self, dest: Destination, driven: Driven) {
        let mut set = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if set
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            set.swept = Some(now);
            set.by_destination.retain(|_, list| {
                list.retain(|i| now.duration_since(i.since) <= IDLE_TIMEOUT);
                !list.is_empty()
            });
        }
        let list = set.by_destination.entry(dest).or_default();
        if list.len() < MAX_IDLE_PER_DESTINATION {
            list.push(Idle { driven, since: now });
        }
    }
}

/// Sends `request` on `driven` and drives the connection until the
/// response head arrives.
async fn send(
    driven: &mut Driven,
    request: Request<ProxyBody>,
) -> Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<ProxyBody>>> {
    let Driven { tx, conn, wakes } = driven;
    let mut request = Some(request);
    let mut response = std::pin::pin!(None);
    std::future::poll_fn(|cx| {
        wakes.poll(cx, |cx| {
            // Handing the request over wakes the connection: inside the
            // relay's poll, so that the wake-up is a round, not a yield.
            if let Some(request) = request.take() {
                response.set(Some(tx.try_send_request(request)));
            }
            // The connection's own end shows up as the response's error.
            let _ = conn.as_mut().poll(cx);
            match response.as_mut().as_pin_mut() {
                Some(response) => response.poll(cx),
                None => unreachable!("the request is sent in the first round"),
            }
        })
    })
    .await
}

fn destination(uri: &Uri) -> Result<Destination, SendError> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or(SendError::NoHost)?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok((https, format!("{host}:{port}")))
}

/// `/path?query` of an absolute URI: what HTTP/1.1 sends to an origin.
fn origin_form(uri: &Uri) -> Uri {
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    pq.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

/// A response body that drives its connection while it is read, and hands
/// the connection back to its pool when read to the end.
pub(crate) struct DrivenBody {
    inner: Incoming,
    driven: Option<Driven>,
    home: Option<(Weak<Pool>, Destination)>,
}

impl std::fmt::Debug for DrivenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenBody")
            .field("kept", &self.driven.is_some())
            .finish_non_exhaustive()
    }
}

impl DrivenBody {
    /// Gives the connection back, once it has seen the end of the exchange
    /// (one more poll, so that the next request finds it ready).
    fn release(&mut self, cx: &mut Context<'_>) {
        if let (Some(mut driven), Some((pool, dest))) = (self.driven.take(), self.home.take())
            && !driven.poll_conn(cx)
            && let Some(pool) = pool.upgrade()
        {
            pool.put(dest, driven);
        }
    }
}

impl Body for DrivenBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(match this.driven.as_mut() {
            Some(driven) => {
                let (frame, ended) = driven.poll_body(&mut this.inner, cx);
                if ended {
                    // What it delivered is still read, but it is not kept.
                    this.driven = None;
                }
                frame
            }
            None => Pin::new(&mut this.inner).poll_frame(cx),
        });
        match &frame {
            None => this.release(cx),
            Some(Ok(_)) if this.inner.is_end_stream() => this.release(cx),
            Some(Err(_)) => this.driven = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    use super::*;
    use crate::config::ProxyConfig;
    use crate::upstream::Upstreams;

    /// An HTTP/1.1 upstream answering `body` to every request; it counts
    /// the connections it accepted and, with `close_after_one`, closes each
    /// connection after its first exchange while still saying keep-alive.
    async fn upstream(body: &'static [u8], close_after_one: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(body))))
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc);
                    if close_after_one {
                        // Long enough for one exchange, then the socket goes.
                        let _ = tokio::time::timeout(Duration::from_millis(200), conn).await;
                    } else {
                        let _ = conn.await;
                    }
                });
            }
        });
        (url, accepted)
    }

    fn pool() -> Arc<Pool> {
        Upstreams::new(&ProxyConfig::default())
            .unwrap()
            .registered(None)
            .unwrap()
    }

    fn get(url: &str) -> Request<ProxyBody> {
        let body = http_body_util::Empty::<Bytes>::new().map_err(|n| match n {});
        Request::get(url).body(ProxyBody::new(body)).unwrap()
    }

    async fn read(pool: &Arc<Pool>, url: &str) -> Bytes {
        let resp = pool.request(get(url)).await.unwrap();
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_is_used_again() {
        let (url, accepted) = upstream(b"hello", false).await;
        let pool = pool();
        for _ in 0..5 {
            assert_eq!(read(&pool, &url).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_unread_takes_its_connection_with_it() {
        let (url, accepted) = upstream(b"hello", false).await;
        let pool = pool();
        drop(pool.request(get(&url)).await.unwrap());
        assert_eq!(read(&pool, &url).await, "hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_while_idle_is_replaced() {
        let (url, accepted) = upstream(b"hello", true).await;
        let pool = pool();
        assert_eq!(read(&pool, &url).await, "hello");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(read(&pool, &url).await, "hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// Counts the wake-ups a future gives its own task while it is polled.
    struct SelfWakes {
        task: std::task::Waker,
        polling: std::sync::atomic::AtomicBool,
        count: Arc<AtomicUsize>,
    }

    impl std::task::Wake for SelfWakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            if self.polling.load(Ordering::SeqCst) {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
            self.task.wake_by_ref();
        }
    }

    /// Runs `fut`, counting the wake-ups it gives itself (see [`wakes`]).
    async fn self_wakes<T>(fut: impl Future<Output = T>) -> (T, usize) {
        let count = Arc::new(AtomicUsize::new(0));
        let mut fut = std::pin::pin!(fut);
        let out = std::future::poll_fn(|cx| {
            let probe = Arc::new(SelfWakes {
                task: cx.waker().clone(),
                polling: true.into(),
                count: count.clone(),
            });
            let waker = std::task::Waker::from(probe.clone());
            let out = fut.as_mut().poll(&mut Context::from_waker(&waker));
            probe.polling.store(false, Ordering::SeqCst);
            out
        })
        .await;
        (out, count.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn an_exchange_never_wakes_its_own_task() {
        let (url, accepted) = upstream(b"hello", false).await;
        let pool = pool();
        for _ in 0..3 {
            let (body, wakes) = self_wakes(read(&pool, &url)).await;
            assert_eq!(body, "hello");
            assert_eq!(wakes, 0, "each is a trip through the scheduler");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_go_out_in_origin_form() {
        let uri: Uri = "http://example.test:8080/a/b?c=d".parse().unwrap();
        assert_eq!(origin_form(&uri), "/a/b?c=d");
        assert_eq!(
            destination(&uri).unwrap(),
            (false, "example.test:8080".to_owned())
        );
        let tls: Uri = "https://example.test/".parse().unwrap();
        assert_eq!(
            destination(&tls).unwrap(),
            (true, "example.test:443".to_owned())
        );
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = pool()
            .request(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Connect(_)), "{err}");
    }
}
