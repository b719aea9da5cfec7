//! Reading CI logs: files, stdin, gzip, GitHub's logs zip; and understanding the
//! markup each CI system puts around the text.
//!
//! The triage should see what a person sees in the CI's web view: no ANSI colours,
//! no carriage-return progress frames, no timestamps, no `##[group]` or
//! `section_start:` markers — but each line must keep its original line number so
//! that an excerpt can point back into the raw log. Sections (GitHub groups, GitLab
//! sections, Buildkite `---`/`+++`/`~~~` headers, Travis folds) are kept as names
//! on the lines, because "which step failed" is part of the answer.
//!
//! Every line is sanitized here, right after cleaning, so nothing downstream holds
//! raw text.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keywords::{BlockWalk, Walked, WordSet};
use crate::lines::LineSplitter;
use crate::sanitize::{SanitizeReport, Sanitizer};

/// Longest line kept for analysis; the rest of a longer line is dropped (and
/// counted in [`Log::truncated_lines`]).
pub const MAX_LINE: usize = 16 * 1024;

/// Largest zip archive read (it is held in memory to reach its directory).
pub const MAX_ZIP_BYTES: u64 = 256 << 20;

/// Where a log comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk (plain, gzip or zip; detected from its first bytes).
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// Bytes already in memory.
    Bytes(Vec<u8>),
}

/// The CI system whose markup the log carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiFormat {
    /// GitHub Actions (timestamps, `##[group]`, `##[error]`).
    GithubActions,
    /// GitLab CI (`section_start:`/`section_end:`).
    Gitlab,
    /// Buildkite (`---`/`+++`/`~~~` headers, `_bk;t=` timestamps).
    Buildkite,
    /// Travis CI (`travis_fold`, `travis_time`).
    Travis,
    /// Jenkins (`[Pipeline]`, `Finished: FAILURE`).
    Jenkins,
    /// No CI markup recognised.
    Plain,
}

/// What a line is, beyond its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Ordinary output.
    Output,
    /// The CI flagged it as an error (`##[error]`, `::error`).
    CiError,
    /// The CI flagged it as a warning.
    CiWarning,
    /// A command the CI echoes before running it (`##[command]`, `$ cmd`).
    Command,
    /// A section header (group start, Buildkite header); the text is its name.
    SectionStart,
    /// A section end marker.
    SectionEnd,
}

/// One cleaned, sanitized line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    /// 1-based line number in the original input (per file for zip archives).
    pub number: u64,
    /// The text without markup, sanitized.
    pub text: String,
    /// What the line is.
    pub kind: LineKind,
    /// Index into [`Log::sections`] of the innermost enclosing section.
    pub section: Option<u32>,
    /// Index into [`Log::files`] (zip archives hold one file per job or step).
    pub file: u32,
    /// The triage gate's words in `text`, found by the sanitizer's walk of it,
    /// so that the triage does not walk the line again; `None` when the text is
    /// not what the sanitizer walked (it redacted something).
    #[serde(skip)]
    pub(crate) gate: Option<WordSet>,
}

/// Lines are equal when what they say is: `gate` is derived from `text`.
impl PartialEq for LogLine {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
            && self.text == other.text
            && self.kind == other.kind
            && self.section == other.section
            && self.file == other.file
    }
}

impl Eq for LogLine {}

/// A named part of the log: a step, group or fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Its name as the CI shows it.
    pub name: String,
    /// Line number of its header.
    pub start: u64,
    /// Line number of its end, if the log closes it.
    pub end: Option<u64>,
}

/// A whole log, read and cleaned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Log {
    /// The lines in order.
    pub lines: Vec<LogLine>,
    /// The CI markup recognised.
    pub format: Option<CiFormat>,
    /// Sections in order of appearance.
    pub sections: Vec<Section>,
    /// File names (one, empty, for a plain stream; entry names for a zip).
    pub files: Vec<String>,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Lines longer than [`MAX_LINE`] whose tail was dropped.
    pub truncated_lines: u64,
    /// What the sanitizer removed.
    pub sanitize: SanitizeReport,
    /// Best-effort notes (truncated gzip, binary content, …).
    pub warnings: Vec<String>,
}

impl Log {
    /// The text of all lines, joined with newlines (already sanitized).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }
}

/// Errors reading a log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path, or `-` for stdin.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A zip archive that cannot be opened.
    #[error("{path} looks like a zip archive but cannot be opened: {message}")]
    BadZip {
        /// The path.
        path: String,
        /// What the zip reader said.
        message: String,
    },
}

/// Options for reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Stop after this many bytes of (decompressed) input; 0 = no limit.
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { max_bytes: 4 << 30 }
    }
}

/// Receives each cleaned, sanitized line, with the log read so far (sections,
/// files, format).
pub type LineSink<'a> = dyn FnMut(LogLine, &Log) + 'a;

/// A [`LineSink`] that hands back a buffer for the next line's text (the line's
/// own, once done with it), so that a reader that does not keep the lines
/// allocates no string per line.
pub(crate) type LendingSink<'a> = dyn FnMut(LogLine, &Log) -> String + 'a;

/// Reads, cleans and sanitizes a whole log into memory.
pub fn read_log(
    source: &Source,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
) -> Result<Log, ReadError> {
    let mut lines = Vec::new();
    let mut log = stream_log(source, sanitizer, options, &mut |line, _| lines.push(line))?;
    log.lines = lines;
    Ok(log)
}

/// Reads, cleans and sanitizes a log, handing each line to `sink` instead of
/// keeping it: memory stays bounded whatever the log's size. The returned [`Log`]
/// has everything but the lines.
pub fn stream_log(
    source: &Source,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    sink: &mut LineSink<'_>,
) -> Result<Log, ReadError> {
    stream_log_lending(source, sanitizer, options, &mut |line, log| {
        sink(line, log);
        String::new()
    })
}

/// [`stream_log`] with a sink that hands each line's text back.
pub(crate) fn stream_log_lending(
    source: &Source,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    sink: &mut LendingSink<'_>,
) -> Result<Log, ReadError> {
    let name = match source {
        Source::File(p) => p.display().to_string(),
        Source::Stdin => "-".to_string(),
        Source::Bytes(_) => "<memory>".to_string(),
    };
    let io_err = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    let input: Box<dyn BufRead + '_> = match source {
        Source::File(p) => Box::new(BufReader::with_capacity(
            256 * 1024,
            File::open(p).map_err(io_err)?,
        )),
        Source::Stdin => Box::new(BufReader::with_capacity(256 * 1024, io::stdin())),
        Source::Bytes(b) => Box::new(b.as_slice()),
    };
    stream_input(input, &name, sanitizer, options, sink)
}

/// Like [`stream_log`] over bytes in memory, without copying them.
pub fn stream_bytes(
    bytes: &[u8],
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    sink: &mut LineSink<'_>,
) -> Result<Log, ReadError> {
    stream_bytes_lending(bytes, sanitizer, options, &mut |line, log| {
        sink(line, log);
        String::new()
    })
}

/// [`stream_bytes`] with a sink that hands each line's text back.
pub(crate) fn stream_bytes_lending(
    bytes: &[u8],
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    sink: &mut LendingSink<'_>,
) -> Result<Log, ReadError> {
    stream_input(Box::new(bytes), "<memory>", sanitizer, options, sink)
}

fn stream_input(
    mut input: Box<dyn BufRead + '_>,
    name: &str,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    sink: &mut LendingSink<'_>,
) -> Result<Log, ReadError> {
    let io_err = |source| ReadError::Io {
        path: name.to_string(),
        source,
    };
    let head: Vec<u8> = input
        .fill_buf()
        .map_err(io_err)?
        .iter()
        .take(4)
        .copied()
        .collect();
    let mut log = Log::default();
    if head.starts_with(b"PK\x03\x04") {
        // A zip's directory sits at its end, so the archive is held in memory:
        // bounded, since GitHub's log archives are a few MiB.
        let mut bytes = Vec::new();
        input
            .take(MAX_ZIP_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > MAX_ZIP_BYTES {
            return Err(ReadError::BadZip {
                path: name.to_string(),
                message: format!(
                    "archive larger than {} MiB; extract it and analyse the job logs one by one",
                    MAX_ZIP_BYTES >> 20
                ),
            });
        }
        read_zip(name, bytes, sanitizer, &mut log, sink)?;
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::bufread::MultiGzDecoder::new(input);
        let reader = BufReader::with_capacity(256 * 1024, decoder);
        read_stream(reader, String::new(), sanitizer, options, &mut log, sink);
    } else {
        read_stream(input, String::new(), sanitizer, options, &mut log, sink);
    }
    log.sanitize = sanitizer.report().clone();
    Ok(log)
}

/// Reads a log from a path (convenience for [`read_log`] with default options).
pub fn read_path(path: &Path, sanitizer: &mut Sanitizer) -> Result<Log, ReadError> {
    read_log(
        &Source::File(path.to_path_buf()),
        sanitizer,
        &ReadOptions::default(),
    )
}

/// Reads a log from a string (tests, already-fetched text).
pub fn read_str(text: &str, sanitizer: &mut Sanitizer) -> Log {
    let mut log = Log::default();
    let mut lines = Vec::new();
    read_stream(
        text.as_bytes(),
        String::new(),
        sanitizer,
        &ReadOptions::default(),
        &mut log,
        &mut |line, _| {
            lines.push(line);
            String::new()
        },
    );
    log.lines = lines;
    log.sanitize = sanitizer.report().clone();
    log
}

fn read_zip(
    name: &str,
    bytes: Vec<u8>,
    sanitizer: &mut Sanitizer,
    log: &mut Log,
    sink: &mut LendingSink<'_>,
) -> Result<(), ReadError> {
    let bad = |e: zip::result::ZipError| ReadError::BadZip {
        path: name.to_string(),
        message: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(bad)?;
    let mut names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| !n.ends_with('/'))
        .map(|n| n.to_string())
        .collect();
    // GitHub's run archive holds each job's whole log at the top level and the same
    // text again split per step in a folder: prefer the whole logs.
    if names.iter().any(|n| !n.contains('/')) {
        names.retain(|n| !n.contains('/'));
    }
    names.sort_by_key(|a| natural_key(a));
    for entry_name in names {
        let entry = match archive.by_name(&entry_name) {
            Ok(e) => e,
            Err(e) => {
                log.warnings
                    .push(format!("zip entry {entry_name} skipped: {e}"));
                continue;
            }
        };
        let reader = BufReader::with_capacity(64 * 1024, entry);
        read_stream(
            reader,
            entry_name,
            sanitizer,
            &ReadOptions { max_bytes: 0 },
            log,
            sink,
        );
    }
    Ok(())
}

/// Sort key that puts `2_x` before `10_x`.
fn natural_key(s: &str) -> (u64, String) {
    let file = s.rsplit('/').next().unwrap_or(s);
    let digits: String = file.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), s.to_string())
}

fn read_stream<R: BufRead>(
    input: R,
    file_name: String,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    log: &mut Log,
    sink: &mut LendingSink<'_>,
) {
    read_lines(input, file_name, sanitizer, options, log, sink, true);
}

/// [`read_stream`], walking blocks of lines for keywords or (the reference the
/// tests compare with) each line on its own.
fn read_lines<R: BufRead>(
    input: R,
    file_name: String,
    sanitizer: &mut Sanitizer,
    options: &ReadOptions,
    log: &mut Log,
    sink: &mut LendingSink<'_>,
    walk_blocks: bool,
) {
    let file = log.files.len() as u32;
    log.files.push(file_name);
    let mut cleaner = Cleaner::new(file);
    let mut splitter = LineSplitter::new(input, MAX_LINE);
    let mut number = 0u64;
    let mut skipping_tail = false;
    let mut binary_lines = 0u64;
    let walker = sanitizer.block_walker();
    // One piece of a line, with what a block holds for it; false to stop
    // (the byte limit).
    let mut piece = |log: &mut Log,
                     number: &mut u64,
                     text: &str,
                     ends_line: bool,
                     newline: bool,
                     walked: Option<BlockLine<'_>>| {
        log.bytes += text.len() as u64 + u64::from(newline);
        if skipping_tail {
            if ends_line {
                skipping_tail = false;
            }
            return true;
        }
        if !ends_line {
            skipping_tail = true;
            log.truncated_lines += 1;
        }
        *number += 1;
        let bytes = LineBytes::of(text.as_bytes());
        if bytes.has(LineBytes::NUL)
            || (bytes.has(LineBytes::EF) && text.matches('\u{fffd}').count() > 8)
        {
            binary_lines += 1;
        }
        let line = cleaner.push(*number, text, bytes, walked, sanitizer, log);
        cleaner.spare = sink(line, log);
        !(options.max_bytes > 0 && log.bytes >= options.max_bytes)
    };
    let mut block = Block::default();
    loop {
        let mut step = Ok(Some(true));
        if walk_blocks && splitter.offset() >= block.end() {
            let max_piece = splitter.max_piece();
            // A read error is left for the next piece to report.
            if let Ok((start, bytes)) = splitter.lookahead(BLOCK_BYTES) {
                block.walk(walker.dfa(), start, bytes);
                // The block's lines straight from the reader's buffer: no
                // search for the buffer's end or UTF-8 check per line, and the
                // block is checked for UTF-8 at once (then so is every line,
                // as lines end at an ASCII byte). A line the splitter would
                // cut for length, and the rest, are left to it.
                let valid = std::str::from_utf8(bytes).ok();
                let mut done = 0;
                while let Some(nl) = memchr::memchr(b'\n', &bytes[done..]) {
                    if nl >= max_piece {
                        break;
                    }
                    let line = &bytes[done..done + nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let at = start + done as u64;
                    let keep_on = match valid.map(|v| &v[done..done + line.len()]) {
                        Some(text) => {
                            let walked = block.line(at, text);
                            piece(log, &mut number, text, true, true, walked)
                        }
                        None => match std::str::from_utf8(line) {
                            Ok(text) => {
                                let walked = block.line(at, text);
                                piece(log, &mut number, text, true, true, walked)
                            }
                            Err(_) => {
                                let text = String::from_utf8_lossy(line);
                                piece(log, &mut number, &text, true, true, None)
                            }
                        },
                    };
                    done += nl + 1;
                    if !keep_on {
                        step = Ok(Some(false));
                        break;
                    }
                }
                splitter.consume(done);
            }
        }
        if matches!(step, Ok(Some(true))) {
            // Lent, not allocated: the cleaned line is the only copy made.
            step = splitter.with_next_piece_at(|text, ends_line, newline, at| {
                let walked = at.and_then(|at| block.line(at, text));
                piece(log, &mut number, text, ends_line, newline, walked)
            });
        }
        match step {
            Ok(Some(true)) => {}
            Ok(Some(false)) => {
                log.warnings.push(format!(
                    "stopped after {} bytes (limit); the analysis covers the beginning of the log",
                    log.bytes
                ));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                log.warnings.push(format!(
                    "input ended early after line {number} ({e}); the analysis covers what was read"
                ));
                break;
            }
        }
    }
    if binary_lines > 0 {
        log.warnings.push(format!(
            "{binary_lines} lines look binary (NUL bytes or invalid UTF-8); decoded lossily"
        ));
    }
    if log.format.is_none() && number > 0 {
        log.format = Some(CiFormat::Plain);
    }
}

/// Bytes of whole lines walked for keywords at once (see
/// [`crate::keywords::KeywordDfa::walk_block`]): enough that the walk's
/// pieces are long, few enough that the block's bytes are still in the cache
/// when its lines are cleaned and sanitized.
const BLOCK_BYTES: usize = 32 * 1024;

/// The block of lines last walked, and how far its lines have been read.
///
/// The walk is of the block as the cleaner reads it: the lines that hold ESC,
/// BEL or BS (colours, mostly) without them ([`strip_ansi`]), the others as
/// they are. Walking the raw block and the stripped lines apart walked the
/// coloured lines twice (a fifth of the bytes of the benchmark log).
#[derive(Default)]
struct Block {
    /// Where it starts in the input.
    start: u64,
    len: usize,
    /// The block with its lines that hold controls stripped, each still
    /// ending in `\n`: what is walked.
    clean: Vec<u8>,
    walk: BlockWalk,
    /// The first record not yet handed to a line.
    next: usize,
    /// The stripped lines, one after the other and each with a `\n`: the
    /// cleaner takes them from here instead of stripping each anew.
    stripped: String,
    /// For each stripped line: where it starts in the block, where its text
    /// lies in `stripped`, and where it starts in `clean`.
    stripped_lines: Vec<(usize, std::ops::Range<usize>, usize)>,
    next_stripped: usize,
    /// The runs of lines copied as they are: where each starts in the block
    /// and in `clean`, in order.
    runs: Vec<(usize, usize)>,
    next_run: usize,
}

/// What a block holds for one of its lines: the walk of its bytes (`None` for
/// a line whose controls were stripped), and for a line with controls, its
/// text without them and the walk of that.
struct BlockLine<'a> {
    raw: Option<Walked<'a>>,
    stripped: Option<Walked<'a>>,
}

impl Block {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Makes `bytes`, whole lines at `start` in the input, the block: strips
    /// the lines with controls and walks the result.
    fn walk(&mut self, dfa: &crate::keywords::KeywordDfa, start: u64, bytes: &[u8]) {
        self.start = start;
        self.len = bytes.len();
        self.next = 0;
        self.next_stripped = 0;
        self.next_run = 0;
        self.clean.clear();
        self.runs.clear();
        self.stripped_lines.clear();
        // Made as bytes, with no string per line, then checked for UTF-8 once.
        let mut stripped = std::mem::take(&mut self.stripped).into_bytes();
        stripped.clear();
        // Bytes of the block before `copied` are in `clean` already.
        let mut copied = 0;
        let mut from = 0;
        while let Some(found) = memchr::memchr3(0x1b, 0x07, 0x08, &bytes[from..]) {
            let control = from + found;
            let line_start =
                memchr::memrchr(b'\n', &bytes[from..control]).map_or(from, |i| from + i + 1);
            let line_end =
                memchr::memchr(b'\n', &bytes[control..]).map_or(bytes.len(), |i| control + i);
            from = line_end;
            // As the splitter hands the line out: without its CR, and only
            // when it is valid UTF-8 (the others are decoded lossily, and
            // walked as they are).
            let line = &bytes[line_start..line_end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if std::str::from_utf8(line).is_ok() {
                self.runs.push((copied, self.clean.len()));
                self.clean.extend_from_slice(&bytes[copied..line_start]);
                let at = stripped.len();
                strip_controls(line, &mut stripped);
                self.stripped_lines
                    .push((line_start, at..stripped.len(), self.clean.len()));
                self.clean.extend_from_slice(&stripped[at..]);
                self.clean.push(b'\n');
                stripped.push(b'\n');
                copied = (line_end + 1).min(bytes.len());
            }
        }
        self.runs.push((copied, self.clean.len()));
        self.clean.extend_from_slice(&bytes[copied..]);
        match String::from_utf8(stripped) {
            Ok(stripped) => self.stripped = stripped,
            Err(_) => {
                // Cannot happen (whole characters only); the lines are then
                // cleaned and walked one by one.
                self.stripped_lines.clear();
                self.runs.clear();
            }
        }
        dfa.walk_block(&self.clean, &mut self.walk);
    }

    /// What the block holds for `text`, the line at `at` in the input, or
    /// `None` when the block does not hold it. Lines are asked for in order.
    fn line<'a>(&'a mut self, at: u64, text: &'a str) -> Option<BlockLine<'a>> {
        if at < self.start || at + text.len() as u64 > self.end() || self.runs.is_empty() {
            return None;
        }
        let from = (at - self.start) as usize;
        let lines = &self.stripped_lines[self.next_stripped..];
        self.next_stripped += lines.iter().take_while(|(start, ..)| *start < from).count();
        if let Some((start, range, clean_at)) = self.stripped_lines.get(self.next_stripped)
            && *start == from
        {
            self.next_stripped += 1;
            let stripped = Walked {
                text: &self.stripped[range.clone()],
                found: records(
                    &self.walk.found,
                    &mut self.next,
                    *clean_at,
                    clean_at + range.len(),
                ),
                offset: *clean_at,
            };
            return Some(BlockLine {
                raw: None,
                stripped: Some(stripped),
            });
        }
        // A line copied as it is: in the last run that starts at or before it.
        let runs = &self.runs[self.next_run..];
        self.next_run += runs
            .iter()
            .skip(1)
            .take_while(|(start, _)| *start <= from)
            .count();
        let raw = self.runs.get(self.next_run).map(|&(run_start, clean_at)| {
            let offset = clean_at + (from - run_start);
            Walked {
                text,
                found: records(
                    &self.walk.found,
                    &mut self.next,
                    offset,
                    offset + text.len(),
                ),
                offset,
            }
        });
        Some(BlockLine {
            raw,
            stripped: None,
        })
    }
}

/// The records of a walk that end in `(from, to]`, those before `*next` being
/// done with; moves `*next` past them. A few per line: counted, not searched.
fn records<'a>(
    found: &'a [(u32, u32)],
    next: &mut usize,
    from: usize,
    to: usize,
) -> &'a [(u32, u32)] {
    let first = *next
        + found[*next..]
            .iter()
            .take_while(|(end, _)| *end as usize <= from)
            .count();
    let last = first
        + found[first..]
            .iter()
            .take_while(|(end, _)| *end as usize <= to)
            .count();
    *next = last;
    &found[first..last]
}

/// Per-stream cleaning state: open sections and the format seen so far.
struct Cleaner {
    file: u32,
    open: Vec<u32>,
    /// The string the sink handed back, for the next line's text.
    spare: String,
}

impl Cleaner {
    fn new(file: u32) -> Self {
        Cleaner {
            file,
            open: Vec::new(),
            spare: String::new(),
        }
    }

    fn push(
        &mut self,
        number: u64,
        raw: &str,
        bytes: LineBytes,
        block: Option<BlockLine<'_>>,
        sanitizer: &mut Sanitizer,
        log: &mut Log,
    ) -> LogLine {
        // What `raw` lacks, every text cut from it lacks: each step below only
        // removes or slices. A block's walk of the line, or of the line
        // without its controls, serves the sanitizer for what is left.
        let (mut text, walked) = match block {
            Some(BlockLine {
                stripped: Some(stripped),
                ..
            }) if bytes.has(LineBytes::CONTROL) => {
                (std::borrow::Cow::Borrowed(stripped.text), Some(stripped))
            }
            _ if bytes.has(LineBytes::CONTROL | LineBytes::NUL) => (strip_ansi(raw), None),
            block => (std::borrow::Cow::Borrowed(raw), block.and_then(|b| b.raw)),
        };
        // GitLab section markers end with `\r\x1b[0K`; read them before CR handling.
        let mut gitlab_markers = Vec::new();
        if bytes.has(LineBytes::UNDERSCORE) && has_marker(&text, "section_") {
            text = take_gitlab_sections(&text, &mut gitlab_markers).into();
            if !gitlab_markers.is_empty() {
                log.format.get_or_insert(CiFormat::Gitlab);
            }
        }
        let mut travis_markers = Vec::new();
        if bytes.has(LineBytes::UNDERSCORE) && has_marker(&text, "travis_") {
            text = take_travis_markers(&text, &mut travis_markers).into();
            if !travis_markers.is_empty() {
                log.format.get_or_insert(CiFormat::Travis);
            }
        }
        let text = if bytes.has(LineBytes::CR) {
            last_cr_frame(&text)
        } else {
            &text
        };
        let (text, had_ts) = strip_timestamp(text);
        if had_ts && log.format.is_none() {
            log.format = Some(CiFormat::GithubActions);
        }
        let mut kind = LineKind::Output;
        let mut body: &str = text;
        let mut section_name: Option<String> = None;
        let mut closes = false;

        for m in travis_markers {
            if let Some(name) = m.strip_prefix("travis_fold:start:") {
                section_name = Some(name.to_string());
            } else if m.starts_with("travis_fold:end:") {
                closes = true;
            }
        }
        for m in gitlab_markers {
            match m {
                GitlabMarker::Start(name) => section_name = Some(name),
                GitlabMarker::End => closes = true,
            }
        }
        if let Some(rest) = body.strip_prefix("##[") {
            if let Some((tag, msg)) = rest.split_once(']') {
                log.format.get_or_insert(CiFormat::GithubActions);
                match tag {
                    "group" => {
                        kind = LineKind::SectionStart;
                        section_name = Some(msg.to_string());
                    }
                    "endgroup" => {
                        kind = LineKind::SectionEnd;
                        closes = true;
                    }
                    "error" => kind = LineKind::CiError,
                    "warning" => kind = LineKind::CiWarning,
                    "command" => kind = LineKind::Command,
                    _ => {}
                }
                body = msg;
            }
        } else if let Some(rest) = body.strip_prefix("::error") {
            kind = LineKind::CiError;
            body = rest.split_once("::").map(|(_, m)| m).unwrap_or(rest);
        } else if let Some(name) = buildkite_header(body) {
            log.format.get_or_insert(CiFormat::Buildkite);
            kind = LineKind::SectionStart;
            closes = !self.open.is_empty();
            section_name = Some(name.to_string());
            body = name;
        } else if let Some(rest) = body.strip_prefix("[Pipeline] ") {
            // Jenkins declarative pipelines: `{ (Stage)` opens a stage,
            // `// stage` closes it; other braces are steps inside it.
            log.format.get_or_insert(CiFormat::Jenkins);
            if let Some(name) = rest.strip_prefix("{ (").and_then(|r| r.strip_suffix(')')) {
                kind = LineKind::SectionStart;
                section_name = Some(name.to_string());
            } else if rest == "// stage" {
                kind = LineKind::SectionEnd;
                closes = true;
            }
        } else if log.format.is_none() && body.starts_with("Started by ") {
            log.format = Some(CiFormat::Jenkins);
        }
        if let Some(rest) = body.strip_prefix("[command]") {
            kind = LineKind::Command;
            body = rest;
        }
        if body.starts_with("$ ") && kind == LineKind::Output {
            kind = LineKind::Command;
        }
        if closes {
            if let Some(idx) = self.open.pop() {
                log.sections[idx as usize].end = Some(number);
            }
            if kind == LineKind::Output && section_name.is_none() && body.trim().is_empty() {
                kind = LineKind::SectionEnd;
            }
        }
        if let Some(name) = section_name {
            let clean_name = sanitizer.sanitize_fragment(&name);
            log.sections.push(Section {
                name: clean_name,
                start: number,
                end: None,
            });
            self.open.push(log.sections.len() as u32 - 1);
            if kind == LineKind::Output {
                kind = LineKind::SectionStart;
            }
        }
        // Into the string the sink handed back, unless the sanitizer made a
        // new one.
        let clean = match sanitizer.sanitize_line_with(
            body,
            bytes.has(LineBytes::AT),
            walked.and_then(|w| w.narrowed(body)),
        ) {
            std::borrow::Cow::Borrowed(text) => {
                let mut buffer = std::mem::take(&mut self.spare);
                buffer.clear();
                buffer.push_str(text);
                buffer
            }
            std::borrow::Cow::Owned(text) => text,
        };
        LogLine {
            number,
            text: clean,
            kind,
            section: self.open.last().copied(),
            file: self.file,
            gate: sanitizer.gate_words_of_last_line(),
        }
    }
}

enum GitlabMarker {
    Start(String),
    End,
}

/// Which of the bytes that cleaning and sanitizing look for a raw line holds,
/// found in one pass: a dozen separate searches of every line (memchr for NUL,
/// ESC, `_`, CR, `@`, …) cost more than the pass, as lines are short.
#[derive(Debug, Clone, Copy)]
struct LineBytes(u8);

impl LineBytes {
    const NUL: u8 = 1;
    /// 0xEF, which starts U+FFFD, the mark of lossy decoding.
    const EF: u8 = 2;
    /// ESC, BEL or BS: what [`strip_ansi`] looks for besides NUL.
    const CONTROL: u8 = 4;
    const UNDERSCORE: u8 = 8;
    const CR: u8 = 16;
    const AT: u8 = 32;

    fn of(b: &[u8]) -> LineBytes {
        // Compares and ORs only, over fixed-size chunks, so that the compiler
        // turns the loop into vector instructions.
        let flags = |c: u8| {
            u8::from(c == 0)
                | u8::from(c == 0xEF) << 1
                | u8::from(c == 0x1b || c == 0x07 || c == 0x08) << 2
                | u8::from(c == b'_') << 3
                | u8::from(c == b'\r') << 4
                | u8::from(c == b'@') << 5
        };
        let mut found = 0u8;
        let mut chunks = b.chunks_exact(32);
        for chunk in &mut chunks {
            let mut m = 0u8;
            for &c in chunk {
                m |= flags(c);
            }
            found |= m;
        }
        for &c in chunks.remainder() {
            found |= flags(c);
        }
        LineBytes(found)
    }

    /// Whether the line holds any of `bytes`.
    fn has(self, bytes: u8) -> bool {
        self.0 & bytes != 0
    }
}

/// Whether `text` contains `marker` (ASCII, ending in `_`): memchr on its last
/// byte, which is rare in logs, instead of a generic substring search on every
/// line.
fn has_marker(text: &str, marker: &str) -> bool {
    let (b, m) = (text.as_bytes(), marker.as_bytes());
    memchr::memchr_iter(m[m.len() - 1], b).any(|i| i + 1 >= m.len() && b[..=i].ends_with(m))
}

/// Removes `section_start:<ts>:<name>[opts]` / `section_end:<ts>:<name>` markers.
fn take_gitlab_sections(text: &str, markers: &mut Vec<GitlabMarker>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let start = rest.find("section_start:");
        let end = rest.find("section_end:");
        let (pos, is_start) = match (start, end) {
            (Some(s), Some(e)) if e < s => (e, false),
            (Some(s), _) => (s, true),
            (None, Some(e)) => (e, false),
            (None, None) => break,
        };
        let tag_len = if is_start { 14 } else { 12 };
        let after = &rest[pos + tag_len..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || after.as_bytes().get(digits) != Some(&b':') {
            out.push_str(&rest[..pos + tag_len]);
            rest = after;
            continue;
        }
        let name_part = &after[digits + 1..];
        let name_len = name_part
            .find(|c: char| c == '\r' || c == '[' || c.is_whitespace())
            .unwrap_or(name_part.len());
        let mut consumed = name_len;
        if name_part[name_len..].starts_with('[') {
            consumed += name_part[name_len..].find(']').map(|p| p + 1).unwrap_or(0);
        }
        out.push_str(&rest[..pos]);
        markers.push(if is_start {
            GitlabMarker::Start(name_part[..name_len].to_string())
        } else {
            GitlabMarker::End
        });
        rest = &name_part[consumed..];
    }
    out.push_str(rest);
    out
}

/// Removes `travis_fold:…` and `travis_time:…` markers (each ends at a CR).
fn take_travis_markers(text: &str, markers: &mut Vec<String>) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split('\r') {
        let t = segment.trim_start();
        if t.starts_with("travis_fold:") || t.starts_with("travis_time:") {
            let end = t.find(char::is_whitespace).unwrap_or(t.len());
            markers.push(t[..end].to_string());
            let rest = t[end..].trim_start();
            if !rest.is_empty() {
                kept.push(rest);
            }
        } else {
            kept.push(segment);
        }
    }
    kept.join("\r")
}

fn buildkite_header(body: &str) -> Option<&str> {
    for p in ["--- ", "+++ ", "~~~ "] {
        if let Some(name) = body.strip_prefix(p) {
            let name = name.trim();
            // Nor is Go's `--- FAIL: TestX` or a diff header (`--- a/src/x.rs`).
            let not_a_header = [
                "a/", "b/", "/", "FAIL:", "PASS:", "SKIP:", "expected", "actual",
            ];
            if name.is_empty() || not_a_header.iter().any(|p| name.starts_with(p)) {
                return None;
            }
            return Some(name);
        }
    }
    None
}

/// Removes ANSI escape sequences (CSI, OSC, Buildkite's `ESC _bk;t=…BEL` APC) and
/// other C0 controls except tab and CR.
pub fn strip_ansi(s: &str) -> std::borrow::Cow<'_, str> {
    // The controls that logs carry: ESC (colours, cursor moves, Buildkite's
    // timestamps), BEL, BS and NUL. Checked with memchr because every line comes
    // through here; rarer controls are removed whenever one of these is present.
    let b = s.as_bytes();
    if memchr::memchr3(0x1b, 0x07, 0x08, b).is_none() && memchr::memchr(0, b).is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    strip_controls(b, &mut out);
    // Only whole characters were copied or dropped.
    std::borrow::Cow::Owned(String::from_utf8(out).expect("whole UTF-8 characters"))
}

/// Appends `b` (UTF-8) to `out` without ANSI escape sequences and C0 controls
/// but tab and CR: what [`strip_ansi`] makes of a line that has any, whole
/// characters only.
fn strip_controls(b: &[u8], out: &mut Vec<u8>) {
    // Byte by byte (the char walk cost a third of the reading): every byte that
    // decides something is ASCII, and the C1 controls (U+0080–U+009F) are the
    // two-byte sequences C2 80–C2 9F.
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == 0x1b {
            i += 1;
            match b.get(i) {
                Some(b'[') => {
                    // Parameters and intermediates, then one final byte 0x40–0x7e
                    // (a multi-byte character in between is skipped whole, as
                    // its bytes are all 0x80 or above).
                    i += 1;
                    while i < b.len() {
                        let f = b[i];
                        i += 1;
                        if (0x40..=0x7e).contains(&f) {
                            break;
                        }
                    }
                }
                Some(b']' | b'_' | b'P' | b'^') => {
                    // String until BEL or ESC \.
                    i += 1;
                    while i < b.len() {
                        let f = b[i];
                        i += 1;
                        if f == 0x07 {
                            break;
                        }
                        if f == 0x1b {
                            if b.get(i) == Some(&b'\\') {
                                i += 1;
                            }
                            break;
                        }
                    }
                }
                // Any other character after ESC is dropped with it, whole.
                Some(&n) => i += utf8_len(n),
                None => {}
            }
        } else if keeps(c) {
            // A run of ordinary bytes (whole characters: it stops only at ASCII
            // or at a C2 lead byte) is copied at once.
            let run = b[i..]
                .iter()
                .position(|&n| !keeps(n))
                .unwrap_or(b.len() - i);
            out.extend_from_slice(&b[i..i + run]);
            i += run;
        } else if c < 0x80 {
            // Another C0 control, or DEL.
            i += 1;
        } else if c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) {
            i += 2;
        } else {
            let n = utf8_len(c).min(b.len() - i);
            out.extend_from_slice(&b[i..i + n]);
            i += n;
        }
    }
}

/// Whether `strip_ansi` copies byte `c` as it is: everything but ESC, C0
/// controls other than tab and CR, DEL, and the lead byte C2 (which may start a
/// C1 control).
fn keeps(c: u8) -> bool {
    (c >= 0x20 && c != 0x7f && c != 0xc2) || c == b'\t' || c == b'\r'
}

/// Length of the UTF-8 sequence a lead byte starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// A line redrawn with carriage returns shows only its last frame.
fn last_cr_frame(s: &str) -> &str {
    if !s.contains('\r') {
        return s;
    }
    s.rsplit('\r').find(|f| !f.trim().is_empty()).unwrap_or("")
}

/// Strips a leading ISO-8601 timestamp (`2024-05-01T12:00:00.1234567Z `) as GitHub
/// prints before every line.
fn strip_timestamp(s: &str) -> (&str, bool) {
    let b = s.as_bytes();
    if b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && let Some(sp) = b[..b.len().min(40)].iter().position(|&c| c == b' ')
        && (s[..sp].ends_with('Z') || s[..sp].contains('+'))
    {
        return (&s[sp + 1..], true);
    }
    (s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walking blocks of lines hands the sanitizer and the triage what walking
    /// each line finds: the same lines, redactions and gate words, with CI
    /// markup, colours, CRs, invalid UTF-8 and secrets in the lines, and
    /// whatever the reader's buffer size (lines across refills are walked on
    /// their own), with lines longer than [`MAX_LINE`] and a byte limit.
    #[test]
    fn block_walks_find_what_line_walks_find() {
        let pieces = [
            "2024-05-01T10:00:00.0000000Z ",
            "##[error]",
            "##[group]Run ",
            "\x1b[1;31m",
            "\x1b[0m",
            "error",
            "Error: ",
            "FAILED",
            " at ",
            "token=ghp_q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd",
            "AKIAQ4ZR2LMXSVT7BN4K",
            "password",
            "10.1.2.3",
            "203.0.113.9",
            "ci@example.com",
            "50%\rdone ",
            "section_start:1700000000:build\r\x1b[0K",
            "\u{1}",
            "warning",
            "npm ERR!",
            " ",
            "word",
            "\n",
            "x",
            "Traceback",
        ];
        // Batches of a few lines from many seeds: a generator whose line comes
        // out empty keeps its seed, and every later line of it is empty too.
        let lines: Vec<String> = (0..600u32)
            .flat_map(|i| crate::random_lines::random_lines(&pieces, 5, 30, 0x2545_f491 ^ i))
            .enumerate()
            .map(|(i, line)| match i % 100 {
                // Longer than MAX_LINE, with a secret at its end.
                7 => format!(
                    "{line}{}ghp_q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd",
                    "y ".repeat(9000)
                ),
                _ => line,
            })
            .collect();
        // Some lines invalid UTF-8: each U+0001 becomes a lone 0xFF byte.
        let bytes: Vec<u8> = lines
            .join("\n")
            .bytes()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect();
        let read = |capacity: usize, walk_blocks: bool, max_bytes: u64| {
            let mut sanitizer = Sanitizer::default();
            sanitizer.find_gate_words(true);
            let mut log = Log::default();
            let mut lines = Vec::new();
            read_lines(
                std::io::BufReader::with_capacity(capacity, bytes.as_slice()),
                String::new(),
                &mut sanitizer,
                &ReadOptions { max_bytes },
                &mut log,
                &mut |line, _| {
                    lines.push(line);
                    String::new()
                },
                walk_blocks,
            );
            let gates: Vec<Option<WordSet>> = lines.iter().map(|l| l.gate).collect();
            let log = (log.sections, log.bytes, log.truncated_lines, log.warnings);
            (lines, gates, sanitizer.report().clone(), log)
        };
        for max_bytes in [0, 500_000] {
            let reference = read(1 << 20, false, max_bytes);
            assert!(reference.2.redactions > 100, "{:?}", reference.2);
            assert!(reference.3.2 > 5, "lines over MAX_LINE: {}", reference.3.2);
            for capacity in [1 << 20, 64 * 1024, 4096, 100] {
                let blocks = read(capacity, true, max_bytes);
                assert!(
                    blocks == reference,
                    "capacity {capacity}, limit {max_bytes}"
                );
            }
        }
    }

    fn read(text: &str) -> Log {
        read_str(text, &mut Sanitizer::default())
    }

    #[test]
    fn github_actions_groups_errors_and_timestamps() {
        let log = read(
            "2024-05-01T10:00:00.0000000Z ##[group]Run cargo test\n\
             2024-05-01T10:00:01.0000000Z \x1b[1;31merror\x1b[0m: boom\n\
             2024-05-01T10:00:02.0000000Z ##[endgroup]\n\
             2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n",
        );
        assert_eq!(log.format, Some(CiFormat::GithubActions));
        assert_eq!(log.lines[1].text, "error: boom");
        assert_eq!(log.lines[1].section, Some(0));
        assert_eq!(log.sections[0].name, "Run cargo test");
        assert_eq!(log.sections[0].end, Some(3));
        assert_eq!(log.lines[3].kind, LineKind::CiError);
        assert_eq!(log.lines[3].text, "Process completed with exit code 101.");
        assert_eq!(log.lines[3].number, 4);
    }

    #[test]
    fn gitlab_sections() {
        let log = read(
            "\x1b[0Ksection_start:1700000000:step_script\r\x1b[0K\x1b[0K\x1b[36;1mExecuting \"step_script\"\x1b[0;m\n\
             $ make test\n\
             make: *** [test] Error 1\n\
             section_end:1700000009:step_script\r\x1b[0K\n",
        );
        assert_eq!(log.format, Some(CiFormat::Gitlab));
        assert_eq!(log.sections[0].name, "step_script");
        assert_eq!(log.sections[0].end, Some(4));
        assert_eq!(log.lines[0].text, "Executing \"step_script\"");
        assert_eq!(log.lines[1].kind, LineKind::Command);
    }

    #[test]
    fn buildkite_headers_and_timestamps() {
        let log = read(
            "\x1b_bk;t=1700000000000\x07~~~ Preparing\n\
             \x1b_bk;t=1700000000100\x07--- :rust: Test\n\
             \x1b_bk;t=1700000000200\x07test failed\n",
        );
        assert_eq!(log.format, Some(CiFormat::Buildkite));
        assert_eq!(log.sections.len(), 2);
        assert_eq!(log.sections[0].end, Some(2));
        assert_eq!(log.lines[2].text, "test failed");
        assert_eq!(log.lines[2].section, Some(1));
    }

    #[test]
    fn travis_folds_and_progress_bars() {
        let log = read(
            "travis_fold:start:install\r\x1b[0Ktravis_time:start:0a1b\r\x1b[0K$ npm ci\n\
             10%\r50%\r100% done\n\
             travis_fold:end:install\r\x1b[0K\n",
        );
        assert_eq!(log.format, Some(CiFormat::Travis));
        assert_eq!(log.sections[0].name, "install");
        assert_eq!(log.lines[1].text, "100% done");
    }

    #[test]
    fn jenkins_stages() {
        let log = read(
            "Started by user admin\n[Pipeline] stage\n[Pipeline] { (Build)\n[Pipeline] sh\n+ make\nmake: *** [all] Error 2\n[Pipeline] }\n[Pipeline] // stage\nFinished: FAILURE\n",
        );
        assert_eq!(log.format, Some(CiFormat::Jenkins));
        assert_eq!(log.sections[0].name, "Build");
        assert_eq!(log.sections[0].end, Some(8));
        assert_eq!(log.lines[5].section, Some(0));
        assert_eq!(log.lines[8].section, None);
    }

    #[test]
    fn gzip_and_zip_inputs() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello\nworld\n").unwrap();
        let bytes = gz.finish().unwrap();
        let log = read_log(
            &Source::Bytes(bytes.clone()),
            &mut Sanitizer::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(log.lines.len(), 2);
        // Truncated gzip: best effort with a warning, no panic.
        let cut = bytes[..bytes.len() - 6].to_vec();
        let log = read_log(
            &Source::Bytes(cut),
            &mut Sanitizer::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert!(!log.warnings.is_empty());

        let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        zw.start_file("build/2_Test.txt", opts).unwrap();
        zw.write_all(b"step log\n").unwrap();
        zw.start_file("10_lint.txt", opts).unwrap();
        zw.write_all(b"lint a\n").unwrap();
        zw.start_file("2_build.txt", opts).unwrap();
        zw.write_all(b"build a\nbuild b\n").unwrap();
        let zip_bytes = zw.finish().unwrap().into_inner();
        let log = read_log(
            &Source::Bytes(zip_bytes),
            &mut Sanitizer::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(log.files, ["2_build.txt", "10_lint.txt"]);
        assert_eq!(log.lines.len(), 3);
        assert_eq!(log.lines[2].number, 1);
        assert_eq!(log.lines[2].file, 1);
    }

    #[test]
    fn secrets_are_gone_before_lines_are_kept() {
        let log = read(
            "2024-05-01T10:00:00.0000000Z export TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        );
        assert!(!log.text().contains("ghp_abc"));
        assert_eq!(log.sanitize.redactions, 1);
    }

    #[test]
    fn timestamp_like_prefix_with_multibyte_text_does_not_panic() {
        let log = read("2024-01-01T00:00:00ééééééééééééééééééééé\n2024-01-01T00:00:00.0Z ✓ ok\n");
        assert_eq!(log.lines[1].text, "✓ ok");
    }

    /// The byte walk removes exactly what the char walk it replaced removed.
    #[test]
    fn strip_ansi_agrees_with_a_char_walk() {
        fn by_chars(s: &str) -> String {
            let mut out = String::new();
            let mut chars = s.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    match chars.peek().copied() {
                        Some('[') => {
                            chars.next();
                            for c in chars.by_ref() {
                                if ('\u{40}'..='\u{7e}').contains(&c) {
                                    break;
                                }
                            }
                        }
                        Some(']') | Some('_') | Some('P') | Some('^') => {
                            chars.next();
                            while let Some(c) = chars.next() {
                                if c == '\u{7}' {
                                    break;
                                }
                                if c == '\u{1b}' {
                                    if chars.peek() == Some(&'\\') {
                                        chars.next();
                                    }
                                    break;
                                }
                            }
                        }
                        Some(_) => {
                            chars.next();
                        }
                        None => {}
                    }
                } else if c == '\t' || c == '\r' || !c.is_control() {
                    out.push(c);
                }
            }
            out
        }
        let pieces = [
            "\x1b[1;31m",
            "\x1b[0m",
            "\x1b]8;;http://x\x07",
            "\x1b_bk;t=1\x07",
            "\x1b\\",
            "\x1b",
            "\x1bé",
            "\x1b[é1m",
            "\x1b]é\x1b\\",
            "\u{85}",
            "\u{9f}",
            "\u{a0}",
            "é",
            "✓",
            "🚨",
            "\x07",
            "\x08",
            "\0",
            "\x7f",
            "\t",
            "\r",
            "a",
            "[",
            "m",
            "\\",
            " ",
        ];
        for s in crate::random_lines::random_lines(&pieces, 5000, 12, 0x2545_f491) {
            assert_eq!(strip_ansi(&s), by_chars(&s), "{s:?}");
        }
    }

    /// The one-pass summary says what separate searches say, in chunks and
    /// in the tail after them.
    #[test]
    fn line_bytes_agree_with_searches() {
        let pieces = [
            "plain text ",
            "\0",
            "\u{fffd}",
            "\x1b[0m",
            "\x07",
            "\x08",
            "snake_case",
            "\r",
            "a@b",
        ];
        for line in crate::random_lines::random_lines(&pieces, 2000, 12, 0x9e37_79b9) {
            let line = line.as_bytes();
            let bytes = LineBytes::of(line);
            let holds = |set: &[u8]| line.iter().any(|b| set.contains(b));
            assert_eq!(bytes.has(LineBytes::NUL), holds(&[0]));
            assert_eq!(bytes.has(LineBytes::EF), holds(&[0xef]));
            assert_eq!(bytes.has(LineBytes::CONTROL), holds(&[0x1b, 0x07, 0x08]));
            assert_eq!(bytes.has(LineBytes::UNDERSCORE), holds(b"_"));
            assert_eq!(bytes.has(LineBytes::CR), holds(b"\r"));
            assert_eq!(bytes.has(LineBytes::AT), holds(b"@"));
        }
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        let bytes: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let log = read_log(
            &Source::Bytes(bytes),
            &mut Sanitizer::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert!(!log.warnings.is_empty());
    }
}
