"""Sends records with kafka-python and prints where each landed, one JSON line each.

Usage: produce.py BOOTSTRAP TOPIC CODEC COUNT

Record i has key "user-{i % 13}", value "{CODEC} payload {i}" and one header
("index", "{i}"); CODEC is none, gzip, snappy, lz4 or zstd. acks=all, and
kafka-python's default partitioner (murmur2, as Java's) picks the partition.
"""

import json
import sys

from kafka import KafkaProducer


def main():
    bootstrap, topic, codec, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
    )
    futures = []
    for i in range(count):
        futures.append((i, producer.send(
            topic,
            key=f"user-{i % 13}".encode(),
            value=f"{codec} payload {i}".encode(),
            headers=[("index", str(i).encode())],
        )))
    for i, future in futures:
        metadata = future.get(timeout=60)
        print(json.dumps({"index": i, "partition": metadata.partition, "offset": metadata.offset}))
    producer.close(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
