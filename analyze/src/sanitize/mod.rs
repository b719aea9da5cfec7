//! The sanitizer: removes secrets from text before Medic stores, prints, sends or
//! posts it.
//!
//! Every path that lets log text leave the process goes through here, so it has to
//! be cheap on ordinary lines and safe on hostile ones:
//! - one Aho-Corasick automaton over the rules' keywords decides which rules can
//!   match a line; a rule whose keywords are absent costs nothing, so adding rules
//!   does not slow down ordinary lines. A rule's regex is compiled the first time
//!   one of its keywords is seen;
//! - text is processed line by line with bounded memory; the only state across
//!   lines is whether we are inside a multi-line private key block;
//! - the output is idempotent: a redaction marker never matches again, and e-mail
//!   and IP masks are shaped so that their own patterns no longer match them;
//! - the report counts redactions per rule and never holds a value.

pub mod rules;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, OnceLock};

use crate::keywords::{KeywordDfa, Walked, Word, WordSet};
use crate::literals::Lit;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::lines::LineSplitter;
use rules::{RuleSpec, Validator};

/// The text that replaces a secret: `[REDACTED:<rule id>]`.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// How e-mail addresses or IP addresses are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskMode {
    /// Leave them as they are.
    Keep,
    /// Keep enough to be useful: `j***@example.com`, `203.0.x.x`.
    #[default]
    Partial,
    /// Replace them with a redaction marker.
    Full,
}

/// A user-defined secret pattern, from configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Identifier shown in reports and markers (e.g. `acme-license`).
    pub id: String,
    /// Regular expression; the first capturing group is the secret if there is one.
    pub pattern: String,
    /// Literals that occur in every match (any case). Without keywords the pattern
    /// runs on every line.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Minimum Shannon entropy of the secret (bits per byte); 0 disables.
    #[serde(default)]
    pub min_entropy: f32,
}

/// Sanitizer settings as written in configuration (`sanitize:` section).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanitizeConfig {
    /// How to mask e-mail addresses (default: partial).
    #[serde(default)]
    pub email: MaskMode,
    /// How to mask public IP addresses (default: partial; private ones are kept).
    #[serde(default)]
    pub ip: MaskMode,
    /// Extra secret patterns.
    #[serde(default)]
    pub patterns: Vec<CustomPattern>,
    /// Regular expressions for values that must never be redacted (matched against
    /// the would-be secret, e.g. a known test token).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Errors building a sanitizer from configuration.
#[derive(Debug, thiserror::Error)]
pub enum SanitizeError {
    /// A custom pattern or allow-list entry is not a valid regular expression.
    #[error("sanitize: {what} `{id}` is not a valid regular expression: {message}")]
    BadPattern {
        /// `pattern` or `allow`.
        what: &'static str,
        /// The pattern's id, or the allow entry itself.
        id: String,
        /// The regex engine's message.
        message: String,
    },
    /// Two patterns share an id.
    #[error("sanitize: pattern id `{0}` is used twice")]
    DuplicateId(String),
}

/// What the sanitizer did, without any value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitizeReport {
    /// Lines seen.
    pub lines: u64,
    /// Lines that had at least one redaction or mask.
    pub lines_changed: u64,
    /// Total redactions and masks.
    pub redactions: u64,
    /// Redactions per rule id (`email` and `ip` for masks).
    pub by_type: BTreeMap<String, u64>,
}

impl SanitizeReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: &SanitizeReport) {
        self.lines += other.lines;
        self.lines_changed += other.lines_changed;
        self.redactions += other.redactions;
        for (k, v) in &other.by_type {
            *self.by_type.entry(k.clone()).or_default() += v;
        }
    }
}

struct CompiledRule {
    spec: RuleSpec,
    regex: OnceLock<Option<regex::bytes::Regex>>,
}

impl CompiledRule {
    /// The rule's regex, compiled on first use. Built-in rules are compiled with
    /// ASCII classes (`\w`, `\d`, `\s`, `\b`, case folding) on bytes: the secrets
    /// they describe are ASCII, and Unicode classes under bounded repetitions
    /// (`[\w.-]{0,25}`) made each compiled rule several MiB, most of the
    /// sanitizer's memory. Custom patterns keep the Unicode meaning their authors
    /// wrote them with.
    fn regex(&self) -> Option<&regex::bytes::Regex> {
        self.regex
            .get_or_init(|| {
                regex::bytes::RegexBuilder::new(&self.spec.pattern)
                    .unicode(!self.spec.ascii)
                    .size_limit(1 << 23)
                    .dfa_size_limit(1 << 23)
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

/// The compiled rule set: immutable and shared between sanitizers.
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Every keyword, lower-cased, in one automaton matched in any case: one
    /// walk over a line finds them all.
    prefilter: KeywordDfa,
    /// The same words followed by the triage gate's, for a sanitizer whose
    /// lines the triage reads next: one walk serves both (see
    /// [`crate::triage::gate_words`]). Built on first use, so that sanitizing
    /// alone pays neither its size nor the triage's tables.
    with_gate: OnceLock<KeywordDfa>,
    /// The sanitizer's own words, whose indices come first in both automata.
    words: Vec<String>,
    /// For each of the sanitizer's own words, what finding it enables.
    keywords: Vec<Keyword>,
    /// Rules without keywords (custom ones only): run on every line.
    always: Vec<u32>,
    allow: Vec<Regex>,
    private_key_rule: Option<u32>,
}

/// What one keyword of the prefilter enables.
#[derive(Debug, Default)]
struct Keyword {
    /// Its length in bytes.
    len: usize,
    /// Rules enabled in any case.
    rules: Vec<u32>,
    /// Rules enabled only by one exact spelling (`SK`, not `sk`).
    exact: Vec<(String, Vec<u32>)>,
}

impl Keyword {
    /// How the walk looks for this keyword, `lower` (its lower-case form): as
    /// spelt when its one spelling is all its rules ask for, so that the
    /// walk can leave a short one (`AC`) to its exact search; in any case
    /// otherwise, and the spellings are told apart where it is found.
    fn dfa_word<'a>(&'a self, lower: &'a str) -> Word<'a> {
        match self.exact.as_slice() {
            [(spelling, _)] if self.rules.is_empty() => Word {
                bytes: spelling.as_bytes(),
                any_case: false,
                bound_start: false,
                bound_end: false,
            },
            _ => Word::anywhere(lower.as_bytes()),
        }
    }
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl RuleSet {
    /// Builds a rule set from the built-in rules plus configuration.
    pub fn new(config: &SanitizeConfig) -> Result<RuleSet, SanitizeError> {
        let mut specs = rules::builtin();
        for custom in &config.patterns {
            RegexBuilder::new(&custom.pattern)
                .size_limit(1 << 23)
                .build()
                .map_err(|e| SanitizeError::BadPattern {
                    what: "pattern",
                    id: custom.id.clone(),
                    message: e.to_string(),
                })?;
            if specs.iter().any(|s| s.id == custom.id) {
                return Err(SanitizeError::DuplicateId(custom.id.clone()));
            }
            specs.push(RuleSpec {
                id: custom.id.clone(),
                keywords: custom
                    .keywords
                    .iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| k.to_ascii_lowercase())
                    .collect(),
                pattern: custom.pattern.clone(),
                min_entropy: custom.min_entropy,
                validate: Validator::None,
                exact_case: false,
                precheck: rules::Precheck::None,
                ascii: false,
            });
        }
        let allow = config
            .allow
            .iter()
            .map(|a| {
                Regex::new(a).map_err(|e| SanitizeError::BadPattern {
                    what: "allow",
                    id: a.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleSet::from_specs(specs, allow))
    }

    /// The built-in rules with default settings, built once per process.
    pub fn builtin() -> Arc<RuleSet> {
        static BUILTIN: OnceLock<Arc<RuleSet>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Arc::new(RuleSet::from_specs(rules::builtin(), Vec::new())))
            .clone()
    }

    fn from_specs(specs: Vec<RuleSpec>, allow: Vec<Regex>) -> RuleSet {
        let mut words: Vec<String> = Vec::new();
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut always = Vec::new();
        let mut private_key_rule = None;
        for (i, spec) in specs.iter().enumerate() {
            let i = i as u32;
            if spec.id == "private-key" {
                private_key_rule = Some(i);
            }
            if spec.keywords.is_empty() {
                always.push(i);
            }
            for k in &spec.keywords {
                let lower = k.to_ascii_lowercase();
                let p = match words.iter().position(|w| *w == lower) {
                    Some(p) => p,
                    None => {
                        keywords.push(Keyword {
                            len: lower.len(),
                            ..Keyword::default()
                        });
                        words.push(lower);
                        words.len() - 1
                    }
                };
                let rules = if spec.exact_case {
                    let spellings = &mut keywords[p].exact;
                    match spellings
                        .iter()
                        .position(|(w, _)| w.as_bytes() == k.as_bytes())
                    {
                        Some(e) => &mut spellings[e].1,
                        None => {
                            spellings.push((k.clone(), Vec::new()));
                            &mut spellings.last_mut().expect("just pushed").1
                        }
                    }
                } else {
                    &mut keywords[p].rules
                };
                if !rules.contains(&i) {
                    rules.push(i);
                }
            }
        }
        // One walk per line finds every keyword (a short one must not hide a
        // longer one). The case-sensitive prefixes (`AKIA`, `SK`) are in it too,
        // lower-cased, and their case is checked where they are found: a second,
        // case-sensitive scan of every line cost almost as much as the first.
        let prefilter = KeywordDfa::new(
            &words
                .iter()
                .zip(&keywords)
                .map(|(w, k)| k.dfa_word(w))
                .collect::<Vec<_>>(),
        );
        RuleSet {
            with_gate: OnceLock::new(),
            words,
            rules: specs
                .into_iter()
                .map(|spec| CompiledRule {
                    spec,
                    regex: OnceLock::new(),
                })
                .collect(),
            prefilter,
            keywords,
            always,
            allow,
            private_key_rule,
        }
    }

    /// The prefilter with the triage gate's words after the sanitizer's.
    fn with_gate(&self) -> &KeywordDfa {
        self.with_gate.get_or_init(|| {
            KeywordDfa::new(
                &self
                    .words
                    .iter()
                    .zip(&self.keywords)
                    .map(|(w, k)| k.dfa_word(w))
                    .chain(crate::triage::gate_words().iter().map(Lit::as_word))
                    .collect::<Vec<_>>(),
            )
        })
    }

    /// The automaton that a sanitizer walks its lines with: with the triage
    /// gate's words or without.
    fn dfa(&self, gate_words: bool) -> &KeywordDfa {
        if gate_words {
            self.with_gate()
        } else {
            &self.prefilter
        }
    }

    /// Calls `hit` with each rule that a keyword in `line` enables (a rule may
    /// come more than once); with `gate`, walks the triage gate's words too and
    /// adds those found to it. With `walked`, the line is not walked: a walk
    /// of the block of lines that holds it (see [`Sanitizer::block_walker`])
    /// recorded what the walk finds.
    fn keyword_hits(
        &self,
        line: &str,
        gate: Option<&mut WordSet>,
        walked: Option<Walked<'_>>,
        mut hit: impl FnMut(u32),
    ) {
        let own = self.words.len() as u32;
        let dfa = self.dfa(gate.is_some());
        let gate = match gate {
            Some(g) => g,
            None => &mut WordSet::default(),
        };
        let found = |w: u32, end: usize| {
            if w >= own {
                gate.insert(w - own);
                return;
            }
            let keyword = &self.keywords[w as usize];
            for &r in &keyword.rules {
                hit(r);
            }
            let found = &line.as_bytes()[end - keyword.len..end];
            for (spelling, rules) in &keyword.exact {
                if spelling.as_bytes() == found {
                    for &r in rules {
                        hit(r);
                    }
                }
            }
        };
        match walked {
            Some(w) => dfa.scan_walked(line.as_bytes(), w.found, w.offset, found),
            None => dfa.scan(line.as_bytes(), found),
        }
    }

    /// Number of rules (built-in and custom).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set has no rule (never true for a built set).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule ids, in priority order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.spec.id.as_str())
    }
}

/// A sanitizer's keyword automaton, held apart from the sanitizer so that a
/// reader can walk blocks of lines with it while it sanitizes them.
pub(crate) struct BlockWalker {
    rules: Arc<RuleSet>,
    gate_words: bool,
}

impl BlockWalker {
    pub(crate) fn dfa(&self) -> &KeywordDfa {
        self.rules.dfa(self.gate_words)
    }
}

/// Removes secrets from text, line by line. Holds the multi-line state (private key
/// blocks) and the running report, so use one sanitizer per stream.
pub struct Sanitizer {
    rules: Arc<RuleSet>,
    email: MaskMode,
    ip: MaskMode,
    in_private_key: bool,
    report: SanitizeReport,
    candidates: Vec<u64>,
    spans: Vec<Span>,
    dots: Dots,
    /// Whether to find the triage gate's words as well (see
    /// [`Sanitizer::find_gate_words`]).
    gate_words: bool,
    /// The triage gate's words in the line last sanitized, when they are
    /// looked for and that line was walked and left unchanged (so that they
    /// are the words of its output).
    gate: Option<WordSet>,
}

impl std::fmt::Debug for Sanitizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sanitizer")
            .field("rules", &self.rules.len())
            .field("email", &self.email)
            .field("ip", &self.ip)
            .finish()
    }
}

impl Default for Sanitizer {
    fn default() -> Self {
        Sanitizer::with_rules(RuleSet::builtin(), MaskMode::Partial, MaskMode::Partial)
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    kind: SpanKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanKind {
    Rule(u32),
    Email,
    Ip,
}

impl Sanitizer {
    /// A sanitizer with the built-in rules plus the configuration's patterns,
    /// allow-list and masking modes.
    pub fn new(config: &SanitizeConfig) -> Result<Sanitizer, SanitizeError> {
        let rules = if config.patterns.is_empty() && config.allow.is_empty() {
            RuleSet::builtin()
        } else {
            Arc::new(RuleSet::new(config)?)
        };
        Ok(Sanitizer::with_rules(rules, config.email, config.ip))
    }

    /// A sanitizer over an existing (shared) rule set.
    pub fn with_rules(rules: Arc<RuleSet>, email: MaskMode, ip: MaskMode) -> Sanitizer {
        let words = rules.len().div_ceil(64);
        Sanitizer {
            rules,
            email,
            ip,
            in_private_key: false,
            report: SanitizeReport::default(),
            candidates: vec![0; words],
            dots: Dots::default(),
            spans: Vec::new(),
            gate_words: false,
            gate: None,
        }
    }

    /// The triage gate's words found in the line last given to
    /// [`Sanitizer::sanitize_line`], if it was walked and came out unchanged.
    pub(crate) fn gate_words_of_last_line(&self) -> Option<WordSet> {
        self.gate
    }

    /// Whether to find the triage gate's words in each line while walking it
    /// for keywords: on while the triage reads the lines this sanitizer
    /// cleans, off (the default) for sanitizing alone.
    pub(crate) fn find_gate_words(&mut self, on: bool) {
        self.gate_words = on;
        self.gate = None;
    }

    /// The automaton this sanitizer walks lines with, to walk a block of lines
    /// at once and hand each line's part to [`Sanitizer::sanitize_line_with`].
    pub(crate) fn block_walker(&self) -> BlockWalker {
        BlockWalker {
            rules: self.rules.clone(),
            gate_words: self.gate_words,
        }
    }

    /// Forget everything the lines so far left (an open private key block, the report),
    /// as if new: for a sanitizer kept to clean one independent text after another.
    pub fn reset(&mut self) {
        self.in_private_key = false;
        self.report = SanitizeReport::default();
        self.gate = None;
    }

    /// The report so far.
    pub fn report(&self) -> &SanitizeReport {
        &self.report
    }

    /// Takes the report, leaving an empty one.
    pub fn take_report(&mut self) -> SanitizeReport {
        std::mem::take(&mut self.report)
    }

    /// Sanitizes a whole text (any number of lines). Line terminators are kept.
    pub fn sanitize_text(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive('\n') {
            let (line, nl) = match piece.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (piece, ""),
            };
            let (line, cr) = match line.strip_suffix('\r') {
                Some(l) => (l, "\r"),
                None => (line, ""),
            };
            out.push_str(&self.sanitize_line(line));
            out.push_str(cr);
            out.push_str(nl);
        }
        out
    }

    /// Copies `input` to `out` with secrets removed, in bounded memory (lines longer
    /// than 1 MiB are processed in pieces). Invalid UTF-8 is replaced by U+FFFD.
    pub fn sanitize_stream<R: BufRead, W: Write>(
        &mut self,
        input: R,
        mut out: W,
    ) -> io::Result<()> {
        let mut splitter = LineSplitter::new(input, 1 << 20);
        loop {
            let written = splitter.with_next_piece(|text, _, newline| {
                let clean = self.sanitize_line(text);
                out.write_all(clean.as_bytes())?;
                if newline {
                    out.write_all(b"\n")?;
                }
                io::Result::Ok(())
            })?;
            match written {
                Some(result) => result?,
                None => break,
            }
        }
        out.flush()
    }

    /// Sanitizes a fragment that is not a line of its own (a section name): the
    /// report counts its redactions but not a line.
    pub fn sanitize_fragment(&mut self, text: &str) -> String {
        let (lines, changed) = (self.report.lines, self.report.lines_changed);
        let out = self.sanitize_line(text).into_owned();
        self.report.lines = lines;
        self.report.lines_changed = changed;
        out
    }

    /// Sanitizes one line (without its terminator).
    pub fn sanitize_line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        let at_sign = memchr::memchr(b'@', line.as_bytes()).is_some();
        self.sanitize_line_with(line, at_sign, None)
    }

    /// [`Sanitizer::sanitize_line`] for a caller that already knows whether
    /// the line holds an `@` (no e-mail address without one) and perhaps what
    /// a walk of the block of lines that holds it found (`walked`, from the
    /// automaton of [`Sanitizer::block_walker`]).
    pub(crate) fn sanitize_line_with<'a>(
        &mut self,
        line: &'a str,
        at_sign: bool,
        walked: Option<Walked<'_>>,
    ) -> Cow<'a, str> {
        self.report.lines += 1;
        self.gate = None;
        if self.in_private_key
            && let Some(done) = self.private_key_continuation(line)
        {
            return done;
        }
        self.spans.clear();
        self.dots.find(line.as_bytes());
        self.find_rule_spans(line, walked);
        if self.email != MaskMode::Keep && at_sign {
            find_emails(line, &mut self.spans);
        }
        if self.ip != MaskMode::Keep {
            find_ips(line, self.dots.all(), &mut self.spans);
        }
        if self.spans.is_empty() {
            return Cow::Borrowed(line);
        }
        self.gate = None;
        Cow::Owned(self.apply_spans(line))
    }

    fn find_rule_spans(&mut self, line: &str, walked: Option<Walked<'_>>) {
        // Borrowed, not cloned: an Arc clone per line is two atomic operations,
        // measurable at ten million lines.
        let rules: &RuleSet = &self.rules;
        for w in self.candidates.iter_mut() {
            *w = 0;
        }
        let mut any = false;
        let mut gate = WordSet::default();
        let gate_words = self.gate_words;
        rules.keyword_hits(line, gate_words.then_some(&mut gate), walked, |r| {
            self.candidates[(r / 64) as usize] |= 1 << (r % 64);
            any = true;
        });
        self.gate = gate_words.then_some(gate);
        for &r in &rules.always {
            let dots = self.dots.all();
            if rules.rules[r as usize]
                .spec
                .precheck
                .allows_with_dots(line, dots)
            {
                self.candidates[(r / 64) as usize] |= 1 << (r % 64);
                any = true;
            }
        }
        if !any {
            return;
        }
        let markers = marker_ranges(line);
        for (word_index, &word) in self.candidates.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let idx = word_index as u32 * 64 + bit;
                let rule = &rules.rules[idx as usize];
                // (Rules without keywords were checked when they were added.)
                if !rule.spec.keywords.is_empty()
                    && !rule.spec.precheck.allows_with_dots(line, self.dots.all())
                {
                    continue;
                }
                let Some(regex) = rule.regex() else { continue };
                for caps in regex.captures_iter(line.as_bytes()) {
                    let whole = caps.get(0).expect("group 0 always matches");
                    let secret = caps.iter().skip(1).flatten().next().unwrap_or(whole);
                    // An ASCII rule's class such as `[^\s"]{8,64}` can end (or
                    // start) inside a multi-byte character: widen the span to whole
                    // characters, so that nothing of the secret stays.
                    let (start, end) = char_span(line, secret.start(), secret.end());
                    if start == end {
                        continue;
                    }
                    if markers.iter().any(|&(ms, me)| start < me && ms < end) {
                        continue;
                    }
                    let value = &line[start..end];
                    if !accept(&rule.spec, value, &rules.allow) {
                        continue;
                    }
                    if Some(idx) == rules.private_key_rule
                        && memchr::memmem::find(whole.as_bytes(), b"-----END").is_none()
                    {
                        self.in_private_key = true;
                    }
                    self.spans.push(Span {
                        start,
                        end,
                        kind: SpanKind::Rule(idx),
                    });
                }
            }
        }
    }

    /// Inside a multi-line private key: redacts body lines and the END line; returns
    /// `None` when the line no longer looks like part of a key (then the block is
    /// over and the line is processed normally).
    fn private_key_continuation<'a>(&mut self, line: &'a str) -> Option<Cow<'a, str>> {
        if let Some(pos) = line.find("-----END") {
            let end = line[pos + 8..]
                .find("-----")
                .map(|p| pos + 8 + p + 5)
                .unwrap_or(line.len());
            self.in_private_key = false;
            self.report.lines_changed += 1;
            let mut out = String::with_capacity(line.len());
            out.push_str(MARKER_PREFIX);
            out.push_str("private-key]");
            let rest = &line[end..];
            // Whatever follows the END marker is ordinary text.
            let rest = self.sanitize_line(rest).into_owned();
            self.report.lines -= 1;
            out.push_str(&rest);
            return Some(Cow::Owned(out));
        }
        if looks_like_key_body(line) {
            if strip_log_prefix(line).trim().is_empty() {
                return Some(Cow::Borrowed(line));
            }
            self.report.lines_changed += 1;
            return Some(Cow::Owned(format!("{MARKER_PREFIX}private-key]")));
        }
        self.in_private_key = false;
        None
    }

    fn apply_spans(&mut self, line: &str) -> String {
        self.spans
            .sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        // Merge overlapping spans; a rule span beats an e-mail/IP mask.
        let mut merged: Vec<Span> = Vec::with_capacity(self.spans.len());
        for s in self.spans.drain(..) {
            match merged.last_mut() {
                Some(last) if s.start < last.end => {
                    let s_is_rule = matches!(s.kind, SpanKind::Rule(_));
                    let last_is_rule = matches!(last.kind, SpanKind::Rule(_));
                    if last_is_rule || !s_is_rule {
                        if last_is_rule && s_is_rule {
                            last.end = last.end.max(s.end);
                        }
                    } else {
                        *last = s;
                    }
                }
                _ => merged.push(s),
            }
        }
        let mut out = String::with_capacity(line.len() + 16);
        let mut pos = 0;
        for s in &merged {
            out.push_str(&line[pos..s.start]);
            let value = &line[s.start..s.end];
            let id: &str = match s.kind {
                SpanKind::Rule(i) => &self.rules.rules[i as usize].spec.id,
                SpanKind::Email => "email",
                SpanKind::Ip => "ip",
            };
            match (s.kind, self.email, self.ip) {
                (SpanKind::Email, MaskMode::Partial, _) => mask_email(value, &mut out),
                (SpanKind::Ip, _, MaskMode::Partial) => mask_ip(value, &mut out),
                _ => {
                    out.push_str(MARKER_PREFIX);
                    out.push_str(id);
                    out.push(']');
                }
            }
            *self.report.by_type.entry(id.to_string()).or_default() += 1;
            self.report.redactions += 1;
            pos = s.end;
        }
        out.push_str(&line[pos..]);
        self.report.lines_changed += 1;
        out
    }
}

/// The smallest span of whole characters that covers bytes `start..end`.
fn char_span(line: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    while !line.is_char_boundary(end) {
        end += 1;
    }
    (start, end)
}

/// Byte ranges of redaction markers already in the line: never redacted again.
fn marker_ranges(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // Most lines have no `[` at all: one memchr instead of a substring search.
    if !memchr::memchr_iter(b'[', line.as_bytes())
        .any(|i| line.as_bytes()[i..].starts_with(MARKER_PREFIX.as_bytes()))
    {
        return out;
    }
    let mut from = 0;
    while let Some(p) = line[from..].find(MARKER_PREFIX) {
        let start = from + p;
        let end = line[start..]
            .find(']')
            .map(|e| start + e + 1)
            .unwrap_or(line.len());
        out.push((start, end));
        from = end;
    }
    out
}

fn accept(spec: &RuleSpec, value: &str, allow: &[Regex]) -> bool {
    if spec.min_entropy > 0.0 && shannon_entropy(value) < spec.min_entropy {
        return false;
    }
    match spec.validate {
        Validator::None => {}
        Validator::JwtHeader => {
            let header = value.split('.').next().unwrap_or("");
            match base64url_decode(header) {
                Some(bytes) => {
                    if !serde_json::from_slice::<serde_json::Value>(&bytes)
                        .is_ok_and(|v| v.is_object())
                    {
                        return false;
                    }
                }
                None => return false,
            }
        }
        Validator::NotPlaceholder => {
            if is_placeholder(value) {
                return false;
            }
        }
    }
    !allow.iter().any(|a| a.is_match(value))
}

/// Values that name a secret rather than hold one: variables, templates, masks.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'' || c == '`');
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if v.starts_with('$')
        || v.starts_with("{{")
        || v.starts_with('%')
        || v.starts_with('<')
        || v.starts_with("#{")
        || v.starts_with("@")
        || lower.starts_with("env.")
        || lower.starts_with("secrets.")
        || lower.starts_with("process.env")
        || lower.starts_with("os.environ")
        || lower.starts_with("os.getenv")
    {
        return true;
    }
    if [
        "insert_",
        "your_",
        "your-",
        "_here",
        "-here",
        "replace_me",
        "placeholder",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return true;
    }
    // Code echoed in a log (`token = tokens.get(i);`), not a value.
    if (v.contains('(') && v.ends_with(')'))
        || lower.starts_with("this.")
        || lower.starts_with("self.")
    {
        return true;
    }
    // An environment variable's name (`GITHUB_TOKEN`), not its value.
    if v.len() <= 64
        && v.contains('_')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return true;
    }
    let first = v.chars().next().unwrap_or(' ');
    if v.chars().all(|c| c == first) {
        return true;
    }
    if v.chars()
        .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '#' | '-'))
    {
        return true;
    }
    matches!(
        lower.as_str(),
        "true"
            | "false"
            | "null"
            | "none"
            | "nil"
            | "undefined"
            | "required"
            | "optional"
            | "string"
            | "str"
            | "bool"
            | "boolean"
            | "number"
            | "int"
            | "object"
            | "redacted"
            | "masked"
            | "hidden"
            | "not set"
            | "unset"
            | "empty"
    )
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(s: &str) -> f32 {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn email_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
            .expect("valid e-mail regex")
    })
}

/// The dots of a line, searched for once and shared by the IP finder and the
/// dot prechecks (discord-bot-token's on every line), which searched the line
/// three times. At most [`Dots::KEPT`] positions are kept, so that memory does
/// not grow with the line; a line with more is searched by each as before.
#[derive(Debug, Default, Clone)]
struct Dots {
    kept: Vec<usize>,
    complete: bool,
}

impl Dots {
    /// Far more than a log line holds but for rows of progress dots, which
    /// are kept too: each search past this would go through them all again.
    const KEPT: usize = 4096;
    /// Dots found one search each; past them the line is read byte by byte.
    const SOUGHT: usize = 16;

    fn find(&mut self, b: &[u8]) {
        self.kept.clear();
        self.complete = true;
        // memchr skips to each of a line's few dots, but costs a call per dot:
        // on a row of progress dots (`.....F...`, a thousand on a line) one
        // pass over the bytes is far cheaper.
        self.kept
            .extend(memchr::memchr_iter(b'.', b).take(Self::SOUGHT));
        if self.kept.len() < Self::SOUGHT {
            return;
        }
        let from = self.kept[Self::SOUGHT - 1] + 1;
        for (i, &c) in b[from..].iter().enumerate() {
            if c == b'.' {
                if self.kept.len() == Self::KEPT {
                    self.complete = false;
                    return;
                }
                self.kept.push(from + i);
            }
        }
    }

    /// All the dots of the line last given to [`Dots::find`], if it had few
    /// enough.
    fn all(&self) -> Option<&[usize]> {
        self.complete.then_some(self.kept.as_slice())
    }
}

/// Calls `found(start, end)` for each dotted quad in `line` from byte `from` on,
/// left to right, as `\b(?:OCTET\.){3}OCTET\b` finds them (OCTET: 0 to 255
/// without a leading zero; `\b` in its Unicode meaning). Written out because the
/// regex cost thousands of cycles a line on the many lines with version numbers;
/// its matches are exactly four whole digit groups joined by dots, each an octet,
/// with no word character on either side (a test compares the two).
/// `dots` are the positions of the line's dots, left to right.
fn dotted_quads(
    line: &str,
    from: usize,
    dots: impl Iterator<Item = usize>,
    mut found: impl FnMut(usize, usize),
) {
    let b = line.as_bytes();
    // Only where a digit group is followed by a dot and a digit can a quad
    // start: from dot to such dot, not byte by byte (lines with dots are
    // mostly Java packages, paths and versions). No quad starts before `next`.
    let mut next = from;
    for dot in dots.filter(|&d| d >= from) {
        if dot <= next
            || !b[dot - 1].is_ascii_digit()
            || !b.get(dot + 1).is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        let start = dot
            - b[..dot]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .count();
        // A group that begins before `from` is not looked at from its start.
        if start < next {
            continue;
        }
        if !word_char_before(line, start)
            && let Some(end) = quad_at(b, start)
            && !word_char_at(line, end)
        {
            found(start, end);
            next = end;
        }
    }
}

/// The end of `OCTET.OCTET.OCTET.OCTET` made of whole digit groups from `i`.
fn quad_at(b: &[u8], mut i: usize) -> Option<usize> {
    for k in 0..4 {
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let octet = matches!(
            &b[i..i + run],
            [_] | [b'1'..=b'9', _]
                | [b'1', _, _]
                | [b'2', b'0'..=b'4', _]
                | [b'2', b'5', b'0'..=b'5']
        );
        if !octet {
            return None;
        }
        i += run;
        if k < 3 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    Some(i)
}

/// `\w` in its Unicode meaning, as the regex crate has it.
fn is_word_char(c: char) -> bool {
    regex_syntax::try_is_word_character(c).unwrap_or(c.is_alphanumeric() || c == '_')
}

fn word_char_before(line: &str, i: usize) -> bool {
    match line.as_bytes()[..i].last() {
        None => false,
        Some(&c) if c < 0x80 => c.is_ascii_alphanumeric() || c == b'_',
        Some(_) => line[..i].chars().next_back().is_some_and(is_word_char),
    }
}

fn word_char_at(line: &str, i: usize) -> bool {
    match line.as_bytes().get(i) {
        None => false,
        Some(&c) if c < 0x80 => c.is_ascii_alphanumeric() || c == b'_',
        Some(_) => line[i..].chars().next().is_some_and(is_word_char),
    }
}

fn find_emails(line: &str, spans: &mut Vec<Span>) {
    for m in email_regex().find_iter(line) {
        spans.push(Span {
            start: m.start(),
            end: m.end(),
            kind: SpanKind::Email,
        });
    }
}

/// `dots`: all the line's dots, if they were found already.
fn find_ips(line: &str, dots: Option<&[usize]>, spans: &mut Vec<Span>) {
    match dots {
        Some(dots) => find_ips_with(line, dots.iter().copied(), spans),
        None => find_ips_with(line, memchr::memchr_iter(b'.', line.as_bytes()), spans),
    }
}

fn find_ips_with(line: &str, dots: impl Iterator<Item = usize> + Clone, spans: &mut Vec<Span>) {
    let bytes = line.as_bytes();
    // Cheap test first: an IPv4 address holds three dots each between two
    // digits; version numbers (`1.2.3`) mostly have two.
    let mut candidates = dots.clone().filter(|&i| {
        i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    });
    let Some(first) = candidates.next() else {
        return;
    };
    if candidates.take(2).count() < 2 {
        return;
    }
    // No address starts more than three digits before the first such dot.
    dotted_quads(line, first.saturating_sub(3), dots, |start, end| {
        // Version strings (1.2.3.4.5) and dotted numbers are not addresses …
        let before = bytes[..start].last().copied();
        let after = &bytes[end..];
        // … nor are `pkg@1.2.3.4`, `build-1.2.3.4`, `1.0.0.0-main` (versions).
        if matches!(before, Some(b'.' | b'@' | b'-'))
            || (after.first() == Some(&b'.') && after.get(1).is_some_and(|b| b.is_ascii_digit()))
            || matches!(after.first(), Some(b'-' | b'+'))
            || !is_public_ipv4(&line[start..end])
        {
            return;
        }
        spans.push(Span {
            start,
            end,
            kind: SpanKind::Ip,
        });
    });
}

fn is_public_ipv4(s: &str) -> bool {
    let o: Vec<u16> = s.split('.').filter_map(|p| p.parse().ok()).collect();
    if o.len() != 4 {
        return false;
    }
    !(o[0] == 0
        || o[0] == 10
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || o[0] >= 224)
}

fn mask_email(value: &str, out: &mut String) {
    match value.split_once('@') {
        Some((local, domain)) => {
            out.extend(local.chars().next());
            out.push_str("***@");
            out.push_str(domain);
        }
        None => out.push_str("***"),
    }
}

fn mask_ip(value: &str, out: &mut String) {
    let mut parts = value.split('.');
    out.push_str(parts.next().unwrap_or("x"));
    out.push('.');
    out.push_str(parts.next().unwrap_or("x"));
    out.push_str(".x.x");
}

/// Drops a leading timestamp (GitHub `2024-01-02T03:04:05.1234567Z `, ISO forms)
/// so that key-body detection works on prefixed log lines.
fn strip_log_prefix(line: &str) -> &str {
    let b = line.as_bytes();
    if b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
        && let Some(sp) = line.find(' ')
    {
        return &line[sp + 1..];
    }
    line
}

fn looks_like_key_body(line: &str) -> bool {
    let t = strip_log_prefix(line).trim();
    if t.is_empty() {
        return true;
    }
    const HEADERS: [&str; 6] = [
        "Proc-Type:",
        "DEK-Info:",
        "Comment:",
        "Version:",
        "Hash:",
        "Charset:",
    ];
    if HEADERS.iter().any(|h| t.starts_with(h)) {
        return true;
    }
    t.len() <= 200
        && t.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\\' | b'"' | b',')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickBuilder};

    fn clean(s: &str) -> String {
        Sanitizer::default().sanitize_text(s)
    }

    #[test]
    fn redacts_a_github_token_and_keeps_context() {
        let out = clean("token is ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok");
        assert_eq!(out, "token is [REDACTED:github-pat] ok");
    }

    #[test]
    fn redacts_only_the_value_of_a_keyed_secret() {
        let out = clean("export PGPASSWORD=hunter2");
        assert_eq!(out, "export PGPASSWORD=[REDACTED:database-password-env]");
    }

    #[test]
    fn multi_line_private_key_is_redacted_whole() {
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdef\nQWERTYUIOPasdfghjkl+/=\n-----END RSA PRIVATE KEY-----\nafter\n";
        let out = clean(text);
        assert!(!out.contains("MIIEpAIBAAKCAQEA"), "{out}");
        assert!(!out.contains("QWERTY"), "{out}");
        assert!(
            out.starts_with("before\n") && out.ends_with("after\n"),
            "{out}"
        );
    }

    #[test]
    fn key_block_without_end_stops_at_ordinary_text() {
        let text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nerror: build failed at src/main.rs:3\n";
        let out = clean(text);
        assert!(
            out.contains("error: build failed at src/main.rs:3"),
            "{out}"
        );
        assert!(!out.contains("MIIEvQ"), "{out}");
    }

    #[test]
    fn email_and_ip_modes() {
        let mut s = Sanitizer::default();
        assert_eq!(
            s.sanitize_line("mail jane.doe@example.com from 203.0.113.7 and 10.0.0.1"),
            "mail j***@example.com from 203.0.x.x and 10.0.0.1"
        );
        let cfg = SanitizeConfig {
            email: MaskMode::Full,
            ip: MaskMode::Keep,
            ..Default::default()
        };
        let mut s = Sanitizer::new(&cfg).unwrap();
        assert_eq!(
            s.sanitize_line("jane@example.com 203.0.113.7"),
            "[REDACTED:email] 203.0.113.7"
        );
    }

    #[test]
    fn version_numbers_and_code_are_left_alone() {
        for line in [
            "using gcc 13.2.1.20240101",
            "installing pkg@1.2.3.4",
            "image tag 1.0.0.0-main-20220516-1",
            "server-password: GITHUB_TOKEN",
            "Parsing --class org.apache.commons.lang.text.StrTokenizerTest:org.apache.commons.lang.WordUtilsTest",
            "internal/command/cliconfig/credentials_test.go:135:3: undefined: os",
            "src/tokenizer.rs:1234:56: error",
            "        java.lang.String token = tokens.get(index);",
        ] {
            assert_eq!(clean(line), line);
        }
        assert_eq!(
            clean("dial tcp 142.250.74.46:443: i/o timeout"),
            "dial tcp 142.250.x.x:443: i/o timeout"
        );
    }

    #[test]
    fn custom_patterns_and_allow_list() {
        let cfg = SanitizeConfig {
            patterns: vec![CustomPattern {
                id: "acme-license".into(),
                pattern: r"ACME-LIC-([0-9A-F]{16})".into(),
                keywords: vec!["acme-lic-".into()],
                min_entropy: 0.0,
            }],
            allow: vec!["^ghp_0{36}$".into()],
            ..Default::default()
        };
        let mut s = Sanitizer::new(&cfg).unwrap();
        let out = s.sanitize_line(
            "lic ACME-LIC-0123456789ABCDEF and ghp_000000000000000000000000000000000000",
        );
        assert_eq!(
            out,
            "lic ACME-LIC-[REDACTED:acme-license] and ghp_000000000000000000000000000000000000"
        );
        assert_eq!(s.report().by_type.get("acme-license"), Some(&1));
    }

    #[test]
    fn bad_custom_pattern_is_an_error_naming_it() {
        let cfg = SanitizeConfig {
            patterns: vec![CustomPattern {
                id: "broken".into(),
                pattern: "(unclosed".into(),
                keywords: vec![],
                min_entropy: 0.0,
            }],
            ..Default::default()
        };
        let err = Sanitizer::new(&cfg).unwrap_err().to_string();
        assert!(err.contains("broken"), "{err}");
    }

    #[test]
    fn report_counts_types_without_values() {
        let mut s = Sanitizer::default();
        s.sanitize_text(
            "a ghp_abcdefghijklmnopqrstuvwxyz0123456789\nb xoxb-1234567890-abcdefghijkl\nc\n",
        );
        let r = s.report();
        assert_eq!(r.lines, 3);
        assert_eq!(r.lines_changed, 2);
        assert_eq!(r.by_type.get("github-pat"), Some(&1));
        assert_eq!(r.by_type.get("slack-token"), Some(&1));
        let json = serde_json::to_string(r).unwrap();
        assert!(!json.contains("ghp_abc") && !json.contains("xoxb-123"));
    }

    #[test]
    fn placeholders_are_not_secrets() {
        for line in [
            "password: ${DB_PASSWORD}",
            "token = {{ secrets.TOKEN }}",
            "GITHUB_TOKEN: ***",
            "api_key = \"\"",
        ] {
            assert_eq!(clean(line), line);
        }
    }

    /// The one walk enables the same rules as two overlapping searches would:
    /// the keywords in any case, and the case-sensitive ones in their case.
    #[test]
    fn keywords_are_all_seen_in_their_case() {
        let specs = rules::builtin();
        let mut words: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let mut rules_of: [Vec<Vec<u32>>; 2] = [Vec::new(), Vec::new()];
        for (i, spec) in specs.iter().enumerate() {
            let e = usize::from(spec.exact_case);
            for k in &spec.keywords {
                match words[e].iter().position(|w| w == k) {
                    Some(p) => rules_of[e][p].push(i as u32),
                    None => {
                        words[e].push(k.clone());
                        rules_of[e].push(vec![i as u32]);
                    }
                }
            }
        }
        let any_case = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&words[0])
            .unwrap();
        let exact = AhoCorasick::new(&words[1]).unwrap();
        let set = RuleSet::builtin();
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..5000 {
            let mut line = String::new();
            for _ in 0..(next() % 9) {
                let r = next();
                let list = &words[(r % 3 == 0) as usize];
                let w = &list[(r >> 8) as usize % list.len()];
                // Whole keywords, their halves and glue, some in the other case,
                // so that keywords overlap and case matters.
                let piece = match r % 5 {
                    0 | 1 => w.clone(),
                    2 => w[..w.len() / 2 + 1].to_string(),
                    3 => w.to_ascii_uppercase(),
                    _ => " x".to_string(),
                };
                line.push_str(&piece);
            }
            let mut expected: Vec<u32> = any_case
                .find_overlapping_iter(&line)
                .flat_map(|m| rules_of[0][m.pattern().as_usize()].clone())
                .chain(
                    exact
                        .find_overlapping_iter(&line)
                        .flat_map(|m| rules_of[1][m.pattern().as_usize()].clone()),
                )
                .collect();
            let mut found = Vec::new();
            set.keyword_hits(&line, None, None, |r| found.push(r));
            for v in [&mut expected, &mut found] {
                v.sort_unstable();
                v.dedup();
            }
            assert_eq!(found, expected, "{line}");
        }
    }

    fn dots_of(line: &str) -> impl Iterator<Item = usize> + '_ {
        memchr::memchr_iter(b'.', line.as_bytes())
    }

    /// The dots found once are all the line's dots, those of the line last
    /// given, unless there are too many to keep.
    #[test]
    fn dots_are_the_lines_dots() {
        let pieces = [".", "..", "a", "1.2", "é", " ", "x.y.z"];
        let mut dots = Dots::default();
        for line in crate::random_lines::random_lines(&pieces, 5_000, 120, 0x5eed_d075) {
            dots.find(line.as_bytes());
            let all: Vec<usize> = dots_of(&line).collect();
            match dots.all() {
                Some(found) => assert_eq!(found, all, "{line:?}"),
                None => assert!(all.len() > Dots::KEPT, "{line:?}"),
            }
        }
    }

    /// The hand-written dotted-quad finder finds what the regex it replaces
    /// finds, non-ASCII word characters around it included.
    #[test]
    fn dotted_quads_are_what_the_regex_finds() {
        let re = Regex::new(r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b").unwrap();
        let pieces = [
            "1", "0", "25", "255", "256", "199", "2", "01", "9999", ".", ".", ".", " ", "a", "_",
            "é", "-", "@", "地", "\u{300}", "x1", "10.0", ":",
        ];
        for line in crate::random_lines::random_lines(&pieces, 20_000, 24, 0x1234_5678) {
            let expected: Vec<(usize, usize)> =
                re.find_iter(&line).map(|m| (m.start(), m.end())).collect();
            let mut found = Vec::new();
            dotted_quads(&line, 0, dots_of(&line), |s, e| found.push((s, e)));
            assert_eq!(found, expected, "{line:?}");
            // From the middle of the line on: as the regex searches from
            // there (the text before still decides its `\b`).
            let mut from = line.len() / 2;
            while !line.is_char_boundary(from) {
                from -= 1;
            }
            let mut expected = Vec::new();
            let mut at = from;
            while let Some(m) = re.find_at(&line, at) {
                expected.push((m.start(), m.end()));
                at = m.end().max(m.start() + 1);
            }
            let mut found = Vec::new();
            dotted_quads(&line, from, dots_of(&line), |s, e| found.push((s, e)));
            assert_eq!(found, expected, "{line:?} from {from}");
        }
    }

    #[test]
    fn entropy_is_zero_for_repeats_and_high_for_random() {
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!(shannon_entropy("q8Zr2LmX0vT7bN4k") > 3.5);
    }
}
