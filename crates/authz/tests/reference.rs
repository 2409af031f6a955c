//! For random roles, assignments and requests, the indexed decision equals a naive evaluator's
//! that reads every assignment and matches patterns by recursion.

use proptest::prelude::*;
use vnetlab_authz::{Authorizer, RoleAssignment, RoleDefinition, builtin_roles};

const PRINCIPALS: [&str; 3] = ["alice", "BOB", "carol"];
const SCOPES: [&str; 8] = [
    "/",
    "/subscriptions/s1",
    "/subscriptions/s1/resourceGroups/rg1",
    "/subscriptions/s1/resourceGroups/rg10",
    "/subscriptions/S1/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/v1",
    "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v1/subnets/a",
    "/subscriptions/s2",
    "/subscriptions/s2/resourceGroups/rg1",
];
const ACTIONS: [&str; 8] = [
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/write",
    "microsoft.network/virtualnetworks/peer/action",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
];
const PATTERNS: [&str; 8] = [
    "*",
    "*/read",
    "Microsoft.Network/*",
    "Microsoft.Network/virtualNetworks/*/action",
    "*peer*",
    "Microsoft.Authorization/*",
    "microsoft.compute/*/write",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/*",
];

/// Glob by recursion, lower-casing both sides first.
fn glob(p: &[u8], a: &[u8]) -> bool {
    match p.split_first() {
        None => a.is_empty(),
        Some((b'*', rest)) => (0..=a.len()).any(|k| glob(rest, &a[k..])),
        Some((c, rest)) => a.split_first().is_some_and(|(d, tail)| c == d && glob(rest, tail)),
    }
}

fn naive_matches(pattern: &str, action: &str) -> bool {
    glob(pattern.to_lowercase().as_bytes(), action.to_lowercase().as_bytes())
}

/// Scope containment by segments.
fn naive_covers(scope: &str, target: &str) -> bool {
    let seg = |s: &str| s.to_lowercase().split('/').filter(|x| !x.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let (s, t) = (seg(scope), seg(target));
    s.len() <= t.len() && s.iter().zip(&t).all(|(a, b)| a == b)
}

fn naive(roles: &[RoleDefinition], assignments: &[RoleAssignment], principal: &str, action: &str, scope: &str) -> bool {
    assignments.iter().any(|a| {
        a.principal_id.eq_ignore_ascii_case(principal)
            && naive_covers(&a.scope, scope)
            && roles.iter().any(|r| {
                r.id.eq_ignore_ascii_case(&a.role_definition_id)
                    && r.actions.iter().any(|p| naive_matches(p, action))
                    && !r.not_actions.iter().any(|p| naive_matches(p, action))
            })
    })
}

fn custom_role() -> impl Strategy<Value = RoleDefinition> {
    (prop::collection::vec(0..PATTERNS.len(), 0..3), prop::collection::vec(0..PATTERNS.len(), 0..2)).prop_map(
        |(actions, not_actions)| RoleDefinition {
            id: "11111111-2222-3333-4444-555555555555".into(),
            name: "Custom".into(),
            description: String::new(),
            actions: actions.into_iter().map(|i| PATTERNS[i].to_owned()).collect(),
            not_actions: not_actions.into_iter().map(|i| PATTERNS[i].to_owned()).collect(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn indexed_decisions_equal_the_naive_evaluator(
        custom in custom_role(),
        picks in prop::collection::vec((0..PRINCIPALS.len(), 0..5usize, 0..SCOPES.len()), 0..12),
        requests in prop::collection::vec((0..PRINCIPALS.len(), 0..ACTIONS.len(), 0..SCOPES.len()), 1..20),
    ) {
        let mut roles = builtin_roles();
        roles.push(custom);
        let assignments: Vec<RoleAssignment> = picks
            .iter()
            .enumerate()
            .map(|(n, &(p, r, s))| RoleAssignment {
                id: format!("a{n}"),
                // Principal ids arrive in any case.
                principal_id: if n % 2 == 0 { PRINCIPALS[p].to_uppercase() } else { PRINCIPALS[p].to_owned() },
                role_definition_id: roles[r].id.clone(),
                scope: SCOPES[s].to_owned(),
            })
            .collect();
        let authz = Authorizer::new(roles.clone(), &assignments);
        for (p, a, s) in requests {
            let (principal, action, scope) = (PRINCIPALS[p], ACTIONS[a], SCOPES[s]);
            prop_assert_eq!(
                authz.permits(principal, action, scope),
                naive(&roles, &assignments, principal, action, scope),
                "{} {} at {} with {:?}", principal, action, scope, assignments
            );
        }
    }
}
