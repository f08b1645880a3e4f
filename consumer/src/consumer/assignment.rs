//! What the consumer reads: a manual [`Consumer::assign`]ment, or a group
//! subscription to topics ([`Consumer::subscribe`]) or to a pattern matched
//! against the cluster's topics again every `metadata.max.age.ms` (as
//! Java's `subscribe(Pattern)`); and [`Consumer::unsubscribe`], which
//! revokes and leaves the group.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{Consumer, RebalanceListener};
use crate::error::{Error, Result};
use crate::record::TopicPartition;
use crate::subscription::Mode;

impl Consumer {
    /// Reads exactly these partitions, without a group (offsets are still
    /// committed to `group.id` if one is set). Replaces any previous assignment.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        self.ensure_open()?;
        if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            return Err(Error::IllegalState);
        }
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        self.subscriptions.mode = if partitions.is_empty() {
            Mode::None
        } else {
            Mode::Manual
        };
        self.subscriptions.set_assignment(partitions);
        self.drop_buffered_unassigned();
        Ok(())
    }

    /// Joins the group and reads the partitions it assigns of `topics`.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        self.ensure_open()?;
        if self.coordinator.is_none() {
            return Err(Error::NoGroupId("subscribe"));
        }
        if self.subscriptions.mode == Mode::Manual {
            return Err(Error::IllegalState);
        }
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        self.pattern = None;
        self.subscriptions.mode = Mode::Subscribed(topics);
        if let Some(coordinator) = &self.coordinator {
            coordinator.request_rejoin();
        }
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a
    /// regular expression, matched as Java's `Pattern.matcher().matches()`).
    /// Topics are matched again every `metadata.max.age.ms`; new matches
    /// trigger a rejoin. Internal topics are never matched.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        let regex = regex_automata::meta::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::Client(ferrokafka_client::Error::Config(format!(
                "invalid subscription pattern {pattern:?}: {e}"
            )))
        })?;
        self.subscribe(Vec::<String>::new())?;
        self.pattern = Some((regex, None));
        Ok(())
    }

    /// Re-matches the pattern against the cluster's topics when due;
    /// a changed set of topics updates the subscription and asks for a rejoin.
    pub(super) async fn refresh_pattern(&mut self) -> Result<()> {
        let Some((regex, checked)) = &self.pattern else {
            return Ok(());
        };
        if checked.is_some_and(|c| c.elapsed() < self.config.client.metadata_max_age) {
            return Ok(());
        }
        let request = ferrokafka_protocol::generated::MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let response = self
            .client
            .send(&request, &ferrokafka_client::Target::AnyBroker)
            .await?;
        let matched: BTreeSet<String> = response
            .topics
            .into_iter()
            .filter(|t| !t.is_internal && t.error_code == ferrokafka_protocol::ErrorCode::None)
            .filter_map(|t| t.name)
            .filter(|name| regex.is_match(name.as_str()))
            .collect();
        if let Some((_, checked)) = &mut self.pattern {
            *checked = Some(Instant::now());
        }
        if self.subscriptions.mode != Mode::Subscribed(matched.clone()) {
            tracing::debug!(?matched, "pattern subscription changed");
            self.subscriptions.mode = Mode::Subscribed(matched);
            if let Some(coordinator) = &self.coordinator {
                coordinator.request_rejoin();
            }
        }
        Ok(())
    }

    /// Like [`Consumer::subscribe`], with a listener told of every
    /// assignment change.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: Box<dyn RebalanceListener>,
    ) -> Result<()> {
        self.subscribe(topics)?;
        self.listener = Some(listener);
        Ok(())
    }

    /// The subscribed topics (empty with a manual assignment).
    pub fn subscription(&self) -> Vec<String> {
        match &self.subscriptions.mode {
            Mode::Subscribed(topics) => topics.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Stops reading: commits (with auto-commit), revokes, leaves the group.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.ensure_open()?;
        if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            self.revoke_all(false).await;
            if let Some(coordinator) = &mut self.coordinator {
                coordinator.leave(self.config.client.request_timeout).await;
            }
        }
        self.subscriptions.mode = Mode::None;
        self.pattern = None;
        self.subscriptions.set_assignment([]);
        self.buffered.clear();
        Ok(())
    }

    /// The partitions this consumer reads now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.subscriptions.assignment()
    }
}
