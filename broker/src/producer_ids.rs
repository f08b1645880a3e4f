//! Producer ids and epochs for InitProducerId (KIP-98, KIP-360).
//!
//! A new producer gets a fresh id at epoch 0. A producer that sends back its
//! current id and epoch (KIP-360, InitProducerId v3+) gets the next epoch, or
//! a fresh id once the epoch would overflow; one that sends a stale pair is
//! fenced. Transactional ids are the transaction coordinator's
//! ([`crate::txn`]), which takes fresh ids from here; the transactional
//! branch of [`ProducerIds::init`] is the plain form of the same rule (keep
//! the id, bump the epoch). The next id is persisted with a data directory
//! so ids never repeat across restarts.

use std::collections::HashMap;

use ferrokafka_protocol::ErrorCode;

use crate::storage::DataDir;

/// Epochs stop short of `i16::MAX`, which Kafka keeps out of use.
const LAST_EPOCH: i16 = i16::MAX - 1;

/// The producer ids handed out and the current epoch of each.
#[derive(Debug, Default)]
pub(crate) struct ProducerIds {
    next_id: i64,
    epochs: HashMap<i64, i16>,
    transactional: HashMap<String, i64>,
}

impl ProducerIds {
    /// Starts after the last id persisted in `data_dir`, if any.
    pub(crate) fn new(data_dir: Option<&DataDir>) -> Self {
        Self {
            next_id: data_dir
                .and_then(DataDir::read_next_producer_id)
                .unwrap_or(0)
                .max(0),
            ..Self::default()
        }
    }

    fn fresh(&mut self, data_dir: Option<&DataDir>) -> (i64, i16) {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.epochs.insert(id, 0);
        if let Some(data_dir) = data_dir {
            if let Err(error) = data_dir.write_next_producer_id(self.next_id) {
                tracing::error!(%error, "cannot persist the next producer id");
            }
        }
        (id, 0)
    }

    /// Answers an InitProducerId: `(producer id, epoch)` or the error code.
    pub(crate) fn init(
        &mut self,
        transactional_id: Option<&str>,
        producer_id: i64,
        producer_epoch: i16,
        data_dir: Option<&DataDir>,
    ) -> Result<(i64, i16), ErrorCode> {
        if let Some(transactional_id) = transactional_id {
            if let Some(&id) = self.transactional.get(transactional_id) {
                let epoch = self.epochs.get(&id).copied().unwrap_or(0);
                if producer_id >= 0 && (producer_id != id || producer_epoch != epoch) {
                    return Err(ErrorCode::ProducerFenced);
                }
                if epoch < LAST_EPOCH {
                    self.epochs.insert(id, epoch + 1);
                    return Ok((id, epoch + 1));
                }
            }
            let (id, epoch) = self.fresh(data_dir);
            self.transactional.insert(transactional_id.to_owned(), id);
            return Ok((id, epoch));
        }
        if producer_id < 0 {
            return Ok(self.fresh(data_dir));
        }
        match self.epochs.get(&producer_id).copied() {
            // The broker restarted or never issued this id: start afresh, as
            // Kafka does for an id it no longer knows.
            None => Ok(self.fresh(data_dir)),
            Some(current) if current != producer_epoch => Err(ErrorCode::ProducerFenced),
            Some(current) if current < LAST_EPOCH => {
                self.epochs.insert(producer_id, current + 1);
                Ok((producer_id, current + 1))
            }
            Some(_) => Ok(self.fresh(data_dir)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_epochs_bump() {
        let mut ids = ProducerIds::new(None);
        assert_eq!(ids.init(None, -1, -1, None), Ok((0, 0)));
        assert_eq!(ids.init(None, -1, -1, None), Ok((1, 0)));
        assert_eq!(ids.init(None, 0, 0, None), Ok((0, 1)));
        assert_eq!(ids.init(None, 0, 0, None), Err(ErrorCode::ProducerFenced));
        assert_eq!(ids.init(Some("tx"), -1, -1, None), Ok((2, 0)));
        assert_eq!(ids.init(Some("tx"), -1, -1, None), Ok((2, 1)));
    }
}
