//! A consumer group that members join, leave cleanly and crash out of while
//! a producer writes a numbered stream to six partitions the whole time, so
//! every rebalance finds records in flight and uncommitted. Against the
//! bundled broker (in-process, port 0).
//!
//! What must hold at the end (after an end marker in every partition has
//! been read): every record written was read (no loss), and the reads are
//! exactly one per record plus one more for each record a crashed member
//! read after its last commit, where its successor starts again (the window
//! from the committed offset, read on the member just before it is dropped,
//! to its position). A record read twice anywhere else (a clean leave, a
//! rebalance that committed before the revoke) fails the test, and so does
//! re-delivery of a record below a commit.
//!
//! Run with manual commits (periodic `commit()` plus a rebalance listener
//! that commits what was processed before a revoke) under the eager range
//! assignor, and with auto-commit under cooperative-sticky. Every wait
//! polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Reads, WAIT, Windows, Written, broker, group_config, produce_values, producer};
use ferrokafka_broker::BrokerHandle;
use ferrokafka_consumer::{
    AssignmentStrategy, Consumer, ConsumerConfig, Error, OffsetAndMetadata, RebalanceListener,
    TopicPartition,
};

const TOPIC: &str = "churn";
const PARTITIONS: i32 = 6;
const GROUP: &str = "churn-group";

/// How the members commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commits {
    /// `commit()` every 300 ms, and a listener that commits the processed
    /// offsets before a revoke.
    Manual,
    /// Auto-commit every 500 ms (and before a revoke, and on close).
    Auto,
}

/// What a member's task and its rebalance listener share.
#[derive(Default)]
struct MemberState {
    reads: Vec<Written>,
    assignment: Vec<TopicPartition>,
    /// Per partition owned, the offset after the last record processed
    /// since it was assigned: what a manual-commit application commits.
    processed: BTreeMap<TopicPartition, i64>,
    /// Partitions taken away without a clean revoke (generation lost).
    lost: Vec<TopicPartition>,
    /// Records that did not follow the previous one of their partition
    /// within one ownership: (partition, expected offset, offset read).
    out_of_order: Vec<(i32, i64, i64)>,
}

struct Listener {
    state: Arc<Mutex<MemberState>>,
    commits: Commits,
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        let mut state = self.state.lock().unwrap();
        state.processed.retain(|tp, _| !partitions.contains(tp));
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        // A new stint starts from the committed offset.
        let mut state = self.state.lock().unwrap();
        state.processed.retain(|tp, _| !partitions.contains(tp));
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        let mut state = self.state.lock().unwrap();
        state.processed.retain(|tp, _| !partitions.contains(tp));
        state.lost.extend(partitions.iter().cloned());
    }
    fn offsets_to_commit_on_revoke(
        &mut self,
        partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        if self.commits == Commits::Auto {
            return BTreeMap::new();
        }
        let state = self.state.lock().unwrap();
        state
            .processed
            .iter()
            .filter(|(tp, _)| partitions.contains(tp))
            .map(|(tp, next)| (tp.clone(), OffsetAndMetadata::new(*next)))
            .collect()
    }
}

/// A group member polling on its own task.
struct Member {
    name: &'static str,
    stop: Arc<AtomicBool>,
    /// Manual commits only: stop committing (so that a crash leaves records
    /// read but not committed).
    hold_commits: Arc<AtomicBool>,
    state: Arc<Mutex<MemberState>>,
    task: tokio::task::JoinHandle<Consumer>,
}

fn member_config(broker: &BrokerHandle, commits: Commits) -> ConsumerConfig {
    let strategy = match commits {
        Commits::Manual => AssignmentStrategy::Range,
        Commits::Auto => AssignmentStrategy::CooperativeSticky,
    };
    group_config(broker, GROUP)
        // Long enough that no member running normally loses its session on
        // a loaded machine; a crash is noticed after it.
        .session_timeout(Duration::from_secs(10))
        .max_poll_interval(Duration::from_secs(30))
        .max_poll_records(50)
        .enable_auto_commit(commits == Commits::Auto)
        .auto_commit_interval(Duration::from_millis(500))
        .partition_assignment_strategy([strategy])
        .build()
        .unwrap()
}

impl Member {
    async fn join(name: &'static str, broker: &BrokerHandle, commits: Commits) -> Member {
        let mut consumer = Consumer::connect(member_config(broker, commits))
            .await
            .unwrap();
        let state = Arc::new(Mutex::new(MemberState::default()));
        consumer
            .subscribe_with_listener(
                [TOPIC],
                Box::new(Listener {
                    state: state.clone(),
                    commits,
                }),
            )
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hold_commits = Arc::new(AtomicBool::new(false));
        let (s, h, st) = (stop.clone(), hold_commits.clone(), state.clone());
        let task = tokio::spawn(async move {
            let mut last_commit = Instant::now();
            while !s.load(Ordering::Acquire) {
                let batch = consumer.poll(Duration::from_millis(100)).await.unwrap();
                {
                    let mut state = st.lock().unwrap();
                    for record in &batch {
                        let tp = record.topic_partition();
                        if let Some(next) = state.processed.get(&tp).copied() {
                            if record.offset != next {
                                state
                                    .out_of_order
                                    .push((record.partition, next, record.offset));
                            }
                        }
                        state
                            .reads
                            .push((record.partition, record.offset, common::value(record)));
                        state.processed.insert(tp, record.offset + 1);
                    }
                    state.assignment = consumer.assignment();
                }
                if commits == Commits::Manual
                    && !h.load(Ordering::Acquire)
                    && last_commit.elapsed() >= Duration::from_millis(300)
                {
                    last_commit = Instant::now();
                    match consumer.commit().await {
                        Ok(()) => {}
                        // A rebalance under way refuses it; the listener
                        // commits these records before the revoke.
                        Err(Error::CommitFailed(_)) => {}
                        Err(other) => panic!("{name}: commit failed: {other}"),
                    }
                }
            }
            consumer
        });
        Member {
            name,
            stop,
            hold_commits,
            state,
            task,
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        let state = self.state.lock().unwrap();
        state.assignment.iter().map(|tp| tp.partition).collect()
    }

    fn read_count(&self) -> usize {
        self.state.lock().unwrap().reads.len()
    }

    fn reads(&self) -> Reads {
        Reads::once(&self.state.lock().unwrap().reads)
    }

    /// Stops polling; returns the consumer (still a member) and its record.
    async fn finish(self) -> (Consumer, Finished) {
        self.stop.store(true, Ordering::Release);
        let consumer = self.task.await.unwrap();
        let state = self.state.lock().unwrap();
        let finished = Finished {
            name: self.name,
            reads: Reads::once(&state.reads),
            lost: state.lost.clone(),
            out_of_order: state.out_of_order.clone(),
        };
        (consumer, finished)
    }

    /// Leaves cleanly: close commits and sends LeaveGroup.
    async fn leave(self) -> Finished {
        let (mut consumer, finished) = self.finish().await;
        consumer.close(Duration::from_secs(30)).await;
        finished
    }

    /// Crashes: in manual mode, first stops committing and reads on, so
    /// that records read but not committed are left behind; then drops the
    /// consumer without leaving (see [`common::crash`]).
    async fn crash(self, windows: &mut Windows) -> Finished {
        self.hold_commits.store(true, Ordering::Release);
        let before = self.read_count();
        common::wait_for(&format!("{} to read on", self.name), WAIT, || {
            self.read_count() >= before + 30
        })
        .await;
        let (consumer, finished) = self.finish().await;
        common::crash(consumer, windows).await;
        finished
    }
}

/// What a member that is gone read, and whether it lost partitions.
struct Finished {
    name: &'static str,
    reads: Reads,
    lost: Vec<TopicPartition>,
    out_of_order: Vec<(i32, i64, i64)>,
}

/// Waits until `members` own every partition between them, each some.
async fn settled(members: &[&Member]) {
    let names: Vec<&str> = members.iter().map(|m| m.name).collect();
    common::wait_for(&format!("{names:?} to split the partitions"), WAIT, || {
        let shares: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let total: usize = shares.iter().map(BTreeSet::len).sum();
        let all: BTreeSet<i32> = shares.iter().flatten().copied().collect();
        shares.iter().all(|s| !s.is_empty())
            && total == PARTITIONS as usize
            && all == (0..PARTITIONS).collect()
    })
    .await;
}

/// Waits until each of `members` has read `count` more records.
async fn reading(members: &[&Member], count: usize) {
    let start: Vec<usize> = members.iter().map(|m| m.read_count()).collect();
    common::wait_for("every member to read on", WAIT, || {
        members
            .iter()
            .zip(&start)
            .all(|(m, s)| m.read_count() >= s + count)
    })
    .await;
}

/// Writes a numbered stream round-robin to every partition until told to
/// stop; returns every record written.
fn spawn_writer(
    producer: Arc<common::Producer>,
    writing: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Written>> {
    tokio::spawn(async move {
        let mut written = Vec::new();
        let mut n = 0usize;
        while writing.load(Ordering::Acquire) {
            for p in 0..PARTITIONS {
                let values: Vec<(usize, String)> = (0..2)
                    .map(|_| {
                        n += 1;
                        (n, format!("n-{n}"))
                    })
                    .collect();
                written.extend(produce_values(&producer, TOPIC, p, &values).await);
            }
            // Pacing, so that the stream lasts the whole test at a rate
            // the members keep up with.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        written
    })
}

async fn churn(commits: Commits) {
    let broker = broker(1).await;
    broker.create_topic(TOPIC, PARTITIONS).unwrap();
    let producer = Arc::new(producer(&broker).await);
    let writing = Arc::new(AtomicBool::new(true));
    let writer = spawn_writer(producer.clone(), writing.clone());
    let mut windows = Windows::new();
    let mut gone = Vec::new();

    let m1 = Member::join("m1", &broker, commits).await;
    settled(&[&m1]).await;
    reading(&[&m1], 10).await;

    // Two join while records flow.
    let m2 = Member::join("m2", &broker, commits).await;
    let m3 = Member::join("m3", &broker, commits).await;
    settled(&[&m1, &m2, &m3]).await;
    reading(&[&m1, &m2, &m3], 10).await;

    // One leaves cleanly, another joins.
    gone.push(m2.leave().await);
    let m4 = Member::join("m4", &broker, commits).await;
    settled(&[&m1, &m3, &m4]).await;
    reading(&[&m1, &m3, &m4], 10).await;

    // One crashes, and a member joins before the group has noticed.
    gone.push(m3.crash(&mut windows).await);
    let m5 = Member::join("m5", &broker, commits).await;
    settled(&[&m1, &m4, &m5]).await;
    reading(&[&m1, &m4, &m5], 10).await;

    // Another crashes; the last two take its partitions over.
    gone.push(m1.crash(&mut windows).await);
    settled(&[&m4, &m5]).await;
    reading(&[&m4, &m5], 10).await;

    // The end: the stream stops, an end marker goes to every partition,
    // and the members read up to them.
    writing.store(false, Ordering::Release);
    let mut written = writer.await.unwrap();
    for p in 0..PARTITIONS {
        written.extend(produce_values(&producer, TOPIC, p, &[(0, format!("end-{p}"))]).await);
    }
    let everything = Reads::once(&written);
    common::wait_for("every record to be read", WAIT, || {
        let mut reads = m4.reads();
        reads.merge(&m5.reads());
        for g in &gone {
            reads.merge(&g.reads);
        }
        reads.covers(&everything)
    })
    .await;
    gone.push(m4.leave().await);
    gone.push(m5.leave().await);

    let lost: Vec<_> = gone
        .iter()
        .filter(|g| !g.lost.is_empty())
        .map(|g| (g.name, g.lost.clone()))
        .collect();
    assert!(
        lost.is_empty(),
        "members still running lost partitions (generation expired): {lost:?}"
    );
    // Within one ownership of a partition, a member reads its records in
    // order, each once, with no gap (only a new assignment starts over).
    let out_of_order: Vec<_> = gone
        .iter()
        .filter(|g| !g.out_of_order.is_empty())
        .map(|g| (g.name, g.out_of_order.clone()))
        .collect();
    assert!(
        out_of_order.is_empty(),
        "(partition, expected offset, offset read): {out_of_order:?}"
    );
    let mut reads = Reads::default();
    for g in &gone {
        reads.merge(&g.reads);
    }
    let expected = common::expected_reads(&written, &windows);
    reads.assert_exactly(
        &expected,
        &format!("{commits:?} commits; crash windows {windows:?}"),
    );
    let read_again = expected.total() - written.len();
    if commits == Commits::Manual {
        // The crashes left records read but not committed behind: the test
        // saw re-delivery, not only its absence.
        assert!(read_again > 0, "no crash window: {windows:?}");
    }
    eprintln!(
        "{commits:?}: {} records written, {} reads, {read_again} of them again after a crash \
         (crash windows {windows:?})",
        written.len(),
        reads.total()
    );
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// Manual commits under the eager range assignor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_with_manual_commits_loses_nothing_and_redelivers_only_after_the_last_commit() {
    churn(Commits::Manual).await;
}

/// Auto-commit under cooperative-sticky.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_with_auto_commit_loses_nothing_and_redelivers_only_after_the_last_commit() {
    churn(Commits::Auto).await;
}
