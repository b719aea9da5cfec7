//! Masked templates of log lines, and the failure fingerprint built from them.
//!
//! Two reruns of the same failure differ in timestamps, durations, temp dirs,
//! hashes, ports and line counts; the fingerprint must not. A template replaces
//! those variable parts with placeholders (`<n>`, `<hex>`, `<uuid>`, `<tmp>`,
//! `<dur>`, `<ip>`, `<time>`) and drops CI workspace prefixes, so the same
//! failure yields the same template. The same templates serve the baseline diff
//! ("is this line new compared with the last passing log?").

use std::hash::Hasher;
use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

fn masks() -> &'static [(Regex, &'static str)] {
    static MASKS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    MASKS.get_or_init(|| {
        [
            // Timestamps first: they contain numbers.
            (
                r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
                "<time>",
            ),
            (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
            (
                r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
                "<uuid>",
            ),
            // Temp dirs and CI workspaces (their names change between runs).
            (
                r"(?:/tmp|/var/folders|/private/var/folders|C:\\Users\\[^\\\s]+\\AppData\\Local\\Temp|/home/runner/work/_temp)/[^\s:'\x22)]*",
                "<tmp>",
            ),
            (
                r"(?:/home/runner/work|/Users/runner/work|D:\\a|/builds|/var/lib/buildkite-agent/builds|/workspace|/home/travis/build|/var/jenkins_home/workspace|/var/lib/jenkins/workspace)/[^/\s]+/(?:[^/\s]+/)?",
                "",
            ),
            (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "<ip>"),
            (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
            (r"\b[0-9a-f]{7,64}\b", "<hex>"),
            (
                r"\b\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds|m|min|mins|minutes|h)\b",
                "<dur>",
            ),
            (r"\d+", "<n>"),
        ]
        .into_iter()
        .map(|(p, r)| (Regex::new(p).expect("valid mask regex"), r))
        .collect()
    })
}

/// The masked template of a line: variable parts replaced by placeholders,
/// whitespace collapsed.
pub fn template(line: &str) -> String {
    let mut s = line.trim().to_string();
    for (re, rep) in masks() {
        if let std::borrow::Cow::Owned(o) = re.replace_all(&s, *rep) {
            s = o;
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// A 64-bit hash of a line's coarse template, for baseline sets and repeat
/// counts: every word that contains a digit counts as one variable token, and
/// whitespace runs as one space. One pass, no regex: it runs on every candidate
/// line and every baseline line.
pub fn template_hash(line: &str) -> u64 {
    // The template is made as bytes and hashed in one write: SipHash hashes a
    // stream, so this is the hash of the same bytes written piece by piece, as
    // it was, without a hasher call per punctuation byte.
    let mut template = Vec::with_capacity(line.len());
    let mut word_start = true;
    let mut in_space = false;
    let mut word_has_digit = false;
    // Where the word being read starts in `template`.
    let mut word_at = 0;
    for &b in line.trim().as_bytes() {
        if b.is_ascii_alphanumeric() || b >= 0x80 {
            if in_space {
                template.push(b' ');
                in_space = false;
            }
            if word_start {
                word_at = template.len();
            }
            word_has_digit |= b.is_ascii_digit();
            template.push(b);
            word_start = false;
        } else {
            if !word_start {
                mask_word(&mut template, word_at, word_has_digit);
                word_has_digit = false;
                word_start = true;
            }
            if b.is_ascii_whitespace() {
                in_space = true;
            } else {
                if in_space {
                    template.push(b' ');
                    in_space = false;
                }
                template.push(b);
            }
        }
    }
    if !word_start {
        mask_word(&mut template, word_at, word_has_digit);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(&template);
    h.finish()
}

/// Replaces the word at the end of `template` (from `start`) by `#` if it holds
/// a digit.
fn mask_word(template: &mut Vec<u8>, start: usize, has_digit: bool) {
    if has_digit {
        template.truncate(start);
        template.push(b'#');
    }
}

/// The fingerprint of a failure from the templates of its key error lines: order
/// and duplicates do not matter. 16 hex digits of SHA-256.
pub fn fingerprint<'a>(templates: impl IntoIterator<Item = &'a str>) -> String {
    let mut t: Vec<&str> = templates.into_iter().filter(|t| !t.is_empty()).collect();
    t.sort_unstable();
    t.dedup();
    let mut hasher = Sha256::new();
    for line in t {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_are_masked() {
        assert_eq!(
            template("2024-01-02T03:04:05.123Z test took 12.5s in /tmp/abc123/x at 10.1.2.3:8080"),
            "<time> test took <dur> in <tmp> at <ip>"
        );
        assert_eq!(
            template("error at /home/runner/work/medic/medic/src/main.rs:42:7 commit deadbeef12"),
            "error at src/main.rs:<n>:<n> commit <hex>"
        );
    }

    /// The hash as it was computed before, a write per word or byte: the
    /// reference for the one-write hash.
    fn template_hash_by_pieces(line: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut word_start = true;
        let mut in_space = false;
        let mut word_has_digit = false;
        let mut word = Vec::with_capacity(32);
        let flush = |word: &mut Vec<u8>,
                     has_digit: bool,
                     h: &mut std::collections::hash_map::DefaultHasher| {
            if has_digit {
                h.write_u8(b'#');
            } else {
                h.write(word);
            }
            word.clear();
        };
        for &b in line.trim().as_bytes() {
            if b.is_ascii_alphanumeric() || b >= 0x80 {
                if in_space {
                    h.write_u8(b' ');
                    in_space = false;
                }
                word_has_digit |= b.is_ascii_digit();
                word.push(b);
                word_start = false;
            } else {
                if !word_start {
                    flush(&mut word, word_has_digit, &mut h);
                    word_has_digit = false;
                    word_start = true;
                }
                if b.is_ascii_whitespace() {
                    in_space = true;
                } else {
                    if in_space {
                        h.write_u8(b' ');
                        in_space = false;
                    }
                    h.write_u8(b);
                }
            }
        }
        if !word_start {
            flush(&mut word, word_has_digit, &mut h);
        }
        h.finish()
    }

    /// Hashing the template in one write gives the hash of writing it piece
    /// by piece: the same repeat counts and baseline matches.
    #[test]
    fn template_hash_is_the_piecewise_hash() {
        let pieces = [
            "error", "Error", "12", "x1f3a", " ", "  ", "\t", ":", ".", "/", "é", "地", "a", "_",
            "-", "(", "3.14", "",
        ];
        let lines = (0..1000u32)
            .flat_map(|i| crate::random_lines::random_lines(&pieces, 5, 20, 0x2545_f491 ^ i));
        for line in lines {
            assert_eq!(
                template_hash(&line),
                template_hash_by_pieces(&line),
                "{line:?}"
            );
        }
    }

    #[test]
    fn template_hash_ignores_numbers_and_spacing() {
        assert_eq!(
            template_hash("took 12ms at  x1f3a"),
            template_hash("took 7ms at x99")
        );
        assert_ne!(template_hash("error: a"), template_hash("error: b"));
    }

    #[test]
    fn same_failure_same_fingerprint_different_failure_different() {
        let a = [template("thread 'x' panicked at src/a.rs:10:5 after 3.2s")];
        let b = [template("thread 'x' panicked at src/a.rs:11:5 after 0.9s")];
        let c = [template("error[E0308]: mismatched types")];
        assert_eq!(
            fingerprint(a.iter().map(String::as_str)),
            fingerprint(b.iter().map(String::as_str))
        );
        assert_ne!(
            fingerprint(a.iter().map(String::as_str)),
            fingerprint(c.iter().map(String::as_str))
        );
        assert_eq!(fingerprint(a.iter().map(String::as_str)).len(), 16);
    }
}
