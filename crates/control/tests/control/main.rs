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
    let request = Request { api_version: None, origin: Some("test:plan") };
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
