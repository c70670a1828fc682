//! The command line of `tessera-validator`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use tessera_node::{CommonArgs, Overrides, ServiceArgs, fail, init_logging, parse, runtime};

use crate::Config;

/// Challenge the subnet's miners, score them and set weights.
#[derive(Debug, Parser)]
#[command(name = "tessera-validator", version)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Address of the validator's own endpoint (health, reflection) [default: 0.0.0.0].
    #[arg(long = "axon.ip")]
    axon_ip: Option<String>,
    /// Port of that endpoint; 0 picks a free one [default: 8092].
    #[arg(long = "axon.port")]
    axon_port: Option<u16>,
    /// Least stake a permit holder needs to count as a validator [default: 0].
    #[arg(long = "min_stake")]
    min_stake: Option<f64>,
    /// Chunk size miners must use, such as 1MiB [default: 1MiB].
    #[arg(long = "chunk_size")]
    chunk_size: Option<String>,
    /// Seal profile miners must use: dev or production [default: production].
    #[arg(long)]
    seal: Option<String>,
    /// Seconds between challenge rounds [default: 12].
    #[arg(long = "round_secs")]
    round_secs: Option<u64>,
    /// Seconds between weight settings [default: 360].
    #[arg(long = "epoch_secs")]
    epoch_secs: Option<u64>,
    /// Items per miner per round [default: 8].
    #[arg(long = "challenge.items")]
    items: Option<u32>,
    /// Milliseconds allowed past the round-trip time [default: 250].
    #[arg(long = "challenge.slack_ms")]
    slack_ms: Option<u64>,
    /// A round-trip time above this many milliseconds fails the round [default: 500].
    #[arg(long = "challenge.max_rtt_ms")]
    max_rtt_ms: Option<u64>,
    /// Slots of a new commitment audited before its capacity counts [default: 64].
    #[arg(long = "audit.initial")]
    audit_initial: Option<u32>,
    /// Share of one core background audits may use for sealing [default: 0.2].
    #[arg(long = "audit.cpu_share")]
    audit_cpu_share: Option<f64>,
    /// Share of one core initial audits may use for sealing [default: 0.5].
    #[arg(long = "audit.initial_cpu_share")]
    audit_initial_cpu_share: Option<f64>,
    /// Sealed roots kept ready per miner for its audits [default: 16].
    #[arg(long = "audit.pool")]
    audit_pool: Option<u32>,
    /// Seconds a miner caught lying is barred [default: 604800, 7 days].
    #[arg(long = "audit.bar_secs")]
    audit_bar_secs: Option<u64>,
    /// Pieces needed to rebuild a segment [default: 4].
    #[arg(long = "data.k")]
    data_k: Option<u16>,
    /// Pieces stored per segment, on distinct miners [default: 8].
    #[arg(long = "data.n")]
    data_n: Option<u16>,
    /// Repair a segment once its healthy pieces fall to this many [default: k + (n - k) / 2].
    #[arg(long = "data.repair_threshold")]
    repair_threshold: Option<u16>,
    /// TTL of an object whose put names none, in seconds [default: 2592000, 30 days].
    #[arg(long = "data.default_ttl_secs")]
    default_ttl_secs: Option<u64>,
    /// The longest TTL a put may ask for, in seconds [default: 31536000, 365 days].
    #[arg(long = "data.max_ttl_secs")]
    max_ttl_secs: Option<u64>,
    /// Hedge a piece fetch slower than this many milliseconds [default: 500].
    #[arg(long = "data.hedge_ms")]
    hedge_ms: Option<u64>,
    /// Bytes one client may keep stored, such as 10GiB; 0 for no limit [default: 10GiB].
    #[arg(long = "data.quota_per_client")]
    quota: Option<String>,
    /// Serve the HTTP gateway and web page on this address, such as 127.0.0.1:8093.
    #[arg(long = "data.http")]
    http: Option<String>,
    /// Serve the S3 face on this address, such as 127.0.0.1:9000 [default: none].
    #[arg(long = "s3.addr")]
    s3_addr: Option<String>,
    /// The domain of virtual-host-style S3 requests, <bucket>.<domain> [default: localhost].
    #[arg(long = "s3.domain")]
    s3_domain: Option<String>,
    /// The region the S3 face names [default: us-east-1].
    #[arg(long = "s3.region")]
    s3_region: Option<String>,
    /// Serve S3 over TLS with this PEM certificate chain (with --s3.tls_key) [default: none].
    #[arg(long = "s3.tls_cert")]
    s3_tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --s3.tls_cert.
    #[arg(long = "s3.tls_key")]
    s3_tls_key: Option<std::path::PathBuf>,
}

/// What to do instead of validating.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print what this validator has recorded of each miner, and exit.
    Status,
}

impl Args {
    fn overrides(&self) -> Vec<(String, figment::value::Value)> {
        let mut out = Overrides(self.common.overrides());
        self.service.overrides(&mut out);
        out.put("axon.ip", self.axon_ip.clone());
        out.put("axon.port", self.axon_port);
        out.put("min_stake", self.min_stake);
        out.put("chunk_size", self.chunk_size.clone());
        out.put("seal", self.seal.clone());
        out.put("round_secs", self.round_secs);
        out.put("epoch_secs", self.epoch_secs);
        out.put("challenge.items", self.items);
        out.put("challenge.slack_ms", self.slack_ms);
        out.put("challenge.max_rtt_ms", self.max_rtt_ms);
        out.put("audit.initial", self.audit_initial);
        out.put("audit.cpu_share", self.audit_cpu_share);
        out.put("audit.initial_cpu_share", self.audit_initial_cpu_share);
        out.put("audit.pool", self.audit_pool);
        out.put("audit.bar_secs", self.audit_bar_secs);
        out.put("data.k", self.data_k);
        out.put("data.n", self.data_n);
        out.put("data.repair_threshold", self.repair_threshold);
        out.put("data.default_ttl_secs", self.default_ttl_secs);
        out.put("data.max_ttl_secs", self.max_ttl_secs);
        out.put("data.hedge_ms", self.hedge_ms);
        out.put("data.quota_per_client", self.quota.clone());
        out.put("data.http", self.http.clone());
        out.put("s3.addr", self.s3_addr.clone());
        out.put("s3.domain", self.s3_domain.clone());
        out.put("s3.region", self.s3_region.clone());
        out.path("s3.tls_cert", &self.s3_tls_cert);
        out.path("s3.tls_key", &self.s3_tls_key);
        out.0
    }
}

/// Parses `args`, runs the validator until SIGINT or SIGTERM and exits 0 after an orderly stop;
/// errors are one line on stderr and exit 1 (2 for usage).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Args = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match Config::load(args.common.config.as_deref(), &args.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(&config.logging);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(Command::Status) = args.command {
        return match runtime.block_on(crate::status::report(&config)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    match runtime.block_on(crate::run(config, tessera_node::terminated())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
