//! `sealpost-server`. The HTTP server, storage and message lifecycle are tracked in issue #3;
//! until then this binary only reports its version and says so, rather than pretending to serve.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            println!("sealpost-server {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "sealpost-server: the server is not built yet (issue #3); use `sealpost keys generate` meanwhile."
            );
            ExitCode::from(2)
        }
    }
}
