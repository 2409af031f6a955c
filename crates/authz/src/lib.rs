//! Azure role-based access control, as ARM decides a request: a principal may perform an action
//! at a scope when a role assignment of that principal, at that scope or one above it
//! (subscription, resource group, resource: assignments are inherited downwards), names a role
//! whose `actions` match the action and whose `notActions` do not.
//!
//! Action patterns are Azure's: `*` stands for any run of characters (`Microsoft.Network/*`,
//! `*/read`), and actions compare without regard to case, as do scopes.

use std::collections::HashMap;

/// A role: what it allows (`actions`) less what it excludes (`not_actions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role's GUID (the last segment of its resource id).
    pub id: String,
    pub name: String,
    pub description: String,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
}

impl RoleDefinition {
    /// Whether the role allows `action`.
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|p| matches(p, action)) && !self.not_actions.iter().any(|p| matches(p, action))
    }
}

fn role(id: &str, name: &str, description: &str, actions: &[&str], not_actions: &[&str]) -> RoleDefinition {
    RoleDefinition {
        id: id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        not_actions: not_actions.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// The built-in roles vnetlab knows, with Azure's ids and permissions.
pub fn builtin_roles() -> Vec<RoleDefinition> {
    vec![
        role(
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "Owner",
            "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            &["*"],
            &[],
        ),
        role(
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            "Contributor",
            "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
            ],
        ),
        role(
            "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            "Reader",
            "View all resources, but does not allow you to make any changes.",
            &["*/read"],
            &[],
        ),
        role(
            "4d97b98b-1d4f-4787-a291-c67834d212e7",
            "Network Contributor",
            "Lets you manage networks, but not access to them.",
            &[
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.Network/*",
                "Microsoft.ResourceHealth/availabilityStatuses/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ],
            &[],
        ),
    ]
}

/// Whether the action pattern `pattern` (`*` for any run of characters) matches `action`,
/// ignoring ASCII case.
pub fn matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.as_bytes(), action.as_bytes());
    // Greedy glob with one backtrack point: the last `*` seen and where it started matching.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < a.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i].eq_ignore_ascii_case(&a[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

/// Whether an assignment at `scope` reaches a request at `target`: the same scope, or one
/// below it (path segments compare without regard to case).
pub fn covers(scope: &str, target: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    if scope.is_empty() {
        // The root scope `/`.
        return true;
    }
    target.len() >= scope.len()
        && target.as_bytes()[..scope.len()].eq_ignore_ascii_case(scope.as_bytes())
        && (target.len() == scope.len() || target.as_bytes()[scope.len()] == b'/')
}

/// A role given to a principal at a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub id: String,
    pub principal_id: String,
    /// The role's GUID.
    pub role_definition_id: String,
    /// A subscription, resource group or resource id (or `/`).
    pub scope: String,
}

/// Decisions over a set of roles and assignments, indexed by principal and scope so that a
/// request costs the assignments of its principal on its scope's ancestors only. Assignments come
/// and go one at a time, as the lab's state changes.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    roles: HashMap<String, RoleDefinition>,
    /// principal (lower case) → scope (lower case, no trailing `/`) → (assignment id, role id),
    /// both lower case.
    by_principal: HashMap<String, HashMap<String, Vec<(String, String)>>>,
}

fn scope_key(scope: &str) -> String {
    scope.trim_end_matches('/').to_ascii_lowercase()
}

impl Authorizer {
    pub fn new(roles: Vec<RoleDefinition>, assignments: &[RoleAssignment]) -> Authorizer {
        let roles = roles.into_iter().map(|r| (r.id.to_ascii_lowercase(), r)).collect();
        let mut authorizer = Authorizer { roles, by_principal: HashMap::new() };
        for a in assignments {
            authorizer.insert(a);
        }
        authorizer
    }

    /// Adds an assignment (one with the same id is replaced).
    pub fn insert(&mut self, a: &RoleAssignment) {
        let id = a.id.to_ascii_lowercase();
        let at = self
            .by_principal
            .entry(a.principal_id.to_ascii_lowercase())
            .or_default()
            .entry(scope_key(&a.scope))
            .or_default();
        at.retain(|(other, _)| *other != id);
        at.push((id, a.role_definition_id.to_ascii_lowercase()));
    }

    /// Removes an assignment, as it was inserted.
    pub fn remove(&mut self, a: &RoleAssignment) {
        let principal = a.principal_id.to_ascii_lowercase();
        let scope = scope_key(&a.scope);
        let id = a.id.to_ascii_lowercase();
        let Some(scopes) = self.by_principal.get_mut(&principal) else {
            return;
        };
        if let Some(at) = scopes.get_mut(&scope) {
            at.retain(|(other, _)| *other != id);
            if at.is_empty() {
                scopes.remove(&scope);
            }
        }
        if scopes.is_empty() {
            self.by_principal.remove(&principal);
        }
    }

    /// The role with this GUID.
    pub fn role(&self, id: &str) -> Option<&RoleDefinition> {
        self.roles.get(&id.to_ascii_lowercase())
    }

    /// Every role, by name.
    pub fn roles(&self) -> Vec<&RoleDefinition> {
        let mut roles: Vec<&RoleDefinition> = self.roles.values().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        roles
    }

    /// Whether `principal` has any assignment at `scope`, above it or below it: what lets a
    /// subscription appear in its list.
    pub fn has_any_near(&self, principal: &str, scope: &str) -> bool {
        let Some(scopes) = self.by_principal.get(&principal.to_ascii_lowercase()) else {
            return false;
        };
        let target = scope_key(scope);
        scopes.keys().any(|s| covers(s, &target) || covers(&target, s))
    }

    /// The role that lets `principal` perform `action` at `scope`, if one does.
    pub fn granting(&self, principal: &str, action: &str, scope: &str) -> Option<&RoleDefinition> {
        let scopes = self.by_principal.get(&principal.to_ascii_lowercase())?;
        let target = scope_key(scope);
        // The scope and each ancestor: cut at every `/`, down to the root.
        let mut ancestors = vec![target.as_str()];
        ancestors.extend(target.char_indices().filter(|(_, c)| *c == '/').map(|(i, _)| &target[..i]));
        ancestors.into_iter().filter_map(|s| scopes.get(s)).flatten().find_map(|(_, id)| {
            let role = self.roles.get(id)?;
            role.allows(action).then_some(role)
        })
    }

    /// Whether `principal` may perform `action` at `scope`.
    pub fn permits(&self, principal: &str, action: &str, scope: &str) -> bool {
        self.granting(principal, action, scope).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_come_and_go() {
        let a = RoleAssignment {
            id: "a1".into(),
            principal_id: "P".into(),
            role_definition_id: "acdd72a7-3385-48ef-bd42-f606fba81ae7".into(),
            scope: "/subscriptions/s/resourceGroups/rg".into(),
        };
        let mut authz = Authorizer::new(builtin_roles(), &[]);
        let read = "Microsoft.Network/virtualNetworks/read";
        let vnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
        assert!(!authz.permits("p", read, vnet));
        authz.insert(&a);
        authz.insert(&a);
        assert!(authz.permits("p", read, vnet));
        assert!(authz.has_any_near("p", "/subscriptions/s"));
        assert!(!authz.has_any_near("p", "/subscriptions/t"));
        authz.remove(&a);
        assert!(!authz.permits("p", read, vnet), "inserting twice is one assignment");
        assert!(!authz.has_any_near("p", "/subscriptions/s"));
    }

    #[test]
    fn patterns_match_as_azure_documents_them() {
        assert!(matches("*", "Microsoft.Network/virtualNetworks/write"));
        assert!(matches("*/read", "Microsoft.Network/virtualNetworks/read"));
        assert!(!matches("*/read", "Microsoft.Network/virtualNetworks/write"));
        assert!(matches("Microsoft.Network/*", "microsoft.network/virtualNetworks/peer/action"));
        assert!(matches("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write"));
        assert!(!matches("Microsoft.Network/*", "Microsoft.Compute/virtualMachines/read"));
        assert!(matches("a*b*c", "aXXbYYc") && !matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn scopes_are_inherited_downwards_only() {
        let rg = "/subscriptions/s/resourceGroups/rg";
        assert!(covers("/subscriptions/s", rg));
        assert!(covers(rg, &format!("{rg}/providers/Microsoft.Network/virtualNetworks/v")));
        assert!(covers("/SUBSCRIPTIONS/S", rg));
        assert!(!covers(rg, "/subscriptions/s"));
        assert!(!covers("/subscriptions/s/resourceGroups/r", rg), "a prefix of a name is not a parent");
        assert!(covers("/", rg));
    }

    #[test]
    fn builtin_roles_allow_what_azure_says() {
        let roles = builtin_roles();
        let by = |name: &str| roles.iter().find(|r| r.name == name).unwrap();
        let peer = "Microsoft.Network/virtualNetworks/peer/action";
        assert!(by("Owner").allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(by("Contributor").allows(peer));
        assert!(!by("Contributor").allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(by("Reader").allows("Microsoft.Network/virtualNetworks/read"));
        assert!(!by("Reader").allows(peer));
        assert!(by("Network Contributor").allows(peer));
        assert!(!by("Network Contributor").allows("Microsoft.Compute/virtualMachines/write"));
    }
}
