//! Every supported API at every supported version, fed the protocol crate's
//! sample request (every field non-default), must produce a response that
//! encodes at that version, and so must its error response. This is what
//! catches a handler filling a field a version cannot carry.

use std::sync::Arc;

use bytes::BytesMut;
use ferrokafka_protocol::generated::{RequestHeader, RequestKind, ResponseKind};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::watch;

use super::{Reply, RequestContext, error_response, handle};
use crate::apis::SUPPORTED_APIS;
use crate::cluster::{Cluster, NodeInfo};
use crate::config::BrokerConfig;

fn cluster() -> Arc<Cluster> {
    let config = BrokerConfig {
        nodes: 2,
        ..BrokerConfig::default()
    };
    let nodes = (0..2)
        .map(|id| NodeInfo {
            id,
            host: "127.0.0.1".into(),
            port: 9092 + id as u16,
            alive: true,
        })
        .collect();
    Arc::new(Cluster::new(config, nodes).unwrap())
}

fn is_group_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::OffsetDelete
            | ApiKey::DescribeGroups
            | ApiKey::ListGroups
            | ApiKey::DeleteGroups
    )
}

fn encodes(response: &ResponseKind, version: i16) -> Result<(), String> {
    let mut buf = BytesMut::new();
    response
        .encode(&mut buf, version)
        .map_err(|error| error.to_string())
}

#[tokio::test(start_paused = true)]
async fn every_supported_version_answers_with_an_encodable_response() {
    let cluster = cluster();
    let (_stop, stopped) = watch::channel(false);
    let mut failures = Vec::new();
    for support in SUPPORTED_APIS {
        for version in support.versions.min..=support.versions.max {
            let request = RequestKind::sample(support.api, version);
            // Group APIs run on both nodes: node 1 is not the coordinator
            // and answers NOT_COORDINATOR itself.
            if is_group_api(support.api) {
                let context = RequestContext {
                    cluster: Arc::clone(&cluster),
                    node: 1,
                    version,
                    header: RequestHeader::default(),
                    stopped: stopped.clone(),
                    partition_fault: None,
                    client_host: Arc::from(""),
                };
                match handle(&context, request.clone()).await {
                    Reply::Respond(response) => {
                        if let Err(error) = encodes(&response, version) {
                            failures.push(format!(
                                "{} v{version} on node 1: {error}",
                                support.api.name()
                            ));
                        }
                    }
                    Reply::Silent | Reply::Close => failures.push(format!(
                        "{} v{version} on node 1: no response",
                        support.api.name()
                    )),
                }
            }
            let node = 0;
            let context = RequestContext {
                cluster: Arc::clone(&cluster),
                node,
                version,
                header: RequestHeader::default(),
                stopped: stopped.clone(),
                partition_fault: None,
                client_host: Arc::from(""),
            };
            if let Some(response) =
                error_response(&request, version, ErrorCode::NotLeaderOrFollower)
            {
                if let Err(error) = encodes(&response, version) {
                    failures.push(format!(
                        "{} v{version} error response: {error}",
                        support.api.name()
                    ));
                }
            } else {
                failures.push(format!(
                    "{} v{version}: no error response",
                    support.api.name()
                ));
            }
            match handle(&context, request).await {
                Reply::Respond(response) => {
                    if let Err(error) = encodes(&response, version) {
                        failures.push(format!("{} v{version}: {error}", support.api.name()));
                    }
                }
                Reply::Silent | Reply::Close => {
                    if support.api != ApiKey::Produce {
                        failures.push(format!("{} v{version}: no response", support.api.name()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
