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
