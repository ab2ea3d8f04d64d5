//! The labelled look-alike set in `data/lookalike_pairs.tsv`: every row must come out as labelled.

use sealpost_guard::Kind;
use sealpost_guard::recipients::{Address, Contact, RecipientPolicy, Recipients, check};

const PAIRS: &str = include_str!("data/lookalike_pairs.tsv");

struct Row<'a> {
    line: usize,
    typed: &'a str,
    known: &'a str,
    known_sends: u32,
    typed_sends: u32,
    expected: bool,
    note: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    PAIRS
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "line {}: six tab-separated fields", i + 1);
            Row {
                line: i + 1,
                typed: f[0],
                known: f[1],
                known_sends: f[2].parse().unwrap(),
                typed_sends: f[3].parse().unwrap(),
                expected: match f[4] {
                    "yes" => true,
                    "no" => false,
                    other => panic!("line {}: expected is yes or no, not {other}", i + 1),
                },
                note: f[5],
            }
        })
        .collect()
}

fn contact(address: &str, sends: u32) -> Contact {
    Contact {
        address: address.to_owned(),
        name: None,
        sends,
        sensitive_sends: 0,
    }
}

#[test]
fn every_labelled_pair_comes_out_as_labelled() {
    let rows = rows();
    let positives = rows.iter().filter(|r| r.expected).count();
    let negatives = rows.len() - positives;
    assert!(
        rows.len() >= 40 && positives >= 15 && negatives >= 15,
        "{positives} positives, {negatives} negatives"
    );

    let policy = RecipientPolicy::default();
    let mut wrong = Vec::new();
    for r in &rows {
        let mut contacts = vec![contact(r.known, r.known_sends)];
        if r.typed_sends > 0 {
            contacts.push(contact(r.typed, r.typed_sends));
        }
        let draft = Recipients {
            from: Address::parse("me@sealpost-sender.org").unwrap(),
            to: vec![Address::parse(r.typed).unwrap_or_else(|e| panic!("line {}: {e}", r.line))],
            cc: vec![],
            bcc: vec![],
        };
        let findings = check(&draft, &contacts, &policy, false);
        let hit: Vec<_> = findings.iter().filter(|f| f.kind == Kind::RecipientLookalike).collect();
        let known = Address::parse(r.known).unwrap().address;
        let ok = match (r.expected, hit.as_slice()) {
            (false, []) => true,
            (true, [f]) => {
                f.similar_to.as_deref() == Some(known.as_str())
                    && f.count == 1
                    && f.message.contains(&known)
                    && f.message.ends_with("check the address.")
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "line {} ({}): {} vs {}: {:?}",
                r.line, r.note, r.typed, r.known, hit
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    println!(
        "look-alike pairs: {} rows, {positives} positives, {negatives} negatives, all as labelled",
        rows.len()
    );
}

#[test]
fn a_labelled_positive_is_silent_once_the_typed_address_has_a_send() {
    // The asymmetry rule, across every positive row: one prior send to the typed address silences it.
    for r in rows().iter().filter(|r| r.expected) {
        let contacts = [contact(r.known, r.known_sends), contact(r.typed, 1)];
        let draft = Recipients {
            from: Address::parse("me@sealpost-sender.org").unwrap(),
            to: vec![Address::parse(r.typed).unwrap()],
            cc: vec![],
            bcc: vec![],
        };
        let findings = check(&draft, &contacts, &RecipientPolicy::default(), false);
        assert!(
            findings.iter().all(|f| f.kind != Kind::RecipientLookalike),
            "line {} ({}) still fires",
            r.line,
            r.note
        );
    }
}
