//! Appending: the plain `append`, and permits for callers that must fix the order of appends
//! while holding their own lock (see the [module docs](super)).

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::error::StoreError;
use super::writer::Command;
use super::{format, Fsync, Store};

/// A reserved place in the writer's queue; sending through it cannot wait.
///
/// Dropping it unused gives the place back.
pub struct AppendPermit<'a> {
    /// The reserved channel slot.
    permit: mpsc::Permit<'a, Command>,
    /// Whether the record must be reported durable (`Fsync::Always`).
    wait_for_sync: bool,
}

/// What a sent record's durability depends on; await [`Durable::wait`] to know it.
#[must_use = "in Fsync::Always the record is not known to be durable until `wait` returns"]
pub struct Durable {
    /// The writer's answer, in `Fsync::Always`; `None` in the other modes.
    synced: Option<oneshot::Receiver<Result<(), StoreError>>>,
}

impl Durable {
    /// Whether [`Durable::wait`] waits for anything: only in `Fsync::Always`. In the other
    /// modes a caller has nothing to wait for, so nothing to get ready before waiting.
    #[must_use]
    pub fn waits(&self) -> bool {
        self.synced.is_some()
    }

    /// Waits until the record is as durable as the store's fsync mode promises: fsynced in
    /// `Fsync::Always`, at once in the other modes.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the write or sync failed (the writer keeps retrying the
    /// record), [`StoreError::Closed`] when the writer stopped first.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.synced {
            Some(synced) => synced.await.map_err(|_| StoreError::Closed)?,
            None => Ok(()),
        }
    }
}

impl AppendPermit<'_> {
    /// Queues a record in the reserved place, without waiting.
    ///
    /// # Errors
    /// [`StoreError::RecordTooLarge`] when key and payload exceed
    /// [`format::MAX_RECORD_LEN`]; nothing is queued then.
    pub fn append(self, key: Bytes, payload: Bytes) -> Result<Durable, StoreError> {
        fits(&key, &payload)?;
        let (done, durable) = self.durable();
        self.permit.send(Command::Append { key, payload, done });
        Ok(durable)
    }

    /// Queues `records`, in this order, in the one reserved place, without waiting: for a
    /// caller that decides many records under its lock (the writer's queue then bounds
    /// batches, not records). The [`Durable`] is for all of them.
    ///
    /// # Errors
    /// [`StoreError::RecordTooLarge`] when one of them exceeds [`format::MAX_RECORD_LEN`];
    /// nothing is queued then.
    pub fn append_many(self, records: Vec<(Bytes, Bytes)>) -> Result<Durable, StoreError> {
        for (key, payload) in &records {
            fits(key, payload)?;
        }
        let (done, durable) = self.durable();
        self.permit.send(Command::AppendMany { records, done });
        Ok(durable)
    }

    /// Where the writer reports durability (only in `Fsync::Always`), and its other end.
    fn durable(&self) -> (Option<oneshot::Sender<Result<(), StoreError>>>, Durable) {
        if self.wait_for_sync {
            let (done, synced) = oneshot::channel();
            (
                Some(done),
                Durable {
                    synced: Some(synced),
                },
            )
        } else {
            (None, Durable { synced: None })
        }
    }
}

/// [`StoreError::RecordTooLarge`] unless a record of `key` and `payload` fits in a frame.
fn fits(key: &[u8], payload: &[u8]) -> Result<(), StoreError> {
    if format::fits(key.len(), payload.len()) {
        return Ok(());
    }
    Err(StoreError::RecordTooLarge {
        len: key.len() + payload.len(),
        max: format::MAX_RECORD_LEN,
    })
}

impl Store {
    /// Reserves a place for one append, waiting while the writer's queue is full.
    ///
    /// # Errors
    /// [`StoreError::Closed`] after [`Store::close`].
    pub async fn reserve(&self) -> Result<AppendPermit<'_>, StoreError> {
        let permit = self
            .inner
            .tx
            .reserve()
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(AppendPermit {
            permit,
            wait_for_sync: self.inner.config.fsync == Fsync::Always,
        })
    }

    /// Appends a record: waits while the writer's queue is full and, in `Fsync::Always`, until
    /// the record is fsynced. Two concurrent calls may reach the log in either order; see
    /// [`Store::reserve`] when that matters.
    ///
    /// # Errors
    /// [`StoreError::RecordTooLarge`] (nothing queued), [`StoreError::Closed`] after `close`,
    /// and in `Fsync::Always` [`StoreError::Write`] when the write or sync failed (the writer
    /// keeps retrying the record, so it is not known to be durable yet).
    pub async fn append(&self, key: Bytes, payload: Bytes) -> Result<(), StoreError> {
        self.reserve().await?.append(key, payload)?.wait().await
    }
}
