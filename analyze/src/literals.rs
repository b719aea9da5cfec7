//! Required literals: for a regular expression, a set of literals of which at least
//! one occurs in every match, each in its own case or, where the pattern folds
//! case, in any ASCII case.
//!
//! The triage's signal table has a hundred patterns; running them as a set on
//! every line cost more than everything else together. Most lines cannot match
//! any of them, and a literal scan (Aho-Corasick) says so far more cheaply than
//! the regex engine. The literals are derived from the patterns themselves rather
//! than listed by hand, so a new signal cannot be hidden by a gate that forgot it.
//!
//! The derivation is conservative: it only ever returns a set that every match
//! must contain, and says "none" (no useful set) when it cannot prove one. Where
//! a pattern requires several literals, it prefers one that logs rarely hold
//! ([`COMMON`] lists the words they are full of).

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use crate::keywords::Word;

/// Longest cross product kept while joining adjacent parts (`[Ee][Rr]…`).
const MAX_SET: usize = 64;

/// A literal that a match contains: as written when the pattern's case matters
/// there, lower-cased when it matches in any ASCII case. Case-sensitive
/// literals let the gate pass fewer lines: `Error` in a pattern is not gated on
/// every line that says `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lit {
    /// The bytes: lower-case if `any_case`.
    pub bytes: Vec<u8>,
    /// Whether it matches in any ASCII case (some part came from a folded
    /// class such as `(?i)e` = `[Ee]`).
    pub any_case: bool,
    /// Whether it counts only with an ASCII word boundary at its start (end):
    /// set by [`decided`] for a pattern's leading (trailing) `\b`.
    pub bound_start: bool,
    pub bound_end: bool,
}

impl Lit {
    fn empty() -> Lit {
        Lit::new(Vec::new(), false)
    }

    pub(crate) fn new(bytes: Vec<u8>, any_case: bool) -> Lit {
        Lit {
            bytes,
            any_case,
            bound_start: false,
            bound_end: false,
        }
    }

    /// The literal as a keyword for the DFA.
    pub(crate) fn as_word(&self) -> Word<'_> {
        Word {
            bytes: &self.bytes,
            any_case: self.any_case,
            bound_start: self.bound_start,
            bound_end: self.bound_end,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// `self` followed by `next`: in any case if either part is.
    fn join(&self, next: &Lit) -> Lit {
        let any_case = self.any_case || next.any_case;
        let mut bytes = self.bytes.clone();
        bytes.extend_from_slice(&next.bytes);
        if any_case {
            bytes.make_ascii_lowercase();
        }
        Lit::new(bytes, any_case)
    }

    /// Whether every text that holds `self` holds `other`.
    fn implies(&self, other: &Lit) -> bool {
        let contains = |hay: &[u8], needle: &[u8]| {
            needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
        };
        if other.any_case {
            contains(&self.bytes.to_ascii_lowercase(), &other.bytes)
        } else {
            !self.any_case && contains(&self.bytes, &other.bytes)
        }
    }
}

/// What is known about the matches of a sub-expression.
struct Req {
    /// Literals, one of which every match contains.
    lits: Vec<Lit>,
    /// Every match *is* one of `lits` (so neighbours can be joined onto it).
    exact: bool,
}

/// How to gate a pattern: the literals of which every match of the gated part
/// contains one, and the top-level alternatives that have no literal
/// of `min_len` bytes or more (as patterns of their own, to run ungated). The
/// pattern is read as the triage compiles it: bytes, ASCII classes. `None` if it
/// does not parse.
pub(crate) fn split(pattern: &str, min_len: usize) -> Option<(Vec<Lit>, Vec<String>)> {
    let hir = parse(pattern)?;
    let branches = match hir.kind() {
        HirKind::Alternation(b) => b.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let (mut lits, mut ungated) = (Vec::new(), Vec::new());
    for b in branches {
        match of(b).filter(|r| r.lits.iter().all(|l| l.len() >= min_len)) {
            Some(r) => {
                for l in r.lits {
                    if !lits.contains(&l) {
                        lits.push(l);
                    }
                }
            }
            None => ungated.push(b.to_string()),
        }
    }
    Some((minimal(lits), ungated))
}

/// Drops literals that imply a shorter one: any text holding them holds that one.
fn minimal(mut lits: Vec<Lit>) -> Vec<Lit> {
    let all = lits.clone();
    lits.retain(|l| !all.iter().any(|k| k.len() < l.len() && l.implies(k)));
    lits
}

/// A pattern's top-level alternatives that are anchored at the start of the
/// text (`^…`), and the others joined into one pattern (`None` when every one
/// is anchored). `None` if the pattern does not parse.
pub(crate) fn split_anchored(pattern: &str) -> Option<(Vec<String>, Option<String>)> {
    let hir = parse(pattern)?;
    let branches = match hir.kind() {
        HirKind::Alternation(b) => b.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let (anchored, rest): (Vec<&Hir>, Vec<&Hir>) =
        branches.iter().partition(|b| starts_anchored(b));
    let rest = (!rest.is_empty())
        .then(|| Hir::alternation(rest.into_iter().cloned().collect()).to_string());
    Some((anchored.iter().map(|b| b.to_string()).collect(), rest))
}

/// Whether every match of `hir` starts at the start of the text.
fn starts_anchored(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(Look::Start) => true,
        HirKind::Concat(parts) => parts.first().is_some_and(starts_anchored),
        HirKind::Capture(c) => starts_anchored(&c.sub),
        HirKind::Alternation(branches) => branches.iter().all(starts_anchored),
        _ => false,
    }
}

/// When a pattern is nothing but literals, each perhaps between word boundaries
/// (`(?i)\b(?:error|fatal)\b`, `\[ERROR\]`), finding one of them where its
/// boundaries hold *is* a match: the gate decides and the regex need not run.
/// Those literals, all of them (none dropped for containing another: `warning`
/// ends at a boundary where `warn` does not), each at least `min_len` long; or
/// `None` for any other pattern.
pub(crate) fn decided(pattern: &str, min_len: usize) -> Option<Vec<Lit>> {
    let hir = parse(pattern)?;
    let branches = match hir.kind() {
        HirKind::Alternation(b) => b.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let mut out: Vec<Lit> = Vec::new();
    for branch in branches {
        let mut parts: &[Hir] = match branch.kind() {
            HirKind::Concat(parts) => parts,
            _ => std::slice::from_ref(branch),
        };
        let is_bound = |h: &Hir| matches!(h.kind(), HirKind::Look(Look::WordAscii));
        let bound_start = parts.first().is_some_and(is_bound);
        if bound_start {
            parts = &parts[1..];
        }
        let bound_end = parts.last().is_some_and(is_bound);
        if bound_end {
            parts = &parts[..parts.len() - 1];
        }
        if parts.iter().any(has_look) {
            return None;
        }
        let req = of(&Hir::concat(parts.to_vec()))?;
        if !req.exact || req.lits.iter().any(|l| l.len() < min_len) {
            return None;
        }
        for mut l in req.lits {
            l.bound_start = bound_start;
            l.bound_end = bound_end;
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    Some(out)
}

/// Whether a look-around (anchor, boundary) is anywhere in `hir`.
fn has_look(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(_) => true,
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => false,
        HirKind::Capture(c) => has_look(&c.sub),
        HirKind::Repetition(r) => has_look(&r.sub),
        HirKind::Alternation(hs) | HirKind::Concat(hs) => hs.iter().any(has_look),
    }
}

/// The literals of which every match of `pattern` contains one, or `None` when
/// some match may contain none of length `min_len` or more.
#[cfg(test)]
pub(crate) fn required(pattern: &str, min_len: usize) -> Option<Vec<Lit>> {
    let req = of(&parse(pattern)?)?;
    if req.lits.iter().any(|l| l.len() < min_len) {
        return None;
    }
    Some(minimal(req.lits))
}

fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

fn of(hir: &Hir) -> Option<Req> {
    match hir.kind() {
        // Zero-width: neutral inside a concatenation.
        HirKind::Empty | HirKind::Look(_) => Some(Req {
            lits: vec![Lit::empty()],
            exact: true,
        }),
        HirKind::Literal(l) => Some(Req {
            lits: vec![Lit::new(l.0.to_vec(), false)],
            exact: true,
        }),
        HirKind::Class(c) => class(c).map(|lits| Req { lits, exact: true }),
        HirKind::Capture(c) => of(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                // An optional part (`d?`) is either absent or one of its literals,
                // which keeps a run going: `timed? ?out` gives `timeout`,
                // `timed out`, … instead of just `time`.
                return match (r.max, of(&r.sub)) {
                    (Some(1), Some(sub)) if sub.exact => {
                        let mut lits = sub.lits;
                        if !lits.contains(&Lit::empty()) {
                            lits.push(Lit::empty());
                        }
                        Some(Req { lits, exact: true })
                    }
                    _ => None,
                };
            }
            let sub = of(&r.sub)?;
            Some(Req {
                lits: sub.lits,
                exact: sub.exact && r.max == Some(1) && r.min == 1,
            })
        }
        HirKind::Alternation(branches) => {
            let mut lits: Vec<Lit> = Vec::new();
            let mut exact = true;
            for b in branches {
                let r = of(b)?;
                exact &= r.exact;
                for l in r.lits {
                    if !lits.contains(&l) {
                        lits.push(l);
                    }
                }
            }
            Some(Req { lits, exact })
        }
        HirKind::Concat(parts) => concat(parts),
    }
}

/// A class's members when there are few of them; a letter whose both cases are
/// members (`[Ee]`, as `(?i)` writes `e`) is one member in any case.
fn class(c: &Class) -> Option<Vec<Lit>> {
    let mut members: Vec<Vec<u8>> = Vec::new();
    let mut add = |bytes: Vec<u8>| {
        if !members.contains(&bytes) {
            members.push(bytes);
        }
        members.len() <= 16
    };
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                if usize::from(r.end() - r.start()) > 8 {
                    return None;
                }
                for byte in r.start()..=r.end() {
                    if !add(vec![byte]) {
                        return None;
                    }
                }
            }
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                if (r.end() as u32 - r.start() as u32) > 8 {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    if !add(ch.encode_utf8(&mut buf).as_bytes().to_vec()) {
                        return None;
                    }
                }
            }
        }
    }
    let mut out: Vec<Lit> = Vec::new();
    for m in &members {
        let folded = m.to_ascii_lowercase() != m.to_ascii_uppercase();
        let lit = if folded
            && members.contains(&m.to_ascii_lowercase())
            && members.contains(&m.to_ascii_uppercase())
        {
            Lit::new(m.to_ascii_lowercase(), true)
        } else {
            Lit::new(m.clone(), false)
        };
        if !out.contains(&lit) {
            out.push(lit);
        }
    }
    (out.len() <= 8).then_some(out)
}

/// A concatenation: joins runs of exact parts into longer literals, then keeps
/// the most selective requirement among the runs and the inexact parts.
fn concat(parts: &[Hir]) -> Option<Req> {
    let mut choices: Vec<Vec<Lit>> = Vec::new();
    let mut run: Option<Vec<Lit>> = None;
    let mut all_exact = true;
    let mut broken = false;
    for part in parts {
        match of(part) {
            Some(r) if r.exact => {
                run = Some(match run.take() {
                    None => r.lits,
                    Some(prev) if prev.len() * r.lits.len() <= MAX_SET => {
                        let mut joined = Vec::with_capacity(prev.len() * r.lits.len());
                        for a in &prev {
                            for b in &r.lits {
                                let l = a.join(b);
                                if !joined.contains(&l) {
                                    joined.push(l);
                                }
                            }
                        }
                        joined
                    }
                    Some(prev) => {
                        broken = true;
                        choices.push(prev);
                        r.lits
                    }
                });
            }
            other => {
                all_exact = false;
                choices.extend(run.take());
                if let Some(r) = other {
                    choices.push(r.lits);
                }
            }
        }
    }
    if all_exact && !broken {
        return run.map(|lits| Req { lits, exact: true });
    }
    choices.extend(run);
    // Most selective: literals of three bytes or more (shorter ones are in
    // most lines), none of the words CI logs are full of, then the longest
    // shortest literal, then the fewest literals.
    choices
        .into_iter()
        .max_by_key(|lits| {
            let shortest = lits.iter().map(Lit::len).min().unwrap_or(0);
            let common = lits
                .iter()
                .any(|l| COMMON.contains(&l.bytes.to_ascii_lowercase().as_slice()));
            (
                shortest >= 3,
                !common,
                shortest.min(8),
                std::cmp::Reverse(lits.len()),
            )
        })
        .map(|lits| Req { lits, exact: false })
}

/// Literals that CI logs are full of: each is in more than 0.5 % of the lines
/// of the test fixtures (counted over `throughput build`'s log of them). Where
/// a pattern requires several literals, the gate takes another one: `ssl` for
/// `ssl.*(?:error|failed)`, `<<< failure!` rather than `, errors: ` for
/// Maven's summary of a failed class. Only a preference: every choice is a
/// literal that every match contains.
const COMMON: &[&[u8]] = &[
    b" - ",
    b"error",
    b" error",
    b"error ",
    b"error: ",
    b"errors: ",
    b", errors: ",
    b"fail",
    b"failed",
    b" failed",
    b"failure",
    b"failures: ",
    b", failures: ",
    b"tests run: ",
    b"running ",
    b"warn",
    b"tests:",
    b"at ",
    b"exception",
    b" in ",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The literals, those in any case marked `(?i)`.
    fn req(p: &str) -> Option<Vec<String>> {
        required(p, 1).map(|v| {
            v.into_iter()
                .map(|l| {
                    let text = String::from_utf8(l.bytes).unwrap();
                    if l.any_case {
                        format!("(?i){text}")
                    } else {
                        text
                    }
                })
                .collect()
        })
    }

    #[test]
    fn literals_of_common_shapes() {
        assert_eq!(
            req(r"error: could not compile `"),
            Some(vec!["error: could not compile `".into()])
        );
        assert_eq!(req(r"(?i)\bwarn(?:ing)?\b"), Some(vec!["(?i)warn".into()]));
        assert_eq!(req(r"^\s*--- FAIL: "), Some(vec!["--- FAIL: ".into()]));
        assert_eq!(
            req(r"npm ERR!|^npm error "),
            Some(vec!["npm ERR!".into(), "npm error ".into()])
        );
        // A part in any case makes the whole literal so.
        assert_eq!(req(r"Error(?i:x)"), Some(vec!["(?i)errorx".into()]));
        assert_eq!(req(r"^\S+\.go:\d+:\d+: "), Some(vec![".go:".into()]));
        assert_eq!(req(r"\berror TS\d+:"), Some(vec!["error TS".into()]));
        assert_eq!(
            req(r"(?i)\btimed? ?out\b"),
            Some(vec![
                "(?i)timed out".into(),
                "(?i)timedout".into(),
                "(?i)time out".into(),
                "(?i)timeout".into()
            ])
        );
    }

    /// Patterns made only of literals and outer word boundaries are decided by
    /// the gate; any other shape is not.
    #[test]
    fn literal_patterns_are_decided_by_the_gate() {
        let words = |p: &str| {
            decided(p, 3).map(|lits| {
                lits.into_iter()
                    .map(|l| {
                        format!(
                            "{}{}{}{}",
                            if l.bound_start { "\\b" } else { "" },
                            if l.any_case { "(?i)" } else { "" },
                            String::from_utf8(l.bytes).unwrap(),
                            if l.bound_end { "\\b" } else { "" },
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        // `warning` is kept beside `warn`: it ends at a boundary where `warn` does not.
        assert_eq!(
            words(r"(?i)\bwarn(?:ing)?\b"),
            Some(vec![r"\b(?i)warning\b".into(), r"\b(?i)warn\b".into()])
        );
        assert_eq!(words(r"\[ERROR\]"), Some(vec![r"[ERROR]".into()]));
        assert_eq!(
            words(r"\bjest\b|Tests:"),
            Some(vec![r"\bjest\b".into(), "Tests:".into()])
        );
        for shape in [
            r"^error: ",
            r"\berror\b: \d+",
            r"error.*failed",
            r"\bab\b",
            r"foo\bbar",
            r"(?:error)?",
            r"[a-z]+rror",
        ] {
            assert_eq!(decided(shape, 3), None, "{shape}");
        }
    }

    #[test]
    fn anchored_alternatives_are_split_off() {
        let (anchored, rest) = split_anchored(r"^error: |\bfailed\b|^(?:a|b)c").unwrap();
        assert_eq!(anchored.len(), 2);
        let rest = rest.unwrap();
        let re = |p: &str| {
            regex::bytes::RegexBuilder::new(p)
                .unicode(false)
                .build()
                .unwrap()
        };
        assert!(re(&rest).is_match(b"it failed"));
        assert!(!re(&rest).is_match(b"error: x"));
        assert!(re(&anchored[0]).is_match(b"error: x"));
        assert!(!re(&anchored[0]).is_match(b"an error: x"));
        assert!(re(&anchored[1]).is_match(b"bc"));
        assert_eq!(split_anchored(r"^x|^y").unwrap().1, None);
        assert_eq!(split_anchored(r"x").unwrap().0.len(), 0);
    }

    /// Of several required literals, the gate takes one that logs rarely hold.
    #[test]
    fn words_logs_are_full_of_are_avoided() {
        assert_eq!(
            req(r"(?i)ssl.*(?:error|failed)"),
            Some(vec!["(?i)ssl".into()])
        );
        assert_eq!(
            req(r"Tests run: \d+, Failures: \d+, Errors: \d+.*<<< (?:FAILURE|ERROR)!"),
            Some(vec!["<<< FAILURE!".into(), "<<< ERROR!".into()])
        );
        // … but not for a literal too short to gate on.
        assert_eq!(req(r"^FAIL\s+\S+\s+[\d.]+s$"), Some(vec!["FAIL".into()]));
    }

    #[test]
    fn no_requirement_when_a_match_can_avoid_every_literal() {
        assert_eq!(req(r"\d+|foo"), None);
        assert_eq!(req(r"(?:abc)?"), None);
        assert_eq!(
            req(r"^\S+:\d+:\d+: [A-Z]{1,3}\d{3,4} "),
            Some(vec![": ".into()])
        );
        assert_eq!(required(r"^\S+:\d+:\d+: [A-Z]{1,3}\d{3,4} ", 3), None);
        assert_eq!(required(r"^E\s{2,}\S", 3), None);
    }

    #[test]
    fn alternatives_without_literals_are_split_off() {
        let (lits, ungated) = split(r"\bdocker (?:build|run)\b|^#\d+ \[", 3).unwrap();
        let words: Vec<&[u8]> = lits.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(words, [b"docker build".as_slice(), b"docker run"]);
        assert!(lits.iter().all(|l| !l.any_case));
        assert_eq!(ungated.len(), 1);
        let re = regex::bytes::RegexBuilder::new(&ungated[0])
            .unicode(false)
            .build()
            .unwrap();
        assert!(re.is_match(b"#12 [build 3/4] RUN make"));
        assert!(!re.is_match(b"docker build ."));
    }

    /// Every match of each pattern contains one of its literals: checked on
    /// strings that match.
    #[test]
    fn every_match_contains_a_literal() {
        let cases = [
            (
                r"(?i)could not resolve host|ECONNREFUSED|ssl.*(?:error|failed)",
                "SSL routines:ERROR here",
            ),
            (
                r"make(?:\[\d+\])?: \*\*\* .*Error \d+",
                "make[2]: *** [all] Error 1",
            ),
            (r"^\s*(?:✓|✔|√)\s", "  ✔ passes"),
            (
                r"\b\d+ (?:tests? )?failed\b|\bfailures?: \d*[1-9]",
                "3 tests failed",
            ),
            (
                r"^\s+at [\w.$<>]+\(.*\)$|^\s+at .+:\d+:\d+\)?$",
                "    at foo (x.js:1:2)",
            ),
        ];
        for (pattern, text) in cases {
            let re = regex::Regex::new(pattern).unwrap();
            assert!(re.is_match(text), "{pattern} on {text}");
            let lits = required(pattern, 1).unwrap_or_else(|| panic!("{pattern}"));
            let lower = text.to_ascii_lowercase();
            assert!(
                lits.iter().any(|l| {
                    let hay = if l.any_case { &lower } else { text };
                    hay.contains(std::str::from_utf8(&l.bytes).unwrap())
                }),
                "{pattern}: {lits:?} not in {text}"
            );
        }
    }
}
