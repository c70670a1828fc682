//! Weights on `LocalChain`: a set comes back as it was set, bad sets are refused without touching
//! the file, a damaged file is reported by line, and a reader never sees a half-written file.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_chain::{Error, LocalChain, WeightsRecord};
use tessera_core::AccountId;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn account(ss58: &str) -> AccountId {
    AccountId::from_ss58(ss58).expect("test account is valid ss58")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The names in `dir`, sorted, to see that no temporary file is left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn chain(dir: &Path) -> LocalChain {
    LocalChain::new(dir.join("metagraph.toml"), 1)
}

async fn set(
    chain: &LocalChain,
    validator: &AccountId,
    weights: &[(u16, f64)],
) -> Result<(), Error> {
    chain.write_weights(validator, weights)
}

async fn get(chain: &LocalChain, validator: &AccountId) -> Result<Option<WeightsRecord>, Error> {
    chain.weights(validator).await
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn assert_one_line_naming(err: &Error, path: &Path) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "more than one line: {text}");
    assert!(
        text.starts_with(&format!("weights {}", path.display())),
        "does not name {}: {text}",
        path.display()
    );
}

#[tokio::test]
async fn weights_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let chain = chain(dir.path());
    let alice = account(ALICE);
    let path = chain.weights_path(&alice);
    assert_eq!(path, dir.path().join(format!("weights-{ALICE}.toml")));

    // The metagraph file need not exist for weights to be kept beside it.
    assert_eq!(assert_send(get(&chain, &alice)).await.expect("read"), None);

    let weights = vec![(3, 0.5), (0, 0.125), (7, 0.375)];
    let before = now_ms();
    assert_send(set(&chain, &alice, &weights))
        .await
        .expect("set weights");
    let after = now_ms();
    let record = get(&chain, &alice).await.expect("read").expect("some");
    assert_eq!(record.validator, alice);
    assert_eq!(record.netuid, 1);
    assert_eq!(record.weights, weights);
    assert!((before..=after).contains(&record.set_at_ms), "{record:?}");
    assert_eq!(listing(dir.path()), vec![format!("weights-{ALICE}.toml")]);

    // The file is the documented format, readable without LocalChain.
    let text = std::fs::read_to_string(&path).expect("read file");
    assert!(
        text.starts_with(&format!("validator = \"{ALICE}\"\nnetuid = 1\n")),
        "{text}"
    );
    assert!(
        text.contains("[[weights]]\nuid = 3\nweight = 0.5\n"),
        "{text}"
    );
    assert_eq!(
        WeightsRecord::from_toml(&text, &path, &alice, 1).expect("parse"),
        record
    );

    // Weights normalised in floating point do not sum to exactly 1 and are still accepted.
    let sevenths: Vec<(u16, f64)> = (0..7).map(|uid| (uid, 1.0 / 7.0)).collect();
    assert_ne!(sevenths.iter().map(|(_, w)| w).sum::<f64>(), 1.0);
    set(&chain, &alice, &sevenths).await.expect("set sevenths");
    assert_eq!(
        get(&chain, &alice).await.unwrap().unwrap().weights,
        sevenths
    );

    // An empty set clears the weights; it is recorded, not treated as never set.
    set(&chain, &alice, &[]).await.expect("clear");
    let cleared = get(&chain, &alice).await.unwrap().expect("some");
    assert!(cleared.weights.is_empty());

    // Each validator has its own file.
    let bob = account(BOB);
    set(&chain, &bob, &[(1, 1.0)]).await.expect("set bob");
    assert_eq!(
        get(&chain, &bob).await.unwrap().unwrap().weights,
        vec![(1, 1.0)]
    );
    assert!(
        get(&chain, &alice)
            .await
            .unwrap()
            .unwrap()
            .weights
            .is_empty()
    );
    let mut files = vec![
        format!("weights-{ALICE}.toml"),
        format!("weights-{BOB}.toml"),
    ];
    files.sort();
    assert_eq!(listing(dir.path()), files);
}

#[test]
fn the_weights_file_sits_beside_the_metagraph() {
    let alice = account(ALICE);
    let name = format!("weights-{ALICE}.toml");
    assert_eq!(
        LocalChain::new("metagraph.toml", 1).weights_path(&alice),
        PathBuf::from(&name)
    );
    assert_eq!(
        LocalChain::new("/net/local/metagraph.toml", 1).weights_path(&alice),
        Path::new("/net/local").join(&name)
    );
}

/// A refused set: what it tests, the weights, and the end of the error message.
type Refused = (&'static str, Vec<(u16, f64)>, &'static str);

#[tokio::test]
async fn bad_weights_are_refused_and_the_old_ones_stay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let chain = chain(dir.path());
    let alice = account(ALICE);
    let path = chain.weights_path(&alice);

    let cases: &[Refused] = &[
        (
            "nan",
            vec![(0, f64::NAN), (1, 1.0)],
            "weight nan of uid 0 is not a finite number",
        ),
        (
            "infinite",
            vec![(0, f64::INFINITY)],
            "weight inf of uid 0 is not a finite number",
        ),
        (
            "negative",
            vec![(0, 1.5), (1, -0.5)],
            "negative weight -0.5 for uid 1",
        ),
        (
            "sum below 1",
            vec![(0, 0.25), (1, 0.25)],
            "weights sum to 0.5, not 1",
        ),
        (
            "sum above 1",
            vec![(0, 1.0), (1, 0.1)],
            "weights sum to 1.1, not 1",
        ),
        (
            "not normalised",
            vec![(0, 3.0), (1, 5.0)],
            "weights sum to 8.0, not 1",
        ),
        (
            "duplicate uid",
            vec![(4, 0.5), (4, 0.5)],
            "uid 4 is given more than once",
        ),
    ];

    // Refused before any file exists: none is created.
    for (name, weights, says) in cases {
        let err = set(&chain, &alice, weights).await.expect_err(name);
        assert!(matches!(err, Error::BadWeights { .. }), "{name}: {err:?}");
        assert_one_line_naming(&err, &path);
        assert!(
            err.to_string().ends_with(says),
            "{name}: {err} lacks {says:?}"
        );
        assert!(listing(dir.path()).is_empty(), "{name}: a file appeared");
    }

    // Refused after a good set: the good set stays, byte for byte.
    set(&chain, &alice, &[(2, 1.0)]).await.expect("good set");
    let bytes = std::fs::read(&path).expect("read file");
    for (name, weights, _) in cases {
        set(&chain, &alice, weights).await.expect_err(name);
        assert_eq!(std::fs::read(&path).expect("read file"), bytes, "{name}");
        assert_eq!(listing(dir.path()).len(), 1, "{name}: files appeared");
    }
    assert_eq!(
        get(&chain, &alice).await.unwrap().unwrap().weights,
        vec![(2, 1.0)]
    );
}

#[tokio::test]
async fn a_damaged_file_is_reported_by_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let chain = chain(dir.path());
    let alice = account(ALICE);
    let path = chain.weights_path(&alice);

    let head = format!("validator = \"{ALICE}\"\nnetuid = 1\nset_at_ms = 5\n");
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "negative weight",
            format!(
                "{head}\n[[weights]]\nuid = 0\nweight = 1.5\n\n[[weights]]\nuid = 1\nweight = -0.5\n"
            ),
            11,
            "negative weight -0.5 for uid 1",
        ),
        (
            "sum is not 1",
            format!("{head}\n[[weights]]\nuid = 0\nweight = 0.5\n"),
            6,
            "weights sum to 0.5, not 1",
        ),
        (
            "duplicate uid",
            format!(
                "{head}\n[[weights]]\nuid = 0\nweight = 0.5\n\n[[weights]]\nuid = 0\nweight = 0.5\n"
            ),
            10,
            "uid 0 is given more than once",
        ),
        (
            "another validator",
            format!("validator = \"{BOB}\"\nnetuid = 1\nset_at_ms = 5\n"),
            1,
            "is not the requested validator",
        ),
        (
            "another subnet",
            format!("validator = \"{ALICE}\"\nnetuid = 2\nset_at_ms = 5\n"),
            2,
            "netuid 2 does not match the requested netuid 1",
        ),
        (
            "unknown key",
            format!("{head}\n[[weights]]\nuid = 0\nweigth = 1.0\n"),
            7,
            "unknown field",
        ),
        (
            "bad validator",
            "validator = \"5Grw\"\nnetuid = 1\nset_at_ms = 5\n".to_owned(),
            1,
            "bad validator",
        ),
    ];
    for (name, text, line, says) in cases {
        std::fs::write(&path, &text).expect("write file");
        let err = get(&chain, &alice).await.expect_err(name);
        match &err {
            Error::WeightsInvalid { line: found, .. } => assert_eq!(*found, line, "{name}: {err}"),
            other => panic!("{name}: wrong error {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("weights {}:{line}: ", path.display())),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains(says),
            "{name}: {err} lacks {says:?}"
        );
        assert!(!err.to_string().contains('\n'), "{name}: {err}");
    }

    // A weights path that cannot be read as a file is an error, not "never set".
    std::fs::remove_file(&path).expect("remove file");
    std::fs::create_dir(&path).expect("make a directory there");
    let err = get(&chain, &alice).await.expect_err("a directory");
    assert!(matches!(err, Error::WeightsIo { .. }), "{err:?}");
    assert_one_line_naming(&err, &path);
    let err = set(&chain, &alice, &[(0, 1.0)])
        .await
        .expect_err("a directory");
    assert!(matches!(err, Error::WeightsIo { .. }), "{err:?}");
    assert_one_line_naming(&err, &path);
    assert_eq!(listing(dir.path()), vec![format!("weights-{ALICE}.toml")]);
}

#[tokio::test]
async fn a_reader_never_sees_a_half_written_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let chain = chain(dir.path());
    let alice = account(ALICE);
    let path = chain.weights_path(&alice);

    // Large sets, so that a file written in place would often be caught part-way.
    let set_of = |round: u16| -> Vec<(u16, f64)> {
        let n = 500u16 + round;
        (0..n).map(|uid| (uid, 1.0 / f64::from(n))).collect()
    };
    set(&chain, &alice, &set_of(0)).await.expect("first set");

    let reader_path = path.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_done = done.clone();
    let reader = std::thread::spawn(move || {
        let mut reads = 0u32;
        while !reader_done.load(std::sync::atomic::Ordering::Relaxed) {
            let text = std::fs::read_to_string(&reader_path).expect("the file always exists");
            let record = WeightsRecord::from_toml(&text, &reader_path, &alice, 1)
                .expect("the file is always whole");
            assert!(record.weights.len() >= 500);
            reads += 1;
        }
        reads
    });
    for round in 1..60 {
        set(&chain, &alice, &set_of(round)).await.expect("set");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("reader saw only whole files");
    assert!(reads > 0);
    assert_eq!(
        get(&chain, &alice).await.unwrap().unwrap().weights.len(),
        559
    );
    assert_eq!(listing(dir.path()).len(), 1, "temporaries left behind");
}
