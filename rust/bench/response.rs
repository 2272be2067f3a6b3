//! Sans-IO reading of HTTP/1.1 responses on a keep-alive connection: the head with
//! `httparse`, then the body framed by Content-Length, chunked coding or the connection's end
//! (RFC 9112 §6.3). Bodies are skipped, not kept: only the status and the framing matter here.
//!
//! The caller owns the buffer. [`Parser::advance`] consumes a prefix of what has been read and
//! says when a response is complete; input may be split anywhere, and one read may hold the
//! tail of one response and several pipelined ones after it.

/// Headers a response head may carry before it is refused.
const MAX_HEADERS: usize = 64;

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// The status code.
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// A response the parser cannot frame; the connection is unusable after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

/// What one call to [`Parser::advance`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input consumed; the caller drops them.
    pub used: usize,
    /// Set when a response ended within those bytes.
    pub done: Option<Done>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of a chunk size.
    Size {
        size: u64,
        digits: u8,
    },
    /// Chunk extension after `;`: skipped to the CR.
    Ext {
        size: u64,
    },
    /// The LF ending a size line.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to skip.
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// Start of a trailer field line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line: skipped to its LF.
    Trailer,
    /// The LF of the final empty line.
    FinalLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length {
        left: u64,
        done: Done,
    },
    Chunked {
        chunk: Chunk,
        done: Done,
    },
    /// No framing: the body runs to the end of the connection.
    UntilClose {
        done: Done,
    },
}

/// Reads a stream of responses. `head_only` is set for HEAD requests, whose responses have no
/// body whatever their headers say (RFC 9110 §9.3.2).
#[derive(Debug)]
pub struct Parser {
    state: State,
    head_only: bool,
}

impl Parser {
    /// A parser at the start of a response.
    pub fn new(head_only: bool) -> Parser {
        Parser {
            state: State::Head,
            head_only,
        }
    }

    /// Consumes bytes of `buf` up to the end of at most one response. `used == 0` with no
    /// response means more input is needed.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Step, ParseError> {
        match self.state {
            State::Head => self.head(buf),
            State::Length { left, done } => {
                let take = left.min(buf.len() as u64);
                if take == left {
                    self.state = State::Head;
                    Ok(Step {
                        used: take as usize,
                        done: Some(done),
                    })
                } else {
                    self.state = State::Length {
                        left: left - take,
                        done,
                    };
                    Ok(Step {
                        used: take as usize,
                        done: None,
                    })
                }
            }
            State::Chunked { chunk, done } => {
                let (used, chunk) = chunked(chunk, buf)?;
                match chunk {
                    None => {
                        self.state = State::Head;
                        Ok(Step {
                            used,
                            done: Some(done),
                        })
                    }
                    Some(chunk) => {
                        self.state = State::Chunked { chunk, done };
                        Ok(Step { used, done: None })
                    }
                }
            }
            State::UntilClose { .. } => Ok(Step {
                used: buf.len(),
                done: None,
            }),
        }
    }

    /// The connection ended: completes a response framed by the close, or reports a
    /// truncated one. `Ok(None)` when it ended between responses.
    pub fn eof(&mut self) -> Result<Option<Done>, ParseError> {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Head => Ok(None),
            State::UntilClose { done } => Ok(Some(done)),
            _ => Err(ParseError("connection closed inside a response body")),
        }
    }

    fn head(&mut self, buf: &[u8]) -> Result<Step, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Ok(Step {
                    used: 0,
                    done: None,
                })
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError("too many headers")),
            Err(_) => return Err(ParseError("malformed response head")),
        };
        let status = response.code.unwrap_or(0);
        // 1xx heads precede the final response (RFC 9110 §15.2); 101 would switch protocols,
        // which no request of ours asks for.
        if (100..200).contains(&status) && status != 101 {
            return Ok(Step { used, done: None });
        }
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = response.version == Some(0);
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(ParseError("bad content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ParseError("conflicting content-length"));
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // Chunked must be the last coding (RFC 9112 §6.3 item 4).
                chunked = h
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                if !chunked {
                    return Err(ParseError("transfer-encoding without chunked"));
                }
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            }
        }
        let done = Done { status, close };
        let bodiless = self.head_only || status == 204 || status == 304 || status == 101;
        self.state = if bodiless {
            return Ok(Step {
                used,
                done: Some(done),
            });
        } else if chunked {
            State::Chunked {
                chunk: Chunk::Size { size: 0, digits: 0 },
                done,
            }
        } else if let Some(left) = length {
            if left == 0 {
                return Ok(Step {
                    used,
                    done: Some(done),
                });
            }
            State::Length { left, done }
        } else {
            State::UntilClose {
                done: Done {
                    close: true,
                    ..done
                },
            }
        };
        Ok(Step { used, done: None })
    }
}

/// Runs the chunked-body state machine over `buf`: bytes used, and the next state, or `None`
/// when the body (with its trailers) ended. Framing bytes go one at a time; data is skipped
/// in one step.
fn chunked(mut state: Chunk, buf: &[u8]) -> Result<(usize, Option<Chunk>), ParseError> {
    let mut i = 0;
    while i < buf.len() {
        if let Chunk::Data { left } = state {
            let take = left.min((buf.len() - i) as u64);
            i += take as usize;
            state = if take == left {
                Chunk::DataCr
            } else {
                Chunk::Data { left: left - take }
            };
            continue;
        }
        let b = buf[i];
        i += 1;
        state = match state {
            Chunk::Size { size, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits == 15 {
                        return Err(ParseError("chunk size too large"));
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    Chunk::Size {
                        size: size * 16 + d,
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err(ParseError("bad chunk size")),
                b';' | b' ' | b'\t' => Chunk::Ext { size },
                b'\r' => Chunk::SizeLf { size },
                _ => return Err(ParseError("bad chunk size")),
            },
            Chunk::Ext { size } => match b {
                b'\r' => Chunk::SizeLf { size },
                b'\n' => return Err(ParseError("bare LF in chunk extension")),
                _ => Chunk::Ext { size },
            },
            Chunk::SizeLf { size } => match (b, size) {
                (b'\n', 0) => Chunk::TrailerStart,
                (b'\n', left) => Chunk::Data { left },
                _ => return Err(ParseError("expected LF after chunk size")),
            },
            Chunk::Data { .. } => unreachable!("handled above"),
            Chunk::DataCr if b == b'\r' => Chunk::DataLf,
            Chunk::DataLf if b == b'\n' => Chunk::Size { size: 0, digits: 0 },
            Chunk::DataCr | Chunk::DataLf => {
                return Err(ParseError("chunk data not followed by CRLF"))
            }
            Chunk::TrailerStart if b == b'\r' => Chunk::FinalLf,
            Chunk::TrailerStart | Chunk::Trailer => {
                if b == b'\n' {
                    Chunk::TrailerStart
                } else {
                    Chunk::Trailer
                }
            }
            Chunk::FinalLf if b == b'\n' => return Ok((i, None)),
            Chunk::FinalLf => return Err(ParseError("expected LF ending the chunked body")),
        };
    }
    Ok((i, Some(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` in order as a connection would deliver them (appended to a buffer,
    /// consumed prefixes dropped) and returns every response completed, then the EOF result.
    fn feed(pieces: &[&[u8]], head_only: bool) -> Result<Vec<Done>, ParseError> {
        let mut parser = Parser::new(head_only);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                let step = parser.advance(&buf)?;
                buf.drain(..step.used);
                match step.done {
                    Some(d) => out.push(d),
                    None if step.used == 0 || buf.is_empty() => break,
                    None => {}
                }
            }
        }
        if let Some(d) = parser.eof()? {
            out.push(d);
        }
        Ok(out)
    }

    /// Checks `stream` gives `expected` whole, split in two at every byte, and byte by byte.
    fn every_split(stream: &[u8], expected: &[Done]) {
        assert_eq!(feed(&[stream], false).unwrap(), expected, "whole");
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            assert_eq!(feed(&[a, b], false).unwrap(), expected, "split at {at}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(feed(&bytes, false).unwrap(), expected, "byte by byte");
    }

    fn ok(status: u16) -> Done {
        Done {
            status,
            close: false,
        }
    }

    #[test]
    fn content_length_response() {
        every_split(
            b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!",
            &[ok(200)],
        );
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;name=value\r\nHello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\ny: 2\r\n\r\n";
        every_split(stream, &[ok(200)]);
    }

    #[test]
    fn pipelined_mixture() {
        let stream: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}\
            HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
            HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n\
            HTTP/1.1 304 Not Modified\r\n\r\n\
            HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n\
            HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nconnection: close\r\n\r\noops";
        let expected = [
            ok(201),
            ok(200),
            ok(204),
            ok(304),
            ok(404),
            Done {
                status: 500,
                close: true,
            },
        ];
        every_split(stream, &expected);
    }

    #[test]
    fn body_until_close() {
        let stream = b"HTTP/1.1 200 OK\r\n\r\nsome body that ends with the connection";
        every_split(
            stream,
            &[Done {
                status: 200,
                close: true,
            }],
        );
        let http10 = b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx";
        every_split(
            http10,
            &[Done {
                status: 200,
                close: true,
            }],
        );
    }

    #[test]
    fn head_responses_have_no_body() {
        let stream: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n";
        assert_eq!(feed(&[stream], true).unwrap(), [ok(200), ok(200)]);
    }

    #[test]
    fn truncated_body_is_an_error() {
        let err = feed(
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"],
            false,
        );
        assert_eq!(
            err,
            Err(ParseError("connection closed inside a response body"))
        );
    }

    #[test]
    fn malformed_framing_is_refused() {
        let bad: [&[u8]; 7] = [
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            b"garbage\r\n\r\n",
        ];
        for stream in bad {
            assert!(
                feed(&[stream], false).is_err(),
                "{}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn head_then_body_in_separate_steps() {
        let mut p = Parser::new(false);
        let step = p
            .advance(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nab")
            .unwrap();
        assert_eq!(
            step,
            Step {
                used: 38,
                done: None
            }
        );
        assert_eq!(
            p.advance(b"ab").unwrap(),
            Step {
                used: 2,
                done: None
            }
        );
        assert_eq!(
            p.advance(b"cHTTP").unwrap(),
            Step {
                used: 1,
                done: Some(ok(200))
            }
        );
        assert_eq!(
            p.advance(b"HTTP").unwrap(),
            Step {
                used: 0,
                done: None
            }
        );
    }
}
