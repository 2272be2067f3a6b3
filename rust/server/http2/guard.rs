//! A watch on the frames a client sends, under the `h2` crate: `protocol::h2::scan` reads each
//! frame header as the bytes go by (floods, CONTINUATION past the bound, the frame errors the
//! crate answers with another code). When it trips, the connection is told to end with the
//! GOAWAY code it gives; reads stop meanwhile, so nothing more is buffered.
//!
//! The `h2` crate bounds what it decodes (header list size, concurrent streams, resets of
//! streams not yet accepted) but answers every PING and SETTINGS frame and takes empty frames
//! for free; this is the rest, at the cost of reading 9 bytes per frame again.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use h2::Reason;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::protocol::h2::scan::{Scanner, Trip};

/// Why a connection is to end, shared by the guard and the connection's loop.
#[derive(Default)]
pub struct Alarm {
    raised: Cell<Option<Trip>>,
    notify: Notify,
}

impl Alarm {
    /// Raises the alarm with what the client did and the code of the GOAWAY.
    pub fn raise(&self, why: &'static str, code: Reason) {
        if self.raised.get().is_none() {
            self.raised.set(Some((why, code)));
            self.notify.notify_one();
        }
    }

    /// What the client did, once raised.
    pub fn raised(&self) -> Option<Trip> {
        self.raised.get()
    }

    /// Waits until raised.
    pub async fn wait(&self) -> Trip {
        loop {
            if let Some(why) = self.raised.get() {
                return why;
            }
            self.notify.notified().await;
        }
    }
}

/// The connection's stream, watched on the way in.
pub struct Guard<IO> {
    io: IO,
    scan: Scanner,
    alarm: Rc<Alarm>,
}

impl<IO> Guard<IO> {
    /// Watches `io`; `preface` tells whether the client preface comes first on it (it does
    /// unless it was already read off), `max_header_list` bounds a header block's compressed
    /// size (what HPACK decodes is bounded by the `h2` crate itself).
    pub fn new(io: IO, preface: bool, max_header_list: u32, alarm: Rc<Alarm>) -> Self {
        Guard {
            io,
            // HPACK at its worst (literals with a 1-byte name, no Huffman) is about the size
            // it decodes to; twice the limit leaves room for framing and padding.
            scan: Scanner::new(
                preface,
                (max_header_list as usize).saturating_mul(2).max(32 * 1024),
            ),
            alarm,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.alarm.raised().is_some() {
            // The loop is ending the connection: read nothing more.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut me.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if let Err((why, code)) = me.scan.feed(&buf.filled()[before..]) {
                me.alarm.raise(why, code);
                // What was read stays unread by the `h2` crate.
                buf.set_filled(before);
                return Poll::Pending;
            }
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
