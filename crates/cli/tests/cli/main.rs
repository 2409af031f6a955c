//! End-to-end tests of the `vnetlab` binary on a lab in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

struct Lab {
    home: tempfile::TempDir,
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).display().to_string()
}

impl Lab {
    fn new() -> Lab {
        Lab { home: tempfile::tempdir().unwrap() }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::cargo_bin("vnetlab").unwrap().env("VNETLAB_HOME", self.home.path()).args(args).output().unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(out.status.success(), "vnetlab {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns (exit code, stderr).
    #[track_caller]
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.cmd(args);
        assert!(!out.status.success(), "vnetlab {args:?} succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
        (out.status.code().unwrap_or(-1), String::from_utf8(out.stderr).unwrap())
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_example_goes_up_plans_nothing_more_and_comes_down() {
    let lab = Lab::new();
    let empty = ids(&lab.json(&["show"]));
    for name in
        ["sales-marketing.yaml", "hub-and-spoke.yaml", "mesh.yaml", "global-peering.yaml", "connectivity-check.yaml"]
    {
        let file = example(name);
        let planned = lab.ok(&["plan", &file]);
        assert!(planned.contains("to add") && !planned.contains(" 0 to add"), "{planned}");
        let up = lab.ok(&["up", &file]);
        assert!(up.starts_with("Applied "), "{up}");
        let again = lab.ok(&["up", &file]);
        assert!(again.contains("is already applied; nothing changed"), "{again}");
        let plan = lab.ok(&["plan", &file]);
        assert!(
            plan.contains("nothing to change") && plan.contains("Plan: 0 to add, 0 to change, 0 to destroy."),
            "{plan}"
        );
        assert!(lab.ok(&["check"]).contains("every invariant holds"));
    }
    for name in
        ["sales-marketing.yaml", "hub-and-spoke.yaml", "mesh.yaml", "global-peering.yaml", "connectivity-check.yaml"]
    {
        lab.ok(&["down", &example(name)]);
    }
    assert_eq!(ids(&lab.json(&["show"])), empty);
}

#[test]
fn learn_exercise_through_the_peering_commands() {
    let lab = Lab::new();
    let file = lab.write(
        "vnets.yaml",
        "resourceGroup: rg1\nvnets:\n  - {name: SalesVNet, addressSpace: [10.1.0.0/16]}\n  - {name: MarketingVNet, addressSpace: [10.2.0.0/16]}\n",
    );
    lab.ok(&["up", &file]);
    lab.ok(&[
        "vnet",
        "peering",
        "create",
        "--name",
        "SalesVNet-To-MarketingVNet",
        "--remote-vnet",
        "MarketingVNet",
        "--resource-group",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "--allow-vnet-access",
    ]);
    let first = lab.json(&[
        "vnet",
        "peering",
        "show",
        "-g",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "-n",
        "SalesVNet-To-MarketingVNet",
    ]);
    assert_eq!(first["properties"]["peeringState"], "Initiated");
    assert_eq!(first["properties"]["peeringSyncLevel"], "RemoteNotInSync");
    assert_eq!(first["type"], "Microsoft.Network/virtualNetworks/virtualNetworkPeerings");
    assert!(first["etag"].as_str().unwrap().starts_with("W/\""));
    lab.ok(&[
        "vnet",
        "peering",
        "create",
        "--name",
        "MarketingVNet-To-SalesVNet",
        "--remote-vnet",
        "SalesVNet",
        "--resource-group",
        "rg1",
        "--vnet-name",
        "MarketingVNet",
        "--allow-vnet-access",
    ]);
    let table = lab.ok(&[
        "vnet",
        "peering",
        "list",
        "--resource-group",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "--output",
        "table",
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert_eq!(
        lines[0],
        "AllowForwardedTraffic    AllowGatewayTransit    AllowVirtualNetworkAccess    DoNotVerifyRemoteGateways    Name                        PeerCompleteVnets    PeeringState    PeeringSyncLevel    ProvisioningState    ResourceGroup    ResourceGuid                          UseRemoteGateways"
    );
    let guid = first["properties"]["resourceGuid"].as_str().unwrap();
    assert_eq!(
        lines[2],
        format!(
            "False                    False                  True                         False                        SalesVNet-To-MarketingVNet  True                 Connected       FullyInSync         Succeeded            rg1              {guid}  False"
        )
    );
    // update --set, as az.
    let updated = lab.json(&[
        "vnet",
        "peering",
        "update",
        "-g",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "-n",
        "SalesVNet-To-MarketingVNet",
        "--set",
        "allowForwardedTraffic=true",
    ]);
    assert_eq!(updated["properties"]["allowForwardedTraffic"], true);
    assert_eq!(updated["properties"]["peeringState"], "Connected");
    // A second link to the same remote: Azure's error, exit 1, nothing written.
    let before = lab.json(&["show"]);
    let (code, err) = lab.fails(&[
        "vnet",
        "peering",
        "create",
        "-g",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "-n",
        "again",
        "--remote-vnet",
        "MarketingVNet",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("(AnotherPeeringAlreadyReferencesRemoteVnet)"), "{err}");
    assert_eq!(lab.json(&["show"]), before);
    // Delete one side: the other is Disconnected; a missing peering is exit 3, as az.
    lab.ok(&["vnet", "peering", "delete", "-g", "rg1", "--vnet-name", "SalesVNet", "-n", "SalesVNet-To-MarketingVNet"]);
    let other = lab.json(&[
        "vnet",
        "peering",
        "show",
        "-g",
        "rg1",
        "--vnet-name",
        "MarketingVNet",
        "-n",
        "MarketingVNet-To-SalesVNet",
    ]);
    assert_eq!(other["properties"]["peeringState"], "Disconnected");
    let (code, err) = lab.fails(&[
        "vnet",
        "peering",
        "show",
        "-g",
        "rg1",
        "--vnet-name",
        "SalesVNet",
        "-n",
        "SalesVNet-To-MarketingVNet",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("(NotFound) Resource /subscriptions/"), "{err}");
    let (code, err) = lab.fails(&["vnet", "peering", "list", "-g", "nope", "--vnet-name", "SalesVNet"]);
    assert_eq!(code, 3);
    assert!(err.contains("(ResourceGroupNotFound) Resource group 'nope' could not be found."), "{err}");
}

#[test]
fn address_space_change_and_sync() {
    let lab = Lab::new();
    let text = |extra: &str| {
        format!(
            "resourceGroup: rg\nvnets:\n  - {{name: vnet1, addressSpace: [10.1.0.0/16{extra}]}}\n  - {{name: vnet2, addressSpace: [10.2.0.0/16]}}\npeerings:\n  - {{vnet: vnet1, remote: vnet2}}\n"
        )
    };
    lab.ok(&["up", &lab.write("v1.yaml", &text(""))]);
    let plan = lab.ok(&["plan", &lab.write("v2.yaml", &text(", 10.11.0.0/16"))]);
    assert!(plan.contains("properties.addressSpace.addressPrefixes"), "{plan}");
    assert!(plan.contains("properties.peeringSyncLevel: \"FullyInSync\" -> \"LocalNotInSync\""), "{plan}");
    lab.ok(&["up", &lab.write("v2.yaml", &text(", 10.11.0.0/16"))]);
    let level = |vnet: &str, name: &str| {
        lab.json(&["vnet", "peering", "show", "-g", "rg", "--vnet-name", vnet, "-n", name])["properties"]["peeringSyncLevel"].clone()
    };
    assert_eq!(level("vnet2", "vnet2-to-vnet1"), "LocalNotInSync");
    assert_eq!(level("vnet1", "vnet1-to-vnet2"), "RemoteNotInSync");
    let synced = lab.json(&["vnet", "peering", "sync", "-g", "rg", "--vnet-name", "vnet2", "-n", "vnet2-to-vnet1"]);
    assert_eq!(
        synced["properties"]["remoteAddressSpace"]["addressPrefixes"],
        serde_json::json!(["10.1.0.0/16", "10.11.0.0/16"])
    );
    assert_eq!(level("vnet2", "vnet2-to-vnet1"), "FullyInSync");
    assert_eq!(level("vnet1", "vnet1-to-vnet2"), "FullyInSync");
}

#[test]
fn bad_files_are_located_and_change_nothing() {
    let lab = Lab::new();
    lab.ok(&["up", &example("sales-marketing.yaml")]);
    let before = lab.json(&["show"]);
    let cases = [
        ("syntax.yaml", "vnets:\n\t- name: a\n", ":2:1: ", "cannot start any token"),
        (
            "field.yaml",
            "vnets:\n  - name: a\n    adressSpace: [10.9.0.0/16]\n",
            ":3:5: ",
            "unknown field `adressSpace`",
        ),
        (
            "cidr.yaml",
            "resourceGroup: rg\nvnets:\n  - name: a\n    addressSpace: [10.9.0.1/16]\n",
            ":4:20: vnets[0].addressSpace[0]: ",
            "(InvalidCIDRNotation)",
        ),
        (
            "ref.yaml",
            "resourceGroup: learn-rg\npeerings:\n  - {vnet: SalesVNet, remote: ResearchVNet}\n",
            ":3:31: peerings[0].remote: ",
            "no virtual network named 'ResearchVNet'",
        ),
        (
            "rule.yaml",
            "resourceGroup: learn-rg\nvnets:\n  - {name: Overlapping, addressSpace: [10.1.0.0/16]}\npeerings:\n  - {vnet: Overlapping, remote: MarketingVNet}\n",
            ":5:5: peerings[0]: ",
            "(VnetAddressSpaceOverlapsWithAlreadyPeeredVnet)",
        ),
    ];
    for (name, text, place, what) in cases {
        let file = lab.write(name, text);
        for command in ["up", "plan"] {
            let (code, err) = lab.fails(&[command, &file]);
            assert_eq!(code, 1, "{name}");
            assert!(err.contains(&format!("{file}{place}")), "{name} {command}: {err}");
            assert!(err.contains(what), "{name} {command}: {err}");
        }
    }
    assert_eq!(lab.json(&["show"]), before);
    let (_, err) = lab.fails(&["up", "/nonexistent.yaml"]);
    assert!(err.contains("cannot read the file"), "{err}");
}

#[test]
fn output_formats() {
    let lab = Lab::new();
    lab.ok(&["up", &example("sales-marketing.yaml")]);
    let yaml = lab.ok(&["show", "vnet", "-o", "yaml"]);
    assert!(yaml.contains("type: Microsoft.Network/virtualNetworks"), "{yaml}");
    let json = lab.json(&["show", "vnet", "-g", "learn-rg"]);
    assert_eq!(json.as_array().unwrap().len(), 2);
    let table = lab.ok(&["vnet", "list"]);
    assert!(table.starts_with("Name           ResourceGroup    Location    NumSubnets    Prefixes"), "{table}");
    let vnet = lab.json(&["vnet", "show", "-g", "learn-rg", "-n", "SalesVNet"]);
    assert_eq!(vnet["properties"]["virtualNetworkPeerings"].as_array().unwrap().len(), 1);
    assert_eq!(vnet["properties"]["subnets"][0]["properties"]["ipConfigurations"].as_array().unwrap().len(), 1);
    let (code, err) = lab.fails(&["show", "gizmo"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown resource type 'gizmo'"), "{err}");
}

#[test]
fn several_processes_share_one_store() {
    let lab = Lab::new();
    let mut text = String::from("resourceGroup: rg\nvnets:\n  - {name: hub, addressSpace: [10.0.0.0/16]}\n");
    for i in 1..=8 {
        text.push_str(&format!("  - {{name: spoke{i}, addressSpace: [10.{i}.0.0/16]}}\n"));
    }
    lab.ok(&["up", &lab.write("vnets.yaml", &text)]);
    let home: &Path = lab.home.path();
    let children: Vec<_> = (1..=8)
        .flat_map(|i| {
            [("hub".to_owned(), format!("spoke{i}")), (format!("spoke{i}"), "hub".to_owned())].into_iter().map(
                move |(from, to)| {
                    std::process::Command::new(assert_cmd::cargo::cargo_bin("vnetlab"))
                        .env("VNETLAB_HOME", home)
                        .args([
                            "vnet",
                            "peering",
                            "create",
                            "-g",
                            "rg",
                            "--vnet-name",
                            &from,
                            "-n",
                            &format!("{from}-to-{to}"),
                            "--remote-vnet",
                            &to,
                            "--allow-vnet-access",
                            "-o",
                            "json",
                        ])
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .unwrap()
                },
            )
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let links = lab.json(&["show", "peering"]);
    assert_eq!(links.as_array().unwrap().len(), 16);
    assert!(links.as_array().unwrap().iter().all(|l| l["properties"]["peeringState"] == "Connected"), "{links:#}");
    assert!(lab.ok(&["check"]).contains("every invariant holds"));
}

fn spawn(home: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("vnetlab"))
        .env("VNETLAB_HOME", home)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn down_removes_everything_even_across_groups() {
    let lab = Lab::new();
    let file = lab.write(
        "cross.yaml",
        "vnets:\n  - {name: net, resourceGroup: a-net-rg, addressSpace: [10.0.0.0/16], subnets: [{name: s, addressPrefix: 10.0.1.0/24}]}\nvms: [{name: vm, resourceGroup: b-vm-rg, subnet: a-net-rg/net/s}]\nsubscriptions: [{id: 22222222-0000-0000-0000-000000000001, name: other}]\n",
    );
    let empty = ids(&lab.json(&["show"]));
    lab.ok(&["up", &file]);
    let out = lab.ok(&["down"]);
    // The lab's principal became Owner of the subscription it made; that assignment goes too.
    assert!(out.starts_with("Removed 8 resources of the lab."), "{out}");
    assert_eq!(ids(&lab.json(&["show"])), empty);
}

#[test]
fn concurrent_updates_of_one_link_keep_both_changes() {
    let lab = Lab::new();
    lab.ok(&["up", &lab.write("pair.yaml", "resourceGroup: rg\nvnets: [{name: hub, addressSpace: [10.0.0.0/16]}, {name: s1, addressSpace: [10.1.0.0/16]}]\npeerings: [{vnet: s1, remote: hub}]\n")]);
    let home = lab.home.path();
    let link = ["vnet", "peering", "update", "-g", "rg", "--vnet-name", "s1", "-n", "s1-to-hub"];
    for _ in 0..8 {
        let reset = [&link[..], &["--allow-forwarded-traffic", "false", "--allow-gateway-transit", "false"]].concat();
        lab.ok(&reset);
        let mut one = spawn(home, &[&link[..], &["--allow-forwarded-traffic"]].concat());
        let mut two = spawn(home, &[&link[..], &["--allow-gateway-transit"]].concat());
        assert!(one.wait().unwrap().success() && two.wait().unwrap().success());
        let p =
            &lab.json(&["vnet", "peering", "show", "-g", "rg", "--vnet-name", "s1", "-n", "s1-to-hub"])["properties"];
        assert_eq!((&p["allowForwardedTraffic"], &p["allowGatewayTransit"]), (&Value::Bool(true), &Value::Bool(true)));
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let lab = Lab::new();
    let file = example("global-peering.yaml");
    for args in [vec!["up", file.as_str()], vec!["show", "-o", "json"]] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vnetlab"))
            .env("VNETLAB_HOME", lab.home.path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{args:?}: {:?}", out.status);
    }
    // The up committed.
    assert_eq!(lab.json(&["vnet", "list"]).as_array().unwrap().len(), 2);
}

#[test]
fn reading_commands_leave_a_missing_lab_uncreated() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("not-yet");
    let run =
        |args: &[&str]| Command::cargo_bin("vnetlab").unwrap().env("VNETLAB_HOME", &home).args(args).output().unwrap();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, "resourceGroup: rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}]\n").unwrap();
    let plan = run(&["plan", file.to_str().unwrap()]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("Plan: 2 to add"));
    for args in [&["show"][..], &["vnet", "list"], &["check"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let shown: Value = serde_json::from_slice(&run(&["show", "subscription", "-o", "json"]).stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 1, "a new lab's subscription, in memory");
    assert!(!home.exists(), "reading created the lab");
    assert!(run(&["up", file.to_str().unwrap()]).status.success());
    assert!(home.join("vnetlab.sqlite3").exists());
}

#[test]
fn listing_in_a_missing_group_is_an_error() {
    let lab = Lab::new();
    for args in [&["vnet", "list", "-g", "no-such-rg"][..], &["show", "vnet", "-g", "no-such-rg"]] {
        let (code, err) = lab.fails(args);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("(ResourceGroupNotFound) Resource group 'no-such-rg' could not be found."), "{err}");
    }
}

#[test]
fn routes_next_hop_and_flow_answer_for_a_vm_by_name() {
    let lab = Lab::new();
    lab.ok(&["up", &example("hub-and-spoke.yaml")]);
    let table = lab.ok(&["routes", "spoke1-vm"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Source", "State", "Address", "Prefix", "Next", "Hop", "Type", "Next", "Hop", "IP"]
    );
    assert!(
        lines.iter().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["User", "Active", "10.0.0.0/8", "VirtualAppliance", "10.0.1.4"]),
        "{table}"
    );
    let routes: Value = serde_json::from_str(&lab.ok(&["routes", "spoke1-vm", "-o", "json"])).unwrap();
    assert!(
        routes["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["nextHopType"] == "VNetPeering" && r["addressPrefix"][0] == "10.0.0.0/16")
    );

    let hop: Value = serde_json::from_str(&lab.ok(&["next-hop", "spoke1-vm", "10.2.1.4", "-o", "json"])).unwrap();
    assert_eq!(hop["nextHopType"], "VirtualAppliance");
    assert_eq!(hop["nextHopIpAddress"], "10.0.1.4");
    assert!(hop["routeTableId"].as_str().unwrap().ends_with("/routeTables/spokes-via-nva"));

    let flow = |remote: &str| -> Value {
        let out = lab.ok(&[
            "flow",
            "spoke2-vm",
            "--direction",
            "in",
            "--protocol",
            "tcp",
            "--local",
            "10.2.1.4:22",
            "--remote",
            remote,
            "-o",
            "json",
        ]);
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(
        flow("10.1.1.4:50000"),
        serde_json::json!({"access": "Allow", "ruleName": "securityRules/allow-ssh-from-vnets"})
    );
    assert_eq!(
        flow("8.8.8.8:50000"),
        serde_json::json!({"access": "Deny", "ruleName": "defaultSecurityRules/DenyAllInBound"})
    );

    // Bad input: a clear error, Azure's code where there is one.
    let (_, err) = lab.fails(&["routes", "no-such-vm"]);
    assert!(err.contains("ResourceNotFound"), "{err}");
    let (_, err) = lab.fails(&["next-hop", "spoke1-vm", "10.2.1.4", "--source", "10.9.9.9"]);
    assert!(err.contains("is not an address of"), "{err}");
    let (_, err) =
        lab.fails(&["flow", "spoke2-vm", "--direction", "in", "--local", "10.2.1.4", "--remote", "1.2.3.4:1"]);
    assert!(err.contains("is not an endpoint"), "{err}");
    let (_, err) = lab.fails(&[
        "flow",
        "spoke2-vm",
        "--direction",
        "in",
        "--protocol",
        "gre",
        "--local",
        "10.2.1.4:1",
        "--remote",
        "1.2.3.4:1",
    ]);
    assert!(err.contains("is not a protocol"), "{err}");
}

#[test]
fn graph_draws_the_lab_in_each_format_without_creating_one() {
    let lab = Lab::new();
    let empty = lab.ok(&["graph", "--format", "dot"]);
    assert!(empty.starts_with("digraph"), "{empty}");
    assert!(lab.home.path().read_dir().unwrap().next().is_none(), "graph made a lab");
    lab.ok(&["up", &example("sales-marketing.yaml")]);
    let mermaid = lab.ok(&["graph", "--format", "mermaid"]);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("SalesVNet") && mermaid.contains("Connected / Connected"), "{mermaid}");
    let svg = lab.ok(&["graph"]);
    assert!(svg.contains("<svg") && svg.contains("MarketingVNet"), "{}", &svg[..svg.len().min(300)]);
}

#[test]
fn trace_reach_and_verify_explain_a_hub_and_spoke_lab() {
    let lab = Lab::new();
    let file = std::fs::read_to_string(example("hub-and-spoke.yaml")).unwrap();
    // No gateway transit and no forwarded traffic: two problems on the way to the branch.
    let broken = file
        .replace("useHubAsGateway: true", "useHubAsGateway: false")
        .replace("allowForwardedTraffic: true", "allowForwardedTraffic: false");
    let broken = lab.write("broken.yaml", &broken);
    lab.ok(&["up", &broken]);

    let out = lab.ok(&["trace", "spoke1-vm", "branch-office", "--port", "443"]);
    assert!(
        out.starts_with("spoke1-vm (10.1.1.4) → branch-office (192.168.0.1), tcp/443: blocked (2 blockers)"),
        "{out}"
    );
    assert!(out.contains("--set useRemoteGateways=true") && out.contains("--set allowGatewayTransit=true"), "{out}");
    let trace = lab.json(&["trace", "spoke1-vm", "spoke2-vm"]);
    assert_eq!(trace["reachable"], false);
    let kinds: Vec<&str> = trace["blockers"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ForwardedTraffic", "ForwardedTraffic"]);
    let ok = lab.ok(&["trace", "spoke1-vm", "10.0.2.4", "--protocol", "icmp"]);
    assert!(ok.starts_with("spoke1-vm (10.1.1.4) → 10.0.2.4 (10.0.2.4), icmp: reachable"), "{ok}");

    let matrix = lab.ok(&["reach", "--by", "vnet"]);
    let row = |name: &str| -> Vec<String> {
        let line =
            matrix.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap_or_else(|| panic!("{matrix}"));
        line.split_whitespace().skip(2).map(str::to_owned).collect()
    };
    assert_eq!(row("spoke1"), ["✓", "·", "✗", "✗", "✗"], "{matrix}");
    let json = lab.json(&["reach", "--by", "vm"]);
    assert_eq!(json["members"].as_array().unwrap().len(), 6);

    // What the fixed file would change, before applying it.
    let diff = lab.ok(&["reach", "--by", "vnet", "--diff", &example("hub-and-spoke.yaml")]);
    assert!(diff.contains("+ spoke1 → spoke2: blocked → reaches"), "{diff}");
    assert!(diff.contains("12 pairs gain reach, 0 lose it."), "{diff}");
    assert_eq!(lab.ok(&["reach", "--by", "vnet"]), matrix, "--diff changes nothing");

    let intents = example("hub-and-spoke.intents.yaml");
    let (code, _) = lab.fails(&["verify", &intents]);
    assert_eq!(code, 1);
    let out = String::from_utf8(lab.cmd(&["verify", &intents]).stdout).unwrap();
    assert!(out.contains("✗ fails  spokes reach on-premises through the hub gateway"), "{out}");
    assert!(out.contains("useRemoteGateways"), "{out}");
    lab.ok(&["up", &example("hub-and-spoke.yaml")]);
    let out = lab.ok(&["verify", &intents]);
    assert!(out.ends_with("5 of 5 intents hold.\n"), "{out}");

    // Bad input: precise errors, exit code 2 for a bad intents file.
    let bad = lab.write("bad.yaml", "intents:\n  - from: spoke1\n    to: spoke2\n    prot: tcp\n");
    let (code, err) = lab.fails(&["verify", &bad]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:4:5: intents[0]: unknown field `prot`"), "{err}");
    let (_, err) = lab.fails(&["trace", "spoke1-vm", "nowhere-vm"]);
    assert!(err.contains("ResourceNotFound"), "{err}");
    let (_, err) = lab.fails(&["trace", "spoke1-vm", "spoke2-vm", "--protocol", "smtp"]);
    assert!(err.contains("smtp"), "{err}");
}

/// Whether this process may bring a data plane up; without root the data-plane tests say so
/// and pass, unless `VNETLAB_REQUIRE_ROOT=1` (CI) makes them fail.
fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var("VNETLAB_REQUIRE_ROOT").as_deref() != Ok("1"),
            "data-plane tests need root (VNETLAB_REQUIRE_ROOT=1 is set)"
        );
        eprintln!("skipped: data-plane tests need root");
    }
    root
}

/// Brings the data plane down whatever happens to the test.
struct DataPlane<'a>(&'a Lab);

impl Drop for DataPlane<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["down"]);
    }
}

#[test]
fn the_data_plane_follows_every_process_and_serves_azure_dns() {
    if !root() {
        return;
    }
    let lab = Lab::new();
    let _down = DataPlane(&lab);
    let up = lab.ok(&["up", &example("sales-marketing.yaml"), "--dataplane"]);
    assert!(up.contains("data plane: 2 VMs as network namespaces"), "{up}");
    let ping = |vm: &str, to: &str| lab.cmd(&["exec", vm, "--", "ping", "-c", "1", "-W", "1", to]).status.success();
    assert!(ping("SalesVM", "10.2.1.4"), "across the peering");
    // Learn's exercise: SSH from SalesVM to MarketingVM's private address; the command runs there.
    let ssh = |timeout: &str| {
        lab.cmd(&["exec", "SalesVM", "--", "ssh", "-o", timeout, "10.2.1.4", "ip -o -4 addr show eth0"])
    };
    let there = ssh("ConnectTimeout=5");
    assert!(there.status.success(), "{}", String::from_utf8_lossy(&there.stderr));
    assert!(String::from_utf8_lossy(&there.stdout).contains("inet 10.2.1.4/24"));
    // With the data plane up, trace also measures real packets.
    let traced = lab.ok(&["trace", "SalesVM", "MarketingVM", "--protocol", "icmp"]);
    assert!(traced.contains("Measured (real packets):") && traced.contains("icmp: 10/10 answered, rtt "), "{traced}");
    let traced = lab.json(&["trace", "SalesVM", "MarketingVM", "--port", "9"]);
    assert_eq!(traced["measured"]["destination"]["refused"], 10, "nothing listens on port 9: {traced:#}");

    // Azure DNS: a VM's name resolves inside its own VNet, not across the peering.
    let hosts = |vm: &str, name: &str| {
        let out = lab.cmd(&["exec", vm, "--", "getent", "hosts", name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(hosts("SalesVM", "salesvm").starts_with("10.1.1.4 "), "{}", hosts("SalesVM", "salesvm"));
    assert!(hosts("MarketingVM", "MarketingVM").starts_with("10.2.1.4 "));
    assert_eq!(hosts("SalesVM", "marketingvm"), "", "names do not resolve across peering");
    let resolv = lab.ok(&["exec", "SalesVM", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 168.63.129.16") && resolv.contains(".internal.cloudapp.net"), "{resolv}");

    // A change from another process (this one has no data plane of its own): once the command
    // returns, the packets obey it.
    let side = ["-g", "learn-rg", "--vnet-name", "SalesVNet", "-n", "SalesVNet-To-MarketingVNet"];
    lab.ok(&[&["vnet", "peering", "delete"][..], &side].concat());
    assert!(!ping("SalesVM", "10.2.1.4"), "one side deleted: no packet crosses");
    assert!(!ssh("ConnectTimeout=1").status.success(), "nor does SSH");
    // The other side is Disconnected now: as in Azure, it is made again, then this side.
    let other = ["-g", "learn-rg", "--vnet-name", "MarketingVNet", "-n", "MarketingVNet-To-SalesVNet"];
    lab.ok(&[&["vnet", "peering", "delete"][..], &other].concat());
    lab.ok(&[&["vnet", "peering", "create", "--remote-vnet", "SalesVNet"][..], &other].concat());
    assert!(!ping("SalesVM", "10.2.1.4"), "Initiated carries nothing");
    lab.ok(&[&["vnet", "peering", "create", "--remote-vnet", "MarketingVNet"][..], &side].concat());
    assert!(ping("SalesVM", "10.2.1.4"), "Connected again");

    lab.ok(&["down"]);
    let left = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains("vl-"), "namespaces left behind");
    let home = std::fs::canonicalize(lab.home.path()).unwrap();
    let agents =
        std::process::Command::new("pgrep").args(["-f", &format!("--home {} agent", home.display())]).output().unwrap();
    assert!(agents.stdout.is_empty(), "the agent ended with the data plane");
}

const SPOKE: &str = "/subscriptions/bbbb1111-0000-0000-0000-00000000000b/resourceGroups/spoke-rg/providers/Microsoft.Network/virtualNetworks/spoke";
const HUB: &str = "/subscriptions/aaaa1111-0000-0000-0000-00000000000a/resourceGroups/hub-rg/providers/Microsoft.Network/virtualNetworks/hub";

#[test]
fn teams_peer_only_with_rights_on_both_sides() {
    let lab = Lab::new();
    lab.ok(&["up", &example("two-teams.yaml")]);
    let create = |who: &str, rg: &str, vnet: &str, name: &str, remote: &str| {
        let sub = if rg == "hub-rg" { "hub-sub" } else { "spoke-sub" };
        lab.cmd(&[
            "--as",
            who,
            "--subscription",
            sub,
            "vnet",
            "peering",
            "create",
            "-g",
            rg,
            "--vnet-name",
            vnet,
            "-n",
            name,
            "--remote-vnet",
            remote,
            "--allow-vnet-access",
            "-o",
            "json",
        ])
    };
    // Each team sees its own tenant's VNets only, though both have a VNet 'lab' on 10.0.0.0/16.
    let hub_view = ids(&lab.json(&["--as", "hub-team", "show", "vnet"]));
    assert_eq!(hub_view.len(), 2, "{hub_view:?}");
    assert!(hub_view.iter().all(|id| id.contains("aaaa1111")), "{hub_view:?}");
    // So do the drawing and the reachability matrix.
    let drawing = lab.ok(&["--as", "hub-team", "graph", "--format", "dot"]);
    assert!(drawing.contains("hub-rg/providers/Microsoft.Network/virtualNetworks/hub\""), "{drawing}");
    assert!(!drawing.contains("bbbb1111"), "{drawing}");
    // The same file with a subnet in every VNet, for the matrix to have members.
    let mut with_subnets = std::fs::read_to_string(example("two-teams.yaml")).unwrap();
    for n in ["0", "1", "2"] {
        with_subnets = with_subnets.replace(
            &format!("[10.{n}.0.0/16]}}"),
            &format!("[10.{n}.0.0/16], subnets: [{{name: default, addressPrefix: 10.{n}.0.0/24}}]}}"),
        );
    }
    let file = lab.home.path().join("two-teams-subnets.yaml");
    std::fs::write(&file, with_subnets).unwrap();
    lab.ok(&["up", file.to_str().unwrap()]);
    let matrix = lab.json(&["--as", "spoke-team", "reach", "--by", "vnet"]);
    let members: Vec<&str> = matrix["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().all(|id| id.contains("bbbb1111")), "{members:?}");
    let (_, err) = lab.fails(&[
        "--as",
        "hub-team",
        "vnet",
        "show",
        "-g",
        "spoke-rg",
        "-n",
        "spoke",
        "--subscription",
        "spoke-sub",
    ]);
    assert!(err.contains("AuthorizationFailed"), "{err}");

    let refused = create("hub-team", "hub-rg", "hub", "hub-to-spoke", SPOKE);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("LinkedAuthorizationFailed") && err.contains("Microsoft.Network/virtualNetworks/peer/action"),
        "{err}"
    );
    // The hub team cannot grant itself a role in the spoke team's subscription.
    let grant = |who: &str, whom: &str, role: &str, scope: &str| {
        lab.cmd(&["--as", who, "principal", "grant", whom, "--role", role, "--scope", scope])
    };
    let refused = grant("hub-team", "hub-team", "Network Contributor", SPOKE);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("AuthorizationFailed") && err.contains("Microsoft.Authorization/roleAssignments/write"),
        "{err}"
    );
    // Reader on the remote VNet is not enough; Network Contributor is.
    assert!(grant("spoke-team", "hub-team", "Reader", SPOKE).status.success());
    assert!(!create("hub-team", "hub-rg", "hub", "hub-to-spoke", SPOKE).status.success());
    assert!(grant("spoke-team", "hub-team", "Network Contributor", SPOKE).status.success());
    let made = create("hub-team", "hub-rg", "hub", "hub-to-spoke", SPOKE);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let link: Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(link["properties"]["peeringState"], "Initiated");
    assert!(grant("hub-team", "spoke-team", "Network Contributor", HUB).status.success());
    let back = create("spoke-team", "spoke-rg", "spoke", "spoke-to-hub", HUB);
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    let link: Value = serde_json::from_slice(&back.stdout).unwrap();
    assert_eq!(link["properties"]["peeringState"], "Connected");

    // Taking the role back keeps the peering and stops new ones.
    lab.ok(&[
        "--as",
        "spoke-team",
        "principal",
        "revoke",
        "hub-team",
        "--role",
        "Network Contributor",
        "--scope",
        SPOKE,
    ]);
    let kept = lab.json(&[
        "--as",
        "hub-team",
        "vnet",
        "peering",
        "show",
        "-g",
        "hub-rg",
        "--vnet-name",
        "hub",
        "-n",
        "hub-to-spoke",
        "--subscription",
        "hub-sub",
    ]);
    assert_eq!(kept["properties"]["peeringState"], "Connected");
    let again = create("hub-team", "hub-rg", "lab", "lab-to-spoke", SPOKE);
    assert!(String::from_utf8_lossy(&again.stderr).contains("LinkedAuthorizationFailed"));

    let listed = lab.ok(&["principal", "list"]);
    assert!(listed.contains("hub-team (ServicePrincipal, aaaa2222-0000-0000-0000-00000000000a)"), "{listed}");
    assert!(listed.contains("Reader on /subscriptions/bbbb1111"), "{listed}");
    let (_, err) = lab.fails(&["--as", "nobody", "show"]);
    assert!(err.contains("no principal 'nobody'"), "{err}");
    lab.ok(&["down", &example("two-teams.yaml")]);
}

#[test]
fn principals_from_the_command_line_and_the_configuration() {
    let lab = Lab::new();
    let added = lab.json(&["principal", "add", "ci-bot"]);
    let password = added["password"].as_str().unwrap();
    assert_eq!(password.len(), 64);
    let app = added["appId"].as_str().unwrap().to_owned();
    // A principal with no role sees the lab's tenant but no subscription or resource.
    lab.ok(&["up", &example("sales-marketing.yaml")]);
    let seen = lab.json(&["--as", &app, "show"]);
    let kinds: Vec<&str> = seen.as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(kinds.iter().all(|id| id.starts_with("/tenants/")), "{kinds:?}");
    let (_, err) = lab.fails(&["--as", "ci-bot", "routes", "SalesVM"]);
    assert!(err.contains("No virtual machine or network interface named 'SalesVM'"), "{err}");
    lab.ok(&["principal", "grant", "ci-bot", "--role", "Reader"]);
    assert!(!lab.json(&["--as", "ci-bot", "show", "vnet"]).as_array().unwrap().is_empty());
    assert!(lab.ok(&["--as", "ci-bot", "routes", "SalesVM"]).contains("VnetLocal"));
    lab.ok(&["principal", "remove", "ci-bot"]);
    let (_, err) = lab.fails(&["--as", "ci-bot", "show"]);
    assert!(err.contains("no principal"), "{err}");

    // The configuration declares a principal and makes it the default.
    lab.write(
        "config.yaml",
        "defaultPrincipal: auditor\nprincipals:\n  - {name: auditor, secret: s3, roles: [{role: Reader, scope: \"00000000-0000-0000-0000-000000000001\"}]}\n",
    );
    assert!(!lab.json(&["show", "vnet"]).as_array().unwrap().is_empty());
    let (_, err) = lab.fails(&[
        "vnet",
        "peering",
        "create",
        "-g",
        "learn-rg",
        "--vnet-name",
        "SalesVNet",
        "-n",
        "x",
        "--remote-vnet",
        "MarketingVNet",
    ]);
    assert!(err.contains("AuthorizationFailed"), "{err}");
}
