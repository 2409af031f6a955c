//! Resource ids, parsed once: they compare the way ARM compares them (case-insensitively) and keep the
//! caller's casing for display.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kind::Kind;

/// Why a string is not a resource id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{0}' is not a resource id: it must start with '/subscriptions/' or '/tenants/'")]
    Prefix(String),
    #[error("'{0}' is not a resource id: it has an empty segment")]
    EmptySegment(String),
    #[error(
        "'{0}' is not a resource id: expected /subscriptions/{{id}}/resourceGroups/{{name}}/providers/{{namespace}}/{{type}}/{{name}}"
    )]
    Layout(String),
    #[error("'{name}' cannot be part of a resource id: names may not contain '/' or be empty")]
    Name { name: String },
}

/// Where in the ARM hierarchy an id points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    /// An object of a tenant's directory: `/tenants/{tenant}/{collection}/{name}` (principals and
    /// role assignments).
    Directory,
    Subscription,
    ResourceGroup,
    /// A provider resource; `depth` counts type/name pairs (1 for a VNet, 2 for one of its subnets).
    Resource {
        depth: u8,
    },
}

/// An ARM resource id such as
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}`.
///
/// Equality, ordering and hashing use the lower-cased form, as ARM does; `Display` and serde use the
/// casing the id was created with.
#[derive(Clone)]
pub struct ResourceId {
    raw: Box<str>,
    key: Box<str>,
    scope: Scope,
}

impl ResourceId {
    pub fn parse(s: &str) -> Result<ResourceId, IdError> {
        let Some(rest) = s.strip_prefix('/') else {
            return Err(IdError::Prefix(s.to_owned()));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|seg| seg.is_empty()) {
            return Err(IdError::EmptySegment(s.to_owned()));
        }
        let is = |i: usize, word: &str| segments.get(i).is_some_and(|seg| seg.eq_ignore_ascii_case(word));
        let scope = if is(0, "tenants") {
            match segments.len() {
                2 => Scope::Tenant,
                4 => Scope::Directory,
                _ => return Err(IdError::Layout(s.to_owned())),
            }
        } else if is(0, "subscriptions") {
            match segments.len() {
                2 => Scope::Subscription,
                4 if is(2, "resourceGroups") => Scope::ResourceGroup,
                n if n >= 8 && n % 2 == 0 && is(2, "resourceGroups") && is(4, "providers") => {
                    let depth = (n - 6) / 2;
                    Scope::Resource { depth: u8::try_from(depth).map_err(|_| IdError::Layout(s.to_owned()))? }
                }
                _ => return Err(IdError::Layout(s.to_owned())),
            }
        } else {
            return Err(IdError::Prefix(s.to_owned()));
        };
        Ok(ResourceId { raw: s.into(), key: s.to_lowercase().into(), scope })
    }

    pub fn tenant(tenant_id: &str) -> Result<ResourceId, IdError> {
        check_name(tenant_id)?;
        ResourceId::parse(&format!("/tenants/{tenant_id}"))
    }

    /// An object of `tenant_id`'s directory, in the collection `kind` is kept in.
    pub fn directory(tenant_id: &str, kind: Kind, name: &str) -> Result<ResourceId, IdError> {
        check_name(tenant_id)?;
        check_name(name)?;
        let Some(collection) = kind.directory_collection() else {
            return Err(IdError::Layout(format!("/tenants/{tenant_id}/{}/{name}", kind.arm_type())));
        };
        ResourceId::parse(&format!("/tenants/{tenant_id}/{collection}/{name}"))
    }

    pub fn subscription(subscription_id: &str) -> Result<ResourceId, IdError> {
        check_name(subscription_id)?;
        ResourceId::parse(&format!("/subscriptions/{subscription_id}"))
    }

    pub fn resource_group(subscription_id: &str, name: &str) -> Result<ResourceId, IdError> {
        check_name(subscription_id)?;
        check_name(name)?;
        ResourceId::parse(&format!("/subscriptions/{subscription_id}/resourceGroups/{name}"))
    }

    /// A top-level resource of `kind` in this resource group.
    pub fn top_level(&self, kind: Kind, name: &str) -> Result<ResourceId, IdError> {
        check_name(name)?;
        if self.scope != Scope::ResourceGroup || kind.parent().is_some() {
            return Err(IdError::Layout(format!("{self}/{}/{name}", kind.arm_type())));
        }
        ResourceId::parse(&format!("{}/providers/{}/{name}", self.raw, kind.arm_type()))
    }

    /// A child resource of `kind` under this resource (a subnet under a VNet, a route under a table).
    pub fn child(&self, kind: Kind, name: &str) -> Result<ResourceId, IdError> {
        let Some(segment) = kind.child_segment() else {
            return Err(IdError::Layout(format!("{self}/{}/{name}", kind.arm_type())));
        };
        self.nested(segment, name)
    }

    /// A nested id under this resource, e.g. a NIC's `ipConfigurations/{name}`.
    pub fn nested(&self, segment: &str, name: &str) -> Result<ResourceId, IdError> {
        check_name(name)?;
        check_name(segment)?;
        if !matches!(self.scope, Scope::Resource { .. }) {
            return Err(IdError::Layout(format!("{self}/{segment}/{name}")));
        }
        ResourceId::parse(&format!("{}/{segment}/{name}", self.raw))
    }

    /// The lower-cased form used for comparison and as the store's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.raw[1..].split('/')
    }

    fn segment(&self, i: usize) -> Option<&str> {
        self.segments().nth(i)
    }

    pub fn tenant_id(&self) -> Option<&str> {
        match self.scope {
            Scope::Tenant | Scope::Directory => self.segment(1),
            _ => None,
        }
    }

    pub fn subscription_id(&self) -> Option<&str> {
        match self.scope {
            Scope::Tenant | Scope::Directory => None,
            _ => self.segment(1),
        }
    }

    pub fn resource_group_name(&self) -> Option<&str> {
        match self.scope {
            Scope::ResourceGroup | Scope::Resource { .. } => self.segment(3),
            _ => None,
        }
    }

    /// The id of the resource group holding this resource (or the group itself).
    pub fn resource_group_id(&self) -> Option<ResourceId> {
        match self.scope {
            Scope::ResourceGroup => Some(self.clone()),
            Scope::Resource { .. } => {
                let cut = nth_slash(&self.raw, 4);
                ResourceId::parse(&self.raw[..cut]).ok()
            }
            _ => None,
        }
    }

    /// The id of the subscription holding this resource.
    pub fn subscription_resource_id(&self) -> Option<ResourceId> {
        match self.scope {
            Scope::Tenant | Scope::Directory => None,
            Scope::Subscription => Some(self.clone()),
            _ => ResourceId::parse(&self.raw[..nth_slash(&self.raw, 2)]).ok(),
        }
    }

    /// The resource's own name: the last segment.
    pub fn name(&self) -> &str {
        self.raw.rsplit('/').next().unwrap_or_default()
    }

    /// The resource type as ARM spells it, e.g. `Microsoft.Network/virtualNetworks/subnets`, with the
    /// caller's casing.
    pub fn type_path(&self) -> Option<String> {
        let Scope::Resource { .. } = self.scope else {
            return None;
        };
        let segments: Vec<&str> = self.segments().collect();
        let mut out = segments[5].to_owned();
        for t in segments[6..].iter().step_by(2) {
            out.push('/');
            out.push_str(t);
        }
        Some(out)
    }

    /// The kind of resource this id names, if vnetlab models it.
    pub fn kind(&self) -> Option<Kind> {
        match self.scope {
            Scope::Tenant => Some(Kind::Tenant),
            Scope::Directory => Kind::from_directory_collection(self.segment(2)?),
            Scope::Subscription => Some(Kind::Subscription),
            Scope::ResourceGroup => Some(Kind::ResourceGroup),
            Scope::Resource { .. } => Kind::from_arm_type(&self.type_path()?),
        }
    }

    /// The parent in ARM's hierarchy: a child resource's parent resource, a top-level resource's
    /// resource group, a resource group's subscription.
    pub fn parent(&self) -> Option<ResourceId> {
        match self.scope {
            Scope::Tenant | Scope::Subscription => None,
            Scope::Directory => ResourceId::parse(&self.raw[..nth_slash(&self.raw, 2)]).ok(),
            Scope::ResourceGroup => self.subscription_resource_id(),
            Scope::Resource { depth: 1 } => self.resource_group_id(),
            Scope::Resource { .. } => {
                let cut = self.raw.rfind('/')?;
                let cut = self.raw[..cut].rfind('/')?;
                ResourceId::parse(&self.raw[..cut]).ok()
            }
        }
    }

    /// Whether `self` lies under `ancestor` (strictly).
    pub fn is_under(&self, ancestor: &ResourceId) -> bool {
        self.key.len() > ancestor.key.len()
            && self.key.starts_with(&*ancestor.key)
            && self.key.as_bytes()[ancestor.key.len()] == b'/'
    }
}

/// Whether two resource names are the same name, compared the way resource ids are (keys are
/// lower-cased in full Unicode, so `Äpps` and `äpps` are one resource).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

fn nth_slash(s: &str, n: usize) -> usize {
    s.match_indices('/').nth(n).map(|(i, _)| i).unwrap_or(s.len())
}

fn check_name(name: &str) -> Result<(), IdError> {
    if name.is_empty() || name.contains('/') {
        return Err(IdError::Name { name: name.to_owned() });
    }
    Ok(())
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for ResourceId {}

impl Hash for ResourceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({})", self.raw)
    }
}

impl FromStr for ResourceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceId::parse(s)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        ResourceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VNET: &str = "/subscriptions/sub1/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/SalesVNet";

    #[test]
    fn compares_case_insensitively_and_displays_as_given() {
        let a = ResourceId::parse(VNET).unwrap();
        let b = ResourceId::parse(&VNET.to_lowercase()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), VNET);
        assert_eq!(b.key(), a.key());
        assert_eq!(a.name(), "SalesVNet");
    }

    #[test]
    fn knows_its_place_in_the_hierarchy() {
        let vnet = ResourceId::parse(VNET).unwrap();
        assert_eq!(vnet.kind(), Some(Kind::VirtualNetwork));
        assert_eq!(vnet.subscription_id(), Some("sub1"));
        assert_eq!(vnet.resource_group_name(), Some("RG1"));
        assert_eq!(vnet.parent().unwrap().to_string(), "/subscriptions/sub1/resourceGroups/RG1");
        let subnet = vnet.child(Kind::Subnet, "default").unwrap();
        assert_eq!(subnet.to_string(), format!("{VNET}/subnets/default"));
        assert_eq!(subnet.kind(), Some(Kind::Subnet));
        assert_eq!(subnet.parent().unwrap(), vnet);
        assert!(subnet.is_under(&vnet));
        assert!(!vnet.is_under(&subnet));
        let other = ResourceId::parse(&format!("{VNET}2")).unwrap();
        assert!(!other.is_under(&vnet));
        assert_eq!(subnet.resource_group_id().unwrap().to_string(), "/subscriptions/sub1/resourceGroups/RG1");
        assert_eq!(subnet.subscription_resource_id().unwrap().to_string(), "/subscriptions/sub1");
        let peering = ResourceId::parse(&format!("{VNET}/VIRTUALNETWORKPEERINGS/p1")).unwrap();
        assert_eq!(peering.kind(), Some(Kind::VirtualNetworkPeering));
    }

    #[test]
    fn directory_objects_live_in_their_tenant() {
        let p = ResourceId::directory("t1", Kind::Principal, "oid1").unwrap();
        assert_eq!(p.to_string(), "/tenants/t1/principals/oid1");
        assert_eq!(p.kind(), Some(Kind::Principal));
        assert_eq!(p.tenant_id(), Some("t1"));
        assert_eq!(p.subscription_id(), None);
        assert_eq!(p.parent().unwrap(), ResourceId::tenant("t1").unwrap());
        let a = ResourceId::parse("/tenants/t1/ROLEASSIGNMENTS/g").unwrap();
        assert_eq!(a.kind(), Some(Kind::RoleAssignment));
        assert_eq!(ResourceId::parse("/tenants/t1/widgets/w").unwrap().kind(), None);
        assert!(ResourceId::parse("/tenants/t1/principals").is_err());
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "subscriptions/x",
            "/subscriptions/",
            "/subscriptions//resourceGroups/x",
            "/subscriptions/x/resourceGroups",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/",
            "/subscriptions/x/groups/rg/providers/Microsoft.Network/virtualNetworks/v",
            "/foo/bar",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn builders_refuse_slashes() {
        let rg = ResourceId::resource_group("s", "rg").unwrap();
        assert!(rg.top_level(Kind::VirtualNetwork, "a/b").is_err());
        assert!(rg.top_level(Kind::Subnet, "a").is_err());
        assert!(ResourceId::subscription("").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = ResourceId::parse(&s);
        }

        #[test]
        fn display_round_trips(sub in "[a-z0-9-]{1,12}", rg in "[A-Za-z0-9_.()-]{1,12}", name in "[A-Za-z0-9_.-]{1,12}") {
            let id = ResourceId::resource_group(&sub, &rg).unwrap().top_level(Kind::VirtualNetwork, &name).unwrap();
            let again = ResourceId::parse(&id.to_string()).unwrap();
            proptest::prop_assert_eq!(&again, &id);
            proptest::prop_assert_eq!(again.name(), name.as_str());
        }
    }
}
