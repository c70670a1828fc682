//! The command line of `tessera`: put, get, ls, stat and rm through one validator, signing with a
//! Bittensor wallet's hotkey.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tessera_object::ObjectId;

use crate::client::Progress;
use crate::{Client, Error, ObjectSummary};

/// Store files in a Tessera network and fetch them back. Files are encrypted on this machine
/// with a key derived from your hotkey: keep the wallet, and you can always read them back.
#[derive(Debug, Parser)]
#[command(name = "tessera", version)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// The validator's gateway, host:port.
    #[arg(
        long,
        env = "TESSERA_VALIDATOR",
        default_value = "127.0.0.1:8092",
        global = true
    )]
    validator: String,
    /// Bittensor wallet folder [default: ~/.bittensor/wallets].
    #[arg(long = "wallet.path", env = "TESSERA_WALLET__PATH", global = true)]
    wallet_path: Option<PathBuf>,
    /// Wallet name.
    #[arg(
        long = "wallet.name",
        env = "TESSERA_WALLET__NAME",
        default_value = "default",
        global = true
    )]
    wallet_name: String,
    /// Hotkey name within the wallet.
    #[arg(
        long = "wallet.hotkey",
        env = "TESSERA_WALLET__HOTKEY",
        default_value = "default",
        global = true
    )]
    wallet_hotkey: String,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store a file; prints its object id.
    Put {
        file: PathBuf,
        /// How long to keep it: seconds, or a number with s, m, h or d [default: the
        /// validator's, usually 30 days].
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Fetch an object by id, to a file or to standard output.
    Get {
        id: String,
        /// Where to write it; written in full under a temporary name, then renamed.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List your objects.
    Ls,
    /// Describe one object: size, expiry and the health of its pieces.
    Stat { id: String },
    /// Delete an object.
    Rm { id: String },
    /// Access keys for the validator's S3 face, acting for your hotkey.
    #[command(name = "s3-keys", subcommand)]
    S3Keys(S3KeysCommand),
}

#[derive(Debug, Subcommand)]
enum S3KeysCommand {
    /// Make a key; its secret is shown this once, so keep it.
    Create,
    /// List your keys, revoked ones too (never their secrets).
    List,
    /// Revoke a key: requests signed with it are refused from now on.
    Revoke { access_key: String },
}

/// Parses `args` and runs the command; errors are one line on stderr and exit 1, usage errors 2.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Args = match tessera_node::parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let runtime = match tessera_node::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => tessera_node::fail(&e),
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let wallet = tessera_node::WalletConfig {
        name: args.wallet_name.clone(),
        hotkey: args.wallet_hotkey.clone(),
        path: args
            .wallet_path
            .clone()
            .unwrap_or_else(|| tessera_node::WalletConfig::default().path),
    };
    let keypair = wallet.keypair()?;
    let mut client = Client::connect(&args.validator, keypair).await?;
    match args.command {
        Command::Put { file, ttl } => {
            let ttl = ttl.as_deref().map(parse_ttl).transpose()?.unwrap_or(0);
            let opened = std::fs::File::open(&file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            let size = opened
                .metadata()
                .map_err(|source| Error::Io {
                    path: file.clone(),
                    source,
                })?
                .len();
            let bar = bar(args.quiet, size, "put");
            let reader = std::io::BufReader::with_capacity(1 << 20, opened);
            let summary = client
                .put(reader, size, ttl, progress(&bar))
                .await
                .map_err(|e| name_io(e, &file))?;
            bar.finish_and_clear();
            println!("{}", summary.id);
            eprintln!(
                "stored {} ({} bytes) until {}",
                file.display(),
                summary.size,
                when(summary.expires_ms)
            );
        }
        Command::Get { id, output } => {
            let id: ObjectId = id.parse()?;
            match output {
                Some(path) if path != Path::new("-") => {
                    get_to_file(&mut client, id, &path, args.quiet).await?
                }
                _ => {
                    let bar = bar(true, 0, "get");
                    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
                    client.get(id, out, progress(&bar)).await?;
                }
            }
        }
        Command::Ls => {
            let objects = client.list().await?;
            println!(
                "{:<32}  {:>14}  {:<20}  {:>8}",
                "ID", "SIZE", "EXPIRES", "HEALTH"
            );
            for o in objects {
                println!(
                    "{:<32}  {:>14}  {:<20}  {:>8}",
                    o.id.to_string(),
                    o.size,
                    when(o.expires_ms),
                    health(&o)
                );
            }
        }
        Command::Stat { id } => {
            let o = client.stat(id.parse()?).await?;
            println!("id:        {}", o.id);
            println!("size:      {} bytes", o.size);
            println!(
                "coding:    any {} of {} pieces of {} bytes per segment",
                o.k, o.n, o.piece_size
            );
            println!("segments:  {}", o.segments);
            println!("created:   {}", when(o.created_ms));
            println!("expires:   {}", when(o.expires_ms));
            println!(
                "health:    {} (healthy pieces of the weakest segment / n)",
                health(&o)
            );
        }
        Command::Rm { id } => {
            let id: ObjectId = id.parse()?;
            client.delete(id).await?;
            eprintln!("deleted {id}");
        }
        Command::S3Keys(S3KeysCommand::Create) => {
            let key = client.create_s3_key().await?;
            println!("access_key_id     {}", key.access_key);
            println!("secret_access_key {}", key.secret.unwrap_or_default());
            eprintln!(
                "the secret is shown this once: the validator keeps it sealed and cannot show it again"
            );
        }
        Command::S3Keys(S3KeysCommand::List) => {
            println!("{:<20}  {:<20}  {:<20}", "ACCESS KEY", "CREATED", "REVOKED");
            for k in client.list_s3_keys().await? {
                let revoked = k.revoked_ms.map_or_else(|| "-".to_owned(), when);
                println!(
                    "{:<20}  {:<20}  {:<20}",
                    k.access_key,
                    when(k.created_ms),
                    revoked
                );
            }
        }
        Command::S3Keys(S3KeysCommand::Revoke { access_key }) => {
            client.revoke_s3_key(&access_key).await?;
            eprintln!("revoked {access_key}");
        }
    }
    Ok(())
}

/// Writes the object under a temporary name beside `path` and renames it into place only once
/// every byte is checked, so a failed get never leaves a half-written file.
async fn get_to_file(
    client: &mut Client,
    id: ObjectId,
    path: &Path,
    quiet: bool,
) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("-o {}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tessera-part", name.to_string_lossy()));
    let file = std::fs::File::create(&tmp).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    let stat = client.stat(id).await;
    let total = stat.as_ref().map_or(0, |s| s.size);
    let bar = bar(quiet, total, "get");
    let result = client
        .get(
            id,
            std::io::BufWriter::with_capacity(1 << 20, file),
            progress(&bar),
        )
        .await;
    bar.finish_and_clear();
    let done = result.and_then(|(summary, writer)| {
        let file = writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(summary)
    });
    match done {
        Ok(summary) => {
            std::fs::rename(&tmp, path).map_err(io)?;
            eprintln!("wrote {} ({} bytes)", path.display(), summary.size);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(name_io(e, path))
        }
    }
}

/// Puts the real file name on an I/O error the client library could only call input or output.
fn name_io(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { source, .. } => Error::Io {
            path: path.to_owned(),
            source,
        },
        other => other,
    }
}

/// A TTL in seconds from `3600`, `90s`, `30m`, `12h` or `7d`.
fn parse_ttl(s: &str) -> Result<u64, Error> {
    let bad = || {
        Error::Usage(format!(
            "--ttl {s:?}: expected seconds, or a number with s, m, h or d"
        ))
    };
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(0) | None => Err(bad()),
        Some(v) => Ok(v),
    }
}

fn bar(hidden: bool, total: u64, verb: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(verb.to_owned());
    bar
}

fn progress(bar: &ProgressBar) -> Progress {
    let bar = bar.clone();
    Arc::new(move |done| bar.set_position(done))
}

/// `healthy/n` of the weakest segment.
fn health(o: &ObjectSummary) -> String {
    format!("{}/{}", o.weakest_segment, o.n)
}

/// A Unix time in milliseconds as UTC `YYYY-MM-DD hh:mm:ss`.
fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse() {
        for (text, want) in [
            ("3600", Some(3600)),
            ("90s", Some(90)),
            ("30m", Some(1800)),
            ("12h", Some(43_200)),
            ("7d", Some(604_800)),
            ("0", None),
            ("5w", None),
            ("h", None),
            ("-1", None),
        ] {
            assert_eq!(parse_ttl(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00");
        assert_eq!(when(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(when(951_782_400_000), "2000-02-29 00:00:00");
    }
}
