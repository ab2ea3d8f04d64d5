//! Value generators: valid identifiers computed by algorithm (check digits included), near
//! misses for the traps, and the filler (names, streets, amounts) around them. Every function
//! is driven by the caller's PRNG, so a seed fixes the whole set.

use super::Lang;
use super::oracle::{self, MONTHS_EN, MONTHS_NL, TEST_PANS};
use super::rng::SplitMix64;

fn digits(rng: &mut SplitMix64, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(10) as u32).collect()
}

fn to_string(d: &[u32]) -> String {
    d.iter().map(|&x| char::from(b'0' + x as u8)).collect()
}

/// Writes `s` in groups of the given sizes joined by `sep` (the last group takes the rest).
fn grouped(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    for (i, &n) in sizes.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let take = if i + 1 == sizes.len() {
            rest.len()
        } else {
            n.min(rest.len())
        };
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push_str(&rest[..take]);
        rest = &rest[take..];
    }
    out
}

/// Changes one digit (at a position from `from` on) to a different digit.
fn one_digit_off(rng: &mut SplitMix64, d: &mut [u32], from: usize) {
    let i = from + rng.below((d.len() - from) as u64) as usize;
    d[i] = (d[i] + 1 + rng.below(9) as u32) % 10;
}

// ---------------------------------------------------------------- NHS

fn nhs_digits(rng: &mut SplitMix64) -> Vec<u32> {
    loop {
        let prefix = if rng.chance(1, 3) {
            rng.range(400, 499)
        } else {
            rng.range(600, 799)
        };
        let mut d = vec![prefix / 100, prefix / 10 % 10, prefix % 10];
        d.extend(digits(rng, 6));
        if let Some(c) = oracle::nhs_check_digit(&d) {
            d.push(c);
            if !d.windows(2).all(|w| w[0] == w[1]) {
                return d;
            }
        }
    }
}

fn nhs_format(rng: &mut SplitMix64, s: &str) -> String {
    match rng.below(10) {
        0..=5 => grouped(s, &[3, 3, 4], " "),
        6 | 7 => s.to_owned(),
        _ => grouped(s, &[3, 3, 4], "-"),
    }
}

pub(crate) fn nhs(rng: &mut SplitMix64) -> String {
    let d = nhs_digits(rng);
    nhs_format(rng, &to_string(&d))
}

/// An in-range NHS number with one digit (not the first) changed: the checksum fails.
pub(crate) fn nhs_bad(rng: &mut SplitMix64) -> String {
    let mut d = nhs_digits(rng);
    one_digit_off(rng, &mut d, 1);
    nhs_format(rng, &to_string(&d))
}

pub(crate) fn nhs_repdigit(rng: &mut SplitMix64) -> String {
    let x = rng.digit().to_string();
    nhs_format(rng, &x.repeat(10))
}

// ---------------------------------------------------------------- NINO

const NINO_FIRST: &[u8] = b"ABCEGHJKLMNOPRSTWXYZ";
const NINO_SECOND: &[u8] = b"ABCEGHJKLMNPRSTWXYZ";

fn nino_format(rng: &mut SplitMix64, prefix: &str, num: &str, suffix: char) -> String {
    match rng.below(10) {
        0..=4 => format!("{prefix} {} {suffix}", grouped(num, &[2, 2, 2], " ")),
        5..=7 => format!("{prefix}{num}{suffix}"),
        8 => format!("{prefix} {num} {suffix}"),
        _ => format!("{prefix}-{}-{suffix}", grouped(num, &[2, 2, 2], "-")),
    }
}

pub(crate) fn nino(rng: &mut SplitMix64) -> String {
    loop {
        let prefix: String = [*rng.pick(NINO_FIRST) as char, *rng.pick(NINO_SECOND) as char]
            .iter()
            .collect();
        let num = to_string(&digits(rng, 6));
        let suffix = *rng.pick(&['A', 'B', 'C', 'D']);
        let v = nino_format(rng, &prefix, &num, suffix);
        if oracle::nino_valid(&v) {
            return v;
        }
    }
}

/// HMRC's documentation example, `QQ 12 34 56 A` (Q is never used).
pub(crate) fn nino_example(rng: &mut SplitMix64) -> String {
    nino_format(rng, "QQ", "123456", 'A')
}

/// An administrative look-alike (`CR`, `FY`, `MW`, `NC`) or a never-used prefix.
pub(crate) fn nino_admin(rng: &mut SplitMix64) -> String {
    let prefix = *rng.pick(&["CR", "FY", "MW", "NC", "BG", "GB", "TN", "ZZ", "DA", "FV"]);
    let num = to_string(&digits(rng, 6));
    let suffix = *rng.pick(&['A', 'B', 'C', 'D']);
    nino_format(rng, prefix, &num, suffix)
}

// ---------------------------------------------------------------- BSN

fn bsn_digits(rng: &mut SplitMix64) -> Vec<u32> {
    loop {
        let mut d = vec![1 + rng.below(9) as u32];
        d.extend(digits(rng, 7));
        let sum: u32 = d.iter().zip((2..=9).rev()).map(|(x, w)| x * w).sum();
        let last = sum % 11;
        if last <= 9 {
            d.push(last);
            return d;
        }
    }
}

fn bsn_format(rng: &mut SplitMix64, s: &str) -> String {
    match rng.below(10) {
        0..=4 => s.to_owned(),
        5..=6 => grouped(s, &[3, 3, 3], " "),
        7..=8 => grouped(s, &[4, 2, 3], "."),
        _ => grouped(s, &[3, 3, 3], "."),
    }
}

pub(crate) fn bsn(rng: &mut SplitMix64) -> String {
    let d = bsn_digits(rng);
    bsn_format(rng, &to_string(&d))
}

pub(crate) fn bsn_bad(rng: &mut SplitMix64) -> String {
    let mut d = bsn_digits(rng);
    one_digit_off(rng, &mut d, 0);
    if d[0] == 0 {
        d[0] = 1 + (d[1] % 9);
        if oracle::bsn_valid(&to_string(&d)) {
            d[8] = (d[8] + 1) % 10;
        }
    }
    bsn_format(rng, &to_string(&d))
}

/// A 9-digit string that passes the 11-proef (for the NL mobile trap `+31 6…`).
pub(crate) fn bsn_valid_starting_6(rng: &mut SplitMix64) -> String {
    loop {
        let mut d = vec![6];
        d.extend(digits(rng, 7));
        let sum: u32 = d.iter().zip((2..=9).rev()).map(|(x, w)| x * w).sum();
        if sum % 11 <= 9 {
            d.push(sum % 11);
            return to_string(&d);
        }
    }
}

// ---------------------------------------------------------------- IBAN

fn letters(rng: &mut SplitMix64, n: usize) -> String {
    (0..n).map(|_| char::from(b'A' + rng.below(26) as u8)).collect()
}

fn check_digits(country: &str, bban: &str) -> String {
    let r = oracle::mod97(bban.bytes().chain(country.bytes()).chain(*b"00")).unwrap_or(0);
    format!("{:02}", 98 - r)
}

fn mod11_es(d: &[u32]) -> u32 {
    const W: [u32; 10] = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];
    match 11 - d.iter().zip(W).map(|(x, w)| x * w).sum::<u32>() % 11 {
        11 => 0,
        10 => 1,
        c => c,
    }
}

fn bban(rng: &mut SplitMix64, country: &str) -> String {
    match country {
        "GB" => {
            let bank = *rng.pick(&["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA", "SRLG", "MONZ"]);
            format!("{bank}{}", to_string(&digits(rng, 14)))
        }
        "NL" => {
            let bank = *rng.pick(&["ABNA", "INGB", "RABO", "SNSB", "TRIO", "ASNB", "KNAB", "BUNQ"]);
            format!("{bank}{}", to_string(&digits(rng, 10)))
        }
        "DE" => to_string(&digits(rng, 18)),
        "BE" => {
            let d = to_string(&digits(rng, 10));
            let n: u64 = d.parse().unwrap_or(0);
            let c = match n % 97 {
                0 => 97,
                c => c,
            };
            format!("{d}{c:02}")
        }
        "ES" => {
            let bank_branch = digits(rng, 8);
            let account = digits(rng, 10);
            let mut first = vec![0, 0];
            first.extend(&bank_branch);
            let (c1, c2) = (mod11_es(&first), mod11_es(&account));
            format!("{}{c1}{c2}{}", to_string(&bank_branch), to_string(&account))
        }
        _ => {
            // FR: bank 5, branch 5, account 11 (digits here), RIB key 97 − (89·bank + 15·branch + 3·account) mod 97.
            let (bank, branch, account) = (digits(rng, 5), digits(rng, 5), digits(rng, 11));
            let n = |d: &[u32]| d.iter().fold(0u64, |a, &x| (a * 10 + u64::from(x)) % 97);
            let key = 97 - (89 * n(&bank) + 15 * n(&branch) + 3 * n(&account)) % 97;
            format!(
                "{}{}{}{key:02}",
                to_string(&bank),
                to_string(&branch),
                to_string(&account)
            )
        }
    }
}

fn iban_format(rng: &mut SplitMix64, compact: &str) -> String {
    if rng.chance(3, 4) {
        grouped(compact, &[4; 9], " ")
    } else {
        compact.to_owned()
    }
}

fn iban_compact(rng: &mut SplitMix64, lang: Lang) -> String {
    let country = match (lang, rng.below(10)) {
        (Lang::En, 0..=6) | (Lang::Nl, 7) => "GB",
        (Lang::Nl, 0..=6) | (Lang::En, 7) => "NL",
        (_, 8) => *rng.pick(&["DE", "BE"]),
        _ => *rng.pick(&["FR", "ES"]),
    };
    let b = bban(rng, country);
    format!("{country}{}{b}", check_digits(country, &b))
}

pub(crate) fn iban(rng: &mut SplitMix64, lang: Lang) -> String {
    let c = iban_compact(rng, lang);
    iban_format(rng, &c)
}

/// An IBAN with one digit changed (check digits or account): MOD 97-10 catches every such change.
pub(crate) fn iban_bad(rng: &mut SplitMix64, lang: Lang) -> String {
    let c = iban_compact(rng, lang);
    let mut b = c.into_bytes();
    let positions: Vec<usize> = (2..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
    let i = *rng.pick(&positions);
    b[i] = b'0' + (b[i] - b'0' + 1 + rng.below(9) as u8) % 10;
    let c = String::from_utf8(b).unwrap_or_default();
    iban_format(rng, &c)
}

/// The documentation IBANs (valid, and real IBANs in form).
pub(crate) fn iban_documentation(rng: &mut SplitMix64) -> String {
    rng.pick(&[
        "GB29 NWBK 6016 1331 9268 19",
        "GB29NWBK60161331926819",
        "NL91 ABNA 0417 1643 00",
    ])
    .to_string()
}

// ---------------------------------------------------------------- cards

fn luhn_complete(mut d: Vec<u32>) -> Vec<u32> {
    d.push(0);
    if !oracle::luhn_ok(&d) {
        let last = d.len() - 1;
        for c in 1..10 {
            d[last] = c;
            if oracle::luhn_ok(&d) {
                break;
            }
        }
    }
    d
}

fn card_digits(rng: &mut SplitMix64) -> Vec<u32> {
    loop {
        let d = match rng.below(20) {
            0..=9 => {
                let mut d = vec![4];
                d.extend(digits(rng, 14));
                luhn_complete(d)
            }
            10..=13 => {
                let p = rng.range(51, 55);
                let mut d = vec![p / 10, p % 10];
                d.extend(digits(rng, 13));
                luhn_complete(d)
            }
            14..=16 => {
                let p = rng.range(2221, 2720);
                let mut d = vec![p / 1000, p / 100 % 10, p / 10 % 10, p % 10];
                d.extend(digits(rng, 11));
                luhn_complete(d)
            }
            _ => {
                let mut d = vec![3, *rng.pick(&[4, 7])];
                d.extend(digits(rng, 12));
                luhn_complete(d)
            }
        };
        if !TEST_PANS.contains(&to_string(&d).as_str()) {
            return d;
        }
    }
}

fn card_format(rng: &mut SplitMix64, s: &str) -> String {
    let sizes: &[usize] = if s.len() == 15 { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    match rng.below(20) {
        0..=11 => grouped(s, sizes, " "),
        12..=14 => grouped(s, sizes, "-"),
        _ => s.to_owned(),
    }
}

pub(crate) fn card(rng: &mut SplitMix64) -> String {
    let d = card_digits(rng);
    card_format(rng, &to_string(&d))
}

/// A card number with one digit (not in the issuer prefix) changed: Luhn catches every such change.
pub(crate) fn card_bad(rng: &mut SplitMix64) -> String {
    let mut d = card_digits(rng);
    one_digit_off(rng, &mut d, 4);
    card_format(rng, &to_string(&d))
}

pub(crate) fn card_test(rng: &mut SplitMix64) -> String {
    let pan = *rng.pick(&TEST_PANS);
    card_format(rng, pan)
}

pub(crate) fn expiry(rng: &mut SplitMix64) -> String {
    format!("{:02}/{}", rng.range(1, 12), rng.range(26, 30))
}

// ---------------------------------------------------------------- postcodes

pub(crate) fn uk_postcode(rng: &mut SplitMix64) -> String {
    const FIRST: &[u8] = b"ABCDEFGHIJKLMNOPRSTUWYZ";
    const SECOND: &[u8] = b"ABCDEFGHKLMNOPQRSTUVWXY";
    const THIRD: &[u8] = b"ABCDEFGHJKPSTUW";
    const FOURTH: &[u8] = b"ABEHMNPRVWXY";
    const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let l = |rng: &mut SplitMix64, set: &[u8]| char::from(*rng.pick(set));
    let mut outward = String::new();
    outward.push(l(rng, FIRST));
    match rng.below(6) {
        0 => outward.push(rng.digit()),
        1 => {
            outward.push(rng.digit());
            outward.push(rng.digit());
        }
        2 => {
            outward.push(rng.digit());
            outward.push(l(rng, THIRD));
        }
        3 => {
            outward.push(l(rng, SECOND));
            outward.push(rng.digit());
        }
        4 => {
            outward.push(l(rng, SECOND));
            outward.push(rng.digit());
            outward.push(rng.digit());
        }
        _ => {
            outward.push(l(rng, SECOND));
            outward.push(rng.digit());
            outward.push(l(rng, FOURTH));
        }
    }
    let inward = format!("{}{}{}", rng.digit(), l(rng, INWARD), l(rng, INWARD));
    if rng.chance(1, 10) {
        format!("{outward}{inward}")
    } else {
        format!("{outward} {inward}")
    }
}

pub(crate) fn nl_postcode(rng: &mut SplitMix64) -> String {
    loop {
        let num = rng.range(1000, 9999);
        let l = letters(rng, 2);
        if matches!(l.as_str(), "SA" | "SD" | "SS") {
            continue;
        }
        return if rng.chance(1, 8) {
            format!("{num}{l}")
        } else {
            format!("{num} {l}")
        };
    }
}

// ---------------------------------------------------------------- dates

fn date_in(rng: &mut SplitMix64, lang: Lang, years: (u32, u32)) -> String {
    let y = rng.range(years.0, years.1);
    let m = rng.range(1, 12);
    let d = rng.range(1, oracle::days_in_month(y, m));
    let month_name = match lang {
        Lang::En => MONTHS_EN[m as usize - 1],
        Lang::Nl => MONTHS_NL[m as usize - 1],
    };
    match (lang, rng.below(10)) {
        (Lang::En, 0..=4) => format!("{d:02}/{m:02}/{y}"),
        (Lang::Nl, 0..=4) => format!("{d:02}-{m:02}-{y}"),
        (_, 5) => format!("{y}-{m:02}-{d:02}"),
        (Lang::En, 6) => format!("{d:02}-{m:02}-{y}"),
        (Lang::Nl, 6) => format!("{d:02}/{m:02}/{y}"),
        _ => format!("{d} {month_name} {y}"),
    }
}

pub(crate) fn date_of_birth(rng: &mut SplitMix64, lang: Lang) -> String {
    date_in(rng, lang, (1930, 2015))
}

/// A date that is not a date of birth (appointments, meetings, letters): 2024–2027.
pub(crate) fn meeting_date(rng: &mut SplitMix64, lang: Lang) -> String {
    date_in(rng, lang, (2024, 2027))
}

// ---------------------------------------------------------------- passports

pub(crate) fn passport(rng: &mut SplitMix64, lang: Lang) -> String {
    let nl = match lang {
        Lang::Nl => !rng.chance(1, 5),
        Lang::En => rng.chance(1, 5),
    };
    if nl {
        const L: &[u8] = b"ABCDEFGHIJKLMNPQRSTUVWXYZ";
        const AN: &[u8] = b"ABCDEFGHIJKLMNPQRSTUVWXYZ123456789";
        let mut s = String::new();
        for _ in 0..2 {
            s.push(char::from(*rng.pick(L)));
        }
        for _ in 0..6 {
            s.push(char::from(*rng.pick(AN)));
        }
        s.push(char::from(b'1' + rng.below(9) as u8));
        s
    } else {
        let mut s = String::new();
        s.push(char::from(b'1' + rng.below(9) as u8));
        for _ in 0..8 {
            s.push(rng.digit());
        }
        s
    }
}

// ---------------------------------------------------------------- phones and e-mail

pub(crate) fn phone(rng: &mut SplitMix64, lang: Lang) -> String {
    let n = |rng: &mut SplitMix64, k: usize| to_string(&digits(rng, k));
    match (lang, rng.below(8)) {
        (Lang::En, 0 | 1) => format!("07{}{} {}", rng.range(4, 9), n(rng, 2), n(rng, 6)),
        (Lang::En, 2) => format!("07{}{}{}", rng.range(4, 9), n(rng, 2), n(rng, 6)),
        (Lang::En, 3 | 4) => format!("+44 7{}{} {}", rng.range(4, 9), n(rng, 2), n(rng, 6)),
        (Lang::En, 5) => format!("020 {} {}", rng.range(3, 8).to_string() + &n(rng, 3), n(rng, 4)),
        (Lang::En, 6) => format!("01{}{} {} {}", rng.range(1, 9), n(rng, 1), n(rng, 3), n(rng, 4)),
        (Lang::En, _) => format!("+44 20 {}{} {}", rng.range(3, 8), n(rng, 3), n(rng, 4)),
        (Lang::Nl, 0 | 1) => format!("06-{}{}", rng.range(1, 6), n(rng, 7)),
        (Lang::Nl, 2) => format!("06 {}{} {}", rng.range(1, 6), n(rng, 3), n(rng, 4)),
        (Lang::Nl, 3 | 4) => format!("+31 6 {}{}", rng.range(1, 6), n(rng, 7)),
        (Lang::Nl, 5) => format!("020-{}{}", rng.range(2, 9), n(rng, 6)),
        (Lang::Nl, 6) => format!(
            "0{}{} {}",
            rng.range(1, 5),
            rng.range(0, 9),
            rng.range(2, 9).to_string() + &n(rng, 6)
        ),
        (Lang::Nl, _) => format!("+31 30 {}{} {}", rng.range(2, 9), n(rng, 2), n(rng, 4)),
    }
}

/// A phone number whose national part is itself an identifier shape: `+44 7…` whose ten digits
/// pass the NHS rules, or `+31 6…` whose nine digits pass the 11-proef.
pub(crate) fn phone_like_identifier(rng: &mut SplitMix64, lang: Lang) -> String {
    match lang {
        Lang::En => loop {
            let d = nhs_digits(rng);
            if d[0] == 7 {
                break format!("+44 {}", to_string(&d));
            }
        },
        Lang::Nl => format!("+31 {}", bsn_valid_starting_6(rng)),
    }
}

const FIRST_EN: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Jack", "Oliver", "Harry", "George", "Noah", "Leo",
    "Arthur", "Muhammad", "Priya", "Aisha", "Siobhan", "Rhys", "Callum", "Zoë", "Niamh", "Tomasz", "Chidi",
];
const SURNAME_EN: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Patel", "Khan", "Hughes", "Walker",
    "Robinson", "O'Brien", "McDonald", "Clarke", "Okafor", "Nowak", "Ahmed", "Morgan", "Fletcher",
];
const FIRST_NL: &[&str] = &[
    "Daan", "Sem", "Lucas", "Levi", "Finn", "Emma", "Julia", "Mila", "Tess", "Sophie", "Noor", "Fenna", "Sanne",
    "Bram", "Thijs", "Mohamed", "Fatima", "Eline", "Joëlle", "Chloë", "Sjoerd", "Anouk",
];
const SURNAME_NL: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Yılmaz",
    "El Amrani",
    "Kramer",
    "van Leeuwen",
    "Dekker",
];

pub(crate) fn first_name(rng: &mut SplitMix64, lang: Lang) -> String {
    rng.pick(if lang == Lang::En { FIRST_EN } else { FIRST_NL }).to_string()
}

pub(crate) fn surname(rng: &mut SplitMix64, lang: Lang) -> String {
    rng.pick(if lang == Lang::En { SURNAME_EN } else { SURNAME_NL })
        .to_string()
}

pub(crate) fn full_name(rng: &mut SplitMix64, lang: Lang) -> String {
    format!("{} {}", first_name(rng, lang), surname(rng, lang))
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ë' => Some('e'),
            'ı' => Some('i'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

pub(crate) fn email(rng: &mut SplitMix64, lang: Lang) -> String {
    let first = ascii_slug(&first_name(rng, lang));
    let last = ascii_slug(&surname(rng, lang));
    let domain = *rng.pick(match lang {
        Lang::En => &[
            "gmail.com",
            "outlook.com",
            "hotmail.co.uk",
            "btinternet.com",
            "riverside-practice.org.uk",
            "northfield.gov.uk",
            "kestrel-logistics.co.uk",
            "stannes.sch.uk",
        ][..],
        Lang::Nl => &[
            "gmail.com",
            "ziggo.nl",
            "kpnmail.nl",
            "hotmail.nl",
            "zuidhaven.nl",
            "hetanker-wonen.nl",
            "deregenboog-school.nl",
            "praktijkdelinde.nl",
        ][..],
    });
    match rng.below(4) {
        0 => format!("{first}.{last}@{domain}"),
        1 => format!("{}{last}@{domain}", &first[..1]),
        2 => format!("{first}{}@{domain}", rng.range(1, 99)),
        _ => format!("{first}_{last}@{domain}"),
    }
}

pub(crate) fn street(rng: &mut SplitMix64, lang: Lang) -> String {
    match lang {
        Lang::En => {
            let s = *rng.pick(&[
                "Mill Lane",
                "Church Road",
                "Victoria Street",
                "Station Road",
                "Park Avenue",
                "Queens Drive",
                "Orchard Close",
                "Highfield Road",
            ]);
            if rng.chance(1, 5) {
                format!("Flat {}, {} {s}", rng.range(1, 12), rng.range(1, 140))
            } else {
                format!("{} {s}", rng.range(1, 140))
            }
        }
        Lang::Nl => {
            let s = *rng.pick(&[
                "Kerkstraat",
                "Dorpsweg",
                "Molenlaan",
                "Stationsplein",
                "Prinsengracht",
                "Julianastraat",
                "Beukenlaan",
                "Schoolstraat",
            ]);
            let suffix = *rng.pick(&["", "", "", "a", "-2", " bis"]);
            format!("{s} {}{suffix}", rng.range(1, 140))
        }
    }
}

pub(crate) fn town(rng: &mut SplitMix64, lang: Lang) -> String {
    rng.pick(match lang {
        Lang::En => &[
            "Leeds",
            "Bristol",
            "Norwich",
            "Sheffield",
            "Cardiff",
            "Exeter",
            "York",
            "Derby",
        ][..],
        Lang::Nl => &[
            "Utrecht",
            "Zwolle",
            "Haarlem",
            "Groningen",
            "Tilburg",
            "Amersfoort",
            "Leiden",
            "Delft",
        ][..],
    })
    .to_string()
}

pub(crate) fn organisation(rng: &mut SplitMix64, lang: Lang) -> String {
    rng.pick(match lang {
        Lang::En => &[
            "Riverside Medical Practice",
            "St Anne's Primary School",
            "Northfield Borough Council",
            "Harbour Housing Association",
            "Kestrel Logistics Ltd",
            "Westbrook Community Trust",
        ][..],
        Lang::Nl => &[
            "Huisartsenpraktijk De Linde",
            "Gemeente Zuidhaven",
            "Woonstichting Het Anker",
            "Basisschool De Regenboog",
            "Rijnoever Zorggroep",
            "Transportbedrijf Kramer B.V.",
        ][..],
    })
    .to_string()
}

pub(crate) fn amount(rng: &mut SplitMix64, lang: Lang) -> String {
    let whole = rng.range(12, 2400);
    let cents = rng.range(0, 99);
    match (lang, whole >= 1000) {
        (Lang::En, true) => format!("{},{:03}.{cents:02}", whole / 1000, whole % 1000),
        (Lang::En, false) => format!("{whole}.{cents:02}"),
        (Lang::Nl, true) => format!("{}.{:03},{cents:02}", whole / 1000, whole % 1000),
        (Lang::Nl, false) => format!("{whole},{cents:02}"),
    }
}

pub(crate) fn time(rng: &mut SplitMix64) -> String {
    format!("{:02}:{:02}", rng.range(8, 17), *rng.pick(&[0, 15, 30, 45]))
}

/// An order, invoice or case reference that fails every checksum (NHS, BSN, Luhn).
pub(crate) fn order_number(rng: &mut SplitMix64) -> String {
    loop {
        let v = match rng.below(10) {
            0..=3 => to_string(&digits(rng, 10)),
            4..=6 => to_string(&digits(rng, 9)),
            7 => format!("4{}", to_string(&digits(rng, 15))),
            8 => format!("INV-{}-{:05}", rng.range(2023, 2026), rng.range(1, 99999)),
            _ => format!("CASE/{}/{:06}", rng.range(2023, 2026), rng.range(1, 999_999)),
        };
        let d: String = v.chars().filter(char::is_ascii_digit).collect();
        if !oracle::nhs_checksum_ok(&d) && !oracle::bsn_valid(&d) && !oracle::luhn_str(&d) {
            return v;
        }
    }
}

/// Epoch seconds (10 digits, 2020–2027): the shape of an NHS number.
pub(crate) fn epoch_seconds(rng: &mut SplitMix64) -> String {
    (1_580_000_000 + rng.below(230_000_000)).to_string()
}

/// Epoch milliseconds (13 digits beginning with 1): a card-length number.
pub(crate) fn epoch_millis(rng: &mut SplitMix64) -> String {
    (1_580_000_000_000 + rng.below(230_000_000_000)).to_string()
}
