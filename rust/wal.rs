//! The metric log file format: encoding, and a reader that tolerates torn tails.
//!
//! Plain Rust (no PyO3 types); the binding layer lives in `metrics.rs`.
//!
//! # Format (all integers little-endian)
//!
//! ```text
//! file    := magic record*
//! magic   := b"TLWAL001"                            (8 bytes)
//! record  := u32 payload_len, u32 crc32(payload), payload[payload_len]
//! payload := u8 kind, body
//!
//! kind 1 RUN    u32 run_index, UTF-8 run_id (rest of payload)
//! kind 2 KEY    u32 key_index, UTF-8 key    (rest of payload)
//! kind 3 POINTS u32 n, u32 run[n], u32 key[n], i64 step[n], i64 timestamp[n], f64 value[n]
//! kind 4 SERIES u32 run, u32 key, u64 n, u8 step_mode, u8 ts_mode,
//!               steps  (step_mode 0: i64[n] explicit; 1: one i64 start of start, start+1, ...),
//!               stamps (ts_mode 0: i64[n] explicit;   1: one i64 constant),
//!               f64 value[n]
//! ```
//!
//! * crc32 is the IEEE polynomial (zlib's `crc32`) over the whole payload, kind byte included.
//! * Run and key indexes are dense per file, starting at 0; a RUN/KEY definition always precedes
//!   the first record that uses its index.
//! * A rotated log continues in a new file (`MetricLog.rotate`) that starts with the RUN and KEY
//!   definitions of every index the previous files used, with the same indexes; each file reads
//!   on its own, and the files of one log agree on every index they share.
//! * Writers emit at most [`MAX_RECORD_POINTS`] points per POINTS/SERIES record.
//! * Values are stored bit-exactly (NaN payloads and infinities included).
//! * A reader stops at the first record that is incomplete (a crash mid-append) or whose CRC or
//!   structure does not check out; everything before it is valid.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::errors::{Error, Result};

/// The 8 bytes every metric log starts with.
pub const MAGIC: &[u8; 8] = b"TLWAL001";
/// Length of the file header (the magic).
pub const HEADER_LEN: u64 = MAGIC.len() as u64;
/// Length of a record's frame header (`payload_len`, `crc32`).
pub const FRAME_HEADER_LEN: usize = 8;
/// Writers split POINTS and SERIES records at this many points.
pub const MAX_RECORD_POINTS: usize = 1 << 20;

/// Record kinds (first payload byte).
pub const KIND_RUN: u8 = 1;
pub const KIND_KEY: u8 = 2;
pub const KIND_POINTS: u8 = 3;
pub const KIND_SERIES: u8 = 4;

/// SERIES step/timestamp modes.
pub const MODE_EXPLICIT: u8 = 0;
pub const MODE_COMPACT: u8 = 1;

const SERIES_HEAD_LEN: usize = 1 + 4 + 4 + 8 + 1 + 1;
const POINTS_HEAD_LEN: usize = 1 + 4;

/// One buffered metric point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub run: u32,
    pub key: u32,
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
}

/// The steps of a series.
#[derive(Clone, Copy, Debug)]
pub enum Steps<'a> {
    /// `start, start + 1, ...` (stored as one i64).
    Arange(i64),
    /// One step per value.
    Explicit(&'a [i64]),
}

/// The timestamps of a series.
#[derive(Clone, Copy, Debug)]
pub enum Stamps<'a> {
    /// The same timestamp for every value (stored as one i64).
    Constant(i64),
    /// One timestamp per value.
    Explicit(&'a [i64]),
}

/// Plain 8-byte numbers whose memory is their little-endian encoding on little-endian hosts.
trait Le8: Copy {
    #[cfg_attr(target_endian = "little", allow(dead_code))]
    fn le(self) -> [u8; 8];
}
impl Le8 for i64 {
    #[inline]
    fn le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}
impl Le8 for f64 {
    #[inline]
    fn le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}

/// Appends `v` as little-endian bytes (a memcpy on little-endian hosts).
#[inline]
fn put_le8<T: Le8>(out: &mut Vec<u8>, v: &[T]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: i64/f64 have no padding and every byte is initialised; on a little-endian
        // host their in-memory bytes are exactly their little-endian encoding.
        let bytes = unsafe {
            std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v))
        };
        out.extend_from_slice(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    for x in v {
        out.extend_from_slice(&x.le());
    }
}

/// A growing byte buffer of framed records, sealed (length + CRC filled in) before writing.
///
/// Encoding (a memcpy for series) and sealing (CRC) are separate so the binding layer can copy
/// data out of Python buffers while attached and checksum after detaching.
#[derive(Debug, Default)]
pub struct Frames {
    buf: Vec<u8>,
    unsealed: Vec<usize>,
}

impl Frames {
    pub fn new() -> Self {
        Self::default()
    }

    /// Total encoded length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Allocated bytes.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Releases memory beyond `bytes` (after `clear`).
    pub fn shrink_to(&mut self, bytes: usize) {
        self.buf.shrink_to(bytes);
    }

    /// Forgets all frames, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.unsealed.clear();
    }

    /// The sealed bytes, ready to append to a log file.
    pub fn bytes(&self) -> &[u8] {
        assert!(self.unsealed.is_empty(), "Frames::bytes before seal");
        &self.buf
    }

    fn begin(&mut self, kind: u8, body_len: usize) {
        self.buf.reserve(FRAME_HEADER_LEN + 1 + body_len);
        self.unsealed.push(self.buf.len());
        self.buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        self.buf.push(kind);
    }

    fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A RUN definition.
    pub fn run_def(&mut self, index: u32, run_id: &str) {
        self.begin(KIND_RUN, 4 + run_id.len());
        self.put_u32(index);
        self.buf.extend_from_slice(run_id.as_bytes());
    }

    /// A KEY definition.
    pub fn key_def(&mut self, index: u32, key: &str) {
        self.begin(KIND_KEY, 4 + key.len());
        self.put_u32(index);
        self.buf.extend_from_slice(key.as_bytes());
    }

    /// POINTS records (several if more than [`MAX_RECORD_POINTS`]).
    pub fn points(&mut self, points: &[Point]) {
        for chunk in points.chunks(MAX_RECORD_POINTS) {
            self.begin(KIND_POINTS, 4 + 32 * chunk.len());
            self.put_u32(chunk.len() as u32);
            let b = &mut self.buf;
            b.extend(chunk.iter().flat_map(|p| p.run.to_le_bytes()));
            b.extend(chunk.iter().flat_map(|p| p.key.to_le_bytes()));
            b.extend(chunk.iter().flat_map(|p| p.step.to_le_bytes()));
            b.extend(chunk.iter().flat_map(|p| p.timestamp.to_le_bytes()));
            b.extend(chunk.iter().flat_map(|p| p.value.to_le_bytes()));
        }
    }

    /// SERIES records for one (run, key), split every [`MAX_RECORD_POINTS`] values.
    ///
    /// # Panics
    /// If explicit steps or stamps do not have `values.len()` elements.
    pub fn series(
        &mut self,
        run: u32,
        key: u32,
        steps: Steps<'_>,
        stamps: Stamps<'_>,
        values: &[f64],
    ) {
        let n = values.len();
        if let Steps::Explicit(s) = steps {
            assert_eq!(s.len(), n, "steps and values differ in length");
        }
        if let Stamps::Explicit(t) = stamps {
            assert_eq!(t.len(), n, "timestamps and values differ in length");
        }
        let chunks = n.div_ceil(MAX_RECORD_POINTS);
        let per_point = 8
            * (1 + usize::from(matches!(steps, Steps::Explicit(_)))
                + usize::from(matches!(stamps, Stamps::Explicit(_))));
        self.buf
            .reserve(n * per_point + chunks * (FRAME_HEADER_LEN + SERIES_HEAD_LEN + 16));
        let mut lo = 0;
        while lo < n {
            let hi = n.min(lo + MAX_RECORD_POINTS);
            let m = hi - lo;
            let step_len = if matches!(steps, Steps::Arange(_)) {
                8
            } else {
                8 * m
            };
            let ts_len = if matches!(stamps, Stamps::Constant(_)) {
                8
            } else {
                8 * m
            };
            self.begin(KIND_SERIES, SERIES_HEAD_LEN - 1 + step_len + ts_len + 8 * m);
            self.put_u32(run);
            self.put_u32(key);
            self.buf.extend_from_slice(&(m as u64).to_le_bytes());
            self.buf.push(match steps {
                Steps::Explicit(_) => MODE_EXPLICIT,
                Steps::Arange(_) => MODE_COMPACT,
            });
            self.buf.push(match stamps {
                Stamps::Explicit(_) => MODE_EXPLICIT,
                Stamps::Constant(_) => MODE_COMPACT,
            });
            match steps {
                Steps::Arange(start) => {
                    put_le8(&mut self.buf, &[start.wrapping_add(lo as i64)]);
                }
                Steps::Explicit(s) => put_le8(&mut self.buf, &s[lo..hi]),
            }
            match stamps {
                Stamps::Constant(t) => put_le8(&mut self.buf, &[t]),
                Stamps::Explicit(t) => put_le8(&mut self.buf, &t[lo..hi]),
            }
            put_le8(&mut self.buf, &values[lo..hi]);
            lo = hi;
        }
    }

    /// Fills in length and CRC of every frame added since the last seal.
    pub fn seal(&mut self) {
        let len = self.buf.len();
        for (i, &start) in self.unsealed.iter().enumerate() {
            let end = self.unsealed.get(i + 1).copied().unwrap_or(len);
            let (head, payload) = self.buf[start..end].split_at_mut(FRAME_HEADER_LEN);
            let payload_len = u32::try_from(payload.len()).expect("record larger than 4 GiB");
            head[..4].copy_from_slice(&payload_len.to_le_bytes());
            head[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        }
        self.unsealed.clear();
    }
}

/// A parsed payload (borrowing from it).
#[derive(Debug, PartialEq)]
enum Record<'a> {
    Run(u32, &'a str),
    Key(u32, &'a str),
    Points(usize),
    Series(usize),
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Parses and structurally validates a payload; `None` if it is malformed.
fn parse(p: &[u8]) -> Option<Record<'_>> {
    match *p.first()? {
        kind @ (KIND_RUN | KIND_KEY) => {
            if p.len() < 5 {
                return None;
            }
            let index = u32_at(p, 1);
            let name = std::str::from_utf8(&p[5..]).ok()?;
            Some(if kind == KIND_RUN {
                Record::Run(index, name)
            } else {
                Record::Key(index, name)
            })
        }
        KIND_POINTS => {
            if p.len() < POINTS_HEAD_LEN {
                return None;
            }
            let n = u32_at(p, 1) as usize;
            (p.len() == POINTS_HEAD_LEN + 32 * n).then_some(Record::Points(n))
        }
        KIND_SERIES => {
            if p.len() < SERIES_HEAD_LEN {
                return None;
            }
            let n = usize::try_from(u64_at(p, 9)).ok()?;
            let width = |mode: u8| match mode {
                MODE_EXPLICIT => n.checked_mul(8),
                MODE_COMPACT => Some(8),
                _ => None,
            };
            let total = SERIES_HEAD_LEN
                .checked_add(width(p[17])?)?
                .checked_add(width(p[18])?)?
                .checked_add(n.checked_mul(8)?)?;
            (p.len() == total).then_some(Record::Series(n))
        }
        _ => None,
    }
}

/// A POINTS or SERIES payload that passed its CRC and structure checks.
#[derive(Debug)]
pub struct DataRecord {
    payload: Vec<u8>,
    n: usize,
}

impl DataRecord {
    /// Number of points in the record.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Output columns as little-endian bytes: 4 bytes per point for `run`/`key`, 8 for the rest.
pub struct ColumnsMut<'a> {
    pub run: &'a mut [u8],
    pub key: &'a mut [u8],
    pub step: &'a mut [u8],
    pub timestamp: &'a mut [u8],
    pub value: &'a mut [u8],
}

/// Owned decoded columns (little-endian bytes), see [`ColumnsMut`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Columns {
    pub run: Vec<u8>,
    pub key: Vec<u8>,
    pub step: Vec<u8>,
    pub timestamp: Vec<u8>,
    pub value: Vec<u8>,
}

impl Columns {
    /// The decoded points (convenience for tests and small reads).
    pub fn points(&self) -> Vec<Point> {
        let n = self.run.len() / 4;
        (0..n)
            .map(|i| Point {
                run: u32_at(&self.run, 4 * i),
                key: u32_at(&self.key, 4 * i),
                step: u64_at(&self.step, 8 * i) as i64,
                timestamp: u64_at(&self.timestamp, 8 * i) as i64,
                value: f64::from_bits(u64_at(&self.value, 8 * i)),
            })
            .collect()
    }
}

fn fill<const W: usize>(dst: &mut [u8], v: [u8; W]) {
    for c in dst.chunks_exact_mut(W) {
        c.copy_from_slice(&v);
    }
}

fn arange(dst: &mut [u8], start: i64) {
    for (i, c) in dst.chunks_exact_mut(8).enumerate() {
        c.copy_from_slice(&start.wrapping_add(i as i64).to_le_bytes());
    }
}

/// What [`read_log`] found: definitions, validated data records and where it stopped.
#[derive(Debug, Default)]
pub struct ReadPlan {
    /// run_id by run index (every definition before `end_offset`).
    pub runs: Vec<String>,
    /// key by key index (every definition before `end_offset`).
    pub keys: Vec<String>,
    /// Data records from the requested offset up to `end_offset`.
    pub records: Vec<DataRecord>,
    /// Total points in `records`.
    pub count: usize,
    /// Byte offset right after the last fully decoded record.
    pub end_offset: u64,
    /// Nothing complete follows `end_offset`.
    pub at_end: bool,
    /// An incomplete or corrupt record follows `end_offset`.
    pub torn: bool,
}

impl ReadPlan {
    /// Decodes all records into `cols`, whose slices must hold exactly `count` points.
    ///
    /// # Panics
    /// If a column has the wrong length.
    pub fn decode_into(&self, cols: ColumnsMut<'_>) {
        let n = self.count;
        assert!(
            cols.run.len() == 4 * n
                && cols.key.len() == 4 * n
                && cols.step.len() == 8 * n
                && cols.timestamp.len() == 8 * n
                && cols.value.len() == 8 * n,
            "column lengths do not match {n} points"
        );
        let mut at = 0;
        for rec in &self.records {
            let (m, p) = (rec.n, rec.payload.as_slice());
            let run = &mut cols.run[4 * at..4 * (at + m)];
            let key = &mut cols.key[4 * at..4 * (at + m)];
            let step = &mut cols.step[8 * at..8 * (at + m)];
            let ts = &mut cols.timestamp[8 * at..8 * (at + m)];
            let value = &mut cols.value[8 * at..8 * (at + m)];
            if p[0] == KIND_POINTS {
                let mut o = POINTS_HEAD_LEN;
                for (dst, w) in [(run, 4), (key, 4), (step, 8), (ts, 8), (value, 8)] {
                    dst.copy_from_slice(&p[o..o + w * m]);
                    o += w * m;
                }
            } else {
                fill::<4>(run, p[1..5].try_into().unwrap());
                fill::<4>(key, p[5..9].try_into().unwrap());
                let mut o = SERIES_HEAD_LEN;
                if p[17] == MODE_COMPACT {
                    arange(step, u64_at(p, o) as i64);
                    o += 8;
                } else {
                    step.copy_from_slice(&p[o..o + 8 * m]);
                    o += 8 * m;
                }
                if p[18] == MODE_COMPACT {
                    fill::<8>(ts, p[o..o + 8].try_into().unwrap());
                    o += 8;
                } else {
                    ts.copy_from_slice(&p[o..o + 8 * m]);
                    o += 8 * m;
                }
                value.copy_from_slice(&p[o..o + 8 * m]);
            }
            at += m;
        }
    }

    /// Decodes all records into owned columns.
    pub fn decode(&self) -> Columns {
        let n = self.count;
        let mut c = Columns {
            run: vec![0; 4 * n],
            key: vec![0; 4 * n],
            step: vec![0; 8 * n],
            timestamp: vec![0; 8 * n],
            value: vec![0; 8 * n],
        };
        self.decode_into(ColumnsMut {
            run: &mut c.run,
            key: &mut c.key,
            step: &mut c.step,
            timestamp: &mut c.timestamp,
            value: &mut c.value,
        });
        c
    }
}

fn define(names: &mut Vec<String>, index: u32, name: &str) {
    let i = index as usize;
    if names.len() <= i {
        names.resize(i + 1, String::new());
    }
    names[i] = name.to_owned();
}

/// Reads as many bytes as available into `buf` (short only at end of file).
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Frame header at `pos`, if a complete frame fits before `file_len`.
fn frame_header(r: &mut impl Read, pos: u64, file_len: u64) -> io::Result<Option<(usize, u32)>> {
    if pos + FRAME_HEADER_LEN as u64 > file_len {
        return Ok(None);
    }
    let mut h = [0u8; FRAME_HEADER_LEN];
    if read_up_to(r, &mut h)? < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let len = u32_at(&h, 0) as usize;
    if len == 0 || pos + (FRAME_HEADER_LEN + len) as u64 > file_len {
        return Ok(None);
    }
    Ok(Some((len, u32_at(&h, 4))))
}

/// Reads a metric log from `offset` (0: right after the header).
///
/// Definitions before `offset` are collected by skipping other records by length. From
/// `offset`, records are validated and kept until the end of the file, until adding the next data
/// record would exceed `max_points` (the first data record is always taken), or until an
/// incomplete or corrupt record (`torn`). The file may be appended to concurrently; only the
/// length seen when opening it is read.
///
/// # Errors
/// [`Error::Corrupt`] for a file that is not a metric log; [`Error::InvalidParameter`] if
/// `offset` is not the offset of a record boundary; [`Error::Io`].
pub fn read_log(path: &Path, offset: u64, max_points: usize) -> Result<ReadPlan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut plan = ReadPlan {
        end_offset: HEADER_LEN,
        at_end: true,
        ..ReadPlan::default()
    };

    let mut magic = [0u8; 8];
    let got = read_up_to(&mut r, &mut magic)?;
    if magic[..got] != MAGIC[..got] {
        return Err(Error::Corrupt(format!(
            "{} is not a tracklite metric log (its first bytes are {:?}, expected {:?})",
            path.display(),
            String::from_utf8_lossy(&magic[..got]),
            String::from_utf8_lossy(MAGIC),
        )));
    }
    let start = if offset == 0 { HEADER_LEN } else { offset };
    if got < MAGIC.len() {
        // Created but the header never made it to disk: an empty, torn log.
        if start != HEADER_LEN {
            return Err(bad_offset(path, offset, HEADER_LEN));
        }
        plan.torn = true;
        return Ok(plan);
    }
    if start < HEADER_LEN {
        return Err(bad_offset(path, offset, HEADER_LEN));
    }

    // Definitions before `start`; other records are skipped by length. What an earlier
    // call already scanned of this same file is taken from the cache, so flushing a long
    // log costs the new records only, not a rescan from the header every time.
    let identity = file_identity(&r)?;
    let mut pos = HEADER_LEN;
    if let Some(known) = cached_definitions(path, identity, start) {
        pos = known.scanned_to;
        plan.runs = known.runs;
        plan.keys = known.keys;
        r.seek(io::SeekFrom::Start(pos))?;
    }
    let mut payload = Vec::new();
    while pos < start {
        let Some((len, crc)) = frame_header(&mut r, pos, file_len)? else {
            return Err(bad_offset(path, offset, pos));
        };
        let mut kind = [0u8; 1];
        r.read_exact(&mut kind)?;
        if kind[0] == KIND_RUN || kind[0] == KIND_KEY {
            payload.clear();
            payload.resize(len, 0);
            payload[0] = kind[0];
            r.read_exact(&mut payload[1..])?;
            match (crc32fast::hash(&payload) == crc)
                .then(|| parse(&payload))
                .flatten()
            {
                Some(Record::Run(i, name)) => define(&mut plan.runs, i, name),
                Some(Record::Key(i, name)) => define(&mut plan.keys, i, name),
                _ => return Err(bad_offset(path, offset, pos)),
            }
        } else {
            r.seek_relative(len as i64 - 1)?;
        }
        pos += (FRAME_HEADER_LEN + len) as u64;
    }
    if pos != start {
        return Err(bad_offset(path, offset, pos));
    }

    // Records from `start`.
    loop {
        if pos >= file_len {
            break;
        }
        let Some((len, crc)) = frame_header(&mut r, pos, file_len)? else {
            plan.torn = true;
            break;
        };
        let mut payload = vec![0u8; len];
        if read_up_to(&mut r, &mut payload)? < len || crc32fast::hash(&payload) != crc {
            plan.torn = true;
            break;
        }
        match parse(&payload) {
            None => {
                plan.torn = true;
                break;
            }
            Some(Record::Run(i, name)) => define(&mut plan.runs, i, name),
            Some(Record::Key(i, name)) => define(&mut plan.keys, i, name),
            Some(Record::Points(n) | Record::Series(n)) => {
                if plan.count > 0 && plan.count + n > max_points {
                    plan.at_end = false;
                    break;
                }
                plan.count += n;
                plan.records.push(DataRecord { payload, n });
            }
        }
        pos += (FRAME_HEADER_LEN + len) as u64;
    }
    plan.end_offset = pos;
    remember_definitions(path, identity, pos, &plan.runs, &plan.keys);
    Ok(plan)
}

/// Definitions found in one log file up to `scanned_to` (a record boundary).
#[derive(Clone)]
struct KnownDefinitions {
    identity: (u64, u64),
    scanned_to: u64,
    runs: Vec<String>,
    keys: Vec<String>,
}

static DEFINITIONS: Mutex<Option<HashMap<PathBuf, KnownDefinitions>>> = Mutex::new(None);

fn file_identity(r: &BufReader<File>) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = r.get_ref().metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// The cached definitions of `path`, if they are of the same file and end at or before `start`.
fn cached_definitions(path: &Path, identity: (u64, u64), start: u64) -> Option<KnownDefinitions> {
    let guard = DEFINITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let known = guard.as_ref()?.get(path)?;
    (known.identity == identity && known.scanned_to <= start).then(|| known.clone())
}

fn remember_definitions(
    path: &Path,
    identity: (u64, u64),
    scanned_to: u64,
    runs: &[String],
    keys: &[String],
) {
    let mut guard = DEFINITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    // Logs are few per process at a time; forget files that were deleted (rotated, applied).
    if map.len() > 64 {
        map.retain(|p, _| p.exists());
    }
    map.insert(
        path.to_path_buf(),
        KnownDefinitions {
            identity,
            scanned_to,
            runs: runs.to_vec(),
            keys: keys.to_vec(),
        },
    );
}

fn bad_offset(path: &Path, offset: u64, boundary: u64) -> Error {
    Error::InvalidParameter(format!(
        "offset {offset} is not the offset of a complete record in {} (the scan reached {boundary}); \
         pass 0 or an end_offset returned by read_log",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tracklite-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn write_file(path: &Path, frames: &mut Frames) -> Vec<u8> {
        frames.seal();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(frames.bytes());
        std::fs::File::create(path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        bytes
    }

    fn pt(run: u32, key: u32, step: i64, timestamp: i64, value: f64) -> Point {
        Point {
            run,
            key,
            step,
            timestamp,
            value,
        }
    }

    fn same(a: &[Point], b: &[Point]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                (x.run, x.key, x.step, x.timestamp),
                (y.run, y.key, y.step, y.timestamp)
            );
            assert_eq!(x.value.to_bits(), y.value.to_bits());
        }
    }

    fn sample() -> (Frames, Vec<Point>) {
        let mut f = Frames::new();
        f.run_def(0, "run-a");
        f.key_def(0, "loss");
        f.key_def(1, "ünïcode/acc");
        let pts = vec![
            pt(0, 0, 0, 1000, 0.5),
            pt(0, 1, 1, 1001, f64::NAN),
            pt(0, 0, -3, 0, f64::NEG_INFINITY),
            pt(0, 1, i64::MAX, i64::MAX, -0.0),
        ];
        f.points(&pts);
        f.run_def(1, "run-b");
        f.series(
            1,
            1,
            Steps::Arange(10),
            Stamps::Constant(77),
            &[1.0, 2.0, 3.0],
        );
        f.series(
            1,
            0,
            Steps::Explicit(&[5, 3, 9]),
            Stamps::Explicit(&[1, 2, 3]),
            &[f64::INFINITY, 0.0, 1e300],
        );
        let mut all = pts.clone();
        all.extend([
            pt(1, 1, 10, 77, 1.0),
            pt(1, 1, 11, 77, 2.0),
            pt(1, 1, 12, 77, 3.0),
        ]);
        all.extend([
            pt(1, 0, 5, 1, f64::INFINITY),
            pt(1, 0, 3, 2, 0.0),
            pt(1, 0, 9, 3, 1e300),
        ]);
        (f, all)
    }

    #[test]
    fn round_trip_all_kinds() {
        let path = tmp("round_trip");
        let (mut f, want) = sample();
        let bytes = write_file(&path, &mut f);
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.runs, ["run-a", "run-b"]);
        assert_eq!(plan.keys, ["loss", "ünïcode/acc"]);
        assert_eq!(plan.count, 10);
        assert_eq!(plan.end_offset, bytes.len() as u64);
        assert!(plan.at_end && !plan.torn);
        same(&plan.decode().points(), &want);
        // Reading from the end yields definitions only.
        let plan = read_log(&path, bytes.len() as u64, 10).unwrap();
        assert_eq!((plan.count, plan.runs.len(), plan.keys.len()), (0, 2, 2));
        assert!(plan.at_end && !plan.torn);
    }

    #[test]
    fn parse_each_kind() {
        let mut f = Frames::new();
        f.run_def(7, "r");
        f.seal();
        let b = f.bytes();
        assert_eq!(u32_at(b, 0) as usize, b.len() - 8);
        assert_eq!(u32_at(b, 4), crc32fast::hash(&b[8..]));
        assert_eq!(parse(&b[8..]), Some(Record::Run(7, "r")));
        let mut f = Frames::new();
        f.key_def(3, "k/x");
        f.points(&[pt(0, 0, 0, 0, 0.0); 3]);
        f.seal();
        let b = f.bytes();
        let k_len = u32_at(b, 0) as usize;
        assert_eq!(parse(&b[8..8 + k_len]), Some(Record::Key(3, "k/x")));
        assert_eq!(parse(&b[16 + k_len..]), Some(Record::Points(3)));
        assert_eq!(parse(&[KIND_POINTS, 1, 0, 0, 0]), None);
        assert_eq!(parse(&[9]), None);
        assert_eq!(parse(&[KIND_RUN, 0, 0, 0, 0, 0xff]), None);
    }

    #[test]
    fn compact_series_encodings_are_small() {
        let values: Vec<f64> = (0..1000).map(f64::from).collect();
        let mut f = Frames::new();
        f.series(0, 0, Steps::Arange(5), Stamps::Constant(9), &values);
        f.seal();
        assert_eq!(f.len(), 8 + SERIES_HEAD_LEN + 8 + 8 + 8 * 1000);
        let mut g = Frames::new();
        let steps: Vec<i64> = (5..1005).collect();
        g.series(
            0,
            0,
            Steps::Explicit(&steps),
            Stamps::Explicit(&[9; 1000]),
            &values,
        );
        g.seal();
        assert_eq!(g.len(), 8 + SERIES_HEAD_LEN + 3 * 8 * 1000);
        for (name, frames) in [("compact_a", &mut f), ("compact_b", &mut g)] {
            let path = tmp(name);
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(frames.bytes());
            std::fs::write(&path, &bytes).unwrap();
            let plan = read_log(&path, 0, usize::MAX).unwrap();
            let pts = plan.decode().points();
            assert_eq!(pts.len(), 1000);
            assert!(
                pts.iter().enumerate().all(|(i, p)| p.step == 5 + i as i64
                    && p.timestamp == 9
                    && p.value == i as f64)
            );
        }
    }

    #[test]
    fn long_series_are_split() {
        let n = MAX_RECORD_POINTS * 2 + 5;
        let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut f = Frames::new();
        f.points(&vec![pt(0, 0, 0, 0, 1.0); MAX_RECORD_POINTS + 1]);
        f.series(0, 0, Steps::Arange(100), Stamps::Constant(1), &values);
        let path = tmp("split");
        write_file(&path, &mut f);
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        let sizes: Vec<usize> = plan.records.iter().map(DataRecord::len).collect();
        assert_eq!(
            sizes,
            [
                MAX_RECORD_POINTS,
                1,
                MAX_RECORD_POINTS,
                MAX_RECORD_POINTS,
                5
            ]
        );
        let pts = plan.decode().points();
        let series = &pts[MAX_RECORD_POINTS + 1..];
        assert!(
            series
                .iter()
                .enumerate()
                .all(|(i, p)| p.step == 100 + i as i64 && p.value == i as f64)
        );
    }

    #[test]
    fn torn_tail_at_every_byte() {
        let path = tmp("torn");
        let (mut f, want) = sample();
        let bytes = write_file(&path, &mut f);
        // The last record is the explicit series (3 points).
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        let last_len = plan.records.last().unwrap().payload.len() + FRAME_HEADER_LEN;
        let boundary = bytes.len() - last_len;
        for cut in boundary..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let plan = read_log(&path, 0, usize::MAX).unwrap();
            assert_eq!(plan.end_offset, boundary as u64, "cut at {cut}");
            assert_eq!(plan.torn, cut > boundary, "cut at {cut}");
            assert!(plan.at_end);
            same(&plan.decode().points(), &want[..7]);
        }
        // Cutting inside the header is an empty, torn log; a wrong magic is an error.
        for cut in 0..8 {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let plan = read_log(&path, 0, 10).unwrap();
            assert!(plan.torn && plan.at_end && plan.count == 0);
        }
        std::fs::write(&path, b"TLWAL999").unwrap();
        assert!(matches!(read_log(&path, 0, 10), Err(Error::Corrupt(_))));
    }

    /// Start offsets of every record in a well-formed file.
    fn boundaries(bytes: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut pos = 8;
        while pos < bytes.len() {
            out.push(pos);
            pos += 8 + u32_at(bytes, pos) as usize;
        }
        out
    }

    #[test]
    fn crc_corruption_stops_reader() {
        let path = tmp("crc");
        let (mut f, want) = sample();
        let mut bytes = write_file(&path, &mut f);
        let b = boundaries(&bytes);
        // Records: RUN, KEY, KEY, POINTS, RUN, SERIES, SERIES. Flip a value byte in POINTS.
        bytes[b[4] - 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.end_offset, b[3] as u64);
        assert!(plan.torn && plan.at_end && plan.count == 0);
        assert_eq!(plan.keys.len(), 2);
        // Restore it and corrupt the stored CRC of the last record instead.
        bytes[b[4] - 3] ^= 0x40;
        bytes[b[6] + 4] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.end_offset, b[6] as u64);
        assert!(plan.torn && plan.at_end);
        same(&plan.decode().points(), &want[..7]);
        // A corrupt length field (pointing past the end) is torn as well.
        bytes[b[6] + 4] ^= 1;
        bytes[b[6] + 3] = 0x7f;
        std::fs::write(&path, &bytes).unwrap();
        let plan = read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.end_offset, b[6] as u64);
        assert!(plan.torn);
    }

    #[test]
    fn offsets_and_max_points() {
        let path = tmp("offsets");
        let (mut f, want) = sample();
        let bytes = write_file(&path, &mut f);
        // max_points 1: the first data record (4 points) is still taken whole.
        let a = read_log(&path, 0, 1).unwrap();
        assert_eq!(a.count, 4);
        assert!(!a.at_end && !a.torn);
        // The RUN definition after the POINTS record is consumed before stopping.
        assert_eq!(a.runs, ["run-a", "run-b"]);
        let b = read_log(&path, a.end_offset, 6).unwrap();
        assert_eq!(b.count, 6);
        assert_eq!(b.runs, ["run-a", "run-b"]);
        assert!(b.at_end && !b.torn);
        assert_eq!(b.end_offset, bytes.len() as u64);
        let mut got = a.decode().points();
        got.extend(b.decode().points());
        same(&got, &want);
        let c = read_log(&path, a.end_offset, 3).unwrap();
        assert_eq!(c.count, 3);
        assert!(!c.at_end);
        // Offsets that are not record boundaries are rejected.
        for bad in [1, 7, 9, a.end_offset + 1, bytes.len() as u64 + 8] {
            assert!(
                matches!(read_log(&path, bad, 10), Err(Error::InvalidParameter(_))),
                "{bad}"
            );
        }
    }
}
