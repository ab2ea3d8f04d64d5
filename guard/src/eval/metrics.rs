//! Span-level scoring of a scan function against labelled samples.
//!
//! Semantics follow presidio-research's `SpanEvaluator` (research §5.1): a prediction is a true
//! positive when a label of the same kind overlaps it with IoU ≥ 0.75; a prediction that matches
//! no label is a false positive of its kind (also when it overlaps a label of another kind, which
//! is then a false negative unless its own kind found it); a label no prediction matched is a false
//! negative. Matching is one-to-one, so a second prediction on the same value is a false positive.
//!
//! Two things are counted apart from precision and recall:
//! - a context-only kind ([`oracle::needs_context`]) firing on a bare valid value: "fired without
//!   context", neither a TP nor an FP of the goal;
//! - alerts on [`Trap`](super::Trap)s, by trap kind; an alert on a checksum-invalid number, of any
//!   kind, breaks the goal.

use super::oracle;
use super::{Lang, Sample, Split, TrapKind};
use crate::Kind;
use crate::content::Match;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The IoU a prediction needs with a label of the same kind to count as a true positive.
pub const IOU_THRESHOLD: f64 = 0.75;
/// The identifier kinds the goal is set for.
pub const GOAL_KINDS: [Kind; 7] = [
    Kind::UkNhsNumber,
    Kind::UkNino,
    Kind::NlBsn,
    Kind::Iban,
    Kind::PaymentCard,
    Kind::PassportNumber,
    Kind::DateOfBirth,
];
/// Minimum precision (point estimate) per goal kind, with context, on the Test split.
pub const GOAL_PRECISION: f64 = 0.98;
/// Minimum recall (point estimate) per goal kind, with context, on the Test split.
pub const GOAL_RECALL: f64 = 0.95;
/// Minimum positives per goal kind, with context, on the Test split, so that intervals mean something.
pub const GOAL_MIN_POSITIVES: u64 = 150;

/// The 95 % Wilson score interval for `k` successes in `n` trials; `None` when `n` is 0.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || k > n {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

fn ratio(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// True positives (and how many of them had exactly the label's span), false positives, false negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tp: u64,
    pub exact: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Counts {
    /// Labelled positives: TP + FN.
    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    /// TP / (TP + FP); `None` when nothing was predicted.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// TP / (TP + FN); `None` when nothing was labelled.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.positives())
    }

    /// F-beta with beta = 2 (recall weighs four times as much as precision), as presidio-research.
    pub fn f2(&self) -> Option<f64> {
        let (p, r) = (self.precision()?, self.recall()?);
        (p + r > 0.0).then(|| 5.0 * p * r / (4.0 * p + r)).or(Some(0.0))
    }

    /// The 95 % Wilson interval of the precision.
    pub fn precision_interval(&self) -> Option<(f64, f64)> {
        wilson(self.tp, self.tp + self.fp)
    }

    /// The 95 % Wilson interval of the recall.
    pub fn recall_interval(&self) -> Option<(f64, f64)> {
        wilson(self.tp, self.positives())
    }

    fn add(&mut self, other: &Counts) {
        self.tp += other.tp;
        self.exact += other.exact;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

/// A slice of the data: `None` means "any".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stratum {
    pub context: Option<bool>,
    pub lang: Option<Lang>,
    pub split: Option<Split>,
}

impl Stratum {
    /// Everything.
    pub const ALL: Stratum = Stratum {
        context: None,
        lang: None,
        split: None,
    };
    /// The goal's stratum: with context, Test split.
    pub const GOAL: Stratum = Stratum {
        context: Some(true),
        lang: None,
        split: Some(Split::Test),
    };
    /// The strata of the printed table, in order.
    pub const TABLE: [Stratum; 8] = [
        Stratum::ALL,
        Stratum {
            context: Some(true),
            ..Stratum::ALL
        },
        Stratum {
            context: Some(false),
            ..Stratum::ALL
        },
        Stratum {
            lang: Some(Lang::En),
            ..Stratum::ALL
        },
        Stratum {
            lang: Some(Lang::Nl),
            ..Stratum::ALL
        },
        Stratum {
            split: Some(Split::Dev),
            ..Stratum::ALL
        },
        Stratum {
            split: Some(Split::Test),
            ..Stratum::ALL
        },
        Stratum::GOAL,
    ];

    /// A short name such as `all`, `ctx`, `no-ctx`, `nl`, `test+ctx`.
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if let Some(split) = self.split {
            parts.push(if split == Split::Dev { "dev" } else { "test" });
        }
        if let Some(lang) = self.lang {
            parts.push(if lang == Lang::En { "en" } else { "nl" });
        }
        if let Some(c) = self.context {
            parts.push(if c { "ctx" } else { "no-ctx" });
        }
        if parts.is_empty() {
            "all".to_owned()
        } else {
            parts.join("+")
        }
    }

    fn contains(&self, cell: &Cell) -> bool {
        self.context.is_none_or(|c| c == cell.context)
            && self.lang.is_none_or(|l| l == cell.lang)
            && self.split.is_none_or(|s| s == cell.split)
    }
}

/// The counts of one kind in one elementary stratum (context × language × split). The context of
/// a false positive is the oracle's: is a context word of the predicted kind near it?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub kind: Kind,
    pub context: bool,
    pub lang: Lang,
    pub split: Split,
    pub counts: Counts,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub kind: Kind,
    pub stratum: String,
    pub positives: u64,
    pub counts: Counts,
    pub precision: Option<f64>,
    pub precision_interval: Option<(f64, f64)>,
    pub recall: Option<f64>,
    pub recall_interval: Option<(f64, f64)>,
    pub f2: Option<f64>,
}

/// A context-only kind on bare valid values: how many there were and how many it fired on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NoContext {
    pub kind: Kind,
    pub values: u64,
    pub fired: u64,
}

/// Alerts (predictions matching no label) that overlap a trap, per trap kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TrapCount {
    pub what: TrapKind,
    pub traps: u64,
    pub alerts: u64,
}

/// A prediction of one kind on a value labelled as another (IoU at or above the threshold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub labelled: Kind,
    pub predicted: Kind,
    pub count: u64,
}

/// A false positive or false negative with ±40 characters of (synthetic) context; the value is
/// marked `[[…]]` in the excerpt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Example {
    pub sample_id: usize,
    pub template_id: String,
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub context: bool,
    pub trap: Option<TrapKind>,
    pub excerpt: String,
}

/// What to evaluate and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// IoU for a true positive (default [`IOU_THRESHOLD`]).
    pub iou: f64,
    /// The kinds scored; predictions of other kinds are counted in `ignored_predictions` only.
    pub kinds: Vec<Kind>,
    /// How many worst false positives and false negatives to keep.
    pub worst: usize,
}

impl Default for Options {
    /// Every content kind but `health_term` (not labelled by the generator), the 20 worst errors.
    fn default() -> Self {
        Options {
            iou: IOU_THRESHOLD,
            kinds: Kind::ALL
                .into_iter()
                .filter(|k| k.is_content() && *k != Kind::HealthTerm)
                .collect(),
            worst: 20,
        }
    }
}

/// Predictions of a kind that was not scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub kind: Kind,
    pub count: u64,
}

/// The result of [`evaluate`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub samples: usize,
    pub iou_threshold: f64,
    pub kinds: Vec<Kind>,
    pub cells: Vec<Cell>,
    pub rows: Vec<Row>,
    pub no_context: Vec<NoContext>,
    pub traps: Vec<TrapCount>,
    pub checksum_invalid_traps: u64,
    pub checksum_invalid_alerts: u64,
    pub confusion: Vec<Confusion>,
    pub ignored_predictions: Vec<Ignored>,
    /// Predictions whose span was not a valid range of character boundaries (scored as FPs).
    pub invalid_spans: u64,
    pub worst_false_positives: Vec<Example>,
    pub worst_false_negatives: Vec<Example>,
}

fn iou(a: (usize, usize), b: (usize, usize)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = a.1.max(b.1).saturating_sub(a.0.min(b.0));
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0.max(b.0) < a.1.min(b.1)
}

fn excerpt(text: &str, start: usize, end: usize) -> String {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (s, e) = (floor(start), floor(end.max(start)));
    let lo = text[..s].char_indices().rev().nth(39).map_or(0, |(i, _)| i);
    let hi = text[e..].char_indices().nth(40).map_or(text.len(), |(i, _)| e + i);
    let clean = |t: &str| t.replace(['\n', '\r', '\t'], " ");
    format!(
        "{}{}[[{}]]{}{}",
        if lo > 0 { "…" } else { "" },
        clean(&text[lo..s]),
        clean(&text[s..e]),
        clean(&text[e..hi]),
        if hi < text.len() { "…" } else { "" }
    )
}

struct Candidate {
    priority: u8,
    order: usize,
    sample: usize,
    kind: Kind,
    start: usize,
    end: usize,
    context: bool,
    trap: Option<TrapKind>,
}

struct Worst {
    keep: usize,
    items: Vec<Candidate>,
}

impl Worst {
    fn push(&mut self, c: Candidate) {
        if self.keep == 0 {
            return;
        }
        self.items.push(c);
        if self.items.len() > self.keep * 8 {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.items.sort_by_key(|c| (c.priority, c.order));
        self.items.truncate(self.keep);
    }

    fn finish(mut self, samples: &[Sample]) -> Vec<Example> {
        self.trim();
        self.items
            .iter()
            .map(|c| {
                let s = &samples[c.sample];
                Example {
                    sample_id: s.id,
                    template_id: s.template_id.clone(),
                    kind: c.kind,
                    start: c.start,
                    end: c.end,
                    context: c.context,
                    trap: c.trap,
                    excerpt: excerpt(&s.text, c.start, c.end),
                }
            })
            .collect()
    }
}

/// Scores `scan` on `samples` with the default [`Options`].
pub fn evaluate<F>(samples: &[Sample], scan: F) -> Report
where
    F: FnMut(&str) -> Vec<Match>,
{
    evaluate_with(samples, scan, &Options::default())
}

/// Scores `scan` on `samples`.
pub fn evaluate_with<F>(samples: &[Sample], mut scan: F, options: &Options) -> Report
where
    F: FnMut(&str) -> Vec<Match>,
{
    let mut cells: BTreeMap<(Kind, bool, Lang, Split), Counts> = BTreeMap::new();
    let mut no_context: BTreeMap<Kind, (u64, u64)> = BTreeMap::new();
    let mut traps: BTreeMap<TrapKind, (u64, u64)> = BTreeMap::new();
    let mut confusion: BTreeMap<(Kind, Kind), u64> = BTreeMap::new();
    let mut ignored: BTreeMap<Kind, u64> = BTreeMap::new();
    let (mut checksum_traps, mut checksum_alerts, mut invalid_spans) = (0, 0, 0);
    let mut worst_fp = Worst {
        keep: options.worst,
        items: Vec::new(),
    };
    let mut worst_fn = Worst {
        keep: options.worst,
        items: Vec::new(),
    };
    let mut order = 0usize;
    let scored = |k: Kind| options.kinds.contains(&k);

    for (idx, sample) in samples.iter().enumerate() {
        let text = sample.text.as_str();
        let cell = |kind, context| (kind, context, sample.lang, sample.split);
        let mut predictions = scan(text);
        predictions.sort_by_key(|m| (m.start, m.end, m.kind));
        let mut used = vec![false; sample.labels.len()];

        for p in &predictions {
            if !scored(p.kind) {
                *ignored.entry(p.kind).or_default() += 1;
                continue;
            }
            let span = (p.start, p.end);
            let valid = p.start <= p.end
                && p.end <= text.len()
                && text.is_char_boundary(p.start)
                && text.is_char_boundary(p.end);
            if !valid {
                invalid_spans += 1;
            }
            let best = sample
                .labels
                .iter()
                .enumerate()
                .filter(|(i, l)| !used[*i] && l.kind == p.kind)
                .map(|(i, l)| (i, iou(span, (l.start, l.end))))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, score)) = best.filter(|(_, score)| *score >= options.iou) {
                let _ = score;
                used[i] = true;
                let label = &sample.labels[i];
                if label.expected() {
                    let c = cells.entry(cell(label.kind, label.context)).or_default();
                    c.tp += 1;
                    if (label.start, label.end) == span {
                        c.exact += 1;
                    }
                } else {
                    no_context.entry(label.kind).or_default().1 += 1;
                }
                continue;
            }
            let trap = sample
                .traps
                .iter()
                .find(|t| overlaps((t.start, t.end), span))
                .map(|t| t.what);
            if let Some(what) = trap {
                traps.entry(what).or_default().1 += 1;
                if what.is_checksum_invalid() {
                    checksum_alerts += 1;
                }
                if !what.counts_as_false_positive() {
                    continue;
                }
            }
            for l in &sample.labels {
                if l.kind != p.kind && iou(span, (l.start, l.end)) >= options.iou {
                    *confusion.entry((l.kind, p.kind)).or_default() += 1;
                }
            }
            let context = valid && oracle::has_context(p.kind, text, p.start, p.end);
            cells.entry(cell(p.kind, context)).or_default().fp += 1;
            let goal = GOAL_KINDS.contains(&p.kind);
            let priority = match (
                trap.is_some_and(TrapKind::is_checksum_invalid),
                goal,
                context,
                sample.split,
            ) {
                (true, ..) => 0,
                (_, true, true, Split::Test) => 1,
                (_, true, true, _) => 2,
                (_, _, true, _) => 3,
                _ => 4,
            };
            order += 1;
            worst_fp.push(Candidate {
                priority,
                order,
                sample: idx,
                kind: p.kind,
                start: p.start,
                end: p.end,
                context,
                trap,
            });
        }

        for (i, label) in sample.labels.iter().enumerate() {
            if !scored(label.kind) {
                continue;
            }
            if !label.expected() {
                no_context.entry(label.kind).or_default().0 += 1;
                continue;
            }
            if used[i] {
                continue;
            }
            cells.entry(cell(label.kind, label.context)).or_default().fn_ += 1;
            let goal = GOAL_KINDS.contains(&label.kind);
            let priority = match (goal, label.context, sample.split) {
                (true, true, Split::Test) => 0,
                (true, true, _) => 1,
                (_, true, _) => 2,
                _ => 3,
            };
            order += 1;
            let trap = sample
                .traps
                .iter()
                .find(|t| overlaps((t.start, t.end), (label.start, label.end)));
            worst_fn.push(Candidate {
                priority,
                order,
                sample: idx,
                kind: label.kind,
                start: label.start,
                end: label.end,
                context: label.context,
                trap: trap.map(|t| t.what),
            });
        }
        for t in &sample.traps {
            traps.entry(t.what).or_default().0 += 1;
            if t.what.is_checksum_invalid() {
                checksum_traps += 1;
            }
        }
    }

    let cells: Vec<Cell> = cells
        .into_iter()
        .map(|((kind, context, lang, split), counts)| Cell {
            kind,
            context,
            lang,
            split,
            counts,
        })
        .collect();
    let mut report = Report {
        samples: samples.len(),
        iou_threshold: options.iou,
        kinds: options.kinds.clone(),
        cells,
        rows: Vec::new(),
        no_context: no_context
            .into_iter()
            .map(|(kind, (values, fired))| NoContext { kind, values, fired })
            .collect(),
        traps: traps
            .into_iter()
            .map(|(what, (traps, alerts))| TrapCount { what, traps, alerts })
            .collect(),
        checksum_invalid_traps: checksum_traps,
        checksum_invalid_alerts: checksum_alerts,
        confusion: confusion
            .into_iter()
            .map(|((labelled, predicted), count)| Confusion {
                labelled,
                predicted,
                count,
            })
            .collect(),
        ignored_predictions: ignored
            .into_iter()
            .map(|(kind, count)| Ignored { kind, count })
            .collect(),
        invalid_spans,
        worst_false_positives: worst_fp.finish(samples),
        worst_false_negatives: worst_fn.finish(samples),
    };
    report.rows = report.compute_rows();
    report
}

fn fmt_rate(value: Option<f64>, interval: Option<(f64, f64)>) -> String {
    match (value, interval) {
        (Some(v), Some((lo, hi))) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        _ => "-".to_owned(),
    }
}

impl Report {
    /// The counts of `kind` summed over the cells in `stratum`.
    pub fn counts(&self, kind: Kind, stratum: Stratum) -> Counts {
        let mut total = Counts::default();
        for cell in self.cells.iter().filter(|c| c.kind == kind && stratum.contains(c)) {
            total.add(&cell.counts);
        }
        total
    }

    fn compute_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for &kind in &self.kinds {
            for stratum in Stratum::TABLE {
                let counts = self.counts(kind, stratum);
                if stratum != Stratum::ALL && counts == Counts::default() {
                    continue;
                }
                rows.push(Row {
                    kind,
                    stratum: stratum.name(),
                    positives: counts.positives(),
                    counts,
                    precision: counts.precision(),
                    precision_interval: counts.precision_interval(),
                    recall: counts.recall(),
                    recall_interval: counts.recall_interval(),
                    f2: counts.f2(),
                });
            }
        }
        rows
    }

    /// Checks the goal: for each of [`GOAL_KINDS`], with context on the Test split, at least
    /// [`GOAL_MIN_POSITIVES`] positives, precision ≥ [`GOAL_PRECISION`] and recall ≥
    /// [`GOAL_RECALL`] (point estimates); and no alert at all on a checksum-invalid number.
    /// The error lists every reason the goal is missed.
    pub fn meets_goal(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        for kind in GOAL_KINDS {
            let c = self.counts(kind, Stratum::GOAL);
            let name = kind.as_str();
            if c.positives() < GOAL_MIN_POSITIVES {
                reasons.push(format!(
                    "{name}: only {} positives with context in the Test split (at least {GOAL_MIN_POSITIVES} needed)",
                    c.positives()
                ));
            }
            match c.precision() {
                None => reasons.push(format!(
                    "{name}: no correct or false alerts with context in the Test split"
                )),
                Some(p) if p < GOAL_PRECISION => reasons.push(format!(
                    "{name}: precision {p:.3} < {GOAL_PRECISION} with context in the Test split (TP {}, FP {})",
                    c.tp, c.fp
                )),
                Some(_) => {}
            }
            match c.recall() {
                Some(r) if r < GOAL_RECALL => reasons.push(format!(
                    "{name}: recall {r:.3} < {GOAL_RECALL} with context in the Test split (TP {}, FN {})",
                    c.tp, c.fn_
                )),
                _ => {}
            }
        }
        if self.checksum_invalid_traps == 0 {
            reasons.push("no checksum-invalid numbers were evaluated, so the zero-alert rule is untested".to_owned());
        }
        if self.checksum_invalid_alerts > 0 {
            reasons.push(format!(
                "{} alerts on checksum-invalid numbers (of {}); none are allowed",
                self.checksum_invalid_alerts, self.checksum_invalid_traps
            ));
        }
        if reasons.is_empty() { Ok(()) } else { Err(reasons) }
    }

    /// The aligned table: kind, stratum, positives, TP, exact, FP, FN, precision and recall with
    /// their 95 % Wilson intervals, F2.
    pub fn table(&self) -> String {
        let header = [
            "kind",
            "stratum",
            "n",
            "TP",
            "exact",
            "FP",
            "FN",
            "precision [95% CI]",
            "recall [95% CI]",
            "F2",
        ];
        let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
        for r in &self.rows {
            lines.push(vec![
                r.kind.as_str().to_owned(),
                r.stratum.clone(),
                r.positives.to_string(),
                r.counts.tp.to_string(),
                r.counts.exact.to_string(),
                r.counts.fp.to_string(),
                r.counts.fn_.to_string(),
                fmt_rate(r.precision, r.precision_interval),
                fmt_rate(r.recall, r.recall_interval),
                r.f2.map_or("-".to_owned(), |f| format!("{f:.3}")),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for line in &lines {
            let mut row = String::new();
            for (i, cell) in line.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if !(2..7).contains(&i) {
                    row.push_str(cell);
                    row.push_str(&" ".repeat(pad));
                } else {
                    row.push_str(&" ".repeat(pad));
                    row.push_str(cell);
                }
                row.push_str("  ");
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
        out
    }

    /// Everything else, as text: firing without context, trap alerts, confusions, ignored
    /// predictions and the worst errors.
    pub fn details(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Context-only kinds on bare valid values (not scored; should stay silent):"
        );
        for n in &self.no_context {
            let rate = fmt_rate(ratio(n.fired, n.values), wilson(n.fired, n.values));
            let _ = writeln!(
                out,
                "  {:<16} fired on {} of {}  {rate}",
                n.kind.as_str(),
                n.fired,
                n.values
            );
        }
        let _ = writeln!(
            out,
            "Alerts on checksum-invalid numbers: {} of {}",
            self.checksum_invalid_alerts, self.checksum_invalid_traps
        );
        let _ = writeln!(out, "Alerts on hard negatives, by trap:");
        for t in &self.traps {
            let note = if t.what.counts_as_false_positive() {
                ""
            } else {
                "  (policy: not counted as FP)"
            };
            let _ = writeln!(
                out,
                "  {:<22} {:>5} alerts on {:>5}{note}",
                t.what.as_str(),
                t.alerts,
                t.traps
            );
        }
        if !self.confusion.is_empty() {
            let _ = writeln!(out, "Confusions (labelled -> predicted):");
            for c in &self.confusion {
                let _ = writeln!(
                    out,
                    "  {} -> {}: {}",
                    c.labelled.as_str(),
                    c.predicted.as_str(),
                    c.count
                );
            }
        }
        for i in &self.ignored_predictions {
            let _ = writeln!(
                out,
                "Predictions of an unscored kind ignored: {} {}",
                i.kind.as_str(),
                i.count
            );
        }
        if self.invalid_spans > 0 {
            let _ = writeln!(out, "Predictions with an invalid span: {}", self.invalid_spans);
        }
        for (title, list) in [
            ("Worst false positives", &self.worst_false_positives),
            ("Worst false negatives", &self.worst_false_negatives),
        ] {
            let _ = writeln!(out, "{title} ({}):", list.len());
            for e in list {
                let trap = e.trap.map_or(String::new(), |t| format!(" trap={}", t.as_str()));
                let ctx = if e.context { "ctx" } else { "no-ctx" };
                let _ = writeln!(
                    out,
                    "  #{} {} {} {ctx}{trap}: {}",
                    e.sample_id,
                    e.template_id,
                    e.kind.as_str(),
                    e.excerpt
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_and_overlap() {
        assert_eq!(iou((0, 10), (0, 10)), 1.0);
        assert_eq!(iou((0, 10), (10, 20)), 0.0);
        assert!((iou((0, 10), (2, 10)) - 0.8).abs() < 1e-12);
        assert!(!overlaps((0, 10), (10, 12)));
        assert!(overlaps((0, 10), (9, 12)));
    }

    #[test]
    fn excerpt_marks_the_value_and_respects_char_boundaries() {
        let text = format!("{}Zoë 943 476 5919 é{}", "x".repeat(50), "y".repeat(50));
        let s = text.find("943").unwrap();
        let e = excerpt(&text, s, s + 12);
        assert!(e.contains("[[943 476 5919]]"), "{e}");
        assert!(e.starts_with('…') && e.ends_with('…'));
        // An invalid span (inside a multi-byte char, past the end) must not panic.
        let _ = excerpt(&text, text.find('ë').unwrap() + 1, text.len() + 5);
    }

    #[test]
    fn f2_weighs_recall() {
        let c = Counts {
            tp: 50,
            exact: 50,
            fp: 0,
            fn_: 50,
        };
        assert!((c.f2().unwrap() - 5.0 * 0.5 / 4.5).abs() < 1e-12);
        assert_eq!(Counts::default().precision(), None);
    }
}
