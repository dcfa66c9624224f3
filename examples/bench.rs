//! Runs `herd bench` on its own until the main CLI has a `bench` subcommand:
//! `cargo run --release --example bench -- iamat -c 50 -n 100000`.

use clap::Parser;

/// Command line of the example: just the bench options.
#[derive(Parser)]
#[command(name = "herd-bench", about = "Load generator for the herd protocol")]
struct Cli {
    /// The bench options.
    #[command(flatten)]
    bench: herd::bench::BenchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herd::bench::run(Cli::parse().bench).await
}
