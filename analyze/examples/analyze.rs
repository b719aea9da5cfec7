//! Analyse a log and print the analysis as JSON:
//! `cargo run -p medic-analyze --example analyze -- FILE [--baseline PASS_LOG]`.

use std::path::PathBuf;

use medic_analyze::read::Source;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Baseline, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: analyze FILE|- [--baseline FILE]");
        std::process::exit(2);
    };
    let source = if path == "-" {
        Source::Stdin
    } else {
        Source::File(PathBuf::from(path))
    };
    let options = Options::default();
    let baseline = match args.iter().position(|a| a == "--baseline") {
        Some(i) => match args.get(i + 1) {
            Some(b) => {
                match Baseline::from_source(&Source::File(PathBuf::from(b)), &options.read) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        eprintln!("{e}");
                        std::process::exit(2);
                    }
                }
            }
            None => {
                eprintln!("--baseline needs a file");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let mut sanitizer = Sanitizer::default();
    match triage::analyze_source(&source, &mut sanitizer, baseline.as_ref(), &options) {
        Ok(a) => println!(
            "{}",
            serde_json::to_string_pretty(&a).expect("analysis serializes")
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
