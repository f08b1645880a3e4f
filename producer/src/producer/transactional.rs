//! The transactional calls of a [`Producer`] with `transactional.id` set
//! (KIP-98, KIP-447): each runs one at a time and waits up to
//! `max.block.ms`; the transaction state itself lives in
//! [`TransactionManager`]. A fatal error (fencing, authorization) is kept,
//! and every later call and `send` fails with it, as in Java.

use std::sync::Arc;

use super::Producer;
use crate::error::{Error, Result};
use crate::transaction::{ConsumerGroupMetadata, TransactionManager};

impl Producer {
    /// The transaction manager, or the error a producer without
    /// `transactional.id` gives for transactional calls, or the fatal error
    /// the producer hit (every call after it fails with it, as in Java).
    fn transactions(&self) -> Result<&Arc<TransactionManager>> {
        let txn = self.inner.txn.as_ref().ok_or_else(|| {
            Error::TransactionState("the producer has no transactional.id".into())
        })?;
        match self.inner.shared.fatal() {
            Some(fatal) => Err(fatal),
            None => Ok(txn),
        }
    }

    /// A transactional call's result; a fatal error (fencing, authorization)
    /// is kept, so that every later call and `send` fails with it.
    fn keep_fatal<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(error @ Error::Fatal(_)) = &result {
            self.inner.shared.set_fatal(error.clone());
        }
        result
    }

    /// Gets this `transactional.id`'s producer id and epoch from its
    /// transaction coordinator, fencing any older producer with the same
    /// id and completing (aborting) a transaction it left open. Call once,
    /// before the first transaction; waits up to `max.block.ms`.
    pub async fn init_transactions(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _call = txn.calls.lock().await;
        let inner = &*self.inner;
        let result = txn
            .init(&inner.client, inner.config.max_block, &inner.acc.wakeup)
            .await;
        self.keep_fatal(result)
    }

    /// Opens a transaction: records sent from now on are committed or
    /// aborted together.
    pub fn begin_transaction(&self) -> Result<()> {
        self.transactions()?.begin()
    }

    /// Adds consumed offsets to the open transaction (consume-transform-
    /// produce): they are committed for `group` if and only if the
    /// transaction commits. Each entry is (topic, partition, the next offset
    /// to read); pass the consumer's group metadata so the coordinator can
    /// fence a member that lost its partitions.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(&str, i32, i64)],
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let txn = self.transactions()?;
        let _call = txn.calls.lock().await;
        let result = txn
            .send_offsets(
                &self.inner.client,
                offsets,
                group,
                self.inner.config.max_block,
            )
            .await;
        self.keep_fatal(result)
    }

    /// Delivers every record of the open transaction, then commits it. If a
    /// record failed, or the coordinator refuses, this returns
    /// [`Error::TransactionAbortable`]: abort, and redo the work. Fencing
    /// errors are fatal ([`Error::Fatal`]).
    pub async fn commit_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _call = txn.calls.lock().await;
        txn.begin_commit()?;
        self.flush().await;
        let result = txn
            .finish_commit(&self.inner.client, self.inner.config.max_block)
            .await;
        self.keep_fatal(result)
    }

    /// Aborts the open transaction: records not sent yet fail with
    /// [`Error::TransactionAborted`], those in flight are waited for, and
    /// the coordinator writes abort markers so read_committed consumers
    /// never see any of them.
    pub async fn abort_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _call = txn.calls.lock().await;
        txn.begin_abort()?;
        let inner = &*self.inner;
        for batch in inner.acc.take_all_queued() {
            if batch.base_sequence.is_some() {
                txn.dropped_numbered_batch();
            }
            inner.shared.counters.failed(batch.record_count());
            inner.acc.complete(batch, Err(Error::TransactionAborted));
        }
        self.flush().await;
        let result = txn
            .finish_abort(&inner.client, inner.config.max_block, &inner.acc.wakeup)
            .await;
        self.keep_fatal(result)
    }
}
