//! The command line of `allocate`, shared by the `tessera-allocator` binary and `cargo xtask`.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;
use figment::value::Value;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tessera_core::AccountId;
use tessera_node::{ByteSize, CommonArgs, Overrides, fail, init_logging, parse, runtime};

use crate::report::{Event, Outcome, Plan, Report, Sampling};
use crate::{Config, Error};

/// Carve disk space into one sealed partition per validator, in proportion to stake.
#[derive(Debug, Parser)]
#[command(name = "allocate", version)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Share of the free space to allocate [default: 0.0001].
    #[arg(long)]
    threshold: Option<f64>,
    /// Delete existing partitions and start over.
    #[arg(long)]
    restart: bool,
    /// Sealing threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
    /// Do not ask for confirmation.
    #[arg(long = "no_prompt")]
    no_prompt: bool,
    /// Prepare the validator's hash databases instead.
    #[arg(long)]
    validator: bool,
    /// Chunk size, such as 1MiB [default: 1MiB].
    #[arg(long = "chunk_size")]
    chunk_size: Option<String>,
    /// Seal profile: dev or production [default: production].
    #[arg(long)]
    seal: Option<String>,
    /// Total space to allocate, such as 2GiB, instead of the threshold share.
    #[arg(long)]
    capacity: Option<String>,
    /// Re-derive every stored chunk and report the bad ones (exit 1 if any).
    #[arg(long)]
    verify: bool,
    /// With --validator: roots to derive per miner, for their initial audits [default: 64].
    #[arg(long)]
    samples: Option<u64>,
    /// Least stake a neuron with a validator permit needs to get a partition [default: 0].
    #[arg(long = "min_stake")]
    min_stake: Option<f64>,
    /// Seconds a partition holding client data is kept after its validator leaves the plan
    /// [default: 604800, a week].
    #[arg(long = "partition_grace_secs")]
    partition_grace_secs: Option<u64>,
}

impl Args {
    fn overrides(&self) -> Vec<(String, Value)> {
        let mut out = Overrides(self.common.overrides());
        out.put("threshold", self.threshold);
        out.flag("restart", self.restart);
        out.put("workers", self.workers.map(|w| w as u64));
        out.flag("no_prompt", self.no_prompt);
        out.flag("validator", self.validator);
        out.put("chunk_size", self.chunk_size.clone());
        out.put("seal", self.seal.clone());
        out.put("capacity", self.capacity.clone());
        out.flag("verify", self.verify);
        out.put("samples", self.samples);
        out.put("min_stake", self.min_stake);
        out.put("partition_grace_secs", self.partition_grace_secs);
        out.0
    }
}

/// Parses `args` (the first is the program name), runs the job and reports. Errors are one line
/// on stderr and a non-zero exit: 1 for failures and bad chunks, 2 for usage, 130 if interrupted.
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
    let mut terminal = Terminal::new(config.no_prompt);
    let shutdown = async {
        // If the handler cannot be installed, never fire: the default signal action remains.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match runtime.block_on(crate::run(&config, &mut terminal, shutdown)) {
        Ok(outcome) => {
            println!("{}", summary(&outcome));
            match outcome {
                Outcome::Verified { bad, .. } if !bad.is_empty() => {
                    let n: u64 = bad.iter().map(|(_, ids)| ids.len() as u64).sum();
                    fail(&Error::BadChunks { bad: n })
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e @ Error::Interrupted { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(130)
        }
        Err(e) => fail(&e),
    }
}

/// The last line of a run that succeeded.
pub fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Allocated {
            dir,
            partitions,
            sealed_now,
            elapsed,
        } => {
            let chunk_size = partitions.first().map_or(0, |p| p.chunk_size);
            let bytes = sealed_now * chunk_size;
            format!(
                "sealed {sealed_now} chunks ({}) in {:.1}s, {}/s; {} partitions complete in {}",
                ByteSize(bytes),
                elapsed.as_secs_f64(),
                ByteSize(bytes * 1000 / elapsed.as_millis().max(1) as u64),
                partitions.len(),
                dir.display()
            )
        }
        Outcome::Sampled { derived_now, .. } => format!("derived {derived_now} roots"),
        Outcome::Verified {
            partitions,
            checked,
            bad,
        } => {
            let total: usize = bad.iter().map(|(_, ids)| ids.len()).sum();
            format!("verified {checked} chunks in {partitions} partitions: {total} bad")
        }
    }
}

/// The operator at a terminal: plans and results as text on stdout, a question on stdin,
/// progress bars on stderr (indicatif draws nothing when stderr is not a terminal, so logs and
/// tests stay clean).
pub struct Terminal {
    /// Nobody is at the terminal to read a warning among the plan: it goes to the log instead.
    no_prompt: bool,
    bars: Option<Bars>,
}

impl Terminal {
    /// `no_prompt`: the run asks nothing, so warnings go to the log rather than among the plan.
    pub fn new(no_prompt: bool) -> Self {
        Self {
            no_prompt,
            bars: None,
        }
    }
}

impl Report for Terminal {
    fn confirm(&mut self, question: &str) -> bool {
        print!("{question}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Plan(plan) => println!("{}", describe_plan(plan)),
            Event::DeletesFiller { chunks, bytes } => {
                let what = format!(
                    "this plan deletes {chunks} sealed chunks of filler ({}); client data is kept",
                    ByteSize(bytes)
                );
                if self.no_prompt {
                    tracing::warn!(chunks, "{what}");
                } else {
                    println!("{what}");
                }
            }
            Event::Sampling(s) => println!("{}", describe_sampling(s)),
            Event::Sealing(partitions) => self.bars = Some(Bars::new(partitions)),
            Event::Sealed { partition, bytes } => {
                if let Some(bars) = &self.bars {
                    bars.inc(partition, bytes);
                }
            }
            Event::SealingEnded => {
                if let Some(bars) = self.bars.take() {
                    bars.finish();
                }
            }
            Event::Checked {
                path,
                n_chunks,
                bad,
                missing,
            } => {
                if missing {
                    println!("{}: missing, all {n_chunks} chunks bad", path.display());
                } else if bad.is_empty() {
                    println!("{}: {n_chunks} chunks ok", path.display());
                } else {
                    let shown: Vec<String> = bad.iter().take(100).map(u64::to_string).collect();
                    println!(
                        "{}: {} bad chunks: {}{}",
                        path.display(),
                        bad.len(),
                        shown.join(", "),
                        if bad.len() > 100 { ", …" } else { "" }
                    );
                }
            }
        }
    }
}

fn describe_plan(plan: &Plan) -> String {
    let chunk_size = plan.chunk_size;
    let mut text = format!(
        "plan for miner {} in {}\n  capacity {}, chunk size {}, seal {}{}\n",
        plan.miner,
        plan.dir.display(),
        ByteSize(plan.capacity),
        ByteSize(chunk_size),
        plan.seal,
        if plan.restart { ", starting over" } else { "" },
    );
    let mut total = 0;
    for p in &plan.partitions {
        total += p.n_chunks;
        text.push_str(&format!(
            "  validator {}  stake {:>12.3}  {:>8} chunks ({}), {} already sealed\n",
            p.validator,
            p.stake,
            p.n_chunks,
            ByteSize(p.n_chunks * chunk_size),
            p.present
        ));
    }
    text.push_str(&format!(
        "  total {total} chunks ({}); {} to seal with {} workers",
        ByteSize(total * chunk_size),
        plan.to_seal,
        plan.workers
    ));
    text
}

fn describe_sampling(s: &Sampling) -> String {
    format!(
        "validator {} in {}: {} roots for each of {} miners, ids below {}, seal {}",
        s.validator,
        s.dir.display(),
        s.roots,
        s.miners,
        s.below,
        s.seal
    )
}

/// Progress bars per partition and in total, with bytes per second and ETA.
struct Bars {
    _multi: MultiProgress,
    per: Vec<ProgressBar>,
    total: ProgressBar,
}

impl Bars {
    fn new(partitions: &[(AccountId, u64)]) -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "{prefix:>14} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> ");
        let per = partitions
            .iter()
            .map(|(validator, bytes)| {
                let bar = multi.add(ProgressBar::new(*bytes));
                bar.set_style(style.clone());
                let name = validator.to_ss58();
                bar.set_prefix(format!("{}…", &name[..10]));
                bar
            })
            .collect();
        let total = multi.add(ProgressBar::new(partitions.iter().map(|(_, b)| b).sum()));
        total.set_style(style);
        total.set_prefix("total");
        Self {
            _multi: multi,
            per,
            total,
        }
    }

    fn inc(&self, partition: usize, bytes: u64) {
        if let Some(bar) = self.per.get(partition) {
            bar.inc(bytes);
        }
        self.total.inc(bytes);
    }

    fn finish(&self) {
        for bar in &self.per {
            bar.finish();
        }
        self.total.finish();
    }
}
