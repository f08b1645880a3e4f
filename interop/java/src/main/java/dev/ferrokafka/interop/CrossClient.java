package dev.ferrokafka.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client's half of interop/tests/cluster_java_cross.rs: records
 * crossing between ferrokafka and the Java client on one cluster, with one
 * JSON line per record on stdout for the Rust test to compare.
 *
 * <ul>
 * <li>{@code produce-json BOOTSTRAP TOPIC CODEC COUNT}: sends COUNT records
 * with a {@link KafkaProducer} on Java's defaults (idempotent, acks=all, the
 * built-in partitioner) and CODEC as compression.type, then prints
 * {@code {"index", "partition", "offset", "timestamp"}} per record, in index
 * order. Record {@code i} is what {@link #key}, {@link #value},
 * {@link #headers} and {@link #timestamp} say (the Rust test builds the
 * same).</li>
 * <li>{@code consume-json BOOTSTRAP TOPIC COUNT}: assigns every partition of
 * TOPIC from the beginning (no group) and prints each record read as
 * {@code {"topic", "partition", "offset", "timestamp", "timestamp_type",
 * "key", "value", "headers"}} (bytes in hex, null as null, headers as
 * {@code [key, hex or null]}); it stops once COUNT records have been read
 * and the position of every partition has reached its end offset, so a
 * record read twice shows as a line too many.</li>
 * </ul>
 *
 * <p>Every wait is bounded by {@link #DEADLINE}; on failure the program says
 * why on stderr and exits 1.
 */
public final class CrossClient {

    static final Duration DEADLINE = Duration.ofSeconds(90);
    static final Duration POLL = Duration.ofMillis(200);

    private CrossClient() {
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(args));
    }

    /** Runs the mode {@code args[0]} names; returns the exit status. */
    static int run(String[] args) throws Exception {
        if (args.length == 5 && args[0].equals("produce-json")) {
            return produce(args[1], args[2], args[3], Integer.parseInt(args[4]));
        }
        if (args.length == 4 && args[0].equals("consume-json")) {
            return consume(args[1], args[2], Integer.parseInt(args[3]));
        }
        System.err.println("usage: produce-json BOOTSTRAP TOPIC CODEC COUNT | consume-json BOOTSTRAP TOPIC COUNT");
        return 2;
    }

    // Record i of a run. interop/tests/cluster_java_cross.rs builds the same.

    /** Every tenth record keyless, one in fifty with an empty key, the rest {@code user-(i%13)}. */
    static byte[] key(int i) {
        if (i % 10 == 0) {
            return null;
        }
        if (i % 50 == 25) {
            return new byte[0];
        }
        return bytes("user-" + (i % 13));
    }

    /**
     * Null for one in seventeen, empty for one in nineteen, about 40 KB
     * (more than batch.size) for one in sixty-one, else text of a varying
     * length, every fourth ending in bytes that are not UTF-8.
     */
    static byte[] value(String codec, int i) {
        if (i % 17 == 5) {
            return null;
        }
        if (i % 19 == 7) {
            return new byte[0];
        }
        if (i % 61 == 30) {
            byte[] large = new byte[40_000 + i];
            for (int j = 0; j < large.length; j++) {
                large[j] = (byte) ((j * 31 + i) ^ (j >> 7));
            }
            return large;
        }
        byte[] text = bytes(codec + " record " + i + " " + "x".repeat(i % 53));
        if (i % 4 != 0) {
            return text;
        }
        byte[] value = new byte[text.length + 4];
        System.arraycopy(text, 0, value, 0, text.length);
        value[text.length] = 0;
        value[text.length + 1] = (byte) 0xff;
        value[text.length + 2] = (byte) 0xfe;
        value[text.length + 3] = (byte) i;
        return value;
    }

    /** ("index", i); odd records add ("trace", null) and ("index", "again"); one in seven ("empty", ""). */
    static List<Header> headers(int i) {
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("index", bytes(Integer.toString(i))));
        if (i % 2 == 1) {
            headers.add(new RecordHeader("trace", null));
            headers.add(new RecordHeader("index", bytes("again")));
        }
        if (i % 7 == 3) {
            headers.add(new RecordHeader("empty", new byte[0]));
        }
        return headers;
    }

    /**
     * An explicit CreateTime for every third record: a day before
     * {@code base} plus i (within the default 7-day retention); null (the
     * producer's clock) for the others.
     */
    static Long timestamp(long base, int i) {
        return i % 3 == 0 ? base - 86_400_000L + i : null;
    }

    static int produce(String bootstrap, String topic, String codec, int count) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(DEADLINE.toMillis()));
        long base = System.currentTimeMillis();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                futures.add(producer.send(new ProducerRecord<>(
                        topic, null, timestamp(base, i), key(i), value(codec, i), headers(i))));
            }
            producer.flush();
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < count; i++) {
                RecordMetadata md = futures.get(i).get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
                out.append("{\"index\":").append(i)
                        .append(",\"partition\":").append(md.partition())
                        .append(",\"offset\":").append(md.offset())
                        .append(",\"timestamp\":").append(md.timestamp())
                        .append("}\n");
            }
            System.out.print(out);
            System.out.flush();
            producer.close(DEADLINE);
        }
        return 0;
    }

    static int consume(String bootstrap, String topic, int count) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = new ArrayList<>();
            while (partitions.isEmpty()) {
                List<PartitionInfo> infos = consumer.partitionsFor(topic, DEADLINE);
                if (infos != null) {
                    for (PartitionInfo info : infos) {
                        partitions.add(new TopicPartition(topic, info.partition()));
                    }
                }
                if (partitions.isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        System.err.println("no partitions of " + topic + " within " + DEADLINE);
                        return 1;
                    }
                    sleep(100);
                }
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            int read = 0;
            while (!(read >= count && atEnd(consumer, partitions))) {
                if (System.nanoTime() > deadline) {
                    StringBuilder where = new StringBuilder();
                    Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, DEADLINE);
                    for (TopicPartition tp : partitions) {
                        where.append(' ').append(tp.partition()).append(':')
                                .append(consumer.position(tp, DEADLINE)).append('/').append(ends.get(tp));
                    }
                    System.err.println("read " + read + " of " + count + " records within " + DEADLINE
                            + "; partition:position/end" + where);
                    return 1;
                }
                StringBuilder out = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                    out.append(json(r)).append('\n');
                    read++;
                }
                System.out.print(out);
                System.out.flush();
            }
        }
        return 0;
    }

    static boolean atEnd(KafkaConsumer<byte[], byte[]> consumer, Collection<TopicPartition> partitions) {
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, DEADLINE);
        for (TopicPartition tp : partitions) {
            if (consumer.position(tp, DEADLINE) < ends.get(tp)) {
                return false;
            }
        }
        return true;
    }

    static String json(ConsumerRecord<byte[], byte[]> r) {
        StringBuilder s = new StringBuilder();
        s.append("{\"topic\":").append(string(r.topic()))
                .append(",\"partition\":").append(r.partition())
                .append(",\"offset\":").append(r.offset())
                .append(",\"timestamp\":").append(r.timestamp())
                .append(",\"timestamp_type\":").append(r.timestampType().id)
                .append(",\"key\":").append(hex(r.key()))
                .append(",\"value\":").append(hex(r.value()))
                .append(",\"headers\":[");
        boolean first = true;
        for (Header h : r.headers()) {
            if (!first) {
                s.append(',');
            }
            first = false;
            s.append('[').append(string(h.key())).append(',').append(hex(h.value())).append(']');
        }
        return s.append("]}").toString();
    }

    /** A JSON string: quotes, backslashes and control characters escaped. */
    static String string(String text) {
        StringBuilder s = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                s.append('\\').append(c);
            } else if (c < 0x20) {
                s.append(String.format("\\u%04x", (int) c));
            } else {
                s.append(c);
            }
        }
        return s.append('"').toString();
    }

    /** Bytes as a quoted lowercase hex string, or null. */
    static String hex(byte[] bytes) {
        if (bytes == null) {
            return "null";
        }
        StringBuilder s = new StringBuilder("\"");
        for (byte b : bytes) {
            s.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return s.append('"').toString();
    }

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
