//! [`MultiListener`]: several listeners served as one.

/// Several listeners served together (AnyIO's `MultiListener`): what
/// [`create_tcp_listener`](crate::net::create_tcp_listener) returns, one listener per local
/// address.
#[derive(Debug)]
pub struct MultiListener<L> {
    listeners: Vec<L>,
}

impl<L> MultiListener<L> {
    /// Serves these listeners together.
    pub fn new(listeners: Vec<L>) -> Self {
        MultiListener { listeners }
    }

    /// The listeners, in the order given.
    pub fn listeners(&self) -> &[L] {
        &self.listeners
    }

    /// The listeners themselves, in the order given.
    pub fn into_listeners(self) -> Vec<L> {
        self.listeners
    }
}
