//! A flood of correctly signed requests from fresh hotkeys against the gateway, which anyone may
//! call: the replay memory and the process's memory stay bounded, and clients elsewhere are
//! still served.

use std::net::{IpAddr, SocketAddr};

use tessera_core::{AccountId, Keypair};
use tessera_proto::gateway::v1::StatRequest;
use tessera_proto::gateway::v1::gateway_client::GatewayClient;
use tessera_proto::gateway::v1::methods;
use tessera_proto::tonic::transport::{Channel, Endpoint};
use tessera_proto::tonic::{Code, Request};
use tessera_testkit::{Spec, account};

use crate::support::Subnet;

/// Requests in flight at once.
const IN_FLIGHT: usize = 64;

/// What the validator holds per source at most (`GATEWAY_MAX_NONCES_PER_SOURCE`).
const PER_SOURCE: u64 = 50_000;

async fn channel(addr: SocketAddr, from: IpAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .unwrap()
}

/// A signed `Stat` of an object that does not exist, from a hotkey never seen before.
async fn stat_as(client: &mut GatewayClient<Channel>, key: &Keypair, to: &AccountId) -> Code {
    let mut req = Request::new(StatRequest {
        id: rand::random::<[u8; 16]>().to_vec(),
    });
    tessera_rpc::sign_request(&mut req, key, to, methods::STAT);
    match client.stat(req).await {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Admitted, then told the object does not exist.
    admitted: u64,
    /// Refused for the flood's source.
    refused: u64,
    other: Vec<Code>,
}

/// `n` requests, each from a fresh hotkey, `IN_FLIGHT` at a time over one connection from
/// `from`.
async fn flood(addr: SocketAddr, to: AccountId, from: IpAddr, n: usize) -> Tally {
    let client = GatewayClient::new(channel(addr, from).await);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..IN_FLIGHT {
        let mut client = client.clone();
        let share = n / IN_FLIGHT + usize::from(w < n % IN_FLIGHT);
        workers.spawn(async move {
            let mut tally = Tally::default();
            for _ in 0..share {
                match stat_as(&mut client, &Keypair::generate(), &to).await {
                    Code::NotFound => tally.admitted += 1,
                    Code::ResourceExhausted => tally.refused += 1,
                    other => tally.other.push(other),
                }
            }
            tally
        });
    }
    let mut all = Tally::default();
    while let Some(t) = workers.join_next().await {
        let t = t.unwrap();
        all.admitted += t.admitted;
        all.refused += t.refused;
        all.other.extend(t.other);
    }
    all
}

/// The process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

async fn gauge(metrics: SocketAddr, name: &str) -> f64 {
    let text = tessera_node::scrape(metrics).await.unwrap();
    tessera_node::sample(&text, name, &[]).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_fresh_hotkeys_stays_bounded_and_clients_elsewhere_are_served() {
    let _cpu = crate::support::cpu_heavy().await;
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 1000.0)]);
    subnet
        .start_validator("Alice", &["--metrics.addr", "127.0.0.1:0"])
        .await;
    let p = &subnet.validators["Alice"];
    let (addr, pid) = (p.addr, p.pid());
    let metrics = p
        .metrics_addr()
        .expect("the validator reports its metrics address");
    let alice = account("Alice");
    let flooder: IpAddr = "127.0.0.1".parse().unwrap();
    let elsewhere: IpAddr = "127.0.0.2".parse().unwrap();

    // A client elsewhere, served before the flood.
    let mut client = GatewayClient::new(channel(addr, elsewhere).await);
    let real = Keypair::generate();
    assert_eq!(stat_as(&mut client, &real, &alice).await, Code::NotFound);
    let warm = flood(addr, alice, flooder, 1_000).await;
    assert_eq!(warm.admitted, 1_000, "{warm:?}");
    let before = rss_kib(pid);

    // 100 000 requests from 100 000 fresh hotkeys: the flood's source fills its share of the
    // replay memory and the rest are refused.
    let first = flood(addr, alice, flooder, 100_000).await;
    let after_first = rss_kib(pid);
    assert!(
        first.other.is_empty(),
        "{:?}",
        first.other.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(first.admitted, PER_SOURCE - 1_000, "{first:?}");
    assert_eq!(first.refused, 100_000 - first.admitted, "{first:?}");
    let nonces = gauge(metrics, "tessera_validator_gateway_replay_nonces").await;
    let callers = gauge(metrics, "tessera_validator_gateway_replay_callers").await;
    assert!(nonces <= (PER_SOURCE + 2) as f64, "{nonces} nonces held");
    assert!(callers <= (PER_SOURCE + 2) as f64, "{callers} callers held");

    // Clients elsewhere are served during the flood: the known one, and a new one.
    assert_eq!(stat_as(&mut client, &real, &alice).await, Code::NotFound);
    assert_eq!(
        stat_as(&mut client, &Keypair::generate(), &alice).await,
        Code::NotFound
    );

    // Another 50 000 fresh hotkeys are all refused, and the memory does not grow with them.
    let second = flood(addr, alice, flooder, 50_000).await;
    let after_second = rss_kib(pid);
    assert_eq!((second.admitted, second.refused), (0, 50_000), "{second:?}");
    let growth_first = after_first.saturating_sub(before);
    let growth_second = after_second.saturating_sub(after_first);
    println!(
        "flood: {} admitted, {} refused; replay memory {nonces} nonces, {callers} callers; \
         RSS {before} KiB before, +{growth_first} KiB after the first 100 000, \
         +{growth_second} KiB after 50 000 more",
        first.admitted, first.refused
    );
    // Held entries cost a few hundred bytes each; the refused ones nothing that stays.
    assert!(
        growth_first < 128 << 10,
        "{growth_first} KiB for {} entries",
        first.admitted
    );
    assert!(
        growth_second < 16 << 10,
        "{growth_second} KiB kept for 50 000 refused requests"
    );
    assert!(
        p.log_text().contains("more refusals not logged"),
        "the refusals' log lines are limited"
    );
    let refusals = p.log_text().matches("request refused").count();
    assert!(
        refusals < 5_000,
        "{refusals} log lines for 100 000 refusals"
    );
}
