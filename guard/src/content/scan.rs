//! The scanner: one pass over the words of the (normalised) text with hand-written matchers,
//! context from the keyword index, and an overlap resolution by priority.
//!
//! Priorities (high wins where spans overlap): e-mail, IBAN, card, international phone (`+`),
//! NHS, BSN, NINO, national phone (`0…`), passport, date of birth, postcodes, health terms.
//! A candidate of a checksum kind (NHS, BSN with BSN context, IBAN, card) that has the shape
//! but fails its validation leaves a *veto* over its span: lower-priority kinds cannot report
//! the same characters. NHS and BSN vetoes sit below national phone numbers on purpose: a
//! well-formed `0…` number (e.g. the Dutch `0612345678`) is still reported as a phone even
//! when it is also an NHS-shaped number that fails mod 11; a `+44`/`+31` number is always a
//! phone, and its digits never become an NHS number or BSN.

use crate::{Confidence, Kind};

use super::keywords::{Positions, find_hits, flag};
use super::validate;

/// Context window around a candidate, in bytes, in either direction (Purview uses 300).
const WINDOW: usize = 300;
/// A DOB word must end at most this many bytes before the date.
const DOB_GAP: usize = 40;
/// A bare 9-digit number is a passport number only with a passport word this close (bytes,
/// either side): any 9-digit reference near the word "passport" 300 characters away is not.
const PASSPORT_DIGITS_WINDOW: usize = 40;

mod prio {
    pub const EMAIL: u8 = 100;
    pub const IBAN: u8 = 90;
    /// An IBAN-shaped candidate that fails mod 97: nothing inside it is reported (its digits
    /// must not come back as a card number).
    pub const VETO_IBAN: u8 = 88;
    pub const CARD: u8 = 85;
    pub const PHONE_INTL: u8 = 80;
    pub const VETO_STRONG: u8 = 75;
    pub const NHS: u8 = 70;
    pub const BSN: u8 = 65;
    pub const NINO: u8 = 60;
    pub const PHONE_NATIONAL: u8 = 55;
    pub const VETO_WEAK: u8 = 50;
    pub const PASSPORT: u8 = 45;
    pub const DOB: u8 = 40;
    pub const UK_POSTCODE: u8 = 30;
    pub const NL_POSTCODE: u8 = 25;
    pub const HEALTH: u8 = 10;
}

/// A candidate in normalised coordinates; `kind: None` is a veto.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub kind: Option<Kind>,
    pub start: usize,
    pub end: usize,
    pub confidence: Confidence,
    pub context: bool,
    prio: u8,
}

/// Context positions per kind of evidence.
struct Context {
    nhs: Positions,
    nino: Positions,
    bsn: Positions,
    iban: Positions,
    card: Positions,
    postcode: Positions,
    dob: Positions,
    passport: Positions,
    email: Positions,
    phone: Positions,
    person: Positions,
}

const OTHER: u8 = 0;
const DIGIT: u8 = 1;
const LETTER: u8 = 2;
const ALNUM: u8 = DIGIT | LETTER;
const HIGH: u8 = 4;
const SPECIAL: u8 = 8;

/// Byte classes for the main loop.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_digit() {
            DIGIT
        } else if c.is_ascii_alphabetic() {
            LETTER
        } else if c >= 0x80 {
            HIGH
        } else if c == b'+' || c == b'(' {
            SPECIAL
        } else {
            OTHER
        };
        i += 1;
    }
    t
};

#[inline]
fn is_alnum_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// Whether the character starting at `i` is alphanumeric (false at the end).
fn alnum_at(t: &str, i: usize) -> bool {
    match t.as_bytes().get(i) {
        None => false,
        Some(&c) if c < 0x80 => is_alnum_byte(c),
        Some(_) => t
            .get(i..)
            .and_then(|s| s.chars().next())
            .is_some_and(char::is_alphanumeric),
    }
}

/// Whether the character ending at `i` is alphanumeric (false at the start).
fn alnum_before(t: &str, i: usize) -> bool {
    if i == 0 {
        return false;
    }
    let c = t.as_bytes()[i - 1];
    if c < 0x80 {
        return is_alnum_byte(c);
    }
    t.get(..i)
        .and_then(|s| s.chars().next_back())
        .is_some_and(char::is_alphanumeric)
}

/// Digit groups starting at a digit, joined by single separators.
#[derive(Debug)]
struct Groups {
    n: usize,
    start: [usize; 8],
    end: [usize; 8],
    /// `sep[k]` is the separator before group `k` (`sep[0]` unused).
    sep: [u8; 8],
}

impl Groups {
    fn parse(b: &[u8], i: usize) -> Groups {
        let mut g = Groups {
            n: 0,
            start: [0; 8],
            end: [0; 8],
            sep: [0; 8],
        };
        let mut p = i;
        loop {
            let s = p;
            while p < b.len() && b[p].is_ascii_digit() {
                p += 1;
            }
            g.start[g.n] = s;
            g.end[g.n] = p;
            g.n += 1;
            if g.n == 8 || p + 1 >= b.len() {
                break;
            }
            let c = b[p];
            if matches!(c, b' ' | b'-' | b'.' | b'/') && b[p + 1].is_ascii_digit() {
                g.sep[g.n] = c;
                p += 1;
            } else {
                break;
            }
        }
        g
    }

    fn len(&self, k: usize) -> usize {
        self.end[k] - self.start[k]
    }

    /// The group lengths of groups `0..=k` equal `shape`, with one separator from `seps`.
    fn shape(&self, shape: &[usize], seps: &[u8]) -> bool {
        let k = shape.len();
        if k > self.n || (0..k).any(|j| self.len(j) != shape[j]) {
            return false;
        }
        k == 1 || ((1..k).all(|j| self.sep[j] == self.sep[1]) && seps.contains(&self.sep[1]))
    }

    /// Digits of groups `0..k`.
    fn digits(&self, b: &[u8], k: usize) -> String {
        let mut s = String::with_capacity(20);
        for j in 0..k {
            s.extend(b[self.start[j]..self.end[j]].iter().map(|&c| c as char));
        }
        s
    }
}

struct Scanner<'t> {
    t: &'t str,
    b: &'t [u8],
    ctx: Context,
    out: Vec<Cand>,
    /// Start of the last date shape seen (for the DOB rule "no other date in between").
    last_date_start: Option<usize>,
}

impl Scanner<'_> {
    fn push(&mut self, kind: Kind, start: usize, end: usize, confidence: Confidence, context: bool, prio: u8) {
        self.out.push(Cand {
            kind: Some(kind),
            start,
            end,
            confidence,
            context,
            prio,
        });
    }

    fn veto(&mut self, start: usize, end: usize, prio: u8) {
        self.out.push(Cand {
            kind: None,
            start,
            end,
            confidence: Confidence::Low,
            context: false,
            prio,
        });
    }

    /// The whole numeric candidate `[s, e)` is not part of a longer run of groups with the same
    /// separator (`12 943 476 5919` or `943 476 5919 12` are not NHS numbers).
    fn isolated(&self, s: usize, e: usize, sep: u8) -> bool {
        let b = self.b;
        let before = s >= 2 && b[s - 1] == sep && b[s - 2].is_ascii_digit();
        let after = e + 1 < b.len() && b[e] == sep && b[e + 1].is_ascii_digit();
        !(before || after)
    }

    /// A compact run `[s, e)` glued to other digit groups by a separator (`06-54008086`,
    /// `2024.1234567890`): a part of a longer number (a phone number, a reference), not one on
    /// its own.
    fn chained(&self, s: usize, e: usize) -> bool {
        let b = self.b;
        let sep = |c: u8| matches!(c, b' ' | b'-' | b'.' | b'/');
        let before = s >= 2 && sep(b[s - 1]) && b[s - 2].is_ascii_digit();
        let after = e + 1 < b.len() && sep(b[e]) && b[e + 1].is_ascii_digit();
        before || after
    }

    fn run(&mut self) {
        let b = self.b;
        let n = b.len();
        let mut i = 0;
        let mut prev_alnum = false;
        while i < n {
            let c = b[i];
            let class = CLASS[c as usize];
            if class & ALNUM != 0 {
                let s = i;
                i += 1;
                while i < n && CLASS[b[i] as usize] & ALNUM != 0 {
                    i += 1;
                }
                if !prev_alnum {
                    if class == DIGIT {
                        self.at_digit(s);
                    } else if self.letter_candidate(s, i) {
                        self.at_letter(s, i);
                    }
                }
                prev_alnum = true;
                continue;
            }
            if class == HIGH {
                if c & 0xC0 != 0x80 {
                    prev_alnum = self
                        .t
                        .get(i..)
                        .and_then(|s| s.chars().next())
                        .is_some_and(char::is_alphanumeric);
                }
                i += 1;
                continue;
            }
            prev_alnum = false;
            if class == SPECIAL {
                if c == b'+' && i + 1 < n && b[i + 1].is_ascii_digit() && !alnum_before(self.t, i) {
                    self.phone_intl(i);
                } else if c == b'(' && i + 2 < n && b[i + 1] == b'0' && b[i + 2].is_ascii_digit() {
                    self.phone_national(i);
                }
            }
            i += 1;
        }
        self.emails();
    }

    /// A cheap test on a word `[i, j)` that starts with a letter: could it start a NINO, IBAN,
    /// postcode or passport number?
    #[inline]
    fn letter_candidate(&self, i: usize, j: usize) -> bool {
        let b = self.b;
        let wlen = j - i;
        (wlen >= 2 && b[i + 1..j.min(i + 4)].iter().any(u8::is_ascii_digit))
            || (wlen == 2 && j + 1 < b.len() && matches!(b[j], b' ' | b'-') && b[j + 1].is_ascii_digit())
            || (wlen == 3 && b[i..j].eq_ignore_ascii_case(b"GIR"))
            || (wlen == 9 && !self.ctx.passport.is_empty())
    }

    fn at_digit(&mut self, i: usize) {
        let b = self.b;
        let g = Groups::parse(b, i);
        let last_ok = |k: usize| k + 1 < g.n || !alnum_at(self.t, g.end[k]);
        let g0 = g.len(0);

        // NHS number: 3-3-4 (space or dash) or 10 compact.
        let nhs_end = if g0 == 10 && last_ok(0) && !self.chained(i, g.end[0]) {
            Some(1)
        } else if g.shape(&[3, 3, 4], b" -") && last_ok(2) && self.isolated(i, g.end[2], g.sep[1]) {
            Some(3)
        } else {
            None
        };
        if let Some(k) = nhs_end {
            let d = g.digits(b, k);
            let e = g.end[k - 1];
            if validate::nhs_number(&d).is_some() {
                if self.ctx.nhs.near(i, e, WINDOW) {
                    self.push(Kind::UkNhsNumber, i, e, Confidence::High, true, prio::NHS);
                }
            } else {
                self.veto(i, e, prio::VETO_WEAK);
            }
        }

        // A bare 9-digit number near a passport word, closer than any BSN word, is a passport
        // number (UK), not a BSN — and is not vetoed as an invalid BSN either.
        let passport_digits = g0 == 9 && last_ok(0) && {
            let e = g.end[0];
            match self.ctx.passport.distance(i, e, PASSPORT_DIGITS_WINDOW) {
                Some(p) => self.ctx.bsn.distance(i, e, WINDOW).is_none_or(|d| p < d),
                None => false,
            }
        };

        // BSN: 9 compact (8 padded), 3-3-3 (space, dot, dash), 4.2.3, 3 3 2.
        if !self.ctx.bsn.is_empty() && !passport_digits {
            let k = if (g0 == 9 || g0 == 8) && last_ok(0) && !self.chained(i, g.end[0]) {
                Some(1)
            } else if (g.shape(&[3, 3, 3], b" .-") || g.shape(&[4, 2, 3], b". ") || g.shape(&[3, 3, 2], b" "))
                && last_ok(2)
                && self.isolated(i, g.end[2], g.sep[1])
            {
                Some(3)
            } else {
                None
            };
            if let Some(k) = k {
                let e = g.end[k - 1];
                if self.ctx.bsn.near(i, e, WINDOW) {
                    if validate::bsn(&g.digits(b, k)) {
                        self.push(Kind::NlBsn, i, e, Confidence::High, true, prio::BSN);
                    } else {
                        self.veto(i, e, prio::VETO_WEAK);
                    }
                }
            }
        }

        // Payment card: 13–19 compact, or groups (first of 4, then 3–6) with one separator.
        let card_k = if (13..=19).contains(&g0) && last_ok(0) {
            Some(1)
        } else if g0 == 4 && g.n >= 3 && matches!(g.sep[1], b' ' | b'-') {
            let mut best = None;
            let mut total = 4;
            for k in 1..g.n.min(5) {
                if g.sep[k] != g.sep[1] || !(3..=6).contains(&g.len(k)) {
                    break;
                }
                total += g.len(k);
                if k >= 2 && (13..=19).contains(&total) && last_ok(k) {
                    best = Some(k + 1);
                }
            }
            best
        } else {
            None
        };
        if let Some(k) = card_k {
            let d = g.digits(b, k);
            let e = g.end[k - 1];
            if validate::payment_card(&d) {
                if self.ctx.card.near(i, e, WINDOW) {
                    self.push(Kind::PaymentCard, i, e, Confidence::High, true, prio::CARD);
                }
            } else if !(d.len() == 13 && d.starts_with('1')) {
                self.veto(i, e, prio::VETO_STRONG);
            }
        }

        // UK passport, 9 digits.
        if passport_digits {
            self.push(
                Kind::PassportNumber,
                i,
                g.end[0],
                Confidence::High,
                true,
                prio::PASSPORT,
            );
        }

        // National phone numbers start with 0.
        if b[i] == b'0' && (i == 0 || b[i - 1] != b'+') {
            self.phone_national(i);
        }

        // Dates of birth.
        if !self.ctx.dob.is_empty() {
            self.date(i, &g);
        }

        // NL postcode: 1234 AB / 1234AB.
        if g0 == 4 && b[i] != b'0' {
            self.nl_postcode(i, g.end[0]);
        }
    }

    fn nl_postcode(&mut self, i: usize, e: usize) {
        let b = self.b;
        let l = if b.get(e) == Some(&b' ') { e + 1 } else { e };
        if l + 2 > b.len() || !b[l].is_ascii_alphabetic() || !b[l + 1].is_ascii_alphabetic() || alnum_at(self.t, l + 2)
        {
            return;
        }
        let mut canon = String::with_capacity(6);
        canon.push_str(&self.t[i..e]);
        canon.push(b[l].to_ascii_uppercase() as char);
        canon.push(b[l + 1].to_ascii_uppercase() as char);
        if !validate::nl_postcode(&canon) {
            return;
        }
        // Lower-case letters ("2025 om", "1990 en") are words after a number, not a postcode:
        // Dutch postcodes are written in capitals, unless a postcode word stands right before.
        let upper = b[l].is_ascii_uppercase() && b[l + 1].is_ascii_uppercase();
        let labelled = self.ctx.postcode.last_before(i, 12).is_some();
        let ctx = (upper || labelled) && self.ctx.postcode.near(i, l + 2, WINDOW);
        if upper || labelled {
            let conf = if ctx { Confidence::Medium } else { Confidence::Low };
            self.push(Kind::NlPostcode, i, l + 2, conf, ctx, prio::NL_POSTCODE);
        }
    }

    fn date(&mut self, i: usize, g: &Groups) {
        let b = self.b;
        let t = self.t;
        let num = |k: usize| t[g.start[k]..g.end[k]].parse::<u32>().unwrap_or(0);
        let mut found: Option<(usize, u32, u32, u32)> = None; // end, y, m, d
        if g.n >= 3 {
            let (l0, l1, l2) = (g.len(0), g.len(1), g.len(2));
            let same = g.sep[1] == g.sep[2];
            if same
                && matches!(g.sep[1], b'/' | b'-' | b'.')
                && (1..=2).contains(&l0)
                && (1..=2).contains(&l1)
                && l2 == 4
            {
                found = Some((g.end[2], num(2), num(1), num(0)));
            } else if same
                && matches!(g.sep[1], b'-' | b'/')
                && l0 == 4
                && (1..=2).contains(&l1)
                && (1..=2).contains(&l2)
            {
                found = Some((g.end[2], num(0), num(1), num(2)));
            }
            if found.is_some() && alnum_at(t, g.end[2]) {
                found = None;
            }
        }
        if found.is_none() && (1..=2).contains(&g.len(0)) && b.get(g.end[0]) == Some(&b' ') {
            // d Month yyyy
            let ws = g.end[0] + 1;
            let mut we = ws;
            while we < b.len() && b[we].is_ascii_alphabetic() {
                we += 1;
            }
            if let Some(m) = month(&t[ws..we]) {
                let mut p = we;
                if b.get(p) == Some(&b'.') {
                    p += 1;
                }
                if b.get(p) == Some(&b' ') {
                    let ys = p + 1;
                    let mut ye = ys;
                    while ye < b.len() && b[ye].is_ascii_digit() {
                        ye += 1;
                    }
                    if ye - ys == 4 && !alnum_at(t, ye) {
                        found = Some((ye, t[ys..ye].parse().unwrap_or(0), m, num(0)));
                    }
                }
            }
        }
        let Some((e, y, m, d)) = found else { return };
        let prev = self.last_date_start.replace(i);
        if !validate::date(y, m, d) {
            return;
        }
        if let Some((_, kw_end)) = self.ctx.dob.last_before(i, DOB_GAP) {
            if prev.is_none_or(|p| p < kw_end) {
                self.push(Kind::DateOfBirth, i, e, Confidence::Medium, true, prio::DOB);
            }
        }
    }

    fn at_letter(&mut self, i: usize, j: usize) {
        let b = self.b;
        let t = self.t;
        let n = b.len();
        let wlen = j - i;
        let digit = |k: usize| k < j && b[k].is_ascii_digit();
        let early_digit = digit(i + 1) || digit(i + 2) || digit(i + 3);
        let two_letters = wlen >= 2 && b[i + 1].is_ascii_alphabetic();

        if two_letters && digit(i + 2) && digit(i + 3) {
            self.iban(i);
        }
        if two_letters && (digit(i + 2) || (wlen == 2 && j + 1 < n && matches!(b[j], b' ' | b'-'))) {
            self.nino(i);
        }
        if early_digit || (wlen == 3 && b[i..j].eq_ignore_ascii_case(b"GIR")) {
            self.uk_postcode(i, j);
        }
        if wlen == 9 && two_letters && digit(i + 8) && !self.ctx.passport.is_empty() {
            let word = &t[i..j];
            let upper = word.to_ascii_uppercase();
            let uk_form = b[i + 2..j].iter().all(u8::is_ascii_digit);
            let case_ok = uk_form || word == upper;
            if case_ok && validate::passport(&upper) && self.ctx.passport.near(i, j, WINDOW) {
                self.push(Kind::PassportNumber, i, j, Confidence::High, true, prio::PASSPORT);
            }
        }
    }

    fn iban(&mut self, i: usize) {
        let b = self.b;
        let n = b.len();
        let mut canon = String::with_capacity(34);
        canon.extend(b[i..i + 4].iter().map(|c| c.to_ascii_uppercase() as char));
        let mut ends: Vec<(usize, usize)> = Vec::new(); // (end in text, canonical length)
        let mut p = i + 4;
        while canon.len() < 34 {
            let q = if p + 1 < n && matches!(b[p], b' ' | b'-') && b[p + 1].is_ascii_alphanumeric() {
                p + 1
            } else {
                p
            };
            let mut r = q;
            while r < n && r - q < 4 && b[r].is_ascii_alphanumeric() {
                r += 1;
            }
            let run = r - q;
            if run == 0 {
                break;
            }
            canon.extend(b[q..r].iter().map(|c| c.to_ascii_uppercase() as char));
            if run == 4 {
                ends.push((r, canon.len()));
                p = r;
            } else {
                if !alnum_at(self.t, r) {
                    ends.push((r, canon.len()));
                }
                break;
            }
        }
        let Some(country_len) = validate::iban_length(&canon[..2]) else {
            return;
        };
        for &(e, len) in ends.iter().rev() {
            if len != country_len || alnum_at(self.t, e) {
                continue;
            }
            // The country and length fit: valid, or nothing at all over its span.
            let c = &canon[..len];
            if validate::iban(c) {
                let ctx = self.ctx.iban.near(i, e, WINDOW);
                let conf = if ctx { Confidence::High } else { Confidence::Medium };
                self.push(Kind::Iban, i, e, conf, ctx, prio::IBAN);
            } else {
                self.veto(i, e, prio::VETO_IBAN);
            }
            return;
        }
    }

    fn nino(&mut self, i: usize) {
        let b = self.b;
        let n = b.len();
        let mut canon = [0u8; 9];
        canon[0] = b[i].to_ascii_uppercase();
        canon[1] = b[i + 1].to_ascii_uppercase();
        let mut p = i + 2;
        let mut sep: Option<u8> = None;
        let mut take_sep = |p: &mut usize| {
            if *p < n && matches!(b[*p], b' ' | b'-') {
                if sep.is_some_and(|s| s != b[*p]) {
                    return false;
                }
                sep = Some(b[*p]);
                *p += 1;
            }
            true
        };
        for k in 0..3 {
            if !take_sep(&mut p) {
                return;
            }
            if p + 2 > n || !b[p].is_ascii_digit() || !b[p + 1].is_ascii_digit() {
                return;
            }
            canon[2 + 2 * k] = b[p];
            canon[3 + 2 * k] = b[p + 1];
            p += 2;
        }
        if !take_sep(&mut p) || p >= n || !b[p].is_ascii_alphabetic() || alnum_at(self.t, p + 1) {
            return;
        }
        canon[8] = b[p].to_ascii_uppercase();
        let e = p + 1;
        let Ok(c) = std::str::from_utf8(&canon) else { return };
        if !validate::nino(c) {
            return;
        }
        let ctx = self.ctx.nino.near(i, e, WINDOW);
        let upper = b[i].is_ascii_uppercase() && b[i + 1].is_ascii_uppercase() && b[p].is_ascii_uppercase();
        if ctx {
            self.push(Kind::UkNino, i, e, Confidence::High, true, prio::NINO);
        } else if upper {
            self.push(Kind::UkNino, i, e, Confidence::Medium, false, prio::NINO);
        }
    }

    fn uk_postcode(&mut self, i: usize, j: usize) {
        let b = self.b;
        let t = self.t;
        let wlen = j - i;
        let (end, canon) = if (5..=7).contains(&wlen) {
            (j, t[i..j].to_ascii_uppercase())
        } else if (2..=4).contains(&wlen) && b.get(j) == Some(&b' ') {
            let s2 = j + 1;
            let mut e2 = s2;
            while e2 < b.len() && b[e2].is_ascii_alphanumeric() {
                e2 += 1;
            }
            if e2 - s2 != 3 || alnum_at(t, e2) {
                return;
            }
            let mut c = t[i..j].to_ascii_uppercase();
            c.push_str(&t[s2..e2].to_ascii_uppercase());
            (e2, c)
        } else {
            return;
        };
        if alnum_at(t, end) || !validate::uk_postcode(&canon) {
            return;
        }
        let ctx = self.ctx.postcode.near(i, end, WINDOW);
        let upper = !b[i..end].iter().any(u8::is_ascii_lowercase);
        if upper || ctx {
            let conf = if ctx { Confidence::Medium } else { Confidence::Low };
            self.push(Kind::UkPostcode, i, end, conf, ctx, prio::UK_POSTCODE);
        }
    }

    /// Digits of a phone number from `p`: groups joined by one separator, `(…)` groups.
    /// Returns the digits and, after each group, (end in text, digits so far, group length).
    fn phone_groups(&self, mut p: usize, seps: &[u8]) -> (Digits, Vec<(usize, usize, usize)>) {
        let b = self.b;
        let n = b.len();
        let mut digits = Digits::default();
        let mut ends = Vec::new();
        while ends.len() < 12 {
            let paren = p < n && b[p] == b'(';
            let s = if paren { p + 1 } else { p };
            let mut e = s;
            while e < n && b[e].is_ascii_digit() && digits.len() < 20 {
                digits.push(b[e] - b'0');
                e += 1;
            }
            if e == s || (e < n && b[e].is_ascii_digit()) {
                break;
            }
            let glen = e - s;
            if paren {
                if e >= n || b[e] != b')' {
                    break;
                }
                e += 1;
            }
            ends.push((e, digits.len(), glen));
            let mut q = e;
            if q < n && seps.contains(&b[q]) {
                q += 1;
            }
            if q < n && (b[q].is_ascii_digit() || b[q] == b'(') {
                p = q;
            } else {
                break;
            }
        }
        (digits, ends)
    }

    fn phone_intl(&mut self, i: usize) {
        let (digits, ends) = self.phone_groups(i + 1, b" -.");
        let d = &digits;
        for &(e, count, _) in ends.iter().rev() {
            if alnum_at(self.t, e) {
                continue;
            }
            let all = &d[..count];
            let ok = match (all.first(), all.get(1)) {
                (Some(4), Some(4)) => {
                    // A trunk zero, "(0)" or written out, is not dialled from abroad.
                    let nsn = if all.get(2) == Some(&0) { &all[3..] } else { &all[2..] };
                    let first = nsn.first().copied().unwrap_or(0);
                    (nsn.len() == 10 || (nsn.len() == 9 && first == 1))
                        && matches!(first, 1 | 2 | 3 | 5 | 7 | 8 | 9)
                        && !repdigit(nsn)
                }
                (Some(3), Some(1)) => {
                    let nsn = if all.get(2) == Some(&0) { &all[3..] } else { &all[2..] };
                    nsn.len() == 9 && nsn[0] != 0 && !repdigit(nsn)
                }
                (Some(&c), _) => c != 0 && (8..=15).contains(&count) && !repdigit(&all[1..]),
                _ => false,
            };
            if ok {
                let ctx = self.ctx.phone.near(i, e, WINDOW);
                let conf = if ctx { Confidence::High } else { Confidence::Medium };
                self.push(Kind::PhoneNumber, i, e, conf, ctx, prio::PHONE_INTL);
                return;
            }
        }
        // Not a valid phone number, but digits after a `+` are never an identifier either.
        if let Some(&(e, count, _)) = ends.last() {
            if count >= 6 {
                self.veto(i, e, prio::PHONE_INTL);
            }
        }
    }

    fn phone_national(&mut self, i: usize) {
        let (digits, ends) = self.phone_groups(i, b" -");
        if digits.len() < 10 || digits[0] != 0 || digits[1] == 0 {
            return;
        }
        for (k, &(e, count, _)) in ends.iter().enumerate().rev() {
            // National numbers: every group has at least 2 digits.
            if ends[..=k].iter().any(|&(_, _, glen)| glen < 2) || alnum_at(self.t, e) {
                continue;
            }
            let all = &digits[..count];
            let uk = count == 11 && matches!(all[1], 1 | 2 | 3 | 5 | 7 | 8 | 9);
            let nl = count == 10;
            if (uk || nl) && !repdigit(&all[1..]) {
                let ctx = self.ctx.phone.near(i, e, WINDOW);
                let conf = if ctx { Confidence::High } else { Confidence::Medium };
                self.push(Kind::PhoneNumber, i, e, conf, ctx, prio::PHONE_NATIONAL);
                return;
            }
        }
    }

    fn emails(&mut self) {
        let b = self.b;
        let t = self.t;
        let n = b.len();
        let local_char = |c: u8| c.is_ascii_alphanumeric() || b"._%+-'".contains(&c);
        for a in memchr::memchr_iter(b'@', b) {
            let mut s = a;
            while s > 0 && local_char(b[s - 1]) && a - s <= 64 {
                s -= 1;
            }
            if a - s > 64 {
                continue;
            }
            while s < a && b[s] == b'.' {
                s += 1;
            }
            if s == a || b[a - 1] == b'.' {
                continue;
            }
            let mut e = a + 1;
            while e < n && (b[e].is_ascii_alphanumeric() || b[e] == b'.' || b[e] == b'-') {
                e += 1;
            }
            while e > a + 1 && matches!(b[e - 1], b'.' | b'-') {
                e -= 1;
            }
            if alnum_at(t, e) || e <= a + 1 {
                continue;
            }
            let domain = &t[a + 1..e];
            let labels: Vec<&str> = domain.split('.').collect();
            let labels_ok = labels.len() >= 2
                && labels
                    .iter()
                    .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
            let tld = labels.last().copied().unwrap_or("");
            let tld_ok = (tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()))
                || (tld.len() >= 5 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
            if labels_ok && tld_ok {
                let ctx = self.ctx.email.near(s, e, WINDOW);
                let conf = if ctx { Confidence::High } else { Confidence::Medium };
                self.push(Kind::EmailAddress, s, e, conf, ctx, prio::EMAIL);
            }
        }
    }
}

/// Up to 20 digits without allocating.
#[derive(Default)]
struct Digits {
    d: [u8; 20],
    len: usize,
}

impl Digits {
    fn push(&mut self, x: u8) {
        if self.len < 20 {
            self.d[self.len] = x;
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl std::ops::Deref for Digits {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.d[..self.len]
    }
}

fn repdigit(d: &[u8]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

/// Month number of an English or Dutch month name or abbreviation.
pub(crate) fn month(word: &str) -> Option<u32> {
    const MONTHS: &[(&str, u32)] = &[
        ("jan", 1),
        ("january", 1),
        ("januari", 1),
        ("feb", 2),
        ("february", 2),
        ("februari", 2),
        ("mar", 3),
        ("march", 3),
        ("maart", 3),
        ("mrt", 3),
        ("apr", 4),
        ("april", 4),
        ("may", 5),
        ("mei", 5),
        ("jun", 6),
        ("june", 6),
        ("juni", 6),
        ("jul", 7),
        ("july", 7),
        ("juli", 7),
        ("aug", 8),
        ("august", 8),
        ("augustus", 8),
        ("sep", 9),
        ("sept", 9),
        ("september", 9),
        ("oct", 10),
        ("october", 10),
        ("okt", 10),
        ("oktober", 10),
        ("nov", 11),
        ("november", 11),
        ("dec", 12),
        ("december", 12),
    ];
    if word.len() < 3 || word.len() > 9 {
        return None;
    }
    MONTHS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(word))
        .map(|&(_, n)| n)
}

/// Scans a normalised text; spans are in its coordinates.
pub(crate) fn scan_normalized(t: &str) -> Vec<Cand> {
    let hits = find_hits(t);
    let pos = |mask| Positions::from_hits(&hits, mask);
    let ctx = Context {
        nhs: pos(flag::NHS),
        nino: pos(flag::NINO),
        bsn: pos(flag::BSN),
        iban: pos(flag::IBAN),
        card: pos(flag::CARD),
        postcode: pos(flag::POSTCODE),
        dob: pos(flag::DOB),
        passport: pos(flag::PASSPORT),
        email: pos(flag::EMAIL),
        phone: pos(flag::PHONE),
        person: pos(flag::PERSON),
    };
    let mut sc = Scanner {
        t,
        b: t.as_bytes(),
        ctx,
        out: Vec::new(),
        last_date_start: None,
    };
    sc.run();
    for h in hits.iter().filter(|h| h.flags & flag::HEALTH != 0) {
        sc.out.push(Cand {
            kind: Some(Kind::HealthTerm),
            start: h.start,
            end: h.end,
            confidence: Confidence::Low,
            context: false,
            prio: prio::HEALTH,
        });
    }
    let mut accepted = resolve(sc.out);

    // Health terms: high next to a person cue or a person identifier.
    let mut person = std::mem::take(&mut sc.ctx.person);
    let mut added = false;
    for c in &accepted {
        if matches!(
            c.kind,
            Some(Kind::UkNhsNumber | Kind::UkNino | Kind::NlBsn | Kind::PassportNumber | Kind::DateOfBirth)
        ) {
            person.push(c.start, c.end);
            added = true;
        }
    }
    if added {
        person.sort();
    }
    for c in accepted.iter_mut().filter(|c| c.kind == Some(Kind::HealthTerm)) {
        if person.near(c.start, c.end, WINDOW) {
            c.confidence = Confidence::High;
            c.context = true;
        }
    }
    accepted
}

/// Keeps the highest-priority candidate where spans overlap, drops vetoes, sorts by start.
fn resolve(mut cands: Vec<Cand>) -> Vec<Cand> {
    cands.retain(|c| c.end > c.start);
    cands.sort_unstable_by_key(|c| (c.start, c.end));
    let mut out = Vec::with_capacity(cands.len());
    let mut cluster: Vec<Cand> = Vec::new();
    let mut i = 0;
    while i < cands.len() {
        // A cluster: candidates linked by overlaps.
        let mut j = i + 1;
        let mut end = cands[i].end;
        while j < cands.len() && cands[j].start < end {
            end = end.max(cands[j].end);
            j += 1;
        }
        if j == i + 1 {
            if cands[i].kind.is_some() {
                out.push(cands[i]);
            }
        } else {
            cluster.clear();
            cluster.extend_from_slice(&cands[i..j]);
            cluster.sort_by(|a, b| b.prio.cmp(&a.prio).then(a.start.cmp(&b.start)).then(b.end.cmp(&a.end)));
            let mut taken: Vec<(usize, usize)> = Vec::new();
            for c in &cluster {
                if taken.iter().any(|&(s, e)| s < c.end && c.start < e) {
                    continue;
                }
                taken.push((c.start, c.end));
                if c.kind.is_some() {
                    out.push(*c);
                }
            }
        }
        i = j;
    }
    out.sort_unstable_by_key(|c| (c.start, c.end));
    out
}
