//! `meridian token`: a device's websocket ingest token.

use anyhow::Result;
use meridian::server;

#[derive(clap::Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub device: u64,
    /// The ingest secret (or env MERIDIAN_INGEST_SECRET).
    #[arg(long, env = "MERIDIAN_INGEST_SECRET", hide_env_values = true)]
    pub ingest_secret: String,
}

pub fn run(args: TokenArgs) -> Result<()> {
    println!(
        "{}",
        server::ingest::device_token(args.ingest_secret.as_bytes(), args.device)
    );
    Ok(())
}
