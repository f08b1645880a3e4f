//! The sticky assignors against the bundled broker (in-process, port 0):
//! cooperative-sticky (KIP-429) revokes only the partitions that move, and
//! the eager `sticky` protocol keeps each member's partitions through joins
//! and leaves. Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Events, Poller, Reads, WAIT, broker, group_config, produce, producer, reads_of, wait_for,
};
use ferrokafka_broker::BrokerHandle;
use ferrokafka_consumer::Consumer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_keeps_unaffected_partitions_through_a_rebalance() {
    let broker = broker(1).await;
    broker.create_topic("coop", 4).unwrap();
    let producer = producer(&broker).await;
    let build = || {
        group_config(&broker, "coop-group")
            .partition_assignment_strategy([
                ferrokafka_consumer::AssignmentStrategy::CooperativeSticky,
            ])
            .build()
            .unwrap()
    };
    let events = Events::default();
    let mut first = Consumer::connect(build()).await.unwrap();
    first
        .subscribe_with_listener(["coop"], Box::new(events.clone()))
        .unwrap();
    let first = Poller::spawn(first);
    wait_for("the first member to own all four", WAIT, || {
        first.assignment().len() == 4
    })
    .await;
    let mut written = Vec::new();
    for p in 0..4 {
        written.extend(produce(&producer, "coop", p, 0, 5).await);
    }
    let expected = Reads::once(&written);
    wait_for("the first records", WAIT, || {
        first.reads().covers(&expected)
    })
    .await;

    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["coop"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the incremental split", WAIT, || {
        first.assignment().len() == 2 && second.assignment().len() == 2
    })
    .await;
    let log = events.log();
    // Only the two partitions that moved were revoked; nothing was revoked
    // wholesale, and no partition was owned twice.
    assert!(log.iter().any(|e| e == "revoked 2"), "{log:?}");
    assert!(!log.iter().any(|e| e == "revoked 4"), "{log:?}");
    let a: BTreeSet<_> = first.assignment().into_iter().collect();
    let b: BTreeSet<_> = second.assignment().into_iter().collect();
    assert!(a.is_disjoint(&b));
    for p in 0..4 {
        written.extend(produce(&producer, "coop", p, 5, 5).await);
    }
    let expected = Reads::once(&written);
    wait_for("every record", WAIT, || {
        reads_of(&[&first, &second]).covers(&expected)
    })
    .await;
    let (mut second, second_reads) = second.finish().await;
    second.close(Duration::from_secs(30)).await;
    let (mut first, mut reads) = first.finish().await;
    first.close(Duration::from_secs(30)).await;
    // Committed positions (auto-commit before the revoke) mean the second
    // member did not re-read what the first had handed out.
    assert!(
        second_reads.offsets().iter().all(|(_, o)| *o >= 5),
        "{second_reads:?}"
    );
    reads.merge(&second_reads);
    reads.assert_exactly(&expected, "records read through the cooperative rebalance");
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_sticky_keeps_partitions_through_join_and_leave() {
    /// A consumer polling on its own task, publishing its generation and
    /// assignment after every poll.
    struct Member {
        stop: Arc<AtomicBool>,
        view: Arc<Mutex<(i32, BTreeSet<i32>)>>,
        task: tokio::task::JoinHandle<Consumer>,
    }
    impl Member {
        fn view(&self) -> (i32, BTreeSet<i32>) {
            self.view.lock().unwrap().clone()
        }
    }
    let broker = broker(1).await;
    broker.create_topic("sticky", 6).unwrap();
    let start = |broker: &BrokerHandle| {
        let config = group_config(broker, "sticky-group")
            .partition_assignment_strategy([ferrokafka_consumer::AssignmentStrategy::Sticky])
            .build()
            .unwrap();
        async move {
            let mut consumer = Consumer::connect(config).await.unwrap();
            consumer.subscribe(["sticky"]).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let view = Arc::new(Mutex::new((-1, BTreeSet::new())));
            let (s, v) = (stop.clone(), view.clone());
            let task = tokio::spawn(async move {
                while !s.load(Ordering::Acquire) {
                    consumer.poll(Duration::from_millis(100)).await.unwrap();
                    let generation = consumer.group_member().map_or(-1, |(_, g)| g);
                    let partitions = consumer
                        .assignment()
                        .iter()
                        .map(|tp| tp.partition)
                        .collect();
                    *v.lock().unwrap() = (generation, partitions);
                }
                consumer
            });
            Member { stop, view, task }
        }
    };
    // Waits for one generation in which the members split all six
    // partitions with the given sizes, and returns their shares.
    async fn settled(members: &[&Member], sizes: &[usize]) -> Vec<BTreeSet<i32>> {
        let mut shares = Vec::new();
        wait_for("a settled generation", WAIT, || {
            let views: Vec<_> = members.iter().map(|m| m.view()).collect();
            let generation = views[0].0;
            let all: BTreeSet<i32> = views.iter().flat_map(|v| v.1.iter().copied()).collect();
            let ok = generation > 0
                && views.iter().all(|v| v.0 == generation)
                && all == (0..6).collect()
                && views.iter().map(|v| v.1.len()).eq(sizes.iter().copied());
            if ok {
                shares = views.into_iter().map(|v| v.1).collect();
            }
            ok
        })
        .await;
        shares
    }

    let a = start(&broker).await;
    let first = settled(&[&a], &[6]).await;
    assert_eq!(first[0].len(), 6);

    // b joins: a hands over exactly three and keeps the other three.
    let b = start(&broker).await;
    let second = settled(&[&a, &b], &[3, 3]).await;
    assert!(second[0].is_subset(&first[0]));

    // c joins: a and b each hand over one partition, the fewest possible,
    // and keep everything else.
    let c = start(&broker).await;
    let third = settled(&[&a, &b, &c], &[2, 2, 2]).await;
    assert!(third[0].is_subset(&second[0]), "{second:?} -> {third:?}");
    assert!(third[1].is_subset(&second[1]), "{second:?} -> {third:?}");

    // b leaves: a and c keep all theirs and split b's.
    b.stop.store(true, Ordering::Release);
    let mut b = b.task.await.unwrap();
    b.close(Duration::from_secs(30)).await;
    let fourth = settled(&[&a, &c], &[3, 3]).await;
    assert!(fourth[0].is_superset(&third[0]), "{third:?} -> {fourth:?}");
    assert!(fourth[1].is_superset(&third[2]), "{third:?} -> {fourth:?}");

    for member in [a, c] {
        member.stop.store(true, Ordering::Release);
        let mut consumer = member.task.await.unwrap();
        consumer.close(Duration::from_secs(30)).await;
    }
    broker.shutdown().await;
}
