//! The client's thread: a current-thread tokio runtime that runs every request, fed through
//! a channel from any thread and answering through a callback.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::conn::Conn;
use super::encode::encode;
use super::error::ClientError;
use super::pool::Pool;
use super::types::{ClientConfig, Request, Response};

/// Receives the outcome of a request, on the client thread.
pub type Callback = Box<dyn FnOnce(Result<Response, ClientError>) + Send>;

/// Runs the body of the client thread it is given (see [`ClientRuntime::with_hook`]).
pub type ThreadHook = Box<dyn FnOnce(Box<dyn FnOnce() + Send>) + Send>;

/// A callback that is called exactly once: with the outcome, or with
/// [`ClientError::Shutdown`] when its request is dropped unfinished (client closed).
struct Reply(Option<Callback>);

impl Reply {
    fn send(mut self, outcome: Result<Response, ClientError>) {
        if let Some(callback) = self.0.take() {
            callback(outcome);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            callback(Err(ClientError::Shutdown));
        }
    }
}

struct Job {
    request: Request,
    reply: Reply,
}

/// Bumped in every child after `fork`: the client thread does not exist there, so a runtime
/// created before the fork refuses requests (instead of queueing them forever) and is
/// never joined or torn down in the child (its sockets and epoll are the parent's too).
static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// An HTTP/1.1 client with a keep-alive pool, running on its own thread ("covetpy-client").
pub struct ClientRuntime {
    generation: u32,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pool: Arc<Pool>,
}

impl ClientRuntime {
    /// Starts the client thread.
    pub fn new(config: ClientConfig) -> io::Result<ClientRuntime> {
        Self::with_hook(config, None)
    }

    /// Starts the client thread, running its whole body inside `hook` (the Python bridge
    /// gives the thread one Python thread state for its lifetime: without it, every callback
    /// that takes the GIL creates and destroys one, an mmap and munmap per request).
    pub fn with_hook(config: ClientConfig, hook: Option<ThreadHook>) -> io::Result<ClientRuntime> {
        ATFORK.call_once(|| {
            // SAFETY: registers a handler that only touches an atomic, which is
            // async-signal-safe as a handler run in a forked child must be.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let pool = Arc::new(Pool::new(config.max_idle_per_host, config.idle_timeout));
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let max_body = config.max_body;
        let shared = Arc::clone(&pool);
        let thread = thread::Builder::new()
            .name("covetpy-client".into())
            .spawn(move || {
                let body = move || {
                    runtime.block_on(async move {
                        let reaper = tokio::spawn(reap(Arc::clone(&shared)));
                        while let Some(job) = rx.recv().await {
                            let pool = Arc::clone(&shared);
                            tokio::spawn(async move {
                                let outcome = send(&pool, job.request, max_body).await;
                                job.reply.send(outcome);
                            });
                        }
                        reaper.abort();
                        shared.clear();
                    });
                    // Requests still running are dropped here: their replies say Shutdown. A
                    // name lookup stuck on the blocking pool is not waited for.
                    runtime.shutdown_timeout(Duration::from_millis(100));
                };
                match hook {
                    Some(hook) => hook(Box::new(body)),
                    None => body(),
                }
            })?;
        Ok(ClientRuntime {
            generation: FORK_GENERATION.load(Ordering::Relaxed),
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            pool,
        })
    }

    /// Submits a request without waiting; `callback` runs on the client thread.
    pub fn submit(&self, request: Request, callback: Callback) {
        let reply = Reply(Some(callback));
        if self.forked() {
            return reply.send(Err(ClientError::Forked));
        }
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match jobs.as_ref() {
            // A send error hands the job back; dropping it answers Shutdown.
            Some(tx) => drop(tx.send(Job { request, reply })),
            None => {
                drop(jobs);
                reply.send(Err(ClientError::Shutdown));
            }
        }
    }

    /// Stops taking requests; the thread ends once its queue is empty, closing the idle
    /// connections and dropping requests in flight (answered with Shutdown). Does not wait; see [`ClientRuntime::join`].
    pub fn shutdown(&self) {
        if self.forked() {
            return;
        }
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// [`ClientRuntime::shutdown`], then waits for the thread to end. Idempotent. The caller
    /// must not hold anything the callbacks need (for the Python bridge: the GIL).
    pub fn close(&self) {
        if self.forked() {
            return;
        }
        self.shutdown();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// This process is a child forked after the runtime was created.
    fn forked(&self) -> bool {
        FORK_GENERATION.load(Ordering::Relaxed) != self.generation
    }

    /// Idle pooled connections to `authority`.
    pub fn idle_count(&self, authority: &str) -> usize {
        self.pool.idle_count(authority)
    }
}

impl Drop for ClientRuntime {
    /// Stops the thread without joining it: a callback still running may need a lock the
    /// dropping thread holds.
    fn drop(&mut self) {
        if self.forked() {
            // Dropping the sender would wake the parent's thread through the shared eventfd.
            std::mem::forget(
                self.jobs
                    .get_mut()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
            );
            std::mem::forget(
                self.thread
                    .get_mut()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
            );
            return;
        }
        self.shutdown();
    }
}

async fn reap(pool: Arc<Pool>) {
    let mut tick = tokio::time::interval(pool.reap_every());
    loop {
        tick.tick().await;
        pool.reap();
    }
}

/// Runs one request: on a pooled connection when there is one, else on a new one.
///
/// Retried once, on a new connection, in exactly one case: an idempotent method (RFC 9110
/// §9.2.2), the connection came from the pool, the request was written in full, and the
/// peer then closed or reset it before any byte of a response (`Failure::stale`). That is
/// the keep-alive race: the server closed the idle connection as the request was on its
/// way. A server that read the request and then closed looks the same, so a POST is never
/// resent: its caller decides (the mesh client's retry policy).
async fn send(pool: &Pool, request: Request, max_body: u64) -> Result<Response, ClientError> {
    let start = Instant::now();
    let deadline = request.timeout.map(|t| start + t);
    let connect_deadline = match (request.connect_timeout.map(|t| start + t), deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let encoded = encode(&request)?;
    let idempotent = matches!(
        &request.method[..],
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    );
    let mut may_reuse = true;
    loop {
        let pooled = if may_reuse {
            pool.checkout(&request.authority)
        } else {
            None
        };
        let mut conn = match pooled {
            Some(conn) => conn,
            None => Conn::connect(&request.authority, connect_deadline).await?,
        };
        match conn.exchange(&encoded, max_body, deadline).await {
            Ok((response, reusable)) => {
                if reusable {
                    pool.checkin(&request.authority, conn);
                }
                return Ok(response);
            }
            Err(failure) if failure.stale && conn.reused && may_reuse && idempotent => {
                may_reuse = false
            }
            Err(failure) => return Err(failure.error),
        }
    }
}
