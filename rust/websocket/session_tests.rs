use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::protocol::ws::handshake::Upgrade;
use crate::websocket::Hub;

fn session(max_queue: usize, policy: QueuePolicy) -> (Arc<Session>, oneshot::Receiver<Vec<u8>>) {
    let up = Upgrade {
        accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
        subprotocols: vec![Box::from("chat")],
    };
    let limits = Limits {
        max_queue,
        policy,
        compress_min: 256,
        level: 1,
    };
    Session::new(up, None, limits, Weak::<Hub>::new())
}

fn counter() -> (Arc<AtomicUsize>, impl Fn() -> Wake) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move || {
        let m = m.clone();
        Box::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        }) as Wake
    })
}

#[test]
fn accept_sends_the_101_fields_once_and_checks_the_subprotocol() {
    let (s, mut rx) = session(4, QueuePolicy::DropOldest);
    assert_eq!(s.accept(Some("other"), b""), Err(AcceptError::Subprotocol));
    s.accept(Some("chat"), b"x-a: 1\r\n").unwrap();
    let head = String::from_utf8(rx.try_recv().unwrap()).unwrap();
    assert!(head.contains("sec-websocket-protocol: chat\r\n"), "{head}");
    assert!(head.ends_with("x-a: 1\r\n"));
    assert_eq!(s.accept(None, b""), Err(AcceptError::NotConnecting));
}

#[test]
fn messages_wake_a_waiting_receiver_and_the_close_follows_them() {
    let (s, _rx) = session(4, QueuePolicy::DropOldest);
    let (woken, wake) = counter();
    assert_eq!(s.receive(), Received::Empty);
    s.on_receive(wake());
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    assert!(s.deliver(Kind::Text, Bytes::from_static(b"hi")));
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    s.end(1000, "bye");
    // Messages delivered before the close are still received, then the close.
    assert_eq!(
        s.receive(),
        Received::Message(Kind::Text, Bytes::from_static(b"hi"))
    );
    assert_eq!(s.receive(), Received::Closed(1000, Box::from("bye")));
    // A waiter registered after the close is woken at once.
    s.on_receive(wake());
    assert_eq!(woken.load(Ordering::SeqCst), 2);
}

#[test]
fn a_full_inbox_says_so_and_taking_a_message_makes_room() {
    let (s, _rx) = session(4, QueuePolicy::DropOldest);
    for i in 0..INBOX_MESSAGES - 1 {
        assert!(s.deliver(Kind::Binary, Bytes::from(vec![i as u8])), "{i}");
    }
    assert!(!s.deliver(Kind::Binary, Bytes::new()));
    assert!(!s.inbox_has_room());
    let _ = s.receive();
    assert!(s.inbox_has_room());
}

#[test]
fn sends_wait_when_the_queue_is_full_and_fail_once_closed() {
    let (s, _rx) = session(2, QueuePolicy::DropOldest);
    s.accept(None, b"").unwrap();
    assert_eq!(s.send(Kind::Text, b"a"), Ok(true));
    assert_eq!(s.send(Kind::Text, b"b"), Ok(true));
    assert_eq!(s.send(Kind::Text, b"c"), Ok(false));
    let (woken, wake) = counter();
    s.on_send(wake());
    let mut out = Vec::new();
    assert_eq!(s.take_frames(&mut out, usize::MAX), 2);
    assert_eq!(out, [0x81, 1, b'a', 0x81, 1, b'b']);
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    s.end(1001, "");
    assert_eq!(s.send(Kind::Text, b"d"), Err(1001));
}

#[test]
fn a_full_queue_drops_the_oldest_broadcast_or_asks_for_a_1008_close() {
    let (s, _rx) = session(2, QueuePolicy::DropOldest);
    s.accept(None, b"").unwrap();
    for f in [&b"1"[..], b"2"] {
        assert_eq!(
            s.push_shared(Bytes::copy_from_slice(f), false).0,
            Pushed::Queued
        );
    }
    assert_eq!(
        s.push_shared(Bytes::from_static(b"3"), false).0,
        Pushed::DroppedOldest
    );
    let mut out = Vec::new();
    s.take_frames(&mut out, usize::MAX);
    assert_eq!(out, b"23");

    let (s, _rx) = session(1, QueuePolicy::Disconnect);
    s.accept(None, b"").unwrap();
    assert_eq!(
        s.push_shared(Bytes::from_static(b"1"), false).0,
        Pushed::Queued
    );
    assert_eq!(
        s.push_shared(Bytes::from_static(b"2"), false).0,
        Pushed::Refused
    );
    let mut out = Vec::new();
    s.take_frames(&mut out, usize::MAX);
    assert_eq!(
        s.take_close_request(),
        Some((1008, Box::from("send queue full")))
    );
}

#[test]
fn broadcasts_skip_sockets_not_yet_accepted() {
    let (s, _rx) = session(2, QueuePolicy::DropOldest);
    assert_eq!(
        s.push_shared(Bytes::from_static(b"1"), false).0,
        Pushed::Refused
    );
}

#[test]
fn the_hub_fans_out_once_per_topic_and_forgets_ended_sockets() {
    let hub = Arc::new(Hub::default());
    let mk = || {
        let up = Upgrade {
            accept: String::new(),
            subprotocols: vec![],
        };
        let limits = Limits {
            max_queue: 8,
            policy: QueuePolicy::DropOldest,
            compress_min: 256,
            level: 1,
        };
        let topics = Arc::downgrade(&hub) as Weak<dyn Topics>;
        let (s, _rx) = Session::new(up, None, limits, topics);
        s.accept(None, b"").unwrap();
        s
    };
    let (a, b) = (mk(), mk());
    a.subscribe("room");
    a.subscribe("room");
    b.subscribe("room");
    b.subscribe("other");
    assert_eq!(hub.broadcast("room", Kind::Text, b"hi", false), (2, 0));
    assert_eq!(hub.broadcast("nobody", Kind::Text, b"hi", false), (0, 0));
    let mut out = Vec::new();
    a.take_frames(&mut out, usize::MAX);
    assert_eq!(out, [0x81, 2, b'h', b'i']);
    hub.remove(&b);
    assert_eq!(hub.broadcast("room", Kind::Text, b"x", false), (1, 0));
    assert_eq!(hub.broadcast("other", Kind::Text, b"x", false), (0, 0));
    a.unsubscribe("room");
    assert_eq!(hub.broadcast("room", Kind::Text, b"x", false), (0, 0));
    assert_eq!(hub.delivered(), 3);
    // Deferred: queued now, the writer owed a wake-up until `wake`.
    a.take_frames(&mut Vec::new(), usize::MAX);
    a.subscribe("room");
    assert_eq!(hub.broadcast("room", Kind::Text, b"1", true), (1, 0));
    assert_eq!(hub.broadcast("room", Kind::Text, b"2", true), (1, 0));
    assert_eq!(hub.wake(), 1);
    assert_eq!(hub.wake(), 0);
    let open = hub.open(1).unwrap();
    assert!(hub.open(1).is_none());
    drop(open);
    assert!(hub.open(1).is_some());
}
