//! `sealpost-guard-eval`: scores the content detectors on generated drafts (and optionally on the
//! presidio-research datasets) and prints per-kind, per-stratum precision and recall with 95 %
//! Wilson intervals. Exit status: 0 done (goal met with `--goal`), 1 goal missed, 2 error.

use sealpost_guard::content;
use sealpost_guard::eval::{self, Options, Report, Split, presidio};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: sealpost-guard-eval [options]

  --seed N        generator seed (default 20250101)
  --samples N     generated drafts (default 6000; 0 = none, e.g. with --presidio only)
  --split S       dev, test or all generated drafts (default all)
  --presidio DIR  also score presidio-research_generated_small.json and
                  presidio-research_synth_dataset_v2.json found in DIR
  --worst N       worst false positives and negatives to list (default 20)
  --show N        print the first N generated drafts with their labels and traps
  --json          print the reports as JSON instead of tables
  --goal          exit 1 and list the reasons when the goal is not met on the
                  generated drafts (Test split, with context)
";

#[derive(Debug)]
struct Args {
    seed: u64,
    samples: usize,
    split: Option<Split>,
    presidio: Option<PathBuf>,
    worst: usize,
    show: usize,
    json: bool,
    goal: bool,
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value."))?;
    value
        .parse()
        .map_err(|_| format!("{flag} expects a number, not \"{value}\"."))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        seed: 20_250_101,
        samples: 6000,
        split: None,
        presidio: None,
        worst: 20,
        show: 0,
        json: false,
        goal: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--seed" => args.seed = number(&flag, it.next())?,
            "--samples" => args.samples = number(&flag, it.next())?,
            "--worst" => args.worst = number(&flag, it.next())?,
            "--show" => args.show = number(&flag, it.next())?,
            "--split" => {
                args.split = match it.next().as_deref() {
                    Some("dev") => Some(Split::Dev),
                    Some("test") => Some(Split::Test),
                    Some("all") => None,
                    _ => return Err("--split expects dev, test or all.".to_owned()),
                }
            }
            "--presidio" => {
                args.presidio = Some(PathBuf::from(it.next().ok_or("--presidio needs a directory.")?));
            }
            "--json" => args.json = true,
            "--goal" => args.goal = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("Unknown option \"{other}\" (see --help).")),
        }
    }
    Ok(Some(args))
}

fn show(samples: &[eval::Sample]) {
    for s in samples {
        println!("--- #{} {} {:?} {:?}", s.id, s.template_id, s.lang, s.split);
        println!("{}", s.text);
        for l in &s.labels {
            let ctx = if l.context { "ctx" } else { "no-ctx" };
            println!("  label {} {ctx}: {:?}", l.kind.as_str(), &s.text[l.start..l.end]);
        }
        for t in &s.traps {
            println!("  trap  {}: {:?}", t.what.as_str(), &s.text[t.start..t.end]);
        }
    }
}

fn print_report(report: &Report) {
    print!("{}", report.table());
    print!("{}", report.details());
    println!();
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let options = Options {
        worst: args.worst,
        ..Options::default()
    };
    let mut samples = eval::generate(args.seed, args.samples);
    if let Some(split) = args.split {
        samples.retain(|s| s.split == split);
    }
    if args.show > 0 {
        show(&samples[..args.show.min(samples.len())]);
    }
    let generated = (!samples.is_empty()).then(|| eval::evaluate_with(&samples, content::scan, &options));

    let mut external = Vec::new();
    if let Some(dir) = &args.presidio {
        for file in presidio::FILES {
            let path = dir.join(file);
            let json = std::fs::read_to_string(&path).map_err(|e| format!("Cannot read {}: {e}.", path.display()))?;
            let data = presidio::parse(file, &json).map_err(|e| format!("{e}."))?;
            let options = Options {
                kinds: presidio::KINDS.to_vec(),
                ..options.clone()
            };
            let report = eval::evaluate_with(&data.samples, content::scan, &options);
            external.push((data, report));
        }
    }

    let goal = match (&generated, args.goal) {
        (Some(report), true) => Some(report.meets_goal()),
        (None, true) => Some(Err(vec!["no generated drafts were evaluated".to_owned()])),
        (_, false) => None,
    };

    if args.json {
        let presidio: Vec<serde_json::Value> = external
            .iter()
            .map(|(d, r)| {
                serde_json::json!({
                    "file": d.name,
                    "mapped": d.mapped.iter().map(|(k, n)| (k.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
                    "ignored": d.ignored,
                    "misaligned": d.misaligned,
                    "report": r,
                })
            })
            .collect();
        let out = serde_json::json!({
            "seed": args.seed,
            "generated": generated,
            "presidio": presidio,
            "goal": goal.as_ref().map(|g| serde_json::json!({
                "met": g.is_ok(),
                "reasons": g.as_ref().err().cloned().unwrap_or_default(),
            })),
        });
        let text = serde_json::to_string_pretty(&out).map_err(|e| format!("Cannot write JSON: {e}."))?;
        println!("{text}");
    } else {
        if let Some(report) = &generated {
            let split = match args.split {
                None => "all",
                Some(Split::Dev) => "dev",
                Some(Split::Test) => "test",
            };
            println!(
                "== generated drafts: seed {}, {} samples, split {split}",
                args.seed,
                samples.len()
            );
            print_report(report);
        }
        for (data, report) in &external {
            println!("== {} ({} samples)", data.name, data.samples.len());
            let mapped: Vec<String> = data.mapped.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
            let ignored: Vec<String> = data.ignored.iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!("spans scored: {}", mapped.join(", "));
            println!("spans ignored (unmapped types): {}", ignored.join(", "));
            if data.misaligned > 0 {
                println!(
                    "spans whose value differs from the text at their positions: {}",
                    data.misaligned
                );
            }
            print_report(report);
        }
        match &goal {
            Some(Ok(())) => println!("Goal met."),
            Some(Err(reasons)) => {
                println!("Goal not met:");
                for r in reasons {
                    println!("  - {r}");
                }
            }
            None => {}
        }
    }
    Ok(match goal {
        Some(Err(_)) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
