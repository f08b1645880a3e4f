//! One module per API key, and the dispatch from a decoded request to its
//! handler, made from the list of served APIs in [`crate::apis`]. Whether an
//! API and version are served at all is decided before this, by the table
//! made from the same list.
//!
//! Each module has `handle` (the request, answered) and `error_response`
//! (the same request answered with one error code everywhere, for
//! [`crate::faults::FaultAction::Fail`] and, for group APIs, NOT_COORDINATOR).

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_topic_partitions;
pub(crate) mod describe_transactions;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;

use std::sync::Arc;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{RequestHeader, RequestKind, ResponseKind};
use tokio::sync::watch;

use crate::cluster::Cluster;

/// What a handler knows about the request it is answering.
pub(crate) struct RequestContext {
    pub(crate) cluster: Arc<Cluster>,
    /// The node the request reached.
    pub(crate) node: i32,
    /// The request's API version.
    pub(crate) version: i16,
    /// The request header (correlation id, client id), for logs.
    pub(crate) header: RequestHeader,
    /// Fires when the node stops, so a long poll can return at once.
    pub(crate) stopped: watch::Receiver<bool>,
    /// An injected error for one partition (see [`crate::faults`]).
    pub(crate) partition_fault: Option<PartitionFault>,
    /// The client's address as Kafka shows it (`/127.0.0.1`), or empty.
    pub(crate) client_host: Arc<str>,
}

/// An error injected for one partition of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionFault {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) code: ErrorCode,
}

impl RequestContext {
    /// The error injected for `topic`-`partition`, if any.
    pub(crate) fn injected_error(&self, topic: &str, partition: i32) -> Option<ErrorCode> {
        self.partition_fault
            .as_ref()
            .filter(|fault| fault.topic == topic && fault.partition == partition)
            .map(|fault| fault.code)
    }

    /// Whether this node coordinates groups.
    pub(crate) fn is_coordinator(&self) -> bool {
        self.cluster.coordinator_id() == self.node
    }
}

/// A handler's answer.
// One per request, moved once into the encoder: boxing the response would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reply {
    /// Send this response.
    Respond(ResponseKind),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection (Produce with acks=0 that failed, as Kafka does,
    /// so the producer notices).
    Close,
}

impl From<ResponseKind> for Reply {
    fn from(response: ResponseKind) -> Self {
        Reply::Respond(response)
    }
}

/// What a handler's `handle` returns: its API's response, or (Produce) a
/// [`Reply`] that may also be silence or a closed connection.
pub(crate) trait IntoReply {
    /// The answer to send.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl<T: Into<ResponseKind>> IntoReply for T {
    fn into_reply(self) -> Reply {
        Reply::Respond(self.into())
    }
}

/// Makes [`handle`] and [`error_response`] from the list of served APIs in
/// [`crate::apis`]: every module listed there has
/// `async fn handle(&RequestContext, Request) -> impl IntoReply` and
/// `fn error_response(&Request, version, ErrorCode) -> Response`.
macro_rules! dispatch {
    ($($api:ident => $module:ident,)*) => {
        /// Runs the handler of `request`'s API.
        pub(crate) async fn handle(context: &RequestContext, request: RequestKind) -> Reply {
            let version = context.version;
            tracing::trace!(
                node = context.node,
                api = request.api_key().name(),
                version,
                correlation_id = context.header.correlation_id,
                client_id = context.header.client_id.as_deref().unwrap_or(""),
                "handling a request"
            );
            match request {
                $(RequestKind::$api(r) => $module::handle(context, r).await.into_reply(),)*
                other => {
                    // An API the broker does not serve: the connection
                    // refuses it before decoding, so this is a broker bug,
                    // answered the way an unsupported request is.
                    tracing::error!(
                        api = other.api_key().name(),
                        version,
                        "no handler for a supported API"
                    );
                    Reply::Close
                }
            }
        }

        /// `request` answered with `code` on every entry, without applying it.
        pub(crate) fn error_response(
            request: &RequestKind,
            version: i16,
            code: ErrorCode,
        ) -> Option<ResponseKind> {
            Some(match request {
                $(RequestKind::$api(r) => {
                    ResponseKind::$api($module::error_response(r, version, code))
                })*
                _ => return None,
            })
        }
    };
}
crate::apis::served_apis!(dispatch);

/// The error message field for `code`, or `None` for success.
pub(crate) fn message_for(code: ErrorCode) -> Option<String> {
    (!code.is_ok()).then(|| code.description().to_owned())
}

#[cfg(test)]
mod tests;
