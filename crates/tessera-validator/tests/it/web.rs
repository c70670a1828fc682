//! The HTTP gateway and the web page: the REST calls by hand over a socket, then the page itself
//! in headless Chromium uploading, listing, downloading and comparing a file.

use std::net::SocketAddr;
use std::time::Duration;

use tessera_testkit::Spec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Subnet, eventually, http};

async fn subnet_with_http() -> (Subnet, SocketAddr) {
    let mut subnet = Subnet::new(vec![
        Spec::validator("Alice", 100.0),
        Spec::miner("Dave"),
        Spec::miner("Ferdie"),
        Spec::miner("Grace"),
    ]);
    for m in ["Dave", "Ferdie", "Grace"] {
        subnet.start_miner(m, "2MiB", &[]).await;
    }
    subnet.publish_axons();
    let addr = subnet.start_http_validator().await;
    // Ready once every miner has been challenged and is trusted with pieces.
    eventually(Duration::from_secs(30), "three ready miners", || async {
        let (status, _, body) = http(addr, "GET", "/v1/miners", b"").await;
        let rows: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let ready = rows
            .as_array()?
            .iter()
            .filter(|r| {
                r["claimed_bytes"].as_u64() > Some(0) && r["reputation"].as_f64() >= Some(0.9)
            })
            .count();
        (status == 200 && ready == 3).then_some(())
    })
    .await;
    (subnet, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_objects_round_trip() {
    let (mut subnet, addr) = subnet_with_http().await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let id = "00112233445566778899aabbccddeeff";
    let path = format!("/v1/objects/{id}");
    let (status, _, body) = http(addr, "PUT", &format!("{path}?ttl=3600"), &data).await;
    assert_eq!(
        status,
        201,
        "{}\n{}",
        String::from_utf8_lossy(&body),
        subnet.logs()
    );
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["size"], 200_000);
    // The same id again is a conflict, and changes nothing.
    assert_eq!(http(addr, "PUT", &path, b"other").await.0, 409);

    let (status, head, _) = http(addr, "HEAD", &path, b"").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-length: 200000"),
        "{head}"
    );
    assert!(head.contains("x-tessera-health: 3/3"), "{head}");
    let (status, _, body) = http(addr, "GET", &path, b"").await;
    assert_eq!(status, 200);
    assert!(body == data, "the object came back different");
    let (_, _, list) = http(addr, "GET", "/v1/objects", b"").await;
    assert!(String::from_utf8_lossy(&list).contains(id));
    // The scoreboard counts the pieces as data on the miners that hold them.
    let (_, _, miners) = http(addr, "GET", "/v1/miners", b"").await;
    let rows: serde_json::Value = serde_json::from_slice(&miners).unwrap();
    let data_bytes: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        data_bytes,
        2 * 3 * 64 * 1024,
        "two segments of three 64 KiB pieces"
    );

    // Bad input gets a clear status and loses nothing.
    assert_eq!(http(addr, "GET", "/v1/objects/zz", b"").await.0, 400);
    assert_eq!(
        http(
            addr,
            "GET",
            "/v1/objects/ffffffffffffffffffffffffffffffff",
            b""
        )
        .await
        .0,
        404
    );
    assert_eq!(
        http(addr, "PUT", "/v1/objects/aa?ttl=soon", b"x").await.0,
        400
    );
    assert_eq!(http(addr, "DELETE", &path, b"").await.0, 204);
    assert_eq!(http(addr, "GET", &path, b"").await.0, 404);

    // An object that cannot be read, two of its three miners gone, is a 503 with the reason
    // before any body, not a 200 and a body cut short.
    let gone = "ffeeddccbbaa99887766554433221100";
    let path = format!("/v1/objects/{gone}");
    assert_eq!(http(addr, "PUT", &path, &data).await.0, 201);
    for m in ["Ferdie", "Grace"] {
        subnet.miners.get_mut(m).unwrap().kill();
    }
    let (status, head, body) = http(addr, "GET", &path, b"").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{head}\n{body}");
    assert!(body.contains("pieces needed could be fetched"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_page_works_in_chromium() {
    let (subnet, addr) = subnet_with_http().await;
    let (dom, stderr) = tessera_testkit::page_dom(&format!("http://{addr}/?selftest")).await;
    assert!(
        dom.contains("selftest: ok"),
        "the page's self-test did not pass:\n{dom}\n{stderr}\n{}",
        subnet.logs()
    );
    // The page showed the scoreboard too.
    assert!(
        dom.contains("5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy"),
        "{dom}"
    );
}

/// Fuzzing on stable Rust: the HTTP object routes of a real validator take arbitrary methods,
/// paths, queries, headers and bodies. Each gets an answer, none an internal error, and the
/// gateway still works afterwards. As many cases as `FUZZ_HTTP_CASES` (`cargo xtask fuzz`), 64
/// when unset: each is a real request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_http_object_routes() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    let (_subnet, addr) = subnet_with_http().await;
    let cases: u32 = std::env::var("FUZZ_HTTP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let request = (
        prop_oneof![
            Just("GET"),
            Just("PUT"),
            Just("POST"),
            Just("HEAD"),
            Just("DELETE"),
            Just("PATCH"),
        ],
        prop_oneof![
            Just("/v1/objects".to_owned()),
            "/v1/objects/[0-9a-f]{0,40}",
            "/v1/objects/[ -~&&[^ ?#%]]{0,40}",
            "/v1/[a-z/%0-9]{0,20}",
        ],
        prop_oneof![
            Just(String::new()),
            "\\?ttl=[0-9a-z-]{0,22}",
            "\\?[a-z=&]{0,30}",
        ],
        prop_oneof![
            Just(String::new()),
            "Content-Type: [ -~]{0,30}\r\n",
            "X-Tessera-Ttl: [ -~]{0,20}\r\n",
            "Range: bytes=[0-9-]{0,12}\r\n",
        ],
        proptest::collection::vec(any::<u8>(), 0..300),
    );
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let mut answered = std::collections::BTreeMap::<u16, u32>::new();
    for _ in 0..cases {
        let (method, path, query, header, body) = request.new_tree(&mut runner).unwrap().current();
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path}{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{header}Content-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut raw)).await;
        let status: u16 = std::str::from_utf8(raw.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no answer to {head:?}: {raw:?}"));
        assert!(
            status != 500,
            "{head:?} got {}",
            String::from_utf8_lossy(&raw)
        );
        *answered.entry(status).or_default() += 1;
    }
    eprintln!("fuzz_http_object_routes: {cases} requests, answered by status {answered:?}");
    // Still serving.
    let (status, _, _) = http(addr, "GET", "/v1/objects", b"").await;
    assert_eq!(status, 200);
}
