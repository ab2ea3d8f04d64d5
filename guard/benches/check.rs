//! The pre-send check of a 1 MB body with 10 MB of attachments, on one core: the dense case (a
//! 5 MB CSV of patient rows, every row an NHS number, a date of birth, a postcode and a phone
//! number, and 5 MB of letters) and the prose case (10 MB of letters), against two references measured in the same run over
//! the same 11 MB: one pass that reads every byte (the memory floor) and SHA-256 (what sending
//! the same bytes costs in hashing alone). Goal: the check under 200 ms. See docs/PERFORMANCE.md.
//!
//! `cargo bench -p sealpost-guard --bench check`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealpost_guard::{Attachment, AttachmentContent, Draft, Policy, check};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A valid NHS number in the England range.
fn nhs(rng: &mut Rng) -> String {
    loop {
        let base = 400_000_000 + rng.below(100_000_000);
        let digits: Vec<u32> = base.to_string().chars().map(|c| c.to_digit(10).unwrap()).collect();
        let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = (11 - sum % 11) % 11;
        if check != 10 {
            let s = format!("{base}{check}");
            return format!("{} {} {}", &s[..3], &s[3..6], &s[6..]);
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "patient",
    "was",
    "seen",
    "in",
    "clinic",
    "on",
    "Tuesday",
    "and",
    "we",
    "discussed",
    "her",
    "care",
    "plan",
    "with",
    "the",
    "family",
    "council",
    "housing",
    "officer",
    "will",
    "call",
    "back",
    "about",
    "the",
    "repairs",
    "to",
    "flat",
    "meeting",
    "agreed",
    "next",
    "steps",
    "school",
    "report",
    "attached",
    "please",
    "confirm",
    "receipt",
    "reference",
    "order",
    "invoice",
    "2024",
    "12",
    "March",
    "appointment",
    "at",
    "10:30",
];

fn prose(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 200);
    while out.len() < bytes {
        for _ in 0..(8 + rng.below(12)) {
            out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            out.push(' ');
        }
        match rng.below(40) {
            0 => out.push_str(&format!("NHS number: {}. ", nhs(rng))),
            1 => out.push_str(&format!("Call 07700 900{:03}. ", rng.below(1000))),
            2 => out.push_str(&format!(
                "Order {} dispatched. ",
                1_000_000_000 + rng.below(9_000_000_000)
            )),
            _ => out.push_str(".\n"),
        }
    }
    out
}

fn csv(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::from("Name,NHS number,DOB,Postcode,Phone,Notes\n");
    while out.len() < bytes {
        out.push_str(&format!(
            "Patient {},{},{:02}/{:02}/{},BS{} {}AB,07700 900{:03},follow-up booked\n",
            rng.below(100_000),
            nhs(rng),
            1 + rng.below(28),
            1 + rng.below(12),
            1930 + rng.below(90),
            1 + rng.below(9),
            rng.below(10),
            rng.below(1000),
        ));
    }
    out
}

/// Dense: half the attachments are a table with an identifier in every row. Prose: letters only.
fn draft(dense: bool) -> Draft {
    let mut rng = Rng(2026);
    let body = prose(&mut rng, 1_000_000);
    let letters = prose(&mut rng, if dense { 5_000_000 } else { 10_000_000 });
    let table = if dense { csv(&mut rng, 5_000_000) } else { String::new() };
    Draft {
        from: "clerk@council.example".into(),
        to: vec!["gp@surgery.example".into()],
        subject: "Referrals".into(),
        body,
        attachments: vec![
            Attachment {
                name: "patients.csv".into(),
                content: AttachmentContent::Bytes(Zeroizing::new(table.into_bytes())),
            },
            Attachment {
                name: "letters.txt".into(),
                content: AttachmentContent::Bytes(Zeroizing::new(letters.into_bytes())),
            },
        ],
        ..Draft::default()
    }
}

fn all_bytes(d: &Draft) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = vec![d.subject.as_bytes(), d.body.as_bytes()];
    for a in &d.attachments {
        if let AttachmentContent::Bytes(b) = &a.content {
            parts.push(b.as_slice());
        }
    }
    parts
}

fn bench(c: &mut Criterion) {
    let d = draft(true);
    let prose_only = draft(false);
    let total: usize = all_bytes(&d).iter().map(|p| p.len()).sum();
    let policy = Policy::default();
    let report = check(&d, &[], &policy).expect("check");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == sealpost_guard::Kind::UkNhsNumber)
    );

    let mut g = c.benchmark_group("check_1MB_body_10MB_attachments");
    g.throughput(Throughput::Bytes(total as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("reference: read every byte", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for p in all_bytes(black_box(&d)) {
                acc = p.iter().fold(acc, |a, &x| a.wrapping_add(u64::from(x)));
            }
            acc
        })
    });
    g.bench_function("reference: SHA-256", |b| {
        b.iter(|| {
            let mut h = Sha256::new();
            for p in all_bytes(black_box(&d)) {
                h.update(p);
            }
            h.finalize()
        })
    });
    g.bench_function("sealpost_guard::check", |b| {
        b.iter(|| check(black_box(&d), &[], &policy).expect("check"))
    });
    g.bench_function("sealpost_guard::check, prose attachments only", |b| {
        b.iter(|| check(black_box(&prose_only), &[], &policy).expect("check"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
