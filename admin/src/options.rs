//! One options struct per admin operation, as Java's `Admin` has them
//! (`CreateTopicsOptions`, `DescribeConfigsOptions`...). Each `Default`
//! mirrors Java's: `timeout` is `default.api.timeout.ms` (60000) and bounds
//! the whole call, retries included; `validate_only` exists where the Kafka
//! request has it (CreateTopics, CreatePartitions, AlterConfigs,
//! IncrementalAlterConfigs); `include_authorized_operations` where the
//! response can carry them (topics, cluster, groups; KIP-430).

use std::time::Duration;

use crate::DEFAULT_API_TIMEOUT;

macro_rules! timeout_only {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name {
                /// How long the call may take, retries included.
                pub timeout: Duration,
            }

            impl Default for $name {
                fn default() -> Self {
                    // Java: default.api.timeout.ms = 60000.
                    $name {
                        timeout: DEFAULT_API_TIMEOUT,
                    }
                }
            }

            impl $name {
                /// These options with another timeout.
                pub fn timeout(self, timeout: Duration) -> Self {
                    $name { timeout }
                }
            }
        )*
    };
}

timeout_only!(
    /// Options of [`crate::Admin::delete_topics`] and
    /// [`crate::Admin::delete_topics_by_id`].
    DeleteTopicsOptions,
    /// Options of [`crate::Admin::delete_records`].
    DeleteRecordsOptions,
    /// Options of [`crate::Admin::delete_consumer_groups`].
    DeleteConsumerGroupsOptions,
    /// Options of [`crate::Admin::alter_consumer_group_offsets`].
    AlterConsumerGroupOffsetsOptions,
    /// Options of [`crate::Admin::delete_consumer_group_offsets`].
    DeleteConsumerGroupOffsetsOptions,
    /// Options of [`crate::Admin::consumer_group_lag`].
    ConsumerGroupLagOptions,
);

macro_rules! validate_only {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name {
                /// How long the call may take, retries included (also sent
                /// to the broker as the request's `timeout_ms`, where it has one).
                pub timeout: Duration,
                /// Have the broker validate the request without applying it.
                pub validate_only: bool,
            }

            impl Default for $name {
                fn default() -> Self {
                    $name {
                        // Java: default.api.timeout.ms = 60000.
                        timeout: DEFAULT_API_TIMEOUT,
                        // Java: false.
                        validate_only: false,
                    }
                }
            }

            impl $name {
                /// These options with another timeout.
                pub fn timeout(self, timeout: Duration) -> Self {
                    $name { timeout, ..self }
                }

                /// These options, validating only.
                pub fn validate_only(self, validate_only: bool) -> Self {
                    $name { validate_only, ..self }
                }
            }
        )*
    };
}

validate_only!(
    /// Options of [`crate::Admin::create_topics`].
    CreateTopicsOptions,
    /// Options of [`crate::Admin::create_partitions`].
    CreatePartitionsOptions,
    /// Options of [`crate::Admin::alter_configs`] and
    /// [`crate::Admin::incremental_alter_configs`].
    AlterConfigsOptions,
);

macro_rules! authorized_operations {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name {
                /// How long the call may take, retries included.
                pub timeout: Duration,
                /// Ask the broker for the operations this client may perform
                /// (KIP-430).
                pub include_authorized_operations: bool,
            }

            impl Default for $name {
                fn default() -> Self {
                    $name {
                        // Java: default.api.timeout.ms = 60000.
                        timeout: DEFAULT_API_TIMEOUT,
                        // Java: false.
                        include_authorized_operations: false,
                    }
                }
            }

            impl $name {
                /// These options with another timeout.
                pub fn timeout(self, timeout: Duration) -> Self {
                    $name { timeout, ..self }
                }

                /// These options, asking for authorized operations.
                pub fn include_authorized_operations(self, include: bool) -> Self {
                    $name {
                        include_authorized_operations: include,
                        ..self
                    }
                }
            }
        )*
    };
}

authorized_operations!(
    /// Options of [`crate::Admin::describe_topics`] and
    /// [`crate::Admin::describe_topics_by_id`].
    DescribeTopicsOptions,
    /// Options of [`crate::Admin::describe_cluster`].
    DescribeClusterOptions,
    /// Options of [`crate::Admin::describe_consumer_groups`].
    DescribeConsumerGroupsOptions,
);

/// Options of [`crate::Admin::list_topics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListTopicsOptions {
    /// How long the call may take, retries included.
    pub timeout: Duration,
    /// List internal topics (`__consumer_offsets`...) too.
    pub list_internal: bool,
}

impl Default for ListTopicsOptions {
    fn default() -> Self {
        ListTopicsOptions {
            // Java: default.api.timeout.ms = 60000.
            timeout: DEFAULT_API_TIMEOUT,
            // Java: false.
            list_internal: false,
        }
    }
}

impl ListTopicsOptions {
    /// These options, listing internal topics or not.
    pub fn list_internal(self, list_internal: bool) -> Self {
        ListTopicsOptions {
            list_internal,
            ..self
        }
    }
}

/// Options of [`crate::Admin::list_offsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsOptions {
    /// How long the call may take, retries included.
    pub timeout: Duration,
    /// Look up offsets as a `read_committed` consumer sees them (the last
    /// stable offset instead of the high watermark).
    pub read_committed: bool,
}

impl Default for ListOffsetsOptions {
    fn default() -> Self {
        ListOffsetsOptions {
            // Java: default.api.timeout.ms = 60000.
            timeout: DEFAULT_API_TIMEOUT,
            // Java: IsolationLevel.READ_UNCOMMITTED.
            read_committed: false,
        }
    }
}

/// Options of [`crate::Admin::describe_configs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescribeConfigsOptions {
    /// How long the call may take, retries included.
    pub timeout: Duration,
    /// Ask for each entry's synonyms (the values it would have at each
    /// level; DescribeConfigs v1+).
    pub include_synonyms: bool,
    /// Ask for each entry's documentation (v3+).
    pub include_documentation: bool,
}

impl Default for DescribeConfigsOptions {
    fn default() -> Self {
        DescribeConfigsOptions {
            // Java: default.api.timeout.ms = 60000.
            timeout: DEFAULT_API_TIMEOUT,
            // Java: false.
            include_synonyms: false,
            // Java: false.
            include_documentation: false,
        }
    }
}

/// Options of [`crate::Admin::list_consumer_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListConsumerGroupsOptions {
    /// How long the call may take, retries included.
    pub timeout: Duration,
    /// Only groups in one of these states (all groups when empty); sent to
    /// brokers that filter (ListGroups v4+, KIP-518) and applied here too.
    pub states: Vec<crate::GroupState>,
}

impl ListConsumerGroupsOptions {
    /// These options, keeping only groups in one of `states`.
    pub fn in_states(self, states: impl IntoIterator<Item = crate::GroupState>) -> Self {
        ListConsumerGroupsOptions {
            states: states.into_iter().collect(),
            ..self
        }
    }

    /// These options with another timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        ListConsumerGroupsOptions { timeout, ..self }
    }
}

impl Default for ListConsumerGroupsOptions {
    fn default() -> Self {
        ListConsumerGroupsOptions {
            // Java: default.api.timeout.ms = 60000.
            timeout: DEFAULT_API_TIMEOUT,
            // Java: every state.
            states: Vec::new(),
        }
    }
}

/// Options of [`crate::Admin::list_consumer_group_offsets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListConsumerGroupOffsetsOptions {
    /// How long the call may take, retries included.
    pub timeout: Duration,
    /// Only these partitions (`(topic, partition)`); every committed
    /// partition when `None`.
    pub partitions: Option<Vec<(String, i32)>>,
    /// Wait for pending transactional commits (OffsetFetch v7+
    /// `require_stable`, KIP-447).
    pub require_stable: bool,
}

impl Default for ListConsumerGroupOffsetsOptions {
    fn default() -> Self {
        ListConsumerGroupOffsetsOptions {
            // Java: default.api.timeout.ms = 60000.
            timeout: DEFAULT_API_TIMEOUT,
            // Java: every partition with a committed offset.
            partitions: None,
            // Java: false.
            require_stable: false,
        }
    }
}

impl ListConsumerGroupOffsetsOptions {
    /// These options with another timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        ListConsumerGroupOffsetsOptions { timeout, ..self }
    }

    /// These options, listing only `partitions` (`(topic, partition)`).
    pub fn partitions(self, partitions: impl IntoIterator<Item = (String, i32)>) -> Self {
        ListConsumerGroupOffsetsOptions {
            partitions: Some(partitions.into_iter().collect()),
            ..self
        }
    }
}
