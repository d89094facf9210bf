//! A stateful property test of memory object streams: random sequences of operations
//! (send, receive, their `_nowait` forms, clone, close, polls of blocked operations, their
//! cancellation by a scope and their drop mid-wait) run against the real stream and a
//! simple model, on every backend.
//!
//! After each step the outcome of every operation that completed, and the statistics, must
//! be what the model predicts; at the end every value sent must be accounted for exactly
//! once: received, given back in an error, dropped with its send, or still in the stream.
//! The model keeps the rules that every wait follows: an operation whose scope is
//! cancelled is passed over (never handed anything), and `EndOfStream` comes only once
//! every item sent has been received.

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
    /// Blocked operations passed over, and taken off their queue, because their scope was
    /// cancelled: they end with `Cancelled` (a send gives its item back).
    skipped: HashSet<u64>,
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

    /// Items handed to receives that have not collected them.
    fn handed_out(&self) -> usize {
        self.grants
            .values()
            .filter(|g| matches!(g, Outcome::Received(Ok(_))))
            .count()
    }

    /// Every sender closed and every item sent received.
    fn ended(&self) -> bool {
        self.open_senders == 0 && self.buffer.is_empty() && self.handed_out() == 0
    }

    fn end_if_ended(&mut self) {
        if self.ended() {
            while let Some((id, _)) = pop_live(
                &mut self.recv_q,
                |_| true,
                &self.cancelled,
                &mut self.skipped,
            ) {
                self.grants
                    .insert(id, Outcome::Received(Err(ReceiveError::EndOfStream)));
            }
        }
    }

    fn try_send(&mut self, handle: usize, item: u32) -> Result<(), (SendErrorKind, u32)> {
        if self.senders[handle] {
            return Err((SendErrorKind::Closed, item));
        }
        if self.open_receivers == 0 {
            return Err((SendErrorKind::Broken, item));
        }
        if let Some((id, _)) = pop_live(
            &mut self.recv_q,
            |_| true,
            &self.cancelled,
            &mut self.skipped,
        ) {
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
        if let Some((id, item, _)) = pop_live(
            &mut self.send_q,
            |_| true,
            &self.cancelled,
            &mut self.skipped,
        ) {
            self.grants.insert(id, Outcome::Sent(Ok(())));
            self.buffer.push_back(item);
        }
        if let Some(item) = self.buffer.pop_front() {
            return Ok(item);
        }
        if self.ended() {
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
            if let Outcome::Received(Ok(_)) = outcome {
                // Collected: that may have been the last item.
                self.end_if_ended();
            }
            return Some(outcome);
        }
        // Nothing here lifts a cancellation: a skipped operation ends cancelled.
        let skipped = self.skipped.remove(&id);
        if !skipped && !self.cancelled.contains(&id) {
            return None;
        }
        Some(match kind {
            Kind::Send { item, .. } => {
                if !skipped {
                    self.send_q.retain(|w| w.0 != id);
                }
                Outcome::Sent(Err((SendErrorKind::Cancelled, item)))
            }
            Kind::Receive { .. } => {
                if !skipped {
                    self.recv_q.retain(|w| w.0 != id);
                }
                Outcome::Received(Err(ReceiveError::Cancelled(Cancelled::new())))
            }
        })
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
        self.skipped.remove(&id);
        match kind {
            // Queued or skipped, its item is dropped with its future.
            Kind::Send { item, .. } => {
                self.send_q.retain(|w| w.0 != id);
                self.dropped.push(item);
            }
            Kind::Receive { .. } => self.recv_q.retain(|w| w.0 != id),
        }
    }

    fn put_back(&mut self, item: u32) {
        match pop_live(
            &mut self.recv_q,
            |_| true,
            &self.cancelled,
            &mut self.skipped,
        ) {
            Some((id, _)) => {
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
        let mine = |w: &(u64, u32, usize)| w.2 == handle;
        while let Some((id, item, _)) =
            pop_live(&mut self.send_q, mine, &self.cancelled, &mut self.skipped)
        {
            let refusal = Outcome::Sent(Err((SendErrorKind::Closed, item)));
            self.grants.insert(id, refusal);
        }
        self.end_if_ended();
    }

    fn close_receiver(&mut self, handle: usize) {
        if std::mem::replace(&mut self.receivers[handle], true) {
            return;
        }
        self.open_receivers -= 1;
        let mine = |w: &(u64, usize)| w.1 == handle;
        while let Some((id, _)) =
            pop_live(&mut self.recv_q, mine, &self.cancelled, &mut self.skipped)
        {
            let closed = Outcome::Received(Err(ReceiveError::Closed));
            self.grants.insert(id, closed);
        }
        if self.open_receivers == 0 {
            while let Some((id, item, _)) = pop_live(
                &mut self.send_q,
                |_| true,
                &self.cancelled,
                &mut self.skipped,
            ) {
                let refusal = Outcome::Sent(Err((SendErrorKind::Broken, item)));
                self.grants.insert(id, refusal);
            }
            self.discarded.extend(self.buffer.drain(..));
        }
    }
}

/// The wait queue's rule: takes off `queue` the oldest waiter that `pred` accepts and whose
/// scope is not cancelled; those `pred` accepts whose scope is cancelled, on the way, are
/// taken off too and recorded as skipped.
fn pop_live<W: Waiting>(
    queue: &mut VecDeque<W>,
    pred: impl Fn(&W) -> bool,
    cancelled: &HashSet<u64>,
    skipped: &mut HashSet<u64>,
) -> Option<W> {
    while let Some(pos) = queue.iter().position(&pred) {
        let w = queue.remove(pos).unwrap();
        if !cancelled.contains(&w.id()) {
            return Some(w);
        }
        skipped.insert(w.id());
    }
    None
}

/// A queued operation of the model: its id comes first.
trait Waiting {
    fn id(&self) -> u64;
}

impl Waiting for (u64, usize) {
    fn id(&self) -> u64 {
        self.0
    }
}

impl Waiting for (u64, u32, usize) {
    fn id(&self) -> u64 {
        self.0
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
            prop_assert_eq!(real.clone(), model.try_recv(h));
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
