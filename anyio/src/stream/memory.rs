//! The stream traits for memory object streams: a [`MemoryObjectSendStream`] is an
//! [`ObjectSendStream`] and a [`MemoryObjectReceiveStream`] an [`ObjectReceiveStream`], so
//! code written against the traits runs over channels as over sockets.

use std::io;

use super::{AsyncResource, ObjectReceiveStream, ObjectSendStream};
use crate::channel::{MemoryObjectReceiveStream, MemoryObjectSendStream};

impl<T: Send> AsyncResource for MemoryObjectSendStream<T> {
    /// [`close`](MemoryObjectSendStream::close)s this handle.
    ///
    /// # Cancel safety
    ///
    /// The handle is closed when this is polled; nothing else to cancel.
    async fn aclose(&self) -> io::Result<()> {
        self.close();
        Ok(())
    }
}

impl<T: Send> ObjectSendStream<T> for MemoryObjectSendStream<T> {
    /// As [`MemoryObjectSendStream::send`], with the error as an `io::Error` (the item is
    /// dropped with it).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled send delivers nothing.
    async fn send(&self, item: T) -> io::Result<()> {
        Ok(MemoryObjectSendStream::send(self, item).await?)
    }
}

impl<T: Send> AsyncResource for MemoryObjectReceiveStream<T> {
    /// [`close`](MemoryObjectReceiveStream::close)s this handle.
    ///
    /// # Cancel safety
    ///
    /// The handle is closed when this is polled; nothing else to cancel.
    async fn aclose(&self) -> io::Result<()> {
        self.close();
        Ok(())
    }
}

impl<T: Send> ObjectReceiveStream<T> for MemoryObjectReceiveStream<T> {
    /// As [`MemoryObjectReceiveStream::receive`], with the error as an `io::Error`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled receive consumes nothing.
    async fn receive(&self) -> io::Result<T> {
        Ok(MemoryObjectReceiveStream::receive(self).await?)
    }
}
