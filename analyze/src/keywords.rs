//! Keyword gates: which of a few hundred literals occur in a line, in any ASCII
//! case, wherever they start (overlapping).
//!
//! The sanitizer and the triage each decide what to run on a line from such a
//! scan, and on ordinary lines the scans were most of the time spent. An
//! Aho-Corasick DFA costs one dependent table load per byte; that latency, not the
//! table's size, bounds it (shrinking the table did not make it faster). So this
//! DFA walks a long line as two or four pieces at once: the chains of loads
//! overlap in the CPU, and a line costs little more than one piece's walk. The
//! pieces overlap by the longest keyword prefix walked (16 bytes; the rest of a
//! longer keyword is compared where its prefix ends), so every occurrence lies
//! wholly in one of them; one that lies in two is reported twice, which callers
//! that collect sets ignore.
//!
//! A reader walks a whole block of lines the same way, as eight pieces
//! ([`KeywordDfa::walk_block`]), and hands each line what the walk recorded
//! for it ([`KeywordDfa::scan_walked`]): every line, short or long, then shares
//! the pieces, and their overlap is paid once per block.
//!
//! Short words that count only as spelt and hold a capital (`AC`, `SK`) are
//! left out of the walk, which is blind to case, and found by an exact
//! search of the same text ([`ExactWords`]); their occurrences are recorded
//! and reported as the walk's are.
//!
//! It is built for that use only (no leftmost semantics, no match positions
//! beyond the end): a gate whose caller then runs the exact check.

/// A set of word indices below [`WordSet::CAPACITY`]: what one scan found, small
/// and `Copy` so that it can travel with a line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WordSet([u64; 8]);

impl WordSet {
    /// Words a set can hold.
    pub(crate) const CAPACITY: usize = 512;

    /// Adds word `w` (below [`WordSet::CAPACITY`]).
    #[inline]
    pub(crate) fn insert(&mut self, w: u32) {
        self.0[(w / 64) as usize] |= 1 << (w % 64);
    }

    /// The words in the set, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    i as u32 * 64 + b
                })
            })
        })
    }
}

/// Where a walk of a block of lines was in a match state: `(end, state)`
/// pairs in increasing `end` order (the byte after the state's last byte),
/// kept across blocks so that their buffers are reused.
#[derive(Debug, Default)]
pub(crate) struct BlockWalk {
    /// The pairs of the whole block, once gathered.
    pub found: Vec<(u32, u32)>,
    /// Each piece's pairs, in order, while the pieces are walked.
    pieces: [Vec<(u32, u32)>; PIECES],
    /// The exact words' pairs (see [`ExactWords`]), and room to merge them
    /// into `found`.
    exact: Vec<(u32, u32)>,
    merged: Vec<(u32, u32)>,
}

impl BlockWalk {
    fn clear(&mut self) {
        self.found.clear();
        self.exact.clear();
        for p in &mut self.pieces {
            p.clear();
        }
    }

    /// Merges the exact words' pairs into `found`, keeping the order by end.
    fn merge_exact(&mut self) {
        if self.exact.is_empty() {
            return;
        }
        self.merged.clear();
        let (mut a, mut b) = (self.found.iter().peekable(), self.exact.iter().peekable());
        while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
            if x.0 <= y.0 {
                self.merged.push(x);
                a.next();
            } else {
                self.merged.push(y);
                b.next();
            }
        }
        self.merged.extend(a);
        self.merged.extend(b);
        std::mem::swap(&mut self.found, &mut self.merged);
    }

    /// Notes the pieces in a match state at step `i`, those whose end lies in
    /// their own part of the block.
    #[inline(never)]
    fn note(
        &mut self,
        starts: &[usize; PIECES],
        bounds: &[usize; PIECES + 1],
        states: [u32; PIECES],
        i: usize,
        first_match: u32,
    ) {
        for k in 0..PIECES {
            let end = starts[k] + i + 1;
            if states[k] >= first_match && bounds[k] < end && end <= bounds[k + 1] {
                self.pieces[k].push((end as u32, states[k]));
            }
        }
    }

    /// The pieces' pairs, one after the other: in order, as the pieces are.
    fn gather(&mut self) {
        for p in &self.pieces {
            self.found.extend_from_slice(p);
        }
    }
}

/// What a block's walk recorded for one line, or for a part of a line (the
/// text left after cleaning): the line, the records from its start on, and
/// where it starts in the block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walked<'a> {
    pub text: &'a str,
    pub found: &'a [(u32, u32)],
    pub offset: usize,
}

impl<'a> Walked<'a> {
    /// The same for `part`, when it is a slice of the text walked; `None`
    /// when it is not (cleaning made a new string).
    pub(crate) fn narrowed(self, part: &'a str) -> Option<Walked<'a>> {
        // Addresses compared, not dereferenced: whether `part` lies inside
        // the text.
        let from = (part.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        (from + part.len() <= self.text.len()).then_some(Walked {
            text: part,
            found: self.found,
            offset: self.offset + from,
        })
    }
}

/// A keyword and how it must occur to count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word<'a> {
    pub bytes: &'a [u8],
    /// In any ASCII case, or only as spelt.
    pub any_case: bool,
    /// Only where an ASCII word boundary (`\b`) is at its start.
    pub bound_start: bool,
    /// Only where an ASCII word boundary is at its end.
    pub bound_end: bool,
}

impl<'a> Word<'a> {
    /// A word that counts wherever it occurs, in any case.
    pub(crate) fn anywhere(bytes: &'a [u8]) -> Word<'a> {
        Word {
            bytes,
            any_case: true,
            bound_start: false,
            bound_end: false,
        }
    }
}

/// What is checked where a word's walk ends, for words that need more than
/// being found in any case.
#[derive(Debug, Clone, Default)]
struct Check {
    spelling: Option<Box<[u8]>>,
    bound_start: bool,
    bound_end: bool,
}

impl Check {
    fn passes(&self, text: &[u8], start: usize, end: usize) -> bool {
        self.spelling
            .as_deref()
            .is_none_or(|s| &text[start..end] == s)
            && (!self.bound_start || word_boundary(text, start))
            && (!self.bound_end || word_boundary(text, end))
    }
}

/// Whether an ASCII word boundary is at `i` (as the regex crate's `\b` without
/// Unicode: a word byte is `[0-9A-Za-z_]`).
fn word_boundary(text: &[u8], i: usize) -> bool {
    let is_word = |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
    is_word(i.checked_sub(1).and_then(|j| text.get(j))) != is_word(text.get(i))
}

/// An ASCII case-insensitive Aho-Corasick DFA over lower-case keywords.
pub(crate) struct KeywordDfa {
    /// Byte → equivalence class; both cases of a letter share one.
    classes: [u8; 256],
    /// Transitions per state (a power of two, at least the number of classes).
    stride: usize,
    /// Next state, premultiplied by `stride`, for each state and class.
    trans: Vec<u32>,
    /// States from this one (premultiplied) on end at least one keyword.
    first_match: u32,
    /// For each match state (index = (state - first_match) / stride), the range of
    /// `outputs` listing the keywords that end there.
    output_ranges: Vec<(u32, u32)>,
    outputs: Vec<u32>,
    /// The keywords, lower-cased: those longer than [`PREFIX`] are only walked
    /// that far, and the rest is compared where the prefix is found.
    words: Vec<Box<[u8]>>,
    /// For a keyword that needs more than being found in any case (its
    /// spelling, word boundaries), what to check where it is found; `None`
    /// for the others.
    checks: Vec<Option<Check>>,
    /// Longest prefix walked, in bytes.
    max_len: usize,
    /// The words found by an exact search instead of the walk.
    exact: Option<ExactWords>,
}

/// Short words that count only as spelt and hold an upper-case letter (`AC`,
/// `SK`: the prefixes of Twilio's ids). The walk is case-blind, and in any
/// case such a word is common (`ac` in `each`, `package`): on CI logs these
/// few words were most of the walk's matches, and each match costs a
/// mispredicted branch and a record to check. An exact search finds them
/// instead: as spelt they are rare, and it skips from one to the next.
struct ExactWords {
    starts: Starts,
    words: Vec<Box<[u8]>>,
    /// The state recorded for each word: one past the walk's match states,
    /// whose outputs are that one word.
    states: Vec<u32>,
}

impl ExactWords {
    /// Whether `word` is found by the exact search.
    fn takes(word: &Word<'_>) -> bool {
        !word.any_case && word.bytes.len() <= 2 && word.bytes.iter().any(u8::is_ascii_uppercase)
    }

    /// Calls `found(end, state)` for each occurrence in `text`, in order of
    /// start.
    fn find(&self, text: &[u8], mut found: impl FnMut(usize, u32)) {
        // A leftmost search does not overlap matches: each time, every word is
        // compared where the leftmost starts, and the search goes on from the
        // next byte.
        let mut at = 0;
        while let Some(start) = self.starts.leftmost(text, at) {
            for (word, &state) in self.words.iter().zip(&self.states) {
                if text[start..].starts_with(word) {
                    found(start + word.len(), state);
                }
            }
            at = start + 1;
        }
    }
}

/// Finds where one of a few words starts, leftmost from a given byte.
enum Starts {
    /// SIMD (Teddy), where the CPU has it.
    Packed(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

impl Starts {
    fn new(words: &[Box<[u8]>]) -> Starts {
        match aho_corasick::packed::Searcher::new(words) {
            Some(packed) => Starts::Packed(packed),
            None => Starts::Automaton(
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                    .build(words)
                    .expect("a few short words"),
            ),
        }
    }

    fn leftmost(&self, text: &[u8], at: usize) -> Option<usize> {
        let span = aho_corasick::Span::from(at..text.len());
        match self {
            Starts::Packed(packed) => packed.find_in(text, span).map(|m| m.start()),
            Starts::Automaton(automaton) => automaton
                .find(aho_corasick::Input::new(text).span(span))
                .map(|m| m.start()),
        }
    }
}

/// The longest part of a keyword that the DFA walks. Two halves of a line must
/// overlap by this much, so it is kept short; longer keywords are rare and their
/// tails cheap to compare.
const PREFIX: usize = 16;

/// Pieces a block of lines is walked as, in step (see
/// [`KeywordDfa::walk_block`]).
const PIECES: usize = 8;

/// Lines shorter than this are walked in one piece, longer ones as two walks,
/// and from twice this as four: below that the walks' overlap and set-up would
/// cost more than they save. (64 suited the sanitizer's words alone; with the
/// triage gate's words in the same DFA, 32 was about 5 % faster on the
/// benchmark log, and 24 no faster than 32.)
const LANE_BYTES: usize = 32;

impl KeywordDfa {
    /// A DFA over `words`, each reported only where it occurs as it asks. Word
    /// `i` is reported as `i`. An empty word is never reported; more than 2^32
    /// / classes states cannot happen with keyword lists of this size.
    pub(crate) fn new(given: &[Word<'_>]) -> KeywordDfa {
        let words: Vec<&[u8]> = given.iter().map(|w| w.bytes).collect();
        // Classes: one per distinct (lower-cased) byte the words use, 0 for all
        // other bytes.
        let mut class_of = [0u8; 256];
        let mut nclasses = 1usize;
        for w in &words {
            for &b in *w {
                let b = b.to_ascii_lowercase();
                if class_of[b as usize] == 0 {
                    class_of[b as usize] = nclasses as u8;
                    nclasses += 1;
                    assert!(nclasses <= 256, "at most 255 distinct keyword bytes");
                }
            }
        }
        let mut classes = [0u8; 256];
        for (b, c) in classes.iter_mut().enumerate() {
            *c = class_of[(b as u8).to_ascii_lowercase() as usize];
        }
        // A power of two, so that a state's index is a shift away.
        let stride = nclasses.next_power_of_two();

        // The trie: `child[s * stride + c]` (0 = none: the root is no one's child).
        let mut child: Vec<u32> = vec![0; stride];
        let mut own: Vec<Vec<u32>> = vec![Vec::new()];
        for (i, w) in words.iter().enumerate() {
            let w: &[u8] = w;
            if w.is_empty() || ExactWords::takes(&given[i]) {
                continue;
            }
            let mut s = 0usize;
            for &b in &w[..w.len().min(PREFIX)] {
                let c = classes[b as usize] as usize;
                let next = child[s * stride + c];
                s = if next == 0 {
                    let n = own.len();
                    own.push(Vec::new());
                    child.extend(std::iter::repeat_n(0, stride));
                    child[s * stride + c] = n as u32;
                    n
                } else {
                    next as usize
                };
            }
            own[s].push(i as u32);
        }
        let nstates = own.len();

        // Breadth first: each state's failure state is shallower, so its full
        // transitions and outputs are known when the state is reached.
        let mut delta: Vec<u32> = vec![0; nstates * stride];
        let mut fail: Vec<u32> = vec![0; nstates];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); nstates];
        let mut queue = std::collections::VecDeque::new();
        for c in 0..stride {
            let n = child[c];
            delta[c] = n;
            if n != 0 {
                fail[n as usize] = 0;
                queue.push_back(n as usize);
            }
        }
        while let Some(s) = queue.pop_front() {
            let f = fail[s] as usize;
            let mut o = own[s].clone();
            o.extend_from_slice(&out[f]);
            out[s] = o;
            for c in 0..stride {
                let n = child[s * stride + c];
                if n == 0 {
                    delta[s * stride + c] = delta[f * stride + c];
                } else {
                    delta[s * stride + c] = n;
                    fail[n as usize] = delta[f * stride + c];
                    queue.push_back(n as usize);
                }
            }
        }

        // Renumber: states without output first, so that one comparison per byte
        // tells whether anything ends here.
        let mut order: Vec<usize> = (0..nstates).filter(|&s| out[s].is_empty()).collect();
        let first_match_index = order.len();
        order.extend((0..nstates).filter(|&s| !out[s].is_empty()));
        // The root must stay state 0 (it has no output: words are not empty).
        debug_assert_eq!(order[0], 0);
        let mut new_id = vec![0u32; nstates];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = new as u32;
        }
        let premul = |s: u32| -> u32 {
            u32::try_from(new_id[s as usize] as usize * stride).expect("keyword DFA too large")
        };
        let mut trans = vec![0u32; nstates * stride];
        let mut output_ranges = Vec::new();
        let mut outputs = Vec::new();
        for (new, &old) in order.iter().enumerate() {
            for c in 0..stride {
                trans[new * stride + c] = premul(delta[old * stride + c]);
            }
            if new >= first_match_index {
                let start = outputs.len() as u32;
                outputs.extend_from_slice(&out[old]);
                output_ranges.push((start, outputs.len() as u32));
            }
        }
        // The exact words' states follow the walk's match states.
        let exact_words: Vec<usize> = (0..given.len())
            .filter(|&i| ExactWords::takes(&given[i]))
            .collect();
        let exact = (!exact_words.is_empty()).then(|| {
            let mut states = Vec::new();
            for &i in &exact_words {
                let state = (first_match_index + output_ranges.len()) * stride;
                states.push(u32::try_from(state).expect("keyword DFA too large"));
                let start = outputs.len() as u32;
                outputs.push(i as u32);
                output_ranges.push((start, outputs.len() as u32));
            }
            let words: Vec<Box<[u8]>> = exact_words
                .iter()
                .map(|&i| Box::from(given[i].bytes))
                .collect();
            ExactWords {
                starts: Starts::new(&words),
                words,
                states,
            }
        });
        KeywordDfa {
            exact,
            classes,
            stride,
            trans,
            first_match: (first_match_index * stride) as u32,
            output_ranges,
            outputs,
            words: words
                .iter()
                .map(|w| w.to_ascii_lowercase().into_boxed_slice())
                .collect(),
            checks: given
                .iter()
                .map(|w| {
                    (!w.any_case || w.bound_start || w.bound_end).then(|| Check {
                        spelling: (!w.any_case).then(|| w.bytes.into()),
                        bound_start: w.bound_start,
                        bound_end: w.bound_end,
                    })
                })
                .collect(),
            max_len: words.iter().map(|w| w.len().min(PREFIX)).max().unwrap_or(0),
        }
    }

    /// Calls `hit(word, end)` for each occurrence of a word in `text` (`end` is
    /// the byte after it). An occurrence may be reported twice.
    #[inline]
    pub(crate) fn scan(&self, text: &[u8], mut hit: impl FnMut(u32, usize)) {
        if text.len() >= 2 * LANE_BYTES
            && let Some(starts) = self.lanes::<4>(text.len())
        {
            self.walk_lanes(text, starts, &mut hit);
        } else if text.len() >= LANE_BYTES
            && let Some(starts) = self.lanes::<2>(text.len())
        {
            self.walk_lanes(text, starts, &mut hit);
        } else {
            self.walk(text, &mut hit);
        }
        if let Some(exact) = &self.exact {
            exact.find(text, |end, state| self.report(text, state, end, &mut hit));
        }
    }

    /// Where each of `N` walks of equal length starts, and that length, so that
    /// every occurrence lies wholly in one walk: walk k starts at k·c (the last
    /// one ends at the end) and runs on past the next start by the longest
    /// prefix less one byte. `None` when the line is too short for `N` walks.
    fn lanes<const N: usize>(&self, len: usize) -> Option<([usize; N], usize)> {
        let chunk = len.div_ceil(N);
        let steps = chunk + self.max_len.max(1) - 1;
        let mut starts = [0; N];
        for (k, s) in starts.iter_mut().enumerate() {
            *s = k * chunk;
        }
        // The last walk ends at the end of the line (it may start before its
        // chunk: what it walks twice is reported twice at most).
        starts[N - 1] = len.checked_sub(steps)?;
        // The others must not run past the end.
        (starts[N - 2] + steps <= len).then_some((starts, steps))
    }

    /// `N` walks in step, so that their chains of table loads overlap. The
    /// states are checked together; a match is rare enough to leave the loop
    /// for. (Two and four walks are written out: zipped iterators keep the
    /// loop free of bounds checks and the states in registers, which made it
    /// twice as fast as a loop over arrays.)
    fn walk_lanes<const N: usize>(
        &self,
        text: &[u8],
        (starts, steps): ([usize; N], usize),
        hit: &mut impl FnMut(u32, usize),
    ) {
        let (trans, classes, first_match) = (&self.trans[..], &self.classes, self.first_match);
        let lane = |k: usize| &text[starts[k]..starts[k] + steps];
        let step = |s: u32, x: u8| trans[s as usize + classes[x as usize] as usize];
        match N {
            2 => {
                let (mut a, mut b) = (0u32, 0u32);
                for (i, (&x, &y)) in lane(0).iter().zip(lane(1)).enumerate() {
                    a = step(a, x);
                    b = step(b, y);
                    if (a >= first_match) | (b >= first_match) {
                        self.report_lanes(text, &starts[..2], [a, b, 0, 0], i, hit);
                    }
                }
            }
            4 => {
                let (mut a, mut b, mut c, mut d) = (0u32, 0u32, 0u32, 0u32);
                let pairs = lane(0).iter().zip(lane(1)).zip(lane(2).iter().zip(lane(3)));
                for (i, ((&w, &x), (&y, &z))) in pairs.enumerate() {
                    a = step(a, w);
                    b = step(b, x);
                    c = step(c, y);
                    d = step(d, z);
                    if (a >= first_match)
                        | (b >= first_match)
                        | (c >= first_match)
                        | (d >= first_match)
                    {
                        self.report_lanes(text, &starts, [a, b, c, d], i, hit);
                    }
                }
            }
            _ => unreachable!("two or four walks"),
        }
    }

    /// The matches of walks in step at step `i`.
    #[inline(never)]
    fn report_lanes(
        &self,
        text: &[u8],
        starts: &[usize],
        states: [u32; 4],
        i: usize,
        hit: &mut impl FnMut(u32, usize),
    ) {
        for (&start, &state) in starts.iter().zip(&states) {
            if state >= self.first_match {
                self.report(text, state, start + i + 1, hit);
            }
        }
    }

    // Not inlined: inside a caller's large function the loop lost its
    // registers to the caller's and reloaded the table from the stack per byte.
    #[inline(never)]
    fn walk(&self, text: &[u8], hit: &mut impl FnMut(u32, usize)) {
        let mut s = 0u32;
        for (i, &x) in text.iter().enumerate() {
            s = self.trans[s as usize + self.classes[x as usize] as usize];
            if s >= self.first_match {
                self.report(text, s, i + 1, hit);
            }
        }
    }

    /// Walks a block of whole lines as [`PIECES`] pieces at once and records, in
    /// `walked`, where the walk is in a match state: what
    /// [`KeywordDfa::scan_walked`] then reports for each line of the block.
    /// Walking the block, not each line, lets every line, short or long, share
    /// the overlapped walks, and the pieces' overlap is paid once per
    /// block instead of once per line.
    pub(crate) fn walk_block(&self, block: &[u8], walked: &mut BlockWalk) {
        walked.clear();
        self.walk_pieces(block, walked);
        if let Some(exact) = &self.exact {
            exact.find(block, |end, state| walked.exact.push((end as u32, state)));
            // In order of start, two words' ends may come out of order.
            walked.exact.sort_by_key(|&(end, _)| end);
            walked.merge_exact();
        }
    }

    /// The walk of [`KeywordDfa::walk_block`], into `walked.found`.
    fn walk_pieces(&self, block: &[u8], walked: &mut BlockWalk) {
        // Piece k is recorded at the ends in (bounds[k], bounds[k + 1]]; it
        // starts early enough (the longest prefix less one byte before its
        // first end) that its state there is the one a walk from the block's
        // start has.
        let overlap = self.max_len.max(1) - 1;
        let chunk = block.len().div_ceil(PIECES);
        let steps = chunk + overlap;
        // (A block too short to be worth pieces is walked once; the pieces
        // need at least `overlap` bytes each.)
        if block.len() < 4 * PIECES * (overlap + 1) {
            self.record(block, &mut walked.found);
            return;
        }
        let mut bounds = [block.len(); PIECES + 1];
        let mut starts = [0; PIECES];
        for k in 1..PIECES {
            bounds[k] = k * chunk;
            starts[k] = k * chunk - overlap;
        }
        bounds[0] = 0;
        starts[PIECES - 1] = block.len() - steps;
        let (trans, classes, first_match) = (&self.trans[..], &self.classes, self.first_match);
        let lane = |k: usize| &block[starts[k]..starts[k] + steps];
        let step = |s: u32, x: u8| trans[s as usize + classes[x as usize] as usize];
        let mut st = [0u32; PIECES];
        let bytes = (lane(0).iter().zip(lane(1)))
            .zip(lane(2).iter().zip(lane(3)))
            .zip((lane(4).iter().zip(lane(5))).zip(lane(6).iter().zip(lane(7))));
        for (i, (((&b0, &b1), (&b2, &b3)), ((&b4, &b5), (&b6, &b7)))) in bytes.enumerate() {
            st[0] = step(st[0], b0);
            st[1] = step(st[1], b1);
            st[2] = step(st[2], b2);
            st[3] = step(st[3], b3);
            st[4] = step(st[4], b4);
            st[5] = step(st[5], b5);
            st[6] = step(st[6], b6);
            st[7] = step(st[7], b7);
            if st.iter().fold(false, |any, &s| any | (s >= first_match)) {
                walked.note(&starts, &bounds, st, i, first_match);
            }
        }
        walked.gather();
    }

    /// Records the match states of one walk of `text` (a block too short for
    /// its pieces).
    fn record(&self, text: &[u8], out: &mut Vec<(u32, u32)>) {
        let mut s = 0u32;
        for (i, &x) in text.iter().enumerate() {
            s = self.trans[s as usize + self.classes[x as usize] as usize];
            if s >= self.first_match {
                out.push(((i + 1) as u32, s));
            }
        }
    }

    /// Calls `hit(word, end)` for each occurrence of a word in `text`, as
    /// [`KeywordDfa::scan`] does, from a walk of the block that holds `text`
    /// at `offset` (`text` is a line of that block or a part of one, and
    /// `walked` is what [`KeywordDfa::walk_block`] recorded from `offset` on).
    /// Occurrences that start before `text` are not reported, and each check
    /// (spelling, word boundaries, a long word's tail) reads `text` alone, as
    /// a walk of `text` would.
    pub(crate) fn scan_walked(
        &self,
        text: &[u8],
        walked: &[(u32, u32)],
        offset: usize,
        mut hit: impl FnMut(u32, usize),
    ) {
        for &(end, state) in walked {
            let Some(end) = (end as usize).checked_sub(offset).filter(|&e| e > 0) else {
                continue;
            };
            if end > text.len() {
                break;
            }
            self.report(text, state, end, &mut hit);
        }
    }

    /// Reports the keywords that end at `end` in the walk (for a long keyword,
    /// its prefix does: the rest is compared here). A keyword that would start
    /// before `text` (a block's walk records states across lines) is skipped.
    #[inline]
    fn report(&self, text: &[u8], state: u32, end: usize, hit: &mut impl FnMut(u32, usize)) {
        let index = ((state - self.first_match) as usize) >> self.stride.trailing_zeros();
        let (from, to) = self.output_ranges[index];
        for &w in &self.outputs[from as usize..to as usize] {
            let word = &self.words[w as usize];
            let check = self.checks[w as usize].as_ref();
            let Some(start) = end.checked_sub(word.len().min(PREFIX)) else {
                continue;
            };
            if word.len() <= PREFIX {
                if check.is_none_or(|c| c.passes(text, start, end)) {
                    hit(w, end);
                }
                continue;
            }
            let word_end = start + word.len();
            if text
                .get(start..word_end)
                .is_some_and(|t| t.eq_ignore_ascii_case(word))
                && check.is_none_or(|c| c.passes(text, start, word_end))
            {
                hit(w, word_end);
            }
        }
    }

    /// Bytes of heap the tables take.
    #[cfg(test)]
    pub(crate) fn memory_usage(&self) -> usize {
        self.trans.len() * 4
            + self.outputs.len() * 4
            + self.output_ranges.len() * 8
            + self.words.iter().map(|w| w.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::AhoCorasickBuilder;

    fn found(dfa: &KeywordDfa, text: &str) -> Vec<(u32, usize)> {
        let mut v = Vec::new();
        dfa.scan(text.as_bytes(), |w, end| v.push((w, end)));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every occurrence, in any case or as spelt, with or without word
    /// boundaries, short and long lines, against the aho-corasick crate's
    /// overlapping search and the regex crate's `\b`.
    #[test]
    fn finds_what_an_overlapping_search_finds() {
        let words = [
            "error",
            "err",
            "rror:",
            "fail",
            "failed",
            "ap",
            "pat",
            "a",
            "://",
            "token",
            "✓ ok",
            "se",
            "secret_access_key",
            "xyzzy-long-keyword-of-forty-bytes-or-so-",
            "Failed",
            "ERROR: ",
            "xyzzy-LONG-keyword-of-forty-bytes-or-so-",
            // Short, as spelt and with a capital: found by the exact search.
            "SK",
            "Ap",
            "T",
        ];
        // Some words only as spelt.
        let cased: Vec<(&str, bool)> = words
            .iter()
            .map(|&w| {
                (
                    w,
                    !matches!(
                        w,
                        "Failed"
                            | "pat"
                            | "ERROR: "
                            | "secret_access_key"
                            | "xyzzy-LONG-keyword-of-forty-bytes-or-so-"
                            | "SK"
                            | "Ap"
                            | "T"
                    ),
                )
            })
            .collect();
        // Some only at word boundaries: bit 0 at the start, bit 1 at the end.
        let bounds = |w: &str| match w {
            "err" | "Failed" => 1,
            "token" | "ap" | "T" => 2,
            "SK" => 1,
            "se" | "error" | "xyzzy-long-keyword-of-forty-bytes-or-so-" => 3,
            _ => 0,
        };
        let given: Vec<Word<'_>> = cased
            .iter()
            .map(|&(w, any_case)| Word {
                bytes: w.as_bytes(),
                any_case,
                bound_start: bounds(w) & 1 != 0,
                bound_end: bounds(w) & 2 != 0,
            })
            .collect();
        let dfa = KeywordDfa::new(&given);
        let boundary = regex::bytes::Regex::new(r"(?-u)\b").unwrap();
        let reference = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(words)
            .unwrap();
        let pieces = [
            "ERROR: ",
            "error",
            "Failed",
            "pat",
            "://",
            "tok",
            "en",
            " ",
            "✓ OK",
            "xyzzy-LONG-keyword-",
            "of-forty-bytes-or-so-",
            "SE",
            "cret_access_key",
            "é",
            "z",
            "SK",
            "sk",
            "Ap",
            "AP",
            "T",
            "t",
        ];
        for line in crate::random_lines::random_lines(&pieces, 4000, 60, 0x2545_f491) {
            let boundaries: Vec<usize> = boundary
                .find_iter(line.as_bytes())
                .map(|m| m.start())
                .collect();
            let mut expected: Vec<(u32, usize)> = reference
                .find_overlapping_iter(&line)
                .filter(|m| {
                    let (word, any_case) = cased[m.pattern().as_usize()];
                    (any_case || &line[m.start()..m.end()] == word)
                        && (bounds(word) & 1 == 0 || boundaries.contains(&m.start()))
                        && (bounds(word) & 2 == 0 || boundaries.contains(&m.end()))
                })
                .map(|m| (m.pattern().as_u32(), m.end()))
                .collect();
            expected.sort_unstable();
            assert_eq!(found(&dfa, &line), expected, "{line}");
        }
    }

    /// A block's walk reports, for each of its lines and for any part of a
    /// line, what a walk of that text alone reports: blocks short and long,
    /// words in any case or as spelt, at word boundaries or not, longer than
    /// the walked prefix, across lines and across the ends of a part.
    /// The exact words' search finds the same starts with SIMD and without.
    #[test]
    fn exact_starts_are_the_same_either_way() {
        let words: Vec<Box<[u8]>> = [&b"SK"[..], b"Ap", b"T"].map(Box::from).to_vec();
        let Starts::Packed(packed) = Starts::new(&words) else {
            return; // No SIMD here: only the automaton runs anyway.
        };
        let automaton = Starts::Automaton(
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(&words)
                .unwrap(),
        );
        let packed = Starts::Packed(packed);
        let pieces = ["SK", "sk", "Ap", "AP", "T", "t", " ", "xyz", "ST"];
        for line in crate::random_lines::random_lines(&pieces, 2000, 40, 0x2545_f491) {
            let text = line.as_bytes();
            for at in 0..=text.len() {
                assert_eq!(
                    packed.leftmost(text, at),
                    automaton.leftmost(text, at),
                    "{line:?} from {at}"
                );
            }
        }
    }

    #[test]
    fn block_walks_find_what_line_walks_find() {
        let words = [
            Word::anywhere(b"error"),
            Word::anywhere(b"rror:"),
            Word::anywhere(b"a"),
            Word::anywhere(b"secret_access_key"),
            Word {
                bytes: b"Failed",
                any_case: false,
                bound_start: true,
                bound_end: false,
            },
            Word {
                bytes: b"token",
                any_case: true,
                bound_start: true,
                bound_end: true,
            },
            Word {
                bytes: b"xyzzy-LONG-keyword-of-forty-bytes-or-so-",
                any_case: false,
                bound_start: false,
                bound_end: true,
            },
            Word {
                bytes: b"SK",
                any_case: false,
                bound_start: true,
                bound_end: false,
            },
            Word {
                bytes: b"AC",
                any_case: false,
                bound_start: false,
                bound_end: false,
            },
        ];
        let dfa = KeywordDfa::new(&words);
        let pieces = [
            "SK",
            "sk",
            "AC",
            "Ac",
            "error",
            "ERROR:",
            "Failed",
            "failed",
            "token",
            "tok",
            "en",
            " ",
            "a",
            "é",
            "_",
            "SE",
            "cret_access_key",
            "xyzzy-LONG-keyword-",
            "of-forty-bytes-or-so-",
            "z",
        ];
        let lines: Vec<String> =
            crate::random_lines::random_lines(&pieces, 3000, 40, 0x9e37_79b9).collect();
        let mut walked = BlockWalk::default();
        // Blocks of 1 to 200 lines, from a few bytes to several KiB.
        let mut first = 0;
        for size in (1..).map(|i: usize| i * 37 % 200 + 1) {
            if first >= lines.len() {
                break;
            }
            let group = &lines[first..(first + size).min(lines.len())];
            first += size;
            let block: String = group.iter().map(|l| format!("{l}\n")).collect();
            dfa.walk_block(block.as_bytes(), &mut walked);
            let mut offset = 0;
            for line in group {
                // The line, and the line without its first and last few bytes
                // (as cleaning may leave it).
                let cut = line.len() / 3;
                let parts = [(0, line.len()), (cut, line.len() - cut)];
                for (from, to) in parts {
                    let Some(part) = line.get(from..to) else {
                        continue;
                    };
                    let mut expected = Vec::new();
                    dfa.scan(part.as_bytes(), |w, end| expected.push((w, end)));
                    let mut found = Vec::new();
                    dfa.scan_walked(part.as_bytes(), &walked.found, offset + from, |w, end| {
                        found.push((w, end))
                    });
                    for v in [&mut expected, &mut found] {
                        v.sort_unstable();
                        v.dedup();
                    }
                    assert_eq!(
                        found,
                        expected,
                        "{part:?} in a block of {} bytes",
                        block.len()
                    );
                }
                offset += line.len() + 1;
            }
        }
    }

    #[test]
    fn tables_stay_small() {
        let words: Vec<String> = (0..300).map(|i| format!("word{i}-x")).collect();
        let given: Vec<Word<'_>> = words.iter().map(|w| Word::anywhere(w.as_bytes())).collect();
        let dfa = KeywordDfa::new(&given);
        assert!(dfa.memory_usage() < 1 << 20, "{}", dfa.memory_usage());
    }
}
