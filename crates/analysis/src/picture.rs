//! The topology placed on a plane, for a picture one can zoom and pan (the portal's): every node
//! gets a box and a centre, every edge its colours and words, and a trace's hops the places
//! they cross.
//!
//! Placement takes time linear in the size of the graph, so a lab of thousands of VNets is
//! placed at once (layout-rs, which `vnetlab graph` uses, needs seconds for a few hundred).
//! Each connected part is drawn around its best-connected node (a hub at the centre, its spokes
//! on a ring, what hangs off a spoke further out in the spoke's direction); a level too crowded
//! for one ring fills several. The parts are then set side by side in rows, largest first.

use std::collections::HashMap;
use std::f64::consts::{PI, TAU};

use petgraph::visit::EdgeRef;
use serde_json::{Value, json};
use vnetlab_model::{Kind, ResourceId, State, ViewExt};

use crate::azure::Network;
use crate::azure::trace::{Hop, HopKind};
use crate::graph::{Edge, Topology};

/// A node's box: its centre and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Space kept free around each box.
const MARGIN: f64 = 24.0;
/// Space between two parts of the picture.
const PART_GAP: f64 = 80.0;
/// Pixels per character of a label, and per line.
const CHAR_WIDTH: f64 = 7.0;
const LINE_HEIGHT: f64 = 15.0;

/// The size of a node's box from its label.
fn size(lines: &[String]) -> (f64, f64) {
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let width = (longest * CHAR_WIDTH + 20.0).clamp(110.0, 280.0);
    let height = lines.len() as f64 * LINE_HEIGHT + 14.0;
    (width, height)
}

/// Places every node of `topology`; the result is indexed by node index. Deterministic: the
/// same topology is always placed the same way.
pub fn place(topology: &Topology) -> Vec<Placed> {
    let graph = &topology.graph;
    let n = graph.node_count();
    let mut placed: Vec<Placed> = graph
        .node_weights()
        .map(|node| {
            let (width, height) = size(&node.lines);
            Placed { x: 0.0, y: 0.0, width, height }
        })
        .collect();
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); n];
    for edge in graph.edge_references() {
        let (a, b) = (edge.source().index(), edge.target().index());
        if a != b {
            neighbours[a].push(b);
            neighbours[b].push(a);
        }
    }
    for list in &mut neighbours {
        list.sort_unstable();
        list.dedup();
    }
    let mut part_of = vec![usize::MAX; n];
    let mut parts: Vec<Vec<usize>> = Vec::new();
    for start in 0..n {
        if part_of[start] != usize::MAX {
            continue;
        }
        let number = parts.len();
        part_of[start] = number;
        let mut members = vec![start];
        let mut next = 0;
        while next < members.len() {
            let node = members[next];
            next += 1;
            for &other in &neighbours[node] {
                if part_of[other] == usize::MAX {
                    part_of[other] = number;
                    members.push(other);
                }
            }
        }
        parts.push(members);
    }
    let mut boxes: Vec<(usize, Bounds)> =
        parts.iter().enumerate().map(|(i, members)| (i, place_part(members, &neighbours, &mut placed))).collect();
    // Largest first; equal sizes in node order.
    boxes.sort_by(|a, b| parts[b.0].len().cmp(&parts[a.0].len()).then(a.0.cmp(&b.0)));
    let area: f64 = boxes.iter().map(|(_, b)| (b.width() + PART_GAP) * (b.height() + PART_GAP)).sum();
    let widest = boxes.iter().map(|(_, b)| b.width()).fold(0.0, f64::max);
    let row_width = widest.max(area.sqrt() * 1.4);
    let (mut x, mut y, mut row_height) = (0.0, 0.0, 0.0f64);
    for (part, bounds) in boxes {
        if x > 0.0 && x + bounds.width() > row_width {
            x = 0.0;
            y += row_height + PART_GAP;
            row_height = 0.0;
        }
        let (dx, dy) = (x - bounds.min_x, y - bounds.min_y);
        for &node in &parts[part] {
            placed[node].x += dx;
            placed[node].y += dy;
        }
        x += bounds.width() + PART_GAP;
        row_height = row_height.max(bounds.height());
    }
    placed
}

#[derive(Debug, Clone, Copy)]
struct Bounds {
    min_x: f64,
    min_y: f64,
    max_x: f64,
    max_y: f64,
}

impl Bounds {
    fn width(&self) -> f64 {
        self.max_x - self.min_x
    }

    fn height(&self) -> f64 {
        self.max_y - self.min_y
    }
}

/// Places one connected part around (0, 0) and returns its bounds.
fn place_part(members: &[usize], neighbours: &[Vec<usize>], placed: &mut [Placed]) -> Bounds {
    // The root: the node with the most neighbours, the first of them in node order.
    let root = members.iter().copied().max_by(|a, b| neighbours[*a].len().cmp(&neighbours[*b].len()).then(b.cmp(a)));
    let root = root.unwrap_or(members[0]);
    // A breadth-first tree from the root.
    let mut order = vec![root];
    let mut parent = HashMap::new();
    let mut depth = HashMap::new();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    depth.insert(root, 0usize);
    let mut next = 0;
    while next < order.len() {
        let node = order[next];
        next += 1;
        for &other in &neighbours[node] {
            if !depth.contains_key(&other) {
                depth.insert(other, depth[&node] + 1);
                parent.insert(other, node);
                children.entry(node).or_default().push(other);
                order.push(other);
            }
        }
    }
    // Each node's wedge of the circle is proportional to the leaves below it.
    let mut leaves: HashMap<usize, f64> = HashMap::new();
    for &node in order.iter().rev() {
        let below: f64 = children.get(&node).map_or(0.0, |c| c.iter().map(|c| leaves[c]).sum());
        leaves.insert(node, below.max(1.0));
    }
    let mut wedge: HashMap<usize, (f64, f64)> = HashMap::new();
    wedge.insert(root, (0.0, TAU));
    for &node in &order {
        let (mut start, span) = wedge[&node];
        if let Some(list) = children.get(&node) {
            for child in list {
                let share = span * leaves[child] / leaves[&node];
                wedge.insert(*child, (start, share));
                start += share;
            }
        }
    }
    let middle = |node: usize| {
        let (start, span) = wedge[&node];
        start + span / 2.0
    };
    // A box fits in a circle of this diameter: boxes whose centres are this far apart never touch.
    let diameters: HashMap<usize, f64> =
        members.iter().map(|&n| (n, placed[n].width.hypot(placed[n].height) + MARGIN)).collect();
    let reach = |node: usize| diameters[&node];
    let mut levels: Vec<Vec<usize>> = Vec::new();
    for &node in &order {
        let d = depth[&node];
        if levels.len() <= d {
            levels.push(Vec::new());
        }
        levels[d].push(node);
    }
    placed[root].x = 0.0;
    placed[root].y = 0.0;
    let mut radius = 0.0;
    let mut previous = reach(root);
    // Where each placed node actually is, round the root: a subtree follows its root there.
    let mut actual: HashMap<usize, f64> = HashMap::new();
    actual.insert(root, middle(root));
    for level in levels.iter_mut().skip(1) {
        let angles: HashMap<usize, f64> = level
            .iter()
            .map(|&n| {
                let a = match parent.get(&n) {
                    Some(p) => actual[p] + middle(n) - middle(*p),
                    None => middle(n),
                };
                (n, a.rem_euclid(TAU))
            })
            .collect();
        let angle = |node: usize| angles[&node];
        level.sort_by(|a, b| angle(*a).total_cmp(&angle(*b)).then(a.cmp(b)));
        let spacing = level.iter().map(|n| reach(*n)).fold(0.0, f64::max);
        let base = radius + (previous + spacing) / 2.0;
        // On one ring at their wedges' angles, the closest two neighbours set the radius.
        let mut closest = TAU;
        for pair in level.windows(2) {
            closest = closest.min(angle(pair[1]) - angle(pair[0]));
        }
        if level.len() > 1 {
            closest = closest.min(TAU - (angle(level[level.len() - 1]) - angle(level[0])));
        }
        let needed = if level.len() == 1 { 0.0 } else { chord_radius(spacing, closest) };
        if needed <= base + 3.0 * spacing {
            radius = base.max(needed);
            for &node in level.iter() {
                let a = angle(node);
                placed[node].x = radius * a.cos();
                placed[node].y = radius * a.sin();
                actual.insert(node, a);
            }
        } else if let Some(rings) = rings_at_angles(level, &angle, base, spacing) {
            // Too crowded for one ring: each node at its angle, the rings taken in turn round
            // the circle, so that nodes on one ring are far enough apart.
            for (i, &node) in level.iter().enumerate() {
                let (ring, a) = (base + (i % rings) as f64 * spacing, angle(node));
                placed[node].x = ring * a.cos();
                placed[node].y = ring * a.sin();
                actual.insert(node, a);
            }
            radius = base + (rings - 1) as f64 * spacing;
        } else {
            // Crowded at a few angles: fill rings outwards, keeping the order round the circle.
            let mut ring = base;
            let mut rest: &[usize] = level;
            while !rest.is_empty() {
                let fits = ring_capacity(ring, spacing).max(1);
                let take = if fits >= rest.len() { rest.len() } else { fits };
                let (these, others) = rest.split_at(take);
                let first = angle(these[0]);
                for (i, &node) in these.iter().enumerate() {
                    let a = first + TAU * i as f64 / these.len() as f64;
                    placed[node].x = ring * a.cos();
                    placed[node].y = ring * a.sin();
                    actual.insert(node, a);
                }
                rest = others;
                radius = ring;
                ring += spacing;
            }
        }
        previous = spacing;
    }
    let mut bounds = Bounds { min_x: f64::MAX, min_y: f64::MAX, max_x: f64::MIN, max_y: f64::MIN };
    for &node in members {
        let p = placed[node];
        bounds.min_x = bounds.min_x.min(p.x - p.width / 2.0);
        bounds.max_x = bounds.max_x.max(p.x + p.width / 2.0);
        bounds.min_y = bounds.min_y.min(p.y - p.height / 2.0);
        bounds.max_y = bounds.max_y.max(p.y + p.height / 2.0);
    }
    bounds
}

/// How many rings from `base` outwards (`spacing` apart) let the nodes of `level`, in order
/// round the circle, keep their angles when the rings are taken in turn: each node must then be
/// `spacing` from the next one on its ring. `None` when that would take more than about three
/// times the rings of an even fill (nodes crowded at a few angles).
fn rings_at_angles(level: &[usize], angle: &dyn Fn(usize) -> f64, base: f64, spacing: f64) -> Option<usize> {
    let n = level.len();
    let mut even = 0;
    let (mut ring, mut left) = (base, n);
    while left > 0 {
        left = left.saturating_sub(ring_capacity(ring, spacing).max(1));
        ring += spacing;
        even += 1;
    }
    let least = if spacing >= 2.0 * base { PI } else { 2.0 * (spacing / (2.0 * base)).asin() };
    (1..=(3 * even).min(n)).find(|&rings| {
        rings == n
            || (0..n).all(|i| {
                // The next node on the ring of node i; after the last one, round to its first.
                let next = if i + rings < n { i + rings } else { i % rings };
                let gap = if next == i { TAU } else { (angle(level[next]) - angle(level[i])).rem_euclid(TAU) };
                gap >= least
            })
    })
}

/// The radius at which two points `angle` apart on a circle are `distance` apart.
fn chord_radius(distance: f64, angle: f64) -> f64 {
    if angle >= PI {
        return distance / 2.0;
    }
    let half = (angle / 2.0).sin();
    if half <= f64::EPSILON { f64::MAX } else { distance / (2.0 * half) }
}

/// How many points `distance` apart fit on a circle of `radius`.
fn ring_capacity(radius: f64, distance: f64) -> usize {
    if distance >= 2.0 * radius {
        return 1;
    }
    (PI / (distance / (2.0 * radius)).asin()).floor() as usize
}

/// The picture as JSON: `nodes` (id, kind, label lines, box) and `edges` (the indices of their
/// ends, kind, link states — for a peering, the source's link first —, colours as `vnetlab graph`
/// draws them, the worse first, words, a tooltip), for a page to draw.
pub fn to_json(topology: &Topology, placed: &[Placed]) -> Value {
    let graph = &topology.graph;
    let nodes: Vec<Value> = graph
        .node_indices()
        .map(|i| {
            let node = &graph[i];
            let p = placed[i.index()];
            json!({
                "id": node.id.as_str(),
                "kind": node.kind.short_name(),
                "lines": node.lines,
                "x": p.x.round(), "y": p.y.round(), "width": p.width, "height": p.height,
            })
        })
        .collect();
    let edges: Vec<Value> = graph
        .edge_references()
        .map(|e| {
            let weight = e.weight();
            let (kind, states) = match weight {
                Edge::Peering { source_state, target_state, .. } => {
                    ("peering", vec![source_state.to_string(), target_state.to_string()])
                }
                Edge::Link { state, .. } => ("link", vec![state.to_string()]),
                Edge::Attachment => ("attachment", Vec::new()),
                Edge::Connection { status, .. } => ("connection", vec![status.to_string()]),
            };
            json!({
                "source": e.source().index(),
                "target": e.target().index(),
                "kind": kind,
                "states": states,
                "colors": weight.colors(),
                "label": weight.label(),
                "tooltip": topology.edge_tooltip(e),
            })
        })
        .collect();
    json!({ "nodes": nodes, "edges": edges })
}

/// A place a trace crosses, as a node of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The VNet, gateway or site.
    pub id: ResourceId,
    /// The packet stops here.
    pub blocked: bool,
    /// Past an earlier blocker.
    pub assumed: bool,
}

/// The places a leg of a trace crosses, in order: the VNet of each NIC or subnet hop, both
/// VNets of a peering, gateways and sites. Steps of the same place in a row are one.
pub fn steps(network: &Network, state: &State, hops: &[Hop]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for hop in hops {
        let before = out.len();
        if let Some(resource) = &hop.resource {
            place_hop(network, state, hop, resource, &mut out);
        }
        // A hop that is no place (an NSG, a route) stops the packet where it is.
        if out.len() == before
            && hop.blocked
            && let Some(last) = out.last_mut()
        {
            last.blocked = true;
        }
    }
    out
}

/// Adds the places `hop` (about `resource`) crosses to `out`.
fn place_hop(network: &Network, state: &State, hop: &Hop, resource: &ResourceId, out: &mut Vec<Step>) {
    let mut push = |id: ResourceId, hop: &Hop| match out.last_mut() {
        Some(last) if last.id == id => {
            last.blocked |= hop.blocked;
        }
        _ => out.push(Step { id, blocked: hop.blocked, assumed: hop.assumed }),
    };
    match (hop.kind, resource.kind()) {
        (_, Some(Kind::NetworkInterface)) => {
            if let Some(vnet) = network.nic(resource).and_then(|n| n.primary()).and_then(|a| a.subnet.parent()) {
                push(vnet, hop);
            }
        }
        (_, Some(Kind::Subnet)) => {
            if let Some(vnet) = resource.parent() {
                push(vnet, hop);
            }
        }
        (_, Some(Kind::VirtualNetwork)) => push(resource.clone(), hop),
        (HopKind::Peering, Some(Kind::VirtualNetworkPeering)) => {
            if let Some(local) = resource.parent() {
                let crossing = Hop { blocked: false, ..hop.clone() };
                push(local, &crossing);
            }
            if let Some(link) = state.resource(resource).and_then(|r| r.as_peering()) {
                push(link.remote_vnet_id().clone(), hop);
            }
        }
        (_, Some(Kind::VirtualNetworkGateway | Kind::LocalNetworkGateway)) => push(resource.clone(), hop),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use petgraph::graph::{DiGraph, NodeIndex};
    use vnetlab_model::PeeringState;

    use super::*;
    use crate::graph::{Node, NodeKind};

    const SUB: &str = "00000000-0000-0000-0000-000000000000";

    fn vnet_node(i: usize) -> Node {
        let group = ResourceId::resource_group(SUB, "rg").unwrap();
        let id = group.top_level(Kind::VirtualNetwork, &format!("vnet-{i}")).unwrap();
        // Labels of every size: one to four lines, names of 6 to 70 characters.
        let mut lines = vec![format!("vnet-{i}{}", "x".repeat((i * 7) % 65))];
        lines.extend((0..i % 4).map(|k| format!("10.{}.{k}.0/24", i % 256)));
        Node { id, kind: NodeKind::VirtualNetwork, lines }
    }

    fn peering() -> Edge {
        Edge::Peering {
            source_link: "a".into(),
            source_state: PeeringState::Connected,
            target_link: "b".into(),
            target_state: PeeringState::Connected,
        }
    }

    /// `n` VNets and the pairs to peer.
    fn topology(n: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Topology {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(vnet_node(i))).collect();
        for (a, b) in pairs {
            graph.add_edge(nodes[a], nodes[b], peering());
        }
        Topology { graph }
    }

    fn assert_apart(placed: &[Placed]) {
        for (i, a) in placed.iter().enumerate() {
            assert!(a.x.is_finite() && a.y.is_finite(), "node {i} at {a:?}");
            for (j, b) in placed.iter().enumerate().skip(i + 1) {
                let apart =
                    (a.x - b.x).abs() * 2.0 >= a.width + b.width || (a.y - b.y).abs() * 2.0 >= a.height + b.height;
                assert!(apart, "nodes {i} {a:?} and {j} {b:?} overlap");
            }
        }
    }

    #[test]
    fn a_hub_is_in_the_middle_of_its_spokes() {
        let placed = place(&topology(7, (1..7).map(|i| (0, i))));
        assert_apart(&placed);
        let hub = placed[0];
        let distances: Vec<f64> = placed[1..].iter().map(|p| (p.x - hub.x).hypot(p.y - hub.y)).collect();
        let first = distances[0];
        assert!(distances.iter().all(|d| (d - first).abs() < 1e-6), "spokes on one ring: {distances:?}");
        // The spokes go round the hub.
        let (left, right): (Vec<&Placed>, Vec<&Placed>) = placed[1..].iter().partition(|p| p.x < hub.x);
        assert!(!left.is_empty() && !right.is_empty());
    }

    #[test]
    fn large_and_odd_shapes_are_placed_without_overlaps() {
        // A hub with 999 spokes, a full mesh, a chain, a tree with a crowded branch, 300 lone VNets.
        assert_apart(&place(&topology(1000, (1..1000).map(|i| (0, i)))));
        assert_apart(&place(&topology(12, (0..12).flat_map(|i| ((i + 1)..12).map(move |j| (i, j))))));
        assert_apart(&place(&topology(40, (1..40).map(|i| (i - 1, i)))));
        let tree =
            [(0, 1), (0, 2), (0, 3)].into_iter().chain((4..200).map(|i| (1, i))).chain((200..210).map(|i| (2, i)));
        assert_apart(&place(&topology(210, tree)));
        let lone = place(&topology(300, []));
        assert_apart(&lone);
        // Side by side in rows, not in one long line.
        let width =
            lone.iter().map(|p| p.x).fold(f64::MIN, f64::max) - lone.iter().map(|p| p.x).fold(f64::MAX, f64::min);
        let height =
            lone.iter().map(|p| p.y).fold(f64::MIN, f64::max) - lone.iter().map(|p| p.y).fold(f64::MAX, f64::min);
        assert!(height > 0.0 && width / height < 6.0, "{width} x {height}");
    }

    #[test]
    fn what_hangs_off_a_spoke_is_on_the_spoke_side() {
        // 0 is the hub of 1..=6; 7 hangs off spoke 1.
        let mut pairs: Vec<(usize, usize)> = (1..7).map(|i| (0, i)).collect();
        pairs.push((1, 7));
        let placed = place(&topology(8, pairs));
        assert_apart(&placed);
        let direction = |p: Placed| (p.y - placed[0].y).atan2(p.x - placed[0].x);
        let gap = (direction(placed[7]) - direction(placed[1])).abs();
        assert!(!(PI / 6.0..=TAU - PI / 6.0).contains(&gap), "{gap}");
        let distance = |p: Placed| (p.x - placed[0].x).hypot(p.y - placed[0].y);
        assert!(distance(placed[7]) > distance(placed[1]));
    }

    #[test]
    fn in_a_level_too_crowded_for_one_ring_children_stay_by_their_parents() {
        // A hub with 300 spokes (several rings), each spoke with one VNet of its own.
        let pairs = (1..=300).map(|i| (0, i)).chain((1..=300).map(|i| (i, 300 + i)));
        let placed = place(&topology(601, pairs));
        assert_apart(&placed);
        let hub = placed[0];
        let direction = |p: Placed| (p.y - hub.y).atan2(p.x - hub.x);
        let distance = |p: Placed| (p.x - hub.x).hypot(p.y - hub.y);
        let spokes: Vec<f64> = (1..=300).map(|i| distance(placed[i])).collect();
        assert!(spokes.iter().any(|d| (d - spokes[0]).abs() > 1.0), "the spokes fill several rings");
        for i in 1..=300 {
            let (spoke, child) = (placed[i], placed[300 + i]);
            let gap = (direction(child) - direction(spoke)).rem_euclid(TAU);
            assert!(gap.min(TAU - gap) < PI / 8.0, "spoke {i}: its child is {gap} rad round from it");
            assert!(distance(child) > distance(spoke), "spoke {i}: its child is nearer the hub");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Random graphs (trees, meshes, parts of every size; labels of every size): no two boxes
        /// ever overlap.
        #[test]
        fn boxes_never_overlap(n in 1usize..160, edges in proptest::collection::vec((0usize..160, 0usize..160), 0..400)) {
            let pairs: Vec<(usize, usize)> = edges.into_iter().map(|(a, b)| (a % n, b % n)).filter(|(a, b)| a != b).collect();
            assert_apart(&place(&topology(n, pairs)));
        }
    }

    #[test]
    fn placement_is_deterministic_and_json_names_both_ends() {
        let t = topology(5, [(0, 1), (1, 2), (3, 4)]);
        let first = place(&t);
        assert_eq!(place(&t), first);
        let json = to_json(&t, &first);
        assert_eq!(json["nodes"].as_array().unwrap().len(), 5);
        let edges = json["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 3);
        assert_eq!((edges[2]["source"].as_u64(), edges[2]["target"].as_u64()), (Some(3), Some(4)));
        assert_eq!(edges[0]["kind"], "peering");
        assert_eq!(edges[0]["states"], json!(["Connected", "Connected"]));
        assert_eq!(edges[0]["colors"], json!(["#2e7d32"]));
        assert_eq!(json["nodes"][0]["lines"][0], "vnet-0");
        assert_eq!(json["nodes"][1]["lines"].as_array().unwrap().len(), 2);
    }
}
