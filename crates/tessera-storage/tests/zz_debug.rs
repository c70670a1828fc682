use tessera_core::AccountId;
use tessera_storage::{Chunk, Meta, PartitionDb};

fn meta(n: u8) -> Meta {
    Meta {
        miner: AccountId([1; 32]),
        validator: AccountId([n; 32]),
        chunk_size: 1024,
        seal_profile: "t".into(),
        seal_passes: 1,
    }
}

fn fds(tag: &str) {
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        if let Ok(l) = std::fs::read_link(e.unwrap().path()) {
            let s = l.display().to_string();
            if s.contains("target-db") {
                eprintln!("{tag}: open {s}");
            }
        }
    }
}

#[tokio::test]
async fn debug_loop() {
    let mut bad = 0;
    for i in 0..3000 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target-db");
        let db = PartitionDb::open(&path, &meta(2)).await.unwrap();
        db.insert(&[Chunk {
            id: 0,
            data: vec![0; 1024],
            root: [0; 32],
        }])
        .await
        .unwrap();
        db.close().await;
        let n1 = std::fs::read_dir(dir.path()).unwrap().count();
        fds("after make");
        let e = PartitionDb::open(&path, &meta(3)).await.unwrap_err();
        let n2 = std::fs::read_dir(dir.path()).unwrap().count();
        if n1 != n2 {
            bad += 1;
            eprintln!("iter {i}: {n1} -> {n2} {e}");
            fds("after refuse");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            fds("later");
            {
                use sqlx::{ConnectOptions, Connection};
                for e in std::fs::read_dir(dir.path()).unwrap() {
                    let e = e.unwrap();
                    eprintln!("  {:?} {}", e.file_name(), e.metadata().unwrap().len());
                }
                let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .connect()
                    .await
                    .unwrap();
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                eprintln!("n={n}");
                c.close().await.unwrap();
                eprintln!(
                    "after raw open/close {}",
                    std::fs::read_dir(dir.path()).unwrap().count()
                );
            }
            eprintln!(
                "count later {}",
                std::fs::read_dir(dir.path()).unwrap().count()
            );
        }
    }
    eprintln!("bad={bad}");
}
