//! The `meridian` command line: import a map, serve routes, route offline (on a graph directory
//! or an offline bundle), write bundles, verify a graph. Each subcommand lives in its own
//! module of [`cli`]; this file parses the arguments and dispatches.

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Fastest routes over a tiled OpenStreetMap road graph"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the `serve` arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Import an OpenStreetMap PBF extract into a tiled graph directory.
    Import(cli::import::ImportArgs),
    /// Import a map if its graph is missing or older than the map, then run a local cluster of
    /// nodes on it (one process each, loopback ports): the one command to get a running service.
    Up(cli::up::UpArgs),
    /// Serve the OSRM v1 route API over HTTP.
    Serve(cli::serve::ServeArgs),
    /// Compute one route locally and print the OSRM JSON answer.
    Route(cli::route::RouteArgs),
    /// Write an offline bundle: the graph tiles (and map images) of an area in one tar file that
    /// `meridian route --bundle` routes on without a server.
    Bundle(cli::bundle::BundleArgs),
    /// Work with a running cluster's traffic table.
    Traffic {
        #[command(subcommand)]
        command: cli::traffic::TrafficCommand,
    },
    /// Print the websocket ingest token of a device (HMAC of its id under the ingest secret).
    Token(cli::token::TokenArgs),
    /// Draw road-map PNG images named by geohash (tiles/<precision>/<geohash>.png + index.json),
    /// ready for any static web server or CDN.
    Render(cli::render::RenderArgs),
    /// Check every tile of a graph against the checksums in its manifest.
    Verify(cli::verify::VerifyArgs),
}

/// Library log lines (openraft's among them) go to stderr: warnings and errors unless
/// `RUST_LOG` says otherwise (e.g. `RUST_LOG=openraft=info`). openraft's core and replication
/// spans are kept whatever the level, so each of its lines names the Raft group it comes from
/// (`RaftCore{id=2 cluster=meridian-group-1}:main: ...`); they are few and long-lived, so this
/// costs nothing on the ingest path.
fn init_logging() {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let events = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let raft_spans = filter_fn(|m| {
        m.is_span()
            && m.target().starts_with("openraft")
            && matches!(m.name(), "RaftCore" | "main" | "replication")
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(events.or(raft_spans));
    tracing_subscriber::registry().with(layer).init();
}

fn main() {
    init_logging();
    let result = match Cli::parse().command {
        Command::Import(args) => cli::import::run(args),
        Command::Up(args) => cli::up::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Route(args) => cli::route::run(args),
        Command::Bundle(args) => cli::bundle::run(args),
        Command::Traffic { command } => cli::traffic::run(command),
        Command::Token(args) => cli::token::run(args),
        Command::Render(args) => cli::render::run(args),
        Command::Verify(args) => cli::verify::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
