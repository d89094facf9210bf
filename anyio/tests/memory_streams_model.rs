//! A stateful property test of memory object streams: random sequences of operations
//! (send, receive, their `_nowait` forms, clone, close, polls of blocked operations, their
//! cancellation by a scope and their drop mid-wait) run against the real stream and a
//! simple model, on every backend.
//!
//! After each step the outcome of every operation that completed, and the statistics, must
//! be what the model predicts; at the end every value sent must be accounted for exactly
//! once: received, given back in an error, dropped with its send, or still in the stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyio::{
    BufferSize, CancelScope, Cancelled, MemoryObjectStreamStatistics, ReceiveError, SendErrorKind,
    create_memory_object_stream,
};
use futures_lite::future::poll_once;
use proptest::prelude::*;

/// How an operation ended, as both the stream and the model report it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Sent(Result<(), (SendErrorKind, u32)>),
    Received(Result<u32, ReceiveError>),
}

#[derive(Clone, Debug)]
enum Op {
    SendNowait(usize),
    ReceiveNowait(usize),
    /// Starts a `send` in a scope of its own and polls it once.
    Send(usize),
    /// Starts a `receive` in a scope of its own and polls it once.
    Receive(usize),
    /// Polls a blocked operation again.
    Poll(usize),
    /// Cancels a blocked operation's scope (it notices when next polled).
    Cancel(usize),
    /// Drops a blocked operation's future.
    Drop(usize),
    CloneSender(usize),
    CloneReceiver(usize),
    TryCloneSender(usize),
    TryCloneReceiver(usize),
    CloseSender(usize),
    CloseReceiver(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..8;
    prop_oneof![
        3 => i.clone().prop_map(Op::SendNowait),
        3 => i.clone().prop_map(Op::ReceiveNowait),
        4 => i.clone().prop_map(Op::Send),
        4 => i.clone().prop_map(Op::Receive),
        4 => i.clone().prop_map(Op::Poll),
        2 => i.clone().prop_map(Op::Cancel),
        2 => i.clone().prop_map(Op::Drop),
        1 => i.clone().prop_map(Op::CloneSender),
        1 => i.clone().prop_map(Op::CloneReceiver),
        1 => i.clone().prop_map(Op::TryCloneSender),
        1 => i.clone().prop_map(Op::TryCloneReceiver),
        1 => i.clone().prop_map(Op::CloseSender),
        1 => i.prop_map(Op::CloseReceiver),
    ]
}

// ---------------------------------------------------------------------------------------
// The model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Send { item: u32, handle: usize },
    Receive { handle: usize },
}

#[derive(Debug, Default)]
struct Model {
    max: usize,
    buffer: VecDeque<u32>,
    /// Per handle: closed?
    senders: Vec<bool>,
    receivers: Vec<bool>,
    open_senders: usize,
    open_receivers: usize,
    /// Blocked sends (operation id, item, handle) and receives (operation id, handle).
    send_q: VecDeque<(u64, u32, usize)>,
    recv_q: VecDeque<(u64, usize)>,
    /// What blocked operations were granted and have not collected yet.
    grants: HashMap<u64, Outcome>,
    cancelled: HashSet<u64>,
    // Where every value went.
    received: Vec<u32>,
    given_back: Vec<u32>,
    dropped: Vec<u32>,
    discarded: Vec<u32>,
}

impl Model {
    fn new(max: usize) -> Self {
        Model {
            max,
            senders: vec![false],
            receivers: vec![false],
            open_senders: 1,
            open_receivers: 1,
            ..Model::default()
        }
    }

    fn statistics(&self) -> MemoryObjectStreamStatistics {
        MemoryObjectStreamStatistics {
            current_buffer_used: self.buffer.len(),
            max_buffer_size: BufferSize::Bounded(self.max),
            open_send_streams: self.open_senders,
            open_receive_streams: self.open_receivers,
            tasks_waiting_send: self.send_q.len(),
            tasks_waiting_receive: self.recv_q.len(),
        }
    }

    /// Records where a value went once an operation reports its outcome.
    fn settle(&mut self, outcome: &Outcome) {
        match *outcome {
            Outcome::Sent(Err((_, item))) => self.given_back.push(item),
            Outcome::Received(Ok(item)) => self.received.push(item),
            _ => {}
        }
    }

    fn try_send(&mut self, handle: usize, item: u32) -> Result<(), (SendErrorKind, u32)> {
        if self.senders[handle] {
            return Err((SendErrorKind::Closed, item));
        }
        if self.open_receivers == 0 {
            return Err((SendErrorKind::Broken, item));
        }
        let eligible = self
            .recv_q
            .iter()
            .position(|(id, _)| !self.cancelled.contains(id));
        if let Some(pos) = eligible {
            let (id, _) = self.recv_q.remove(pos).unwrap();
            self.grants.insert(id, Outcome::Received(Ok(item)));
            return Ok(());
        }
        if self.buffer.len() < self.max {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err((SendErrorKind::WouldBlock, item))
    }

    fn try_recv(&mut self, handle: usize) -> Result<u32, ReceiveError> {
        if self.receivers[handle] {
            return Err(ReceiveError::Closed);
        }
        if let Some((id, item, _)) = self.send_q.pop_front() {
            self.grants.insert(id, Outcome::Sent(Ok(())));
            self.buffer.push_back(item);
        }
        if let Some(item) = self.buffer.pop_front() {
            return Ok(item);
        }
        if self.open_senders == 0 {
            return Err(ReceiveError::EndOfStream);
        }
        Err(ReceiveError::WouldBlock)
    }

    fn start(&mut self, id: u64, kind: Kind) -> Option<Outcome> {
        match kind {
            Kind::Send { item, handle } => match self.try_send(handle, item) {
                Err((SendErrorKind::WouldBlock, item)) => {
                    self.send_q.push_back((id, item, handle));
                    None
                }
                r => Some(Outcome::Sent(r)),
            },
            Kind::Receive { handle } => match self.try_recv(handle) {
                Err(ReceiveError::WouldBlock) => {
                    self.recv_q.push_back((id, handle));
                    None
                }
                r => Some(Outcome::Received(r)),
            },
        }
    }

    fn poll(&mut self, id: u64, kind: Kind) -> Option<Outcome> {
        if let Some(outcome) = self.grants.remove(&id) {
            return Some(outcome);
        }
        let cancelled = self.cancelled.contains(&id);
        match kind {
            Kind::Send { .. } => {
                if !cancelled {
                    return None;
                }
                let pos = self.send_q.iter().position(|w| w.0 == id).unwrap();
                let (_, item, _) = self.send_q.remove(pos).unwrap();
                Some(Outcome::Sent(Err((SendErrorKind::Cancelled, item))))
            }
            Kind::Receive { handle } => {
                let retry =
                    !self.buffer.is_empty() || !self.send_q.is_empty() || self.open_senders == 0;
                if !cancelled && !retry {
                    return None;
                }
                let pos = self.recv_q.iter().position(|w| w.0 == id).unwrap();
                self.recv_q.remove(pos);
                if cancelled {
                    return Some(Outcome::Received(Err(ReceiveError::Cancelled)));
                }
                match self.try_recv(handle) {
                    Err(ReceiveError::WouldBlock) => {
                        self.recv_q.push_back((id, handle));
                        None
                    }
                    r => Some(Outcome::Received(r)),
                }
            }
        }
    }

    fn drop_op(&mut self, id: u64, kind: Kind) {
        if let Some(outcome) = self.grants.remove(&id) {
            match outcome {
                Outcome::Received(Ok(item)) => self.put_back(item),
                // A refused send's item is dropped with its future.
                Outcome::Sent(Err((_, item))) => self.dropped.push(item),
                _ => {}
            }
            return;
        }
        match kind {
            Kind::Send { .. } => {
                let pos = self.send_q.iter().position(|w| w.0 == id).unwrap();
                let (_, item, _) = self.send_q.remove(pos).unwrap();
                self.dropped.push(item);
            }
            Kind::Receive { .. } => {
                let pos = self.recv_q.iter().position(|w| w.0 == id).unwrap();
                self.recv_q.remove(pos);
            }
        }
    }

    fn put_back(&mut self, item: u32) {
        let eligible = self
            .recv_q
            .iter()
            .position(|(id, _)| !self.cancelled.contains(id));
        match eligible {
            Some(pos) => {
                let (id, _) = self.recv_q.remove(pos).unwrap();
                self.grants.insert(id, Outcome::Received(Ok(item)));
            }
            None => self.buffer.push_front(item),
        }
    }

    fn clone_sender(&mut self, handle: usize) {
        let closed = self.senders[handle];
        self.senders.push(closed);
        if !closed {
            self.open_senders += 1;
        }
    }

    fn clone_receiver(&mut self, handle: usize) {
        let closed = self.receivers[handle];
        self.receivers.push(closed);
        if !closed {
            self.open_receivers += 1;
        }
    }

    fn close_sender(&mut self, handle: usize) {
        if std::mem::replace(&mut self.senders[handle], true) {
            return;
        }
        self.open_senders -= 1;
        let (mine, others) = self.send_q.drain(..).partition(|w| w.2 == handle);
        self.send_q = others;
        for (id, item, _) in mine {
            let refusal = Outcome::Sent(Err((SendErrorKind::Closed, item)));
            self.grants.insert(id, refusal);
        }
        if self.open_senders == 0 && self.buffer.is_empty() && self.send_q.is_empty() {
            for (id, _) in self.recv_q.drain(..) {
                let end = Outcome::Received(Err(ReceiveError::EndOfStream));
                self.grants.insert(id, end);
            }
        }
    }

    fn close_receiver(&mut self, handle: usize) {
        if std::mem::replace(&mut self.receivers[handle], true) {
            return;
        }
        self.open_receivers -= 1;
        let (mine, others) = self.recv_q.drain(..).partition(|w| w.1 == handle);
        self.recv_q = others;
        for (id, _) in mine {
            let closed = Outcome::Received(Err(ReceiveError::Closed));
            self.grants.insert(id, closed);
        }
        if self.open_receivers == 0 {
            for (id, item, _) in self.send_q.drain(..) {
                let refusal = Outcome::Sent(Err((SendErrorKind::Broken, item)));
                self.grants.insert(id, refusal);
            }
            self.discarded.extend(self.buffer.drain(..));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real stream

type OpFuture = Pin<Box<dyn Future<Output = Outcome>>>;

struct Pending {
    id: u64,
    kind: Kind,
    scope: CancelScope,
    fut: OpFuture,
}

/// An operation in a cancel scope of its own; its output is the operation's outcome.
fn scoped<T: 'static>(
    scope: CancelScope,
    op: impl Future<Output = T> + 'static,
    wrap: fn(T) -> Outcome,
) -> OpFuture {
    Box::pin(async move {
        let out = scope.run(async move { Ok::<_, Cancelled>(op.await) }).await;
        wrap(
            out.expect("nothing outside cancels")
                .expect("the body never fails"),
        )
    })
}

async fn check(size: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (tx, rx) = create_memory_object_stream::<u32>(size).unwrap();
    let mut senders = vec![Arc::new(tx)];
    let mut receivers = vec![Arc::new(rx)];
    let mut model = Model::new(size);
    let mut pending: Vec<Pending> = Vec::new();
    let mut next_item = 0u32;
    let mut next_id = 0u64;
    for op in ops {
        match op {
            Op::SendNowait(h) => {
                let h = h % senders.len();
                let item = next_item;
                next_item += 1;
                let real = senders[h]
                    .send_nowait(item)
                    .map_err(|e| (e.kind(), e.into_inner()));
                let real = Outcome::Sent(real);
                let expected = Outcome::Sent(model.try_send(h, item));
                prop_assert_eq!(&real, &expected, "send_nowait on sender {}", h);
                model.settle(&real);
            }
            Op::ReceiveNowait(h) => {
                let h = h % receivers.len();
                let real = Outcome::Received(receivers[h].receive_nowait());
                let expected = Outcome::Received(model.try_recv(h));
                prop_assert_eq!(&real, &expected, "receive_nowait on receiver {}", h);
                model.settle(&real);
            }
            Op::Send(h) | Op::Receive(h) => {
                let scope = CancelScope::new();
                let (kind, fut) = if let Op::Send(_) = op {
                    let h = h % senders.len();
                    let item = next_item;
                    next_item += 1;
                    let tx = senders[h].clone();
                    let fut = scoped(
                        scope.clone(),
                        async move { tx.send(item).await.map_err(|e| (e.kind(), e.into_inner())) },
                        Outcome::Sent,
                    );
                    (Kind::Send { item, handle: h }, fut)
                } else {
                    let h = h % receivers.len();
                    let rx = receivers[h].clone();
                    let fut = scoped(
                        scope.clone(),
                        async move { rx.receive().await },
                        Outcome::Received,
                    );
                    (Kind::Receive { handle: h }, fut)
                };
                let id = next_id;
                next_id += 1;
                let mut p = Pending {
                    id,
                    kind,
                    scope,
                    fut,
                };
                let real = poll_once(p.fut.as_mut()).await;
                let expected = model.start(id, kind);
                prop_assert_eq!(&real, &expected, "first poll of {:?}", kind);
                match real {
                    Some(outcome) => model.settle(&outcome),
                    None => pending.push(p),
                }
            }
            Op::Poll(i) | Op::Cancel(i) | Op::Drop(i) if !pending.is_empty() => {
                let i = i % pending.len();
                match op {
                    Op::Cancel(_) => {
                        pending[i].scope.cancel();
                        model.cancelled.insert(pending[i].id);
                    }
                    Op::Drop(_) => {
                        let p = pending.remove(i);
                        model.drop_op(p.id, p.kind);
                    }
                    _ => {
                        let p = &mut pending[i];
                        let real = poll_once(p.fut.as_mut()).await;
                        let expected = model.poll(p.id, p.kind);
                        prop_assert_eq!(&real, &expected, "poll of {:?}", p.kind);
                        if let Some(outcome) = real {
                            model.settle(&outcome);
                            pending.remove(i);
                        }
                    }
                }
            }
            Op::Poll(_) | Op::Cancel(_) | Op::Drop(_) => {}
            Op::CloneSender(h) => {
                let h = h % senders.len();
                senders.push(Arc::new((*senders[h]).clone()));
                model.clone_sender(h);
            }
            Op::CloneReceiver(h) => {
                let h = h % receivers.len();
                receivers.push(Arc::new((*receivers[h]).clone()));
                model.clone_receiver(h);
            }
            Op::TryCloneSender(h) => {
                let h = h % senders.len();
                let real = senders[h].try_clone();
                prop_assert_eq!(real.is_err(), model.senders[h]);
                if let Ok(handle) = real {
                    senders.push(Arc::new(handle));
                    model.clone_sender(h);
                }
            }
            Op::TryCloneReceiver(h) => {
                let h = h % receivers.len();
                let real = receivers[h].try_clone();
                prop_assert_eq!(real.is_err(), model.receivers[h]);
                if let Ok(handle) = real {
                    receivers.push(Arc::new(handle));
                    model.clone_receiver(h);
                }
            }
            Op::CloseSender(h) => {
                let h = h % senders.len();
                senders[h].close();
                model.close_sender(h);
            }
            Op::CloseReceiver(h) => {
                let h = h % receivers.len();
                receivers[h].close();
                model.close_receiver(h);
            }
        }
        prop_assert_eq!(senders[0].statistics(), model.statistics());
    }
    // Drop whatever is still blocked, then drain the stream through an open receiver.
    for p in pending.drain(..) {
        model.drop_op(p.id, p.kind);
    }
    prop_assert_eq!(senders[0].statistics(), model.statistics());
    if let Some(h) = model.receivers.iter().position(|closed| !closed) {
        loop {
            let real = receivers[h].receive_nowait();
            prop_assert_eq!(real, model.try_recv(h));
            match real {
                Ok(item) => model.received.push(item),
                Err(_) => break,
            }
        }
    }
    // Every value is accounted for exactly once.
    let mut all: Vec<u32> = model
        .received
        .iter()
        .chain(&model.given_back)
        .chain(&model.dropped)
        .chain(&model.discarded)
        .chain(&model.buffer)
        .copied()
        .collect();
    all.sort_unstable();
    prop_assert_eq!(all, (0..next_item).collect::<Vec<_>>());
    // FIFO order is checked step by step: the model is a FIFO and every received value had
    // to be the one it predicted.
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_streams_behave_like_the_model(
        size in 0usize..4,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        anyio::testing::on_each_backend(|_backend| check(size, ops.clone()))?;
    }
}
