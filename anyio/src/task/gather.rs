//! `gather` and `amap`: run futures concurrently in a task group of their own and give
//! their values back in the order they were given.
//!
//! Each future runs as a task that puts its value in a slot of its own; the values are
//! read once the group has ended. The group's rules apply unchanged: the first failure
//! cancels the others and every failure is reported ([`TaskGroupError`]); a cancellation
//! from outside passes through as a cancellation. When the group ends without an error,
//! every task has stored its value, since nothing else can cancel a task of a group whose
//! body hands out no handle.

use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use atomic_waker::AtomicWaker;

use super::error::TaskGroupError;
use super::group::{TaskBuilder, TaskGroup, default_name};
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::cancel::error::IsCancelled;

/// Runs every future of `futs` concurrently, each as a task of a new task group, and
/// returns their values in argument order.
///
/// `futs` is a tuple of 1 to 12 futures of different value types (giving a tuple), an
/// array (giving an array) or a `Vec` (giving a `Vec`) of futures of one type. All of them
/// return `Result<_, E>` with one error type `E`.
///
/// # Errors
///
/// As [`task_group`](crate::task_group)'s: when a future fails (or panics), the others are cancelled, and
/// the failures are returned; a cancellation of the caller passes through as a
/// cancellation ([`TaskGroupError::is_cancelled`]).
///
/// # Cancel safety
///
/// As [`task_group`](crate::task_group)'s: dropping the future aborts the tasks.
///
/// # Examples
///
/// ```
/// async fn size(name: &'static str) -> Result<usize, std::io::Error> {
///     anyio::checkpoint().await?;
///     Ok(name.len())
/// }
///
/// async fn greeting() -> Result<String, std::io::Error> {
///     Ok("hello".to_owned())
/// }
///
/// # anyio::run(async {
/// let (n, text) = anyio::gather((size("four"), greeting())).await?;
/// assert_eq!((n, text.as_str()), (4, "hello"));
/// let sizes = anyio::gather(vec![size("a"), size("bb"), size("ccc")]).await?;
/// assert_eq!(sizes, [1, 2, 3]);
/// # Ok::<(), anyio::TaskGroupError<std::io::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub async fn gather<G: Gather>(futs: G) -> Result<G::Output, TaskGroupError<G::Error>> {
    let slots =
        TaskGroup::<G::Error>::run(move |tg| async move { Ok(futs.start_all(&tg)) }).await?;
    slots
        .and_then(G::take_all)
        .ok_or_else(|| TaskGroupError::cancelled(current::cancelled()))
}

mod sealed {
    use std::sync::{Arc, Mutex};

    /// Keeps [`Gather`](super::Gather) to the forms this module implements.
    pub trait Sealed {}

    /// The place one task's value goes: public only in name, since [`Gather`](super::Gather)
    /// mentions it, and nameable by nobody outside this module.
    pub struct Slot<T>(pub(super) Arc<Mutex<Option<T>>>);

    impl<T> std::fmt::Debug for Slot<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Slot").finish_non_exhaustive()
        }
    }

    impl<T> Slot<T> {
        pub(super) fn take(&self) -> Option<T> {
            super::lock(&self.0).take()
        }
    }
}

use sealed::Slot;

/// What [`gather`] accepts: a tuple of 1 to 12 futures, an array or a `Vec` of futures,
/// each returning `Result<_, Error>`. Implemented here only.
pub trait Gather: sealed::Sealed + Sized {
    /// What `gather` gives back: the values in argument order, in the same shape.
    type Output;
    /// The error type the futures share.
    type Error: IsCancelled + Send + 'static;
    /// The slots the tasks put their values in.
    #[doc(hidden)]
    type Slots: Send + 'static;

    /// Starts every future as a task of `tg`.
    #[doc(hidden)]
    fn start_all(self, tg: &TaskGroup<Self::Error>) -> Self::Slots;

    /// The values, once every task has stored its own.
    #[doc(hidden)]
    fn take_all(slots: Self::Slots) -> Option<Self::Output>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts `fut` in `tg`, named after it, storing its value in the slot returned.
fn start_one<E, F, T>(tg: &TaskGroup<E>, fut: F) -> Slot<T>
where
    E: IsCancelled + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let task = TaskBuilder {
        group: tg,
        name: default_name::<F>(),
    };
    // The group is open while its body runs, which is where this is called; were it not,
    // the slot would stay empty and `gather` would report a cancellation.
    let _ = task.start_soon(async move {
        let value = fut.await?;
        *lock(&out) = Some(value);
        Ok(())
    });
    Slot(slot)
}

macro_rules! gather_tuple {
    ($(($F:ident, $T:ident, $i:tt)),+) => {
        impl<$($F),+> sealed::Sealed for ($($F,)+) {}

        impl<E, $($F, $T),+> Gather for ($($F,)+)
        where
            E: IsCancelled + Send + 'static,
            $($F: Future<Output = Result<$T, E>> + Send + 'static, $T: Send + 'static,)+
        {
            type Output = ($($T,)+);
            type Error = E;
            type Slots = ($(Slot<$T>,)+);

            fn start_all(self, tg: &TaskGroup<E>) -> Self::Slots {
                ($(start_one(tg, self.$i),)+)
            }

            fn take_all(slots: Self::Slots) -> Option<Self::Output> {
                Some(($(slots.$i.take()?,)+))
            }
        }
    };
}

gather_tuple!((F0, T0, 0));
gather_tuple!((F0, T0, 0), (F1, T1, 1));
gather_tuple!((F0, T0, 0), (F1, T1, 1), (F2, T2, 2));
gather_tuple!((F0, T0, 0), (F1, T1, 1), (F2, T2, 2), (F3, T3, 3));
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6),
    (F7, T7, 7)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6),
    (F7, T7, 7),
    (F8, T8, 8)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6),
    (F7, T7, 7),
    (F8, T8, 8),
    (F9, T9, 9)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6),
    (F7, T7, 7),
    (F8, T8, 8),
    (F9, T9, 9),
    (F10, T10, 10)
);
gather_tuple!(
    (F0, T0, 0),
    (F1, T1, 1),
    (F2, T2, 2),
    (F3, T3, 3),
    (F4, T4, 4),
    (F5, T5, 5),
    (F6, T6, 6),
    (F7, T7, 7),
    (F8, T8, 8),
    (F9, T9, 9),
    (F10, T10, 10),
    (F11, T11, 11)
);

impl<F> sealed::Sealed for Vec<F> {}

impl<F, T, E> Gather for Vec<F>
where
    E: IsCancelled + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
{
    type Output = Vec<T>;
    type Error = E;
    type Slots = Vec<Slot<T>>;

    fn start_all(self, tg: &TaskGroup<E>) -> Self::Slots {
        self.into_iter().map(|fut| start_one(tg, fut)).collect()
    }

    fn take_all(slots: Self::Slots) -> Option<Self::Output> {
        slots.iter().map(Slot::take).collect()
    }
}

impl<F, const N: usize> sealed::Sealed for [F; N] {}

impl<F, T, E, const N: usize> Gather for [F; N]
where
    E: IsCancelled + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
{
    type Output = [T; N];
    type Error = E;
    type Slots = Vec<Slot<T>>;

    fn start_all(self, tg: &TaskGroup<E>) -> Self::Slots {
        self.into_iter().map(|fut| start_one(tg, fut)).collect()
    }

    fn take_all(slots: Self::Slots) -> Option<Self::Output> {
        let values: Vec<T> = slots.iter().map(Slot::take).collect::<Option<_>>()?;
        values.try_into().ok()
    }
}

/// Calls `f` on every item of `items` and runs the futures it returns concurrently, each as
/// a task of a new task group; returns their values in the order of `items`.
///
/// Every item becomes a task at once; see [`amap_limited`] to bound how many run together.
///
/// # Errors
///
/// As [`gather`]: the first failure cancels the other tasks and stops the iteration, and
/// every failure is reported; a cancellation of the caller passes through as one.
///
/// # Cancel safety
///
/// As [`task_group`](crate::task_group)'s: dropping the future aborts the tasks.
///
/// # Examples
///
/// ```
/// async fn square(n: u64) -> Result<u64, anyio::BoxError> {
///     anyio::checkpoint().await?;
///     Ok(n * n)
/// }
///
/// # anyio::run(async {
/// let squares = anyio::amap(square, 1..=4).await.unwrap();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # }).unwrap();
/// ```
pub async fn amap<F, I, Fut, T, E>(f: F, items: I) -> Result<Vec<T>, TaskGroupError<E>>
where
    F: FnMut(I::Item) -> Fut,
    I: IntoIterator,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IsCancelled + Send + 'static,
{
    amap_limited(f, items, NonZeroUsize::MAX).await
}

/// [`amap`] with at most `limit` tasks running at once: the next item is taken from
/// `items` only when a task has ended, so the iterator is consumed lazily and a long input
/// (10,000 URLs) never means more than `limit` tasks.
///
/// # Errors
///
/// As [`amap`].
///
/// # Cancel safety
///
/// As [`amap`].
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
///
/// async fn fetch(url: String) -> Result<usize, anyio::BoxError> {
///     anyio::checkpoint().await?;
///     Ok(url.len())
/// }
///
/// # anyio::run(async {
/// let urls = (0..100).map(|i| format!("https://example.com/{i}"));
/// let limit = NonZeroUsize::new(8).unwrap();
/// let sizes = anyio::amap_limited(fetch, urls, limit).await.unwrap();
/// assert_eq!(sizes.len(), 100);
/// # }).unwrap();
/// ```
pub async fn amap_limited<F, I, Fut, T, E>(
    mut f: F,
    items: I,
    limit: NonZeroUsize,
) -> Result<Vec<T>, TaskGroupError<E>>
where
    F: FnMut(I::Item) -> Fut,
    I: IntoIterator,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IsCancelled + Send + 'static,
{
    let state = Arc::new(Amap {
        values: Mutex::new(Vec::new()),
        running: AtomicUsize::new(0),
        room: AtomicWaker::new(),
    });
    let shared = state.clone();
    let all_started = TaskGroup::<E>::run(move |tg| async move {
        let mut items = items.into_iter();
        loop {
            // Room first, then the item: an item is taken only when its task can start.
            if !shared.room(limit.get()).await {
                // A failure (or an outer cancellation) cancelled the group: the group's
                // outcome says which; no more items are taken.
                return Ok(false);
            }
            let Some(item) = items.next() else { break };
            let fut = f(item);
            let index = {
                let mut values = lock(&shared.values);
                values.push(None);
                values.len() - 1
            };
            shared.running.fetch_add(1, AcqRel);
            let running = Running(shared.clone());
            let task = TaskBuilder {
                group: &tg,
                name: default_name::<Fut>(),
            };
            // The group is open while its body runs: a task that could not start would
            // leave its slot empty, which reads as a cancellation below.
            let group = tg.clone();
            let _ = task.start_soon(async move {
                match fut.await {
                    Ok(value) => {
                        lock(&running.0.values)[index] = Some(value);
                        Ok(())
                    }
                    Err(e) => {
                        // Cancelled before this task makes room (`running` is dropped
                        // after this): the body must not take another item.
                        if !e.is_cancelled() {
                            group.cancel();
                        }
                        Err(e)
                    }
                }
            });
        }
        Ok(true)
    })
    .await?;
    if all_started != Some(true) {
        return Err(TaskGroupError::cancelled(current::cancelled()));
    }
    let values = std::mem::take(&mut *lock(&state.values));
    values
        .into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| TaskGroupError::cancelled(current::cancelled()))
}

/// What the tasks of one `amap` share with its body.
struct Amap<T> {
    /// One slot per item taken, in input order.
    values: Mutex<Vec<Option<T>>>,
    /// Tasks started and not ended.
    running: AtomicUsize,
    /// The body, waiting for room under the limit.
    room: AtomicWaker,
}

impl<T> Amap<T> {
    /// Waits until fewer than `limit` tasks run; `false` if the body is cancelled first.
    async fn room(&self, limit: usize) -> bool {
        let mut cancel = CancelWait::new();
        poll_fn(|cx| {
            if current::is_cancelled() {
                return Poll::Ready(false);
            }
            if self.running.load(Acquire) < limit {
                return Poll::Ready(true);
            }
            self.room.register(cx.waker());
            if self.running.load(Acquire) < limit {
                return Poll::Ready(true);
            }
            match cancel.register(cx) {
                Ok(()) => Poll::Pending,
                Err(_) => Poll::Ready(false),
            }
        })
        .await
    }
}

/// Held by a running `amap` task: makes room for the next one when the task's future is
/// dropped, however it ended.
struct Running<T>(Arc<Amap<T>>);

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, AcqRel);
        self.0.room.wake();
    }
}
