package dev.ferrokafka.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * The reference Java client against a Kafka-compatible broker (the bundled
 * ferrokafka broker in interop/tests/java_client.rs). Each scenario drives the
 * broker the way Java services do and asserts what comes back; the program
 * prints {@code PASS name} or {@code FAIL name: reason} per scenario, then
 * {@code N passed, M failed}, and exits 0 only when nothing failed.
 *
 * <p>Usage: {@code java -jar ferrokafka-java-interop-jar-with-dependencies.jar HOST:PORT [scenario...]}
 * (no scenario names: run them all). {@code produce-json ...} and
 * {@code consume-json ...} as the first argument run {@link CrossClient}'s
 * modes instead (interop/tests/cluster_java_cross.rs).
 */
public final class JavaClientInterop {

    /** How long any one wait may take: generous, the machine may be loaded. */
    static final Duration DEADLINE = Duration.ofSeconds(90);
    /** How long a whole scenario may take before it is reported as hung. */
    static final Duration SCENARIO_DEADLINE = Duration.ofSeconds(300);
    static final Duration POLL = Duration.ofMillis(100);
    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};

    final String bootstrap;
    /** A per-run suffix, so that names are unique even against a long-lived broker. */
    final String run = Long.toString(System.currentTimeMillis() % 1_000_000_000L, 36);

    JavaClientInterop(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    interface Scenario {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && (args[0].equals("produce-json") || args[0].equals("consume-json"))) {
            // Not scenarios: the JSON modes of the cross-client test.
            System.exit(CrossClient.run(args));
        }
        if (args.length < 1) {
            System.err.println("usage: JavaClientInterop HOST:PORT [scenario...]");
            System.exit(2);
        }
        JavaClientInterop interop = new JavaClientInterop(args[0]);
        Map<String, Scenario> scenarios = new LinkedHashMap<>();
        for (String codec : CODECS) {
            scenarios.put("idempotent_producer_" + codec, () -> interop.idempotentProducer(codec));
        }
        scenarios.put("transactional_commit_and_abort", interop::transactionalCommitAndAbort);
        scenarios.put("group_range_assignor", () -> interop.groupRebalance("range"));
        scenarios.put("group_cooperative_sticky_assignor", () -> interop.groupRebalance("cooperative-sticky"));
        scenarios.put("consumer_offsets_and_positions", interop::consumerOffsetsAndPositions);
        scenarios.put("admin_topics", interop::adminTopics);
        scenarios.put("admin_configs_and_partitions", interop::adminConfigsAndPartitions);
        scenarios.put("admin_consumer_groups", interop::adminConsumerGroups);
        scenarios.put("admin_describe_cluster", interop::adminDescribeCluster);
        scenarios.put("consume_transform_produce", interop::consumeTransformProduce);
        scenarios.put("transactional_fencing_and_lso", interop::transactionalFencingAndLso);
        scenarios.put("transaction_timeout_above_broker_max", interop::transactionTimeoutAboveMax);
        scenarios.put("admin_transactions", interop::adminTransactions);
        scenarios.put("consumer_tiny_fetch_sizes", interop::tinyFetchSizes);
        scenarios.put("producer_record_too_large", interop::recordTooLarge);
        scenarios.put("log_append_time", interop::logAppendTime);
        scenarios.put("static_membership", interop::staticMembership);
        scenarios.put("admin_delete_records_and_list_offsets", interop::deleteRecordsAndListOffsets);
        scenarios.put("admin_create_topics_errors", interop::createTopicsErrors);
        scenarios.put("admin_alter_offsets_of_active_group", interop::alterOffsetsOfActiveGroup);
        scenarios.put("auto_commit_and_pattern_subscription", interop::autoCommitAndPattern);
        scenarios.put("producer_auto_creates_topic", interop::producerAutoCreatesTopic);
        scenarios.put("admin_describe_topics_paginated", interop::describeTopicsPaginated);
        scenarios.put("admin_groups_batched_and_filtered", interop::groupsBatchedAndFiltered);
        scenarios.put("admin_remove_members", interop::removeMembers);
        scenarios.put("admin_fence_producers", interop::fenceProducers);
        scenarios.put("admin_delete_offsets_of_subscribed_topic", interop::deleteOffsetsOfSubscribedTopic);
        scenarios.put("producer_refused_records", interop::refusedRecords);
        scenarios.put("transactional_abortable_error_then_commit", interop::abortableErrorThenCommit);
        scenarios.put("transaction_timeout_aborts", interop::transactionTimeoutAborts);
        scenarios.put("consumer_max_poll_interval_exceeded", interop::maxPollIntervalExceeded);
        scenarios.put("static_member_session_expires", interop::staticMemberSessionExpires);
        scenarios.put("admin_topics_by_id", interop::topicsById);
        scenarios.put("admin_describe_configs_options", interop::describeConfigsOptions);
        scenarios.put("record_edge_values", interop::recordEdgeValues);
        scenarios.put("admin_advanced_options", interop::adminAdvancedOptions);
        scenarios.put("consumer_metadata_and_auto_create", interop::consumerMetadataAndAutoCreate);
        scenarios.put("consumer_refusals", interop::consumerRefusals);
        scenarios.put("consumer_group_protocol_not_served", interop::consumerGroupProtocolNotServed);

        // Scenarios that ask the harness (interop/tests/java_client.rs) to act
        // on the broker midway: they run only when named.
        Map<String, Scenario> harnessed = new LinkedHashMap<>();
        harnessed.put("cluster_changes_under_load", interop::clusterChangesUnderLoad);
        harnessed.put("restart_from_data_dir", interop::restartFromDataDir);

        Set<String> only = new HashSet<>(Arrays.asList(args).subList(1, args.length));
        for (Map.Entry<String, Scenario> entry : harnessed.entrySet()) {
            if (only.contains(entry.getKey())) {
                scenarios.put(entry.getKey(), entry.getValue());
            }
        }
        ExecutorService executor = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "scenario");
            thread.setDaemon(true);
            return thread;
        });
        int passed = 0;
        int failed = 0;
        for (Map.Entry<String, Scenario> entry : scenarios.entrySet()) {
            String name = entry.getKey();
            if (!only.isEmpty() && !only.contains(name)) {
                continue;
            }
            long started = System.nanoTime();
            Future<?> future = executor.submit(() -> {
                entry.getValue().run();
                return null;
            });
            String failure = null;
            try {
                future.get(SCENARIO_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                future.cancel(true);
                failure = "did not finish within " + SCENARIO_DEADLINE;
            } catch (ExecutionException e) {
                failure = describe(e.getCause());
            }
            long millis = (System.nanoTime() - started) / 1_000_000;
            if (failure == null) {
                passed++;
                System.out.println("PASS " + name + " (" + millis + " ms)");
            } else {
                failed++;
                System.out.println("FAIL " + name + ": " + failure);
            }
            System.out.flush();
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    /** A failure in one line: the exception and its causes, and where it was thrown. */
    static String describe(Throwable error) {
        StringBuilder text = new StringBuilder();
        for (Throwable cause = error; cause != null; cause = cause.getCause()) {
            if (text.length() > 0) {
                text.append(" <- caused by ");
            }
            text.append(cause.getClass().getSimpleName()).append(": ").append(cause.getMessage());
            if (cause.getCause() == cause) {
                break;
            }
        }
        // Where in this program it was thrown: the lines of the first few frames here.
        List<String> lines = new ArrayList<>();
        for (StackTraceElement frame : error.getStackTrace()) {
            if (frame.getClassName().startsWith(JavaClientInterop.class.getName()) && lines.size() < 3) {
                lines.add(frame.getMethodName() + ":" + frame.getLineNumber());
            }
        }
        if (!lines.isEmpty()) {
            text.append(" (at ").append(String.join(" <- ", lines)).append(')');
        }
        return text.toString().replace('\n', ' ');
    }

    // ---------------------------------------------------------------- helpers

    static final class AssertionFailed extends RuntimeException {
        AssertionFailed(String message) {
            super(message);
        }
    }

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new AssertionFailed(message);
        }
    }

    static void checkEquals(Object expected, Object actual, String what) {
        if (!Objects.equals(expected, actual)) {
            throw new AssertionFailed(what + ": expected <" + expected + "> but was <" + actual + ">");
        }
    }

    static void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionFailed("timed out after " + DEADLINE + " waiting for " + what);
            }
            Thread.sleep(100);
        }
    }

    /** What an exception thrown by a future is, unwrapped; null if it completed. */
    static Throwable failureOf(org.apache.kafka.common.KafkaFuture<?> future) throws InterruptedException {
        try {
            future.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException e) {
            throw new AssertionFailed("admin future did not complete within " + DEADLINE);
        }
    }

    static <T> T get(org.apache.kafka.common.KafkaFuture<T> future) throws Exception {
        return future.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
    }

    static byte[] bytes(String text) {
        return text == null ? null : text.getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] bytes) {
        return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
    }

    String name(String base) {
        return "java-" + base + "-" + run;
    }

    Properties common() {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("request.timeout.ms", "30000");
        props.put("default.api.timeout.ms", "90000");
        return props;
    }

    Admin admin() {
        Properties props = common();
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "java-interop-admin");
        return Admin.create(props);
    }

    KafkaProducer<byte[], byte[]> producer(Map<String, String> overrides) {
        Properties props = common();
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "90000");
        props.putAll(overrides);
        return new KafkaProducer<>(props);
    }

    KafkaConsumer<byte[], byte[]> consumer(String group, Map<String, String> overrides) {
        Properties props = common();
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        if (group != null) {
            props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            if (!"consumer".equals(overrides.get(ConsumerConfig.GROUP_PROTOCOL_CONFIG))) {
                props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
                props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
                props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
            }
        }
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.putAll(overrides);
        return new KafkaConsumer<>(props);
    }

    void createTopic(Admin admin, String topic, int partitions) throws Exception {
        get(admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all());
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> list = new ArrayList<>();
        for (int p = 0; p < count; p++) {
            list.add(new TopicPartition(topic, p));
        }
        return list;
    }

    /** The partition Java's built-in partitioner picks for a key. */
    static int partitionForKey(byte[] key, int partitions) {
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }

    static List<String> headerList(Iterable<Header> headers) {
        List<String> list = new ArrayList<>();
        for (Header header : headers) {
            list.add(header.key() + "=" + (header.value() == null ? "<null>" : text(header.value())));
        }
        return list;
    }

    /**
     * Polls an assigned consumer until it has read up to the end offsets
     * (what {@code endOffsets} answered when called, per the consumer's
     * isolation level), returning everything it read.
     */
    static List<ConsumerRecord<byte[], byte[]>> readToEnd(KafkaConsumer<byte[], byte[]> consumer) throws Exception {
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), DEADLINE);
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (true) {
            boolean done = true;
            for (Map.Entry<TopicPartition, Long> entry : end.entrySet()) {
                if (consumer.position(entry.getKey(), DEADLINE) < entry.getValue()) {
                    done = false;
                }
            }
            if (done) {
                return records;
            }
            check(System.nanoTime() < deadline, "timed out reading to the end offsets " + end
                + "; read " + records.size() + " records");
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                records.add(record);
            }
        }
    }

    // ---------------------------------------------------------------- scenarios

    /**
     * An idempotent producer (Java 4 defaults: acks=all,
     * enable.idempotence=true) sends keyed records with headers in one codec;
     * a consumer reads back exactly those records, at the offsets and on the
     * partitions the producer reported, which are the ones Java's murmur2
     * partitioner picks.
     */
    void idempotentProducer(String codec) throws Exception {
        String topic = name("idempotent-" + codec);
        int partitions = 5;
        int count = 300;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        // Explicit timestamps stay within retention.ms (7 days): a batch of
        // only older records is deleted by retention, on Kafka as here.
        long baseTimestamp = System.currentTimeMillis() - 86_400_000L;
        List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
        List<RecordMetadata> metadata = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, "5"))) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                byte[] key = bytes("key-" + (i % 37));
                byte[] value = i % 29 == 7 ? null : bytes(codec + " value " + i + " " + "x".repeat(i % 50));
                List<Header> headers = new ArrayList<>();
                headers.add(new RecordHeader("index", bytes(Integer.toString(i))));
                headers.add(new RecordHeader("codec", bytes(codec)));
                if (i % 2 == 1) {
                    headers.add(new RecordHeader("empty", null));
                    headers.add(new RecordHeader("index", bytes("again")));
                }
                Long timestamp = i % 3 == 0 ? baseTimestamp + i : null;
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, null, timestamp, key, value, headers);
                sent.add(record);
                futures.add(producer.send(record));
            }
            producer.flush();
            for (Future<RecordMetadata> future : futures) {
                metadata.add(future.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS));
            }
        }
        Map<Integer, Long> nextOffset = new HashMap<>();
        for (int i = 0; i < count; i++) {
            RecordMetadata md = metadata.get(i);
            int expected = partitionForKey(sent.get(i).key(), partitions);
            checkEquals(expected, md.partition(), "partition of record " + i);
            long next = nextOffset.getOrDefault(md.partition(), 0L);
            checkEquals(next, md.offset(), "offset of record " + i + " on partition " + md.partition());
            nextOffset.put(md.partition(), next + 1);
        }

        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of())) {
            List<TopicPartition> tps = partitions(topic, partitions);
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, DEADLINE);
            for (TopicPartition tp : tps) {
                checkEquals(nextOffset.getOrDefault(tp.partition(), 0L), end.get(tp), "end offset of " + tp);
            }
            Map<TopicPartition, Long> beginning = consumer.beginningOffsets(tps, DEADLINE);
            for (TopicPartition tp : tps) {
                checkEquals(0L, beginning.get(tp), "beginning offset of " + tp);
            }
            List<ConsumerRecord<byte[], byte[]>> records = readToEnd(consumer);
            checkEquals(count, records.size(), "records read back");
            Map<String, ConsumerRecord<byte[], byte[]>> byPosition = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> record : records) {
                check(byPosition.put(record.partition() + "@" + record.offset(), record) == null,
                    "record at " + record.partition() + "@" + record.offset() + " read twice");
            }
            for (int i = 0; i < count; i++) {
                ProducerRecord<byte[], byte[]> want = sent.get(i);
                RecordMetadata md = metadata.get(i);
                ConsumerRecord<byte[], byte[]> got = byPosition.get(md.partition() + "@" + md.offset());
                check(got != null, "record " + i + " missing at " + md.partition() + "@" + md.offset());
                checkEquals(text(want.key()), text(got.key()), "key of record " + i);
                checkEquals(text(want.value()), text(got.value()), "value of record " + i);
                checkEquals(headerList(want.headers()), headerList(got.headers()), "headers of record " + i);
                checkEquals(md.timestamp(), got.timestamp(), "timestamp of record " + i);
                if (want.timestamp() != null) {
                    checkEquals(want.timestamp(), got.timestamp(), "explicit timestamp of record " + i);
                }
                checkEquals(org.apache.kafka.common.record.TimestampType.CREATE_TIME, got.timestampType(),
                    "timestamp type of record " + i);
            }
        }
    }

    /**
     * A transactional producer commits, aborts and commits again; a
     * read_committed consumer sees exactly the committed records, each once,
     * up to a sentinel sent last on every partition; a read_uncommitted
     * consumer sees the aborted ones too.
     */
    void transactionalCommitAndAbort() throws Exception {
        String topic = name("txn");
        int partitions = 3;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        Set<String> committed = new TreeSet<>();
        Set<String> aborted = new TreeSet<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("txn-id"),
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000"))) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 20; i++) {
                String value = "committed-1-" + i;
                producer.send(new ProducerRecord<>(topic, bytes("k" + i), bytes(value)));
                committed.add(value);
            }
            producer.commitTransaction();

            producer.beginTransaction();
            for (int i = 0; i < 20; i++) {
                String value = "aborted-" + i;
                producer.send(new ProducerRecord<>(topic, bytes("k" + i), bytes(value)));
                aborted.add(value);
            }
            producer.flush();
            producer.abortTransaction();

            producer.beginTransaction();
            for (int i = 0; i < 20; i++) {
                String value = "committed-2-" + i;
                producer.send(new ProducerRecord<>(topic, bytes("k" + i), bytes(value)));
                committed.add(value);
            }
            for (int p = 0; p < partitions; p++) {
                producer.send(new ProducerRecord<>(topic, p, bytes("sentinel"), bytes("sentinel-" + p)));
            }
            producer.commitTransaction();
        }

        for (IsolationLevel isolation : IsolationLevel.values()) {
            Map<String, String> overrides = Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.toString());
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, overrides)) {
                List<TopicPartition> tps = partitions(topic, partitions);
                consumer.assign(tps);
                consumer.seekToBeginning(tps);
                Map<String, Integer> seen = new TreeMap<>();
                Set<Integer> sentinels = new HashSet<>();
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (sentinels.size() < partitions) {
                    check(System.nanoTime() < deadline, isolation + ": timed out waiting for the sentinels; saw "
                        + sentinels + " and " + seen.size() + " records");
                    for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                        String value = text(record.value());
                        if (value.startsWith("sentinel-")) {
                            checkEquals("sentinel-" + record.partition(), value, "sentinel partition");
                            check(sentinels.add(record.partition()), isolation + ": sentinel read twice");
                        } else {
                            check(sentinels.isEmpty() || !sentinels.contains(record.partition()),
                                isolation + ": record " + value + " after its partition's sentinel");
                            seen.merge(value, 1, Integer::sum);
                        }
                    }
                }
                Set<String> expected = new TreeSet<>(committed);
                if (isolation == IsolationLevel.READ_UNCOMMITTED) {
                    expected.addAll(aborted);
                }
                checkEquals(expected, seen.keySet(), isolation + ": values read");
                for (Map.Entry<String, Integer> entry : seen.entrySet()) {
                    checkEquals(1, entry.getValue(), isolation + ": times " + entry.getKey() + " was read");
                }
                // Every partition's position is past the commit marker.
                Map<TopicPartition, Long> end = consumer.endOffsets(tps, DEADLINE);
                for (TopicPartition tp : tps) {
                    long position = consumer.position(tp, DEADLINE);
                    deadline = System.nanoTime() + DEADLINE.toNanos();
                    while (position < end.get(tp)) {
                        check(System.nanoTime() < deadline, isolation + ": position of " + tp + " stays at "
                            + position + " below the end offset " + end.get(tp));
                        consumer.poll(POLL).forEach(r -> seenNothingAfterSentinel(r));
                        position = consumer.position(tp, DEADLINE);
                    }
                    checkEquals(end.get(tp), position, isolation + ": position of " + tp + " at the end");
                }
            }
        }
    }

    static void seenNothingAfterSentinel(ConsumerRecord<byte[], byte[]> record) {
        throw new AssertionFailed("record " + text(record.value()) + " after the sentinel on partition "
            + record.partition());
    }

    /**
     * Two classic-protocol consumers subscribe in one group with the given
     * assignor: they split the partitions, each reads only its own, commit;
     * when one leaves, the other gets every partition (with
     * cooperative-sticky, without giving up its own) and resumes from the
     * committed offsets.
     */
    void groupRebalance(String assignor) throws Exception {
        String topic = name("group-" + assignor);
        String group = name("group-" + assignor + "-g");
        int partitions = 6;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        String assignorClass = assignor.equals("range")
            ? RangeAssignor.class.getName() : CooperativeStickyAssignor.class.getName();
        Map<String, String> overrides = Map.of(
            ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass,
            ConsumerConfig.CLIENT_ID_CONFIG, "java-interop-" + assignor);
        Map<String, List<Set<TopicPartition>>> revoked = new HashMap<>();
        KafkaConsumer<byte[], byte[]> first = consumer(group, overrides);
        KafkaConsumer<byte[], byte[]> second = consumer(group, overrides);
        try {
            first.subscribe(List.of(topic), recordingListener("first", revoked));
            second.subscribe(List.of(topic), recordingListener("second", revoked));
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (true) {
                first.poll(POLL).forEach(r -> {
                    throw new AssertionFailed("record before anything was produced");
                });
                second.poll(POLL).forEach(r -> {
                    throw new AssertionFailed("record before anything was produced");
                });
                Set<TopicPartition> a = first.assignment();
                Set<TopicPartition> b = second.assignment();
                Set<TopicPartition> union = new HashSet<>(a);
                union.addAll(b);
                if (a.size() == 3 && b.size() == 3 && union.size() == partitions) {
                    break;
                }
                check(System.nanoTime() < deadline, "the two members never split the partitions: first "
                    + a + ", second " + b);
            }
            Set<TopicPartition> firstOwned = new HashSet<>(first.assignment());
            Set<TopicPartition> secondOwned = new HashSet<>(second.assignment());
            if (assignor.equals("range")) {
                // Range hands each member a contiguous run: 0-2 and 3-5.
                Set<Integer> ps = firstOwned.stream().map(TopicPartition::partition).collect(Collectors.toSet());
                check(ps.equals(Set.of(0, 1, 2)) || ps.equals(Set.of(3, 4, 5)),
                    "range assignment is not contiguous: " + firstOwned);
            }

            int count = 120;
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (int i = 0; i < count; i++) {
                    producer.send(new ProducerRecord<>(topic, bytes("key-" + i), bytes("value-" + i)));
                }
                producer.flush();
            }
            Set<String> values = new HashSet<>();
            deadline = System.nanoTime() + DEADLINE.toNanos();
            while (values.size() < count) {
                check(System.nanoTime() < deadline, "read " + values.size() + " of " + count);
                for (ConsumerRecord<byte[], byte[]> r : first.poll(POLL)) {
                    check(firstOwned.contains(new TopicPartition(r.topic(), r.partition())),
                        "first read a record of partition " + r.partition() + " it does not own");
                    check(values.add(text(r.value())), "read twice: " + text(r.value()));
                }
                for (ConsumerRecord<byte[], byte[]> r : second.poll(POLL)) {
                    check(secondOwned.contains(new TopicPartition(r.topic(), r.partition())),
                        "second read a record of partition " + r.partition() + " it does not own");
                    check(values.add(text(r.value())), "read twice: " + text(r.value()));
                }
            }
            first.commitSync(DEADLINE);
            second.commitSync(DEADLINE);
            Map<TopicPartition, OffsetAndMetadata> secondCommitted = second.committed(secondOwned, DEADLINE);
            for (TopicPartition tp : secondOwned) {
                check(secondCommitted.get(tp) != null, "second has no committed offset for " + tp);
                checkEquals(second.position(tp), secondCommitted.get(tp).offset(), "committed offset of " + tp);
            }
            revoked.clear();

            // The second member leaves; the first takes over everything.
            second.close(Duration.ofSeconds(30));
            deadline = System.nanoTime() + DEADLINE.toNanos();
            while (first.assignment().size() < partitions) {
                check(System.nanoTime() < deadline, "first never got every partition: " + first.assignment());
                first.poll(POLL).forEach(r -> {
                    throw new AssertionFailed("read a record after everything was consumed: " + text(r.value()));
                });
            }
            if (assignor.equals("cooperative-sticky")) {
                for (Set<TopicPartition> set : revoked.getOrDefault("first", List.of())) {
                    check(set.isEmpty(), "cooperative-sticky revoked " + set + " from the member that stayed");
                }
            }

            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (int i = 0; i < 24; i++) {
                    producer.send(new ProducerRecord<>(topic, bytes("key-" + i), bytes("later-" + i)));
                }
                producer.flush();
            }
            Set<String> later = new HashSet<>();
            deadline = System.nanoTime() + DEADLINE.toNanos();
            while (later.size() < 24) {
                check(System.nanoTime() < deadline, "read " + later.size() + " of the 24 later records");
                for (ConsumerRecord<byte[], byte[]> r : first.poll(POLL)) {
                    String value = text(r.value());
                    check(value.startsWith("later-"), "reread " + value + " past the committed offsets");
                    check(later.add(value), "read twice: " + value);
                }
            }
            first.commitSync(DEADLINE);
        } finally {
            first.close(Duration.ofSeconds(30));
            second.close(Duration.ofSeconds(30));
        }
    }

    static ConsumerRebalanceListener recordingListener(String who, Map<String, List<Set<TopicPartition>>> revoked) {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                synchronized (revoked) {
                    revoked.computeIfAbsent(who, k -> new ArrayList<>()).add(new HashSet<>(partitions));
                }
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            }
        };
    }

    /**
     * commitSync with metadata, committed, position, seek, seekToBeginning,
     * beginningOffsets / endOffsets and offsetsForTimes, on an assigned
     * consumer in a group; a second consumer of the group resumes at the
     * committed offset.
     */
    void consumerOffsetsAndPositions() throws Exception {
        String topic = name("offsets");
        String group = name("offsets-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
        }
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        long base = System.currentTimeMillis() - 3_600_000L;
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            for (int i = 0; i < 20; i++) {
                producer.send(new ProducerRecord<>(topic, 0, base + i * 1000L, bytes("k" + i), bytes("p0-" + i)));
            }
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, 1, base + i * 1000L, bytes("k" + i), bytes("p1-" + i)));
            }
            producer.flush();
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
            consumer.assign(List.of(p0, p1));
            checkEquals(0L, consumer.position(p0, DEADLINE), "initial position of p0 (earliest, nothing committed)");
            checkEquals(Map.of(p0, 0L, p1, 0L), consumer.beginningOffsets(List.of(p0, p1), DEADLINE),
                "beginningOffsets");
            checkEquals(Map.of(p0, 20L, p1, 10L), consumer.endOffsets(List.of(p0, p1), DEADLINE), "endOffsets");
            Map<TopicPartition, OffsetAndMetadata> none = consumer.committed(Set.of(p0, p1), DEADLINE);
            check(none.get(p0) == null && none.get(p1) == null, "committed before any commit: " + none);

            List<ConsumerRecord<byte[], byte[]>> all = readToEnd(consumer);
            checkEquals(30, all.size(), "records read");
            checkEquals(20L, consumer.position(p0, DEADLINE), "position of p0 after reading everything");
            checkEquals(10L, consumer.position(p1, DEADLINE), "position of p1 after reading everything");

            consumer.commitSync(Map.of(p0, new OffsetAndMetadata(7, "meta-7")), DEADLINE);
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.of(p0, p1), DEADLINE);
            check(committed.get(p0) != null, "no committed offset for p0");
            checkEquals(7L, committed.get(p0).offset(), "committed offset of p0");
            checkEquals("meta-7", committed.get(p0).metadata(), "committed metadata of p0");
            check(committed.get(p1) == null, "p1 was never committed but has " + committed.get(p1));

            consumer.seek(p0, 15);
            checkEquals(15L, consumer.position(p0, DEADLINE), "position after seek");
            ConsumerRecord<byte[], byte[]> next = firstRecordOf(consumer, p0);
            checkEquals(15L, next.offset(), "offset of the first record after seek(15)");
            checkEquals("p0-15", text(next.value()), "value at offset 15");

            consumer.seekToBeginning(List.of(p0));
            checkEquals(0L, consumer.position(p0, DEADLINE), "position after seekToBeginning");
            next = firstRecordOf(consumer, p0);
            checkEquals(0L, next.offset(), "offset of the first record after seekToBeginning");

            consumer.seekToEnd(List.of(p1));
            checkEquals(10L, consumer.position(p1, DEADLINE), "position after seekToEnd");

            Map<TopicPartition, OffsetAndTimestamp> times = consumer.offsetsForTimes(
                Map.of(p0, base + 5000L, p1, base + 5500L), DEADLINE);
            checkEquals(5L, times.get(p0).offset(), "offsetsForTimes exact timestamp: offset");
            checkEquals(base + 5000L, times.get(p0).timestamp(), "offsetsForTimes exact timestamp: timestamp");
            checkEquals(6L, times.get(p1).offset(), "offsetsForTimes between timestamps: offset");
            checkEquals(base + 6000L, times.get(p1).timestamp(), "offsetsForTimes between timestamps: timestamp");
            times = consumer.offsetsForTimes(Map.of(p0, base + 3_600_000_000L, p1, 0L), DEADLINE);
            check(times.get(p0) == null, "offsetsForTimes past the last timestamp: " + times.get(p0));
            checkEquals(0L, times.get(p1).offset(), "offsetsForTimes(0)");
        }
        // A new member of the group resumes where the group committed.
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
            consumer.assign(List.of(p0));
            checkEquals(7L, consumer.position(p0, DEADLINE), "position of a new member (committed offset)");
            ConsumerRecord<byte[], byte[]> next = firstRecordOf(consumer, p0);
            checkEquals(7L, next.offset(), "first record of a new member");
        }
    }

    static ConsumerRecord<byte[], byte[]> firstRecordOf(KafkaConsumer<byte[], byte[]> consumer, TopicPartition tp) {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (true) {
            check(System.nanoTime() < deadline, "no record from " + tp);
            ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
            List<ConsumerRecord<byte[], byte[]>> list = records.records(tp);
            if (!list.isEmpty()) {
                return list.get(0);
            }
        }
    }

    /**
     * createTopics (one item fails with TopicExistsException, the others
     * succeed), listTopics, describeTopics, deleteTopics.
     */
    void adminTopics() throws Exception {
        String a = name("admin-a");
        String b = name("admin-b");
        String c = name("admin-c");
        try (Admin admin = admin()) {
            createTopic(admin, a, 2);
            CreateTopicsResult result = admin.createTopics(List.of(
                new NewTopic(a, 4, (short) 1),
                new NewTopic(b, 3, (short) 1).configs(Map.of("retention.ms", "3600000")),
                new NewTopic(c, java.util.Optional.empty(), java.util.Optional.empty())));
            Throwable exists = failureOf(result.values().get(a));
            check(exists instanceof TopicExistsException, "creating an existing topic: " + exists);
            check(failureOf(result.values().get(b)) == null, "creating " + b + ": " + failureOf(result.values().get(b)));
            check(failureOf(result.values().get(c)) == null, "creating " + c + ": " + failureOf(result.values().get(c)));
            checkEquals(3, get(result.numPartitions(b)), "numPartitions in the CreateTopics answer");
            checkEquals(1, get(result.replicationFactor(b)), "replicationFactor in the CreateTopics answer");
            Uuid id = get(result.topicId(b));
            check(id != null && !id.equals(Uuid.ZERO_UUID), "topic id in the CreateTopics answer: " + id);
            Config config = get(result.config(b));
            checkEquals("3600000", config.get("retention.ms").value(), "retention.ms in the CreateTopics answer");

            Set<String> names = get(admin.listTopics().names());
            check(names.containsAll(List.of(a, b, c)), "listTopics lacks a created topic: " + names);
            check(!names.contains("__consumer_offsets"), "listTopics lists an internal topic");
            Set<String> withInternal = get(admin.listTopics(new ListTopicsOptions().listInternal(true)).names());
            check(withInternal.containsAll(List.of(a, b, c)), "listTopics(listInternal) lacks a topic");

            Map<String, TopicDescription> described = get(admin.describeTopics(List.of(a, b)).allTopicNames());
            TopicDescription da = described.get(a);
            checkEquals(a, da.name(), "described name");
            checkEquals(2, da.partitions().size(), "partitions of " + a);
            check(!da.isInternal(), a + " described as internal");
            check(da.topicId() != null && !da.topicId().equals(Uuid.ZERO_UUID), "described topic id " + da.topicId());
            for (int i = 0; i < da.partitions().size(); i++) {
                TopicPartitionInfo info = da.partitions().get(i);
                checkEquals(i, info.partition(), "partition index");
                check(info.leader() != null && !info.leader().isEmpty(), "partition " + i + " has no leader");
                checkEquals(1, info.replicas().size(), "replicas of partition " + i);
                checkEquals(1, info.isr().size(), "isr of partition " + i);
            }
            checkEquals(3, described.get(b).partitions().size(), "partitions of " + b);
            checkEquals(get(result.topicId(b)), described.get(b).topicId(), "topic id of " + b);

            Throwable unknown = failureOf(admin.describeTopics(List.of(name("admin-none"))).topicNameValues()
                .get(name("admin-none")));
            check(unknown instanceof UnknownTopicOrPartitionException, "describing a missing topic: " + unknown);

            get(admin.deleteTopics(List.of(a, c)).all());
            waitFor("deleted topics to leave listTopics", () -> {
                try {
                    Set<String> now = get(admin.listTopics().names());
                    return !now.contains(a) && !now.contains(c) && now.contains(b);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Throwable gone = failureOf(admin.describeTopics(List.of(a)).topicNameValues().get(a));
            check(gone instanceof UnknownTopicOrPartitionException, "describing a deleted topic: " + gone);
            Throwable again = failureOf(admin.deleteTopics(List.of(a)).topicNameValues().get(a));
            check(again instanceof UnknownTopicOrPartitionException, "deleting a deleted topic: " + again);
        }
    }

    /** describeConfigs, incrementalAlterConfigs (set, delete) and createPartitions. */
    void adminConfigsAndPartitions() throws Exception {
        String topic = name("admin-configs");
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                .configs(Map.of("cleanup.policy", "delete", "max.message.bytes", "2000000")))).all());
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            ConfigEntry maxBytes = config.get("max.message.bytes");
            check(maxBytes != null, "describeConfigs lacks max.message.bytes");
            checkEquals("2000000", maxBytes.value(), "max.message.bytes");
            checkEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, maxBytes.source(), "source of a set config");
            ConfigEntry retention = config.get("retention.ms");
            check(retention != null, "describeConfigs lacks retention.ms");
            check(retention.isDefault(), "retention.ms was never set but is not default: " + retention);

            get(admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE))))
                .all());
            config = get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            checkEquals("7200000", config.get("retention.ms").value(), "retention.ms after SET");
            checkEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, config.get("retention.ms").source(),
                "source of retention.ms after SET");
            check(config.get("max.message.bytes").isDefault(),
                "max.message.bytes after DELETE is not the default: " + config.get("max.message.bytes"));
            checkEquals("delete", config.get("cleanup.policy").value(), "cleanup.policy untouched");

            Throwable bad = failureOf(admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all());
            check(bad instanceof org.apache.kafka.common.errors.InvalidConfigurationException
                || bad instanceof org.apache.kafka.common.errors.InvalidRequestException,
                "setting an unknown config: " + bad);

            get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all());
            waitFor("5 partitions", () -> {
                try {
                    return get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().size() == 5;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Throwable fewer = failureOf(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all());
            check(fewer instanceof InvalidPartitionsException, "decreasing partitions: " + fewer);

            // A producer sees the new partitions: a record sent to partition 4 lands there.
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                RecordMetadata md = producer.send(new ProducerRecord<>(topic, 4, bytes("k"), bytes("v")))
                    .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
                checkEquals(4, md.partition(), "partition of a record sent to a new partition");
                checkEquals(0L, md.offset(), "offset of the first record of a new partition");
            }
        }
    }

    /**
     * listConsumerGroups, describeConsumerGroups (with an active member and
     * once empty), listConsumerGroupOffsets, alterConsumerGroupOffsets,
     * deleteConsumerGroups (refused while a member is in, then done).
     */
    void adminConsumerGroups() throws Exception {
        String topic = name("admin-groups");
        String group = name("admin-groups-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 2, bytes("k" + i), bytes("v" + i)));
                }
                producer.flush();
            }
            TopicPartition p0 = new TopicPartition(topic, 0);
            TopicPartition p1 = new TopicPartition(topic, 1);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                    ConsumerConfig.CLIENT_ID_CONFIG, "java-interop-member"))) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                int read = 0;
                while (read < 10) {
                    check(System.nanoTime() < deadline, "member read " + read + " of 10");
                    read += consumer.poll(POLL).count();
                }
                consumer.commitSync(DEADLINE);

                ConsumerGroupDescription description = get(admin.describeConsumerGroups(List.of(group))
                    .describedGroups().get(group));
                checkEquals(group, description.groupId(), "described group id");
                checkEquals(GroupState.STABLE, description.groupState(), "state of a group with a member");
                check(!description.isSimpleConsumerGroup(), "a subscribed group described as simple");
                checkEquals("range", description.partitionAssignor(), "assignor of the group");
                checkEquals(1, description.members().size(), "members");
                MemberDescription member = description.members().iterator().next();
                checkEquals("java-interop-member", member.clientId(), "member client id");
                checkEquals(Set.of(p0, p1), member.assignment().topicPartitions(), "member assignment");
                check(description.coordinator() != null && description.coordinator().id() >= 0,
                    "described coordinator " + description.coordinator());

                Collection<ConsumerGroupListing> listed = get(admin.listConsumerGroups().all());
                ConsumerGroupListing listing = listed.stream().filter(l -> l.groupId().equals(group))
                    .findFirst().orElse(null);
                check(listing != null, "listConsumerGroups lacks " + group + ": " + listed);
                checkEquals(java.util.Optional.of(GroupState.STABLE), listing.groupState(), "listed state");

                Throwable busy = failureOf(admin.deleteConsumerGroups(List.of(group)).deletedGroups().get(group));
                check(busy instanceof GroupNotEmptyException, "deleting a group with a member: " + busy);
            }

            waitFor("the group to be empty after its member left", () -> {
                try {
                    return get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group))
                        .groupState() == GroupState.EMPTY;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Map<TopicPartition, OffsetAndMetadata> offsets =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            checkEquals(5L, offsets.get(p0) == null ? null : offsets.get(p0).offset(), "listed offset of p0");
            checkEquals(5L, offsets.get(p1) == null ? null : offsets.get(p1).offset(), "listed offset of p1");

            get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(2, "rewound"))).all());
            offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            checkEquals(2L, offsets.get(p0).offset(), "offset of p0 after alter");
            checkEquals("rewound", offsets.get(p0).metadata(), "metadata of p0 after alter");
            checkEquals(5L, offsets.get(p1).offset(), "offset of p1 after altering p0");

            Collection<ConsumerGroupListing> listed = get(admin.listConsumerGroups().all());
            ConsumerGroupListing listing = listed.stream().filter(l -> l.groupId().equals(group))
                .findFirst().orElse(null);
            check(listing != null, "listConsumerGroups lacks the empty group " + group);
            checkEquals(java.util.Optional.of(GroupState.EMPTY), listing.groupState(), "listed state once empty");

            get(admin.deleteConsumerGroups(List.of(group)).all());
            listed = get(admin.listConsumerGroups().all());
            check(listed.stream().noneMatch(l -> l.groupId().equals(group)),
                "listConsumerGroups still lists the deleted group");
            offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            check(offsets.isEmpty(), "a deleted group still has offsets " + offsets);
            Throwable missing = failureOf(admin.deleteConsumerGroups(List.of(group)).deletedGroups().get(group));
            check(missing instanceof GroupIdNotFoundException, "deleting a deleted group: " + missing);
        }
    }

    /** describeCluster: the cluster id, the nodes, the controller. */
    void adminDescribeCluster() throws Exception {
        try (Admin admin = admin()) {
            DescribeClusterResult cluster = admin.describeCluster();
            String id = get(cluster.clusterId());
            check(id != null && !id.isEmpty(), "cluster id " + id);
            Collection<org.apache.kafka.common.Node> nodes = get(cluster.nodes());
            check(!nodes.isEmpty(), "describeCluster lists no nodes");
            String host = bootstrap.substring(0, bootstrap.lastIndexOf(':'));
            int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
            check(nodes.stream().anyMatch(n -> n.host().equals(host) && n.port() == port),
                "no node at the bootstrap address " + bootstrap + ": " + nodes);
            org.apache.kafka.common.Node controller = get(cluster.controller());
            check(controller != null && nodes.stream().anyMatch(n -> n.id() == controller.id()),
                "controller " + controller + " is not one of " + nodes);
        }
    }

    /**
     * Consume-transform-produce: a read_committed consumer in a group reads
     * the input; a transactional producer writes each record transformed and
     * commits the consumed offsets with sendOffsetsToTransaction. One round
     * is aborted and redone. The output holds each transformed record once,
     * and the group's committed offsets are the input's end offsets.
     */
    void consumeTransformProduce() throws Exception {
        String input = name("ctp-in");
        String output = name("ctp-out");
        String group = name("ctp-g");
        int partitions = 3;
        int count = 60;
        try (Admin admin = admin()) {
            createTopic(admin, input, partitions);
            createTopic(admin, output, partitions);
        }
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(input, bytes("key-" + i), bytes("value-" + i)));
            }
            producer.flush();
        }
        Set<String> expected = new TreeSet<>();
        for (int i = 0; i < count; i++) {
            expected.add("VALUE-" + i);
        }

        boolean abortedOnce = false;
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "25"));
             KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("ctp-txn"),
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000"))) {
            producer.initTransactions();
            consumer.subscribe(List.of(input));
            List<TopicPartition> inputPartitions = partitions(input, partitions);
            long deadline = System.nanoTime() + DEADLINE.toNanos() * 2;
            while (true) {
                check(System.nanoTime() < deadline, "consume-transform-produce did not finish");
                if (!consumer.assignment().isEmpty()) {
                    Map<TopicPartition, OffsetAndMetadata> committed =
                        consumer.committed(new HashSet<>(inputPartitions), DEADLINE);
                    boolean done = committed.size() == partitions;
                    Map<TopicPartition, Long> end = consumer.endOffsets(inputPartitions, DEADLINE);
                    for (TopicPartition tp : inputPartitions) {
                        OffsetAndMetadata offset = committed.get(tp);
                        done &= offset != null && offset.offset() == end.get(tp);
                    }
                    if (done) {
                        break;
                    }
                }
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                if (records.isEmpty()) {
                    continue;
                }
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    producer.send(new ProducerRecord<>(output, record.key(),
                        bytes(text(record.value()).toUpperCase(java.util.Locale.ROOT))));
                    offsets.put(new TopicPartition(record.topic(), record.partition()),
                        new OffsetAndMetadata(record.offset() + 1));
                }
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                if (!abortedOnce) {
                    abortedOnce = true;
                    producer.abortTransaction();
                    // Redo from what the group committed (nothing yet: the beginning).
                    Map<TopicPartition, OffsetAndMetadata> committed =
                        consumer.committed(consumer.assignment(), DEADLINE);
                    for (TopicPartition tp : consumer.assignment()) {
                        OffsetAndMetadata offset = committed.get(tp);
                        check(offset == null, "an aborted transaction committed offset " + offset + " for " + tp);
                        consumer.seek(tp, 0);
                    }
                } else {
                    producer.commitTransaction();
                }
            }
        }

        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            List<TopicPartition> tps = partitions(output, partitions);
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<String, Integer> seen = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> record : readToEnd(consumer)) {
                seen.merge(text(record.value()), 1, Integer::sum);
            }
            checkEquals(expected, seen.keySet(), "committed output");
            for (Map.Entry<String, Integer> entry : seen.entrySet()) {
                checkEquals(1, entry.getValue(), "times " + entry.getKey() + " is in the output");
            }
        }
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetAndMetadata> offsets =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of())) {
                Map<TopicPartition, Long> end = consumer.endOffsets(partitions(input, partitions), DEADLINE);
                long total = 0;
                for (Map.Entry<TopicPartition, Long> entry : end.entrySet()) {
                    OffsetAndMetadata offset = offsets.get(entry.getKey());
                    check(offset != null, "the transaction committed no offset for " + entry.getKey());
                    checkEquals(entry.getValue(), offset.offset(), "group offset of " + entry.getKey());
                    total += entry.getValue();
                }
                checkEquals((long) count, total, "input records");
            }
        }
    }

    static boolean causedBy(Throwable error, Class<? extends Throwable> type) {
        for (Throwable cause = error; cause != null; cause = cause.getCause()) {
            if (type.isInstance(cause)) {
                return true;
            }
            if (cause.getCause() == cause) {
                break;
            }
        }
        return false;
    }

    /**
     * A second producer with the same transactional.id fences the first and
     * aborts its open transaction; while it was open, a read_committed
     * consumer's end offset was the last stable offset.
     */
    void transactionalFencingAndLso() throws Exception {
        String topic = name("fencing");
        String txnId = name("fencing-id");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<String, String> txnConfig = Map.of(
            ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
            ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000");
        KafkaProducer<byte[], byte[]> first = producer(txnConfig);
        try (KafkaConsumer<byte[], byte[]> committedReader = consumer(null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"));
             KafkaConsumer<byte[], byte[]> uncommittedReader = consumer(null, Map.of())) {
            first.initTransactions();
            first.beginTransaction();
            for (int i = 0; i < 5; i++) {
                first.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("fenced-" + i)));
            }
            first.flush();
            checkEquals(0L, committedReader.endOffsets(List.of(tp), DEADLINE).get(tp),
                "read_committed end offset (LSO) with a transaction open");
            checkEquals(5L, uncommittedReader.endOffsets(List.of(tp), DEADLINE).get(tp),
                "read_uncommitted end offset (high watermark) with a transaction open");

            try (KafkaProducer<byte[], byte[]> second = producer(txnConfig)) {
                second.initTransactions();
                // The fenced producer's transaction was aborted: its marker is in the log.
                checkEquals(6L, committedReader.endOffsets(List.of(tp), DEADLINE).get(tp),
                    "LSO once the new producer aborted the open transaction");
                Throwable fenced = null;
                try {
                    first.commitTransaction();
                } catch (Exception e) {
                    fenced = e;
                }
                check(fenced instanceof org.apache.kafka.common.errors.ProducerFencedException,
                    "committing from the fenced producer: " + fenced);

                second.beginTransaction();
                for (int i = 0; i < 3; i++) {
                    second.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("kept-" + i)));
                }
                second.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("sentinel")));
                second.commitTransaction();
            }
            committedReader.assign(List.of(tp));
            committedReader.seekToBeginning(List.of(tp));
            List<String> values = new ArrayList<>();
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!values.contains("sentinel")) {
                check(System.nanoTime() < deadline, "no sentinel; read " + values);
                committedReader.poll(POLL).forEach(r -> values.add(text(r.value())));
            }
            checkEquals(List.of("kept-0", "kept-1", "kept-2", "sentinel"), values, "read_committed values");
            checkEquals(uncommittedReader.endOffsets(List.of(tp), DEADLINE).get(tp),
                committedReader.endOffsets(List.of(tp), DEADLINE).get(tp), "LSO and high watermark once committed");
        } finally {
            first.close(Duration.ZERO);
        }
    }

    /** A transaction.timeout.ms above the broker's transaction.max.timeout.ms (15 minutes) is refused. */
    void transactionTimeoutAboveMax() throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("too-long"),
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "900001"))) {
            Throwable error = null;
            try {
                producer.initTransactions();
            } catch (Exception e) {
                error = e;
            }
            // The client has no case for INVALID_TRANSACTION_TIMEOUT: it wraps
            // the error's message in a KafkaException.
            String message = org.apache.kafka.common.protocol.Errors.INVALID_TRANSACTION_TIMEOUT.message();
            check(causedBy(error, org.apache.kafka.common.errors.InvalidTxnTimeoutException.class)
                || (error != null && String.valueOf(error.getMessage()).contains(message)),
                "initTransactions with a timeout above the maximum: " + error);
        }
    }

    /** listTransactions and describeTransactions while a transaction is open and once it committed. */
    void adminTransactions() throws Exception {
        String topic = name("admin-txn");
        String txnId = name("admin-txn-id");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                    ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
                    ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "45000"))) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, 1, bytes("k"), bytes("v")));
                producer.flush();

                Collection<org.apache.kafka.clients.admin.TransactionListing> listed =
                    get(admin.listTransactions().all());
                org.apache.kafka.clients.admin.TransactionListing listing = listed.stream()
                    .filter(l -> l.transactionalId().equals(txnId)).findFirst().orElse(null);
                check(listing != null, "listTransactions lacks " + txnId + ": " + listed);
                checkEquals(org.apache.kafka.clients.admin.TransactionState.ONGOING, listing.state(),
                    "listed state of an open transaction");

                org.apache.kafka.clients.admin.TransactionDescription description =
                    get(admin.describeTransactions(List.of(txnId)).description(txnId));
                checkEquals(org.apache.kafka.clients.admin.TransactionState.ONGOING, description.state(),
                    "described state of an open transaction");
                checkEquals(45000L, description.transactionTimeoutMs(), "described transaction timeout");
                checkEquals(Set.of(new TopicPartition(topic, 1)), description.topicPartitions(),
                    "partitions of the open transaction");
                checkEquals(listing.producerId(), description.producerId(), "producer id");
                check(description.transactionStartTimeMs().isPresent(), "no transaction start time");

                org.apache.kafka.clients.admin.TransactionListing open = listing;
                java.util.function.Function<org.apache.kafka.clients.admin.ListTransactionsOptions, Boolean> lists =
                    options -> {
                        try {
                            return get(admin.listTransactions(options).all()).stream()
                                .anyMatch(l -> l.transactionalId().equals(txnId));
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    };
                check(lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterStates(
                    List.of(org.apache.kafka.clients.admin.TransactionState.ONGOING))), "filtered by Ongoing");
                check(!lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterStates(
                    List.of(org.apache.kafka.clients.admin.TransactionState.COMPLETE_COMMIT))),
                    "an open transaction listed as CompleteCommit");
                check(lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterProducerIds(
                    List.of(open.producerId()))), "filtered by its producer id");
                check(!lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterProducerIds(
                    List.of(open.producerId() + 1000))), "listed under another producer id");
                Thread.sleep(20);
                check(lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterOnDuration(1)),
                    "not listed as running longer than 1 ms");
                check(!lists.apply(new org.apache.kafka.clients.admin.ListTransactionsOptions().filterOnDuration(3_600_000)),
                    "listed as running longer than an hour");

                producer.commitTransaction();
                waitFor("the transaction to complete", () -> {
                    try {
                        return get(admin.describeTransactions(List.of(txnId)).description(txnId)).state()
                            == org.apache.kafka.clients.admin.TransactionState.COMPLETE_COMMIT;
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                description = get(admin.describeTransactions(List.of(txnId)).description(txnId));
                check(description.topicPartitions().isEmpty(),
                    "a completed transaction still lists partitions " + description.topicPartitions());
            }
            Throwable unknown = failureOf(admin.describeTransactions(List.of(name("no-such-txn")))
                .description(name("no-such-txn")));
            check(unknown instanceof org.apache.kafka.common.errors.TransactionalIdNotFoundException,
                "describing an unknown transactional id: " + unknown);
        }
    }

    /** A consumer whose fetch sizes are smaller than any batch still makes progress (KIP-74). */
    void tinyFetchSizes() throws Exception {
        String topic = name("tiny-fetch");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        int count = 50;
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, "20"))) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, 0, bytes("k" + i), bytes(i + ":" + "y".repeat(1000))));
            }
            producer.flush();
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "1",
                ConsumerConfig.FETCH_MAX_BYTES_CONFIG, "1"))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            List<ConsumerRecord<byte[], byte[]>> records = readToEnd(consumer);
            checkEquals(count, records.size(), "records read with one-byte fetches");
            for (int i = 0; i < count; i++) {
                checkEquals((long) i, records.get(i).offset(), "offset of record " + i);
                check(text(records.get(i).value()).startsWith(i + ":"), "value of record " + i);
            }
        }
    }

    /** A record above the topic's max.message.bytes fails with RecordTooLargeException; the producer goes on. */
    void recordTooLarge() throws Exception {
        String topic = name("too-large");
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("max.message.bytes", "1024")))).all());
        }
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            Throwable error = null;
            try {
                producer.send(new ProducerRecord<>(topic, 0, bytes("big"), bytes("z".repeat(4000))))
                    .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                error = e.getCause();
            }
            check(error instanceof org.apache.kafka.common.errors.RecordTooLargeException,
                "sending a record above max.message.bytes: " + error);
            RecordMetadata md = producer.send(new ProducerRecord<>(topic, 0, bytes("small"), bytes("ok")))
                .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            checkEquals(0L, md.offset(), "offset of the small record after the refused one");
        }
    }

    /** message.timestamp.type=LogAppendTime: the broker's clock stamps each record. */
    void logAppendTime() throws Exception {
        String topic = name("log-append-time");
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("message.timestamp.type", "LogAppendTime")))).all());
        }
        long before = System.currentTimeMillis();
        RecordMetadata md;
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4"))) {
            md = producer.send(new ProducerRecord<>(topic, 0, 12345L, bytes("k"), bytes("v")))
                .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        }
        long after = System.currentTimeMillis();
        check(md.timestamp() >= before - 1000 && md.timestamp() <= after + 1000,
            "the producer's timestamp " + md.timestamp() + " is not the broker's append time (between "
            + before + " and " + after + ")");
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            ConsumerRecord<byte[], byte[]> record = firstRecordOf(consumer, tp);
            checkEquals(org.apache.kafka.common.record.TimestampType.LOG_APPEND_TIME, record.timestampType(),
                "timestamp type");
            checkEquals(md.timestamp(), record.timestamp(), "timestamp read back");
        }
    }

    /**
     * Static membership (group.instance.id): closing does not leave the
     * group; a new consumer with the same instance id takes the member's
     * place and its partitions.
     */
    void staticMembership() throws Exception {
        String topic = name("static");
        String group = name("static-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            Map<String, String> overrides = Map.of(
                ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-1",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "30000");
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, overrides)) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().size() < 2) {
                    check(System.nanoTime() < deadline, "the static member got " + consumer.assignment());
                    consumer.poll(POLL);
                }
            }
            ConsumerGroupDescription description = get(admin.describeConsumerGroups(List.of(group))
                .describedGroups().get(group));
            checkEquals(1, description.members().size(), "members right after a static member closed");
            checkEquals(java.util.Optional.of("instance-1"),
                description.members().iterator().next().groupInstanceId(), "instance id of the member");
            String oldMemberId = description.members().iterator().next().consumerId();

            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, overrides)) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().size() < 2) {
                    check(System.nanoTime() < deadline, "the returning static member got " + consumer.assignment());
                    consumer.poll(POLL);
                }
                description = get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
                checkEquals(1, description.members().size(), "members once the static member returned");
                MemberDescription member = description.members().iterator().next();
                checkEquals(java.util.Optional.of("instance-1"), member.groupInstanceId(), "returning instance id");
                check(!member.consumerId().equals(oldMemberId), "the returning member kept the old member id");
            }
        }
    }

    /**
     * Admin deleteRecords and listOffsets (earliest, latest, max timestamp,
     * for a timestamp); a consumer positioned below the new log start resets.
     */
    void deleteRecordsAndListOffsets() throws Exception {
        String topic = name("delete-records");
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 600_000L;
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    long timestamp = i == 7 ? base + 100_000L : base + i * 1000L;
                    producer.send(new ProducerRecord<>(topic, 0, timestamp, bytes("k" + i), bytes("v" + i)));
                }
                producer.flush();
            }
            org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo info;
            info = get(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.earliest()))
                .partitionResult(tp));
            checkEquals(0L, info.offset(), "earliest");
            info = get(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latest()))
                .partitionResult(tp));
            checkEquals(10L, info.offset(), "latest");
            info = get(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.maxTimestamp()))
                .partitionResult(tp));
            checkEquals(7L, info.offset(), "offset of the max timestamp");
            checkEquals(base + 100_000L, info.timestamp(), "max timestamp");
            info = get(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.forTimestamp(base + 3000L)))
                .partitionResult(tp));
            checkEquals(3L, info.offset(), "offset for a timestamp");

            org.apache.kafka.clients.admin.DeletedRecords deleted = get(admin.deleteRecords(
                Map.of(tp, org.apache.kafka.clients.admin.RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp));
            checkEquals(4L, deleted.lowWatermark(), "low watermark after deleteRecords");
            info = get(admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.earliest()))
                .partitionResult(tp));
            checkEquals(4L, info.offset(), "earliest after deleteRecords");
            Throwable beyond = failureOf(admin.deleteRecords(
                Map.of(tp, org.apache.kafka.clients.admin.RecordsToDelete.beforeOffset(20))).lowWatermarks().get(tp));
            check(beyond instanceof org.apache.kafka.common.errors.OffsetOutOfRangeException,
                "deleting records beyond the high watermark: " + beyond);
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of())) {
            consumer.assign(List.of(tp));
            checkEquals(4L, consumer.beginningOffsets(List.of(tp), DEADLINE).get(tp), "beginningOffsets");
            consumer.seek(tp, 1);
            ConsumerRecord<byte[], byte[]> record = firstRecordOf(consumer, tp);
            checkEquals(4L, record.offset(), "first record after seeking below the log start (reset to earliest)");
        }
    }

    /**
     * createTopics errors, each its own item: validateOnly creates nothing;
     * too many replicas, an illegal name, no partitions, a bad config value
     * and an unknown config are refused with Kafka's exceptions.
     */
    void createTopicsErrors() throws Exception {
        String valid = name("validate-only");
        String replicas = name("replicas");
        String bad = "bad name!" + run;
        String zero = name("zero-partitions");
        String badValue = name("bad-config-value");
        String unknownConfig = name("unknown-config");
        try (Admin admin = admin()) {
            short tooMany = (short) (get(admin.describeCluster().nodes()).size() + 1);
            get(admin.createTopics(List.of(new NewTopic(valid, 3, (short) 1)),
                new org.apache.kafka.clients.admin.CreateTopicsOptions().validateOnly(true)).all());
            check(!get(admin.listTopics().names()).contains(valid), "validateOnly created the topic");

            CreateTopicsResult result = admin.createTopics(List.of(
                new NewTopic(replicas, 1, tooMany),
                new NewTopic(bad, 1, (short) 1),
                new NewTopic(zero, 0, (short) 1),
                new NewTopic(badValue, 1, (short) 1).configs(Map.of("retention.ms", "soon")),
                new NewTopic(unknownConfig, 1, (short) 1).configs(Map.of("no.such.config", "1"))));
            Throwable error = failureOf(result.values().get(replicas));
            check(error instanceof org.apache.kafka.common.errors.InvalidReplicationFactorException,
                "more replicas than nodes: " + error);
            error = failureOf(result.values().get(bad));
            check(error instanceof org.apache.kafka.common.errors.InvalidTopicException, "illegal name: " + error);
            error = failureOf(result.values().get(zero));
            check(error instanceof InvalidPartitionsException, "0 partitions: " + error);
            error = failureOf(result.values().get(badValue));
            check(error instanceof org.apache.kafka.common.errors.InvalidConfigurationException,
                "retention.ms=soon: " + error);
            error = failureOf(result.values().get(unknownConfig));
            check(error instanceof org.apache.kafka.common.errors.InvalidConfigurationException,
                "an unknown config: " + error);
            Set<String> names = get(admin.listTopics().names());
            for (String topic : List.of(replicas, zero, badValue, unknownConfig)) {
                check(!names.contains(topic), "a refused topic was created: " + topic);
            }
        }
    }

    /** alterConsumerGroupOffsets on a group with an active member is refused (UnknownMemberIdException). */
    void alterOffsetsOfActiveGroup() throws Exception {
        String topic = name("alter-active");
        String group = name("alter-active-g");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().isEmpty()) {
                    check(System.nanoTime() < deadline, "the member got no assignment");
                    consumer.poll(POLL);
                }
                Throwable error = failureOf(admin.alterConsumerGroupOffsets(group,
                    Map.of(tp, new OffsetAndMetadata(0))).all());
                check(error instanceof org.apache.kafka.common.errors.UnknownMemberIdException,
                    "altering the offsets of a group with a member: " + error);
            }
        }
    }

    /**
     * A pattern subscription with auto-commit: records of every matching
     * topic, including one created after subscribing, are read, and closing
     * commits what was read.
     */
    void autoCommitAndPattern() throws Exception {
        String prefix = name("pattern");
        String group = name("pattern-g");
        List<String> topics = List.of(prefix + "-a", prefix + "-b");
        try (Admin admin = admin()) {
            for (String topic : topics) {
                createTopic(admin, topic, 2);
            }
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (String topic : topics) {
                    for (int i = 0; i < 10; i++) {
                        producer.send(new ProducerRecord<>(topic, bytes("k" + i), bytes(topic + "-" + i)));
                    }
                }
                producer.flush();
            }
            Set<String> values = new HashSet<>();
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                    ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true",
                    ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "500",
                    ConsumerConfig.METADATA_MAX_AGE_CONFIG, "1000"))) {
                consumer.subscribe(java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(prefix) + "-.*"));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (values.size() < 20) {
                    check(System.nanoTime() < deadline, "read " + values.size() + " of 20");
                    consumer.poll(POLL).forEach(r -> check(values.add(text(r.value())), "read twice"));
                }
                String late = prefix + "-c";
                createTopic(admin, late, 1);
                try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                    for (int i = 0; i < 5; i++) {
                        producer.send(new ProducerRecord<>(late, bytes("k" + i), bytes(late + "-" + i)));
                    }
                    producer.flush();
                }
                while (values.size() < 25) {
                    check(System.nanoTime() < deadline, "read " + values.size() + " of 25 (the late topic)");
                    consumer.poll(POLL).forEach(r -> check(values.add(text(r.value())), "read twice"));
                }
            }
            Map<TopicPartition, OffsetAndMetadata> offsets =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            long total = offsets.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            checkEquals(25L, total, "offsets auto-committed on close: " + offsets);
            checkEquals(5, offsets.size(), "partitions with auto-committed offsets");
        }
    }

    /** A producer sending to an unknown topic has it created (auto.create.topics.enable, num.partitions=1). */
    void producerAutoCreatesTopic() throws Exception {
        String topic = name("auto-created");
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            RecordMetadata md = producer.send(new ProducerRecord<>(topic, bytes("k"), bytes("v")))
                .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            checkEquals(0, md.partition(), "partition");
            checkEquals(0L, md.offset(), "offset");
        }
        try (Admin admin = admin()) {
            TopicDescription description = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
            checkEquals(1, description.partitions().size(), "partitions of an auto-created topic");
        }
    }

    /** describeTopics with a tiny partitionSizeLimitPerResponse: DescribeTopicPartitions pages with its cursor. */
    void describeTopicsPaginated() throws Exception {
        Map<String, Integer> sizes = new TreeMap<>(Map.of(
            name("paged-a"), 5, name("paged-b"), 1, name("paged-c"), 3));
        try (Admin admin = admin()) {
            for (Map.Entry<String, Integer> entry : sizes.entrySet()) {
                createTopic(admin, entry.getKey(), entry.getValue());
            }
            for (int limit : new int[] {1, 2, 4}) {
                Map<String, TopicDescription> described = get(admin.describeTopics(sizes.keySet(),
                    new org.apache.kafka.clients.admin.DescribeTopicsOptions().partitionSizeLimitPerResponse(limit))
                    .allTopicNames());
                checkEquals(sizes.keySet(), described.keySet(), "topics described with a page of " + limit);
                for (Map.Entry<String, Integer> entry : sizes.entrySet()) {
                    List<Integer> indexes = described.get(entry.getKey()).partitions().stream()
                        .map(TopicPartitionInfo::partition).collect(Collectors.toList());
                    List<Integer> expected = new ArrayList<>();
                    for (int p = 0; p < entry.getValue(); p++) {
                        expected.add(p);
                    }
                    checkEquals(expected, indexes, "partitions of " + entry.getKey() + " with a page of " + limit);
                }
            }
        }
    }

    /**
     * Group admin calls over several groups at once (batched OffsetFetch,
     * DescribeGroups, DeleteGroups), listing filtered by state and type,
     * altering the offsets of a group that does not exist yet, deleting
     * one partition's offsets (OffsetDelete).
     */
    void groupsBatchedAndFiltered() throws Exception {
        String topic = name("batched");
        String g1 = name("batched-g1");
        String g2 = name("batched-g2");
        String g3 = name("batched-g3");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 2, bytes("k"), bytes("v" + i)));
                }
                producer.flush();
            }
            // Two groups commit with a consumer, the third is made by the admin client.
            for (String group : List.of(g1, g2)) {
                try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
                    consumer.assign(List.of(p0, p1));
                    long offset = group.equals(g1) ? 1 : 2;
                    consumer.commitSync(Map.of(p0, new OffsetAndMetadata(offset), p1, new OffsetAndMetadata(offset + 1)),
                        DEADLINE);
                }
            }
            get(admin.alterConsumerGroupOffsets(g3, Map.of(p1, new OffsetAndMetadata(4, "from-admin"))).all());

            Map<String, org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec> specs = new HashMap<>();
            specs.put(g1, new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec());
            specs.put(g2, new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec().topicPartitions(List.of(p1)));
            specs.put(g3, new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec());
            Map<String, Map<TopicPartition, OffsetAndMetadata>> all = get(admin.listConsumerGroupOffsets(specs).all());
            checkEquals(Map.of(p0, 1L, p1, 2L), offsetsOf(all.get(g1)), "offsets of " + g1);
            checkEquals(Map.of(p1, 3L), offsetsOf(all.get(g2)), "offsets of " + g2 + " (p1 asked)");
            checkEquals(Map.of(p1, 4L), offsetsOf(all.get(g3)), "offsets of " + g3);
            checkEquals("from-admin", all.get(g3).get(p1).metadata(), "metadata of the admin's commit");

            Map<String, ConsumerGroupDescription> described = get(admin.describeConsumerGroups(List.of(g1, g2, g3)).all());
            for (String group : List.of(g1, g2, g3)) {
                checkEquals(GroupState.EMPTY, described.get(group).groupState(), "state of " + group);
                check(described.get(group).members().isEmpty(), group + " has members");
            }

            Collection<ConsumerGroupListing> empty = get(admin.listConsumerGroups(
                new org.apache.kafka.clients.admin.ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.EMPTY))).all());
            Set<String> emptyIds = empty.stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(emptyIds.containsAll(List.of(g1, g2, g3)), "listing Empty groups lacks ours: " + emptyIds);
            Collection<ConsumerGroupListing> stable = get(admin.listConsumerGroups(
                new org.apache.kafka.clients.admin.ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.STABLE))).all());
            check(stable.stream().noneMatch(l -> l.groupId().equals(g1)), "an Empty group listed as Stable");
            Collection<org.apache.kafka.clients.admin.GroupListing> classic = get(admin.listGroups(
                new org.apache.kafka.clients.admin.ListGroupsOptions().withTypes(Set.of(org.apache.kafka.common.GroupType.CLASSIC))).all());
            check(classic.stream().anyMatch(l -> l.groupId().equals(g1)
                    && l.type().equals(java.util.Optional.of(org.apache.kafka.common.GroupType.CLASSIC))),
                "listGroups(classic) lacks " + g1 + ": " + classic);
            Collection<org.apache.kafka.clients.admin.GroupListing> share = get(admin.listGroups(
                new org.apache.kafka.clients.admin.ListGroupsOptions().withTypes(Set.of(org.apache.kafka.common.GroupType.SHARE))).all());
            check(share.stream().noneMatch(l -> l.groupId().equals(g1)), "a classic group listed as a share group");

            get(admin.deleteConsumerGroupOffsets(g1, Set.of(p0)).all());
            checkEquals(Map.of(p1, 2L), offsetsOf(get(admin.listConsumerGroupOffsets(g1).partitionsToOffsetAndMetadata())),
                "offsets of " + g1 + " after deleting p0's");

            get(admin.deleteConsumerGroups(List.of(g1, g2, g3)).all());
            Set<String> left = get(admin.listConsumerGroups().all()).stream()
                .map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(!left.contains(g1) && !left.contains(g2) && !left.contains(g3), "deleted groups still listed");
        }
    }

    static Map<TopicPartition, Long> offsetsOf(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<TopicPartition, Long> result = new HashMap<>();
        if (offsets != null) {
            offsets.forEach((tp, offset) -> {
                if (offset != null) {
                    result.put(tp, offset.offset());
                }
            });
        }
        return result;
    }

    /**
     * removeMembersFromConsumerGroup: a static member that closed (and so
     * did not leave) is removed by its instance id; removing every member
     * of a group empties it.
     */
    void removeMembers() throws Exception {
        String topic = name("remove-members");
        String group = name("remove-members-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                    ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-1",
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "60000"))) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().isEmpty()) {
                    check(System.nanoTime() < deadline, "the static member got no assignment");
                    consumer.poll(POLL);
                }
            }
            checkEquals(1, get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group))
                .members().size(), "members after the static member closed");
            get(admin.removeMembersFromConsumerGroup(group, new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions(
                List.of(new org.apache.kafka.clients.admin.MemberToRemove("static-1")))).all());
            ConsumerGroupDescription description = get(admin.describeConsumerGroups(List.of(group))
                .describedGroups().get(group));
            check(description.members().isEmpty(), "members after removing the static member: " + description.members());
            checkEquals(GroupState.EMPTY, description.groupState(), "state after removing the only member");
            Throwable unknown = failureOf(admin.removeMembersFromConsumerGroup(group,
                new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions(
                    List.of(new org.apache.kafka.clients.admin.MemberToRemove("static-1")))).all());
            check(unknown instanceof org.apache.kafka.common.errors.UnknownMemberIdException,
                "removing a member that is gone: " + unknown);

            // Remove everyone: a dynamic member is removed by its member id.
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().isEmpty()) {
                    check(System.nanoTime() < deadline, "the dynamic member got no assignment");
                    consumer.poll(POLL);
                }
                get(admin.removeMembersFromConsumerGroup(group,
                    new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions()).all());
                description = get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
                check(description.members().isEmpty(), "members after removing all: " + description.members());
            }
        }
    }

    /** Admin fenceProducers: the open transaction of the fenced producer is aborted, its commit fails. */
    void fenceProducers() throws Exception {
        String topic = name("fence");
        String txnId = name("fence-id");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000"));
            try {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("fenced")));
                producer.flush();
                org.apache.kafka.clients.admin.FenceProducersResult result = admin.fenceProducers(List.of(txnId));
                get(result.all());
                check(get(result.producerId(txnId)) >= 0, "fenced producer id " + get(result.producerId(txnId)));
                Throwable fenced = null;
                try {
                    producer.commitTransaction();
                } catch (Exception e) {
                    fenced = e;
                }
                check(fenced instanceof org.apache.kafka.common.errors.ProducerFencedException,
                    "committing after fenceProducers: " + fenced);
            } finally {
                producer.close(Duration.ZERO);
            }
            try (KafkaProducer<byte[], byte[]> plain = producer(Map.of())) {
                plain.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("sentinel")))
                    .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            }
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                    ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
                consumer.assign(List.of(tp));
                ConsumerRecord<byte[], byte[]> first = firstRecordOf(consumer, tp);
                checkEquals("sentinel", text(first.value()), "first committed record after the fenced transaction");
            }
        }
    }

    /** deleteConsumerGroupOffsets of a topic the group's member subscribes to is refused. */
    void deleteOffsetsOfSubscribedTopic() throws Exception {
        String topic = name("offset-delete");
        String group = name("offset-delete-g");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().isEmpty()) {
                    check(System.nanoTime() < deadline, "the member got no assignment");
                    consumer.poll(POLL);
                }
                consumer.commitSync(Map.of(tp, new OffsetAndMetadata(0)), DEADLINE);
                Throwable error = failureOf(admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all());
                check(error instanceof org.apache.kafka.common.errors.GroupSubscribedToTopicException,
                    "deleting the offsets of a subscribed topic: " + error);
            }
            get(admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all());
            check(get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).isEmpty(),
                "offsets left after deleteConsumerGroupOffsets");
        }
    }

    /**
     * Records the broker must refuse, each failing alone while the idempotent
     * producer goes on: a keyless record on a compacted topic
     * (InvalidRecordException), a timestamp more than
     * message.timestamp.after.max.ms ahead (InvalidTimestampException).
     */
    void refusedRecords() throws Exception {
        String compacted = name("compacted");
        String future = name("future-timestamps");
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(
                new NewTopic(compacted, 1, (short) 1).configs(Map.of("cleanup.policy", "compact")),
                new NewTopic(future, 1, (short) 1).configs(Map.of("message.timestamp.after.max.ms", "60000"))))
                .all());
        }
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            Throwable error = null;
            try {
                producer.send(new ProducerRecord<>(compacted, 0, null, bytes("no key")))
                    .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                error = e.getCause();
            }
            check(error instanceof org.apache.kafka.common.InvalidRecordException,
                "a keyless record on a compacted topic: " + error);
            RecordMetadata md = producer.send(new ProducerRecord<>(compacted, 0, bytes("k"), bytes("keyed")))
                .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            checkEquals(0L, md.offset(), "offset of a keyed record after the refused one");

            error = null;
            try {
                producer.send(new ProducerRecord<>(future, 0, System.currentTimeMillis() + 3_600_000L,
                    bytes("k"), bytes("from the future"))).get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                error = e.getCause();
            }
            check(error instanceof org.apache.kafka.common.errors.InvalidTimestampException,
                "a timestamp an hour ahead with message.timestamp.after.max.ms=60000: " + error);
            md = producer.send(new ProducerRecord<>(future, 0, bytes("k"), bytes("now")))
                .get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            checkEquals(0L, md.offset(), "offset of a record stamped now after the refused one");
        }
    }

    /**
     * A transaction hits an abortable error (a record too large for its
     * topic): the producer aborts, bumps its epoch (KIP-360) and commits the
     * next transaction; read_committed sees only that one.
     */
    void abortableErrorThenCommit() throws Exception {
        String topic = name("abortable");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("max.message.bytes", "1024")))).all());
        }
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("abortable-id"),
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000"))) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("small, aborted")));
            Future<RecordMetadata> big = producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("z".repeat(4000))));
            Throwable error = null;
            try {
                big.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                error = e.getCause();
            }
            check(error instanceof org.apache.kafka.common.errors.RecordTooLargeException,
                "a record too large in a transaction: " + error);
            Throwable commit = null;
            try {
                producer.commitTransaction();
            } catch (Exception e) {
                commit = e;
            }
            check(commit != null, "committing a transaction with a failed send succeeded");
            producer.abortTransaction();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("committed")));
            producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("sentinel")));
            producer.commitTransaction();
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            consumer.assign(List.of(tp));
            List<String> values = new ArrayList<>();
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!values.contains("sentinel")) {
                check(System.nanoTime() < deadline, "no sentinel; read " + values);
                consumer.poll(POLL).forEach(r -> values.add(text(r.value())));
            }
            checkEquals(List.of("committed", "sentinel"), values, "read_committed values");
        }
    }

    /**
     * A transaction left open past transaction.timeout.ms is aborted by the
     * coordinator: the last stable offset moves past it, read_committed
     * never sees its records, and the producer that let it expire cannot
     * commit it.
     */
    void transactionTimeoutAborts() throws Exception {
        String topic = name("txn-timeout");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        KafkaProducer<byte[], byte[]> producer = producer(Map.of(
            ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("txn-timeout-id"),
            ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "3000"));
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("expired-" + i)));
            }
            producer.flush();
            checkEquals(0L, consumer.endOffsets(List.of(tp), DEADLINE).get(tp), "LSO with the transaction open");
            waitFor("the coordinator to abort the expired transaction (LSO past its marker)",
                () -> consumer.endOffsets(List.of(tp), DEADLINE).get(tp) == 4L);
            Throwable error = null;
            try {
                producer.commitTransaction();
            } catch (Exception e) {
                error = e;
            }
            check(error != null, "committing an expired transaction succeeded");
        } finally {
            producer.close(Duration.ZERO);
        }
        try (KafkaProducer<byte[], byte[]> plain = producer(Map.of())) {
            plain.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("sentinel"))).get(DEADLINE.toMillis(),
                TimeUnit.MILLISECONDS);
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            consumer.assign(List.of(tp));
            ConsumerRecord<byte[], byte[]> first = firstRecordOf(consumer, tp);
            checkEquals("sentinel", text(first.value()), "first committed record after the expired transaction");
        }
    }

    /**
     * A member that stops polling for longer than max.poll.interval.ms leaves
     * the group (its heartbeat thread says so); the other member takes its
     * partitions; the late member's commit fails with CommitFailedException
     * and it rejoins on its next poll.
     */
    void maxPollIntervalExceeded() throws Exception {
        String topic = name("max-poll");
        String group = name("max-poll-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
        }
        KafkaConsumer<byte[], byte[]> slow = consumer(group, Map.of(
            ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "4000",
            ConsumerConfig.CLIENT_ID_CONFIG, "slow"));
        KafkaConsumer<byte[], byte[]> steady = consumer(group, Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "steady"));
        try {
            slow.subscribe(List.of(topic));
            steady.subscribe(List.of(topic));
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (slow.assignment().size() != 1 || steady.assignment().size() != 1) {
                check(System.nanoTime() < deadline, "no split: " + slow.assignment() + " / " + steady.assignment());
                slow.poll(POLL);
                steady.poll(POLL);
            }
            // The slow member stops polling; the steady one keeps going.
            deadline = System.nanoTime() + DEADLINE.toNanos();
            while (steady.assignment().size() != 2) {
                check(System.nanoTime() < deadline, "the steady member never got both partitions: "
                    + steady.assignment());
                steady.poll(POLL);
            }
            TopicPartition owned = slow.assignment().iterator().next();
            Throwable error = null;
            try {
                slow.commitSync(Map.of(owned, new OffsetAndMetadata(0)), DEADLINE);
            } catch (Exception e) {
                error = e;
            }
            check(error instanceof org.apache.kafka.clients.consumer.CommitFailedException,
                "committing after max.poll.interval.ms: " + error);
            deadline = System.nanoTime() + DEADLINE.toNanos();
            while (slow.assignment().size() != 1 || steady.assignment().size() != 1) {
                check(System.nanoTime() < deadline, "the slow member did not rejoin: " + slow.assignment()
                    + " / " + steady.assignment());
                slow.poll(POLL);
                steady.poll(POLL);
            }
        } finally {
            slow.close(Duration.ofSeconds(30));
            steady.close(Duration.ofSeconds(30));
        }
    }

    /** A static member that closed (without leaving) is removed once its session times out. */
    void staticMemberSessionExpires() throws Exception {
        String topic = name("static-expiry");
        String group = name("static-expiry-g");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                    ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "expiring",
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000"))) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (consumer.assignment().isEmpty()) {
                    check(System.nanoTime() < deadline, "the static member got no assignment");
                    consumer.poll(POLL);
                }
            }
            long closed = System.nanoTime();
            checkEquals(1, get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group))
                .members().size(), "members right after the static member closed");
            waitFor("the static member's session to expire", () -> {
                try {
                    ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group))
                        .describedGroups().get(group));
                    return d.members().isEmpty() && d.groupState() == GroupState.EMPTY;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long waited = (System.nanoTime() - closed) / 1_000_000;
            check(waited >= 4000, "the member was removed after " + waited + " ms, before its 6 s session ended");
        }
    }

    /**
     * describeTopics and deleteTopics by topic id; a topic recreated under
     * the same name gets a new id, and the old id is unknown.
     */
    void topicsById() throws Exception {
        String topic = name("by-id");
        try (Admin admin = admin()) {
            Uuid first = get(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).topicId(topic));
            Map<Uuid, TopicDescription> byId = get(admin.describeTopics(
                org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(first))).allTopicIds());
            checkEquals(topic, byId.get(first).name(), "name of the topic described by id");
            checkEquals(2, byId.get(first).partitions().size(), "partitions of the topic described by id");

            get(admin.deleteTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(first))).all());
            waitFor("the topic deleted by id to go", () -> {
                try {
                    return !get(admin.listTopics().names()).contains(topic);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Uuid second = get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).topicId(topic));
            check(!second.equals(first), "a recreated topic kept its old id " + first);
            checkEquals(second, get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).topicId(),
                "id of the recreated topic");
            Throwable old = failureOf(admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(
                List.of(first))).topicIdValues().get(first));
            check(old instanceof org.apache.kafka.common.errors.UnknownTopicIdException,
                "describing a deleted topic's id: " + old);
            Throwable gone = failureOf(admin.deleteTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(
                List.of(first))).topicIdValues().get(first));
            check(gone instanceof org.apache.kafka.common.errors.UnknownTopicIdException,
                "deleting a deleted topic's id: " + gone);
        }
    }

    /**
     * describeConfigs with synonyms and documentation for a topic, and the
     * configs of every broker (each asked of that broker).
     */
    void describeConfigsOptions() throws Exception {
        String topic = name("config-options");
        try (Admin admin = admin()) {
            get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("retention.ms", "123456")))).all());
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = get(admin.describeConfigs(List.of(resource),
                new org.apache.kafka.clients.admin.DescribeConfigsOptions().includeSynonyms(true)
                    .includeDocumentation(true)).all()).get(resource);
            ConfigEntry retention = config.get("retention.ms");
            checkEquals("123456", retention.value(), "retention.ms");
            checkEquals(ConfigEntry.ConfigType.LONG, retention.type(), "type of retention.ms");
            check(retention.documentation() != null && !retention.documentation().isEmpty(),
                "no documentation for retention.ms");
            check(!retention.synonyms().isEmpty(), "no synonyms for retention.ms");
            ConfigEntry.ConfigSynonym first = retention.synonyms().get(0);
            checkEquals("retention.ms", first.name(), "first synonym of retention.ms");
            checkEquals("123456", first.value(), "value of the first synonym");
            checkEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, first.source(), "source of the first synonym");
            checkEquals(ConfigEntry.ConfigType.INT, config.get("max.message.bytes").type(), "type of max.message.bytes");
            checkEquals(ConfigEntry.ConfigType.LIST, config.get("cleanup.policy").type(), "type of cleanup.policy");

            for (org.apache.kafka.common.Node node : get(admin.describeCluster().nodes())) {
                ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, node.idString());
                Config brokerConfig = get(admin.describeConfigs(List.of(broker)).all()).get(broker);
                ConfigEntry id = brokerConfig.get("broker.id");
                check(id != null, "broker " + node.id() + " describes no broker.id");
                checkEquals(node.idString(), id.value(), "broker.id of broker " + node.id());
                check(brokerConfig.get("num.partitions") != null, "broker " + node.id() + " lacks num.partitions");
            }
        }
    }

    static final java.io.BufferedReader HARNESS =
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));

    /**
     * Asks the harness to do something to the broker (a line
     * {@code ACTION what}) and waits until it answers {@code done}.
     */
    static void harness(String what) throws Exception {
        synchronized (HARNESS) {
            System.out.println("ACTION " + what);
            System.out.flush();
            String answer = HARNESS.readLine();
            check(answer != null, "no harness answered ACTION " + what + " (stdin closed)");
            check(answer.equals("done"), "the harness could not " + what + ": " + answer);
        }
    }

    /**
     * Needs the harness and a three-node broker. A group member, an
     * idempotent producer and a transactional one are busy when every
     * partition leader moves to another node and the group and transaction
     * coordinator moves too; then a node is stopped and restarted. Nothing
     * is lost or read twice, the open transaction commits on the new
     * coordinator, and the group's commits land there.
     */
    void clusterChangesUnderLoad() throws Exception {
        String topic = name("cluster-changes");
        String group = name("cluster-changes-g");
        int partitions = 3;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        Set<String> read = new HashSet<>();
        int[] sent = {0};
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of());
             KafkaProducer<byte[], byte[]> txn = producer(Map.of(
                 ProducerConfig.TRANSACTIONAL_ID_CONFIG, name("cluster-changes-txn"),
                 ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "120000"));
             KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of(
                 ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            consumer.subscribe(List.of(topic));
            txn.initTransactions();
            java.util.function.IntConsumer produce = count -> {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    int n = sent[0]++;
                    futures.add(producer.send(new ProducerRecord<>(topic, bytes("key-" + n), bytes("plain-" + n))));
                }
                for (Future<RecordMetadata> future : futures) {
                    try {
                        future.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }
            };
            java.util.function.IntConsumer readUntil = total -> {
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (read.size() < total) {
                    check(System.nanoTime() < deadline, "read " + read.size() + " of " + total);
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                        check(read.add(text(r.value())), "read twice: " + text(r.value()) + " at "
                            + r.partition() + "@" + r.offset());
                    }
                }
                consumer.commitSync(DEADLINE);
            };

            produce.accept(300);
            readUntil.accept(300);
            txn.beginTransaction();
            for (int i = 0; i < 30; i++) {
                txn.send(new ProducerRecord<>(topic, bytes("txn-key-" + i), bytes("txn-" + i)));
            }
            txn.flush();

            harness("move-leaders-and-coordinator " + topic + " " + partitions);
            produce.accept(300);
            txn.commitTransaction();
            readUntil.accept(630);

            harness("bounce-node 1");
            produce.accept(300);
            txn.beginTransaction();
            for (int i = 30; i < 60; i++) {
                txn.send(new ProducerRecord<>(topic, bytes("txn-key-" + i), bytes("txn-" + i)));
            }
            txn.commitTransaction();
            readUntil.accept(960);

            Set<String> expected = new HashSet<>();
            for (int n = 0; n < sent[0]; n++) {
                expected.add("plain-" + n);
            }
            for (int i = 0; i < 60; i++) {
                expected.add("txn-" + i);
            }
            checkEquals(expected, read, "values read");
        }
        try (Admin admin = admin(); KafkaConsumer<byte[], byte[]> reader = consumer(null, Map.of())) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            Map<TopicPartition, Long> end = reader.endOffsets(partitions(topic, partitions), DEADLINE);
            for (TopicPartition tp : partitions(topic, partitions)) {
                check(committed.get(tp) != null, "no committed offset for " + tp);
                checkEquals(end.get(tp), committed.get(tp).offset(), "committed offset of " + tp);
            }
            // Every plain record is in the log once: offsets count them.
            long total = end.values().stream().mapToLong(Long::longValue).sum();
            checkEquals((long) sent[0] + 60 + 2 * partitions, total,
                "log end offsets (plain and transactional records, one commit marker per partition per transaction)");
        }
    }

    /**
     * Records at the edges, in two codecs: empty versus null keys, values
     * and header values, a hundred headers, a non-ASCII header key, and a
     * random (incompressible) value of a million bytes.
     */
    void recordEdgeValues() throws Exception {
        java.util.Random random = new java.util.Random(42);
        byte[] big = new byte[1_000_000];
        random.nextBytes(big);
        for (String codec : List.of("none", "zstd")) {
            String topic = name("edges-" + codec);
            TopicPartition tp = new TopicPartition(topic, 0);
            try (Admin admin = admin()) {
                createTopic(admin, topic, 1);
            }
            List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
            sent.add(new ProducerRecord<>(topic, 0, new byte[0], new byte[0]));
            sent.add(new ProducerRecord<>(topic, 0, null, null));
            sent.add(new ProducerRecord<>(topic, 0, new byte[0], null));
            sent.add(new ProducerRecord<>(topic, 0, null, new byte[0]));
            List<Header> many = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                many.add(new RecordHeader("h" + i, i % 3 == 0 ? null : (i % 3 == 1 ? new byte[0] : bytes("v" + i))));
            }
            many.add(new RecordHeader("clé-日本", bytes("ü")));
            sent.add(new ProducerRecord<>(topic, 0, null, bytes("k"), bytes("headers"), many));
            sent.add(new ProducerRecord<>(topic, 0, bytes("big"), big));
            try (KafkaProducer<byte[], byte[]> producer = producer(Map.of(
                    ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                    ProducerConfig.MAX_REQUEST_SIZE_CONFIG, "1048576"))) {
                for (ProducerRecord<byte[], byte[]> record : sent) {
                    producer.send(record).get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
                }
            }
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                    ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1"))) {
                consumer.assign(List.of(tp));
                List<ConsumerRecord<byte[], byte[]>> records = readToEnd(consumer);
                checkEquals(sent.size(), records.size(), codec + ": records read");
                for (int i = 0; i < sent.size(); i++) {
                    ProducerRecord<byte[], byte[]> want = sent.get(i);
                    ConsumerRecord<byte[], byte[]> got = records.get(i);
                    checkEquals(want.key() == null ? null : Arrays.toString(want.key()),
                        got.key() == null ? null : Arrays.toString(got.key()), codec + ": key of record " + i);
                    check(Arrays.equals(want.value(), got.value()) && (want.value() == null) == (got.value() == null),
                        codec + ": value of record " + i + " differs (null: " + (want.value() == null) + " / "
                        + (got.value() == null) + ", length " + (want.value() == null ? -1 : want.value().length)
                        + " / " + (got.value() == null ? -1 : got.value().length) + ")");
                    List<String> wantHeaders = new ArrayList<>();
                    for (Header h : want.headers()) {
                        wantHeaders.add(h.key() + "=" + (h.value() == null ? "<null>" : Arrays.toString(h.value())));
                    }
                    List<String> gotHeaders = new ArrayList<>();
                    for (Header h : got.headers()) {
                        gotHeaders.add(h.key() + "=" + (h.value() == null ? "<null>" : Arrays.toString(h.value())));
                    }
                    checkEquals(wantHeaders, gotHeaders, codec + ": headers of record " + i);
                }
            }
        }
    }

    /**
     * Less common Admin options: APPEND and SUBTRACT on a list config,
     * validateOnly alters and partition increases, describing the configs of
     * a missing topic, a topic created with an explicit replica assignment,
     * createPartitions with assignments, and authorized operations.
     */
    void adminAdvancedOptions() throws Exception {
        String topic = name("advanced");
        String assigned = name("advanced-assigned");
        try (Admin admin = admin()) {
            List<org.apache.kafka.common.Node> nodes = new ArrayList<>(get(admin.describeCluster().nodes()));
            nodes.sort(java.util.Comparator.comparingInt(org.apache.kafka.common.Node::id));
            get(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1)
                .configs(Map.of("cleanup.policy", "delete")))).all());
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);

            get(admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND)))).all());
            checkEquals("delete,compact", get(admin.describeConfigs(List.of(resource)).all()).get(resource)
                .get("cleanup.policy").value(), "cleanup.policy after APPEND compact");
            get(admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.SUBTRACT)))).all());
            checkEquals("compact", get(admin.describeConfigs(List.of(resource)).all()).get(resource)
                .get("cleanup.policy").value(), "cleanup.policy after SUBTRACT delete");

            get(admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                new ConfigEntry("retention.ms", "1000"), AlterConfigOp.OpType.SET))),
                new org.apache.kafka.clients.admin.AlterConfigsOptions().validateOnly(true)).all());
            check(get(admin.describeConfigs(List.of(resource)).all()).get(resource).get("retention.ms").isDefault(),
                "a validateOnly alter changed retention.ms");

            ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, name("advanced-missing"));
            Throwable error = failureOf(admin.describeConfigs(List.of(missing)).values().get(missing));
            check(error instanceof UnknownTopicOrPartitionException, "describing a missing topic's configs: " + error);

            get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4)),
                new org.apache.kafka.clients.admin.CreatePartitionsOptions().validateOnly(true)).all());
            checkEquals(2, get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().size(),
                "partitions after a validateOnly increase");

            // Each partition on the node its assignment names, counting down.
            Map<Integer, List<Integer>> assignment = new HashMap<>();
            for (int p = 0; p < 3; p++) {
                assignment.put(p, List.of(nodes.get((nodes.size() - 1 - p % nodes.size() + nodes.size()) % nodes.size()).id()));
            }
            get(admin.createTopics(List.of(new NewTopic(assigned, assignment))).all());
            TopicDescription description = get(admin.describeTopics(List.of(assigned)).allTopicNames()).get(assigned);
            for (TopicPartitionInfo info : description.partitions()) {
                List<Integer> replicas = info.replicas().stream().map(org.apache.kafka.common.Node::id)
                    .collect(Collectors.toList());
                checkEquals(assignment.get(info.partition()), replicas, "replicas of partition " + info.partition());
                checkEquals(assignment.get(info.partition()).get(0), info.leader().id(),
                    "leader of partition " + info.partition());
            }
            int last = nodes.get(0).id();
            get(admin.createPartitions(Map.of(assigned, NewPartitions.increaseTo(4, List.of(List.of(last))))).all());
            waitFor("the assigned partition", () -> {
                try {
                    List<TopicPartitionInfo> infos = get(admin.describeTopics(List.of(assigned)).allTopicNames())
                        .get(assigned).partitions();
                    return infos.size() == 4 && infos.get(3).leader() != null && infos.get(3).leader().id() == last;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });

            TopicDescription withOps = get(admin.describeTopics(List.of(topic),
                new org.apache.kafka.clients.admin.DescribeTopicsOptions().includeAuthorizedOperations(true))
                .allTopicNames()).get(topic);
            check(withOps.authorizedOperations() != null
                && withOps.authorizedOperations().contains(org.apache.kafka.common.acl.AclOperation.READ)
                && withOps.authorizedOperations().contains(org.apache.kafka.common.acl.AclOperation.WRITE)
                && withOps.authorizedOperations().contains(org.apache.kafka.common.acl.AclOperation.DESCRIBE_CONFIGS),
                "topic authorized operations " + withOps.authorizedOperations());
            Set<org.apache.kafka.common.acl.AclOperation> clusterOps = get(admin.describeCluster(
                new org.apache.kafka.clients.admin.DescribeClusterOptions().includeAuthorizedOperations(true))
                .authorizedOperations());
            check(clusterOps != null && clusterOps.contains(org.apache.kafka.common.acl.AclOperation.IDEMPOTENT_WRITE),
                "cluster authorized operations " + clusterOps);

            String group = name("advanced-g");
            get(admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(0))).all());
            ConsumerGroupDescription groupWithOps = get(admin.describeConsumerGroups(List.of(group),
                new org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions().includeAuthorizedOperations(true))
                .describedGroups().get(group));
            // READ, DELETE and DESCRIBE at least (Kafka 4 adds DESCRIBE_CONFIGS and ALTER_CONFIGS).
            check(groupWithOps.authorizedOperations() != null && groupWithOps.authorizedOperations().containsAll(
                    Set.of(org.apache.kafka.common.acl.AclOperation.READ,
                        org.apache.kafka.common.acl.AclOperation.DELETE,
                        org.apache.kafka.common.acl.AclOperation.DESCRIBE)),
                "group authorized operations " + groupWithOps.authorizedOperations());
        }
    }

    /**
     * A consumer's metadata calls (listTopics, partitionsFor), and topic
     * auto-creation by a subscription: allowed by default
     * (allow.auto.create.topics=true, with the broker's
     * auto.create.topics.enable), not when the consumer says no.
     */
    void consumerMetadataAndAutoCreate() throws Exception {
        String existing = name("consumer-metadata");
        String created = name("consumer-auto-created");
        String notCreated = name("consumer-not-created");
        try (Admin admin = admin()) {
            createTopic(admin, existing, 3);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of())) {
                Map<String, List<org.apache.kafka.common.PartitionInfo>> topics = consumer.listTopics(DEADLINE);
                check(topics.containsKey(existing), "listTopics lacks " + existing);
                checkEquals(3, topics.get(existing).size(), "partitions listed for " + existing);
                List<org.apache.kafka.common.PartitionInfo> infos = consumer.partitionsFor(existing, DEADLINE);
                checkEquals(3, infos.size(), "partitionsFor");
                for (org.apache.kafka.common.PartitionInfo info : infos) {
                    check(info.leader() != null && info.leader().id() >= 0, "no leader for " + info);
                }
            }
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(name("auto-create-g"), Map.of())) {
                consumer.subscribe(List.of(created));
                waitFor("the subscribed topic to be created", () -> {
                    consumer.poll(POLL);
                    return !consumer.assignment().isEmpty();
                });
            }
            checkEquals(1, get(admin.describeTopics(List.of(created)).allTopicNames()).get(created).partitions().size(),
                "partitions of a topic a subscription created");
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(name("no-auto-create-g"), Map.of(
                    ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false"))) {
                consumer.subscribe(List.of(notCreated));
                for (int i = 0; i < 20; i++) {
                    consumer.poll(POLL);
                }
                check(consumer.assignment().isEmpty(), "assigned a topic that should not exist");
            }
            check(!get(admin.listTopics().names()).contains(notCreated),
                "a subscription with allow.auto.create.topics=false created its topic");
        }
    }

    static Throwable pollError(KafkaConsumer<byte[], byte[]> consumer) {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                consumer.poll(POLL);
            } catch (Exception e) {
                return e;
            }
        }
        return null;
    }

    /**
     * What the group coordinator and the log refuse, as Kafka does: a session
     * timeout below group.min.session.timeout.ms, commit metadata above
     * offset.metadata.max.bytes, a second live member with the same
     * group.instance.id (the first is fenced), and a fetch past the end
     * (the position resets by auto.offset.reset).
     */
    void consumerRefusals() throws Exception {
        String topic = name("refusals");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of())) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("v" + i)));
            }
            producer.flush();
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(name("short-session-g"), Map.of(
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "1000",
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "300"))) {
            consumer.subscribe(List.of(topic));
            Throwable error = pollError(consumer);
            check(error instanceof org.apache.kafka.common.errors.InvalidSessionTimeoutException,
                "joining with session.timeout.ms=1000: " + error);
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(name("big-metadata-g"), Map.of())) {
            consumer.assign(List.of(tp));
            Throwable error = null;
            try {
                consumer.commitSync(Map.of(tp, new OffsetAndMetadata(1, "m".repeat(5000))), DEADLINE);
            } catch (Exception e) {
                error = e;
            }
            check(error instanceof org.apache.kafka.common.errors.OffsetMetadataTooLarge,
                "committing 5000 bytes of metadata: " + error);
        }
        String group = name("fenced-g");
        Map<String, String> instance = Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "twin");
        KafkaConsumer<byte[], byte[]> first = consumer(group, instance);
        KafkaConsumer<byte[], byte[]> second = consumer(group, instance);
        try {
            first.subscribe(List.of(topic));
            waitFor("the first twin's assignment", () -> {
                first.poll(POLL);
                return !first.assignment().isEmpty();
            });
            second.subscribe(List.of(topic));
            waitFor("the second twin's assignment", () -> {
                second.poll(POLL);
                return !second.assignment().isEmpty();
            });
            Throwable error = null;
            try {
                first.commitSync(Map.of(tp, new OffsetAndMetadata(1)), DEADLINE);
                error = pollError(first);
            } catch (Exception e) {
                error = e;
            }
            check(error instanceof org.apache.kafka.common.errors.FencedInstanceIdException,
                "the replaced twin: " + error);
        } finally {
            first.close(Duration.ZERO);
            second.close(Duration.ofSeconds(30));
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(null, Map.of(
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest"))) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, 1000);
            waitFor("the position to reset from past the end", () -> {
                consumer.poll(POLL);
                return consumer.position(tp, DEADLINE) == 10L;
            });
        }
    }

    /**
     * Needs the harness and a broker with a data directory. An idempotent
     * producer and a group member stay connected while the broker restarts
     * from its data directory: afterwards the group's committed offsets are
     * there, the producer's sequence goes on, and every record is in the log
     * once and read once.
     */
    void restartFromDataDir() throws Exception {
        String topic = name("restart");
        String group = name("restart-g");
        int partitions = 2;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        Set<String> read = new HashSet<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(Map.of());
             KafkaConsumer<byte[], byte[]> consumer = consumer(group, Map.of())) {
            consumer.subscribe(List.of(topic));
            java.util.function.BiConsumer<Integer, Integer> produce = (from, to) -> {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                for (int i = from; i < to; i++) {
                    futures.add(producer.send(new ProducerRecord<>(topic, bytes("key-" + i), bytes("value-" + i))));
                }
                for (Future<RecordMetadata> future : futures) {
                    try {
                        future.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }
            };
            java.util.function.IntConsumer readUntil = total -> {
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (read.size() < total) {
                    check(System.nanoTime() < deadline, "read " + read.size() + " of " + total);
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                        check(read.add(text(r.value())), "read twice: " + text(r.value()));
                    }
                }
                consumer.commitSync(DEADLINE);
            };
            produce.accept(0, 200);
            readUntil.accept(200);

            harness("restart-broker");
            try (Admin admin = admin()) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                    get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                long total = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
                checkEquals(200L, total, "committed offsets after the restart: " + committed);
            }
            produce.accept(200, 400);
            readUntil.accept(400);
        }
        try (KafkaConsumer<byte[], byte[]> reader = consumer(null, Map.of())) {
            long total = reader.endOffsets(partitions(topic, partitions), DEADLINE).values().stream()
                .mapToLong(Long::longValue).sum();
            checkEquals(400L, total, "records in the log");
        }
    }

    /**
     * group.protocol=consumer (KIP-848) needs ConsumerGroupHeartbeat, which
     * the bundled broker does not serve yet: the client says so at once
     * (UnsupportedVersionException), as against a Kafka without it, instead
     * of hanging. When the broker learns KIP-848 this scenario turns into
     * the classic group scenarios run with the new protocol.
     */
    void consumerGroupProtocolNotServed() throws Exception {
        String topic = name("kip848");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(name("kip848-g"), Map.of(
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer"))) {
            consumer.subscribe(List.of(topic));
            Throwable error = pollError(consumer);
            check(causedBy(error, org.apache.kafka.common.errors.UnsupportedVersionException.class),
                "group.protocol=consumer against a broker without ConsumerGroupHeartbeat: " + error);
        }
    }
}
