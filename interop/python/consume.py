"""Reads records with kafka-python and prints each as one JSON line.

Usage: consume.py BOOTSTRAP GROUP COUNT TOPIC [TOPIC ...]

Reads every partition of the topics (assigned, from the earliest offset)
until COUNT records have arrived and its position on each partition has
reached that partition's end offset (so a record read twice shows as one too
many, not as a wait in silence); exits with status 1 if that is not reached
within 60 seconds. Keys, values and header values are hex
(null stays null).
"""

import json
import logging
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def hex_or_none(data):
    return None if data is None else data.hex()


def at_end(consumer):
    """Whether the position on every assigned partition is its end offset."""
    assignment = consumer.assignment()
    if not assignment:
        return False
    ends = consumer.end_offsets(list(assignment))
    return all(consumer.position(tp) >= ends[tp] for tp in assignment)


def main():
    if os.environ.get("FERROKAFKA_PYTHON_LOG"):
        logging.basicConfig(level=os.environ["FERROKAFKA_PYTHON_LOG"])
    bootstrap, group, count, topics = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    # Partitions are assigned, not subscribed: kafka-python 3.0.12 can lose
    # the answer to its own second JoinGroup when a short poll times out
    # while it rejoins (seen here: SyncGroup answered, the assignment never
    # applied, nothing read for 60 s), a race inside kafka-python that has
    # nothing to do with the broker. Groups are covered with librdkafka.
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        check_crcs=True,
    )
    deadline = time.monotonic() + 60
    partitions = []
    for topic in topics:
        while not consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                print(f"kafka-python found no partitions of {topic}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        partitions += [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    read = 0
    while not (read >= count and at_end(consumer)):
        if time.monotonic() > deadline:
            print(f"kafka-python read {read} of {count} records", file=sys.stderr)
            return 1
        for records in consumer.poll(timeout_ms=100).values():
            for r in records:
                print(json.dumps({
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "timestamp_type": r.timestamp_type,
                    "key": hex_or_none(r.key),
                    "value": hex_or_none(r.value),
                    "headers": [[k, hex_or_none(v)] for k, v in r.headers],
                }))
                read += 1
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
