//! Criterion bench behind adrs/0014: reading client frames into whole messages, our reader
//! (tungstenite's frame header, our message layer) against tungstenite's own `WebSocket`
//! driven sans-IO over an in-memory stream. `cargo bench --bench ws_read` (`make bench-rust`).

use std::io::{self, Cursor, Read, Write};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use _core::protocol::ws::{Incoming, Reader};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

/// `n` masked text frames of `size` bytes, as a client sends them.
fn frames(n: usize, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(0x81);
        match size {
            s if s < 126 => out.push(0x80 | s as u8),
            s => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(s as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    }
    out
}

/// A socket that reads from a buffer and swallows writes; WouldBlock at the end.
struct Memory(Cursor<Vec<u8>>);

impl Read for Memory {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read(c: &mut Criterion) {
    const N: usize = 1000;
    for size in [64usize, 1024, 16 * 1024] {
        let wire = frames(N, size);
        let mut g = c.benchmark_group(format!("ws_read_{size}B"));
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("covetpy", |b| {
            b.iter(|| {
                let mut r = Reader::new(1 << 20, None);
                let mut buf = BytesMut::from(&wire[..]);
                let mut got = 0;
                while let Ok(Some(Incoming::Message(_, m))) = r.next(&mut buf) {
                    got += m.len();
                }
                assert_eq!(got, N * size);
            })
        });
        g.bench_function("tungstenite", |b| {
            b.iter(|| {
                let stream = Memory(Cursor::new(wire.clone()));
                let mut ws = WebSocket::from_raw_socket(
                    stream,
                    Role::Server,
                    Some(WebSocketConfig::default()),
                );
                let mut got = 0;
                while let Ok(m) = ws.read() {
                    got += m.len();
                }
                assert_eq!(got, N * size);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, read);
criterion_main!(benches);
