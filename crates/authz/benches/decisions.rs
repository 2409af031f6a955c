//! What a decision costs with 10,000 role assignments: each of 100,000 random requests (a
//! principal, an action, a scope somewhere in the tree) is timed alone; prints p50, p99 and the
//! mean. Two shapes: assignments spread over 1,000 principals, and all held by one principal.

use std::hint::black_box;
use std::time::Instant;

use vnetlab_authz::{Authorizer, RoleAssignment, builtin_roles};

/// splitmix64: a reproducible stream without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ACTIONS: [&str; 4] = [
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/write",
    "Microsoft.Network/virtualNetworks/peer/action",
    "Microsoft.Authorization/roleAssignments/write",
];

/// A scope in a tree of 10 subscriptions × 100 resource groups × 10 VNets × 4 subnets, at a
/// random depth.
fn scope(rng: &mut Rng) -> String {
    let mut s = format!("/subscriptions/{:08x}-0000-0000-0000-000000000000", rng.below(10));
    if rng.below(4) > 0 {
        s.push_str(&format!("/resourceGroups/rg{}", rng.below(100)));
        if rng.below(3) > 0 {
            s.push_str(&format!("/providers/Microsoft.Network/virtualNetworks/vnet{}", rng.below(10)));
            if rng.below(2) > 0 {
                s.push_str(&format!("/subnets/s{}", rng.below(4)));
            }
        }
    }
    s
}

fn run(label: &str, principals: usize) {
    let mut rng = Rng(7);
    let roles = builtin_roles();
    let assignments: Vec<RoleAssignment> = (0..10_000)
        .map(|n| RoleAssignment {
            id: format!("a{n}"),
            principal_id: format!("principal-{}", rng.below(principals)),
            role_definition_id: roles[rng.below(roles.len())].id.clone(),
            scope: scope(&mut rng),
        })
        .collect();
    let built = Instant::now();
    let authz = Authorizer::new(roles, &assignments);
    let build = built.elapsed();
    let mut times = Vec::with_capacity(100_000);
    let mut granted = 0usize;
    for _ in 0..100_000 {
        let principal = format!("principal-{}", rng.below(principals));
        let action = ACTIONS[rng.below(ACTIONS.len())];
        let target = scope(&mut rng);
        let started = Instant::now();
        let ok = black_box(authz.permits(black_box(&principal), black_box(action), black_box(&target)));
        times.push(started.elapsed().as_nanos() as u64);
        granted += usize::from(ok);
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    let mean = times.iter().sum::<u64>() as f64 / times.len() as f64;
    println!(
        "{label}: index of 10,000 assignments built in {:.1} ms; 100,000 decisions ({granted} granted): p50 {} ns, p99 {} ns, mean {mean:.0} ns",
        build.as_secs_f64() * 1000.0,
        at(0.50),
        at(0.99),
    );
}

fn main() {
    run("1,000 principals", 1_000);
    run("one principal", 1);
}
