//! Output as the az CLI prints it: `-o table` in az's layout, `-o json` as ARM JSON, `-o yaml`.

use clap::ValueEnum;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Whether output may be coloured: standard output is a terminal and NO_COLOR is not set.
pub fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints ARM bodies in the chosen format; `table` is the az layout of the rows `to_rows` gives.
pub fn print(format: Format, value: &Value, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml => print!("{}", yaml_serde::to_string(value)?),
        Format::Table => print!("{}", table()),
    }
    Ok(())
}

/// An ARM body as az's AAZ commands output it: `properties` lifted into the object, and
/// `resourceGroup` added from the id.
pub fn flatten(body: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Value::Object(object) = body else { return out };
    for (k, v) in object {
        match (k.as_str(), v) {
            ("properties", Value::Object(props)) => {
                for (pk, pv) in props {
                    out.insert(pk.clone(), pv.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(group) = object.get("id").and_then(Value::as_str).and_then(resource_group_of) {
        out.insert("resourceGroup".into(), Value::String(group));
    }
    out
}

/// az takes the resource group from ids of nine or more segments.
fn resource_group_of(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.split('/').collect();
    (parts.len() >= 9 && parts[3].eq_ignore_ascii_case("resourcegroups")).then(|| parts[4].to_owned())
}

/// A cell as Python's `str()` prints it, stripped.
fn cell(v: &Value) -> Option<String> {
    match v {
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// az's default table: per row, the scalar values (sorted by key when `sort_keys`), headers with
/// the first letter upper-cased, `id`, `type` and `etag` skipped; columns in order of first
/// appearance; two spaces between columns; lines right-stripped.
pub fn table(rows: &[Map<String, Value>], sort_keys: bool) -> String {
    let mut headers: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<(String, String)>> = Vec::new();
    for row in rows {
        let mut keys: Vec<&String> = row.keys().collect();
        if sort_keys {
            keys.sort();
        }
        let mut entry = Vec::new();
        for k in keys {
            if ["id", "type", "etag"].contains(&k.as_str()) {
                continue;
            }
            let Some(text) = cell(&row[k]) else { continue };
            let mut chars = k.chars();
            let header = match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
            if !headers.contains(&header) {
                headers.push(header.clone());
            }
            entry.push((header, text));
        }
        cells.push(entry);
    }
    if headers.is_empty() {
        return "\n".into();
    }
    let value_of = |row: &Vec<(String, String)>, h: &str| {
        row.iter().rev().find(|(k, _)| k == h).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let widths: Vec<usize> = headers
        .iter()
        .map(|h| {
            let widest = cells.iter().map(|r| value_of(r, h).chars().count()).max().unwrap_or(0);
            (h.chars().count() + 2).max(widest)
        })
        .collect();
    let line = |values: Vec<String>| {
        values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.clone()), widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ")];
    for row in &cells {
        out.push(line(headers.iter().map(|h| value_of(row, h)).collect()));
    }
    out.join("\n") + "\n"
}

/// The default table of ARM bodies, as az prints a command with no table format of its own.
pub fn default_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies.iter().map(flatten).collect();
    table(&rows, true)
}

fn s(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(Value::Null)
}

fn joined(v: Option<&Value>, sep: &str) -> Value {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Value::String(if items.is_empty() { " ".into() } else { items.join(sep) })
}

fn row(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `az network vnet list -o table`.
pub fn vnet_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let f = flatten(b);
            let subnets = f.get("subnets").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            let prefixes = f.get("addressSpace").and_then(|a| a.get("addressPrefixes"));
            let dns = f.get("dhcpOptions").and_then(|d| d.get("dnsServers"));
            row(vec![
                ("Name", s(f.get("name"))),
                ("ResourceGroup", s(f.get("resourceGroup"))),
                ("Location", s(f.get("location"))),
                ("NumSubnets", Value::from(subnets)),
                ("Prefixes", joined(prefixes, ", ")),
                ("DnsServers", joined(dns, ", ")),
                ("DDOSProtection", f.get("enableDdosProtection").cloned().unwrap_or(Value::String(" ".into()))),
                ("VMProtection", f.get("enableVmProtection").cloned().unwrap_or(Value::String(" ".into()))),
            ])
        })
        .collect();
    table(&rows, false)
}

/// `az group list -o table`.
pub fn group_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            row(vec![
                ("Name", s(b.get("name"))),
                ("Location", s(b.get("location"))),
                ("Status", s(b.get("properties").and_then(|p| p.get("provisioningState")))),
            ])
        })
        .collect();
    table(&rows, false)
}

/// `az network nsg rule list -o table`.
pub fn nsg_rule_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let f = flatten(b);
            let one_or_many = |one: &str, many: &str| match f.get(one) {
                Some(v) if !v.is_null() => v.clone(),
                _ => joined(f.get(many), " "),
            };
            let asg = |k: &str| match f.get(k).and_then(Value::as_array) {
                Some(a) if !a.is_empty() => Value::String(" ".into()),
                _ => Value::String("None".into()),
            };
            row(vec![
                ("Name", s(f.get("name"))),
                ("ResourceGroup", s(f.get("resourceGroup"))),
                ("Priority", s(f.get("priority"))),
                ("SourcePortRanges", one_or_many("sourcePortRange", "sourcePortRanges")),
                ("SourceAddressPrefixes", one_or_many("sourceAddressPrefix", "sourceAddressPrefixes")),
                ("SourceASG", asg("sourceApplicationSecurityGroups")),
                ("Access", s(f.get("access"))),
                ("Protocol", s(f.get("protocol"))),
                ("Direction", s(f.get("direction"))),
                ("DestinationPortRanges", one_or_many("destinationPortRange", "destinationPortRanges")),
                ("DestinationAddressPrefixes", one_or_many("destinationAddressPrefix", "destinationAddressPrefixes")),
                ("DestinationASG", asg("destinationApplicationSecurityGroups")),
            ])
        })
        .collect();
    table(&rows, false)
}

/// `az network public-ip list -o table` (az's address-version and allocation columns never show,
/// their query names do not match the output's keys).
pub fn public_ip_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let f = flatten(b);
            let zones: String = f
                .get("zones")
                .and_then(Value::as_array)
                .map(|z| z.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            row(vec![
                ("Name", s(f.get("name"))),
                ("ResourceGroup", s(f.get("resourceGroup"))),
                ("Location", s(f.get("location"))),
                ("Zones", Value::String(if zones.is_empty() { " ".into() } else { zones })),
                ("Address", f.get("ipAddress").cloned().unwrap_or(Value::String(" ".into()))),
                ("IdleTimeoutInMinutes", s(f.get("idleTimeoutInMinutes"))),
                ("ProvisioningState", s(f.get("provisioningState"))),
            ])
        })
        .collect();
    table(&rows, false)
}

/// `az network local-gateway list -o table`.
pub fn local_gateway_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let f = flatten(b);
            let prefixes: Vec<String> = f
                .get("localNetworkAddressSpace")
                .and_then(|a| a.get("addressPrefixes"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let shown = match prefixes.len() {
                0 => " ".to_owned(),
                1 => prefixes[0].clone(),
                _ => format!("{}, ...", prefixes[0]),
            };
            row(vec![
                ("Name", s(f.get("name"))),
                ("Location", s(f.get("location"))),
                ("ResourceGroup", s(f.get("resourceGroup"))),
                ("ProvisioningState", s(f.get("provisioningState"))),
                ("GatewayIpAddress", s(f.get("gatewayIpAddress"))),
                ("AddressPrefixes", Value::String(shown)),
            ])
        })
        .collect();
    table(&rows, false)
}

/// `az vm list -o table`.
pub fn vm_table(bodies: &[Value]) -> String {
    let rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let f = flatten(b);
            row(vec![
                ("Name", s(f.get("name"))),
                ("ResourceGroup", s(f.get("resourceGroup"))),
                ("Location", s(f.get("location"))),
            ])
        })
        .collect();
    table(&rows, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn az_peering_table_byte_for_byte() {
        // The layout az 2.91 printed for this peering (shared/reference/az-cli-against-a-local-arm.md).
        let body = json!({
            "name": "SalesVNet-To-MarketingVNet",
            "id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/SalesVNet/virtualNetworkPeerings/SalesVNet-To-MarketingVNet",
            "etag": "W/\"x\"",
            "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": "9348916f-07c9-4b02-a6ec-36b0df212fbb",
                "peeringState": "Connected",
                "peeringSyncLevel": "FullyInSync",
                "remoteVirtualNetwork": {"id": "/x"},
                "allowVirtualNetworkAccess": true,
                "allowForwardedTraffic": false,
                "allowGatewayTransit": false,
                "useRemoteGateways": false,
                "doNotVerifyRemoteGateways": false,
                "peerCompleteVnets": true,
                "remoteAddressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
                "routeServiceVips": {}
            }
        });
        let expected = "\
AllowForwardedTraffic    AllowGatewayTransit    AllowVirtualNetworkAccess    DoNotVerifyRemoteGateways    Name                        PeerCompleteVnets    PeeringState    PeeringSyncLevel    ProvisioningState    ResourceGroup    ResourceGuid                          UseRemoteGateways
-----------------------  ---------------------  ---------------------------  ---------------------------  --------------------------  -------------------  --------------  ------------------  -------------------  ---------------  ------------------------------------  -------------------
False                    False                  True                         False                        SalesVNet-To-MarketingVNet  True                 Connected       FullyInSync         Succeeded            rg1              9348916f-07c9-4b02-a6ec-36b0df212fbb  False
";
        assert_eq!(default_table(&[body]), expected);
    }

    #[test]
    fn columns_appear_in_order_of_first_appearance_and_blank_cells_trim() {
        let rows = vec![
            row(vec![("a", json!(1)), ("b", json!(2.5)), ("c", Value::Null), ("d", json!(true)), ("e", json!("x"))]),
            row(vec![
                ("a", json!(12345)),
                ("b", json!(0.1)),
                ("c", json!("zz")),
                ("d", json!(false)),
                ("f", json!("new")),
                ("e", json!("")),
            ]),
        ];
        let expected = "\
A      B    D      E    C    F
-----  ---  -----  ---  ---  ---
1      2.5  True   x
12345  0.1  False       zz   new
";
        assert_eq!(table(&rows, true), expected);
        assert_eq!(table(&[], true), "\n");
    }

    #[test]
    fn vnet_table_as_az() {
        let b = json!({"name": "vnet1", "location": "westus",
            "id": "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1",
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16", "10.1.0.0/16"]}, "dhcpOptions": {"dnsServers": []},
                "subnets": [{}], "enableDdosProtection": false}});
        let expected = "\
Name    ResourceGroup    Location    NumSubnets    Prefixes                  DnsServers    DDOSProtection    VMProtection
------  ---------------  ----------  ------------  ------------------------  ------------  ----------------  --------------
vnet1   rg1              westus      1             10.0.0.0/16, 10.1.0.0/16                False
";
        assert_eq!(vnet_table(&[b]), expected);
    }
}
