//! A small async queue for a connection's inbox: any number of senders, one receiver, an
//! optional bound. Unlike a channel, an empty queue holds no allocation (a `VecDeque` allocates
//! on its first push), which matters at tens of thousands of idle connections: each has a few.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// The queue.
pub struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    /// Signalled when an item arrives (one receiver: a stored permit is never lost).
    ready: Notify,
    /// Signalled when an item leaves (for senders waiting for room).
    room: Notify,
    /// The most items held (`usize::MAX`: unbounded).
    cap: usize,
    closed: AtomicBool,
}

impl<T> Queue<T> {
    pub fn bounded(cap: usize) -> Self {
        Queue {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            room: Notify::new(),
            cap,
            closed: AtomicBool::new(false),
        }
    }

    pub fn unbounded() -> Self {
        Self::bounded(usize::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `item` if there is room and the queue is open; gives it back otherwise.
    pub fn try_push(&self, item: T) -> Result<(), T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        let mut q = self.lock();
        if q.len() >= self.cap {
            return Err(item);
        }
        q.push_back(item);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Adds `item`, waiting for room; `false` if the queue closed first.
    pub async fn push(&self, mut item: T) -> bool {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(item) {
                Ok(()) => return true,
                Err(back) if self.closed.load(Ordering::Acquire) => {
                    drop(back);
                    return false;
                }
                Err(back) => item = back,
            }
            room.await;
        }
    }

    /// The next item, if one is there.
    pub fn try_pop(&self) -> Option<T> {
        let item = self.lock().pop_front();
        if item.is_some() {
            self.room.notify_one();
        }
        item
    }

    /// The next item, waiting for one; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<T> {
        loop {
            if let Some(item) = self.try_pop() {
                return Some(item);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// Closes the queue: pushes fail from now on and waiting senders give up; the receiver
    /// still gets what is queued.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.room.notify_waiters();
        self.ready.notify_one();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn items_arrive_in_order_and_the_bound_holds() {
        let q = Queue::bounded(2);
        assert!(q.try_push(1).is_ok());
        assert!(q.try_push(2).is_ok());
        assert_eq!(q.try_push(3), Err(3));
        assert_eq!(q.pop().await, Some(1));
        assert!(q.try_push(3).is_ok());
        assert_eq!((q.try_pop(), q.try_pop(), q.try_pop()), (Some(2), Some(3), None));
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_room_and_a_waiting_receiver_an_item() {
        let q = Arc::new(Queue::bounded(1));
        q.try_push(0).unwrap();
        let sender = {
            let q = q.clone();
            keel_rt::task::spawn(async move { q.push(1).await })
        };
        assert_eq!(q.pop().await, Some(0));
        assert!(sender.await.unwrap());
        assert_eq!(q.pop().await, Some(1));
        let receiver = {
            let q = q.clone();
            keel_rt::task::spawn(async move { q.pop().await })
        };
        keel_rt::task::yield_now().await;
        q.try_push(2).unwrap();
        assert_eq!(receiver.await.unwrap(), Some(2));
    }

    #[tokio::test]
    async fn closing_fails_senders_and_ends_the_receiver_after_the_rest() {
        let q = Arc::new(Queue::bounded(1));
        q.try_push(7).unwrap();
        let sender = {
            let q = q.clone();
            keel_rt::task::spawn(async move { q.push(8).await })
        };
        keel_rt::task::yield_now().await;
        q.close();
        assert!(!sender.await.unwrap());
        assert_eq!(q.try_push(9), Err(9));
        assert_eq!(q.pop().await, Some(7));
        assert_eq!(q.pop().await, None);
    }
}
