//! The admin API (`store::admin`) on the memory backend: the walk sees every site, import
//! copies sessions as they are and never undoes the target's writes, revoke tombstones, stats
//! add up. The CLI's tests (`cli/tests/`) run the same on SQLite, files, Redis and a cluster.

#[path = "support/map_storage.rs"]
mod map_storage;

use omnisession::backend::custom::CustomBackend;
use omnisession::store::admin::{ADMIN_PAGE, Admin, Entry, Imported, StatsBuilder};
use omnisession::{IdsAtRest, Lifetime, ManualClock, NewSession, Options, Patch, Store, id};
use std::sync::Arc;

const NOW_MS: i64 = 1_893_456_000_000;

async fn memory(site: &str, clock: &Arc<ManualClock>) -> Store {
    Store::open(Options {
        site_id: site.to_owned(),
        cleanup_interval_ms: 0,
        clock: Arc::clone(clock) as _,
        ..Options::default()
    })
    .await
    .unwrap()
}

fn user(u: &str, ttl_ms: u64) -> NewSession {
    NewSession {
        user_id: Some(u.to_owned()),
        expires: Some(Lifetime::Ttl(ttl_ms)),
        ..NewSession::default()
    }
}

/// Every record, in small pages so the cursor is exercised.
async fn walk(admin: &Admin) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = admin.page(cursor.as_deref(), 3).await.unwrap();
        entries.extend(page.entries);
        cursor = page.cursor;
        if cursor.is_none() {
            return entries;
        }
    }
}

async fn import_all(target: &Admin, entries: &[Entry]) -> Vec<Imported> {
    import_all_from(target, entries, &IdsAtRest::Plain).await
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn walk_import_find_revoke_and_stats_on_memory() {
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let source = memory("", &clock).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            source
                .create(user(&format!("u{}", i % 2), 7_200_000))
                .await
                .unwrap()
                .id,
        );
    }
    let soon = source.create(user("u0", 60_000)).await.unwrap().id;
    let gone = source.create(user("u1", 10)).await.unwrap().id;
    clock.advance(100);
    let admin = Admin::new(source.clone());

    let entries = walk(&admin).await;
    assert_eq!(entries.len(), 9);
    let now = admin.now_ms();
    assert_eq!(entries.iter().filter(|e| e.is_live(now)).count(), 8);
    let mut stats = StatsBuilder::new(now);
    for e in &entries {
        stats.add(e);
    }
    let stats = stats.finish(1);
    assert_eq!((stats.live, stats.expired, stats.bad), (8, 1, 0));
    assert_eq!(stats.expiring_within_hour, 1);
    assert_eq!(stats.top_users.len(), 1);
    assert_eq!(stats.top_users[0].user, "u0");
    assert_eq!(stats.top_users[0].sessions, 5);

    let target_store = memory("", &clock).await;
    let target = Admin::new(target_store.clone());
    let tally = import_all(&target, &entries).await;
    assert_eq!(tally.iter().filter(|t| **t == Imported::Created).count(), 8);
    assert_eq!(tally.iter().filter(|t| **t == Imported::Expired).count(), 1);
    assert!(target_store.get(&gone).await.unwrap().is_none());
    for id in ids.iter().chain([&soon]) {
        assert_eq!(
            target_store.get(id).await.unwrap(),
            source.get(id).await.unwrap()
        );
    }
    assert_eq!(target_store.list_by_user_id("u0").await.unwrap().len(), 5);

    // The target moves on: a second import keeps what it wrote and what it ended.
    let mut set = serde_json::Map::new();
    set.insert("k".into(), 1.into());
    target_store
        .patch(
            &ids[0],
            Patch {
                set,
                ..Patch::default()
            },
        )
        .await
        .unwrap();
    target_store.delete(&ids[1]).await.unwrap();
    let again = import_all(&target, &entries).await;
    let count = |k: Imported| again.iter().filter(|t| **t == k).count();
    assert_eq!(count(Imported::Unchanged), 6);
    assert_eq!(count(Imported::KeptNewer), 1);
    assert_eq!(count(Imported::Ended), 1);
    assert_eq!(target_store.get(&ids[0]).await.unwrap().unwrap().version, 2);

    // An older copy on the target is replaced.
    let older = entries
        .iter()
        .find(|e| e.session().is_some_and(|s| s.id == ids[2]))
        .unwrap();
    let mut set = serde_json::Map::new();
    set.insert("k".into(), 2.into());
    source
        .patch(
            &ids[2],
            Patch {
                set,
                ..Patch::default()
            },
        )
        .await
        .unwrap();
    let newer = admin.find(&id::fingerprint(&ids[2])).await.unwrap();
    assert_eq!(newer.len(), 1);
    let plain = &IdsAtRest::Plain;
    assert_eq!(
        target.import(&newer[0], plain).await.unwrap(),
        Imported::Replaced
    );
    assert_eq!(
        target.import(older, plain).await.unwrap(),
        Imported::KeptNewer
    );

    // Revoke: gone, and tombstoned (the id cannot be created again).
    assert!(admin.revoke(&newer[0]).await.unwrap());
    assert!(source.get(&ids[2]).await.unwrap().is_none());
    let again = source
        .create(NewSession {
            id: Some(ids[2].clone()),
            ..user("u0", 1000)
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), "SESSION_CONFLICT");
    assert!(
        admin
            .find(&id::fingerprint(&ids[2]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(admin.page(None, ADMIN_PAGE).await.unwrap().cursor.is_none());
}

#[tokio::test]
async fn a_custom_backend_cannot_be_walked_and_says_so() {
    let backend = CustomBackend::new(map_storage::MapStorage::full(), Options::default().expiry());
    let store = Store::open(Options {
        backend: omnisession::BackendConfig::Custom(Arc::new(backend)),
        cleanup_interval_ms: 0,
        ..Options::default()
    })
    .await
    .unwrap();
    let e = Admin::new(store).page(None, ADMIN_PAGE).await.unwrap_err();
    assert_eq!(e.code(), "CONFIG_INVALID");
    assert!(
        e.message().contains("cannot list its stored records"),
        "{e}"
    );
}

/// Turning `ids_at_rest` on is a migration: from plain ids to hashed ones every session keeps
/// answering to its id (and its user's index), run again nothing changes; from hashed ids to
/// plain ones (or another key) nothing can be copied, since the ids behind hashes are unknown.
#[tokio::test]
async fn import_from_plain_ids_to_hashed_ones_and_never_back() {
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let source = memory("", &clock).await;
    let mut ids = Vec::new();
    for u in ["ann", "ann", "bob"] {
        ids.push(source.create(user(u, 60_000)).await.unwrap().id);
    }
    let hashed = IdsAtRest::HmacSha256(b"an admin test key of forty bytes........".to_vec());
    let target = Store::open(Options {
        cleanup_interval_ms: 0,
        clock: Arc::clone(&clock) as _,
        ids_at_rest: hashed.clone(),
        ..Options::default()
    })
    .await
    .unwrap();
    let (from, to) = (Admin::new(source.clone()), Admin::new(target.clone()));
    let entries = walk(&from).await;
    assert_eq!(
        import_all_from(&to, &entries, from.ids_at_rest()).await,
        [Imported::Created; 3]
    );
    assert_eq!(
        import_all_from(&to, &entries, from.ids_at_rest()).await,
        [Imported::Unchanged; 3]
    );
    for id in &ids {
        assert_eq!(target.get(id).await.unwrap().unwrap().id, *id);
    }
    let listed: Vec<String> = target
        .list_by_user_id("ann")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|l| ids[..2].iter().any(|id| target.id_at_rest(id) == *l))
    );
    // Back to plain ids, or to another key: refused before anything is written.
    let e = from.can_import_from(&hashed).unwrap_err();
    assert_eq!(e.code(), "CONFIG_INVALID");
    let hashed_entries = walk(&to).await;
    assert!(from.import(&hashed_entries[0], &hashed).await.is_err());
    assert_eq!(source.list_by_user_id("ann").await.unwrap().len(), 2);
}

async fn import_all_from(target: &Admin, entries: &[Entry], from: &IdsAtRest) -> Vec<Imported> {
    let mut done = Vec::new();
    for e in entries {
        done.push(target.import(e, from).await.unwrap());
    }
    done
}
