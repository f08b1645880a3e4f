//! The ferrokafka admin client (issue 7): topics, partitions, configs,
//! consumer groups and the cluster.
//!
//! [`Admin`] wraps a [`ferrokafka_client::Client`] and routes each request
//! through it (controller-bound requests to the controller, metadata to any
//! broker). Multi-item calls return one result per item so that one failure
//! does not hide the others.

pub mod configs;
pub mod error;
pub mod groups;
pub mod offsets;
pub mod topics;

pub use configs::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource};
pub use error::{AdminError, Result};
pub use groups::{
    ClusterDescription, CommittedOffset, GroupDescription, GroupListing, MemberDescription, Node,
    decode_assignment,
};
pub use offsets::{ListedOffset, OffsetSpec, PartitionLag};
pub use topics::{
    CreateTopicsOptions, DeleteTopicsOptions, NewTopic, PartitionDescription, TopicDescription,
    TopicListing,
};

use std::time::Duration;

use ferrokafka_client::{Client, ClientConfig};

/// The default time an admin operation may take, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin client.
#[derive(Clone)]
pub struct Admin {
    client: Client,
}

impl Admin {
    /// Connects to the cluster named by `config`. Metadata requests made for
    /// the admin client never auto-create topics, whatever the config says.
    pub async fn connect(mut config: ClientConfig) -> Result<Admin> {
        config.allow_auto_create_topics = false;
        let client = Client::connect(config).await?;
        Ok(Admin { client })
    }

    /// Wraps an already connected client.
    pub fn from_client(client: Client) -> Admin {
        Admin { client }
    }

    /// The underlying client core.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Closes the client's connections.
    pub fn close(&self) {
        self.client.close();
    }
}
