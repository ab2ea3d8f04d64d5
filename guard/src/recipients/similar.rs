//! String similarity for look-alike addresses: UTS #39 skeletons, the optimal-string-alignment
//! (restricted Damerau–Levenshtein) distance, and a deletion-neighbourhood index so that a
//! thousand typed recipients are not compared with five thousand contacts one by one.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::confusable_detection::skeleton;

/// The largest distance that still counts as a look-alike: 1, or 2 when either string is
/// longer than 12 characters.
pub(crate) fn max_distance(a: &[char], b: &[char]) -> usize {
    if a.len().max(b.len()) > 12 { 2 } else { 1 }
}

/// Strings shorter than this (in characters) are only compared by skeleton: one edit in `bt` or
/// `jo` makes a different name, not a typo.
pub(crate) const MIN_EDIT_LEN: usize = 3;

/// A case-insensitive UTS #39 skeleton: `rn` and `m`, `1` and `l`, `0` and `o`, Cyrillic `а` and
/// Latin `a` all map to the same string. Lower-casing after the skeleton folds prototypes such
/// as `O` (for `0`) back to lower case; the second pass maps what lower-casing produced.
pub(crate) fn skeleton_key(s: &str) -> String {
    let table = ascii_skeletons();
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match table.get(usize::from(b)).and_then(Option::as_deref) {
            Some(k) => out.push_str(k),
            None => return skeleton_key_slow(s),
        }
    }
    out
}

fn skeleton_key_slow(s: &str) -> String {
    let once: String = skeleton(&s.to_lowercase()).flat_map(char::to_lowercase).collect();
    skeleton(&once).flat_map(char::to_lowercase).collect()
}

/// [`skeleton_key`] of each ASCII character whose key stays ASCII at every step. For a string of
/// such characters normalisation has nothing to reorder, so its key is the concatenation of the
/// characters' keys (addresses are mostly ASCII: this avoids the general path's cost).
fn ascii_skeletons() -> &'static [Option<String>] {
    static TABLE: std::sync::OnceLock<Vec<Option<String>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0u8..128)
            .map(|b| {
                let c = char::from(b);
                let once: String = skeleton(&c.to_lowercase().to_string())
                    .flat_map(char::to_lowercase)
                    .collect();
                let twice: String = skeleton(&once).flat_map(char::to_lowercase).collect();
                (once.is_ascii() && twice.is_ascii() && !c.is_ascii_control()).then_some(twice)
            })
            .collect()
    })
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters, each costing 1 (no substring edited twice). Computed only within a
/// band of width `k` around the diagonal: returns the distance if it is at most `k`, else `None`.
pub(crate) fn osa_within(a: &[char], b: &[char], k: usize) -> Option<usize> {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    let far = k + 1;
    let mut prev2 = vec![far; m + 1];
    let mut prev: Vec<usize> = (0..=m).map(|j| j.min(far)).collect();
    let mut cur = vec![far; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(k).max(1);
        let hi = (i + k).min(m);
        cur.fill(far);
        cur[0] = i.min(far);
        let mut row_min = cur[0];
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v.min(far);
            row_min = row_min.min(cur[j]);
        }
        if row_min > k {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= k).then_some(prev[m])
}

/// FNV-1a (one step per character) over a seed and the characters of `s` except the positions in `skip`.
fn hash_without(seed: u64, s: &[char], skip: [usize; 2]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for (i, c) in s.iter().enumerate() {
        if i == skip[0] || i == skip[1] {
            continue;
        }
        h ^= u64::from(u32::from(*c));
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hashes of `s` with 0, 1 and (when `max_deletions` is 2 and `s` has 11 or more characters, so
/// that it may be compared at distance 2) 2 characters deleted. Two strings within OSA distance
/// k ≤ `max_deletions` always share one of these (a substitution or a transposition is one
/// deletion on each side), so the index below never misses a candidate; hash collisions only
/// add candidates, which are then verified.
pub(crate) fn deletion_hashes(seed: u64, s: &[char], max_deletions: usize, out: &mut Vec<u64>) {
    const NONE: usize = usize::MAX;
    out.clear();
    out.push(hash_without(seed, s, [NONE, NONE]));
    for i in 0..s.len() {
        out.push(hash_without(seed, s, [i, NONE]));
    }
    if max_deletions >= 2 && s.len() >= 11 {
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                out.push(hash_without(seed, s, [i, j]));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// A seed for [`deletion_hashes`] that scopes an index to one string (a domain, a suffix).
pub(crate) fn seed_of(scope: &str) -> u64 {
    let chars: Vec<char> = scope.chars().collect();
    hash_without(0x5ea1_9057, &chars, [usize::MAX, usize::MAX])
}

/// Candidate ids by deletion-neighbourhood hash, for distances up to `max_deletions` (1 or 2):
/// a flat sorted list of `(hash, id)`, built with [`insert`](Self::insert) then
/// [`finish`](Self::finish), searched by bisection.
#[derive(Debug)]
pub(crate) struct DeletionIndex {
    max_deletions: usize,
    entries: Vec<(u64, u32)>,
    /// `buckets[b]..buckets[b + 1]`: the entries whose hash starts with the 16 bits `b`.
    buckets: Vec<u32>,
    scratch: Vec<u64>,
}

impl DeletionIndex {
    pub(crate) fn new(max_deletions: usize) -> DeletionIndex {
        DeletionIndex {
            max_deletions,
            entries: Vec::new(),
            buckets: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, seed: u64, s: &[char], id: u32) {
        let mut hashes = std::mem::take(&mut self.scratch);
        deletion_hashes(seed, s, self.max_deletions, &mut hashes);
        self.entries.extend(hashes.iter().map(|h| (*h, id)));
        self.scratch = hashes;
    }

    /// Sorts the entries; call once after the last [`insert`](Self::insert).
    pub(crate) fn finish(&mut self) {
        self.entries.sort_unstable();
        self.entries.dedup();
        self.scratch = Vec::new();
        self.buckets = Vec::with_capacity((1 << 16) + 1);
        let mut next = 0usize;
        for b in 0..=(1u64 << 16) {
            while next < self.entries.len() && (self.entries[next].0 >> 48) < b {
                next += 1;
            }
            self.buckets.push(u32::try_from(next).unwrap_or(u32::MAX));
        }
    }

    /// Ids whose string may be within the distance of `s` (to be verified), sorted, unique.
    pub(crate) fn candidates(&self, seed: u64, s: &[char]) -> Vec<u32> {
        let mut hashes = Vec::new();
        deletion_hashes(seed, s, self.max_deletions, &mut hashes);
        let mut ids = Vec::new();
        for h in hashes {
            let b = (h >> 48) as usize;
            let (Some(&lo), Some(&hi)) = (self.buckets.get(b), self.buckets.get(b + 1)) else {
                continue;
            };
            let bucket = self.entries.get(lo as usize..hi as usize).unwrap_or_default();
            let start = bucket.partition_point(|(e, _)| *e < h);
            ids.extend(bucket[start..].iter().take_while(|(e, _)| *e == h).map(|(_, id)| *id));
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// A display name folded for comparison: compatibility-decomposed, diacritics dropped,
/// lower-cased, whitespace collapsed, and `Last, First` turned into `first last`.
/// `None` for names that cannot identify a person (empty, or an address).
pub(crate) fn name_key(name: &str) -> Option<String> {
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == '"' || c == '\'' { ' ' } else { c })
        .collect();
    let reordered = match folded.split_once(',') {
        Some((last, first)) if !first.contains(',') && !first.trim().is_empty() => format!("{first} {last}"),
        _ => folded,
    };
    let key = reordered.split_whitespace().collect::<Vec<_>>().join(" ");
    (key.chars().count() >= 2 && !key.contains('@')).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook full-matrix OSA distance, as the reference for the banded one.
    fn osa_full(a: &[char], b: &[char]) -> usize {
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[a.len()][b.len()]
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn banded_osa_agrees_with_the_full_matrix() {
        let known = [
            ("council", "counci1", 1),
            ("bristol", "bristlo", 1),
            ("ca", "abc", 3),
            ("", "ab", 2),
            ("nhs", "nsh", 1),
        ];
        for (a, b, d) in known {
            assert_eq!(osa_full(&chars(a), &chars(b)), d, "{a} {b}");
        }
        // Every pair of short strings over a three-letter alphabet, at every band width.
        let mut words = vec![String::new()];
        for len in 1..=5 {
            let mut next = Vec::new();
            for w in words.iter().filter(|w| w.len() == len - 1) {
                for c in ['a', 'b', 'c'] {
                    next.push(format!("{w}{c}"));
                }
            }
            words.extend(next);
        }
        for a in &words {
            for b in words.iter().step_by(3) {
                let (a, b) = (chars(a), chars(b));
                let full = osa_full(&a, &b);
                for k in 0..=3 {
                    assert_eq!(osa_within(&a, &b, k), (full <= k).then_some(full), "{a:?} {b:?} k={k}");
                }
            }
        }
    }

    #[test]
    fn deletion_neighbourhoods_share_a_hash_within_the_distance() {
        let pairs = [
            ("council", "counci1"),
            ("bristol", "bristlo"),
            ("northumberland", "nortumberlnd"),
            ("maria.gonzalez.fernandez", "maria.gonzales.fernandes"),
            ("abcdefghijklm", "bacdefghijkml"),
        ];
        for (a, b) in pairs {
            let (a, b) = (chars(a), chars(b));
            let k = max_distance(&a, &b);
            assert!(osa_within(&a, &b, k).is_some());
            let (mut ha, mut hb) = (Vec::new(), Vec::new());
            deletion_hashes(7, &a, k, &mut ha);
            deletion_hashes(7, &b, k, &mut hb);
            assert!(ha.iter().any(|h| hb.contains(h)), "{a:?} {b:?}");
        }
    }

    #[test]
    fn the_ascii_fast_path_equals_the_general_skeleton() {
        let printable: String = (0x20u8..0x7f).map(char::from).collect();
        for s in [
            printable.as_str(),
            "jimmy@counci1.gov.uk",
            "J0HN.Smith+tag@Leeds.GOV.uk",
            "rnrn-m_m",
        ] {
            assert_eq!(skeleton_key(s), skeleton_key_slow(s), "{s}");
        }
        for b in 0x20u8..0x7f {
            let s = char::from(b).to_string();
            assert_eq!(skeleton_key(&s), skeleton_key_slow(&s), "{s:?}");
        }
    }

    #[test]
    fn skeletons_fold_the_usual_confusables() {
        assert_eq!(skeleton_key("rn"), skeleton_key("m"));
        assert_eq!(skeleton_key("counci1"), skeleton_key("council"));
        assert_eq!(skeleton_key("l0ndon"), skeleton_key("London"));
        assert_eq!(skeleton_key("c\u{430}mden"), skeleton_key("camden"));
        assert_ne!(skeleton_key("camden"), skeleton_key("canden"));
    }

    #[test]
    fn names_fold_case_spaces_diacritics_and_order() {
        assert_eq!(name_key(" José   GARCÍA "), Some("jose garcia".into()));
        assert_eq!(name_key("García, José"), Some("jose garcia".into()));
        assert_eq!(name_key("Zoë O'Brien"), name_key("zoe o brien"));
        assert_eq!(name_key("jane@x.org"), None);
        assert_eq!(name_key(" "), None);
    }
}
