//! The store test suite, run against every backend.
//!
//! Each case is an async fn over `&dyn Store`; [`suite!`] turns every case
//! into one test per backend. SQLite runs in a fresh temporary file;
//! PostgreSQL in a fresh database on the server `WEBEX_TEST_DATABASE_URL`
//! names (skipped when unset; a failure under `CI=true`), dropped at the end even if the case panics.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;

use super::*;
use crate::testing::FreshDatabase;
use webex_wire::people::PersonType;

/// Hang guard: no case may take longer than this.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a test's database lives, so it can be reopened and damaged.
enum Location {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres(FreshDatabase),
}

/// A store on a fresh database of one backend.
struct Harness {
    store: Arc<dyn Store>,
    location: Location,
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("nested/dir/store.sqlite").display()
        );
        let store = connect(&url).await.unwrap();
        Self {
            store,
            location: Location::Sqlite { url, _dir: dir },
        }
    }

    /// `None` (with a note on stderr) when no PostgreSQL server is configured.
    async fn postgres() -> Option<Self> {
        let admin_url = crate::testing::postgres_url()?;
        let db = FreshDatabase::create(&admin_url).await.unwrap();
        let store = connect(&db.url).await.unwrap();
        Some(Self {
            store,
            location: Location::Postgres(db),
        })
    }

    fn url(&self) -> &str {
        match &self.location {
            Location::Sqlite { url, .. } => url,
            Location::Postgres(db) => &db.url,
        }
    }

    /// Closes the store and opens the same database again.
    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = connect(self.url()).await.unwrap();
    }

    /// Runs one statement on the database behind the store's back.
    async fn raw(&self, sql: &str) {
        use sqlx::Connection;
        match &self.location {
            Location::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Location::Postgres(db) => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }

    /// Runs `case`, then closes the store and removes the database, also
    /// when the case panicked (the panic is then resumed).
    async fn run<F>(self, case: F)
    where
        F: for<'a> FnOnce(&'a mut Harness) -> Pin<Box<dyn Future<Output = ()> + 'a>>,
    {
        let mut h = self;
        let result = {
            let fut = AssertUnwindSafe(tokio::time::timeout(CASE_TIMEOUT, case(&mut h)));
            fut.catch_unwind().await
        };
        h.store.close().await;
        if let Location::Postgres(db) = h.location {
            db.drop_database().await;
        }
        match result {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("case timed out after {CASE_TIMEOUT:?}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// One test per backend per case. Cases named in `store:` take `&dyn Store`;
/// cases named in `harness:` take `&mut Harness` (reopen, raw SQL).
macro_rules! suite {
    (store: [$($case:ident),* $(,)?], harness: [$($hcase:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::Harness::sqlite().await
                        .run(|h| Box::pin(async move { super::$case(&*h.store).await }))
                        .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $hcase() {
                    super::Harness::sqlite().await
                        .run(|h| Box::pin(super::$hcase(h)))
                        .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(h) = super::Harness::postgres().await {
                        h.run(|h| Box::pin(async move { super::$case(&*h.store).await }))
                            .await;
                    }
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $hcase() {
                    if let Some(h) = super::Harness::postgres().await {
                        h.run(|h| Box::pin(super::$hcase(h))).await;
                    }
                }
            )*
        }
    };
}

suite! {
    store: [
        upsert_person_is_idempotent,
        concurrent_upserts_make_one_person_and_org,
        tokens_insert_get_revoke,
        rotate_outcomes,
        concurrent_rotations_rotate_once,
        auth_code_single_use_under_concurrency,
        grant_sources_are_stored_with_codes_and_tokens,
        oauth_clients_round_trip,
        guest_issuers_round_trip,
        devices_crud_and_ownership,
        device_updates_from_one_version_apply_once,
        device_limit_under_concurrent_creates,
        device_limit_ignores_expired_devices,
        expiry_sweep_returns_exactly_the_expired,
        missing_person_is_reported,
        failed_writes_do_not_undo_concurrent_ones,
        interleaved_failures_fail_alone,
        meeting_spaces_by_key,
        meeting_lifecycle,
        meeting_rooms_round_trip,
        concurrent_meeting_changes_get_distinct_sequences,
        client_logs_stay_under_the_total_cap_under_concurrency,
        a_shared_secret_is_made_once_under_concurrency,
    ],
    harness: [
        data_survives_reopen,
        damaged_rows_are_corrupt,
        meeting_changes_by_another_node_are_seen,
        the_share_floor_is_stored_and_released_on_leave,
    ],
}

/// Nodes starting at once on one database each offer their own candidate
/// key; every one of them gets the same stored key, and so does a later ask.
async fn a_shared_secret_is_made_once_under_concurrency(store: &dyn Store) {
    use secrecy::{ExposeSecret, SecretString};
    let asks = (0..8).map(|i| {
        store.shared_secret(
            "permission_token",
            SecretString::from(format!("candidate-{i}")),
        )
    });
    let got: Vec<String> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect();
    assert!(got[0].starts_with("candidate-"), "{got:?}");
    assert!(got.iter().all(|k| *k == got[0]), "{got:?}");
    let later = store
        .shared_secret("permission_token", SecretString::from("late"))
        .await
        .unwrap();
    assert_eq!(later.expose_secret(), got[0]);
    let other = store
        .shared_secret("another", SecretString::from("b"))
        .await
        .unwrap();
    assert_eq!(other.expose_secret(), "b");
}

// ---------------------------------------------------------------- fixtures

fn new_person(email: &str, org: &str) -> NewPerson {
    NewPerson {
        email: email.to_owned(),
        display_name: format!("Name of {email}"),
        kind: PersonType::Person,
        org_name: org.to_owned(),
    }
}

async fn person(store: &dyn Store, email: &str) -> PersonRecord {
    store
        .upsert_person(&new_person(email, "example.com"))
        .await
        .unwrap()
}

fn hash(s: &str) -> SecretHash {
    SecretHash(format!("hash-{s}"))
}

fn token(name: &str, kind: TokenKind, person: &PersonRecord, family: Option<&str>) -> TokenRecord {
    TokenRecord {
        hash: hash(name),
        kind,
        person_id: person.id.clone(),
        client_id: Some("client-1".into()),
        family_id: family.map(str::to_owned),
        grant_source: None,
        scope: "spark:all".into(),
        created_at: 1_000,
        expires_at: Some(10_000),
        revoked_at: None,
        used_at: None,
    }
}

fn device(
    id: &str,
    owner: &PersonRecord,
    created_at: Millis,
    expires_at: Option<Millis>,
) -> DeviceRecord {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "capabilities".into(),
        serde_json::json!({"groupCallSupported": true}),
    );
    DeviceRecord {
        id: id.to_owned(),
        person_id: owner.id.clone(),
        org_id: owner.org_id.clone(),
        name: format!("device {id}"),
        device_type: "DESKTOP".into(),
        model: "rust".into(),
        localized_model: "Rust".into(),
        system_name: "linux".into(),
        system_version: "6".into(),
        ttl: expires_at.map(|e| u64::try_from((e - created_at) / 1000).unwrap()),
        extra,
        created_at,
        modified_at: created_at,
        expires_at,
        version: 1,
    }
}

fn auth_code(name: &str, person: &PersonRecord, expires_at: Millis) -> AuthCodeRecord {
    AuthCodeRecord {
        hash: hash(name),
        client_id: "client-1".into(),
        person_id: person.id.clone(),
        redirect_uri: "http://127.0.0.1:1234/cb".into(),
        scope: "spark:all".into(),
        code_challenge: Some("challenge".into()),
        code_challenge_method: Some("S256".into()),
        family_id: format!("family-of-{name}"),
        grant_source: None,
        created_at: 1_000,
        expires_at,
    }
}

// ---------------------------------------------------------------- people

async fn upsert_person_is_idempotent(store: &dyn Store) {
    let alice = store
        .upsert_person(&new_person("alice@example.com", "example.com"))
        .await
        .unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.display_name, "Name of alice@example.com");
    assert_eq!(alice.kind, PersonType::Person);

    // Creation-only fields are ignored for an existing person.
    let mut again = new_person("alice@example.com", "other.org");
    again.display_name = "Changed".into();
    again.kind = PersonType::Bot;
    assert_eq!(store.upsert_person(&again).await.unwrap(), alice);

    assert_eq!(
        store.person(&alice.id).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(
        store
            .person_by_email("alice@example.com")
            .await
            .unwrap()
            .as_ref(),
        Some(&alice)
    );
    assert_eq!(store.person("nobody").await.unwrap(), None);
    assert_eq!(
        store.person_by_email("nobody@example.com").await.unwrap(),
        None
    );

    let org = store.org(&alice.org_id).await.unwrap().unwrap();
    assert_eq!(org.name, "example.com");
    assert_eq!(store.org("no-such-org").await.unwrap(), None);

    let bob = store
        .upsert_person(&new_person("bob@example.com", "example.com"))
        .await
        .unwrap();
    assert_eq!(bob.org_id, alice.org_id);
    assert_ne!(bob.id, alice.id);
    let mut bot = new_person("bot@webex.bot", "webex.bot");
    bot.kind = PersonType::Bot;
    let bot = store.upsert_person(&bot).await.unwrap();
    assert_ne!(bot.org_id, alice.org_id);
    assert_eq!(
        store.person(&bot.id).await.unwrap().unwrap().kind,
        PersonType::Bot
    );
}

async fn concurrent_upserts_make_one_person_and_org(store: &dyn Store) {
    let carol = new_person("carol@race.org", "race.org");
    let same = join_all((0..20).map(|_| store.upsert_person(&carol))).await;
    let same: Vec<PersonRecord> = same.into_iter().map(Result::unwrap).collect();
    assert!(same.iter().all(|p| p == &same[0]), "{same:?}");

    let others = join_all((0..20).map(|i| {
        let p = new_person(&format!("user{i}@fresh.org"), "fresh.org");
        async move { store.upsert_person(&p).await }
    }))
    .await;
    let others: Vec<PersonRecord> = others.into_iter().map(Result::unwrap).collect();
    assert!(
        others.iter().all(|p| p.org_id == others[0].org_id),
        "{others:?}"
    );
    let mut ids: Vec<&str> = others.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

async fn missing_person_is_reported(store: &dyn Store) {
    let ghost = PersonRecord {
        id: "ghost".into(),
        org_id: "org".into(),
        email: "ghost@example.com".into(),
        display_name: "Ghost".into(),
        kind: PersonType::Person,
        created_at: 0,
    };
    let err = store
        .create_device(&device("d", &ghost, 1_000, None), 5)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingReference("person")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let err = store
        .insert_token(&token("t", TokenKind::Access, &ghost, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingReference("person")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- tokens

async fn tokens_insert_get_revoke(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let bob = person(store, "bob@example.com").await;
    let a1 = token("a1", TokenKind::Access, &alice, Some("fam"));
    let r1 = token("r1", TokenKind::Refresh, &alice, Some("fam"));
    let a2 = TokenRecord {
        expires_at: None,
        client_id: None,
        ..token("a2", TokenKind::Access, &alice, None)
    };
    let b1 = token("b1", TokenKind::Access, &bob, Some("fam-b"));
    for t in [&a1, &r1, &a2, &b1] {
        store.insert_token(t).await.unwrap();
    }
    assert_eq!(store.token(&a1.hash).await.unwrap().as_ref(), Some(&a1));
    assert_eq!(store.token(&a2.hash).await.unwrap().as_ref(), Some(&a2));
    assert_eq!(store.token(&hash("none")).await.unwrap(), None);
    let err = store.insert_token(&a1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("token")), "{err:?}");

    assert!(store.revoke_token(&a2.hash, 2_000).await.unwrap());
    assert!(!store.revoke_token(&a2.hash, 3_000).await.unwrap());
    assert!(!store.revoke_token(&hash("none"), 3_000).await.unwrap());
    assert_eq!(
        store.token(&a2.hash).await.unwrap().unwrap().revoked_at,
        Some(2_000)
    );

    // Only access tokens are returned (their sockets must close), and only
    // those this call revoked.
    assert_eq!(
        store.revoke_family("fam", 4_000).await.unwrap(),
        vec![a1.hash.clone()]
    );
    assert_eq!(store.revoke_family("fam", 5_000).await.unwrap(), vec![]);
    assert_eq!(
        store.token(&r1.hash).await.unwrap().unwrap().revoked_at,
        Some(4_000)
    );
    assert_eq!(
        store.token(&b1.hash).await.unwrap().unwrap().revoked_at,
        None
    );

    let b2 = token("b2", TokenKind::Refresh, &bob, None);
    store.insert_token(&b2).await.unwrap();
    assert_eq!(
        store.revoke_person_tokens(&bob.id, 6_000).await.unwrap(),
        vec![b1.hash.clone()]
    );
    assert_eq!(
        store.revoke_person_tokens(&bob.id, 7_000).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.token(&b2.hash).await.unwrap().unwrap().revoked_at,
        Some(6_000)
    );
    // Alice's tokens keep their original revocation times.
    assert_eq!(
        store.token(&a1.hash).await.unwrap().unwrap().revoked_at,
        Some(4_000)
    );
}

async fn rotate_outcomes(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let now = 2_000;
    let old = token("old", TokenKind::Refresh, &alice, Some("fam"));
    let sibling = token("sibling", TokenKind::Access, &alice, Some("fam"));
    store.insert_token(&old).await.unwrap();
    store.insert_token(&sibling).await.unwrap();

    let access = token("new-access", TokenKind::Access, &alice, Some("fam"));
    let refresh = token("new-refresh", TokenKind::Refresh, &alice, Some("fam"));
    assert_eq!(
        store
            .rotate_refresh_token(&old.hash, now, &access, &refresh)
            .await
            .unwrap(),
        RotateOutcome::Rotated
    );
    assert_eq!(
        store.token(&old.hash).await.unwrap().unwrap().used_at,
        Some(now)
    );
    assert_eq!(
        store.token(&access.hash).await.unwrap().as_ref(),
        Some(&access)
    );
    assert_eq!(
        store.token(&refresh.hash).await.unwrap().as_ref(),
        Some(&refresh)
    );

    // Presenting the rotated-away token again revokes the whole family.
    let access2 = token("new-access-2", TokenKind::Access, &alice, Some("fam"));
    let refresh2 = token("new-refresh-2", TokenKind::Refresh, &alice, Some("fam"));
    let outcome = store
        .rotate_refresh_token(&old.hash, 3_000, &access2, &refresh2)
        .await
        .unwrap();
    let RotateOutcome::Reused { mut revoked_access } = outcome else {
        panic!("expected Reused, got {outcome:?}");
    };
    revoked_access.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![sibling.hash.clone(), access.hash.clone()];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(revoked_access, expected);
    for h in [&old.hash, &sibling.hash, &access.hash, &refresh.hash] {
        assert_eq!(
            store.token(h).await.unwrap().unwrap().revoked_at,
            Some(3_000),
            "{h:?}"
        );
    }
    assert_eq!(store.token(&access2.hash).await.unwrap(), None);
    assert_eq!(store.token(&refresh2.hash).await.unwrap(), None);
    // The new refresh token is revoked now, so it is invalid.
    assert_eq!(
        store
            .rotate_refresh_token(&refresh.hash, 3_500, &access2, &refresh2)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    // Unknown, expired, revoked and access tokens are invalid and change nothing.
    assert_eq!(
        store
            .rotate_refresh_token(&hash("none"), now, &access2, &refresh2)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    let expired = TokenRecord {
        expires_at: Some(1_500),
        ..token("expired", TokenKind::Refresh, &alice, Some("fam2"))
    };
    let revoked = TokenRecord {
        revoked_at: Some(1_500),
        ..token("revoked", TokenKind::Refresh, &alice, Some("fam2"))
    };
    let access_only = token("access-only", TokenKind::Access, &alice, Some("fam2"));
    for t in [&expired, &revoked, &access_only] {
        store.insert_token(t).await.unwrap();
        assert_eq!(
            store
                .rotate_refresh_token(&t.hash, now, &access2, &refresh2)
                .await
                .unwrap(),
            RotateOutcome::Invalid,
            "{t:?}"
        );
        assert_eq!(store.token(&t.hash).await.unwrap().as_ref(), Some(t));
    }
    assert_eq!(store.token(&access2.hash).await.unwrap(), None);
}

async fn concurrent_rotations_rotate_once(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let old = token("old", TokenKind::Refresh, &alice, Some("fam"));
    store.insert_token(&old).await.unwrap();
    let pairs: Vec<(TokenRecord, TokenRecord)> = (0..10)
        .map(|i| {
            (
                token(&format!("a{i}"), TokenKind::Access, &alice, Some("fam")),
                token(&format!("r{i}"), TokenKind::Refresh, &alice, Some("fam")),
            )
        })
        .collect();
    let outcomes = join_all(
        pairs
            .iter()
            .map(|(a, r)| store.rotate_refresh_token(&old.hash, 2_000, a, r)),
    )
    .await;
    let outcomes: Vec<RotateOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let rotated = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Rotated)
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Reused { .. }))
        .count();
    assert_eq!((rotated, reused), (1, 9), "{outcomes:?}");
    // The reuse revoked the pair the winner got.
    let winner = pairs
        .iter()
        .zip(&outcomes)
        .find(|(_, o)| **o == RotateOutcome::Rotated)
        .map(|(p, _)| p)
        .unwrap();
    assert!(
        store
            .token(&winner.1.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

/// Writes that fail (a duplicate key half-way through a rotation, a device
/// for nobody) fail alone, undoing all of their own statements, while the
/// writes running beside them (on SQLite: committed in the same batch) land.
async fn failed_writes_do_not_undo_concurrent_ones(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let old = token("old", TokenKind::Refresh, &alice, Some("fam"));
    let taken = token("taken", TokenKind::Refresh, &alice, Some("fam"));
    store.insert_token(&old).await.unwrap();
    store.insert_token(&taken).await.unwrap();
    let ghost = PersonRecord {
        id: "nobody".into(),
        ..alice.clone()
    };
    let tokens: Vec<TokenRecord> = (0..20)
        .map(|i| token(&format!("t{i}"), TokenKind::Access, &alice, None))
        .collect();
    let devices: Vec<DeviceRecord> = (0..20)
        .map(|i| device(&format!("d{i}"), &alice, 1_000, None))
        .collect();
    let fresh_access = token("fresh-access", TokenKind::Access, &alice, Some("fam"));
    let orphan = device("orphan", &ghost, 1_000, None);

    let good = join_all(
        tokens
            .iter()
            .map(|t| store.insert_token(t))
            .chain(devices.iter().map(|d| store.create_device(d, 100))),
    );
    let (good, rotated, orphan) = tokio::join!(
        good,
        // Its access token inserts, then its refresh token collides.
        store.rotate_refresh_token(&old.hash, 2_000, &fresh_access, &taken),
        store.create_device(&orphan, 100),
    );

    assert!(good.iter().all(Result::is_ok), "{good:?}");
    assert!(
        matches!(rotated, Err(StoreError::Conflict(_))),
        "{rotated:?}"
    );
    assert!(
        matches!(orphan, Err(StoreError::MissingReference(_))),
        "{orphan:?}"
    );
    // The failed rotation left no trace: old unused, no new access token.
    assert_eq!(store.token(&old.hash).await.unwrap().unwrap().used_at, None);
    assert_eq!(store.token(&fresh_access.hash).await.unwrap(), None);
    assert_eq!(store.device("orphan").await.unwrap(), None);
    for t in &tokens {
        assert!(
            store.token(&t.hash).await.unwrap().is_some(),
            "{}",
            t.hash.0
        );
    }
    assert_eq!(
        store.devices_of(&alice.id).await.unwrap().len(),
        devices.len()
    );
}

/// A labelled store call, for cases that mix calls of several kinds.
type Call<'a> = Pin<Box<dyn Future<Output = (&'static str, StoreResult<()>)> + Send + 'a>>;

/// Many concurrent writes, every third of which fails in its own way (a
/// duplicate key, a device for nobody, a device over its owner's limit),
/// interleaved so that on a batching backend failures land in the middle of
/// batches: each failure reaches only its own caller, every other write is
/// stored.
async fn interleaved_failures_fail_alone(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let carol = person(store, "carol@example.com").await;
    let ghost = PersonRecord {
        id: "nobody".into(),
        ..alice.clone()
    };
    let taken = token("taken", TokenKind::Access, &alice, None);
    store.insert_token(&taken).await.unwrap();
    store
        .create_device(&device("full", &carol, 1_000, None), 1)
        .await
        .unwrap();

    let good_tokens: Vec<TokenRecord> = (0..30)
        .map(|i| token(&format!("g{i}"), TokenKind::Access, &alice, None))
        .collect();
    let good_devices: Vec<DeviceRecord> = (0..30)
        .map(|i| device(&format!("g{i}"), &alice, 1_000, None))
        .collect();
    let orphans: Vec<DeviceRecord> = (0..10)
        .map(|i| device(&format!("orphan{i}"), &ghost, 1_000, None))
        .collect();
    let over_limit: Vec<DeviceRecord> = (0..10)
        .map(|i| device(&format!("over{i}"), &carol, 1_000, None))
        .collect();

    let (good_tokens, good_devices) = (&good_tokens, &good_devices);
    let (orphans, over_limit, taken) = (&orphans, &over_limit, &taken);
    let mut calls: Vec<Call<'_>> = Vec::new();
    for i in 0..30 {
        calls.push(Box::pin(async move {
            ("good", store.insert_token(&good_tokens[i]).await)
        }));
        calls.push(Box::pin(async move {
            ("good", store.create_device(&good_devices[i], 100).await)
        }));
        let bad: Call<'_> = match i % 3 {
            0 => Box::pin(async move { ("conflict", store.insert_token(taken).await) }),
            1 => Box::pin(
                async move { ("missing", store.create_device(&orphans[i / 3], 100).await) },
            ),
            _ => {
                Box::pin(async move { ("limit", store.create_device(&over_limit[i / 3], 1).await) })
            }
        };
        calls.push(bad);
    }
    for (kind, result) in join_all(calls).await {
        match kind {
            "good" => assert!(result.is_ok(), "{result:?}"),
            "conflict" => assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}"),
            "missing" => assert!(
                matches!(result, Err(StoreError::MissingReference(_))),
                "{result:?}"
            ),
            _ => assert!(
                matches!(result, Err(StoreError::DeviceLimit { limit: 1, .. })),
                "{result:?}"
            ),
        }
    }
    for t in good_tokens {
        assert!(
            store.token(&t.hash).await.unwrap().is_some(),
            "{}",
            t.hash.0
        );
    }
    assert_eq!(store.devices_of(&alice.id).await.unwrap().len(), 30);
    assert_eq!(store.devices_of(&carol.id).await.unwrap().len(), 1);
    assert_eq!(store.devices_of("nobody").await.unwrap(), []);
}

// ---------------------------------------------------------------- OAuth

async fn auth_code_single_use_under_concurrency(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let code = auth_code("code", &alice, 5_000);
    store.insert_auth_code(&code).await.unwrap();
    let err = store.insert_auth_code(&code).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let outcomes = join_all((0..10).map(|_| store.consume_auth_code(&code.hash, 2_000))).await;
    let outcomes: Vec<ConsumeOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let consumed: Vec<&ConsumeOutcome> = outcomes
        .iter()
        .filter(|o| matches!(o, ConsumeOutcome::Consumed(_)))
        .collect();
    assert_eq!(
        consumed,
        [&ConsumeOutcome::Consumed(Box::new(code.clone()))],
        "{outcomes:?}"
    );
    let already = ConsumeOutcome::AlreadyUsed {
        family_id: code.family_id.clone(),
    };
    assert_eq!(outcomes.iter().filter(|o| **o == already).count(), 9);
    // Still spent later, even after expiry.
    assert_eq!(
        store.consume_auth_code(&code.hash, 9_000).await.unwrap(),
        already
    );

    let expired = auth_code("expired", &alice, 2_000);
    store.insert_auth_code(&expired).await.unwrap();
    assert_eq!(
        store.consume_auth_code(&expired.hash, 2_000).await.unwrap(),
        ConsumeOutcome::Invalid
    );
    assert_eq!(
        store.consume_auth_code(&hash("none"), 2_000).await.unwrap(),
        ConsumeOutcome::Invalid
    );
}

/// The personal access token a grant was made from, and the bound it sets,
/// are columns of the grant's code and of each of its tokens: stored,
/// read back, and carried by a rotation's new pair.
async fn grant_sources_are_stored_with_codes_and_tokens(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let bounded = GrantSource {
        token_hash: hash("pat"),
        not_after: Some(9_000),
    };
    let unbounded = GrantSource {
        token_hash: hash("forever-pat"),
        not_after: None,
    };
    for (name, source) in [("bounded", &bounded), ("unbounded", &unbounded)] {
        let code = AuthCodeRecord {
            grant_source: Some(source.clone()),
            ..auth_code(name, &alice, 5_000)
        };
        store.insert_auth_code(&code).await.unwrap();
        assert_eq!(
            store.consume_auth_code(&code.hash, 2_000).await.unwrap(),
            ConsumeOutcome::Consumed(Box::new(code.clone())),
            "{name}"
        );
        let of_grant = |n: &str, kind| TokenRecord {
            grant_source: Some(source.clone()),
            ..token(&format!("{name}-{n}"), kind, &alice, Some(&code.family_id))
        };
        let (access, refresh) = (
            of_grant("a", TokenKind::Access),
            of_grant("r", TokenKind::Refresh),
        );
        store.insert_token(&access).await.unwrap();
        store.insert_token(&refresh).await.unwrap();
        assert_eq!(store.token(&access.hash).await.unwrap(), Some(access));
        let (access2, refresh2) = (
            of_grant("a2", TokenKind::Access),
            of_grant("r2", TokenKind::Refresh),
        );
        assert_eq!(
            store
                .rotate_refresh_token(&refresh.hash, 2_000, &access2, &refresh2)
                .await
                .unwrap(),
            RotateOutcome::Rotated
        );
        assert_eq!(store.token(&access2.hash).await.unwrap(), Some(access2));
        assert_eq!(store.token(&refresh2.hash).await.unwrap(), Some(refresh2));
    }
    // Tokens of no grant (personal ones) record no source.
    let personal = token("personal", TokenKind::Access, &alice, None);
    store.insert_token(&personal).await.unwrap();
    assert_eq!(
        store
            .token(&personal.hash)
            .await
            .unwrap()
            .unwrap()
            .grant_source,
        None
    );
}

async fn oauth_clients_round_trip(store: &dyn Store) {
    let client = OAuthClientRecord {
        id: "client-1".into(),
        name: "My integration".into(),
        secret_hash: hash("secret"),
        redirect_uris: vec!["http://127.0.0.1:1/cb".into(), "app://done?x=\"1\"".into()],
        scopes: "spark:all spark:kms".into(),
        created_at: 1_000,
    };
    store.insert_oauth_client(&client).await.unwrap();
    assert_eq!(
        store.oauth_client("client-1").await.unwrap(),
        Some(client.clone())
    );
    assert_eq!(store.oauth_client("client-2").await.unwrap(), None);
    let err = store.insert_oauth_client(&client).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("oauth client")),
        "{err:?}"
    );
}

async fn guest_issuers_round_trip(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let issuer = GuestIssuerRecord {
        id: "issuer-1".into(),
        name: "Guests".into(),
        org_id: alice.org_id.clone(),
        secret: vec![0, 1, 2, 255, 254, 0],
        created_at: 1_000,
    };
    store.insert_guest_issuer(&issuer).await.unwrap();
    assert_eq!(
        store.guest_issuer("issuer-1").await.unwrap(),
        Some(issuer.clone())
    );
    assert_eq!(store.guest_issuer("issuer-2").await.unwrap(), None);
    let err = store.insert_guest_issuer(&issuer).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("guest issuer")),
        "{err:?}"
    );
    // The secret bytes never show (the org id is a random UUID, so look for
    // the run of bytes, not one number).
    assert!(!format!("{issuer:?}").contains("255, 254"));
}

// ---------------------------------------------------------------- devices

async fn devices_crud_and_ownership(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let bob = person(store, "bob@example.com").await;
    // Created out of order: listing is by creation time.
    let d2 = device("d2", &alice, 2_000, Some(62_000));
    let d1 = device("d1", &alice, 1_000, None);
    let d3 = device("d3", &alice, 3_000, None);
    let b1 = device("b1", &bob, 1_500, None);
    for d in [&d2, &d1, &d3, &b1] {
        store.create_device(d, 10).await.unwrap();
    }
    let err = store.create_device(&d1, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("device")), "{err:?}");

    assert_eq!(store.device("d2").await.unwrap().as_ref(), Some(&d2));
    assert_eq!(store.device("nope").await.unwrap(), None);
    assert_eq!(
        store.devices_of(&alice.id).await.unwrap(),
        [d1.clone(), d2.clone(), d3.clone()]
    );
    assert_eq!(
        store.devices_of(&bob.id).await.unwrap(),
        std::slice::from_ref(&b1)
    );
    assert_eq!(store.devices_of("nobody").await.unwrap(), []);

    let mut changed = d2.clone();
    changed.name = "renamed".into();
    changed.ttl = Some(120);
    changed.modified_at = 5_000;
    changed.expires_at = Some(125_000);
    changed
        .extra
        .insert("deviceSettingsString".into(), serde_json::json!("{}"));
    assert_eq!(
        store.update_device(&changed, None).await.unwrap(),
        DeviceUpdateOutcome::Updated(2)
    );
    changed.version = 2;
    assert_eq!(store.device("d2").await.unwrap().as_ref(), Some(&changed));
    // Someone else's device, or none at all: nothing happens.
    let stolen = DeviceRecord {
        person_id: bob.id.clone(),
        name: "stolen".into(),
        ..changed.clone()
    };
    let nope = device("nope", &alice, 1, None);
    for if_version in [None, Some(2)] {
        for d in [&stolen, &nope] {
            assert_eq!(
                store.update_device(d, if_version).await.unwrap(),
                DeviceUpdateOutcome::Missing,
                "{} {if_version:?}",
                d.name
            );
        }
    }
    assert_eq!(store.device("d2").await.unwrap().as_ref(), Some(&changed));

    assert!(store.delete_device("d2", &bob.id).await.unwrap().is_none());
    assert!(
        store
            .delete_device("d2", &alice.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .delete_device("d2", &alice.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.device("d2").await.unwrap(), None);
    assert_eq!(store.devices_of(&alice.id).await.unwrap(), [d1, d3]);
}

/// An update conditional on a version applies only while the device is at
/// that version: of many updates made from the same version at once,
/// exactly one is stored and the others are told they are stale.
async fn device_updates_from_one_version_apply_once(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let d = device("d", &alice, 1_000, None);
    store.create_device(&d, 5).await.unwrap();

    let renamed = |name: &str| DeviceRecord {
        name: name.to_owned(),
        ..d.clone()
    };
    assert_eq!(
        store
            .update_device(&renamed("first"), Some(1))
            .await
            .unwrap(),
        DeviceUpdateOutcome::Updated(2)
    );
    assert_eq!(
        store
            .update_device(&renamed("late"), Some(1))
            .await
            .unwrap(),
        DeviceUpdateOutcome::Stale
    );
    let stored = store.device("d").await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("first", 2));

    let racers: Vec<DeviceRecord> = (0..10).map(|i| renamed(&format!("racer {i}"))).collect();
    let outcomes = join_all(racers.iter().map(|r| store.update_device(r, Some(2)))).await;
    let outcomes: Vec<DeviceUpdateOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let winners: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i] == DeviceUpdateOutcome::Updated(3))
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let stale = outcomes
        .iter()
        .filter(|o| **o == DeviceUpdateOutcome::Stale)
        .count();
    assert_eq!(stale, 9, "{outcomes:?}");
    let stored = store.device("d").await.unwrap().unwrap();
    assert_eq!(stored.name, racers[winners[0]].name);
    assert_eq!(stored.version, 3);

    // Unconditional updates always apply, and still bump the version.
    assert_eq!(
        store.update_device(&renamed("any"), None).await.unwrap(),
        DeviceUpdateOutcome::Updated(4)
    );
    // Gone: missing, whatever the version asked for.
    store.delete_device("d", &alice.id).await.unwrap();
    assert_eq!(
        store
            .update_device(&renamed("gone"), Some(4))
            .await
            .unwrap(),
        DeviceUpdateOutcome::Missing
    );
}

async fn device_limit_under_concurrent_creates(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let devices: Vec<DeviceRecord> = (0..20)
        .map(|i| device(&format!("d{i}"), &alice, 1_000 + i, None))
        .collect();
    let results = join_all(devices.iter().map(|d| store.create_device(d, 5))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 5, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, StoreError::DeviceLimit { count: 5, limit: 5 }),
            "{r:?}"
        );
    }
    assert_eq!(store.devices_of(&alice.id).await.unwrap().len(), 5);
}

async fn device_limit_ignores_expired_devices(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    store
        .create_device(&device("old", &alice, 1_000, Some(2_000)), 2)
        .await
        .unwrap();
    store
        .create_device(&device("live", &alice, 1_500, Some(9_000)), 2)
        .await
        .unwrap();
    // At 3_000 "old" has expired (though not yet swept): it does not count.
    store
        .create_device(&device("new", &alice, 3_000, None), 2)
        .await
        .unwrap();
    let err = store
        .create_device(&device("one-too-many", &alice, 3_001, None), 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DeviceLimit { count: 2, limit: 2 }),
        "{err:?}"
    );
    // Expiry exactly at creation time counts as expired.
    let err = store
        .create_device(&device("again", &alice, 9_000, None), 2)
        .await;
    assert!(err.is_ok(), "{err:?}");
}

async fn expiry_sweep_returns_exactly_the_expired(store: &dyn Store) {
    let alice = person(store, "alice@example.com").await;
    let bob = person(store, "bob@example.com").await;
    let gone1 = device("gone1", &alice, 1_000, Some(4_000));
    let gone2 = device("gone2", &bob, 1_000, Some(5_000));
    let later = device("later", &alice, 1_000, Some(5_001));
    let forever = device("forever", &bob, 1_000, None);
    for d in [&gone1, &gone2, &later, &forever] {
        store.create_device(d, 10).await.unwrap();
    }
    let mut swept = store.delete_expired_devices(5_000).await.unwrap();
    swept.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(swept, [gone1, gone2]);
    assert_eq!(store.delete_expired_devices(5_000).await.unwrap(), []);
    assert_eq!(
        store.devices_of(&alice.id).await.unwrap(),
        std::slice::from_ref(&later)
    );
    assert_eq!(store.devices_of(&bob.id).await.unwrap(), [forever]);
    assert_eq!(
        store.delete_expired_devices(i64::MAX).await.unwrap(),
        [later]
    );
}

// ---------------------------------------------------------------- durability

async fn data_survives_reopen(h: &mut Harness) {
    let alice = person(&*h.store, "alice@example.com").await;
    let t = token("t", TokenKind::Access, &alice, None);
    h.store.insert_token(&t).await.unwrap();
    let d = device("d", &alice, 1_000, None);
    h.store.create_device(&d, 5).await.unwrap();

    h.reopen().await;
    let store = &*h.store;
    assert_eq!(
        store.person_by_email("alice@example.com").await.unwrap(),
        Some(alice)
    );
    assert_eq!(store.token(&t.hash).await.unwrap(), Some(t));
    assert_eq!(store.device("d").await.unwrap(), Some(d));
    store.ping().await.unwrap();
}

/// Two stores on one database, as two nodes: each change starts from what
/// the other committed (not from the snapshot a store remembers), and what a
/// store remembers is what a fresh store reads from the database.
/// The content floor: granted on one node, seen by another and by a fresh
/// connection (every column), handed over, released when its holder
/// leaves, the released floor keeping its last beneficiary.
async fn the_share_floor_is_stored_and_released_on_leave(h: &mut Harness) {
    use crate::locus::{floor, rules};
    let node_a = h.store.clone();
    let node_b = connect(h.url()).await.unwrap();
    let (a, b) = (
        person(&*node_a, "fa@example.com").await,
        person(&*node_a, "fb@example.com").await,
    );
    let s = node_a
        .ensure_space(&space("floor", "2000000010", None))
        .await
        .unwrap();
    node_a.open_locus(&s.id, "fl", 10).await.unwrap();
    change(
        &*node_a,
        "fl",
        rules::join(joiner(&a, "d-a"), "pa".into(), 20),
    )
    .await
    .unwrap();
    change(
        &*node_a,
        "fl",
        rules::join(joiner(&b, "d-b"), "pb".into(), 21),
    )
    .await
    .unwrap();
    let grant = |p: &PersonRecord, pid: &str, share: &str, at| {
        floor::grant(
            floor::GrantRequest {
                caller: p.id.clone(),
                beneficiary: pid.into(),
                device_url: format!("d-{}", &p.email[1..2]),
                share_instance_id: share.into(),
            },
            at,
        )
    };
    let o = change(&*node_a, "fl", grant(&a, "pa", "s1", 30))
        .await
        .unwrap();
    assert!(o.changed && o.locus_changed);
    let want = meetings::FloorRecord {
        granted: true,
        share_instance_id: "s1".into(),
        beneficiary: "pa".into(),
        device_url: "d-a".into(),
        requester: "pa".into(),
        granted_at: 30,
        released_at: None,
    };
    assert_eq!(o.snapshot.locus.floor.as_ref(), Some(&want));
    let seen = node_b.locus("fl").await.unwrap().unwrap();
    assert_eq!(seen.floor.as_ref(), Some(&want), "node B reads the floor");
    // B takes it over through the other node.
    let o = change(&*node_b, "fl", grant(&b, "pb", "s2", 31))
        .await
        .unwrap();
    assert_eq!(
        o.snapshot.locus.floor.as_ref().unwrap().holder(),
        Some("pb")
    );
    // B leaves: the floor is released in the same change.
    let left = change(
        &*node_a,
        "fl",
        rules::leave(
            rules::LeaveRequest {
                caller: b.id.clone(),
                participant_id: "pb".into(),
                device_url: None,
            },
            40,
        ),
    )
    .await
    .unwrap();
    let released = meetings::FloorRecord {
        granted: false,
        share_instance_id: "s2".into(),
        beneficiary: "pb".into(),
        device_url: "d-b".into(),
        requester: "pb".into(),
        granted_at: 31,
        released_at: Some(40),
    };
    assert_eq!(left.snapshot.locus.floor.as_ref(), Some(&released));
    let fresh = connect(h.url()).await.unwrap();
    assert_eq!(
        fresh.meeting("fl").await.unwrap().unwrap(),
        *left.snapshot,
        "what was written reads back the same"
    );
    fresh.close().await;
    node_b.close().await;
}

async fn meeting_changes_by_another_node_are_seen(h: &mut Harness) {
    use crate::locus::rules;
    let node_a = h.store.clone();
    let node_b = connect(h.url()).await.unwrap();
    let (a, b, c) = (
        person(&*node_a, "a@example.com").await,
        person(&*node_a, "b@example.com").await,
        person(&*node_a, "c@example.com").await,
    );
    let s = node_a
        .ensure_space(&space("nodes", "2000000009", None))
        .await
        .unwrap();
    node_a.open_locus(&s.id, "l", 10).await.unwrap();
    let join =
        |p: &PersonRecord, id: &str, at| rules::join(joiner(p, &format!("d-{id}")), id.into(), at);

    change(&*node_a, "l", join(&a, "pa", 20)).await.unwrap();
    // Both nodes now remember the meeting (B through its read).
    node_b.meeting("l").await.unwrap().unwrap();
    change(&*node_b, "l", join(&b, "pb", 21)).await.unwrap();
    let o = change(&*node_a, "l", join(&c, "pc", 22)).await.unwrap();
    assert_eq!(o.snapshot.locus.sequence, 3);
    let ids: Vec<&str> = o
        .snapshot
        .participants
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids, ["pa", "pb", "pc"], "node A saw node B's join");
    let left = change(
        &*node_b,
        "l",
        rules::leave(
            rules::LeaveRequest {
                caller: a.id.clone(),
                participant_id: "pa".into(),
                device_url: None,
            },
            30,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        left.snapshot.participants.len(),
        3,
        "node B saw node A's join"
    );

    let fresh = connect(h.url()).await.unwrap();
    let stored = fresh.meeting("l").await.unwrap().unwrap();
    assert_eq!(
        stored, *left.snapshot,
        "what B remembers is what was written"
    );
    assert_eq!(node_a.meeting("l").await.unwrap().unwrap(), stored);
    fresh.close().await;
    node_b.close().await;
}

async fn damaged_rows_are_corrupt(h: &mut Harness) {
    let alice = person(&*h.store, "alice@example.com").await;
    h.store
        .create_device(&device("d", &alice, 1_000, None), 5)
        .await
        .unwrap();
    h.raw("UPDATE devices SET extra = 'not json' WHERE id = 'd'")
        .await;
    h.raw("UPDATE people SET kind = 'alien'").await;
    let store = &*h.store;
    let err = store.device("d").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("extra")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let err = store.devices_of(&alice.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.person(&alice.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("alien")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- migrations

/// The migration that moved a grant's bound and source out of its family id.
const GRANT_SOURCE_COLUMNS: i64 = 20261201000200;

/// The migrations of a set older than a version, as a migration source.
#[derive(Debug)]
struct Older(Vec<sqlx::migrate::Migration>);

impl Older {
    fn than(all: &sqlx::migrate::Migrator, version: i64) -> Self {
        Self(
            all.iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        )
    }
}

impl<'s> sqlx::migrate::MigrationSource<'s> for Older {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<
        's,
        Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
    > {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The hash of the personal access token the packed grants below came from.
const PACKED_SOURCE: &str = "5f2b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b";

/// Rows written while a grant's bound and source were packed into its
/// family id (`g1.<uuid>.<not-after ms or ->.<source hash>`): a code and a
/// token of a bounded grant, a token of an unbounded one, a token of a grant
/// from before the policy (plain UUID) and one whose id only looks packed.
/// Plain SQL both dialects run.
const PACKED_ROWS: &str = "
INSERT INTO orgs (id, name, created_at) VALUES ('org', 'example.com', 1);
INSERT INTO people (id, org_id, email, display_name, kind, created_at)
    VALUES ('alice', 'org', 'alice@example.com', 'Alice', 'person', 1);
INSERT INTO auth_codes (hash, client_id, person_id, redirect_uri, scope, code_challenge,
    code_challenge_method, family_id, created_at, expires_at, used_at)
    VALUES ('packed-code', 'client-1', 'alice', 'http://127.0.0.1:1234/cb', 'spark:all',
    NULL, NULL,
    'g1.0123456789abcdef0123456789abcdef.1767225600000.5f2b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b',
    1000, 5000, NULL);
INSERT INTO tokens (hash, kind, person_id, client_id, family_id, scope, created_at,
    expires_at, revoked_at, used_at) VALUES
    ('bounded', 'refresh', 'alice', 'client-1',
     'g1.0123456789abcdef0123456789abcdef.1767225600000.5f2b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b',
     'spark:all', 1000, 10000, NULL, NULL),
    ('unbounded', 'access', 'alice', 'client-1',
     'g1.fedcba9876543210fedcba9876543210.-.5f2b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b8c0e9a1d4f6b',
     'spark:all', 1000, 10000, NULL, NULL),
    ('legacy', 'refresh', 'alice', 'client-1', '5e0c2d5a-8a3b-4c58-9d1c-3f1a2b4c5d6e',
     'spark:all', 1000, 10000, NULL, NULL),
    ('lookalike', 'refresh', 'alice', 'client-1', 'g1.not.packed.at-all',
     'spark:all', 1000, 10000, NULL, NULL);
";

/// A database at the schema before [`GRANT_SOURCE_COLUMNS`] holding
/// [`PACKED_ROWS`], then opened as a store (which runs the rest).
async fn packed_grants_migrated(url: &str) -> Arc<dyn Store> {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let older = Older::than(&sqlx::migrate!("migrations/postgres"), GRANT_SOURCE_COLUMNS);
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::migrate::Migrator::new(older)
            .await
            .unwrap()
            .run(&mut c)
            .await
            .unwrap();
        sqlx::raw_sql(PACKED_ROWS).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    } else {
        let older = Older::than(&sqlx::migrate!("migrations/sqlite"), GRANT_SOURCE_COLUMNS);
        let options = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(older)
            .await
            .unwrap()
            .run(&mut c)
            .await
            .unwrap();
        sqlx::raw_sql(PACKED_ROWS).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
    connect(url).await.unwrap()
}

/// After the migration, rows of grants whose family id packed the bound
/// and the source carry both as columns (the id itself is kept: it is the
/// family's opaque id now); other ids are left without a source.
async fn packed_family_ids_are_unpacked(store: &dyn Store) {
    let source = |not_after| {
        Some(GrantSource {
            token_hash: SecretHash(PACKED_SOURCE.into()),
            not_after,
        })
    };
    // The rows above are keyed by plain names rather than real hashes.
    let hash_of = |name: &str| SecretHash(name.to_owned());
    let token =
        |name: &'static str| async move { store.token(&hash_of(name)).await.unwrap().unwrap() };
    let bounded = token("bounded").await;
    assert_eq!(bounded.grant_source, source(Some(1_767_225_600_000)));
    assert!(bounded.family_id.unwrap().starts_with("g1.0123"));
    assert_eq!(token("unbounded").await.grant_source, source(None));
    assert_eq!(token("legacy").await.grant_source, None);
    assert_eq!(token("lookalike").await.grant_source, None);
    let ConsumeOutcome::Consumed(code) = store
        .consume_auth_code(&hash_of("packed-code"), 2_000)
        .await
        .unwrap()
    else {
        panic!("the packed code was not consumable");
    };
    assert_eq!(code.grant_source, source(Some(1_767_225_600_000)));
    // The kept id still names the family.
    let family = token("bounded").await.family_id.unwrap();
    store.revoke_family(&family, 3_000).await.unwrap();
    assert_eq!(token("bounded").await.revoked_at, Some(3_000));
    assert_eq!(token("unbounded").await.revoked_at, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migration_unpacks_packed_family_ids() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.sqlite").display());
    let store = packed_grants_migrated(&url).await;
    Harness {
        store,
        location: Location::Sqlite { url, _dir: dir },
    }
    .run(|h| Box::pin(async move { packed_family_ids_are_unpacked(&*h.store).await }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_unpacks_packed_family_ids() {
    let Some(admin_url) = crate::testing::postgres_url() else {
        return;
    };
    let db = FreshDatabase::create(&admin_url).await.unwrap();
    let store = packed_grants_migrated(&db.url).await;
    Harness {
        store,
        location: Location::Postgres(db),
    }
    .run(|h| Box::pin(async move { packed_family_ids_are_unpacked(&*h.store).await }))
    .await;
}

// ---------------------------------------------------------------- connect

#[tokio::test]
async fn connect_accepts_sqlite_urls_and_bare_paths() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("a/b/bare.sqlite");
    let store = connect(bare.to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    person(&*store, "alice@example.com").await;
    store.close().await;
    assert!(bare.exists());

    let short = format!("sqlite:{}", dir.path().join("short.sqlite").display());
    let store = connect(&short).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;

    let store = connect("sqlite::memory:").await.unwrap();
    let alice = person(&*store, "alice@example.com").await;
    assert_eq!(store.person(&alice.id).await.unwrap(), Some(alice));
    store.close().await;
}

#[tokio::test]
async fn connect_picks_postgres_by_scheme() {
    let Some(h) = Harness::postgres().await else {
        return;
    };
    assert_eq!(h.store.backend(), "postgres");
    let alt = h.url().replacen("postgres://", "postgresql://", 1);
    let store = connect(&alt).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    store.close().await;
    h.run(|h| Box::pin(async move { h.store.ping().await.unwrap() }))
        .await;
}

/// Two stores on one database (two nodes) writing the same rows at once, in
/// opposite orders: device creates that lock the same owners, updates and
/// deletes of the same devices, token revocations. Their batches may
/// deadlock each other; the victims run again, so no caller sees an error,
/// and the result is what the writes say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_write_conflicting_rows_without_errors() {
    let Some(h) = Harness::postgres().await else {
        return;
    };
    let other = connect(h.url()).await.unwrap();
    let nodes = [Arc::clone(&h.store), Arc::clone(&other)];
    let mut people = Vec::new();
    for i in 0..8 {
        people.push(person(&*nodes[0], &format!("user{i}@example.com")).await);
    }
    for p in &people {
        nodes[0]
            .insert_token(&token(&p.id, TokenKind::Access, p, None))
            .await
            .unwrap();
    }
    let shared: Vec<DeviceRecord> = people
        .iter()
        .map(|p| device(&format!("shared-{}", p.id), p, 1_000, None))
        .collect();
    for d in &shared {
        nodes[0].create_device(d, 1_000).await.unwrap();
    }

    let rounds = 6;
    let work = nodes.iter().enumerate().flat_map(|(n, store)| {
        let people = people.clone();
        let shared = shared.clone();
        (0..16).map(move |caller| {
            let store = Arc::clone(store);
            let people = people.clone();
            let shared = shared.clone();
            async move {
                // Node 0 walks the rows forwards, node 1 backwards.
                let order: Vec<usize> = if n == 0 {
                    (0..people.len()).collect()
                } else {
                    (0..people.len()).rev().collect()
                };
                for round in 0..rounds {
                    for &i in &order {
                        let p = &people[i];
                        let id = format!("n{n}-c{caller}-r{round}-{i}");
                        store
                            .create_device(&device(&id, p, 1_000, None), 1_000)
                            .await
                            .unwrap();
                        let mut renamed = shared[i].clone();
                        renamed.name = format!("renamed by {n}/{caller}/{round}");
                        renamed.modified_at = 2_000;
                        assert!(matches!(
                            store.update_device(&renamed, None).await.unwrap(),
                            DeviceUpdateOutcome::Updated(_)
                        ));
                        store.revoke_token(&hash(&p.id), 3_000).await.unwrap();
                        assert!(store.delete_device(&id, &p.id).await.unwrap().is_some());
                    }
                }
            }
        })
    });
    join_all(work.map(tokio::spawn))
        .await
        .into_iter()
        .for_each(|r| r.unwrap());

    for (p, d) in people.iter().zip(&shared) {
        let devices = nodes[1].devices_of(&p.id).await.unwrap();
        assert_eq!(devices.len(), 1, "{devices:?}");
        assert_eq!(devices[0].id, d.id);
        assert!(devices[0].name.starts_with("renamed by"));
        let t = nodes[1].token(&hash(&p.id)).await.unwrap().unwrap();
        assert_eq!(t.revoked_at, Some(3_000));
    }
    other.close().await;
    h.run(|_| Box::pin(async {})).await;
}

/// Device registration throughput, for manual runs:
/// `cargo nextest run -p webex-server --run-ignored only store::suite::throughput --no-capture`
/// (set `WEBEX_TEST_DATABASE_URL` to include PostgreSQL). Prints, asserts nothing
/// about time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement, run manually"]
async fn throughput_device_creates() {
    let mut harnesses = vec![Harness::sqlite().await];
    harnesses.extend(Harness::postgres().await);
    for h in harnesses {
        let store = Arc::clone(&h.store);
        let people: Vec<PersonRecord> = join_all((0..200).map(|i| {
            let store = Arc::clone(&store);
            async move { person(&*store, &format!("user{i}@example.com")).await }
        }))
        .await;
        let started = std::time::Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|w| {
                let store = Arc::clone(&store);
                let people = people.clone();
                tokio::spawn(async move {
                    for i in 0..80 {
                        let owner = &people[(w * 80 + i) % people.len()];
                        let d = device(&format!("d-{w}-{i}"), owner, 1_000, None);
                        store.create_device(&d, 100).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let rate = 64.0 * 80.0 / started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {rate:.0} device creates/s (64 concurrent callers)",
            store.backend()
        );
        h.run(|_| Box::pin(async {})).await;
    }
}

// ---------------------------------------------------------------- meetings

fn space(name: &str, number: &str, owner: Option<&str>) -> meetings::SpaceRecord {
    meetings::SpaceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        meeting_number: number.into(),
        owner_id: owner.map(str::to_owned),
        creator_id: None,
        created_at: 1,
    }
}

fn joiner(p: &PersonRecord, device: &str) -> crate::locus::rules::Joiner {
    crate::locus::rules::Joiner {
        person_id: p.id.clone(),
        name: p.display_name.clone(),
        email: p.email.clone(),
        org_id: p.org_id.clone(),
        guest: false,
        must_wait: false,
        device_url: device.into(),
        device_type: "WEB".into(),
        correlation_id: Some(format!("corr-{device}")),
    }
}

async fn change(
    store: &dyn Store,
    locus: &str,
    m: meetings::Mutation,
) -> Result<meetings::ChangeOutcome, meetings::ChangeRefused> {
    store.change_meeting(locus, m).await.unwrap().unwrap()
}

async fn meeting_spaces_by_key(store: &dyn Store) {
    use meetings::SpaceKey;
    let alice = person(store, "alice@example.com").await;
    let s = store
        .ensure_space(&space("room1", "1000000001", None))
        .await
        .unwrap();
    // Same name: the stored one comes back, whatever the rest says.
    let again = store
        .ensure_space(&space("room1", "1000000002", None))
        .await
        .unwrap();
    assert_eq!(again, s);
    // Same number, other name: a conflict the caller retries.
    let clash = store
        .ensure_space(&space("room2", "1000000001", None))
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let pmr = store
        .ensure_space(&space("alice.example.com", "1000000003", Some(&alice.id)))
        .await
        .unwrap();
    assert_eq!(
        store.space(SpaceKey::Id(&s.id)).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.space(SpaceKey::Name("room1")).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.space(SpaceKey::Number("1000000001")).await.unwrap(),
        Some(s)
    );
    assert_eq!(
        store.space(SpaceKey::Owner(&alice.id)).await.unwrap(),
        Some(pmr)
    );
    assert_eq!(store.space(SpaceKey::Name("nope")).await.unwrap(), None);
}

async fn meeting_rooms_round_trip(store: &dyn Store) {
    use crate::locus::rules;
    use webex_wire::locus::ParticipantState;
    let (a, e) = (
        person(store, "owner@example.com").await,
        person(store, "eve@example.com").await,
    );
    let mut sp = space("rooms", "2000000077", None);
    sp.creator_id = Some(a.id.clone());
    let s = store.ensure_space(&sp).await.unwrap();
    assert_eq!(s.creator_id.as_deref(), Some(a.id.as_str()));
    store.open_locus(&s.id, "locus-r", 10).await.unwrap();
    // eve joins first: the creator hosts anyway.
    let mut ej = joiner(&e, "d-e");
    ej.must_wait = true;
    let o = change(store, "locus-r", rules::join(ej, "pe".into(), 11))
        .await
        .unwrap();
    assert_eq!(o.snapshot.locus.host_id.as_deref(), Some(a.id.as_str()));
    change(
        store,
        "locus-r",
        rules::join(joiner(&a, "d-a"), "pa".into(), 12),
    )
    .await
    .unwrap();
    let o = change(store, "locus-r", rules::lock(a.id.clone(), true, 13))
        .await
        .unwrap();
    assert!(o.locus_changed);
    let read = store.meeting("locus-r").await.unwrap().unwrap();
    assert!(read.locus.locked);
    let pe = read.participant_of(&e.id).unwrap();
    assert_eq!((&pe.state, pe.admitted), (&ParticipantState::Idle, false));
    assert_eq!(pe.devices[0].state, ParticipantState::Idle);
    assert_eq!(
        store
            .loci_with_devices(&["d-e".into(), "nope".into()])
            .await
            .unwrap(),
        vec!["locus-r".to_owned()]
    );
    change(
        store,
        "locus-r",
        rules::admit(a.id.clone(), vec!["pe".into()], 14),
    )
    .await
    .unwrap();
    let remove = rules::LeaveRequest {
        caller: a.id.clone(),
        participant_id: "pe".into(),
        device_url: None,
    };
    let o = change(store, "locus-r", rules::leave(remove, 15))
        .await
        .unwrap();
    let read = store.meeting("locus-r").await.unwrap().unwrap();
    assert_eq!(read, *o.snapshot);
    let pe = read.participant_of(&e.id).unwrap();
    assert!(pe.removed && !pe.admitted && pe.state == ParticipantState::Left);
    assert!(
        store
            .loci_with_devices(&["d-e".into()])
            .await
            .unwrap()
            .is_empty()
    );
    // "d-a" (alice's) is no registered device: an orphan.
    assert_eq!(
        store.orphaned_devices("d-", 10).await.unwrap(),
        vec!["d-a".to_owned()]
    );
}

async fn meeting_lifecycle(store: &dyn Store) {
    use crate::locus::rules;
    use webex_wire::locus::{LocusState, ParticipantState};
    let (a, b) = (
        person(store, "a@example.com").await,
        person(store, "b@example.com").await,
    );
    let s = store
        .ensure_space(&space("life", "2000000001", None))
        .await
        .unwrap();
    assert_eq!(store.active_locus_of(&s.id).await.unwrap(), None);
    let l = store.open_locus(&s.id, "locus-1", 10).await.unwrap();
    assert_eq!((l.sequence, &l.state), (0, &LocusState::Active));
    // Opening again returns the active one.
    assert_eq!(
        store.open_locus(&s.id, "locus-2", 11).await.unwrap().id,
        "locus-1"
    );
    assert_eq!(
        store.idle_loci(10).await.unwrap(),
        vec!["locus-1".to_owned()]
    );

    let o = change(
        store,
        "locus-1",
        rules::join(joiner(&a, "d-a"), "pa".into(), 20),
    )
    .await
    .unwrap();
    assert!(o.changed && o.locus_changed);
    assert_eq!(o.snapshot.locus.sequence, 1);
    assert_eq!(o.changed_participants, vec!["pa".to_owned()]);
    assert_eq!(o.snapshot.locus.host_id.as_deref(), Some(a.id.as_str()));
    // A repeated join writes nothing.
    let o = change(
        store,
        "locus-1",
        rules::join(joiner(&a, "d-a"), "px".into(), 21),
    )
    .await
    .unwrap();
    assert!(!o.changed);
    assert_eq!(o.snapshot.locus.sequence, 1);
    let o = change(
        store,
        "locus-1",
        rules::join(joiner(&b, "d-b"), "pb".into(), 22),
    )
    .await
    .unwrap();
    assert_eq!(o.snapshot.locus.sequence, 2);
    assert!(!o.locus_changed);
    // What was written reads back the same.
    let read = store.meeting("locus-1").await.unwrap().unwrap();
    assert_eq!(read, *o.snapshot);
    assert_eq!(read.participants[1].name, b.display_name);
    assert_eq!(store.meetings_of(&b.id).await.unwrap(), vec![read.clone()]);
    assert_eq!(store.active_meetings(10).await.unwrap(), vec![read]);
    assert!(store.idle_loci(i64::MAX).await.unwrap().is_empty());

    let leave = |who: &PersonRecord, pid: &str| rules::LeaveRequest {
        caller: who.id.clone(),
        participant_id: pid.into(),
        device_url: Some(format!("d-{}", &who.email[..1])),
    };
    let o = change(store, "locus-1", rules::leave(leave(&b, "pb"), 30))
        .await
        .unwrap();
    assert_eq!(o.snapshot.locus.sequence, 3);
    let pb = o.snapshot.participant_of(&b.id).unwrap();
    assert_eq!((&pb.state, pb.left_at), (&ParticipantState::Left, Some(30)));
    assert_eq!(pb.devices[0].state, ParticipantState::Left);
    assert!(store.meetings_of(&b.id).await.unwrap().is_empty());
    let again = change(store, "locus-1", rules::leave(leave(&b, "pb"), 31)).await;
    assert_eq!(again.unwrap_err(), meetings::ChangeRefused::NotJoined);
    let o = change(store, "locus-1", rules::leave(leave(&a, "pa"), 40))
        .await
        .unwrap();
    assert_eq!(o.snapshot.locus.idle_since, Some(40));
    assert_eq!(
        store.idle_loci(40).await.unwrap(),
        vec!["locus-1".to_owned()]
    );
    let o = change(store, "locus-1", rules::end_if_idle(40, 50))
        .await
        .unwrap();
    assert_eq!(
        (o.snapshot.locus.sequence, &o.snapshot.locus.state),
        (5, &LocusState::Inactive)
    );
    assert_eq!(o.snapshot.locus.ended_at, Some(50));
    // Ended: still readable, no longer active, a new one can open.
    assert!(store.active_meetings(10).await.unwrap().is_empty());
    assert_eq!(store.active_locus_of(&s.id).await.unwrap(), None);
    assert_eq!(
        store
            .meeting("locus-1")
            .await
            .unwrap()
            .unwrap()
            .locus
            .sequence,
        5
    );
    assert_eq!(
        store.open_locus(&s.id, "locus-3", 60).await.unwrap().id,
        "locus-3"
    );
    assert!(
        store
            .change_meeting("nope", rules::end(None, 1))
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_meeting_changes_get_distinct_sequences(store: &dyn Store) {
    let s = store
        .ensure_space(&space("busy", "3000000001", None))
        .await
        .unwrap();
    // Concurrent opens agree on one Locus.
    let opened = join_all((0..8).map(|i| {
        let sid = s.id.clone();
        async move {
            store
                .open_locus(&sid, &format!("open-{i}"), 1)
                .await
                .unwrap()
                .id
        }
    }))
    .await;
    assert!(opened.iter().all(|id| *id == opened[0]), "{opened:?}");
    let locus = opened[0].clone();
    let mut people = Vec::new();
    for i in 0..30 {
        people.push(person(store, &format!("c{i}@example.com")).await);
    }
    let outcomes = join_all(people.iter().enumerate().map(|(i, p)| {
        let locus = locus.clone();
        async move {
            let m = crate::locus::rules::join(joiner(p, &format!("dev-{i}")), format!("p{i}"), 2);
            change(store, &locus, m).await.unwrap()
        }
    }))
    .await;
    let mut seqs: Vec<u64> = outcomes.iter().map(|o| o.snapshot.locus.sequence).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
    let m = store.meeting(&locus).await.unwrap().unwrap();
    assert_eq!(m.participants.len(), 30);
    assert_eq!(m.locus.sequence, 30);
    // Each change saw everything committed before it.
    for o in &outcomes {
        assert_eq!(
            o.snapshot.participants.len() as u64,
            o.snapshot.locus.sequence
        );
    }
}

// ---------------------------------------------------------------- client logs

fn new_log(id: &str, person: &PersonRecord, created_at: Millis) -> NewClientLog {
    NewClientLog {
        id: id.to_owned(),
        person_id: person.id.clone(),
        org_id: person.org_id.clone(),
        filename: format!("{id}.txt"),
        upload_hash: hash(id),
        created_at,
    }
}

/// Caps of `total` bytes overall and per person.
fn caps(total: u64) -> ClientLogCaps {
    ClientLogCaps {
        max_total: total,
        max_per_person: total,
    }
}

async fn client_logs_stay_under_the_total_cap_under_concurrency(store: &dyn Store) {
    let alice = person(store, "logs@example.com").await;
    let ghost = PersonRecord {
        id: "no-such-person".into(),
        ..alice.clone()
    };
    assert!(matches!(
        store
            .create_client_log(&new_log("ghost", &ghost, 1), 100, 0)
            .await,
        Err(StoreError::MissingReference("person"))
    ));
    let ids: Vec<String> = (0..10).map(|n| format!("log-{n}")).collect();
    for id in &ids {
        store
            .create_client_log(&new_log(id, &alice, 10), 100, 0)
            .await
            .unwrap();
    }
    // Ten concurrent 100-byte uploads against a 350-byte total: each is
    // stored, and whatever the interleaving at most three stay.
    let hashes: Vec<SecretHash> = ids.iter().map(|id| hash(id)).collect();
    let outcomes = join_all(ids.iter().zip(&hashes).zip(100..).map(|((id, h), at)| {
        let content = bytes::Bytes::from(vec![b'x'; 100]);
        store.store_client_log_content(id, h, content, at, caps(350))
    }))
    .await;
    for o in outcomes {
        assert!(matches!(o.unwrap(), UploadOutcome::Stored { .. }));
    }
    let filter = ClientLogFilter {
        limit: 100,
        ..ClientLogFilter::default()
    };
    let kept: Vec<ClientLogRecord> = store
        .client_logs(&filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.uploaded_at.is_some())
        .collect();
    let total: u64 = kept.iter().map(|r| r.size).sum();
    assert!(total <= 350 && kept.len() == 3, "kept {kept:?}");
    // A wrong secret, an evicted log, and a finalized log refuse content.
    let survivor = &kept[0].id;
    let bytes = bytes::Bytes::from_static(b"y");
    assert_eq!(
        store
            .store_client_log_content(survivor, &hash("wrong"), bytes.clone(), 200, caps(350))
            .await
            .unwrap(),
        UploadOutcome::NotFound
    );
    let meta = serde_json::json!([{"key": "locusId", "value": "l"}]);
    let done = store
        .finalize_client_log(survivor, &alice.id, &meta, 300, caps(350))
        .await
        .unwrap();
    assert!(matches!(done, FinalizeOutcome::Finalized(ref r) if r.meta.as_ref() == Some(&meta)));
    assert_eq!(
        store
            .store_client_log_content(survivor, &hash(survivor), bytes, 400, caps(350))
            .await
            .unwrap(),
        UploadOutcome::Finalized
    );
    assert_eq!(
        store
            .client_log_content(survivor)
            .await
            .unwrap()
            .map(|c| c.len()),
        Some(100)
    );
}
