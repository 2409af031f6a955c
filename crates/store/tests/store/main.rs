//! Scenario tests of the SQLite store, one binary.

use std::path::Path;

use vnetlab_engine::{Context, Operation, PeeringSpec, SequentialIds, Settings, VirtualNetworkSpec};
use vnetlab_model::{AzureError, Kind, Location, PeeringState, Prefix, ResourceId, State, View, ViewExt};
use vnetlab_store::{ChangeOp, SqliteStore, Store, StoreError, WriteError, replay};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn rg() -> ResourceId {
    ResourceId::resource_group(SUB, "rg").unwrap()
}

fn vnet_op(name: &str, prefix: &str) -> Operation {
    Operation::VirtualNetworkPut {
        id: rg().top_level(Kind::VirtualNetwork, name).unwrap(),
        spec: VirtualNetworkSpec::new(Location::parse("westus").unwrap(), vec![Prefix::parse(prefix).unwrap()]),
    }
}

fn peer_op(from: &str, to: &str) -> Operation {
    let from = rg().top_level(Kind::VirtualNetwork, from).unwrap();
    let to = rg().top_level(Kind::VirtualNetwork, to).unwrap();
    Operation::PeeringPut {
        id: from.child(Kind::VirtualNetworkPeering, &format!("to-{}", to.name())).unwrap(),
        spec: PeeringSpec::new(to),
        sync_remote_address_space: false,
    }
}

fn bootstrap() -> Vec<Operation> {
    vec![
        Operation::TenantPut { tenant_id: "t".into(), display_name: "t".into(), default_domain: None },
        Operation::SubscriptionPut { subscription_id: SUB.into(), display_name: "s".into(), tenant_id: "t".into() },
        Operation::ResourceGroupPut {
            id: rg(),
            location: Location::parse("westus").unwrap(),
            tags: Default::default(),
        },
    ]
}

/// Runs operations through the engine in one write; all or nothing.
fn run(
    store: &SqliteStore,
    ids: &mut SequentialIds,
    ops: Vec<Operation>,
) -> Result<Option<u64>, WriteError<AzureError>> {
    let settings = Settings::default();
    store
        .write(|w| {
            for op in &ops {
                let mut ctx = Context::new(ids, &settings);
                let outcome = vnetlab_engine::apply(w.state(), op, &mut ctx)?;
                w.stage(outcome.changes);
            }
            Ok::<_, AzureError>(())
        })
        .map(|c| c.revision)
}

fn bodies(state: &State) -> Vec<(String, String, u64, vnetlab_model::Resource)> {
    state.iter().map(|s| (s.id().key().to_owned(), s.etag.clone(), s.revision, s.resource.clone())).collect()
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).unwrap()
}

#[test]
fn committed_writes_are_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    let mut ids = SequentialIds::default();
    let before = {
        let store = open(&path);
        assert_eq!(run(&store, &mut ids, bootstrap()).unwrap(), Some(1));
        assert_eq!(
            run(&store, &mut ids, vec![vnet_op("a", "10.1.0.0/16"), vnet_op("b", "10.2.0.0/16")]).unwrap(),
            Some(2)
        );
        assert_eq!(run(&store, &mut ids, vec![peer_op("a", "b"), peer_op("b", "a")]).unwrap(), Some(3));
        store.read(bodies).unwrap()
    };
    let store = open(&path);
    assert_eq!(store.revision().unwrap(), 3);
    assert_eq!(store.read(bodies).unwrap(), before);
    let link = rg().top_level(Kind::VirtualNetwork, "a").unwrap().child(Kind::VirtualNetworkPeering, "to-b").unwrap();
    let state = store.read(|s| s.peering(&link).map(|p| p.properties.peering_state)).unwrap();
    assert_eq!(state, Some(PeeringState::Connected));
}

#[test]
fn a_rejected_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    let store = open(&path);
    let mut ids = SequentialIds::default();
    run(&store, &mut ids, bootstrap()).unwrap();
    let before = store.read(bodies).unwrap();
    // The first two operations succeed, the third overlaps: the whole write is refused.
    let result =
        run(&store, &mut ids, vec![vnet_op("a", "10.1.0.0/16"), vnet_op("b", "10.1.0.0/16"), peer_op("a", "b")]);
    match result {
        Err(WriteError::Rejected(e)) => assert_eq!(e.code, "VnetAddressSpacesOverlap"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(store.read(bodies).unwrap(), before);
    assert_eq!(store.revision().unwrap(), 1);
    assert_eq!(open(&path).read(bodies).unwrap(), before);
    // A write that changes nothing commits no revision.
    assert_eq!(run(&store, &mut ids, vec![]).unwrap(), None);
}

#[test]
fn two_handles_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    let first = open(&path);
    let second = open(&path);
    let mut ids = SequentialIds::default();
    run(&first, &mut ids, bootstrap()).unwrap();
    run(&second, &mut ids, vec![vnet_op("a", "10.1.0.0/16")]).unwrap();
    run(&first, &mut ids, vec![vnet_op("b", "10.2.0.0/16"), peer_op("b", "a")]).unwrap();
    run(&second, &mut ids, vec![peer_op("a", "b")]).unwrap();
    assert_eq!(first.read(bodies).unwrap(), second.read(bodies).unwrap());
    assert_eq!(first.revision().unwrap(), 4);
    let connected = first
        .read(|s| {
            s.all_of(Kind::VirtualNetworkPeering)
                .iter()
                .filter_map(|p| p.resource.as_peering())
                .all(|p| p.properties.peering_state == PeeringState::Connected)
        })
        .unwrap();
    assert!(connected);
    // A write on one handle that the other's stale view would have allowed is checked against the
    // latest state: `c` overlaps `a`, which `second` created.
    run(&first, &mut ids, vec![vnet_op("c", "10.1.0.0/16")]).unwrap();
    match run(&second, &mut ids, vec![peer_op("c", "b")]) {
        Err(WriteError::Rejected(e)) => assert_eq!(e.code, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn the_change_feed_replays_into_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("lab.sqlite3"));
    let mut ids = SequentialIds::default();
    run(&store, &mut ids, bootstrap()).unwrap();
    for i in 0..20 {
        run(&store, &mut ids, vec![vnet_op(&format!("v{i}"), &format!("10.{i}.0.0/16"))]).unwrap();
        if i > 0 {
            run(
                &store,
                &mut ids,
                vec![
                    peer_op(&format!("v{i}"), &format!("v{}", i - 1)),
                    peer_op(&format!("v{}", i - 1), &format!("v{i}")),
                ],
            )
            .unwrap();
        }
        if i % 5 == 4 {
            let id = rg().top_level(Kind::VirtualNetwork, &format!("v{}", i - 2)).unwrap();
            run(&store, &mut ids, vec![Operation::VirtualNetworkDelete { id }]).unwrap();
        }
    }
    let feed = store.changes_since(0, usize::MAX).unwrap();
    assert!(feed.iter().any(|c| c.op == ChangeOp::Delete));
    let replayed = replay(&feed);
    assert_eq!(bodies(&replayed), store.read(bodies).unwrap());
    // Paging through the feed gives the same records.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = store.changes_since(after, 7).unwrap();
        let Some(last) = page.last() else { break };
        // A page boundary may fall inside a revision; continue from the last complete one.
        let complete: Vec<_> = if page.len() == 7 {
            page.iter().filter(|c| c.revision < last.revision).cloned().collect()
        } else {
            page.clone()
        };
        if complete.is_empty() {
            paged.extend(
                store.changes_since(after, usize::MAX).unwrap().into_iter().filter(|c| c.revision == last.revision),
            );
            after = last.revision;
            continue;
        }
        after = complete.last().unwrap().revision;
        paged.extend(complete);
    }
    assert_eq!(paged, feed);
}

#[test]
fn a_store_from_a_newer_vnetlab_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", []).unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::NewerSchema { found: 99, supported: 1, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a newer store"),
    }
}

#[test]
fn a_damaged_record_is_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    {
        let store = open(&path);
        run(&store, &mut SequentialIds::default(), bootstrap()).unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE resources SET body = '{\"type\": \"nonsense\"}' WHERE type = 'Microsoft.Resources/resourceGroups'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(&path).err().expect("a damaged store opened");
    let text = e.to_string();
    assert!(text.contains("cannot be read") && text.contains("/resourceGroups/rg"), "{text}");
}

#[test]
fn a_write_that_panics_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("lab.sqlite3"));
    let mut ids = SequentialIds::default();
    run(&store, &mut ids, bootstrap()).unwrap();
    let before = store.read(bodies).unwrap();
    let settings = Settings::default();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.write(|w| {
            let mut ctx = Context::new(&mut ids, &settings);
            let outcome = vnetlab_engine::apply(w.state(), &vnet_op("a", "10.1.0.0/16"), &mut ctx).unwrap();
            w.stage(outcome.changes);
            panic!("a bug in the caller");
            #[allow(unreachable_code)]
            Ok::<_, AzureError>(())
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(store.read(bodies).unwrap(), before, "the staged change stayed in memory");
    // The handle still works.
    assert_eq!(run(&store, &mut SequentialIds::starting_at(500), vec![vnet_op("b", "10.2.0.0/16")]).unwrap(), Some(2));
}

#[test]
fn a_store_that_went_back_in_time_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.sqlite3");
    let store = open(&path);
    let mut ids = SequentialIds::default();
    run(&store, &mut ids, bootstrap()).unwrap();
    run(&store, &mut ids, vec![vnet_op("a", "10.1.0.0/16")]).unwrap();
    // Someone puts back an older copy: revision 1 only.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DELETE FROM resources WHERE revision > 1; DELETE FROM changes WHERE revision > 1; UPDATE meta SET value = '1' WHERE key = 'revision';",
    )
    .unwrap();
    drop(conn);
    assert_eq!(store.read(|s| s.revision()).unwrap(), 1);
    assert_eq!(store.read(bodies).unwrap(), open(&path).read(bodies).unwrap());
    assert_eq!(run(&store, &mut ids, vec![vnet_op("b", "10.2.0.0/16")]).unwrap(), Some(2));
}

#[test]
fn an_in_memory_store_leaves_no_file() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut ids = SequentialIds::default();
    assert_eq!(run(&store, &mut ids, bootstrap()).unwrap(), Some(1));
    assert_eq!(store.read(|s| s.len()).unwrap(), 3);
    assert!(!Path::new(":memory:").exists());
}

#[test]
fn the_store_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/lab.sqlite3");
    let store = open(&path);
    assert_eq!(store.revision().unwrap(), 0);
    assert!(path.exists());
}

mod replay_property {
    //! Random operation sequences through the SQLite store: the change feed replays into exactly
    //! the state the store holds, and a fresh handle loads the same state.

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Vnet(usize, usize),
        Delete(usize),
        Peer(usize, usize),
        Unpeer(usize, usize),
        Batch(Vec<(usize, usize)>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..6usize, 0..4usize).prop_map(|(v, p)| Step::Vnet(v, p)),
            (0..6usize).prop_map(Step::Delete),
            (0..6usize, 0..6usize).prop_map(|(a, b)| Step::Peer(a, b)),
            (0..6usize, 0..6usize).prop_map(|(a, b)| Step::Unpeer(a, b)),
            proptest::collection::vec((0..6usize, 0..6usize), 1..4).prop_map(Step::Batch),
        ]
    }

    const PREFIXES: [&str; 4] = ["10.0.0.0/16", "10.1.0.0/16", "10.0.0.0/8", "192.168.0.0/16"];

    fn ops(step: &Step) -> Vec<Operation> {
        let name = |i: usize| format!("v{i}");
        match step {
            Step::Vnet(v, p) => vec![vnet_op(&name(*v), PREFIXES[*p])],
            Step::Delete(v) => {
                vec![Operation::VirtualNetworkDelete { id: rg().top_level(Kind::VirtualNetwork, &name(*v)).unwrap() }]
            }
            Step::Peer(a, b) => vec![peer_op(&name(*a), &name(*b))],
            Step::Unpeer(a, b) => {
                let from = rg().top_level(Kind::VirtualNetwork, &name(*a)).unwrap();
                vec![Operation::PeeringDelete {
                    id: from.child(Kind::VirtualNetworkPeering, &format!("to-{}", name(*b))).unwrap(),
                }]
            }
            Step::Batch(pairs) => pairs.iter().map(|(a, b)| peer_op(&name(*a), &name(*b))).collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn the_feed_rebuilds_the_store(steps in proptest::collection::vec(step(), 1..25)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lab.sqlite3");
            let store = open(&path);
            let mut ids = SequentialIds::default();
            run(&store, &mut ids, bootstrap()).unwrap();
            for s in &steps {
                let _ = run(&store, &mut ids, ops(s));
            }
            let held = store.read(bodies).unwrap();
            prop_assert_eq!(bodies(&replay(&store.changes_since(0, usize::MAX).unwrap())), held.clone());
            prop_assert_eq!(open(&path).read(bodies).unwrap(), held);
            prop_assert!(store.read(vnetlab_engine::invariants::check).unwrap().is_empty());
        }
    }
}
