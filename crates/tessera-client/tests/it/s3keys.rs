//! S3 access keys through `tessera s3-keys`: made for the signing hotkey with the secret shown
//! once, listed without secrets, revoked by their owner only, and kept sealed by the validator.

use crate::support::{Devnet, VALIDATOR, text};

/// The value after `label` on a line of `out`.
fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label} in {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_makes_lists_and_revokes_its_s3_keys() {
    let net = Devnet::start(&["Dave", "Ferdie", "Grace"], "2MiB", 2, 3, &[]).await;
    let check_ok = |wallet: &str, args: &[&str]| {
        let out = net.tessera(wallet, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };

    let made = check_ok("Eve", &["s3-keys", "create"]);
    let access = field(&made, "access_key_id");
    let secret = field(&made, "secret_access_key");
    assert_eq!(access.len(), 20, "{access}");
    assert!(access.starts_with("TSR"), "{access}");
    assert_eq!(secret.len(), 40, "{secret}");
    let second = field(&check_ok("Eve", &["s3-keys", "create"]), "access_key_id");
    assert_ne!(second, access);

    // Listed with no secret, and only to their owner.
    let listed = check_ok("Eve", &["s3-keys", "list"]);
    assert!(
        listed.contains(&access) && listed.contains(&second),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret),
        "the list shows a secret: {listed}"
    );
    let others = check_ok("Mallory", &["s3-keys", "list"]);
    assert!(!others.contains(&access), "{others}");

    // Another owner cannot revoke it; its owner can, once.
    let refused = net.tessera("Mallory", &["s3-keys", "revoke", &access]);
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(err.contains(&format!("no S3 key {access}")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    check_ok("Eve", &["s3-keys", "revoke", &access]);
    let again = net.tessera("Eve", &["s3-keys", "revoke", &access]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    let listed = check_ok("Eve", &["s3-keys", "list"]);
    let line = listed.lines().find(|l| l.starts_with(&access)).unwrap();
    // Id, then the creation's and the revocation's date and time.
    assert_eq!(
        line.split_whitespace().count(),
        5,
        "revoked key shows no date: {line}"
    );
    let live = listed.lines().find(|l| l.starts_with(&second)).unwrap();
    assert!(live.trim_end().ends_with('-'), "{live}");

    // The validator keeps secrets sealed: neither its state file nor its log holds one.
    for entry in std::fs::read_dir(net.net.node_dir(VALIDATOR))
        .unwrap()
        .chain(std::fs::read_dir(&net.net.root).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds an S3 secret in the clear",
                path.display()
            );
        }
    }
}
