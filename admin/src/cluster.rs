//! The cluster: DescribeCluster (brokers, controller, cluster id), the
//! authorized-operations bit fields of KIP-430 decoded into
//! [`AclOperation`]s, and the request plumbing the other modules share
//! (metadata requests, API version lookup).

use std::collections::BTreeSet;

use ferrokafka_client::{RetryAction, Target, classify};
use ferrokafka_protocol::Request;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{DescribeClusterRequest, MetadataRequest, MetadataResponse};

use crate::options::DescribeClusterOptions;
use crate::{Admin, AdminError, Deadline, Result};

/// An operation an ACL can allow (Kafka's `AclOperation`, by wire code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AclOperation {
    /// READ (3).
    Read,
    /// WRITE (4).
    Write,
    /// CREATE (5).
    Create,
    /// DELETE (6).
    Delete,
    /// ALTER (7).
    Alter,
    /// DESCRIBE (8).
    Describe,
    /// CLUSTER_ACTION (9).
    ClusterAction,
    /// DESCRIBE_CONFIGS (10).
    DescribeConfigs,
    /// ALTER_CONFIGS (11).
    AlterConfigs,
    /// IDEMPOTENT_WRITE (12).
    IdempotentWrite,
    /// CREATE_TOKENS (13).
    CreateTokens,
    /// DESCRIBE_TOKENS (14).
    DescribeTokens,
}

impl AclOperation {
    const ALL: [(i32, AclOperation); 12] = [
        (3, AclOperation::Read),
        (4, AclOperation::Write),
        (5, AclOperation::Create),
        (6, AclOperation::Delete),
        (7, AclOperation::Alter),
        (8, AclOperation::Describe),
        (9, AclOperation::ClusterAction),
        (10, AclOperation::DescribeConfigs),
        (11, AclOperation::AlterConfigs),
        (12, AclOperation::IdempotentWrite),
        (13, AclOperation::CreateTokens),
        (14, AclOperation::DescribeTokens),
    ];

    /// The wire code.
    pub fn code(self) -> i8 {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .and_then(|(c, _)| i8::try_from(*c).ok())
            .unwrap_or(0)
    }

    /// Decodes an `authorized_operations` bit field: `None` when the broker
    /// did not send one (`i32::MIN`, "not requested"); UNKNOWN, ANY and ALL
    /// bits are dropped, as Java's `validAclOperations` does.
    pub fn from_bit_field(bits: i32) -> Option<BTreeSet<AclOperation>> {
        if bits == i32::MIN {
            return None;
        }
        Some(
            Self::ALL
                .iter()
                .filter(|(code, _)| bits & (1i32 << code) != 0)
                .map(|(_, op)| *op)
                .collect(),
        )
    }
}

/// A broker as [`Admin::describe_cluster`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The broker id.
    pub id: i32,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: i32,
    /// Its rack.
    pub rack: Option<String>,
}

/// The cluster's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's broker id, if known.
    pub controller: Option<i32>,
    /// The brokers, sorted by id.
    pub brokers: Vec<Node>,
    /// What this client may do on the cluster, when asked for
    /// (`include_authorized_operations`) and the broker answered.
    pub authorized_operations: Option<BTreeSet<AclOperation>>,
}

impl Admin {
    /// Describes the cluster: brokers, controller and cluster id
    /// (DescribeCluster, to any broker).
    pub async fn describe_cluster(
        &self,
        options: DescribeClusterOptions,
    ) -> Result<ClusterDescription> {
        let deadline = Deadline::after(options.timeout);
        let request = DescribeClusterRequest {
            include_cluster_authorized_operations: options.include_authorized_operations,
            ..Default::default()
        };
        let response = match deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &Target::AnyBroker,
                deadline.remaining(),
                |r| Some(r.error_code).filter(|c| c.is_retriable()),
            ))
            .await
        {
            Err(AdminError::Client(ferrokafka_client::Error::UnsupportedByBroker { .. })) => {
                // Brokers before Kafka 2.8 (KIP-700): Metadata, as Java falls
                // back to.
                return self
                    .describe_cluster_from_metadata(options, &deadline)
                    .await;
            }
            other => other?,
        };
        AdminError::check(response.error_code, response.error_message)?;
        let mut brokers: Vec<Node> = response
            .brokers
            .into_iter()
            .map(|b| Node {
                id: b.broker_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id,
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
            authorized_operations: if options.include_authorized_operations {
                AclOperation::from_bit_field(response.cluster_authorized_operations)
            } else {
                None
            },
        })
    }

    async fn describe_cluster_from_metadata(
        &self,
        options: DescribeClusterOptions,
        deadline: &Deadline,
    ) -> Result<ClusterDescription> {
        let version = self
            .version_for::<MetadataRequest>(&Target::AnyBroker, deadline)
            .await?;
        let request = MetadataRequest {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: false,
            include_cluster_authorized_operations: options.include_authorized_operations
                && (8..=10).contains(&version),
            ..Default::default()
        };
        let response: MetadataResponse = deadline
            .run(
                self.client
                    .send_with_retry(&request, &Target::AnyBroker, deadline.remaining()),
            )
            .await?;
        let mut brokers: Vec<Node> = response
            .brokers
            .into_iter()
            .map(|b| Node {
                id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.unwrap_or_default(),
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
            authorized_operations: if options.include_authorized_operations {
                AclOperation::from_bit_field(response.cluster_authorized_operations)
            } else {
                None
            },
        })
    }

    /// A Metadata request for `topics` (every topic when `None`), to any
    /// broker, never creating topics.
    pub(crate) async fn metadata_request(
        &self,
        topics: Option<Vec<MetadataRequestTopic>>,
        include_topic_operations: bool,
        deadline: &Deadline,
    ) -> Result<MetadataResponse> {
        // The flag exists from Metadata v8; older brokers cannot answer it.
        let include_topic_operations = include_topic_operations
            && self
                .version_for::<MetadataRequest>(&Target::AnyBroker, deadline)
                .await?
                >= 8;
        let request = MetadataRequest {
            topics,
            allow_auto_topic_creation: false,
            include_topic_authorized_operations: include_topic_operations,
            ..Default::default()
        };
        deadline
            .run(
                self.client
                    .send_with_retry(&request, &Target::AnyBroker, deadline.remaining()),
            )
            .await
    }

    /// The version of `R` the broker behind `target` and this client agree
    /// on (any known broker for [`Target::AnyBroker`] or an unknown
    /// controller).
    pub(crate) async fn version_for<R: Request>(
        &self,
        target: &Target,
        deadline: &Deadline,
    ) -> Result<i16> {
        // Routing may fail for a while (a coordinator loading, a broker
        // restarting): retried with the core's policy until the deadline.
        let mut round = 0u32;
        loop {
            match self.try_version_for::<R>(target, deadline).await {
                Err(AdminError::Client(e))
                    if classify(&e) != RetryAction::Fail && !deadline.passed() =>
                {
                    if classify(&e) == RetryAction::RefreshMetadata {
                        let _ = deadline.run(self.client.refresh_metadata()).await;
                    }
                    deadline.backoff(&self.client, round).await;
                    round = round.saturating_add(1);
                }
                other => return other,
            }
        }
    }

    async fn try_version_for<R: Request>(
        &self,
        target: &Target,
        deadline: &Deadline,
    ) -> Result<i16> {
        let node = match deadline.run(self.client.resolve(target)).await? {
            Some(node) => node,
            None => {
                let mut ids: Vec<i32> = self.client.metadata().brokers.keys().copied().collect();
                if ids.is_empty() {
                    deadline.run(self.client.refresh_metadata()).await?;
                    ids = self.client.metadata().brokers.keys().copied().collect();
                }
                ids.sort_unstable();
                match ids.first() {
                    Some(id) => *id,
                    None => {
                        return Err(AdminError::Client(
                            ferrokafka_client::Error::NoBrokerAvailable {
                                tried: Vec::new(),
                                last: "the metadata lists no broker".into(),
                            },
                        ));
                    }
                }
            }
        };
        let connection = deadline.run(self.client.node_connection(node)).await?;
        Ok(connection.version_for::<R>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorized_operations_decode_from_the_bit_field() {
        assert_eq!(AclOperation::from_bit_field(i32::MIN), None);
        assert_eq!(AclOperation::from_bit_field(0), Some(BTreeSet::new()));
        // UNKNOWN (0), ANY (1) and ALL (2) are dropped.
        let ops = AclOperation::from_bit_field(0b111 | (1 << 3) | (1 << 8) | (1 << 14)).unwrap();
        assert_eq!(
            ops.into_iter().collect::<Vec<_>>(),
            [
                AclOperation::Read,
                AclOperation::Describe,
                AclOperation::DescribeTokens
            ]
        );
        assert_eq!(AclOperation::AlterConfigs.code(), 11);
    }
}
