//! Principals, role assignments and what they allow, through the engine; a property test holds
//! the lab's incrementally kept index equal to a naive evaluation over the assignments it holds.

use proptest::prelude::*;
use vnetlab_engine::authorization::{self, Caller, PEER_ACTION};
use vnetlab_engine::*;
use vnetlab_model::{Kind, PrincipalType, ResourceId, View};

use crate::support::{Lab, SUB, TENANT};

const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const ROLES: [&str; 4] = [OWNER, "b24988ac-6180-42a0-ab88-20f7382dd24c", READER, NETWORK_CONTRIBUTOR];

fn principal(lab: &mut Lab, n: usize) -> String {
    let object_id = format!("{n:08x}-0000-0000-0000-0000000000ff");
    lab.ok(Operation::PrincipalPut {
        spec: PrincipalSpec {
            tenant_id: TENANT.into(),
            object_id: object_id.clone(),
            display_name: format!("p{n}"),
            principal_type: PrincipalType::ServicePrincipal,
            app_id: Some(format!("{n:08x}-0000-0000-0000-0000000000ee")),
            user_principal_name: None,
            secret_digest: None,
            guest_of: Vec::new(),
        },
    });
    object_id
}

fn assign(name: &str, role: &str, principal: &str, scope: &str) -> Operation {
    Operation::RoleAssignmentPut {
        id: ResourceId::directory(TENANT, Kind::RoleAssignment, name).unwrap(),
        spec: RoleAssignmentSpec {
            scope: scope.into(),
            role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            principal_id: principal.into(),
            principal_type: None,
            description: None,
            created_by: None,
        },
    }
}

fn caller(object_id: &str) -> Caller {
    Caller {
        object_id: object_id.into(),
        client: "app".into(),
        tenant_id: TENANT.into(),
        auxiliary_tenants: Vec::new(),
    }
}

#[test]
fn a_peering_needs_peer_action_on_the_remote() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    let me = principal(&mut lab, 1);
    lab.ok(assign("00000000-0000-0000-0000-000000000001", NETWORK_CONTRIBUTOR, &me, a.as_str()));
    let link = a.child(Kind::VirtualNetworkPeering, "a-to-b").unwrap();
    let op =
        Operation::PeeringPut { id: link.clone(), spec: PeeringSpec::new(b.clone()), sync_remote_address_space: false };
    let e = authorization::authorize(&lab.state, &caller(&me), &op).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "LinkedAuthorizationFailed"));
    assert!(e.message.contains(PEER_ACTION) && e.message.contains(b.as_str()), "{e}");
    lab.ok(assign("00000000-0000-0000-0000-000000000002", READER, &me, b.as_str()));
    assert_eq!(authorization::authorize(&lab.state, &caller(&me), &op).unwrap_err().code, "LinkedAuthorizationFailed");
    lab.ok(assign("00000000-0000-0000-0000-000000000003", NETWORK_CONTRIBUTOR, &me, b.as_str()));
    assert!(authorization::authorize(&lab.state, &caller(&me), &op).is_ok());
    // Deleting the VNet takes the assignments on it along.
    lab.ok(Operation::VirtualNetworkDelete { id: b.clone() });
    let left: Vec<String> = lab
        .state
        .all_of(Kind::RoleAssignment)
        .iter()
        .filter_map(|a| a.resource.as_role_assignment().map(|a| a.properties.scope.clone()))
        .collect();
    assert_eq!(left, [a.to_string()]);
    // A caller with no role at all may not write anything; the lab's own operations are refused to callers.
    let stranger = caller("ffffffff-0000-0000-0000-000000000000");
    let e = authorization::authorize(&lab.state, &stranger, &Operation::VirtualNetworkDelete { id: a.clone() })
        .unwrap_err();
    assert!(e.message.contains("'Microsoft.Network/virtualNetworks/delete'"), "{e}");
    let e = authorization::authorize(
        &lab.state,
        &caller(&me),
        &Operation::SubscriptionDelete { subscription_id: SUB.into() },
    )
    .unwrap_err();
    assert_eq!(e.code, "AuthorizationFailed");
}

#[test]
fn role_assignments_are_checked() {
    let mut lab = Lab::new();
    let me = principal(&mut lab, 1);
    let sub = format!("/subscriptions/{SUB}");
    lab.ok(assign("00000000-0000-0000-0000-000000000001", READER, &me, &sub));
    assert_eq!(lab.err(assign("00000000-0000-0000-0000-000000000002", READER, &me, &sub)).code, "RoleAssignmentExists");
    assert_eq!(
        lab.err(assign("00000000-0000-0000-0000-000000000001", OWNER, &me, &sub)).code,
        "RoleAssignmentUpdateNotPermitted"
    );
    assert_eq!(lab.err(assign("not-a-guid", READER, &me, &sub)).code, "InvalidRoleAssignmentId");
    assert_eq!(
        lab.err(assign("00000000-0000-0000-0000-000000000003", "00000000-0000-0000-0000-00000000abcd", &me, &sub)).code,
        "RoleDefinitionDoesNotExist"
    );
    assert_eq!(
        lab.err(assign("00000000-0000-0000-0000-000000000004", READER, "99999999-0000-0000-0000-000000000000", &sub))
            .code,
        "PrincipalNotFound"
    );
    assert_eq!(
        lab.err(assign("00000000-0000-0000-0000-000000000005", READER, &me, &format!("{sub}/resourceGroups/nope")))
            .code,
        "ResourceGroupNotFound"
    );
    assert_eq!(lab.err(assign("00000000-0000-0000-0000-000000000006", READER, &me, "/")).code, "InvalidScope");
    // Removing the principal removes its assignments.
    let id = ResourceId::directory(TENANT, Kind::Principal, &me).unwrap();
    lab.ok(Operation::PrincipalDelete { id });
    assert!(lab.state.all_of(Kind::RoleAssignment).is_empty());
}

/// The naive answer: any assignment of the principal at the scope or above, whose role allows it.
fn naive(state: &vnetlab_model::State, principal: &str, action: &str, scope: &str) -> bool {
    let roles = vnetlab_authz::builtin_roles();
    state.all_of(Kind::RoleAssignment).iter().filter_map(|a| a.resource.as_role_assignment()).any(|a| {
        a.properties.principal_id.eq_ignore_ascii_case(principal)
            && vnetlab_authz::covers(&a.properties.scope, scope)
            && roles.iter().any(|r| r.id.eq_ignore_ascii_case(a.role_guid()) && r.allows(action))
    })
}

#[derive(Debug, Clone)]
enum Step {
    Assign { principal: usize, role: usize, scope: usize },
    Remove { index: usize },
    DeleteVnet { index: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..4usize, 0..7usize).prop_map(|(principal, role, scope)| Step::Assign { principal, role, scope }),
        2 => (0..20usize).prop_map(|index| Step::Remove { index }),
        1 => (0..4usize).prop_map(|index| Step::DeleteVnet { index }),
    ]
}

const ACTIONS: [&str; 5] = [
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/write",
    PEER_ACTION,
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Compute/virtualMachines/write",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decisions_equal_a_naive_evaluation(steps in proptest::collection::vec(step(), 1..40), probes in proptest::collection::vec((0..3usize, 0..5usize, 0..7usize), 20)) {
        let mut lab = Lab::new();
        let principals: Vec<String> = (0..3).map(|n| principal(&mut lab, n)).collect();
        let vnets: Vec<ResourceId> = (0..4).map(|n| lab.vnet(&format!("v{n}"), &[&format!("10.{n}.0.0/16")])).collect();
        let mut scopes = vec![format!("/subscriptions/{SUB}"), lab.rg_id("rg").to_string(), format!("/subscriptions/{SUB}/resourceGroups/rg2")];
        scopes.extend(vnets.iter().map(|v| v.to_string()));
        let mut made = 0u32;
        for s in steps {
            match s {
                Step::Assign { principal, role, scope } => {
                    made += 1;
                    let name = format!("00000000-0000-0000-0000-{made:012}");
                    // Refusals (a duplicate, a scope deleted or never made) must change nothing.
                    let _ = lab.try_apply(assign(&name, ROLES[role], &principals[principal], &scopes[scope]));
                }
                Step::Remove { index } => {
                    let held: Vec<ResourceId> = lab.state.all_of(Kind::RoleAssignment).iter().map(|a| a.id().clone()).collect();
                    if let Some(id) = held.get(index % held.len().max(1)) {
                        lab.ok(Operation::RoleAssignmentDelete { id: id.clone() });
                    }
                }
                Step::DeleteVnet { index } => {
                    lab.ok(Operation::VirtualNetworkDelete { id: vnets[index].clone() });
                }
            }
        }
        for (p, a, s) in probes {
            let (principal, action, scope) = (&principals[p], ACTIONS[a], &scopes[s]);
            let fast = authorization::permits(&lab.state, &caller(principal), action, scope);
            prop_assert_eq!(fast, naive(&lab.state, principal, action, scope), "{} {} {}", principal, action, scope);
        }
    }
}
