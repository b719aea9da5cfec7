//! Lines glued from random pieces, for the tests that compare a fast routine with
//! a reference on many lines (keyword walks, ANSI stripping, the dotted-quad
//! finder, the one-pass byte summary).

/// `count` lines, each of fewer than `max_pieces` pieces picked by an xorshift
/// generator started at `seed`: the same lines on every run.
pub(crate) fn random_lines<'a>(
    pieces: &'a [&'a str],
    count: usize,
    max_pieces: u32,
    mut seed: u32,
) -> impl Iterator<Item = String> + 'a {
    (0..count).map(move |_| {
        let mut line = String::new();
        for _ in 0..seed % max_pieces {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            line.push_str(pieces[seed as usize % pieces.len()]);
        }
        line
    })
}
