//! The on-disk copy of the broker's state, used with `--data-dir`.
//!
//! Layout under the data directory:
//!
//! ```text
//! topics/<topic>/topic.meta                 id, partitions, replication, leaders and epochs, configs
//! topics/<topic>/<partition>/<base>.log     record batches as appended (20-digit base offset)
//! topics/<topic>/<partition>/<base>.index   (offset - base: u32, file position: u32) per batch
//! topics/<topic>/<partition>/log-start-offset
//! group-offsets.log                         committed offsets, append-only, replayed on start
//! group-metadata.log                        Stable groups (generation, members, assignments), likewise
//! producer-ids                              the next producer id to hand out
//! ```
//!
//! A segment file is the concatenation of the batches exactly as the log
//! serves them, so recovery is a scan: every batch is re-parsed and its
//! CRC-32C checked, base offsets must ascend, and at the first batch that is
//! torn or corrupt the segment is truncated and later segments removed — a
//! bad tail is never served. Index files are rebuilt by that scan, so a torn
//! index never matters. Producer state needs no file of its own: batch
//! headers carry producer id, epoch and sequences, and replaying them
//! rebuilds it (as Kafka does without snapshots).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrokafka_protocol::records::{RecordBatchHeader, RecordBatchView};

use crate::group::{CommittedOffset, GroupSnapshot, MemberSnapshot, OffsetStore};

const LOG_SUFFIX: &str = "log";
const INDEX_SUFFIX: &str = "index";
const LOG_START_FILE: &str = "log-start-offset";

fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// One partition's segment files.
#[derive(Debug)]
pub(crate) struct PartitionStore {
    dir: PathBuf,
    /// (base offset, next offset after its last batch), ascending.
    segments: Vec<(i64, i64)>,
    active_log: Option<File>,
    active_index: Option<File>,
    active_size: u64,
    dirty: bool,
}

/// A recovered partition: its store, the valid batches and the log start.
pub(crate) struct RecoveredPartition {
    pub(crate) store: PartitionStore,
    pub(crate) batches: Vec<Bytes>,
    pub(crate) log_start_offset: i64,
}

impl PartitionStore {
    /// A store for a new, empty partition in `dir`.
    pub(crate) fn create(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            segments: Vec::new(),
            active_log: None,
            active_index: None,
            active_size: 0,
            dirty: false,
        })
    }

    /// Opens `dir`, scanning every segment and truncating a torn or corrupt
    /// tail.
    pub(crate) fn recover(dir: PathBuf) -> io::Result<RecoveredPartition> {
        fs::create_dir_all(&dir)?;
        let mut bases: Vec<i64> = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(base) = name
                .strip_suffix(".log")
                .and_then(|base| base.parse::<i64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut store = Self::create(dir.clone())?;
        let mut batches = Vec::new();
        let mut next_offset: Option<i64> = None;
        let mut damaged = false;
        for base in bases {
            let log_path = segment_path(&dir, base, LOG_SUFFIX);
            if damaged {
                // Everything after a damaged segment follows a hole.
                remove_segment(&dir, base);
                continue;
            }
            let mut data = Vec::new();
            File::open(&log_path)?.read_to_end(&mut data)?;
            let mut rest = Bytes::from(data);
            let total = rest.len();
            let mut index = BytesMut::new();
            let mut valid = 0usize;
            let mut segment_next = None;
            while !rest.is_empty() {
                let Ok(view) = RecordBatchView::split_from(&mut rest) else {
                    break;
                };
                let header = *view.header();
                let in_order = next_offset.is_none_or(|next| header.base_offset >= next)
                    && header.base_offset >= base;
                if view.verify_crc().is_err() || !in_order {
                    break;
                }
                index.put_u32(u32::try_from(header.base_offset - base).unwrap_or(u32::MAX));
                index.put_u32(u32::try_from(valid).unwrap_or(u32::MAX));
                valid += view.bytes().len();
                next_offset = Some(header.next_offset());
                segment_next = Some(header.next_offset());
                batches.push(view.into_bytes());
            }
            if valid < total {
                tracing::warn!(
                    path = %log_path.display(),
                    kept = valid,
                    dropped = total - valid,
                    "truncating a torn or corrupt log tail"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&log_path)?
                    .set_len(valid as u64)?;
                damaged = true;
            }
            fs::write(segment_path(&dir, base, INDEX_SUFFIX), &index)?;
            match segment_next {
                Some(next) => store.segments.push((base, next)),
                None => remove_segment(&dir, base),
            }
        }
        if let Some(&(base, _)) = store.segments.last() {
            store.open_active(base)?;
        }
        let log_start_offset = fs::read_to_string(dir.join(LOG_START_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .or_else(|| store.segments.first().map(|(base, _)| *base))
            .unwrap_or(0);
        Ok(RecoveredPartition {
            store,
            batches,
            log_start_offset,
        })
    }

    fn open_active(&mut self, base: i64) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, base, LOG_SUFFIX))?;
        self.active_size = log.metadata()?.len();
        self.active_log = Some(log);
        self.active_index = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, base, INDEX_SUFFIX))?,
        );
        Ok(())
    }

    /// Appends one batch (already patched) starting at `base_offset`,
    /// rolling to a new segment past `segment_bytes`.
    pub(crate) fn append(
        &mut self,
        batch: &[u8],
        base_offset: i64,
        segment_bytes: u64,
    ) -> io::Result<()> {
        let roll = self.active_log.is_none()
            || self.active_size.saturating_add(batch.len() as u64) > segment_bytes;
        if roll {
            self.flush()?;
            self.segments.push((base_offset, base_offset));
            self.open_active(base_offset)?;
        }
        let next =
            RecordBatchHeader::parse(batch).map_or(base_offset, |header| header.next_offset());
        let segment_base = self.segments.last().map_or(base_offset, |(base, _)| *base);
        if let Some(last) = self.segments.last_mut() {
            last.1 = next;
        }
        let position = self.active_size;
        if let Some(log) = self.active_log.as_mut() {
            log.write_all(batch)?;
        }
        if let Some(index) = self.active_index.as_mut() {
            let mut entry = [0u8; 8];
            let relative =
                u32::try_from(base_offset.saturating_sub(segment_base)).unwrap_or(u32::MAX);
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            entry[..4].copy_from_slice(&relative.to_be_bytes());
            entry[4..].copy_from_slice(&position.to_be_bytes());
            index.write_all(&entry)?;
        }
        self.active_size = self.active_size.saturating_add(batch.len() as u64);
        self.dirty = true;
        Ok(())
    }

    /// fsyncs the active segment if anything was written since the last time.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(log) = self.active_log.as_ref() {
                log.sync_data()?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// Persists the log start offset and removes segments wholly below it
    /// (never the active one).
    pub(crate) fn set_log_start_offset(&mut self, offset: i64) -> io::Result<()> {
        fs::write(self.dir.join(LOG_START_FILE), offset.to_string())?;
        while self.segments.len() > 1
            && self
                .segments
                .first()
                .is_some_and(|(_, next)| *next <= offset)
        {
            let (base, _) = self.segments.remove(0);
            remove_segment(&self.dir, base);
        }
        Ok(())
    }

    /// Removes the partition's directory (its topic was deleted).
    pub(crate) fn delete(self) {
        let dir = self.dir.clone();
        drop(self);
        if let Err(error) = fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), %error, "could not remove a deleted partition");
        }
    }
}

fn join(values: &[i32]) -> String {
    values
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn split(text: &str) -> Vec<i32> {
    text.split(',')
        .filter_map(|value| value.parse().ok())
        .collect()
}

fn remove_segment(dir: &Path, base: i64) {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX] {
        let _ = fs::remove_file(segment_path(dir, base, suffix));
    }
}

/// What `topic.meta` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub(crate) name: String,
    pub(crate) id: u128,
    pub(crate) partitions: i32,
    pub(crate) replication_factor: i16,
    /// Leader node per partition.
    pub(crate) leaders: Vec<i32>,
    /// Leader epoch per partition (it moves without an append, so the log
    /// alone cannot tell it after a restart).
    pub(crate) leader_epochs: Vec<i32>,
    pub(crate) configs: BTreeMap<String, String>,
}

/// The data directory as a whole.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating) `root`.
    pub(crate) fn open(root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(root.join("topics"))?;
        Ok(Self { root })
    }

    fn topic_dir(&self, topic: &str) -> PathBuf {
        self.root.join("topics").join(topic)
    }

    /// The directory of one partition's segments.
    pub(crate) fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.topic_dir(topic).join(partition.to_string())
    }

    /// Writes a topic's metadata (atomically: write then rename).
    pub(crate) fn write_topic(&self, meta: &TopicMeta) -> io::Result<()> {
        let dir = self.topic_dir(&meta.name);
        fs::create_dir_all(&dir)?;
        let mut text = format!(
            "id={:032x}\npartitions={}\nreplication={}\nleaders={}\nleader_epochs={}\n",
            meta.id,
            meta.partitions,
            meta.replication_factor,
            join(&meta.leaders),
            join(&meta.leader_epochs),
        );
        for (key, value) in &meta.configs {
            text.push_str(&format!("config.{key}={value}\n"));
        }
        let temporary = dir.join("topic.meta.tmp");
        fs::write(&temporary, text)?;
        fs::rename(temporary, dir.join("topic.meta"))
    }

    /// Every topic's metadata; unreadable ones are skipped with a warning.
    pub(crate) fn read_topics(&self) -> io::Result<Vec<TopicMeta>> {
        let mut topics = Vec::new();
        for entry in fs::read_dir(self.root.join("topics"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(text) = fs::read_to_string(entry.path().join("topic.meta")) else {
                tracing::warn!(topic = %name, "skipping a topic directory without topic.meta");
                continue;
            };
            let mut meta = TopicMeta {
                name,
                id: 0,
                partitions: 0,
                replication_factor: 1,
                leaders: Vec::new(),
                leader_epochs: Vec::new(),
                configs: BTreeMap::new(),
            };
            for line in text.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                match key {
                    "id" => meta.id = u128::from_str_radix(value, 16).unwrap_or(0),
                    "partitions" => meta.partitions = value.parse().unwrap_or(0),
                    "replication" => meta.replication_factor = value.parse().unwrap_or(1),
                    "leaders" => meta.leaders = split(value),
                    "leader_epochs" => meta.leader_epochs = split(value),
                    _ => {
                        if let Some(config) = key.strip_prefix("config.") {
                            meta.configs.insert(config.to_owned(), value.to_owned());
                        }
                    }
                }
            }
            topics.push(meta);
        }
        Ok(topics)
    }

    /// Removes a deleted topic's directory.
    pub(crate) fn delete_topic(&self, topic: &str) {
        let dir = self.topic_dir(topic);
        if let Err(error) = fs::remove_dir_all(&dir) {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %dir.display(), %error, "could not remove a deleted topic");
            }
        }
    }

    /// The next producer id persisted, if any.
    pub(crate) fn read_next_producer_id(&self) -> Option<i64> {
        fs::read_to_string(self.root.join("producer-ids"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }

    /// Persists the next producer id, so ids stay unique across restarts.
    pub(crate) fn write_next_producer_id(&self, next: i64) -> io::Result<()> {
        let temporary = self.root.join("producer-ids.tmp");
        fs::write(&temporary, next.to_string())?;
        fs::rename(temporary, self.root.join("producer-ids"))
    }

    /// The group coordinator's offset store in this directory.
    pub(crate) fn offset_store(&self) -> FileOffsetStore {
        FileOffsetStore {
            path: self.root.join("group-offsets.log"),
            file: Mutex::new(None),
            groups_path: self.root.join("group-metadata.log"),
            groups_file: Mutex::new(None),
        }
    }
}

/// Committed offsets in an append-only file of length-prefixed records
/// (commit or delete), replayed and compacted on load; a torn last record
/// is ignored. Stable groups (what Kafka keeps of a group in
/// `__consumer_offsets` besides offsets) go to a second file the same way.
#[derive(Debug)]
pub(crate) struct FileOffsetStore {
    path: PathBuf,
    file: Mutex<Option<File>>,
    groups_path: PathBuf,
    groups_file: Mutex<Option<File>>,
}

const RECORD_COMMIT: u8 = 1;
const RECORD_DELETE: u8 = 2;
const RECORD_GROUP: u8 = 3;
const RECORD_FORGET_GROUP: u8 = 4;

fn put_string(buf: &mut BytesMut, value: &str) {
    buf.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
    buf.put_slice(value.as_bytes());
}

fn get_string(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 4 {
        return None;
    }
    let len = buf.get_u32() as usize;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok()
}

fn get_i64(buf: &mut Bytes) -> Option<i64> {
    (buf.remaining() >= 8).then(|| buf.get_i64())
}

fn get_i32(buf: &mut Bytes) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

/// Appends length-prefixed records to `path` and syncs them, all in one write.
fn append_records(path: &Path, file: &Mutex<Option<File>>, bodies: &[BytesMut]) {
    let mut records = BytesMut::new();
    for body in bodies {
        records.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
        records.put_slice(body);
    }
    let mut guard = file
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.is_none() {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => *guard = Some(file),
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot open the offset store");
                return;
            }
        }
    }
    if let Some(file) = guard.as_mut() {
        if let Err(error) = file.write_all(&records).and_then(|()| file.sync_data()) {
            tracing::error!(path = %path.display(), %error, "cannot write the offset store");
        }
    }
}

/// The length-prefixed record bodies of `data`, up to a torn one.
fn record_bodies(data: Bytes) -> Vec<Bytes> {
    let mut bodies = Vec::new();
    let mut rest = data;
    while rest.remaining() >= 4 {
        let len = rest.get_u32() as usize;
        if rest.remaining() < len {
            break;
        }
        bodies.push(rest.split_to(len));
    }
    bodies
}

fn put_optional_string(buf: &mut BytesMut, value: Option<&str>) {
    match value {
        Some(value) => {
            buf.put_u8(1);
            put_string(buf, value);
        }
        None => buf.put_u8(0),
    }
}

fn get_optional_string(buf: &mut Bytes) -> Option<Option<String>> {
    if buf.remaining() < 1 {
        return None;
    }
    match buf.get_u8() {
        0 => Some(None),
        _ => get_string(buf).map(Some),
    }
}

fn put_bytes(buf: &mut BytesMut, value: &[u8]) {
    buf.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
    buf.put_slice(value);
}

fn get_bytes(buf: &mut Bytes) -> Option<Bytes> {
    if buf.remaining() < 4 {
        return None;
    }
    let len = buf.get_u32() as usize;
    (buf.remaining() >= len).then(|| buf.split_to(len))
}

fn encode_group(group: &GroupSnapshot) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u8(RECORD_GROUP);
    put_string(&mut body, &group.group_id);
    body.put_i32(group.generation);
    put_optional_string(&mut body, group.protocol_type.as_deref());
    put_optional_string(&mut body, group.protocol_name.as_deref());
    put_optional_string(&mut body, group.leader.as_deref());
    body.put_u32(u32::try_from(group.members.len()).unwrap_or(u32::MAX));
    for member in &group.members {
        put_string(&mut body, &member.member_id);
        put_optional_string(&mut body, member.instance_id.as_deref());
        put_string(&mut body, &member.client_id);
        put_string(&mut body, &member.client_host);
        body.put_i32(member.rebalance_timeout_ms);
        body.put_i32(member.session_timeout_ms);
        body.put_u32(u32::try_from(member.protocols.len()).unwrap_or(u32::MAX));
        for (name, metadata) in &member.protocols {
            put_string(&mut body, name);
            put_bytes(&mut body, metadata);
        }
        put_bytes(&mut body, &member.assignment);
    }
    body
}

fn decode_group(body: &mut Bytes) -> Option<GroupSnapshot> {
    let group_id = get_string(body)?;
    let generation = get_i32(body)?;
    let protocol_type = get_optional_string(body)?;
    let protocol_name = get_optional_string(body)?;
    let leader = get_optional_string(body)?;
    let count = get_i32(body)?;
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = get_string(body)?;
        let instance_id = get_optional_string(body)?;
        let client_id = get_string(body)?;
        let client_host = get_string(body)?;
        let rebalance_timeout_ms = get_i32(body)?;
        let session_timeout_ms = get_i32(body)?;
        let protocol_count = get_i32(body)?;
        let mut protocols = Vec::new();
        for _ in 0..protocol_count {
            protocols.push((get_string(body)?, get_bytes(body)?));
        }
        let assignment = get_bytes(body)?;
        members.push(MemberSnapshot {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocols,
            assignment,
        });
    }
    Some(GroupSnapshot {
        group_id,
        generation,
        protocol_type,
        protocol_name,
        leader,
        members,
    })
}

impl FileOffsetStore {
    /// Appends length-prefixed records and syncs them, all in one write.
    fn append(&self, bodies: &[BytesMut]) {
        append_records(&self.path, &self.file, bodies);
    }

    /// The Stable groups the group file holds (last record of each wins; a
    /// forget record drops the group).
    fn replay_groups(data: Bytes) -> BTreeMap<String, GroupSnapshot> {
        let mut groups = BTreeMap::new();
        for mut body in record_bodies(data) {
            if body.remaining() < 1 {
                break;
            }
            match body.get_u8() {
                RECORD_GROUP => {
                    let Some(group) = decode_group(&mut body) else {
                        break;
                    };
                    groups.insert(group.group_id.clone(), group);
                }
                RECORD_FORGET_GROUP => {
                    let Some(group_id) = get_string(&mut body) else {
                        break;
                    };
                    groups.remove(&group_id);
                }
                _ => break,
            }
        }
        groups
    }

    /// Replaces the file with just `offsets` (write, sync, rename), so the
    /// log of commits does not grow without bound across restarts.
    fn rewrite(&self, offsets: &[CommittedOffset]) {
        let mut records = BytesMut::new();
        for body in offsets.iter().map(encode_commit) {
            records.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
            records.put_slice(&body);
        }
        let temporary = self.path.with_extension("log.tmp");
        let result = File::create(&temporary)
            .and_then(|mut file| file.write_all(&records).and_then(|()| file.sync_data()))
            .and_then(|()| fs::rename(&temporary, &self.path));
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The open handle points at the replaced file; reopen on next append.
        *guard = None;
        if let Err(error) = result {
            tracing::error!(path = %self.path.display(), %error, "cannot compact the offset store");
        }
    }

    fn replay(data: Bytes) -> BTreeMap<(String, String, i32), CommittedOffset> {
        let mut offsets = BTreeMap::new();
        let mut rest = data;
        while rest.remaining() >= 4 {
            let len = rest.get_u32() as usize;
            if rest.remaining() < len {
                break;
            }
            let mut body = rest.split_to(len);
            if body.remaining() < 1 {
                break;
            }
            match body.get_u8() {
                RECORD_COMMIT => {
                    let Some(commit) = decode_commit(&mut body) else {
                        break;
                    };
                    offsets.insert(
                        (
                            commit.group_id.clone(),
                            commit.topic.clone(),
                            commit.partition,
                        ),
                        commit,
                    );
                }
                RECORD_DELETE => {
                    let Some(group) = get_string(&mut body) else {
                        break;
                    };
                    let Some(count) = get_i32(&mut body) else {
                        break;
                    };
                    if count < 0 {
                        offsets.retain(|(g, _, _), _| *g != group);
                    } else {
                        for _ in 0..count {
                            let (Some(topic), Some(partition)) =
                                (get_string(&mut body), get_i32(&mut body))
                            else {
                                break;
                            };
                            offsets.remove(&(group.clone(), topic, partition));
                        }
                    }
                }
                _ => break,
            }
        }
        offsets
    }
}

fn encode_commit(commit: &CommittedOffset) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u8(RECORD_COMMIT);
    put_string(&mut body, &commit.group_id);
    put_string(&mut body, &commit.topic);
    body.put_i32(commit.partition);
    body.put_i64(commit.offset);
    body.put_i32(commit.leader_epoch);
    match &commit.metadata {
        Some(metadata) => {
            body.put_u8(1);
            put_string(&mut body, metadata);
        }
        None => body.put_u8(0),
    }
    body.put_i64(commit.commit_timestamp_ms);
    body
}

fn decode_commit(body: &mut Bytes) -> Option<CommittedOffset> {
    let group_id = get_string(body)?;
    let topic = get_string(body)?;
    let partition = get_i32(body)?;
    let offset = get_i64(body)?;
    let leader_epoch = get_i32(body)?;
    let has_metadata = (body.remaining() >= 1).then(|| body.get_u8())?;
    let metadata = if has_metadata == 1 {
        Some(get_string(body)?)
    } else {
        None
    };
    let commit_timestamp_ms = get_i64(body)?;
    Some(CommittedOffset {
        group_id,
        topic,
        partition,
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
    })
}

impl OffsetStore for FileOffsetStore {
    fn load(&self) -> Vec<CommittedOffset> {
        match fs::read(&self.path) {
            Ok(data) => {
                let offsets: Vec<CommittedOffset> =
                    Self::replay(Bytes::from(data)).into_values().collect();
                self.rewrite(&offsets);
                offsets
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                tracing::error!(path = %self.path.display(), %error, "cannot read the offset store");
                Vec::new()
            }
        }
    }

    fn store(&self, commits: &[CommittedOffset]) {
        let bodies: Vec<BytesMut> = commits.iter().map(encode_commit).collect();
        self.append(&bodies);
    }

    fn load_groups(&self) -> Vec<GroupSnapshot> {
        match fs::read(&self.groups_path) {
            Ok(data) => {
                let groups: Vec<GroupSnapshot> = Self::replay_groups(Bytes::from(data))
                    .into_values()
                    .collect();
                // Compact: the file starts over with just these.
                let temporary = self.groups_path.with_extension("log.tmp");
                let bodies: Vec<BytesMut> = groups.iter().map(encode_group).collect();
                let _ = fs::remove_file(&temporary);
                append_records(&temporary, &Mutex::new(None), &bodies);
                if let Err(error) = fs::rename(&temporary, &self.groups_path) {
                    tracing::error!(path = %self.groups_path.display(), %error, "cannot compact the group store");
                }
                *self
                    .groups_file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                groups
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                tracing::error!(path = %self.groups_path.display(), %error, "cannot read the group store");
                Vec::new()
            }
        }
    }

    fn store_group(&self, group: &GroupSnapshot) {
        append_records(&self.groups_path, &self.groups_file, &[encode_group(group)]);
    }

    fn forget_group(&self, group_id: &str) {
        let mut body = BytesMut::new();
        body.put_u8(RECORD_FORGET_GROUP);
        put_string(&mut body, group_id);
        append_records(&self.groups_path, &self.groups_file, &[body]);
    }

    fn delete(&self, group_id: &str, partitions: Option<&[(String, i32)]>) {
        let mut body = BytesMut::new();
        body.put_u8(RECORD_DELETE);
        put_string(&mut body, group_id);
        match partitions {
            None => body.put_i32(-1),
            Some(partitions) => {
                body.put_i32(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
                for (topic, partition) in partitions {
                    put_string(&mut body, topic);
                    body.put_i32(*partition);
                }
            }
        }
        self.append(&[body]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::records::{RecordBatchBuilder, RecordBatchMut};

    fn batch_at(base: i64, value: &[u8]) -> Bytes {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder.append(1, None, Some(value), &[]).unwrap();
        let mut bytes = BytesMut::from(builder.build().unwrap().as_ref());
        RecordBatchMut::new(&mut bytes)
            .unwrap()
            .set_base_offset(base);
        bytes.freeze()
    }

    #[test]
    fn recovery_truncates_a_corrupt_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let mut store = PartitionStore::create(path.clone()).unwrap();
        store.append(&batch_at(0, b"a"), 0, 1 << 30).unwrap();
        store.append(&batch_at(1, b"b"), 1, 1 << 30).unwrap();
        store.flush().unwrap();
        drop(store);
        let log = segment_path(&path, 0, LOG_SUFFIX);
        let mut data = fs::read(&log).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x55;
        data.extend_from_slice(&[0, 0, 0]);
        fs::write(&log, &data).unwrap();
        let recovered = PartitionStore::recover(path).unwrap();
        assert_eq!(recovered.batches.len(), 1);
        assert_eq!(
            fs::metadata(&log).unwrap().len(),
            recovered.batches[0].len() as u64
        );
    }

    #[test]
    fn segments_roll_and_old_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let mut store = PartitionStore::create(path.clone()).unwrap();
        for offset in 0..4 {
            store.append(&batch_at(offset, b"x"), offset, 1).unwrap();
        }
        assert_eq!(store.segments.len(), 4);
        store.set_log_start_offset(2).unwrap();
        assert_eq!(store.segments.len(), 2);
        drop(store);
        let recovered = PartitionStore::recover(path).unwrap();
        assert_eq!(recovered.batches.len(), 2);
        assert_eq!(recovered.log_start_offset, 2);
    }

    #[test]
    fn offsets_replay_commits_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        let store = data.offset_store();
        let commit = |group: &str, partition: i32, offset: i64| CommittedOffset {
            group_id: group.into(),
            topic: "t".into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: Some("m".into()),
            commit_timestamp_ms: 5,
        };
        store.store(&[commit("g", 0, 1), commit("g", 1, 2), commit("h", 0, 3)]);
        store.store(&[commit("g", 0, 10)]);
        store.delete("g", Some(&[("t".into(), 1)]));
        store.delete("h", None);
        let mut loaded = data.offset_store().load();
        loaded.sort_by_key(|c| c.partition);
        assert_eq!(loaded, vec![commit("g", 0, 10)]);
        // Loading compacted the file; it still loads the same, and appends
        // after compaction land in the new file.
        let store = data.offset_store();
        assert_eq!(store.load(), vec![commit("g", 0, 10)]);
        store.store(&[commit("g", 2, 4)]);
        assert_eq!(data.offset_store().load().len(), 2);
    }

    #[test]
    fn groups_replay_last_snapshot_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::open(dir.path().to_path_buf())
            .unwrap()
            .offset_store();
        let snapshot = |group: &str, generation: i32| GroupSnapshot {
            group_id: group.to_owned(),
            generation,
            protocol_type: Some("consumer".to_owned()),
            protocol_name: Some("range".to_owned()),
            leader: Some("m-1".to_owned()),
            members: vec![MemberSnapshot {
                member_id: "m-1".to_owned(),
                instance_id: Some("i-1".to_owned()),
                client_id: "c".to_owned(),
                client_host: "/127.0.0.1".to_owned(),
                rebalance_timeout_ms: 30_000,
                session_timeout_ms: 10_000,
                protocols: vec![("range".to_owned(), Bytes::from_static(b"sub"))],
                assignment: Bytes::from_static(b"assigned"),
            }],
        };
        store.store_group(&snapshot("a", 1));
        store.store_group(&snapshot("b", 1));
        store.store_group(&snapshot("a", 2));
        store.forget_group("b");
        assert_eq!(store.load_groups(), vec![snapshot("a", 2)]);
        // Loading compacted the file; it still loads the same.
        assert_eq!(store.load_groups(), vec![snapshot("a", 2)]);
    }

    #[test]
    fn topic_meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        let meta = TopicMeta {
            name: "orders".into(),
            id: 0xabc,
            partitions: 2,
            replication_factor: 1,
            leaders: vec![0, 1],
            leader_epochs: vec![0, 3],
            configs: [("retention.ms".to_owned(), "5".to_owned())].into(),
        };
        data.write_topic(&meta).unwrap();
        assert_eq!(data.read_topics().unwrap(), vec![meta]);
    }
}
