//! InitProducerId for idempotent producers (no transactions): a new producer gets an id from
//! meta (the one allocation the shard leaders' deduplication also uses) at epoch 0; a producer
//! that names its id and epoch (KIP-360, after an error) gets the next epoch, which fences its
//! older epoch on every shard.

use keel_protocols::kafka::kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::Core;
use crate::meta::command::{MetaCommand, MetaOk};

pub async fn handle(core: &Core, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        return fail(ResponseError::TransactionalIdAuthorizationFailed);
    }
    if req.producer_id.0 > 0 && req.producer_epoch >= 0 {
        return match req.producer_epoch.checked_add(1).filter(|e| *e < i16::MAX) {
            Some(epoch) => {
                InitProducerIdResponse::default().with_producer_id(req.producer_id).with_producer_epoch(epoch)
            }
            None => fresh(core).await.unwrap_or_else(fail),
        };
    }
    fresh(core).await.unwrap_or_else(fail)
}

/// A new producer id at epoch 0.
async fn fresh(core: &Core) -> Result<InitProducerIdResponse, ResponseError> {
    let ok =
        core.meta.write(&MetaCommand::AllocateProducerId).await.map_err(|_| ResponseError::CoordinatorNotAvailable)?;
    match ok.result {
        Ok(MetaOk::ProducerId(id)) => {
            let id = i64::try_from(id).map_err(|_| ResponseError::UnknownServerError)?;
            Ok(InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0))
        }
        _ => Err(ResponseError::UnknownServerError),
    }
}
