//! From a topology file to the engine's operations: names resolved (declarations in the file
//! first, then the lab), defaults filled in, the operations ordered so one transaction applies them.
//! No rule is checked here; the engine does that when the operations run.

use std::collections::HashMap;

use vnetlab_engine::input::{parse_location, parse_prefix, parse_resource_id};
use vnetlab_engine::{
    ConnectionSpec, GatewayIpConfigurationSpec, HUB_AND_SPOKE_ORIGIN_PREFIX, LocalNetworkGatewaySpec,
    NetworkInterfaceSpec, NetworkSecurityGroupSpec, NicIpConfigurationSpec, Operation, PeeringSpec,
    PublicIpAddressSpec, RouteSpec, RouteTableSpec, SecurityRuleSpec, SubnetSpec, VirtualMachineSpec,
    VirtualNetworkGatewaySpec, VirtualNetworkSpec,
};
use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    AzureError, ConnectionType, GatewaySkuName, GatewayType, IpVersion, Kind, Location, Prefix, PrincipalType,
    ResourceId, RoutePrefix, State, View, ViewExt,
};

use crate::locate::Path;
use crate::schema::*;

/// The lab's defaults a file falls back on.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub tenant_id: String,
    pub subscription_id: String,
    /// How principals' secrets are kept; without it a file that gives a secret is refused.
    pub secrets: Option<Secrets>,
    /// The principal that creates subscriptions in the default tenant, and becomes their Owner as
    /// a subscription's creator does in Azure (the lab's own principal).
    pub owner: Option<String>,
}

/// How secrets become digests, and how a digest is checked (the lab's, from the control plane).
#[derive(Debug, Clone, Copy)]
pub struct Secrets {
    pub digest: fn(&str) -> String,
    pub matches: fn(&str, &str) -> bool,
}

/// A GUID made from `parts`, the same every time (FNV-1a, twice, with different offsets).
pub fn stable_guid(parts: &[&str]) -> String {
    let hash = |offset: u64| {
        let mut h = offset;
        for part in parts {
            for b in part.to_lowercase().bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

impl Defaults {
    /// A lab in memory with just these defaults' tenant and subscription, as a new lab starts.
    pub fn fresh_state(&self) -> std::result::Result<State, AzureError> {
        let tenancy = [
            Operation::TenantPut {
                tenant_id: self.tenant_id.clone(),
                display_name: "vnetlab".into(),
                default_domain: None,
            },
            Operation::SubscriptionPut {
                subscription_id: self.subscription_id.clone(),
                display_name: "vnetlab".into(),
                tenant_id: self.tenant_id.clone(),
            },
        ];
        crate::simulate(&State::new(), &tenancy, &vnetlab_engine::Settings::default(), None).map_err(|(_, e)| e)
    }
}

pub const DEFAULT_RESOURCE_GROUP: &str = "vnetlab";
/// Azure's built-in Owner role.
const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
pub const DEFAULT_LOCATION: &str = "westus";

/// A problem with the file, at a path inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub path: Path,
    pub message: String,
    /// When the problem is one Azure would report, its error.
    pub azure: Option<Box<AzureError>>,
}

impl CompileError {
    fn new(path: &Path, message: impl Into<String>) -> CompileError {
        CompileError { path: path.clone(), message: message.into(), azure: None }
    }

    fn azure(path: &Path, error: AzureError) -> CompileError {
        CompileError { path: path.clone(), message: error.to_string(), azure: Some(Box::new(error)) }
    }
}

type Result<T> = std::result::Result<T, CompileError>;

/// A resource the file declares, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub id: ResourceId,
    pub kind: Kind,
    pub path: Path,
    /// Made because something needs it (a resource group the file only uses), not declared.
    pub implicit: bool,
}

/// The file, compiled.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub name: Option<String>,
    /// The operations `up` runs, in order.
    pub ops: Vec<Operation>,
    /// For each operation, the declaration it comes from.
    pub sources: Vec<Path>,
    /// Every resource the file declares (including the ones it makes implicitly, such as a VM's NIC).
    pub declared: Vec<Declared>,
}

impl Compiled {
    fn push(&mut self, op: Operation, path: &Path) {
        self.ops.push(op);
        self.sources.push(path.clone());
    }

    fn declare(&mut self, id: &ResourceId, kind: Kind, path: &Path) {
        if !self.declared.iter().any(|d| &d.id == id) {
            self.declared.push(Declared { id: id.clone(), kind, path: path.clone(), implicit: false });
        }
    }

    fn declare_implicit(&mut self, id: &ResourceId, kind: Kind, path: &Path) {
        if !self.declared.iter().any(|d| &d.id == id) {
            self.declared.push(Declared { id: id.clone(), kind, path: path.clone(), implicit: true });
        }
    }
}

/// Names the file declares, per kind, with their ids.
#[derive(Default)]
struct Names {
    by_kind: HashMap<Kind, HashMap<String, Vec<(ResourceId, Path)>>>,
}

impl Names {
    fn add(&mut self, kind: Kind, id: &ResourceId, path: &Path) -> Result<()> {
        let entries = self.by_kind.entry(kind).or_default().entry(id.name().to_lowercase()).or_default();
        if let Some((_, first)) = entries.iter().find(|(existing, _)| existing == id) {
            return Err(CompileError::new(
                path,
                format!("{} '{}' is declared twice (first at {first})", kind.short_name(), id.name()),
            ));
        }
        entries.push((id.clone(), path.clone()));
        Ok(())
    }

    fn contains(&self, kind: Kind, id: &ResourceId) -> bool {
        self.get(kind, id.name()).iter().any(|(x, _)| x == id)
    }

    fn get(&self, kind: Kind, name: &str) -> &[(ResourceId, Path)] {
        self.by_kind.get(&kind).and_then(|m| m.get(&name.to_lowercase())).map(Vec::as_slice).unwrap_or(&[])
    }
}

struct Compiler<'a> {
    doc: &'a Topology,
    state: &'a State,
    defaults: &'a Defaults,
    names: Names,
    /// Declared subscriptions: name or id (lower-cased) → id.
    subscriptions: HashMap<String, String>,
    /// Declared tenants: name or id (lower-cased) → id.
    tenants: HashMap<String, String>,
    /// Resource groups: key of the group's id → location.
    groups: HashMap<String, Location>,
    default_location: Location,
    /// For teardown: a reference that no longer resolves is taken at its default place instead of
    /// failing (the resource it names may be gone already).
    lenient: bool,
    /// Subnets the file lists, by key, and the VNets whose subnets it lists (keys).
    subnets: std::collections::HashSet<String>,
    vnets_listing_subnets: std::collections::HashSet<String>,
    /// Operations that must run after NICs, VMs and gateways (removing subnets they may leave).
    deferred: Vec<(Operation, Path)>,
    out: Compiled,
}

/// Compiles `doc` against the lab's current `state`.
pub fn compile(doc: &Topology, state: &State, defaults: &Defaults) -> std::result::Result<Compiled, CompileError> {
    compile_with(doc, state, defaults, false)
}

/// Compiles `doc` to find what it declares, for teardown: references to resources that are gone
/// do not stop it.
pub fn compile_for_teardown(
    doc: &Topology,
    state: &State,
    defaults: &Defaults,
) -> std::result::Result<Compiled, CompileError> {
    compile_with(doc, state, defaults, true)
}

fn compile_with(
    doc: &Topology,
    state: &State,
    defaults: &Defaults,
    lenient: bool,
) -> std::result::Result<Compiled, CompileError> {
    let root = Path::root();
    let default_location = match &doc.location {
        Some(l) => parse_location(l, Kind::ResourceGroup).map_err(|e| CompileError::azure(&root.key("location"), e))?,
        None => Location::parse(DEFAULT_LOCATION).expect("constant location"),
    };
    let mut c = Compiler {
        doc,
        state,
        defaults,
        names: Names::default(),
        subscriptions: HashMap::new(),
        tenants: HashMap::new(),
        groups: HashMap::new(),
        default_location,
        lenient,
        subnets: Default::default(),
        vnets_listing_subnets: Default::default(),
        deferred: Vec::new(),
        out: Compiled { name: doc.name.clone(), ..Compiled::default() },
    };
    c.tenancy()?;
    c.principals()?;
    c.declare_names()?;
    c.groups()?;
    c.nsgs()?;
    c.route_tables()?;
    c.public_ips()?;
    c.vnets()?;
    c.sites()?;
    c.nics_and_vms()?;
    c.gateways()?;
    for (op, path) in std::mem::take(&mut c.deferred) {
        c.out.push(op, &path);
    }
    c.peerings()?;
    c.connections()?;
    c.role_assignments()?;
    Ok(c.out)
}

impl<'a> Compiler<'a> {
    fn tenancy(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, t) in self.doc.tenants.iter().enumerate() {
            let path = root.key("tenants").index(i);
            let id = ResourceId::tenant(&t.id).map_err(|e| CompileError::new(&path.key("id"), e.to_string()))?;
            self.tenants.insert(t.id.to_lowercase(), t.id.clone());
            self.tenants.insert(t.name.to_lowercase(), t.id.clone());
            self.out.push(
                Operation::TenantPut {
                    tenant_id: t.id.clone(),
                    display_name: t.name.clone(),
                    default_domain: t.domain.clone(),
                },
                &path,
            );
            self.out.declare(&id, Kind::Tenant, &path);
        }
        for (i, s) in self.doc.subscriptions.iter().enumerate() {
            let path = root.key("subscriptions").index(i);
            let id = ResourceId::subscription(&s.id).map_err(|e| CompileError::new(&path.key("id"), e.to_string()))?;
            let tenant = match &s.tenant {
                Some(t) => self.tenant(t, &path.key("tenant"))?,
                None => self.defaults.tenant_id.clone(),
            };
            self.subscriptions.insert(s.id.to_lowercase(), s.id.clone());
            if let Some(name) = &s.name {
                self.subscriptions.insert(name.to_lowercase(), s.id.clone());
            }
            let owned = tenant.eq_ignore_ascii_case(&self.defaults.tenant_id);
            self.out.push(
                Operation::SubscriptionPut {
                    subscription_id: s.id.clone(),
                    display_name: s.name.clone().unwrap_or_else(|| s.id.clone()),
                    tenant_id: tenant.clone(),
                },
                &path,
            );
            self.out.declare(&id, Kind::Subscription, &path);
            if let Some(owner) = self.defaults.owner.clone().filter(|_| owned) {
                let op = self.assign(&tenant, &owner, OWNER_ROLE, &id, &path)?;
                if let Some(target) = op.target() {
                    self.out.declare_implicit(&target, Kind::RoleAssignment, &path);
                }
                self.out.push(op, &path);
            }
        }
        Ok(())
    }

    /// The principal a declaration makes: its home tenant and object id.
    fn principal_ids(&self, p: &crate::schema::PrincipalDecl, path: &Path) -> Result<(String, String)> {
        let tenant = match &p.tenant {
            Some(t) => self.tenant(t, &path.key("tenant"))?,
            None => self.defaults.tenant_id.clone(),
        };
        let object_id = p.object_id.clone().unwrap_or_else(|| stable_guid(&["object", &tenant, &p.name]));
        Ok((tenant, object_id))
    }

    fn principals(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, p) in self.doc.principals.iter().enumerate() {
            let path = root.key("principals").index(i);
            let (tenant, object_id) = self.principal_ids(p, &path)?;
            let kind = p.kind.unwrap_or(if p.user_principal_name.is_some() {
                crate::schema::PrincipalKind::User
            } else {
                crate::schema::PrincipalKind::ServicePrincipal
            });
            let (principal_type, app_id, upn) = match kind {
                crate::schema::PrincipalKind::ServicePrincipal => (
                    PrincipalType::ServicePrincipal,
                    Some(p.app_id.clone().unwrap_or_else(|| stable_guid(&["app", &tenant, &p.name]))),
                    None,
                ),
                crate::schema::PrincipalKind::User => {
                    let Some(upn) = &p.user_principal_name else {
                        return Err(CompileError::new(&path, "a user needs a userPrincipalName"));
                    };
                    (PrincipalType::User, None, Some(upn.clone()))
                }
            };
            let guest_of = p
                .guest_of
                .iter()
                .enumerate()
                .map(|(k, t)| self.tenant(t, &path.key("guestOf").index(k)))
                .collect::<Result<Vec<_>>>()?;
            let id = ResourceId::directory(&tenant, Kind::Principal, &object_id)
                .map_err(|e| CompileError::new(&path.key("objectId"), e.to_string()))?;
            let existing =
                self.state.get(&id).and_then(|s| s.resource.as_principal()).and_then(|p| p.secret_digest.clone());
            let secret_digest = match &p.secret {
                None => None,
                Some(secret) => {
                    let Some(secrets) = self.defaults.secrets else {
                        return Err(CompileError::new(&path.key("secret"), "secrets cannot be kept here"));
                    };
                    // The same secret keeps its digest: applying the file again changes nothing.
                    match existing {
                        Some(d) if (secrets.matches)(&d, secret) => Some(d),
                        _ => Some((secrets.digest)(secret)),
                    }
                }
            };
            self.out.push(
                Operation::PrincipalPut {
                    spec: vnetlab_engine::PrincipalSpec {
                        tenant_id: tenant,
                        object_id,
                        display_name: p.name.clone(),
                        principal_type,
                        app_id,
                        user_principal_name: upn,
                        secret_digest,
                        guest_of,
                    },
                },
                &path,
            );
            self.out.declare(&id, Kind::Principal, &path);
        }
        Ok(())
    }

    /// The scope a role declaration names.
    fn role_scope(&self, text: &str, path: &Path) -> Result<ResourceId> {
        let bad = |e: String| CompileError::new(path, e);
        if text.starts_with('/') {
            return ResourceId::parse(text).map_err(|e| bad(e.to_string()));
        }
        match text.split_once(':') {
            Some((k, name)) if k.eq_ignore_ascii_case("subscription") => {
                ResourceId::subscription(&self.subscription(Some(&name.to_owned()), path)?)
                    .map_err(|e| bad(e.to_string()))
            }
            Some((k, name)) if k.eq_ignore_ascii_case("group") => self.group_id(None, Some(&name.to_owned()), path),
            Some((k, name)) if k.eq_ignore_ascii_case("vnet") => self.resolve(Kind::VirtualNetwork, name, path),
            Some((k, _)) => {
                Err(bad(format!("'{k}' is not a scope kind: use subscription:, group:, vnet: or a resource id")))
            }
            None => ResourceId::subscription(&self.subscription(Some(&text.to_owned()), path)?)
                .map_err(|e| bad(e.to_string())),
        }
    }

    /// A role assignment operation: the one that holds the grant already, else a new one with a
    /// name made from the grant.
    fn assign(&self, tenant: &str, object_id: &str, role: &str, scope: &ResourceId, path: &Path) -> Result<Operation> {
        let id = match vnetlab_engine::held_assignment(self.state, object_id, role, scope) {
            Some(a) => a.id.clone(),
            None => ResourceId::directory(
                tenant,
                Kind::RoleAssignment,
                &stable_guid(&["role", object_id, role, scope.key()]),
            )
            .map_err(|e| CompileError::new(path, e.to_string()))?,
        };
        Ok(Operation::RoleAssignmentPut {
            id,
            spec: vnetlab_engine::RoleAssignmentSpec {
                scope: scope.to_string(),
                role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                principal_id: object_id.to_owned(),
                principal_type: None,
                description: None,
                created_by: None,
            },
        })
    }

    fn role_assignments(&mut self) -> Result<()> {
        let root = Path::root();
        let roles = vnetlab_authz::builtin_roles();
        for (i, p) in self.doc.principals.iter().enumerate() {
            let ppath = root.key("principals").index(i);
            let (_, object_id) = self.principal_ids(p, &ppath)?;
            for (k, r) in p.roles.iter().enumerate() {
                let path = ppath.key("roles").index(k);
                let Some(role) =
                    roles.iter().find(|d| d.name.eq_ignore_ascii_case(&r.role) || d.id.eq_ignore_ascii_case(&r.role))
                else {
                    let names: Vec<&str> = roles.iter().map(|d| d.name.as_str()).collect();
                    return Err(CompileError::new(
                        &path.key("role"),
                        format!("no built-in role '{}' (there are {})", r.role, names.join(", ")),
                    ));
                };
                let scope = self.role_scope(&r.scope, &path.key("scope"))?;
                let tenant = scope
                    .subscription_id()
                    .and_then(|s| self.subscription_tenant(s))
                    .unwrap_or_else(|| self.defaults.tenant_id.clone());
                let op = self.assign(&tenant, &object_id, &role.id, &scope, &path)?;
                let id = op.target().unwrap_or_else(|| scope.clone());
                self.out.push(op, &path);
                self.out.declare(&id, Kind::RoleAssignment, &path);
            }
        }
        Ok(())
    }

    /// The tenant of a subscription the file declares or the lab has.
    fn subscription_tenant(&self, subscription_id: &str) -> Option<String> {
        let declared = self.doc.subscriptions.iter().find(|s| s.id.eq_ignore_ascii_case(subscription_id));
        if let Some(s) = declared {
            return Some(match &s.tenant {
                Some(t) => self.tenant(t, &Path::root()).ok()?,
                None => self.defaults.tenant_id.clone(),
            });
        }
        let id = ResourceId::subscription(subscription_id).ok()?;
        self.state.get(&id)?.resource.as_subscription().map(|s| s.tenant_id.clone())
    }

    fn tenant(&self, name: &str, path: &Path) -> Result<String> {
        if let Some(id) = self.tenants.get(&name.to_lowercase()) {
            return Ok(id.clone());
        }
        let known = ResourceId::tenant(name).ok().is_some_and(|id| self.state.exists(&id));
        if known {
            Ok(name.to_owned())
        } else {
            Err(CompileError::new(path, format!("no tenant '{name}' is declared in this file or exists in the lab")))
        }
    }

    fn subscription(&self, name: Option<&String>, path: &Path) -> Result<String> {
        let Some(name) = name.or(self.doc.subscription.as_ref()) else {
            return Ok(self.defaults.subscription_id.clone());
        };
        if let Some(id) = self.subscriptions.get(&name.to_lowercase()) {
            return Ok(id.clone());
        }
        let known = ResourceId::subscription(name).ok().is_some_and(|id| self.state.exists(&id));
        let by_display_name = self.state.all_of(Kind::Subscription).into_iter().find_map(|s| {
            s.resource
                .as_subscription()
                .filter(|s| s.display_name.eq_ignore_ascii_case(name))
                .map(|s| s.subscription_id.clone())
        });
        match (known, by_display_name) {
            (true, _) => Ok(name.clone()),
            (false, Some(id)) => Ok(id),
            (false, None) => Err(CompileError::new(
                path,
                format!("no subscription '{name}' is declared in this file or exists in the lab"),
            )),
        }
    }

    /// The id of the resource group a resource at `path` lives in. A problem with a default is
    /// reported at the file's top-level key it comes from.
    fn group_id(&self, subscription: Option<&String>, group: Option<&String>, path: &Path) -> Result<ResourceId> {
        let at = |own: bool, key: &str| if own { path.key(key) } else { Path::root().key(key) };
        let sub = self.subscription(subscription, &at(subscription.is_some(), "subscription"))?;
        let name = group.or(self.doc.resource_group.as_ref()).map(String::as_str).unwrap_or(DEFAULT_RESOURCE_GROUP);
        ResourceId::resource_group(&sub, name)
            .map_err(|e| CompileError::new(&at(group.is_some(), "resourceGroup"), e.to_string()))
    }

    /// The id of a top-level resource declared at `path`.
    fn resource_id(
        &self,
        kind: Kind,
        name: &str,
        subscription: Option<&String>,
        group: Option<&String>,
        path: &Path,
    ) -> Result<ResourceId> {
        let rg = self.group_id(subscription, group, path)?;
        rg.top_level(kind, name)
            .map_err(|_| CompileError::azure(&path.key("name"), vnetlab_engine::errors::invalid_resource_name(name)))
    }

    /// The location of a resource: its own, else its group's.
    /// The id of a resource the file declares, and its location: its own, else its group's.
    fn placed(
        &self,
        kind: Kind,
        name: &str,
        subscription: Option<&String>,
        group: Option<&String>,
        location: Option<&String>,
        path: &Path,
    ) -> Result<(ResourceId, Location)> {
        let id = self.resource_id(kind, name, subscription, group, path)?;
        let rg = id.resource_group_id().unwrap_or_else(|| id.clone());
        let location = self.location(location, &rg, kind, path)?;
        Ok((id, location))
    }

    fn location(&self, own: Option<&String>, rg: &ResourceId, kind: Kind, path: &Path) -> Result<Location> {
        match own {
            Some(l) => parse_location(l, kind).map_err(|e| CompileError::azure(&path.key("location"), e)),
            None => Ok(self.groups.get(rg.key()).copied().unwrap_or(self.default_location)),
        }
    }

    fn declare_names(&mut self) -> Result<()> {
        let root = Path::root();
        let doc = self.doc;
        macro_rules! names {
            ($list:expr, $key:literal, $kind:expr) => {
                for (i, d) in $list.iter().enumerate() {
                    let path = root.key($key).index(i);
                    let id =
                        self.resource_id($kind, &d.name, d.subscription.as_ref(), d.resource_group.as_ref(), &path)?;
                    self.names.add($kind, &id, &path)?;
                }
            };
        }
        names!(doc.vnets, "vnets", Kind::VirtualNetwork);
        names!(doc.nsgs, "nsgs", Kind::NetworkSecurityGroup);
        names!(doc.route_tables, "routeTables", Kind::RouteTable);
        names!(doc.public_ips, "publicIps", Kind::PublicIpAddress);
        names!(doc.gateways, "gateways", Kind::VirtualNetworkGateway);
        names!(doc.sites, "sites", Kind::LocalNetworkGateway);
        names!(doc.vms, "vms", Kind::VirtualMachine);
        names!(doc.nics, "nics", Kind::NetworkInterface);
        names!(doc.connections, "connections", Kind::Connection);
        // The NICs VMs make or list, and the connections back of VNet-to-VNet ones.
        for (i, vm) in doc.vms.iter().enumerate() {
            let path = root.key("vms").index(i);
            let rg = self.group_id(vm.subscription.as_ref(), vm.resource_group.as_ref(), &path)?;
            let nics: Vec<(String, Option<&String>, Option<&String>, Path)> = match &vm.nics {
                Some(list) => list
                    .iter()
                    .enumerate()
                    .map(|(k, n)| {
                        (n.name.clone(), n.subscription.as_ref(), n.resource_group.as_ref(), path.key("nics").index(k))
                    })
                    .collect(),
                None => vec![(format!("{}-nic", vm.name), None, None, path.clone())],
            };
            for (name, sub, group, npath) in nics {
                let nic_rg =
                    if sub.is_none() && group.is_none() { rg.clone() } else { self.group_id(sub, group, &npath)? };
                let id = nic_rg
                    .top_level(Kind::NetworkInterface, &name)
                    .map_err(|_| CompileError::azure(&npath, vnetlab_engine::errors::invalid_resource_name(&name)))?;
                self.names.add(Kind::NetworkInterface, &id, &npath)?;
            }
        }
        for (i, c) in doc.connections.iter().enumerate() {
            if c.connection_type != ConnectionType::Vnet2Vnet || !c.both_ways {
                continue;
            }
            let path = root.key("connections").index(i);
            let Some(remote) = &c.remote_gateway else { continue };
            let remote_name = remote.rsplit('/').next().unwrap_or(remote);
            let gateway_name = c.gateway.rsplit('/').next().unwrap_or(&c.gateway);
            let name = c.reverse_name.clone().unwrap_or_else(|| format!("{remote_name}-to-{gateway_name}"));
            let id =
                self.resource_id(Kind::Connection, &name, c.subscription.as_ref(), c.resource_group.as_ref(), &path)?;
            self.names.add(Kind::Connection, &id, &path)?;
        }
        for (i, v) in doc.vnets.iter().enumerate() {
            let Some(list) = &v.subnets else { continue };
            let path = root.key("vnets").index(i);
            let vnet = self.resource_id(
                Kind::VirtualNetwork,
                &v.name,
                v.subscription.as_ref(),
                v.resource_group.as_ref(),
                &path,
            )?;
            self.vnets_listing_subnets.insert(vnet.key().to_owned());
            for s in list {
                if let Ok(sid) = vnet.child(Kind::Subnet, &s.name) {
                    self.subnets.insert(sid.key().to_owned());
                }
            }
        }
        Ok(())
    }

    /// Resolves a reference to a resource of `kind`: a name declared in the file, `group/name`,
    /// or a full resource id; a bare name not in the file may name a resource already in the lab
    /// (in the file's default resource group).
    fn resolve(&self, kind: Kind, text: &str, path: &Path) -> Result<ResourceId> {
        let what = kind_words(kind);
        if text.starts_with('/') {
            let id = parse_resource_id(text, &path.to_string()).map_err(|e| CompileError::azure(path, e))?;
            if id.kind() != Some(kind) {
                return Err(CompileError::new(path, format!("{text} is not the id of a {what}")));
            }
            return Ok(id);
        }
        if let Some((group, name)) = text.split_once('/') {
            let rg = self.group_id(None, Some(&group.to_owned()), path)?;
            let id = rg.top_level(kind, name).map_err(|e| CompileError::new(path, e.to_string()))?;
            if !self.lenient && !self.names.contains(kind, &id) && !self.state.exists(&id) {
                return Err(CompileError::new(
                    path,
                    format!("no {what} '{name}' is declared in this file or exists in resource group '{group}'"),
                ));
            }
            return Ok(id);
        }
        match self.names.get(kind, text) {
            [(id, _)] => Ok(id.clone()),
            [] => {
                let guess = self
                    .group_id(None, None, path)?
                    .top_level(kind, text)
                    .ok()
                    .filter(|id| self.lenient || self.state.exists(id));
                guess.ok_or_else(|| {
                    CompileError::new(
                        path,
                        format!(
                            "no {what} named '{text}' is declared in this file or exists in resource group '{}'",
                            self.doc.resource_group.as_deref().unwrap_or(DEFAULT_RESOURCE_GROUP)
                        ),
                    )
                })
            }
            many => {
                let groups: Vec<String> =
                    many.iter().map(|(id, _)| id.resource_group_name().unwrap_or_default().to_owned()).collect();
                Err(CompileError::new(
                    path,
                    format!(
                        "'{text}' is ambiguous: {what}s of that name are declared in resource groups {}; write 'group/{text}'",
                        groups.join(", ")
                    ),
                ))
            }
        }
    }

    /// `vnet/subnet`, `group/vnet/subnet` or a subnet's full id.
    fn resolve_subnet(&self, text: &str, path: &Path) -> Result<ResourceId> {
        if text.starts_with('/') {
            let id = parse_resource_id(text, &path.to_string()).map_err(|e| CompileError::azure(path, e))?;
            if id.kind() != Some(Kind::Subnet) {
                return Err(CompileError::new(path, format!("{text} is not the id of a subnet")));
            }
            return Ok(id);
        }
        let Some((vnet, subnet)) = text.rsplit_once('/') else {
            return Err(CompileError::new(path, format!("'{text}' does not name a subnet: write 'vnet/subnet'")));
        };
        let vnet = self.resolve(Kind::VirtualNetwork, vnet, path)?;
        let id = vnet.child(Kind::Subnet, subnet).map_err(|e| CompileError::new(path, e.to_string()))?;
        // The file's own subnet list is what the VNet will have; otherwise the lab's.
        let known = if self.vnets_listing_subnets.contains(vnet.key()) {
            self.subnets.contains(id.key())
        } else {
            self.state.exists(&id)
        };
        if !known && !self.lenient {
            return Err(CompileError::new(
                path,
                format!("virtual network '{}' has no subnet '{subnet}' in this file or in the lab", vnet.name()),
            ));
        }
        Ok(id)
    }

    fn location_of(&self, id: &ResourceId) -> Option<Location> {
        self.state.resource(id).and_then(|r| r.location())
    }

    fn groups(&mut self) -> Result<()> {
        let root = Path::root();
        let doc = self.doc;
        for (i, g) in doc.resource_groups.iter().enumerate() {
            let path = root.key("resourceGroups").index(i);
            let id = self.group_id(g.subscription.as_ref(), Some(&g.name), &path)?;
            let location = match &g.location {
                Some(l) => {
                    parse_location(l, Kind::ResourceGroup).map_err(|e| CompileError::azure(&path.key("location"), e))?
                }
                None => self.location_of(&id).unwrap_or(self.default_location),
            };
            if self.groups.insert(id.key().to_owned(), location).is_some() {
                return Err(CompileError::new(&path, format!("resource group '{}' is declared twice", g.name)));
            }
            self.out.push(Operation::ResourceGroupPut { id: id.clone(), location, tags: g.tags.clone() }, &path);
            self.out.declare(&id, Kind::ResourceGroup, &path);
        }
        // Groups the resources use without declaring them: made in the default location, unless the
        // lab already has them.
        let mut implicit: Vec<(ResourceId, Path)> = Vec::new();
        macro_rules! used {
            ($list:expr, $key:literal) => {
                for (i, d) in $list.iter().enumerate() {
                    let path = root.key($key).index(i);
                    implicit.push((self.group_id(d.subscription.as_ref(), d.resource_group.as_ref(), &path)?, path));
                }
            };
        }
        used!(doc.vnets, "vnets");
        used!(doc.nsgs, "nsgs");
        used!(doc.route_tables, "routeTables");
        used!(doc.public_ips, "publicIps");
        used!(doc.vms, "vms");
        used!(doc.nics, "nics");
        for (i, vm) in doc.vms.iter().enumerate() {
            for (k, n) in vm.nics.iter().flatten().enumerate() {
                if n.subscription.is_some() || n.resource_group.is_some() {
                    let path = root.key("vms").index(i).key("nics").index(k);
                    implicit.push((self.group_id(n.subscription.as_ref(), n.resource_group.as_ref(), &path)?, path));
                }
            }
        }
        used!(doc.gateways, "gateways");
        used!(doc.sites, "sites");
        used!(doc.connections, "connections");
        for (id, path) in implicit {
            if self.groups.contains_key(id.key()) {
                continue;
            }
            let existing = self.location_of(&id);
            self.groups.insert(id.key().to_owned(), existing.unwrap_or(self.default_location));
            if existing.is_none() {
                self.out.push(
                    Operation::ResourceGroupPut {
                        id: id.clone(),
                        location: self.default_location,
                        tags: Default::default(),
                    },
                    &path,
                );
            }
            self.out.declare_implicit(&id, Kind::ResourceGroup, &path);
        }
        Ok(())
    }

    fn nsgs(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, n) in self.doc.nsgs.iter().enumerate() {
            let path = root.key("nsgs").index(i);
            let (id, location) = self.placed(
                Kind::NetworkSecurityGroup,
                &n.name,
                n.subscription.as_ref(),
                n.resource_group.as_ref(),
                n.location.as_ref(),
                &path,
            )?;
            let mut rules = Vec::new();
            for (j, r) in n.rules.iter().enumerate() {
                let rpath = path.key("rules").index(j);
                let rule_id = id.child(Kind::SecurityRule, &r.name).map_err(|_| {
                    CompileError::azure(&rpath.key("name"), vnetlab_engine::errors::invalid_resource_name(&r.name))
                })?;
                rules.push((r.name.clone(), rule_spec(r, &rule_id, &rpath)?));
            }
            self.out.push(
                Operation::NetworkSecurityGroupPut {
                    id: id.clone(),
                    spec: NetworkSecurityGroupSpec {
                        location,
                        tags: n.tags.clone(),
                        flush_connection: false,
                        security_rules: Some(rules),
                    },
                },
                &path,
            );
            self.out.declare(&id, Kind::NetworkSecurityGroup, &path);
        }
        Ok(())
    }

    fn route_tables(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, t) in self.doc.route_tables.iter().enumerate() {
            let path = root.key("routeTables").index(i);
            let (id, location) = self.placed(
                Kind::RouteTable,
                &t.name,
                t.subscription.as_ref(),
                t.resource_group.as_ref(),
                t.location.as_ref(),
                &path,
            )?;
            let mut routes = Vec::new();
            for (j, r) in t.routes.iter().enumerate() {
                let rpath = path.key("routes").index(j);
                let address_prefix: RoutePrefix =
                    r.address_prefix.parse().map_err(|e: String| CompileError::new(&rpath.key("addressPrefix"), e))?;
                routes.push((
                    r.name.clone(),
                    RouteSpec {
                        address_prefix,
                        next_hop_type: r.next_hop_type,
                        next_hop_ip_address: r.next_hop_ip_address,
                        next_hop_ip_addresses: r.next_hop_ip_addresses.clone(),
                    },
                ));
            }
            self.out.push(
                Operation::RouteTablePut {
                    id: id.clone(),
                    spec: RouteTableSpec {
                        location,
                        tags: t.tags.clone(),
                        disable_bgp_route_propagation: t.disable_bgp_route_propagation,
                        routes: Some(routes),
                    },
                },
                &path,
            );
            self.out.declare(&id, Kind::RouteTable, &path);
        }
        Ok(())
    }

    fn public_ip_op(&mut self, id: &ResourceId, location: Location, decl: Option<&PublicIpDecl>, path: &Path) {
        let spec = PublicIpAddressSpec {
            location,
            tags: decl.map(|d| d.tags.clone()).unwrap_or_default(),
            sku: decl.and_then(|d| d.sku),
            tier: None,
            allocation_method: decl.and_then(|d| d.allocation),
            version: decl.and_then(|d| d.version).unwrap_or(IpVersion::IPv4),
            zones: decl.map(|d| d.zones.clone()).unwrap_or_default(),
            idle_timeout_in_minutes: None,
        };
        self.out.push(Operation::PublicIpAddressPut { id: id.clone(), spec }, path);
        self.out.declare(id, Kind::PublicIpAddress, path);
    }

    fn public_ips(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, p) in self.doc.public_ips.iter().enumerate() {
            let path = root.key("publicIps").index(i);
            let (id, location) = self.placed(
                Kind::PublicIpAddress,
                &p.name,
                p.subscription.as_ref(),
                p.resource_group.as_ref(),
                p.location.as_ref(),
                &path,
            )?;
            self.public_ip_op(&id, location, Some(p), &path);
        }
        Ok(())
    }

    fn prefixes(&self, list: &[String], resource: &ResourceId, path: &Path) -> Result<Vec<Prefix>> {
        list.iter()
            .enumerate()
            .map(|(k, s)| parse_prefix(s, resource).map_err(|e| CompileError::azure(&path.index(k), e)))
            .collect()
    }

    fn vnets(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, v) in self.doc.vnets.iter().enumerate() {
            let path = root.key("vnets").index(i);
            let (id, location) = self.placed(
                Kind::VirtualNetwork,
                &v.name,
                v.subscription.as_ref(),
                v.resource_group.as_ref(),
                v.location.as_ref(),
                &path,
            )?;
            let address_prefixes = self.prefixes(&v.address_space, &id, &path.key("addressSpace"))?;
            let subnets = match &v.subnets {
                None => None,
                Some(list) => {
                    let mut out = Vec::new();
                    for (j, s) in list.iter().enumerate() {
                        let spath = path.key("subnets").index(j);
                        let sid = id.child(Kind::Subnet, &s.name).map_err(|_| {
                            CompileError::azure(
                                &spath.key("name"),
                                vnetlab_engine::errors::invalid_resource_name(&s.name),
                            )
                        })?;
                        let address_prefix = match &s.address_prefix {
                            Some(p) => Some(
                                parse_prefix(p, &sid)
                                    .map_err(|e| CompileError::azure(&spath.key("addressPrefix"), e))?,
                            ),
                            None => None,
                        };
                        let address_prefixes = match &s.address_prefixes {
                            Some(list) => Some(self.prefixes(list, &sid, &spath.key("addressPrefixes"))?),
                            None => None,
                        };
                        let nsg = s
                            .nsg
                            .as_ref()
                            .map(|n| self.resolve(Kind::NetworkSecurityGroup, n, &spath.key("nsg")))
                            .transpose()?;
                        let route_table = s
                            .route_table
                            .as_ref()
                            .map(|n| self.resolve(Kind::RouteTable, n, &spath.key("routeTable")))
                            .transpose()?;
                        out.push((
                            s.name.clone(),
                            SubnetSpec {
                                address_prefix,
                                address_prefixes,
                                network_security_group: nsg,
                                route_table,
                                ..SubnetSpec::default()
                            },
                        ));
                        self.out.declare(&sid, Kind::Subnet, &spath);
                    }
                    Some(out)
                }
            };
            let spec = VirtualNetworkSpec {
                dns_servers: v.dns_servers.clone(),
                bgp_community: v.bgp_community.clone(),
                tags: v.tags.clone(),
                subnets,
                ..VirtualNetworkSpec::new(location, address_prefixes)
            };
            // Subnets the file drops may still hold NICs the file moves elsewhere: keep them until
            // the NICs and VMs are applied, then put the final set (when they fit beside the new).
            let dropped = self.dropped_subnets(&id, &spec);
            match dropped {
                Some(kept) if !kept.is_empty() => {
                    let mut first = spec.clone();
                    if let Some(list) = &mut first.subnets {
                        list.extend(kept);
                    }
                    self.out.push(Operation::VirtualNetworkPut { id: id.clone(), spec: first }, &path);
                    self.deferred.push((Operation::VirtualNetworkPut { id: id.clone(), spec }, path.clone()));
                }
                _ => self.out.push(Operation::VirtualNetworkPut { id: id.clone(), spec }, &path),
            }
            self.out.declare(&id, Kind::VirtualNetwork, &path);
        }
        Ok(())
    }

    /// The lab's subnets of `vnet` that `spec` no longer lists, as specs, when they can stay beside
    /// the listed ones for a while (none of them overlaps a listed subnet).
    fn dropped_subnets(&self, vnet: &ResourceId, spec: &VirtualNetworkSpec) -> Option<Vec<(String, SubnetSpec)>> {
        let list = spec.subnets.as_ref()?;
        let listed: Vec<Prefix> = list
            .iter()
            .flat_map(|(_, s)| s.address_prefix.into_iter().chain(s.address_prefixes.iter().flatten().copied()))
            .collect();
        let mut kept = Vec::new();
        for old in self.state.subnets_of(vnet) {
            if list.iter().any(|(n, _)| vnetlab_model::same_name(n, &old.name)) {
                continue;
            }
            if old.prefixes().iter().any(|p| listed.iter().any(|q| q.overlaps(p))) {
                return None;
            }
            let p = &old.properties;
            kept.push((
                old.name.clone(),
                SubnetSpec {
                    address_prefix: p.address_prefix,
                    address_prefixes: p.address_prefixes.clone(),
                    network_security_group: p.network_security_group.as_ref().map(|r| r.id.clone()),
                    route_table: p.route_table.as_ref().map(|r| r.id.clone()),
                    private_endpoint_network_policies: Some(p.private_endpoint_network_policies.clone()),
                    private_link_service_network_policies: Some(p.private_link_service_network_policies.clone()),
                    default_outbound_access: p.default_outbound_access,
                },
            ));
        }
        Some(kept)
    }

    fn sites(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, s) in self.doc.sites.iter().enumerate() {
            let path = root.key("sites").index(i);
            let (id, location) = self.placed(
                Kind::LocalNetworkGateway,
                &s.name,
                s.subscription.as_ref(),
                s.resource_group.as_ref(),
                s.location.as_ref(),
                &path,
            )?;
            let address_prefixes = self.prefixes(&s.address_space, &id, &path.key("addressSpace"))?;
            let spec = LocalNetworkGatewaySpec {
                location,
                tags: s.tags.clone(),
                address_prefixes,
                gateway_ip_address: s.gateway_ip,
                fqdn: s.fqdn.clone(),
                bgp_asn: s.bgp.as_ref().map(|b| b.asn.unwrap_or(65010)),
                bgp_peering_address: s.bgp.as_ref().and_then(|b| b.peering_address.clone()),
            };
            self.out.push(Operation::LocalNetworkGatewayPut { id: id.clone(), spec }, &path);
            self.out.declare(&id, Kind::LocalNetworkGateway, &path);
        }
        Ok(())
    }

    /// The public IP a NIC or VM asks for: made (`true`) or declared (a name).
    fn nic_public_ip(
        &mut self,
        choice: &Option<PublicIpChoice>,
        owner: &str,
        rg: &ResourceId,
        location: Location,
        path: &Path,
    ) -> Result<Option<ResourceId>> {
        match choice {
            None | Some(PublicIpChoice::Create(false)) => Ok(None),
            Some(PublicIpChoice::Create(true)) => {
                let name = format!("{owner}-ip");
                let id =
                    rg.top_level(Kind::PublicIpAddress, &name).map_err(|e| CompileError::new(path, e.to_string()))?;
                self.public_ip_op(&id, location, None, path);
                Ok(Some(id))
            }
            Some(PublicIpChoice::Named(name)) => Ok(Some(self.resolve(Kind::PublicIpAddress, name, path)?)),
        }
    }

    /// A NIC's operation. It lives in its own group when it names one, else in `default_rg`, and
    /// in its own location, else its group's (or `default_location` for the VM's group). A public
    /// IP it makes is named after `ip_owner`.
    fn nic_op(
        &mut self,
        n: &NicDecl,
        default_rg: &ResourceId,
        default_location: Location,
        ip_owner: &str,
        path: &Path,
    ) -> Result<ResourceId> {
        let own_group = n.subscription.is_some() || n.resource_group.is_some();
        let rg = match own_group {
            false => default_rg.clone(),
            true => self.group_id(n.subscription.as_ref(), n.resource_group.as_ref(), path)?,
        };
        let id = rg.top_level(Kind::NetworkInterface, &n.name).map_err(|_| {
            CompileError::azure(&path.key("name"), vnetlab_engine::errors::invalid_resource_name(&n.name))
        })?;
        let location = match (&n.location, own_group) {
            (Some(_), _) | (None, true) => self.location(n.location.as_ref(), &rg, Kind::NetworkInterface, path)?,
            (None, false) => default_location,
        };
        let subnet = self.resolve_subnet(&n.subnet, &path.key("subnet"))?;
        let public_ip = self.nic_public_ip(&n.public_ip, ip_owner, &rg, location, &path.key("publicIp"))?;
        let mut ip_configurations = vec![NicIpConfigurationSpec {
            name: "ipconfig1".into(),
            subnet: subnet.clone(),
            private_ip_address: n.private_ip,
            allocation_method: None,
            version: None,
            primary: Some(true),
            public_ip_address: public_ip,
        }];
        for (k, extra) in n.extra_ips.iter().enumerate() {
            let epath = path.key("extraIps").index(k);
            let subnet = match &extra.subnet {
                Some(s) => self.resolve_subnet(s, &epath.key("subnet"))?,
                None => subnet.clone(),
            };
            ip_configurations.push(NicIpConfigurationSpec {
                name: extra.name.clone(),
                subnet,
                private_ip_address: extra.private_ip,
                allocation_method: None,
                version: extra.version,
                primary: Some(false),
                public_ip_address: None,
            });
        }
        let nsg = n.nsg.as_ref().map(|x| self.resolve(Kind::NetworkSecurityGroup, x, &path.key("nsg"))).transpose()?;
        let spec = NetworkInterfaceSpec {
            location,
            tags: n.tags.clone(),
            ip_configurations,
            network_security_group: nsg,
            enable_ip_forwarding: n.ip_forwarding,
            enable_accelerated_networking: false,
            dns_servers: Vec::new(),
        };
        self.out.push(Operation::NetworkInterfacePut { id: id.clone(), spec }, path);
        self.out.declare(&id, Kind::NetworkInterface, path);
        Ok(id)
    }

    fn nics_and_vms(&mut self) -> Result<()> {
        let root = Path::root();
        let doc = self.doc;
        for (i, n) in doc.nics.iter().enumerate() {
            let path = root.key("nics").index(i);
            let rg = self.group_id(n.subscription.as_ref(), n.resource_group.as_ref(), &path)?;
            let location = self.location(n.location.as_ref(), &rg, Kind::NetworkInterface, &path)?;
            self.nic_op(n, &rg, location, &n.name, &path)?;
        }
        for (i, vm) in doc.vms.iter().enumerate() {
            let path = root.key("vms").index(i);
            let (id, location) = self.placed(
                Kind::VirtualMachine,
                &vm.name,
                vm.subscription.as_ref(),
                vm.resource_group.as_ref(),
                vm.location.as_ref(),
                &path,
            )?;
            let rg = id.resource_group_id().unwrap_or_else(|| id.clone());
            let nics: Vec<(ResourceId, Option<bool>)> = match (&vm.subnet, &vm.nics) {
                (Some(subnet), None) => {
                    let nic = NicDecl {
                        name: format!("{}-nic", vm.name),
                        subscription: None,
                        resource_group: None,
                        location: None,
                        tags: vm.tags.clone(),
                        subnet: subnet.clone(),
                        private_ip: vm.private_ip,
                        public_ip: vm.public_ip.clone(),
                        ip_forwarding: vm.ip_forwarding,
                        nsg: vm.nsg.clone(),
                        primary: None,
                        extra_ips: Vec::new(),
                    };
                    // The VM's own fields describe its NIC, so errors point at them.
                    vec![(self.nic_op(&nic, &rg, location, &vm.name, &path)?, Some(true))]
                }
                (None, Some(list)) if !list.is_empty() => {
                    if vm.private_ip.is_some() || vm.public_ip.is_some() || vm.ip_forwarding || vm.nsg.is_some() {
                        return Err(CompileError::new(
                            &path,
                            "privateIp, publicIp, ipForwarding and nsg go on each of `nics` when a VM lists its NICs",
                        ));
                    }
                    // The first NIC is primary unless the file marks another.
                    let marked = list.iter().any(|n| n.primary == Some(true));
                    let mut out = Vec::new();
                    for (k, n) in list.iter().enumerate() {
                        let primary = n.primary.unwrap_or(!marked && k == 0);
                        out.push((self.nic_op(n, &rg, location, &n.name, &path.key("nics").index(k))?, Some(primary)));
                    }
                    out
                }
                _ => {
                    return Err(CompileError::new(&path, "a VM needs `subnet` (one NIC) or `nics`, not both"));
                }
            };
            let spec = VirtualMachineSpec {
                location,
                tags: vm.tags.clone(),
                vm_size: vm.size.clone().unwrap_or_else(|| "Standard_B1s".into()),
                network_interfaces: nics,
                storage_profile: serde_json::Value::Null,
                os_profile: serde_json::json!({ "computerName": vm.name, "adminUsername": "azureuser" }),
            };
            self.out.push(Operation::VirtualMachinePut { id: id.clone(), spec }, &path);
            self.out.declare(&id, Kind::VirtualMachine, &path);
        }
        Ok(())
    }

    fn gateways(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, g) in self.doc.gateways.iter().enumerate() {
            let path = root.key("gateways").index(i);
            let (id, location) = self.placed(
                Kind::VirtualNetworkGateway,
                &g.name,
                g.subscription.as_ref(),
                g.resource_group.as_ref(),
                g.location.as_ref(),
                &path,
            )?;
            let rg = id.resource_group_id().unwrap_or_else(|| id.clone());
            let vnet = self.resolve(Kind::VirtualNetwork, &g.vnet, &path.key("vnet"))?;
            let subnet = vnet
                .child(Kind::Subnet, vnetlab_model::GATEWAY_SUBNET)
                .map_err(|e| CompileError::new(&path, e.to_string()))?;
            let instances = if g.active_active { 2 } else { 1 };
            let mut pips = Vec::new();
            for k in 0..instances {
                let pip = match g.public_ips.get(k) {
                    Some(name) => self.resolve(Kind::PublicIpAddress, name, &path.key("publicIps").index(k))?,
                    None => {
                        let name = if k == 0 { format!("{}-pip", g.name) } else { format!("{}-pip{}", g.name, k + 1) };
                        let pip = rg
                            .top_level(Kind::PublicIpAddress, &name)
                            .map_err(|e| CompileError::new(&path, e.to_string()))?;
                        self.public_ip_op(&pip, location, None, &path);
                        pip
                    }
                };
                pips.push(pip);
            }
            let ip_configurations = pips
                .into_iter()
                .enumerate()
                .map(|(k, pip)| GatewayIpConfigurationSpec {
                    name: format!("vnetGatewayConfig{k}"),
                    subnet: subnet.clone(),
                    public_ip_address: Some(pip),
                })
                .collect();
            let sku = g.sku.unwrap_or(match g.gateway_type {
                GatewayType::ExpressRoute => GatewaySkuName::ErGw1AZ,
                _ => GatewaySkuName::VpnGw1,
            });
            let spec = VirtualNetworkGatewaySpec {
                location,
                tags: g.tags.clone(),
                gateway_type: g.gateway_type,
                vpn_type: g.vpn_type,
                sku,
                vpn_gateway_generation: None,
                active_active: g.active_active,
                enable_bgp: g.bgp.is_some(),
                asn: g.bgp.as_ref().and_then(|b| b.asn),
                enable_private_ip_address: false,
                ip_configurations,
            };
            self.out.push(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec }, &path);
            self.out.declare(&id, Kind::VirtualNetworkGateway, &path);
        }
        Ok(())
    }

    fn peerings(&mut self) -> Result<()> {
        let root = Path::root();
        let mut links: Vec<Link> = Vec::new();
        let mut seen: HashMap<(String, String), Path> = HashMap::new();
        let mut claim = |from: &ResourceId, to: &ResourceId, path: &Path| -> Result<()> {
            let key = (from.key().to_owned(), to.key().to_owned());
            if let Some(first) = seen.get(&key) {
                return Err(CompileError::new(
                    path,
                    format!(
                        "a peering from '{}' to '{}' is already declared at {first}; a VNet has one link per remote",
                        from.name(),
                        to.name()
                    ),
                ));
            }
            seen.insert(key, path.clone());
            Ok(())
        };
        for (i, p) in self.doc.peerings.iter().enumerate() {
            let path = root.key("peerings").index(i);
            let from = self.resolve(Kind::VirtualNetwork, &p.vnet, &path.key("vnet"))?;
            let to = self.resolve(Kind::VirtualNetwork, &p.remote, &path.key("remote"))?;
            claim(&from, &to, &path)?;
            let forward = LinkOptions {
                name: p.name.clone(),
                allow_virtual_network_access: p.allow_virtual_network_access,
                allow_forwarded_traffic: p.allow_forwarded_traffic,
                allow_gateway_transit: p.allow_gateway_transit,
                use_remote_gateways: p.use_remote_gateways,
                local_subnets: p.local_subnets.clone(),
                remote_subnets: p.remote_subnets.clone(),
                only_ipv6: p.only_ipv6,
            };
            links.push(Link::new(&from, &to, &forward, None, path.clone()));
            if from == to {
                // A VNet peered with itself: the engine answers with Azure's error (1.3).
                continue;
            }
            if p.one_way {
                if p.reverse.is_some() {
                    return Err(CompileError::new(&path.key("reverse"), "a one-way peering has no reverse link"));
                }
                continue;
            }
            claim(&to, &from, &path)?;
            let reverse = p.reverse.as_ref();
            let default_reverse = LinkOptions {
                local_subnets: p.remote_subnets.clone(),
                remote_subnets: p.local_subnets.clone(),
                only_ipv6: p.only_ipv6,
                ..LinkOptions::default()
            };
            // An error on the way back points at `reverse:` when the file has one, else at the entry.
            let reverse_path = if reverse.is_some() { path.key("reverse") } else { path.clone() };
            links.push(Link::new(&to, &from, reverse.unwrap_or(&default_reverse), None, reverse_path));
        }
        for (i, c) in self.doc.connectivity.iter().enumerate() {
            let path = root.key("connectivity").index(i);
            match c {
                ConnectivityDecl::HubAndSpoke(h) => {
                    let name = h.name.clone().unwrap_or_else(|| h.hub.clone());
                    let origin = format!("{HUB_AND_SPOKE_ORIGIN_PREFIX}:{name}");
                    let hub = self.resolve(Kind::VirtualNetwork, &h.hub, &path.key("hub"))?;
                    let mut spokes = Vec::new();
                    for (k, s) in h.spokes.iter().enumerate() {
                        let spath = path.key("spokes").index(k);
                        let spoke = self.resolve(Kind::VirtualNetwork, s, &spath)?;
                        if spoke == hub || spokes.contains(&spoke) {
                            return Err(CompileError::new(&spath, format!("'{s}' is the hub or listed twice")));
                        }
                        spokes.push(spoke);
                    }
                    for (k, spoke) in spokes.iter().enumerate() {
                        let spath = path.key("spokes").index(k);
                        claim(&hub, spoke, &spath)?;
                        claim(spoke, &hub, &spath)?;
                        let to_spoke = LinkOptions {
                            allow_gateway_transit: h.use_hub_as_gateway,
                            allow_forwarded_traffic: h.allow_forwarded_traffic,
                            ..LinkOptions::default()
                        };
                        let to_hub = LinkOptions {
                            use_remote_gateways: h.use_hub_as_gateway,
                            allow_forwarded_traffic: h.allow_forwarded_traffic,
                            ..LinkOptions::default()
                        };
                        links.push(Link::new(&hub, spoke, &to_spoke, Some(origin.clone()), spath.clone()));
                        links.push(Link::new(spoke, &hub, &to_hub, Some(origin.clone()), spath));
                    }
                    if h.direct_connectivity {
                        // TODO-fidelity: Azure realizes direct connectivity as a connected group (no
                        // peering resources); vnetlab makes the spokes' peerings.
                        for (a, x) in spokes.iter().enumerate() {
                            for y in &spokes[a + 1..] {
                                for (from, to) in [(x, y), (y, x)] {
                                    claim(from, to, &path.key("directConnectivity"))?;
                                    let options = LinkOptions {
                                        allow_forwarded_traffic: h.allow_forwarded_traffic,
                                        ..LinkOptions::default()
                                    };
                                    links.push(Link::new(
                                        from,
                                        to,
                                        &options,
                                        Some(origin.clone()),
                                        path.key("directConnectivity"),
                                    ));
                                }
                            }
                        }
                    }
                }
                ConnectivityDecl::Mesh(m) => {
                    let name = m.name.clone().unwrap_or_else(|| format!("mesh{i}"));
                    // TODO-fidelity: an Azure mesh is a connected group; vnetlab makes peerings.
                    let origin = format!("connectivity:mesh:{name}");
                    let mut members = Vec::new();
                    for (k, v) in m.vnets.iter().enumerate() {
                        let vpath = path.key("vnets").index(k);
                        let member = self.resolve(Kind::VirtualNetwork, v, &vpath)?;
                        if members.contains(&member) {
                            return Err(CompileError::new(&vpath, format!("'{v}' is listed twice")));
                        }
                        members.push(member);
                    }
                    for (a, x) in members.iter().enumerate() {
                        for y in &members[a + 1..] {
                            for (from, to) in [(x, y), (y, x)] {
                                claim(from, to, &path.key("vnets"))?;
                                links.push(Link::new(
                                    from,
                                    to,
                                    &LinkOptions::default(),
                                    Some(origin.clone()),
                                    path.key("vnets"),
                                ));
                            }
                        }
                    }
                }
            }
        }
        // Links that use remote gateways go last, after the links that allow transit.
        links.sort_by_key(|l| l.spec.use_remote_gateways);
        for link in links {
            let id = link.from.child(Kind::VirtualNetworkPeering, &link.name).map_err(|_| {
                CompileError::azure(&link.path, vnetlab_engine::errors::invalid_resource_name(&link.name))
            })?;
            self.out.push(
                Operation::PeeringPut { id: id.clone(), spec: link.spec, sync_remote_address_space: false },
                &link.path,
            );
            self.out.declare(&id, Kind::VirtualNetworkPeering, &link.path);
        }
        Ok(())
    }

    fn connections(&mut self) -> Result<()> {
        let root = Path::root();
        for (i, c) in self.doc.connections.iter().enumerate() {
            let path = root.key("connections").index(i);
            let id =
                self.resource_id(Kind::Connection, &c.name, c.subscription.as_ref(), c.resource_group.as_ref(), &path)?;
            let rg = id.resource_group_id().unwrap_or_else(|| id.clone());
            let gateway = self.resolve(Kind::VirtualNetworkGateway, &c.gateway, &path.key("gateway"))?;
            let location = match &c.location {
                Some(l) => {
                    parse_location(l, Kind::Connection).map_err(|e| CompileError::azure(&path.key("location"), e))?
                }
                None => self.gateway_location(&gateway).unwrap_or(self.location(None, &rg, Kind::Connection, &path)?),
            };
            let mut spec = ConnectionSpec {
                location,
                tags: c.tags.clone(),
                connection_type: c.connection_type,
                virtual_network_gateway1: gateway.clone(),
                virtual_network_gateway2: None,
                local_network_gateway2: None,
                peer: None,
                shared_key: c.shared_key.clone(),
                connection_protocol: None,
                connection_mode: None,
                routing_weight: c.routing_weight,
                enable_bgp: c.enable_bgp,
                use_policy_based_traffic_selectors: false,
            };
            let need = |field: &Option<String>, key: &str, what: &str| -> Result<String> {
                field.clone().ok_or_else(|| {
                    CompileError::new(
                        &path.key(key),
                        format!("{} connections need `{key}` ({what})", c.connection_type),
                    )
                })
            };
            match c.connection_type {
                ConnectionType::IPsec => {
                    let site = need(&c.site, "site", "the on-premises site")?;
                    spec.local_network_gateway2 =
                        Some(self.resolve(Kind::LocalNetworkGateway, &site, &path.key("site"))?);
                }
                ConnectionType::Vnet2Vnet => {
                    let remote = need(&c.remote_gateway, "remoteGateway", "the other VNet's gateway")?;
                    spec.virtual_network_gateway2 =
                        Some(self.resolve(Kind::VirtualNetworkGateway, &remote, &path.key("remoteGateway"))?);
                }
                ConnectionType::ExpressRoute => {
                    let circuit = need(&c.circuit, "circuit", "the ExpressRoute circuit's id")?;
                    spec.peer = Some(
                        parse_resource_id(&circuit, "circuit")
                            .map_err(|e| CompileError::azure(&path.key("circuit"), e))?,
                    );
                }
                ConnectionType::VPNClient => {}
            }
            let back = match (&spec.virtual_network_gateway2, c.both_ways) {
                (Some(remote), true) => {
                    let name =
                        c.reverse_name.clone().unwrap_or_else(|| format!("{}-to-{}", remote.name(), gateway.name()));
                    let back_id =
                        rg.top_level(Kind::Connection, &name).map_err(|e| CompileError::new(&path, e.to_string()))?;
                    let back_spec = ConnectionSpec {
                        location: self.gateway_location(remote).unwrap_or(location),
                        virtual_network_gateway1: remote.clone(),
                        virtual_network_gateway2: Some(gateway.clone()),
                        ..spec.clone()
                    };
                    Some((back_id, back_spec))
                }
                _ => None,
            };
            self.out.push(Operation::ConnectionPut { id: id.clone(), spec }, &path);
            self.out.declare(&id, Kind::Connection, &path);
            if let Some((back_id, back_spec)) = back {
                self.out.push(Operation::ConnectionPut { id: back_id.clone(), spec: back_spec }, &path);
                self.out.declare(&back_id, Kind::Connection, &path);
            }
        }
        Ok(())
    }

    /// A gateway's location, declared in this file or in the lab.
    fn gateway_location(&self, gateway: &ResourceId) -> Option<Location> {
        let declared = self.out.ops.iter().find_map(|op| match op {
            Operation::VirtualNetworkGatewayPut { id, spec } if id == gateway => Some(spec.location),
            _ => None,
        });
        declared.or_else(|| self.location_of(gateway))
    }
}

struct Link {
    from: ResourceId,
    name: String,
    spec: PeeringSpec,
    path: Path,
}

impl Link {
    fn new(from: &ResourceId, to: &ResourceId, o: &LinkOptions, origin: Option<String>, path: Path) -> Link {
        let mut spec = PeeringSpec::new(to.clone());
        spec.allow_virtual_network_access = o.allow_virtual_network_access.unwrap_or(true);
        spec.allow_forwarded_traffic = o.allow_forwarded_traffic;
        spec.allow_gateway_transit = o.allow_gateway_transit;
        spec.use_remote_gateways = o.use_remote_gateways;
        spec.enable_only_ipv6_peering = o.only_ipv6;
        if o.local_subnets.is_some() || o.remote_subnets.is_some() {
            spec.peer_complete_vnets = false;
            spec.local_subnet_names = o.local_subnets.clone().unwrap_or_default();
            spec.remote_subnet_names = o.remote_subnets.clone().unwrap_or_default();
        }
        spec.origin = origin;
        Link {
            from: from.clone(),
            name: o.name.clone().unwrap_or_else(|| format!("{}-to-{}", from.name(), to.name())),
            spec,
            path,
        }
    }
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::VirtualNetwork => "virtual network",
        Kind::NetworkSecurityGroup => "network security group",
        Kind::RouteTable => "route table",
        Kind::PublicIpAddress => "public IP address",
        Kind::VirtualNetworkGateway => "virtual network gateway",
        Kind::LocalNetworkGateway => "site (local network gateway)",
        Kind::NetworkInterface => "network interface",
        Kind::VirtualMachine => "virtual machine",
        _ => kind.short_name(),
    }
}

fn one_or_many(v: &Option<OneOrMany>) -> (Option<String>, Vec<String>) {
    match v {
        None => (Some("*".into()), Vec::new()),
        Some(OneOrMany::One(s)) => (Some(s.clone()), Vec::new()),
        Some(OneOrMany::Many(list)) => (None, list.clone()),
    }
}

fn rule_spec(r: &RuleDecl, rule_id: &ResourceId, path: &Path) -> Result<SecurityRuleSpec> {
    let ports = |v: &Option<OneOrMany>, key: &str| -> Result<(Option<PortRange>, Vec<PortRange>)> {
        let (one, many) = one_or_many(v);
        let parse =
            |s: &str| vnetlab_engine::input::parse_port_range(s).map_err(|e| CompileError::azure(&path.key(key), e));
        Ok((one.as_deref().map(parse).transpose()?, many.iter().map(|s| parse(s)).collect::<Result<_>>()?))
    };
    let addresses = |v: &Option<OneOrMany>, key: &str| -> Result<(Option<AddressMatch>, Vec<AddressMatch>)> {
        let (one, many) = one_or_many(v);
        let parse = |s: &str| {
            vnetlab_engine::input::parse_address_match(s, rule_id).map_err(|e| CompileError::azure(&path.key(key), e))
        };
        Ok((one.as_deref().map(parse).transpose()?, many.iter().map(|s| parse(s)).collect::<Result<_>>()?))
    };
    let (source_port_range, source_port_ranges) = ports(&r.source_ports, "sourcePorts")?;
    let (destination_port_range, destination_port_ranges) = ports(&r.destination_ports, "destinationPorts")?;
    let (source_address_prefix, source_address_prefixes) = addresses(&r.source, "source")?;
    let (destination_address_prefix, destination_address_prefixes) = addresses(&r.destination, "destination")?;
    Ok(SecurityRuleSpec {
        description: r.description.clone(),
        protocol: r.protocol,
        source_port_range,
        source_port_ranges,
        destination_port_range,
        destination_port_ranges,
        source_address_prefix,
        source_address_prefixes,
        destination_address_prefix,
        destination_address_prefixes,
        access: r.access,
        priority: r.priority,
        direction: r.direction,
    })
}

/// The operations that remove what the file declares, in teardown order. A resource group goes
/// when nothing else is left in it and the file declares it, or made it (its origin is `origin`);
/// a subscription or tenant the file declares goes when everything in it goes.
pub fn teardown(compiled: &Compiled, state: &State, origin: &str) -> Vec<(Operation, Path)> {
    let declared: std::collections::HashSet<&str> = compiled.declared.iter().map(|d| d.id.key()).collect();
    let mut ids: Vec<(ResourceId, Kind)> = compiled
        .declared
        .iter()
        .filter(|d| {
            d.kind.parent().is_none() && !matches!(d.kind, Kind::ResourceGroup | Kind::Subscription | Kind::Tenant)
        })
        .filter(|d| state.exists(&d.id))
        .map(|d| (d.id.clone(), d.kind))
        .collect();
    // Children the file declares whose parent stays (a peering to a VNet of another file).
    for d in compiled.declared.iter().filter(|d| d.kind == Kind::VirtualNetworkPeering) {
        let parent_declared = d.id.parent().is_some_and(|p| declared.contains(p.key()));
        if !parent_declared && state.exists(&d.id) {
            ids.push((d.id.clone(), d.kind));
        }
    }
    let path_of =
        |id: &ResourceId| compiled.declared.iter().find(|d| &d.id == id).map(|d| d.path.clone()).unwrap_or_default();
    let mut ops: Vec<(Operation, Path)> = vnetlab_engine::teardown_order(ids)
        .into_iter()
        .filter_map(|(id, kind)| vnetlab_engine::delete_operation(&id, kind).map(|op| (op, path_of(&id))))
        .collect();
    let mut groups_going: std::collections::HashSet<String> = std::collections::HashSet::new();
    for d in compiled.declared.iter().filter(|d| d.kind == Kind::ResourceGroup) {
        let Some(group) = state.get(&d.id) else { continue };
        let ours = !d.implicit || group.meta.origin.as_deref() == Some(origin);
        let only_ours = state
            .descendants(&d.id)
            .iter()
            .filter(|s| s.kind().parent().is_none())
            .all(|s| declared.contains(s.id().key()));
        if ours && only_ours {
            groups_going.insert(d.id.key().to_owned());
            ops.push((Operation::ResourceGroupDelete { id: d.id.clone() }, d.path.clone()));
        }
    }
    let mut subscriptions_going: std::collections::HashSet<String> = std::collections::HashSet::new();
    for d in compiled.declared.iter().filter(|d| d.kind == Kind::Subscription && state.exists(&d.id)) {
        let empty_after =
            state.children_of(&d.id, Kind::ResourceGroup).iter().all(|g| groups_going.contains(g.id().key()));
        if empty_after && let Some(sub) = d.id.subscription_id() {
            subscriptions_going.insert(d.id.key().to_owned());
            ops.push((Operation::SubscriptionDelete { subscription_id: sub.to_owned() }, d.path.clone()));
        }
    }
    for d in compiled.declared.iter().filter(|d| d.kind == Kind::Tenant && state.exists(&d.id)) {
        let Some(t) = d.id.tenant_id() else { continue };
        let empty_after = state
            .all_of(Kind::Subscription)
            .iter()
            .filter(|s| s.resource.as_subscription().is_some_and(|s| s.tenant_id.eq_ignore_ascii_case(t)))
            .all(|s| subscriptions_going.contains(s.id().key()));
        if empty_after {
            ops.push((Operation::TenantDelete { tenant_id: t.to_owned() }, d.path.clone()));
        }
    }
    ops
}
