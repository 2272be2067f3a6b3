//! A request body streamed to its handler while it arrives: the connection pushes decoded
//! chunks, the handler takes them (`Request.read_chunk` on the event loop, or
//! `read_chunk_blocking` on a WSGI worker thread). A hosted ASGI or WSGI app reads a 1 GiB
//! upload through it in bounded memory: once [`CAPACITY`] bytes wait, the connection stops
//! reading the socket until the handler takes some, so TCP flow control slows the client.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// Bytes buffered before the connection waits for the handler: four 64 KiB reads, so a
/// reader that keeps up never stalls the socket, and a stalled one holds at most this (plus
/// one read) per request.
pub const CAPACITY: usize = 256 * 1024;

/// A wake-up the handler's side registers (an asyncio Future to resolve, in the bridge).
pub type Wake = Box<dyn FnOnce() + Send>;

/// What a read finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The next piece of the body.
    Data(Bytes),
    /// The body has ended (and will read as ended from now on).
    End,
    /// Nothing yet: register a wake-up and read again.
    Wait,
    /// The body will not complete: the client went away, or the body broke a limit or timed
    /// out (the connection answers the client itself).
    Cut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Cut,
}

struct Inner {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    state: State,
    /// The handler will read no more: the connection stops feeding.
    discarded: bool,
    on_chunk: Option<Wake>,
}

/// One request's body on its way to the handler.
pub struct BodyPipe {
    inner: Mutex<Inner>,
    /// Wakes a blocked `read_blocking`.
    ready: Condvar,
    /// Wakes the connection waiting for room.
    room: Notify,
}

impl Default for BodyPipe {
    fn default() -> Self {
        BodyPipe::new()
    }
}

fn call(w: Option<Wake>) {
    if let Some(w) = w {
        w();
    }
}

impl BodyPipe {
    /// An open, empty pipe.
    pub fn new() -> Self {
        BodyPipe {
            inner: Mutex::new(Inner {
                chunks: VecDeque::new(),
                buffered: 0,
                state: State::Open,
                discarded: false,
                on_chunk: None,
            }),
            ready: Condvar::new(),
            room: Notify::new(),
        }
    }

    /// A pipe holding a whole body already read (or none).
    pub fn complete(body: Bytes) -> Self {
        let pipe = BodyPipe::new();
        if !body.is_empty() {
            pipe.push(body);
        }
        pipe.finish();
        pipe
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, st: MutexGuard<'_, Inner>) {
        let wake = {
            let mut st = st;
            st.on_chunk.take()
        };
        self.ready.notify_all();
        call(wake);
    }

    // ---- the connection's side ----

    /// Queues a decoded chunk; false when the handler discarded the body (stop reading).
    pub fn push(&self, data: Bytes) -> bool {
        let mut st = self.lock();
        if st.discarded {
            return false;
        }
        st.buffered += data.len();
        st.chunks.push_back(data);
        self.settle(st);
        true
    }

    /// The body has ended.
    pub fn finish(&self) {
        let mut st = self.lock();
        if st.state == State::Open {
            st.state = State::Ended;
        }
        self.settle(st);
    }

    /// The body will not complete.
    pub fn cut(&self) {
        let mut st = self.lock();
        if st.state == State::Open {
            st.state = State::Cut;
            st.chunks.clear();
            st.buffered = 0;
        }
        self.settle(st);
    }

    /// Whether the connection may read more now: under [`CAPACITY`] waits, or the handler
    /// discarded the body (the caller then checks [`BodyPipe::push`]).
    pub fn has_room(&self) -> bool {
        let st = self.lock();
        st.discarded || st.buffered < CAPACITY
    }

    /// Waits until [`BodyPipe::has_room`].
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a read in between cannot be missed.
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the handler discarded the body.
    pub fn discarded(&self) -> bool {
        self.lock().discarded
    }

    // ---- the handler's side ----

    fn take(&self, st: &mut Inner) -> Chunk {
        if let Some(data) = st.chunks.pop_front() {
            let was_full = st.buffered >= CAPACITY;
            st.buffered -= data.len();
            if was_full && st.buffered < CAPACITY {
                self.room.notify_one();
            }
            return Chunk::Data(data);
        }
        match st.state {
            State::Open => Chunk::Wait,
            State::Ended => Chunk::End,
            State::Cut => Chunk::Cut,
        }
    }

    /// The next chunk, never waiting.
    pub fn read(&self) -> Chunk {
        let mut st = self.lock();
        self.take(&mut st)
    }

    /// Calls `wake` once [`BodyPipe::read`] would not answer `Wait` (at once if it would not
    /// now). One wake-up is kept; a new one replaces it.
    pub fn on_chunk(&self, wake: Wake) {
        let mut st = self.lock();
        if st.chunks.is_empty() && st.state == State::Open {
            st.on_chunk = Some(wake);
            return;
        }
        drop(st);
        wake();
    }

    /// The next chunk, waiting for it (never `Wait`): for a thread that may block.
    pub fn read_blocking(&self) -> Chunk {
        let mut st = self.lock();
        loop {
            match self.take(&mut st) {
                Chunk::Wait => {
                    st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                other => return other,
            }
        }
    }

    /// The handler reads no more: what is buffered is dropped, later reads find the body cut
    /// (unless it had ended), and the connection stops reading it (it then closes after its
    /// answer, the rest of the body unread).
    pub fn discard(&self) {
        let mut st = self.lock();
        st.discarded = true;
        if st.state == State::Open {
            st.state = State::Cut;
        }
        st.chunks.clear();
        st.buffered = 0;
        drop(st);
        self.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn chunks_then_end() {
        let p = BodyPipe::new();
        assert_eq!(p.read(), Chunk::Wait);
        assert!(p.push(Bytes::from_static(b"ab")));
        p.finish();
        assert_eq!(p.read(), Chunk::Data(Bytes::from_static(b"ab")));
        assert_eq!(p.read(), Chunk::End);
        assert_eq!(p.read(), Chunk::End);
    }

    #[test]
    fn complete_body_reads_at_once() {
        let p = BodyPipe::complete(Bytes::from_static(b"x"));
        assert_eq!(p.read(), Chunk::Data(Bytes::from_static(b"x")));
        assert_eq!(p.read(), Chunk::End);
        assert_eq!(BodyPipe::complete(Bytes::new()).read(), Chunk::End);
    }

    #[test]
    fn a_cut_drops_what_waits_and_reads_as_cut() {
        let p = BodyPipe::new();
        p.push(Bytes::from_static(b"ab"));
        p.cut();
        assert_eq!(p.read(), Chunk::Cut);
        // A later finish does not turn a cut body into a complete one.
        p.finish();
        assert_eq!(p.read(), Chunk::Cut);
    }

    #[test]
    fn wake_fires_on_the_next_chunk_or_at_once() {
        let hits = Arc::new(AtomicUsize::new(0));
        let p = BodyPipe::new();
        let h = hits.clone();
        p.on_chunk(Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        p.push(Bytes::from_static(b"a"));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let h = hits.clone();
        p.on_chunk(Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn room_runs_out_at_capacity_and_comes_back_on_read() {
        let p = BodyPipe::new();
        p.push(Bytes::from(vec![0; CAPACITY]));
        assert!(!p.has_room());
        assert!(matches!(p.read(), Chunk::Data(_)));
        assert!(p.has_room());
    }

    #[test]
    fn discard_stops_the_feeder() {
        let p = BodyPipe::new();
        p.push(Bytes::from(vec![0; CAPACITY]));
        p.discard();
        assert!(p.has_room());
        assert!(!p.push(Bytes::from_static(b"more")));
        assert!(p.discarded());
    }

    #[tokio::test(start_paused = true)]
    async fn room_wakes_the_waiting_connection() {
        let p = Arc::new(BodyPipe::new());
        p.push(Bytes::from(vec![0; CAPACITY]));
        let reader = p.clone();
        let waiter = tokio::spawn(async move { p.room().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(matches!(reader.read(), Chunk::Data(_)));
        waiter.await.unwrap();
    }

    #[test]
    fn a_blocked_thread_gets_the_chunk() {
        let p = Arc::new(BodyPipe::new());
        let q = p.clone();
        let t = std::thread::spawn(move || q.read_blocking());
        p.push(Bytes::from_static(b"z"));
        assert_eq!(t.join().unwrap(), Chunk::Data(Bytes::from_static(b"z")));
        let q = p.clone();
        let t = std::thread::spawn(move || (q.read_blocking(), q.read_blocking()));
        p.finish();
        assert_eq!(t.join().unwrap(), (Chunk::End, Chunk::End));
    }
}
