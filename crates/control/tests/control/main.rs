//! Scenario tests of the control plane, one binary.

mod durability;

use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, Lab};
use vnetlab_engine::{Operation, VirtualNetworkSpec};
use vnetlab_model::{Kind, Location, Prefix, ResourceId, View};

#[test]
fn a_new_lab_has_the_default_tenant_and_subscription_and_reopens_without_change() {
    let home = tempfile::tempdir().unwrap();
    let lab = Lab::open(home.path()).unwrap();
    let revision = lab.store_revision();
    let counts = lab.read(|s| (s.all_of(Kind::Tenant).len(), s.all_of(Kind::Subscription).len())).unwrap();
    assert_eq!(counts, (1, 1));
    drop(lab);
    let again = Lab::open(home.path()).unwrap();
    assert_eq!(again.store_revision(), revision);
}

#[test]
fn a_batch_is_all_or_nothing_and_names_the_failing_operation() {
    let home = tempfile::tempdir().unwrap();
    let lab = Lab::open(home.path()).unwrap();
    let rg = ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "rg").unwrap();
    let west = Location::parse("westus").unwrap();
    let ops = vec![
        Operation::ResourceGroupPut { id: rg.clone(), location: west, tags: Default::default() },
        Operation::VirtualNetworkPut {
            id: rg.top_level(Kind::VirtualNetwork, "a").unwrap(),
            spec: VirtualNetworkSpec::new(west, vec![Prefix::parse("10.0.0.0/16").unwrap()]),
        },
        Operation::VirtualNetworkPut {
            id: rg.top_level(Kind::VirtualNetwork, "b").unwrap(),
            spec: VirtualNetworkSpec::new(west, vec![]),
        },
    ];
    let before = lab.store_revision();
    let e = lab.execute_all(&ops).unwrap_err();
    match e {
        vnetlab_control::LabError::Rejected { index, error } => {
            assert_eq!(index, 2);
            assert_eq!(error.code, "InvalidAddressSpace");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(lab.store_revision(), before);
    assert!(lab.read(|s| s.all_of(Kind::ResourceGroup).is_empty()).unwrap());
    let applied = lab.execute_all(&ops[..2]).unwrap();
    assert_eq!(applied.revision, Some(before + 1));
    // Running the same batch again changes nothing and commits no revision.
    assert_eq!(lab.execute_all(&ops[..2]).unwrap().revision, None);
}

trait Revision {
    fn store_revision(&self) -> u64;
}

impl Revision for Lab {
    fn store_revision(&self) -> u64 {
        use vnetlab_store::Store;
        self.store().revision().unwrap()
    }
}

#[test]
fn a_plan_sees_what_other_handles_wrote_and_its_origin_is_recorded() {
    use vnetlab_control::{PlannedError, Request};
    let home = tempfile::tempdir().unwrap();
    let lab = Lab::open(home.path()).unwrap();
    let other = Lab::open(home.path()).unwrap();
    let rg = ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "rg").unwrap();
    let west = Location::parse("westus").unwrap();
    let vnet = |name: &str, prefix: &str| Operation::VirtualNetworkPut {
        id: rg.top_level(Kind::VirtualNetwork, name).unwrap(),
        spec: VirtualNetworkSpec::new(west, vec![Prefix::parse(prefix).unwrap()]),
    };
    lab.execute_all(&[Operation::ResourceGroupPut { id: rg.clone(), location: west, tags: Default::default() }])
        .unwrap();
    assert_eq!(lab.read(|s| s.all_of(Kind::VirtualNetwork).len()).unwrap(), 0);
    other.execute(&vnet("b", "10.2.0.0/16")).unwrap();
    // The plan runs on the state the write starts from, which has b: "delete every VNet" gets both.
    let request = Request { origin: Some("test:plan"), ..Request::default() };
    let (applied, seen) = lab
        .execute_planned(&request, |state| {
            let mut ops: Vec<Operation> = state
                .all_of(Kind::VirtualNetwork)
                .iter()
                .map(|v| Operation::VirtualNetworkDelete { id: v.id().clone() })
                .collect();
            ops.push(vnet("c", "10.3.0.0/16"));
            Ok::<_, String>((ops, state.all_of(Kind::VirtualNetwork).len()))
        })
        .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(applied.executed.len(), 2);
    let c = rg.top_level(Kind::VirtualNetwork, "c").unwrap();
    let (names, origin) = other
        .read(|s| {
            let names: Vec<String> = s.all_of(Kind::VirtualNetwork).iter().map(|v| v.id().name().to_owned()).collect();
            (names, s.get(&c).and_then(|v| v.meta.origin.clone()))
        })
        .unwrap();
    assert_eq!(names, ["c"]);
    assert_eq!(origin.as_deref(), Some("test:plan"));
    // A failed plan and a refused plan write nothing.
    let before = lab.store_revision();
    let failed = lab.execute_planned(&request, |_| Err::<(Vec<Operation>, ()), _>("no"));
    assert!(matches!(failed, Err(PlannedError::Plan("no"))));
    let empty = Operation::VirtualNetworkPut {
        id: rg.top_level(Kind::VirtualNetwork, "e").unwrap(),
        spec: VirtualNetworkSpec::new(west, vec![]),
    };
    let refused = lab.execute_planned(&request, |_| Ok::<_, ()>((vec![vnet("d", "10.4.0.0/16"), empty], "why")));
    match refused {
        Err(PlannedError::Rejected { index, plan, .. }) => assert_eq!((index, plan), (1, "why")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(lab.store_revision(), before);
}

#[test]
fn writes_through_the_committer_share_commits_and_fail_alone() {
    use std::sync::Arc;
    use vnetlab_control::{Committer, OwnedRequest, PlannedError};
    let home = tempfile::tempdir().unwrap();
    let lab = Arc::new(Lab::open(home.path()).unwrap());
    let committer = Arc::new(Committer::start(lab.clone()));
    let rg = ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "rg").unwrap();
    let west = Location::parse("westus").unwrap();
    committer
        .execute_all(
            vec![Operation::ResourceGroupPut { id: rg.clone(), location: west, tags: Default::default() }],
            OwnedRequest::default(),
        )
        .unwrap();
    let before = lab.store_revision();
    // 32 writers at once: the odd ones ask for an empty address space, which the engine refuses.
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let committer = committer.clone();
            let rg = rg.clone();
            std::thread::spawn(move || {
                let prefixes =
                    if i % 2 == 0 { vec![Prefix::parse(&format!("10.{i}.0.0/16")).unwrap()] } else { vec![] };
                let op = Operation::VirtualNetworkPut {
                    id: rg.top_level(Kind::VirtualNetwork, &format!("v{i}")).unwrap(),
                    spec: VirtualNetworkSpec::new(west, prefixes),
                };
                let request = OwnedRequest { origin: Some("test".into()), ..OwnedRequest::default() };
                committer.execute_then(request, move |_| Ok::<_, ()>((vec![op], i)), |state, _, i| (i, state.len()))
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        match t.join().unwrap() {
            Ok((applied, (echo, _))) => {
                assert_eq!((i % 2, echo), (0, i));
                revisions.push(applied.revision.unwrap());
            }
            Err(PlannedError::Rejected { error, plan, .. }) => {
                assert_eq!((i % 2, plan), (1, i));
                assert_eq!(error.code, "InvalidAddressSpace");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let names: Vec<String> =
        lab.read(|s| s.all_of(Kind::VirtualNetwork).iter().map(|v| v.id().name().to_owned()).collect()).unwrap();
    assert_eq!(names.len(), 16, "every accepted write landed, no refused one did: {names:?}");
    assert!(names.iter().all(|n| n[1..].parse::<usize>().unwrap() % 2 == 0));
    // Each accepted write reports the commit that made it durable.
    revisions.sort();
    revisions.dedup();
    assert!(revisions.iter().all(|r| *r > before));
    assert_eq!(lab.store_revision(), *revisions.last().unwrap());
    // The other process sees all of it.
    let other = Lab::open(home.path()).unwrap();
    assert_eq!(other.read(|s| s.all_of(Kind::VirtualNetwork).len()).unwrap(), 16);
}
