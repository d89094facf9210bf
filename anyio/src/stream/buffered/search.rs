//! Byte searches for the line and delimiter readers (`AsyncFile::lines`,
//! `receive_until`), written here rather than taken from a crate: they are a few lines,
//! and a dependency for them sat on every cold build's critical path (README, "Cargo
//! features").

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte of a word.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The index of the first `byte` in `haystack`.
///
/// Eight bytes at a time, read little-endian so that the first byte is the lowest lane.
/// XORed with `byte` in every lane, a word has a zero lane exactly where `byte` is, and
/// `(w - 0x01…) & !w & 0x80…` sets the high bit of every zero lane and of no lane below
/// the lowest one (a borrow only starts at a zero lane and only moves up), so its lowest
/// set bit is the first match.
pub(crate) fn find_byte(byte: u8, haystack: &[u8]) -> Option<usize> {
    let splat = u64::from_le_bytes([byte; 8]);
    let words = haystack.chunks_exact(8);
    let tail = words.remainder();
    let whole = haystack.len() - tail.len();
    for (i, word) in words.enumerate() {
        // Always eight bytes (`chunks_exact`), so the fallback is never taken.
        let lanes = u64::from_le_bytes(word.try_into().unwrap_or([0; 8])) ^ splat;
        let zeros = lanes.wrapping_sub(ONES) & !lanes & HIGHS;
        if zeros != 0 {
            return Some(i * 8 + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    tail.iter().position(|&b| b == byte).map(|j| whole + j)
}

/// The index of the first occurrence of `needle` (not empty) in `haystack`.
///
/// Candidates are found by their first byte with [`find_byte`] and then compared whole, so
/// a search costs at most `haystack.len() × needle.len()` byte comparisons: linear for the
/// short delimiters protocols use (`\r\n`, `\0`), and bounded by the caller's `max_bytes`
/// for any other, since `receive_until` never searches more than that window and resumes
/// where it stopped.
pub(crate) fn find(needle: &[u8], haystack: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from + find_byte(first, &haystack[from..=last_start])?;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{find, find_byte};
    use proptest::prelude::*;

    fn naive(needle: &[u8], haystack: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn find_byte_sees_every_lane_and_the_tail() {
        for len in 0..40 {
            for at in 0..len {
                let mut haystack = vec![b'a'; len];
                haystack[at] = b'\n';
                assert_eq!(find_byte(b'\n', &haystack), Some(at), "len {len}, at {at}");
            }
            assert_eq!(find_byte(b'\n', &vec![b'a'; len]), None);
        }
    }

    #[test]
    fn find_byte_is_not_fooled_by_neighbouring_lanes() {
        // 0x80 and 0x01 around the byte sought, and the byte sought + 1, are the lanes a
        // borrow could make look like a match, in both halves of a block.
        let haystack = [
            0x0b, 0x80, 0x01, 0x81, 0xff, 0x00, 0x0b, 0x03, 0x0b, 0x80, 0x01, 0x81, 0x0b, 0x0b,
            0x0b, 0x0a,
        ];
        assert_eq!(find_byte(0x0a, &haystack), Some(15));
        assert_eq!(find_byte(0x03, &haystack), Some(7));
        assert_eq!(find_byte(0x00, &haystack), Some(5));
        assert_eq!(find_byte(0xff, &haystack), Some(4));
        assert_eq!(find_byte(0x02, &haystack), None);
    }

    #[test]
    fn find_takes_the_first_occurrence() {
        assert_eq!(find(b"\r\n", b"a\rb\r\nc\r\n"), Some(3));
        assert_eq!(find(b"aab", b"aaaab"), Some(2));
        assert_eq!(find(b"abc", b"ab"), None);
        assert_eq!(find(b"", b"abc"), None);
        assert_eq!(find(b"x", b""), None);
        assert_eq!(find(b"abc", b"abc"), Some(0));
    }

    proptest! {
        #[test]
        fn find_agrees_with_a_naive_search(
            needle in proptest::collection::vec(0u8..4, 1..5),
            haystack in proptest::collection::vec(0u8..4, 0..80),
        ) {
            prop_assert_eq!(find(&needle, &haystack), naive(&needle, &haystack));
        }

        #[test]
        fn find_byte_agrees_with_position(
            byte in any::<u8>(),
            haystack in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            prop_assert_eq!(
                find_byte(byte, &haystack),
                haystack.iter().position(|&b| b == byte)
            );
        }
    }
}
