//! `meridian traffic`: a cluster node's live traffic table exported to Parquet or JSON, and
//! historical profiles built from observation files.

#[cfg(feature = "analytics")]
use super::open_graph;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TrafficCommand {
    /// Fetch a node's live traffic table and write it as Parquet (or JSON).
    Export {
        /// A cluster node's HTTP address, e.g. 127.0.0.1:5001.
        #[arg(long)]
        node: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// Build per-edge time-of-week speed profiles (15-minute bins, UTC) from observation
    /// Parquet files (a cluster node's <data-dir>/observations), for `serve --profiles`.
    History {
        /// Directory of observation Parquet files (or one file). Repeat it for several nodes'
        /// directories: each Raft log entry's rows are counted once, from one of them.
        #[arg(long, required = true)]
        observations: Vec<PathBuf>,
        /// Graph directory the observations were matched on.
        #[arg(long)]
        graph: PathBuf,
        /// Output profile file.
        #[arg(long)]
        out: PathBuf,
        /// Bins with fewer observations are left to free flow.
        #[arg(long, default_value_t = 3)]
        min_samples: u32,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    Parquet,
    Json,
}

pub fn run(command: TrafficCommand) -> Result<()> {
    match command {
        TrafficCommand::Export { node, format, out } => export(&node, format, &out),
        TrafficCommand::History {
            observations,
            graph,
            out,
            min_samples,
        } => history(&observations, &graph, &out, min_samples),
    }
}

/// `meridian traffic export`: GET /traffic of a node, written in the chosen format.
fn export(node: &str, format: ExportFormat, out: &std::path::Path) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let rows: Vec<meridian::traffic::export::TrafficRow> = runtime.block_on(async {
        let url = format!("http://{node}/traffic");
        let response = reqwest::get(&url)
            .await
            .with_context(|| format!("fetching {url}"))?;
        if !response.status().is_success() {
            bail!(
                "{url} answered {} (is it a cluster node?)",
                response.status()
            );
        }
        response
            .json()
            .await
            .with_context(|| format!("reading {url}"))
    })?;
    match format {
        ExportFormat::Json => {
            std::fs::write(out, serde_json::to_vec(&rows)?)
                .with_context(|| format!("writing {}", out.display()))?;
        }
        #[cfg(feature = "analytics")]
        ExportFormat::Parquet => {
            meridian::traffic::export::write_parquet(&rows, out)?;
        }
        #[cfg(not(feature = "analytics"))]
        ExportFormat::Parquet => {
            bail!("this build has no Parquet support; rebuild with the `analytics` feature")
        }
    }
    println!("wrote {} traffic rows to {}", rows.len(), out.display());
    Ok(())
}

/// `meridian traffic history`: observation files (of one or several nodes) to a profile file.
#[cfg(feature = "analytics")]
fn history(
    observations: &[PathBuf],
    graph: &std::path::Path,
    out: &std::path::Path,
    min_samples: u32,
) -> Result<()> {
    use meridian::traffic::history::{build_profiles, BuildOptions, ObservationSource};
    let sources = observations
        .iter()
        .map(|p| ObservationSource::from_path(p))
        .collect::<Result<Vec<_>, _>>()?;
    let store = open_graph(graph)?;
    let (profiles, report) = build_profiles(&sources, &store, &BuildOptions { min_samples })
        .context("building profiles")?;
    let bytes = profiles
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let secs = report.total_time.as_secs_f64();
    println!(
        "read {} observations from {} files in {:.2}s ({:.0} rows/s; query {:.2}s)",
        report.rows_read,
        report.files,
        secs,
        report.rows_read as f64 / secs.max(1e-9),
        report.query_time.as_secs_f64()
    );
    println!(
        "{} log entries, {} rows used",
        report.entries, report.rows_used
    );
    for s in &report.sources {
        print!(
            "  {}: {} files, {} rows, {} entries ({} missing), {} entries used",
            s.name,
            s.files,
            s.rows,
            s.entries,
            report.entries - s.entries,
            s.entries_used
        );
        if s.rows_without_index > 0 {
            print!(", {} rows without a log index", s.rows_without_index);
        }
        println!();
    }
    if !report.missing.is_empty() {
        let ranges: Vec<String> = report
            .missing
            .iter()
            .map(|(a, b)| {
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        println!(
            "log indexes with rows in no source (lost, or entries without observations): {}",
            ranges.join(", ")
        );
    }
    println!(
        "profiled {} edges, {} (edge, bin) pairs with >= {min_samples} samples; {} dropped (edge not in this graph version)",
        profiles.edges, profiles.bins, report.bins_wrong_way
    );
    println!("wrote {} ({:.1} MB)", out.display(), bytes as f64 / 1e6);
    Ok(())
}

#[cfg(not(feature = "analytics"))]
fn history(
    _observations: &[PathBuf],
    _graph: &std::path::Path,
    _out: &std::path::Path,
    _min_samples: u32,
) -> Result<()> {
    bail!("this build has no Parquet support; rebuild with the `analytics` feature")
}
