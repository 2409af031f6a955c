//! Which endpoint a path names. ARM compares path segments case-insensitively, and clients do vary
//! the case (`resourcegroups` from the resource client, `resourceGroups` from the network one), so
//! routing is a case-insensitive match over decoded segments rather than a table of literal paths.
//! Ids built here use ARM's canonical spelling of the fixed segments and the caller's names.

use vnetlab_model::{AzureError, Kind, ResourceId};

use crate::errors;

/// The namespaces vnetlab serves, with their types.
pub const NAMESPACES: [&str; 2] = ["Microsoft.Network", "Microsoft.Compute"];

/// Actions on a resource: paths under it that are not child resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET virtualNetworks/{vnet}/checkIPAddressAvailability?ipAddress=`
    CheckIpAddressAvailability,
    /// `GET virtualNetworks/{vnet}/usages`
    Usages,
    /// `GET|PUT connections/{c}/sharedkey`
    SharedKey,
    /// `POST connections/{c}/sharedkey/reset`
    SharedKeyReset,
    /// `GET virtualNetworkGateways/{gw}/connections`
    GatewayConnections,
    /// `POST networkInterfaces/{nic}/effectiveRouteTable`
    EffectiveRouteTable,
    /// `POST networkInterfaces/{nic}/effectiveNetworkSecurityGroups`
    EffectiveNetworkSecurityGroups,
    /// `POST networkWatchers/{nw}/nextHop`
    NextHop,
    /// `POST networkWatchers/{nw}/ipFlowVerify`
    IpFlowVerify,
    /// `POST networkWatchers/{nw}/connectivityCheck`
    ConnectivityCheck,
}

/// Read-only parts of a resource with paths of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `networkSecurityGroups/{nsg}/defaultSecurityRules[/{name}]`
    DefaultSecurityRules,
    /// `networkInterfaces/{nic}/ipConfigurations[/{name}]`
    NicIpConfigurations,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/metadata/endpoints`: the cloud's endpoints, for `az cloud register`.
    MetadataEndpoints,
    /// The App Service managed-identity token endpoint (`IDENTITY_ENDPOINT`).
    ManagedIdentityToken,
    /// The VM instance-metadata token endpoint.
    ImdsToken,
    /// `/{tenant}/v2.0/.well-known/openid-configuration` (and the v1 and ADFS forms).
    OpenIdConfiguration {
        authority: String,
    },
    /// `/{tenant}/oauth2/v2.0/token` (and the v1 and ADFS forms): service-principal logins.
    AadToken {
        authority: String,
        v2: bool,
    },
    /// The OpenAPI document of this server.
    OpenApi,
    /// `/portal/{what}`: what the portal's topology page asks (the picture, a trace, the
    /// reachability matrix), answered for the signed-in caller.
    Portal {
        what: String,
    },
    /// `/v1.0/...`: the Microsoft Graph calls az makes about principals.
    Graph {
        path: Vec<String>,
    },
    Tenants,
    Subscriptions,
    Subscription {
        subscription: String,
    },
    ResourceGroups {
        subscription: String,
    },
    ResourceGroup {
        id: ResourceId,
    },
    /// `/subscriptions/{sub}/operationresults/{id}`: a resource-group delete in progress.
    GroupOperationResult {
        subscription: String,
        operation: String,
    },
    /// `/subscriptions/{sub}/providers/{ns}/locations/{loc}/operations|operationResults/{id}`.
    ProviderOperation {
        subscription: String,
        namespace: String,
        operation: String,
        result: bool,
    },
    ListInSubscription {
        subscription: String,
        kind: Kind,
    },
    ListInGroup {
        group: ResourceId,
        kind: Kind,
    },
    Resource {
        id: ResourceId,
        kind: Kind,
    },
    Children {
        parent: ResourceId,
        kind: Kind,
    },
    Part {
        resource: ResourceId,
        part: Part,
        name: Option<String>,
    },
    Action {
        resource: ResourceId,
        action: Action,
    },
    /// `.../resourceGroups/{rg}/providers/Microsoft.Resources/deployments[/{name}[/operations]]`.
    /// `.../operationStatuses/{id}` is the status of the deployment's run.
    Deployment {
        group: ResourceId,
        name: Option<String>,
        operations: bool,
        status: bool,
    },
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]`; `scope` is `""` at
    /// the root.
    RoleAssignments {
        scope: String,
        name: Option<String>,
    },
    /// `{scope}/providers/Microsoft.Authorization/roleDefinitions[/{name}]`.
    RoleDefinitions {
        scope: String,
        name: Option<String>,
    },
    /// A path ARM would refuse with this error (an unknown type or namespace).
    Refused(AzureError),
    NotFound,
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Routes decoded path segments.
pub fn route(segments: &[String], api_version: Option<&str>) -> Route {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let Some(route) = authorization_route(&s) {
        return route;
    }
    match s.as_slice() {
        [m, e] if eq(m, "metadata") && eq(e, "endpoints") => Route::MetadataEndpoints,
        [m, i, o, t] if eq(m, "metadata") && eq(i, "identity") && eq(o, "oauth2") && eq(t, "token") => Route::ImdsToken,
        [m, t] if eq(m, "msi") && eq(t, "token") => Route::ManagedIdentityToken,
        [o] if eq(o, "openapi.json") => Route::OpenApi,
        [p, what] if eq(p, "portal") => Route::Portal { what: what.to_ascii_lowercase() },
        [v, path @ ..] if eq(v, "v1.0") && !path.is_empty() => {
            Route::Graph { path: path.iter().map(|p| (*p).to_owned()).collect() }
        }
        [t] if eq(t, "tenants") => Route::Tenants,
        [a, v, w, o] if eq(v, "v2.0") && eq(w, ".well-known") && eq(o, "openid-configuration") => {
            Route::OpenIdConfiguration { authority: (*a).to_owned() }
        }
        [a, w, o] if eq(w, ".well-known") && eq(o, "openid-configuration") => {
            Route::OpenIdConfiguration { authority: (*a).to_owned() }
        }
        [a, o, v, t] if eq(o, "oauth2") && eq(v, "v2.0") && eq(t, "token") => {
            Route::AadToken { authority: (*a).to_owned(), v2: true }
        }
        [a, o, t] if eq(o, "oauth2") && eq(t, "token") => Route::AadToken { authority: (*a).to_owned(), v2: false },
        [first, rest @ ..] if eq(first, "subscriptions") => subscription_route(rest, api_version),
        _ => Route::NotFound,
    }
}

/// Microsoft.Authorization's collections, under whatever scope precedes them.
fn authorization_route(s: &[&str]) -> Option<Route> {
    let at = s.windows(2).rposition(|w| eq(w[0], "providers") && eq(w[1], "Microsoft.Authorization"))?;
    let scope = if at == 0 { String::new() } else { format!("/{}", s[..at].join("/")) };
    let (collection, name) = match &s[at + 2..] {
        [c] => (*c, None),
        [c, n] => (*c, Some((*n).to_owned())),
        _ => return None,
    };
    if eq(collection, "roleAssignments") {
        Some(Route::RoleAssignments { scope, name })
    } else if eq(collection, "roleDefinitions") {
        Some(Route::RoleDefinitions { scope, name })
    } else {
        None
    }
}

fn subscription_route(s: &[&str], api_version: Option<&str>) -> Route {
    let Some((sub, rest)) = s.split_first() else {
        return Route::Subscriptions;
    };
    let subscription = (*sub).to_owned();
    match rest {
        [] => Route::Subscription { subscription },
        [g] if eq(g, "resourcegroups") => Route::ResourceGroups { subscription },
        [o, id] if eq(o, "operationresults") => {
            Route::GroupOperationResult { subscription, operation: (*id).to_owned() }
        }
        [g, name, tail @ ..] if eq(g, "resourcegroups") => {
            let Ok(group) = ResourceId::resource_group(&subscription, name) else {
                return Route::NotFound;
            };
            match tail {
                [] => Route::ResourceGroup { id: group },
                [p, ns, path @ ..] if eq(p, "providers") && !path.is_empty() => {
                    provider_route(&subscription, Some(&group), ns, path, api_version)
                }
                _ => Route::NotFound,
            }
        }
        [p, ns, l, _location, o, id] if eq(p, "providers") && eq(l, "locations") => {
            let result = eq(o, "operationResults");
            if !(result || eq(o, "operations")) {
                return Route::NotFound;
            }
            match namespace(ns) {
                Some(namespace) => Route::ProviderOperation {
                    subscription,
                    namespace: namespace.to_owned(),
                    operation: (*id).to_owned(),
                    result,
                },
                None => Route::Refused(errors::invalid_resource_namespace(ns)),
            }
        }
        [p, ns, path @ ..] if eq(p, "providers") && !path.is_empty() => {
            provider_route(&subscription, None, ns, path, api_version)
        }
        _ => Route::NotFound,
    }
}

/// The canonical spelling of a namespace vnetlab serves.
fn namespace(ns: &str) -> Option<&'static str> {
    NAMESPACES.into_iter().find(|n| eq(n, ns))
}

/// The top-level kind `ns/type` names.
fn top_kind(ns: &str, ty: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| {
        k.parent().is_none()
            && k.arm_type().split_once('/').is_some_and(|(n, t)| eq(n, ns) && eq(t, ty))
            && !matches!(k, Kind::Tenant | Kind::Subscription | Kind::ResourceGroup)
    })
}

/// The child kind of `parent` whose collection is `segment`.
fn child_kind(parent: Kind, segment: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.parent() == Some(parent) && k.child_segment().is_some_and(|c| eq(c, segment)))
}

/// The types vnetlab serves in a namespace, for error messages.
pub fn served_types(ns: &str) -> Vec<&'static str> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.parent().is_none())
        .filter_map(|k| k.arm_type().split_once('/'))
        .filter(|(n, _)| eq(n, ns))
        .map(|(_, t)| t)
        .collect()
}

fn provider_route(
    subscription: &str,
    group: Option<&ResourceId>,
    ns: &str,
    path: &[&str],
    api_version: Option<&str>,
) -> Route {
    if eq(ns, "Microsoft.Resources")
        && let Some(group) = group
        && eq(path[0], "deployments")
    {
        return match path {
            [_] => Route::Deployment { group: group.clone(), name: None, operations: false, status: false },
            [_, name] => Route::Deployment {
                group: group.clone(),
                name: Some((*name).to_owned()),
                operations: false,
                status: false,
            },
            [_, name, o] if eq(o, "operations") => Route::Deployment {
                group: group.clone(),
                name: Some((*name).to_owned()),
                operations: true,
                status: false,
            },
            [_, name, o, _] if eq(o, "operationStatuses") => Route::Deployment {
                group: group.clone(),
                name: Some((*name).to_owned()),
                operations: false,
                status: true,
            },
            _ => Route::NotFound,
        };
    }
    let Some(canonical_ns) = namespace(ns) else {
        return Route::Refused(errors::invalid_resource_namespace(ns));
    };
    let ty = path[0];
    let Some(kind) = top_kind(canonical_ns, ty) else {
        return Route::Refused(errors::invalid_resource_type(
            ty,
            canonical_ns,
            api_version.unwrap_or_default(),
            &served_types(canonical_ns),
        ));
    };
    let Some(group) = group else {
        return match path {
            [_] => Route::ListInSubscription { subscription: subscription.to_owned(), kind },
            _ => Route::NotFound,
        };
    };
    let top = |name: &str| group.top_level(kind, name).ok();
    match path {
        [_] => Route::ListInGroup { group: group.clone(), kind },
        [_, name] => top(name).map_or(Route::NotFound, |id| Route::Resource { id, kind }),
        [_, name, segment, rest @ ..] => {
            let Some(resource) = top(name) else {
                return Route::NotFound;
            };
            nested_route(resource, kind, segment, rest, canonical_ns)
        }
        [] => Route::NotFound,
    }
}

fn nested_route(resource: ResourceId, kind: Kind, segment: &str, rest: &[&str], ns: &str) -> Route {
    if let Some(child) = child_kind(kind, segment) {
        return match rest {
            [] => Route::Children { parent: resource, kind: child },
            [name] => match resource.child(child, name) {
                Ok(id) => Route::Resource { id, kind: child },
                Err(_) => Route::NotFound,
            },
            _ => Route::NotFound,
        };
    }
    let part = match kind {
        Kind::NetworkSecurityGroup if eq(segment, "defaultSecurityRules") => Some(Part::DefaultSecurityRules),
        Kind::NetworkInterface if eq(segment, "ipConfigurations") => Some(Part::NicIpConfigurations),
        _ => None,
    };
    if let Some(part) = part {
        return match rest {
            [] => Route::Part { resource, part, name: None },
            [name] => Route::Part { resource, part, name: Some((*name).to_owned()) },
            _ => Route::NotFound,
        };
    }
    let action = match (kind, rest) {
        (Kind::VirtualNetwork, []) if eq(segment, "checkIPAddressAvailability") => {
            Some(Action::CheckIpAddressAvailability)
        }
        (Kind::VirtualNetwork, []) if eq(segment, "usages") => Some(Action::Usages),
        (Kind::Connection, []) if eq(segment, "sharedkey") => Some(Action::SharedKey),
        (Kind::Connection, [r]) if eq(segment, "sharedkey") && eq(r, "reset") => Some(Action::SharedKeyReset),
        (Kind::VirtualNetworkGateway, []) if eq(segment, "connections") => Some(Action::GatewayConnections),
        (Kind::NetworkInterface, []) if eq(segment, "effectiveRouteTable") => Some(Action::EffectiveRouteTable),
        (Kind::NetworkInterface, []) if eq(segment, "effectiveNetworkSecurityGroups") => {
            Some(Action::EffectiveNetworkSecurityGroups)
        }
        (Kind::NetworkWatcher, []) if eq(segment, "nextHop") => Some(Action::NextHop),
        (Kind::NetworkWatcher, []) if eq(segment, "ipFlowVerify") => Some(Action::IpFlowVerify),
        (Kind::NetworkWatcher, []) if eq(segment, "connectivityCheck") => Some(Action::ConnectivityCheck),
        _ => None,
    };
    match action {
        Some(action) => Route::Action { resource, action },
        None if rest.is_empty() => {
            // An unknown child type: ARM names it with its parent's type.
            let type_path =
                format!("{}/{segment}", kind.arm_type().split_once('/').map(|(_, t)| t).unwrap_or_default());
            Route::Refused(errors::invalid_resource_type(&type_path, ns, "", &served_types(ns)))
        }
        None => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Route {
        let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        route(&segments, Some("2024-01-01"))
    }

    #[test]
    fn arm_paths_route_case_insensitively() {
        match r("/subscriptions/s/resourcegroups/RG/providers/microsoft.network/VIRTUALNETWORKS/v1") {
            Route::Resource { id, kind } => {
                assert_eq!(kind, Kind::VirtualNetwork);
                assert_eq!(
                    id.as_str(),
                    "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v1"
                );
            }
            other => panic!("{other:?}"),
        }
        match r(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/virtualnetworkpeerings/p",
        ) {
            Route::Resource { id, kind } => {
                assert_eq!(kind, Kind::VirtualNetworkPeering);
                assert!(id.as_str().ends_with("/virtualNetworks/v/virtualNetworkPeerings/p"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r("/subscriptions/s/resourcegroups"), Route::ResourceGroups { .. }));
        assert!(matches!(r("/subscriptions"), Route::Subscriptions));
        assert!(matches!(
            r("/subscriptions/s/providers/Microsoft.Network/virtualNetworks"),
            Route::ListInSubscription { kind: Kind::VirtualNetwork, .. }
        ));
        assert!(matches!(
            r("/subscriptions/s/providers/Microsoft.Network/locations/westus/operations/abc"),
            Route::ProviderOperation { result: false, .. }
        ));
        assert!(matches!(
            r(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/CheckIPAddressAvailability"
            ),
            Route::Action { action: Action::CheckIpAddressAvailability, .. }
        ));
        assert!(matches!(
            r(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n/defaultSecurityRules/x"
            ),
            Route::Part { part: Part::DefaultSecurityRules, name: Some(_), .. }
        ));
        assert!(matches!(r("/tenant-x/v2.0/.well-known/openid-configuration"), Route::OpenIdConfiguration { .. }));
        assert!(matches!(r("/adfs/oauth2/token"), Route::AadToken { v2: false, .. }));
        assert!(matches!(r("/nothing/here"), Route::NotFound));
    }

    #[test]
    fn unknown_types_and_namespaces_are_refused() {
        match r("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/fooBars/x") {
            Route::Refused(e) => {
                assert_eq!((e.status, e.code.as_str()), (404, "InvalidResourceType"));
                assert!(e.message.starts_with("The resource type 'fooBars' could not be found in the namespace 'Microsoft.Network' for api version '2024-01-01'."));
            }
            other => panic!("{other:?}"),
        }
        match r("/subscriptions/s/resourceGroups/rg/providers/Contoso.Foo/bars/x") {
            Route::Refused(e) => assert_eq!(e.message, "The resource namespace 'Contoso.Foo' is invalid."),
            other => panic!("{other:?}"),
        }
    }
}
