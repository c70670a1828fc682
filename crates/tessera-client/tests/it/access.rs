//! Only the owner reads or deletes an object, and every failure is one clear line.

use crate::support::{Devnet, bytes, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_cannot_read_or_delete_and_errors_are_clear() {
    let net = Devnet::start(&["Dave", "Ferdie", "Grace"], "2MiB", 2, 3, &[]).await;
    let id = net.put("Eve", &bytes(5000, 1));

    // Another hotkey is told the object does not exist, and cannot delete it.
    let err = net.get("Mallory", &id).unwrap_err();
    assert!(err.contains(&format!("object {id} not found")), "{err}");
    assert!(err.contains("belongs to another hotkey"), "{err}");
    let rm = net.tessera("Mallory", &["rm", &id]);
    assert!(!rm.status.success());
    assert!(
        text(&rm.stderr).contains("not found"),
        "{}",
        text(&rm.stderr)
    );
    let ls = net.tessera("Mallory", &["ls"]);
    assert!(
        !text(&ls.stdout).contains(&id),
        "Mallory lists Eve's object"
    );
    assert_eq!(
        net.get("Eve", &id).expect("owner still reads it"),
        bytes(5000, 1)
    );

    // A bad id, a missing file and an unreachable validator each get one line.
    let bad = net.tessera("Eve", &["get", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("invalid object id \"nope\""),
        "{}",
        text(&bad.stderr)
    );
    let missing = net.tessera("Eve", &["put", "/nonexistent/file"]);
    assert!(
        text(&missing.stderr).contains("/nonexistent/file"),
        "{}",
        text(&missing.stderr)
    );
    let out = std::process::Command::new(tessera_testkit::bin("tessera"))
        .args(["--validator", "127.0.0.1:1", "--wallet.path"])
        .arg(net.net.wallets())
        .args(["--wallet.name", "Eve", "ls"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("validator at 127.0.0.1:1 is unreachable"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A get that fails leaves no file behind.
    let target = net.net.root.join("never");
    let out = net.tessera("Mallory", &["get", &id, "-o", target.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!target.exists());
    assert!(std::fs::read_dir(&net.net.root).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tessera-part")
    }));
}

/// A client keeps at most its quota; the refusal says how much it holds and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_keep_within_their_quota() {
    let net = Devnet::start(
        &["Dave", "Ferdie", "Grace"],
        "2MiB",
        2,
        3,
        &["--data.quota_per_client", "100KiB"],
    )
    .await;
    let first = net.put("Eve", &bytes(60 << 10, 1));
    let path = net.file("second", &bytes(60 << 10, 2));
    let out = net.tessera("Eve", &["put", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("ResourceExhausted") && err.contains("quota of 102400 bytes"),
        "{err}"
    );
    // Another client has its own quota, and the first object is intact.
    net.put("Mallory", &bytes(60 << 10, 3));
    assert_eq!(net.get("Eve", &first).unwrap(), bytes(60 << 10, 1));
    // Deleting makes room again.
    assert!(net.tessera("Eve", &["rm", &first]).status.success());
    net.put("Eve", &bytes(60 << 10, 2));
}
