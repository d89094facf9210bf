//! loom models of the scope tree. Run with
//! `RUSTFLAGS="--cfg anyio_loom" cargo test -p anyio --lib --release loom`.
//!
//! Each model checks, over every interleaving, that no cancellation is lost and that every
//! node's flag ends up equal to what the tree says it should be.

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};

use super::node::Node;
use crate::loom::models::waker;

/// The flag a node should have, given its parent's.
fn expected(node: &Node, parent_cancelled: bool) -> bool {
    node.cancel_called() || (parent_cancelled && !node.shield())
}

#[test]
fn loom_cancel_racing_a_waiters_registration_is_never_lost() {
    loom::model(|| {
        let parent = Node::new_root();
        let child = Node::new_scope(None, false);
        child.link(&parent);
        let (count, waker) = waker();
        let p = parent.clone();
        let canceller = loom::thread::spawn(move || p.cancel());
        let mut key = None;
        let registered = child.register_waiter(&mut key, &waker);
        canceller.join().unwrap();
        assert!(child.is_cancelled());
        // Either the registration saw the cancellation, or the cancellation woke it.
        assert!(registered.is_err() || count.0.load(SeqCst) >= 1);
        // Either way, with the parent's cause.
        if let Err(c) = registered {
            assert_eq!(c.scope_id(), Some(parent.id()));
        }
        assert_eq!(child.cancelled().scope_id(), Some(parent.id()));
    });
}

#[test]
fn loom_cancel_racing_a_dropped_waiter() {
    loom::model(|| {
        let node = Node::new_scope(None, false);
        let (_count, waker) = waker();
        let mut key = None;
        node.register_waiter(&mut key, &waker).unwrap();
        let n = node.clone();
        let canceller = loom::thread::spawn(move || n.cancel());
        if let Some(k) = key {
            node.remove_waiter(k);
        }
        canceller.join().unwrap();
        assert!(node.is_cancelled());
        // A later registration sees the cancellation.
        let mut key = None;
        assert!(node.register_waiter(&mut key, &waker).is_err());
    });
}

#[test]
fn loom_shield_toggled_during_a_cancel_leaves_a_consistent_tree() {
    loom::model(|| {
        let root = Node::new_root();
        let mid = Node::new_scope(None, false);
        let leaf = Node::new_scope(None, false);
        mid.link(&root);
        leaf.link(&mid);
        let r = root.clone();
        let canceller = loom::thread::spawn(move || r.cancel());
        let m = mid.clone();
        let shielder = loom::thread::spawn(move || m.set_shield(true));
        canceller.join().unwrap();
        shielder.join().unwrap();
        assert!(root.is_cancelled());
        assert!(mid.shield());
        assert_eq!(mid.is_cancelled(), expected(&mid, root.is_cancelled()));
        assert_eq!(leaf.is_cancelled(), expected(&leaf, mid.is_cancelled()));
        assert!(!leaf.is_cancelled());
    });
}

#[test]
fn loom_unshielding_during_a_cancel_redelivers_it() {
    loom::model(|| {
        let root = Node::new_root();
        let mid = Node::new_scope(None, true);
        let leaf = Node::new_scope(None, false);
        mid.link(&root);
        leaf.link(&mid);
        let (count, waker) = waker();
        let mut key = None;
        leaf.register_waiter(&mut key, &waker).unwrap();
        let r = root.clone();
        let canceller = loom::thread::spawn(move || r.cancel());
        mid.set_shield(false);
        canceller.join().unwrap();
        assert!(leaf.is_cancelled());
        assert_eq!(count.0.load(SeqCst), 1);
        assert_eq!(leaf.cancelled().scope_id(), Some(root.id()));
    });
}

#[test]
fn loom_linking_racing_a_cancel_takes_it_on() {
    loom::model(|| {
        let parent = Node::new_root();
        let child = Node::new_scope(None, false);
        let p = parent.clone();
        let canceller = loom::thread::spawn(move || p.cancel());
        child.link(&parent);
        // A flag seen set has its cause.
        if child.is_cancelled() {
            assert_eq!(child.cancelled().scope_id(), Some(parent.id()));
        }
        canceller.join().unwrap();
        assert!(child.is_cancelled());
        assert_eq!(child.cancelled().scope_id(), Some(parent.id()));
        child.unlink();
    });
}

/// Two cancels of one node race, and an enclosing cancel races both: the node keeps the
/// cause of its own first cancel, and its child sees that cause.
#[test]
fn loom_racing_cancels_keep_the_first_own_cause() {
    loom::model(|| {
        let root = Node::new_root();
        let node = Node::new_scope(None, false);
        let child = Node::new_scope(None, false);
        node.link(&root);
        child.link(&node);
        let (n, r) = (node.clone(), root.clone());
        let first = loom::thread::spawn(move || n.cancel_because(Some("a".into())));
        let outer = loom::thread::spawn(move || r.cancel_because(Some("outer".into())));
        node.cancel_because(Some("b".into()));
        first.join().unwrap();
        outer.join().unwrap();
        let reason = node.cancelled().reason().map(str::to_owned);
        assert!(matches!(reason.as_deref(), Some("a" | "b")), "{reason:?}");
        assert_eq!(child.cancelled().reason().map(str::to_owned), reason);
        assert_eq!(child.cancelled().scope_id(), Some(node.id()));
    });
}

#[test]
fn loom_an_unlinked_scope_never_loses_its_own_cancel() {
    loom::model(|| {
        let parent = Node::new_root();
        let node = Node::new_scope(None, false);
        let n = node.clone();
        let canceller = loom::thread::spawn(move || n.cancel());
        canceller.join().unwrap();
        // Seen by the code polling it before it is linked, and by everyone after.
        assert_eq!(node.chain_state(), Some(true));
        node.link(&parent);
        assert!(node.is_cancelled());
    });
}

/// The first poll of a nested scope (its body checks for cancellation, then waits, which
/// links the scope and registers the wait) racing a cancel of the enclosing scope: a cancel
/// that happened before the check is seen by it, and whenever it happens the wait ends.
#[test]
fn loom_cancel_racing_the_first_poll_of_a_nested_scope() {
    loom::model(|| {
        let parent = Node::new_root();
        let inner = Node::new_scope(None, false);
        let done = Arc::new(AtomicBool::new(false));
        let (p, d) = (parent.clone(), done.clone());
        let canceller = loom::thread::spawn(move || {
            p.cancel();
            d.store(true, SeqCst);
        });
        let cancel_happened = done.load(SeqCst);
        let seen = inner.chain_state().unwrap_or_else(|| parent.is_cancelled());
        if cancel_happened {
            assert!(seen, "a cancel made before the check was missed");
        }
        inner.link(&parent);
        let (count, waker) = waker();
        let mut key = None;
        let registered = inner.register_waiter(&mut key, &waker);
        canceller.join().unwrap();
        assert!(inner.is_cancelled());
        assert!(registered.is_err() || count.0.load(SeqCst) == 1);
        inner.unlink();
    });
}
