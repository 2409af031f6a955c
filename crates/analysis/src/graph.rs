//! The lab's topology as a diagram: VNets, their peerings coloured by state, virtual network
//! gateways, gateway connections and on-premises sites. The drawing is built once as a petgraph
//! graph and written as Graphviz DOT, as SVG (that DOT laid out by layout-rs, in process, with no
//! `dot` binary) or as a Mermaid `flowchart LR`.
//!
//! Everything is emitted in resource-id order, so the same state always gives the same text.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};
use petgraph::algo::{has_path_connecting, toposort};
use petgraph::graph::{DiGraph, EdgeReference, NodeIndex};
use petgraph::visit::EdgeRef;
use vnetlab_model::{
    ConnectionStatus, ConnectionType, GatewayType, Kind, PeeringState, Prefix, ResourceId, State, Stored, View,
};

/// What `vnetlab graph --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphFormat {
    /// An SVG picture, laid out in process.
    Svg,
    /// Graphviz DOT, for `dot -Tpng` or any other Graphviz tool.
    Dot,
    /// A Mermaid `flowchart LR`, for Markdown that renders Mermaid.
    Mermaid,
}

impl GraphFormat {
    pub const ALL: [GraphFormat; 3] = [GraphFormat::Svg, GraphFormat::Dot, GraphFormat::Mermaid];

    pub fn as_str(self) -> &'static str {
        match self {
            GraphFormat::Svg => "svg",
            GraphFormat::Dot => "dot",
            GraphFormat::Mermaid => "mermaid",
        }
    }
}

impl fmt::Display for GraphFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GraphFormat {
    type Err = String;

    /// Case-insensitive: `svg`, `dot` (or `graphviz`), `mermaid`.
    fn from_str(s: &str) -> Result<GraphFormat, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("graphviz") {
            return Ok(GraphFormat::Dot);
        }
        GraphFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("'{s}' is not a graph format; use one of: svg, dot, mermaid"))
    }
}

/// The whole topology of `state`, drawn in `format`. Infallible: an empty lab gives an empty
/// drawing.
pub fn render(state: &State, format: GraphFormat) -> String {
    Topology::from_state(state).render(format)
}

/// The colour of a peering link in each state: Connected green, Initiated amber, Disconnected red.
pub fn peering_color(state: PeeringState) -> &'static str {
    match state {
        PeeringState::Connected => "#2e7d32",
        PeeringState::Initiated => "#ffb300",
        PeeringState::Disconnected => "#c62828",
    }
}

/// How bad a link state is, so a pair whose two links disagree shows the worse one first.
fn severity(state: PeeringState) -> u8 {
    match state {
        PeeringState::Connected => 0,
        PeeringState::Initiated => 1,
        PeeringState::Disconnected => 2,
    }
}

/// Up to this [`Topology::layout_size`], layout-rs also reorders nodes to uncross edges. Measured
/// in a release build on 2 cores: a 12-VNet full mesh (518) takes 0.2 s; a hub with 300 spokes
/// (599) 2.7 s with the reordering and 0.03 s without.
const LAYOUT_OPTIMIZE_MAX: usize = 520;

/// Beyond this size layout-rs takes too long even without reordering: 0.45 s for a 20-VNet full
/// mesh (2490), 3.6 s for 25 VNets (4925), 18 s for 30.
const LAYOUT_MAX: usize = 2500;

const ATTACHMENT_COLOR: &str = "#616161";
const CONNECTION_COLOR: &str = "#1565c0";

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    VirtualNetwork,
    VirtualNetworkGateway,
    /// A local network gateway: an on-premises site.
    Site,
    /// A resource something refers to that is not in the lab (a deleted remote VNet, an
    /// ExpressRoute circuit vnetlab does not model).
    Absent,
}

impl NodeKind {
    fn fill(self) -> &'static str {
        match self {
            NodeKind::VirtualNetwork => "#bbdefb",
            NodeKind::VirtualNetworkGateway => "#fff9c4",
            NodeKind::Site => "#e0e0e0",
            NodeKind::Absent => "#ffffff",
        }
    }

    /// The prefix of node ids, and the Mermaid class name.
    pub(crate) fn short_name(self) -> &'static str {
        match self {
            NodeKind::VirtualNetwork => "vnet",
            NodeKind::VirtualNetworkGateway => "gw",
            NodeKind::Site => "site",
            NodeKind::Absent => "absent",
        }
    }
}

/// A box in the drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The resource's ARM id (or, for an absent one, the id that refers to it).
    pub id: ResourceId,
    pub kind: NodeKind,
    /// The label, one entry per line.
    pub lines: Vec<String>,
}

/// A line in the drawing.
#[derive(Debug, Clone, PartialEq)]
pub enum Edge {
    /// Both links of a peering, drawn once: `source_*` is the link under the edge's source VNet,
    /// `target_*` the one under its target.
    Peering { source_link: String, source_state: PeeringState, target_link: String, target_state: PeeringState },
    /// A link whose remote VNet has no link back, from the VNet that has it.
    Link { name: String, state: PeeringState },
    /// A gateway in its VNet's GatewaySubnet.
    Attachment,
    /// A gateway connection, from its first gateway to the other end.
    Connection { name: String, connection_type: ConnectionType, status: ConnectionStatus },
}

impl Edge {
    /// Whether the edge is drawn without a direction.
    fn is_undirected(&self) -> bool {
        matches!(self, Edge::Peering { .. } | Edge::Attachment)
    }

    pub(crate) fn label(&self) -> Vec<String> {
        match self {
            Edge::Peering { source_state, target_state, .. } => vec![format!("{source_state} / {target_state}")],
            Edge::Link { state, .. } => vec![state.to_string()],
            Edge::Attachment => Vec::new(),
            Edge::Connection { name, connection_type, status } => {
                vec![name.clone(), format!("{connection_type}, {status}")]
            }
        }
    }

    /// The edge's colours, the one to show first when only one can be shown.
    pub(crate) fn colors(&self) -> Vec<&'static str> {
        match self {
            Edge::Peering { source_state, target_state, .. } => {
                let (worse, better) = if severity(*source_state) >= severity(*target_state) {
                    (*source_state, *target_state)
                } else {
                    (*target_state, *source_state)
                };
                if worse == better {
                    vec![peering_color(worse)]
                } else {
                    vec![peering_color(worse), peering_color(better)]
                }
            }
            Edge::Link { state, .. } => vec![peering_color(*state)],
            Edge::Attachment => vec![ATTACHMENT_COLOR],
            Edge::Connection { .. } => vec![CONNECTION_COLOR],
        }
    }
}

/// The topology as a graph: nodes in resource-id order (VNets, gateways, sites, then anything
/// absent), edges in the order peerings, attachments, connections.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub graph: DiGraph<Node, Edge>,
}

/// Which DOT reader a text is for. Graphviz wants `->` in a digraph and draws the direction from
/// `dir`; layout-rs ignores `dir` and draws an arrowhead exactly where the text says `->`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Graphviz,
    LayoutRs,
}

impl Topology {
    pub fn from_state(state: &State) -> Topology {
        Topology::visible(state, &|_| true)
    }

    /// The topology as one caller sees it: only resources whose ids `visible` accepts are drawn.
    /// A resource that a drawn one refers to is drawn as absent: "not in the lab" when the caller
    /// could read it were it there, else "you cannot read", whether or not it exists (as ARM
    /// answers 403 for both).
    pub fn visible(state: &State, visible: &dyn Fn(&ResourceId) -> bool) -> Topology {
        let mut builder = Builder::new(state, visible);
        builder.vnets();
        builder.gateways();
        builder.sites();
        builder.peerings();
        builder.attachments();
        builder.connections();
        Topology { graph: builder.graph }
    }

    /// The drawing in `format`.
    pub fn render(&self, format: GraphFormat) -> String {
        match format {
            GraphFormat::Svg => self.svg(),
            GraphFormat::Dot => self.dot(),
            GraphFormat::Mermaid => self.mermaid(),
        }
    }

    /// Graphviz DOT.
    pub fn dot(&self) -> String {
        self.write_dot(Dialect::Graphviz)
    }

    /// SVG, laid out by layout-rs. A topology too large to lay out in a few seconds, or DOT that
    /// layout-rs cannot read (a bug here, not a property of the lab), gives a picture that says
    /// so and what to use instead, rather than a long wait or a failure.
    pub fn svg(&self) -> String {
        if self.graph.node_count() == 0 {
            return message_svg("The lab has no virtual networks.");
        }
        let size = self.layout_size();
        if size > LAYOUT_MAX {
            return message_svg(&format!(
                "This topology ({} nodes, {} edges) is too large to lay out here: use \
                 `vnetlab graph --format dot | dot -Tsvg` (Graphviz) or `--format mermaid`.",
                self.graph.node_count(),
                self.graph.edge_count()
            ));
        }
        let dot = self.write_dot(Dialect::LayoutRs);
        let mut parser = DotParser::new(&dot);
        let ast = match parser.process() {
            Ok(ast) => ast,
            Err(e) => return message_svg(&format!("cannot lay out the topology: {e}")),
        };
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut visual = builder.get();
        // layout-rs re-checks the whole DAG after each edge it adds by default.
        visual.dag.set_validate(false);
        let mut writer = SVGWriter::new();
        visual.do_it(false, size > LAYOUT_OPTIMIZE_MAX, false, &mut writer);
        let mut svg = writer.finalize();
        svg.push('\n');
        svg
    }

    /// About how many nodes layout-rs places for this graph: the boxes, plus one connector node
    /// per labelled edge and one per rank a long edge crosses. Its placement time grows faster
    /// than linearly in this.
    fn layout_size(&self) -> usize {
        let graph = &self.graph;
        // Orient the edges as layout-rs does: in order, turning round any that would close a cycle.
        let mut dag: DiGraph<(), usize> = DiGraph::with_capacity(graph.node_count(), graph.edge_count());
        for _ in graph.node_indices() {
            dag.add_node(());
        }
        for edge in graph.edge_references() {
            let (mut from, mut to) = (edge.source(), edge.target());
            if from == to {
                continue;
            }
            if has_path_connecting(&dag, to, from, None) {
                std::mem::swap(&mut from, &mut to);
            }
            let length = if edge.weight().label().is_empty() { 1 } else { 2 };
            dag.add_edge(from, to, length);
        }
        let Ok(order) = toposort(&dag, None) else {
            return usize::MAX;
        };
        let mut rank = vec![0usize; dag.node_count()];
        for node in order {
            for next in dag.edges(node) {
                let target = next.target().index();
                rank[target] = rank[target].max(rank[node.index()] + next.weight());
            }
        }
        let dummies: usize =
            dag.edge_references().map(|e| rank[e.target().index()] - rank[e.source().index()] - 1).sum();
        dag.node_count() + dummies
    }

    /// A Mermaid `flowchart LR`, with the node ids of the DOT; every label is quoted.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let ids = self.node_ids();
        for index in self.graph.node_indices() {
            let node = &self.graph[index];
            let text = node.lines.iter().map(|l| mermaid_text(l)).collect::<Vec<_>>().join("<br/>");
            let (open, close) = match node.kind {
                NodeKind::VirtualNetwork | NodeKind::Absent => ("[", "]"),
                NodeKind::VirtualNetworkGateway => ("{{", "}}"),
                NodeKind::Site => ("[/", "/]"),
            };
            out.push_str(&format!("    {}{open}\"{text}\"{close}\n", ids[&index]));
        }
        let mut styles = Vec::new();
        for (number, edge) in self.graph.edge_references().enumerate() {
            let weight = edge.weight();
            let arrow = match weight {
                Edge::Peering { .. } => "<-->",
                Edge::Link { .. } => "-.->",
                Edge::Attachment => "---",
                Edge::Connection { .. } => "-->",
            };
            let label = weight.label().iter().map(|l| mermaid_text(l)).collect::<Vec<_>>().join("<br/>");
            let label = if label.is_empty() { String::new() } else { format!("|\"{label}\"|") };
            out.push_str(&format!("    {} {arrow}{label} {}\n", ids[&edge.source()], ids[&edge.target()]));
            let width = if matches!(weight, Edge::Peering { .. }) { 2 } else { 1 };
            styles.push(format!("    linkStyle {number} stroke:{},stroke-width:{width}px\n", weight.colors()[0]));
        }
        for style in styles {
            out.push_str(&style);
        }
        for kind in [NodeKind::VirtualNetwork, NodeKind::VirtualNetworkGateway, NodeKind::Site, NodeKind::Absent] {
            let members: Vec<&str> =
                self.graph.node_indices().filter(|i| self.graph[*i].kind == kind).map(|i| ids[&i].as_str()).collect();
            if members.is_empty() {
                continue;
            }
            let dash = if kind == NodeKind::Absent { ",stroke-dasharray:5 5" } else { "" };
            out.push_str(&format!("    classDef {} fill:{},stroke:#424242{dash}\n", kind.short_name(), kind.fill()));
            out.push_str(&format!("    class {} {}\n", members.join(","), kind.short_name()));
        }
        out
    }

    /// Node ids for DOT and Mermaid: `vnet1`, `gw1`, `site1`, `absent1`…, numbered in node
    /// order. The ARM id is in each node's tooltip.
    fn node_ids(&self) -> HashMap<NodeIndex, String> {
        let mut counters: HashMap<&'static str, usize> = HashMap::new();
        self.graph
            .node_indices()
            .map(|index| {
                let prefix = self.graph[index].kind.short_name();
                let n = counters.entry(prefix).or_insert(0);
                *n += 1;
                (index, format!("{prefix}{n}"))
            })
            .collect()
    }

    /// What an edge stands for, in words: each link of a peering with its state, a
    /// connection's name, type and status.
    pub(crate) fn edge_tooltip(&self, edge: EdgeReference<'_, Edge>) -> String {
        let source = self.graph[edge.source()].id.name();
        let target = self.graph[edge.target()].id.name();
        match edge.weight() {
            Edge::Peering { source_link, source_state, target_link, target_state } => {
                format!("{source}/{source_link}: {source_state}; {target}/{target_link}: {target_state}")
            }
            Edge::Link { name, state } => format!("{source}/{name}: {state}"),
            Edge::Attachment => format!("{target} in {source}"),
            Edge::Connection { name, connection_type, status } => {
                format!("{name}: {connection_type} from {source} to {target}, {status}")
            }
        }
    }

    fn write_dot(&self, dialect: Dialect) -> String {
        let ids = self.node_ids();
        let mut out = String::from("digraph vnetlab {\n");
        // One font size throughout: layout-rs emits one CSS class per size from a hash map, whose
        // order would change from run to run.
        out.push_str("    graph [rankdir=\"LR\", fontsize=\"12\"];\n");
        out.push_str("    node [shape=\"box\", style=\"filled\", fontsize=\"12\"];\n");
        out.push_str("    edge [fontsize=\"12\"];\n");
        for index in self.graph.node_indices() {
            let node = &self.graph[index];
            let mut attrs = vec![
                ("label", dot_label(&node.lines, dialect)),
                ("fillcolor", dot_quote(node.kind.fill(), dialect)),
                ("tooltip", dot_quote(node.id.as_str(), dialect)),
            ];
            if node.kind == NodeKind::Absent {
                attrs.push(("style", dot_quote("dashed", dialect)));
            }
            out.push_str(&format!("    {} [{}];\n", ids[&index], dot_attrs(&attrs)));
        }
        for edge in self.graph.edge_references() {
            out.push_str(&self.dot_edge(edge, &ids, dialect));
        }
        out.push_str("}\n");
        out
    }

    fn dot_edge(&self, edge: EdgeReference<'_, Edge>, ids: &HashMap<NodeIndex, String>, dialect: Dialect) -> String {
        let weight = edge.weight();
        let mut attrs = Vec::new();
        let label = weight.label();
        if !label.is_empty() {
            attrs.push(("label", dot_label(&label, dialect)));
        }
        attrs.push(("color", dot_quote(&weight.colors().join(":"), dialect)));
        match weight {
            Edge::Peering { .. } => {
                attrs.push(("penwidth", dot_quote("2", dialect)));
                attrs.push(("tooltip", dot_quote(&self.edge_tooltip(edge), dialect)));
            }
            Edge::Link { .. } => {
                attrs.push(("style", dot_quote("dashed", dialect)));
                attrs.push(("tooltip", dot_quote(&self.edge_tooltip(edge), dialect)));
            }
            Edge::Attachment | Edge::Connection { .. } => {}
        }
        let arrow = match (dialect, weight.is_undirected()) {
            (Dialect::LayoutRs, true) => "--",
            (Dialect::Graphviz, true) => {
                // Both links of a peering point each way; a gateway's attachment has no direction.
                let dir = if matches!(weight, Edge::Peering { .. }) { "both" } else { "none" };
                attrs.push(("dir", dot_quote(dir, dialect)));
                "->"
            }
            (_, false) => "->",
        };
        format!("    {} {arrow} {} [{}];\n", ids[&edge.source()], ids[&edge.target()], dot_attrs(&attrs))
    }
}

/// Builds the graph from a state, one kind at a time.
struct Builder<'a> {
    state: &'a State,
    visible: &'a dyn Fn(&ResourceId) -> bool,
    graph: DiGraph<Node, Edge>,
    /// Resource key → node.
    nodes: HashMap<String, NodeIndex>,
    /// Names (lower-cased, per kind) used by more than one resource, which get their resource
    /// group after them.
    ambiguous: BTreeSet<(NodeKind, String)>,
}

impl<'a> Builder<'a> {
    fn new(state: &'a State, visible: &'a dyn Fn(&ResourceId) -> bool) -> Builder<'a> {
        let mut seen: BTreeSet<(NodeKind, String)> = BTreeSet::new();
        let mut ambiguous = BTreeSet::new();
        for (kind, node_kind) in [
            (Kind::VirtualNetwork, NodeKind::VirtualNetwork),
            (Kind::VirtualNetworkGateway, NodeKind::VirtualNetworkGateway),
            (Kind::LocalNetworkGateway, NodeKind::Site),
        ] {
            for stored in state.all_of(kind).into_iter().filter(|s| visible(s.id())) {
                let key = (node_kind, stored.id().name().to_ascii_lowercase());
                if !seen.insert(key.clone()) {
                    ambiguous.insert(key);
                }
            }
        }
        Builder { state, visible, graph: DiGraph::new(), nodes: HashMap::new(), ambiguous }
    }

    /// The name to show: the resource's, with its resource group when another resource of the
    /// same kind has the same name.
    fn title(&self, id: &ResourceId, kind: NodeKind) -> String {
        let name = id.name();
        if self.ambiguous.contains(&(kind, name.to_ascii_lowercase()))
            && let Some(group) = id.resource_group_name()
        {
            return format!("{name} ({group})");
        }
        name.to_owned()
    }

    fn add(&mut self, id: &ResourceId, kind: NodeKind, lines: Vec<String>) -> NodeIndex {
        let index = self.graph.add_node(Node { id: id.clone(), kind, lines });
        self.nodes.insert(id.key().to_owned(), index);
        index
    }

    /// Each resource of `kind` the caller sees.
    fn each(&self, kind: Kind) -> impl Iterator<Item = &'a Stored> + use<'a> {
        let visible = self.visible;
        self.state.all_of(kind).into_iter().filter(move |s| visible(s.id()))
    }

    /// The node of `id`, or a placeholder saying it is not in the lab (or not visible).
    fn node_or_absent(&mut self, id: &ResourceId) -> NodeIndex {
        if let Some(index) = self.nodes.get(id.key()) {
            return *index;
        }
        let what = match id.kind() {
            Some(Kind::VirtualNetwork) => "virtual network",
            Some(Kind::VirtualNetworkGateway) => "virtual network gateway",
            Some(Kind::LocalNetworkGateway) => "local network gateway",
            Some(other) => other.short_name(),
            None => "resource",
        };
        let whose = if (self.visible)(id) { "not in the lab" } else { "you cannot read" };
        let lines = vec![id.name().to_owned(), format!("{what} {whose}")];
        self.add(id, NodeKind::Absent, lines)
    }

    fn vnets(&mut self) {
        for stored in self.each(Kind::VirtualNetwork) {
            let Some(vnet) = stored.resource.as_virtual_network() else {
                continue;
            };
            let lines = vec![
                self.title(&vnet.id, NodeKind::VirtualNetwork),
                prefixes(&vnet.properties.address_space.address_prefixes),
                vnet.location.to_string(),
            ];
            self.add(&vnet.id, NodeKind::VirtualNetwork, lines);
        }
    }

    fn gateways(&mut self) {
        for stored in self.each(Kind::VirtualNetworkGateway) {
            let Some(gateway) = stored.resource.as_virtual_network_gateway() else {
                continue;
            };
            let p = &gateway.properties;
            let what = match p.gateway_type {
                GatewayType::Vpn => "VPN gateway",
                GatewayType::ExpressRoute => "ExpressRoute gateway",
                GatewayType::LocalGateway => "local gateway",
            };
            let mut lines =
                vec![self.title(&gateway.id, NodeKind::VirtualNetworkGateway), format!("{what} {}", p.sku.name)];
            if p.active_active {
                lines.push("active-active".to_owned());
            }
            if p.enable_bgp {
                lines.push(format!("BGP AS{}", p.bgp_settings.asn));
            }
            self.add(&gateway.id, NodeKind::VirtualNetworkGateway, lines);
        }
    }

    fn sites(&mut self) {
        for stored in self.each(Kind::LocalNetworkGateway) {
            let Some(site) = stored.resource.as_local_network_gateway() else {
                continue;
            };
            let p = &site.properties;
            let space = &p.local_network_address_space.address_prefixes;
            let mut lines = vec![self.title(&site.id, NodeKind::Site), "on-premises site".to_owned()];
            // A BGP-only site announces its prefixes instead of declaring them.
            lines.push(if space.is_empty() { "no address space".to_owned() } else { prefixes(space) });
            match (&p.gateway_ip_address, &p.fqdn) {
                (Some(ip), _) => lines.push(format!("VPN device {ip}")),
                (None, Some(fqdn)) => lines.push(format!("VPN device {fqdn}")),
                (None, None) => {}
            }
            self.add(&site.id, NodeKind::Site, lines);
        }
    }

    /// One edge per pair of VNets: both links as one edge, a lone link as a dashed arrow.
    fn peerings(&mut self) {
        let mut drawn: BTreeSet<(String, String)> = BTreeSet::new();
        for stored in self.each(Kind::VirtualNetworkPeering) {
            let Some(link) = stored.resource.as_peering() else {
                continue;
            };
            let Some(local) = link.local_vnet_id() else {
                continue;
            };
            let remote = link.remote_vnet_id();
            let pair = if local.key() <= remote.key() {
                (local.key().to_owned(), remote.key().to_owned())
            } else {
                (remote.key().to_owned(), local.key().to_owned())
            };
            if !drawn.insert(pair) {
                continue;
            }
            let local_node = self.node_or_absent(&local);
            let remote_node = self.node_or_absent(remote);
            // The link back is drawn only when the caller sees it, as well.
            let reverse = self
                .state
                .link_from_to(remote, &local)
                .filter(|s| (self.visible)(s.id()))
                .and_then(|s| s.resource.as_peering());
            match reverse {
                Some(reverse) => {
                    // The VNet with the smaller id is the source, whichever link came first.
                    let (source, source_link, target, target_link) = if local.key() <= remote.key() {
                        (local_node, link, remote_node, reverse)
                    } else {
                        (remote_node, reverse, local_node, link)
                    };
                    let edge = Edge::Peering {
                        source_link: source_link.name.clone(),
                        source_state: source_link.properties.peering_state,
                        target_link: target_link.name.clone(),
                        target_state: target_link.properties.peering_state,
                    };
                    self.graph.add_edge(source, target, edge);
                }
                None => {
                    let edge = Edge::Link { name: link.name.clone(), state: link.properties.peering_state };
                    self.graph.add_edge(local_node, remote_node, edge);
                }
            }
        }
    }

    fn attachments(&mut self) {
        for stored in self.each(Kind::VirtualNetworkGateway) {
            let Some(gateway) = stored.resource.as_virtual_network_gateway() else {
                continue;
            };
            let Some(vnet) = gateway.vnet_id() else {
                continue;
            };
            let vnet_node = self.node_or_absent(&vnet);
            let gateway_node = self.node_or_absent(&gateway.id);
            self.graph.add_edge(vnet_node, gateway_node, Edge::Attachment);
        }
    }

    fn connections(&mut self) {
        for stored in self.each(Kind::Connection) {
            let Some(connection) = stored.resource.as_connection() else {
                continue;
            };
            let p = &connection.properties;
            let far_end = match p.connection_type {
                ConnectionType::Vnet2Vnet => p.virtual_network_gateway2.as_ref(),
                ConnectionType::IPsec => p.local_network_gateway2.as_ref(),
                ConnectionType::ExpressRoute => p.peer.as_ref(),
                // Point-to-site clients are not a place in the topology.
                ConnectionType::VPNClient => None,
            };
            let Some(far_end) = far_end else {
                continue;
            };
            let from = self.node_or_absent(&p.virtual_network_gateway1.id);
            let to = self.node_or_absent(&far_end.id);
            let edge = Edge::Connection {
                name: connection.name.clone(),
                connection_type: p.connection_type,
                status: p.connection_status,
            };
            self.graph.add_edge(from, to, edge);
        }
    }
}

fn prefixes(prefixes: &[Prefix]) -> String {
    prefixes.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

/// A DOT double-quoted string. Backslashes are doubled so that Graphviz's `\N`, `\G`, `\l`
/// escapes never appear by accident; control characters become spaces. Graphviz also reads
/// `&name;` as an entity, so its `&` is written `&amp;`; layout-rs reads no entities.
fn dot_quote(s: &str, dialect: Dialect) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '&' if dialect == Dialect::Graphviz => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A DOT label of several lines: each line quoted, joined with DOT's `\n`.
fn dot_label(lines: &[String], dialect: Dialect) -> String {
    let quoted: Vec<String> = lines.iter().map(|l| dot_quote(l, dialect)).collect();
    let inner: Vec<&str> = quoted.iter().map(|q| &q[1..q.len() - 1]).collect();
    format!("\"{}\"", inner.join("\\n"))
}

fn dot_attrs(attrs: &[(&str, String)]) -> String {
    attrs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Text inside a quoted Mermaid label. Mermaid reads `#name;` and `#number;` as entities, so
/// `#` itself is one; `<`, `>` and `&` would otherwise be read as HTML.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An SVG with one line of text, for when there is nothing to lay out.
fn message_svg(message: &str) -> String {
    let mut text = String::new();
    for c in message.chars() {
        match c {
            '&' => text.push_str("&amp;"),
            '<' => text.push_str("&lt;"),
            '>' => text.push_str("&gt;"),
            c => text.push(c),
        }
    }
    let width = 20 + 8 * message.chars().count();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
         <svg width=\"{width}\" height=\"40\" viewBox=\"0 0 {width} 40\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <text x=\"10\" y=\"25\" font-family=\"Times, serif\" font-size=\"14px\">{text}</text>\n\
         </svg>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnetlab_engine::{Operation, Settings};
    use vnetlab_topology::{Defaults, Loaded, simulate};

    const TENANT: &str = "0000aaaa-0000-0000-0000-000000000001";
    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    /// A hub with a VPN gateway to a branch office and to a DR VNet's gateway; spoke1 peered with
    /// the hub both ways, spoke2 linked from the hub only, and spoke1 ↔ spoke2 peered both ways
    /// (spoke2's side is deleted below, leaving spoke1's Disconnected).
    const LAB: &str = r#"
name: graph
resourceGroup: graph-rg
location: westeurope
vnets:
  - name: hub
    addressSpace: [10.0.0.0/16]
    subnets:
      - name: GatewaySubnet
        addressPrefix: 10.0.255.0/27
  - name: spoke1
    addressSpace: [10.1.0.0/16]
  - name: spoke2
    location: northeurope
    addressSpace: [10.2.0.0/16, 10.12.0.0/16]
  - name: dr
    addressSpace: [10.9.0.0/16]
    subnets:
      - name: GatewaySubnet
        addressPrefix: 10.9.255.0/27
gateways:
  - name: hub-vpngw
    vnet: hub
    sku: VpnGw1
  - name: dr-vpngw
    vnet: dr
    sku: VpnGw1
sites:
  - name: branch-office
    addressSpace: [192.168.0.0/16]
    gatewayIp: 203.0.113.10
connections:
  - name: hub-to-branch
    type: IPsec
    gateway: hub-vpngw
    site: branch-office
    sharedKey: not-a-secret
  - name: hub-to-dr
    type: Vnet2Vnet
    gateway: hub-vpngw
    remoteGateway: dr-vpngw
    sharedKey: not-a-secret
peerings:
  - vnet: hub
    remote: spoke1
  - vnet: hub
    remote: spoke2
    oneWay: true
  - vnet: spoke1
    remote: spoke2
"#;

    fn id(kind: Kind, name: &str) -> ResourceId {
        ResourceId::resource_group(SUB, "graph-rg").unwrap().top_level(kind, name).unwrap()
    }

    fn vnet(name: &str) -> ResourceId {
        id(Kind::VirtualNetwork, name)
    }

    fn run(state: &State, ops: &[Operation], origin: Option<&str>) -> State {
        simulate(state, ops, &Settings::default(), origin).unwrap_or_else(|(i, e)| panic!("operation {i}: {e}"))
    }

    /// The lab above, with a peering in each state.
    fn lab() -> State {
        let tenancy = [
            Operation::TenantPut { tenant_id: TENANT.into(), display_name: "vnetlab".into(), default_domain: None },
            Operation::SubscriptionPut {
                subscription_id: SUB.into(),
                display_name: "vnetlab".into(),
                tenant_id: TENANT.into(),
            },
        ];
        let state = run(&State::new(), &tenancy, None);
        let loaded = Loaded::parse("graph.yaml", LAB.to_owned()).unwrap();
        let defaults = Defaults { tenant_id: TENANT.into(), subscription_id: SUB.into(), secrets: None, owner: None };
        let compiled = loaded.compile(&state, &defaults).unwrap_or_else(|e| panic!("{e}"));
        let state = run(&state, &compiled.ops, Some(&loaded.origin()));
        let back = state.link_from_to(&vnet("spoke2"), &vnet("spoke1")).expect("spoke2 links back").id().clone();
        run(&state, &[Operation::PeeringDelete { id: back }], None)
    }

    /// The edges as `source <kind> target: label`, with node names, in drawing order.
    fn edges(topology: &Topology) -> Vec<String> {
        let g = &topology.graph;
        g.edge_references()
            .map(|e| {
                let arrow = match e.weight() {
                    Edge::Peering { .. } => "<->",
                    Edge::Link { .. } => "-->",
                    Edge::Attachment => "---",
                    Edge::Connection { .. } => "==>",
                };
                let label = e.weight().label().join(" | ");
                format!("{} {arrow} {}: {label}", g[e.source()].id.name(), g[e.target()].id.name())
            })
            .collect()
    }

    /// The DOT line of the node whose label's first line is `name`.
    fn dot_node<'d>(dot: &'d str, name: &str) -> &'d str {
        let label = format!("[label=\"{name}\\n");
        let mut found = dot.lines().filter(|l| l.contains(&label));
        let line = found.next().unwrap_or_else(|| panic!("no node {name} in\n{dot}"));
        assert!(found.next().is_none(), "two nodes {name} in\n{dot}");
        line
    }

    /// The DOT id of the node whose label's first line is `name`.
    fn dot_id<'d>(dot: &'d str, name: &str) -> &'d str {
        dot_node(dot, name).split_whitespace().next().unwrap_or_default()
    }

    /// The DOT lines that draw an edge between the nodes named `a` and `b`, either way.
    fn dot_edges_between<'d>(dot: &'d str, a: &str, b: &str) -> Vec<&'d str> {
        let (a, b) = (dot_id(dot, a), dot_id(dot, b));
        dot.lines()
            .filter(|l| {
                l.contains(&format!(" {a} -> {b} ["))
                    || l.contains(&format!(" {b} -> {a} ["))
                    || l.contains(&format!(" {a} -- {b} ["))
                    || l.contains(&format!(" {b} -- {a} ["))
            })
            .collect()
    }

    #[test]
    fn graph_has_every_resource_and_one_edge_per_vnet_pair() {
        let topology = Topology::from_state(&lab());
        let nodes: Vec<(NodeKind, Vec<String>)> =
            topology.graph.node_weights().map(|n| (n.kind, n.lines.clone())).collect();
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            nodes,
            vec![
                (NodeKind::VirtualNetwork, lines(&["dr", "10.9.0.0/16", "westeurope"])),
                (NodeKind::VirtualNetwork, lines(&["hub", "10.0.0.0/16", "westeurope"])),
                (NodeKind::VirtualNetwork, lines(&["spoke1", "10.1.0.0/16", "westeurope"])),
                (NodeKind::VirtualNetwork, lines(&["spoke2", "10.2.0.0/16, 10.12.0.0/16", "northeurope"])),
                (NodeKind::VirtualNetworkGateway, lines(&["dr-vpngw", "VPN gateway VpnGw1"])),
                (NodeKind::VirtualNetworkGateway, lines(&["hub-vpngw", "VPN gateway VpnGw1"])),
                (
                    NodeKind::Site,
                    lines(&["branch-office", "on-premises site", "192.168.0.0/16", "VPN device 203.0.113.10"])
                ),
            ]
        );
        assert_eq!(
            edges(&topology),
            vec![
                "hub <-> spoke1: Connected / Connected",
                "hub --> spoke2: Initiated",
                "spoke1 --> spoke2: Disconnected",
                "dr --- dr-vpngw: ",
                "hub --- hub-vpngw: ",
                "dr-vpngw ==> hub-vpngw: dr-vpngw-to-hub-vpngw | Vnet2Vnet, Connected",
                "hub-vpngw ==> branch-office: hub-to-branch | IPsec, Connected",
                "hub-vpngw ==> dr-vpngw: hub-to-dr | Vnet2Vnet, Connected",
            ]
        );
    }

    #[test]
    fn dot_draws_a_peered_pair_as_one_edge_with_both_states() {
        let dot = render(&lab(), GraphFormat::Dot);
        let pair = dot_edges_between(&dot, "hub", "spoke1");
        assert_eq!(pair.len(), 1, "{dot}");
        assert_eq!(
            pair[0],
            "    vnet2 -> vnet3 [label=\"Connected / Connected\", color=\"#2e7d32\", penwidth=\"2\", \
             tooltip=\"hub/hub-to-spoke1: Connected; spoke1/spoke1-to-hub: Connected\", dir=\"both\"];"
        );
        assert_eq!((dot_id(&dot, "hub"), dot_id(&dot, "spoke1")), ("vnet2", "vnet3"));
    }

    #[test]
    fn dot_draws_lone_links_dashed_and_directed_in_their_state_colour() {
        let dot = render(&lab(), GraphFormat::Dot);
        let initiated = dot_edges_between(&dot, "hub", "spoke2");
        assert_eq!(initiated.len(), 1, "{dot}");
        assert_eq!(
            initiated[0],
            format!(
                "    {} -> {} [label=\"Initiated\", color=\"#ffb300\", style=\"dashed\", \
                 tooltip=\"hub/hub-to-spoke2: Initiated\"];",
                dot_id(&dot, "hub"),
                dot_id(&dot, "spoke2")
            )
        );
        let disconnected = dot_edges_between(&dot, "spoke1", "spoke2");
        assert_eq!(disconnected.len(), 1, "{dot}");
        assert_eq!(
            disconnected[0],
            format!(
                "    {} -> {} [label=\"Disconnected\", color=\"#c62828\", style=\"dashed\", \
                 tooltip=\"spoke1/spoke1-to-spoke2: Disconnected\"];",
                dot_id(&dot, "spoke1"),
                dot_id(&dot, "spoke2")
            )
        );
        let colours: BTreeSet<&str> = PeeringState::ALL.iter().map(|s| peering_color(*s)).collect();
        assert_eq!(colours.len(), 3, "each state has its own colour");
    }

    #[test]
    fn dot_draws_gateways_sites_and_connections() {
        let dot = render(&lab(), GraphFormat::Dot);
        assert!(dot.starts_with("digraph vnetlab {\n"), "{dot}");
        assert!(dot.ends_with("}\n"));
        assert_eq!(
            dot_node(&dot, "spoke2"),
            format!(
                "    vnet4 [label=\"spoke2\\n10.2.0.0/16, 10.12.0.0/16\\nnortheurope\", fillcolor=\"#bbdefb\", \
                 tooltip=\"{}\"];",
                vnet("spoke2")
            )
        );
        assert_eq!(
            dot_node(&dot, "hub-vpngw"),
            format!(
                "    gw2 [label=\"hub-vpngw\\nVPN gateway VpnGw1\", fillcolor=\"#fff9c4\", tooltip=\"{}\"];",
                id(Kind::VirtualNetworkGateway, "hub-vpngw")
            )
        );
        assert_eq!(
            dot_node(&dot, "branch-office"),
            format!(
                "    site1 [label=\"branch-office\\non-premises site\\n192.168.0.0/16\\nVPN device 203.0.113.10\", \
                 fillcolor=\"#e0e0e0\", tooltip=\"{}\"];",
                id(Kind::LocalNetworkGateway, "branch-office")
            )
        );

        assert_eq!(
            dot_edges_between(&dot, "hub", "hub-vpngw"),
            ["    vnet2 -> gw2 [color=\"#616161\", dir=\"none\"];"]
        );
        assert_eq!(
            dot_edges_between(&dot, "hub-vpngw", "branch-office"),
            ["    gw2 -> site1 [label=\"hub-to-branch\\nIPsec, Connected\", color=\"#1565c0\"];"]
        );
        // Each Vnet2Vnet connection is a resource of its own: one edge each way.
        assert_eq!(
            dot_edges_between(&dot, "hub-vpngw", "dr-vpngw"),
            [
                "    gw1 -> gw2 [label=\"dr-vpngw-to-hub-vpngw\\nVnet2Vnet, Connected\", color=\"#1565c0\"];",
                "    gw2 -> gw1 [label=\"hub-to-dr\\nVnet2Vnet, Connected\", color=\"#1565c0\"];",
            ]
        );
    }

    #[test]
    fn a_pair_whose_links_disagree_shows_both_states_and_both_colours() {
        let mut state = lab();
        let link = state.link_from_to(&vnet("spoke1"), &vnet("hub")).unwrap().clone();
        let mut changed = link.clone();
        if let vnetlab_model::Resource::VirtualNetworkPeering(p) = &mut changed.resource {
            p.properties.peering_state = PeeringState::Initiated;
        }
        state.insert(changed);
        let dot = render(&state, GraphFormat::Dot);
        let pair = dot_edges_between(&dot, "hub", "spoke1");
        assert_eq!(pair.len(), 1, "{dot}");
        // hub has the smaller id, so its link's state comes first; the worse colour comes first.
        assert!(pair[0].contains("label=\"Connected / Initiated\""), "{}", pair[0]);
        assert!(pair[0].contains("color=\"#ffb300:#2e7d32\""), "{}", pair[0]);
        let mermaid = render(&state, GraphFormat::Mermaid);
        assert!(mermaid.contains("vnet2 <-->|\"Connected / Initiated\"| vnet3\n"), "{mermaid}");
    }

    #[test]
    fn a_remote_vnet_outside_the_lab_is_drawn_as_absent() {
        let mut state = lab();
        state.remove(&vnet("spoke2"));
        let topology = Topology::from_state(&state);
        let absent: Vec<&Node> = topology.graph.node_weights().filter(|n| n.kind == NodeKind::Absent).collect();
        assert_eq!(absent.len(), 1);
        assert_eq!(absent[0].id, vnet("spoke2"));
        assert_eq!(absent[0].lines, ["spoke2", "virtual network not in the lab"]);
        let dot = topology.dot();
        assert!(dot_node(&dot, "spoke2").contains("style=\"dashed\""), "{dot}");
        assert_eq!(dot_edges_between(&dot, "hub", "spoke2").len(), 1);
        assert!(topology.svg().contains("virtual network not in the lab"));
    }

    #[test]
    fn svg_is_well_formed_and_names_every_vnet() {
        let svg = render(&lab(), GraphFormat::Svg);
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        for tag in ["svg", "g", "text", "tspan", "style", "defs", "marker", "clipPath"] {
            let opened = svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count();
            assert_eq!(opened, svg.matches(&format!("</{tag}>")).count(), "unbalanced <{tag}>");
        }
        for name in ["hub", "spoke1", "spoke2", "dr", "hub-vpngw", "branch-office", "10.2.0.0/16, 10.12.0.0/16"] {
            assert!(svg.contains(&format!(">{name}<")), "no {name} in the SVG");
        }
        for state in PeeringState::ALL {
            let colour = Color::from_hex(peering_color(*state));
            assert!(svg.contains(&format!("stroke=\"{colour}\"")), "no {state} edge in the SVG");
        }
        assert!(svg.contains("stroke-dasharray"), "lone links are dashed");
    }

    /// layout-rs writes colours as `#rrggbbaa`.
    struct Color;
    impl Color {
        fn from_hex(hex: &str) -> String {
            format!("{hex}ff")
        }
    }

    #[test]
    fn mermaid_is_a_flowchart_with_every_edge() {
        let mermaid = render(&lab(), GraphFormat::Mermaid);
        assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
        let expected_nodes = [
            "    vnet1[\"dr<br/>10.9.0.0/16<br/>westeurope\"]",
            "    vnet2[\"hub<br/>10.0.0.0/16<br/>westeurope\"]",
            "    gw2{{\"hub-vpngw<br/>VPN gateway VpnGw1\"}}",
            "    site1[/\"branch-office<br/>on-premises site<br/>192.168.0.0/16<br/>VPN device 203.0.113.10\"/]",
        ];
        for line in expected_nodes {
            assert!(mermaid.lines().any(|l| l == line), "no `{line}` in\n{mermaid}");
        }
        let expected_edges = [
            "    vnet2 <-->|\"Connected / Connected\"| vnet3",
            "    vnet2 -.->|\"Initiated\"| vnet4",
            "    vnet3 -.->|\"Disconnected\"| vnet4",
            "    vnet1 --- gw1",
            "    vnet2 --- gw2",
            "    gw1 -->|\"dr-vpngw-to-hub-vpngw<br/>Vnet2Vnet, Connected\"| gw2",
            "    gw2 -->|\"hub-to-branch<br/>IPsec, Connected\"| site1",
            "    gw2 -->|\"hub-to-dr<br/>Vnet2Vnet, Connected\"| gw1",
        ];
        let edges: Vec<&str> = mermaid
            .lines()
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|t| t.starts_with('-') || t.starts_with("<-")))
            .collect();
        assert_eq!(edges, expected_edges);
        assert!(mermaid.contains("    linkStyle 0 stroke:#2e7d32,stroke-width:2px\n"));
        assert!(mermaid.contains("    linkStyle 1 stroke:#ffb300,stroke-width:1px\n"));
        assert!(mermaid.contains("    linkStyle 2 stroke:#c62828,stroke-width:1px\n"));
        assert!(mermaid.contains("    class vnet1,vnet2,vnet3,vnet4 vnet\n"));
    }

    #[test]
    fn labels_are_escaped_for_each_format() {
        let a = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/a")
            .unwrap();
        let b = a.parent().unwrap().top_level(Kind::VirtualNetwork, "b").unwrap();
        let nasty = "say \"hi\" \\N <b>&amp; #1 `x`";
        let mut graph = DiGraph::new();
        let na =
            graph.add_node(Node { id: a, kind: NodeKind::VirtualNetwork, lines: vec![nasty.into(), "two".into()] });
        let nb = graph.add_node(Node { id: b, kind: NodeKind::Absent, lines: vec!["b".into()] });
        graph.add_edge(na, nb, Edge::Link { name: "x".into(), state: PeeringState::Initiated });
        let topology = Topology { graph };

        let dot = topology.dot();
        assert!(dot.contains(r#"label="say \"hi\" \\N <b>&amp;amp; #1 `x`\ntwo""#), "{dot}");

        let mermaid = topology.mermaid();
        assert!(
            mermaid.contains(r#"vnet1["say #quot;hi#quot; \N #lt;b#gt;#amp;amp; #35;1 #96;x#96;<br/>two"]"#),
            "{mermaid}"
        );
        assert!(mermaid.contains("vnet1 -.->|\"Initiated\"| absent1"), "{mermaid}");

        let svg = topology.svg();
        assert!(svg.contains(">say &quot;hi&quot; \\N &lt;b&gt;&amp;amp; #1 `x`<"), "{svg}");
        assert!(!svg.contains("<b>"));
    }

    /// `n` VNets, the first peered with each other one (`mesh` false) or each with every other.
    fn peered(n: usize, mesh: bool) -> Topology {
        let group = ResourceId::resource_group(SUB, "rg").unwrap();
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..n)
            .map(|i| {
                let id = group.top_level(Kind::VirtualNetwork, &format!("v{i}")).unwrap();
                graph.add_node(Node { id, kind: NodeKind::VirtualNetwork, lines: vec![format!("v{i}")] })
            })
            .collect();
        for i in 0..n {
            for j in (i + 1)..n {
                if mesh || i == 0 {
                    let edge = Edge::Peering {
                        source_link: format!("v{i}-to-v{j}"),
                        source_state: PeeringState::Connected,
                        target_link: format!("v{j}-to-v{i}"),
                        target_state: PeeringState::Connected,
                    };
                    graph.add_edge(nodes[i], nodes[j], edge);
                }
            }
        }
        Topology { graph }
    }

    #[test]
    fn layout_size_counts_the_nodes_long_edges_need() {
        // A hub and 9 spokes: 10 boxes and one label connector per peering.
        assert_eq!(peered(10, false).layout_size(), 10 + 9);
        // A full mesh of 10 is a chain of ranks: the edge from rank i to rank j (labels doubling
        // each step) needs 2(j - i) - 1 extra nodes.
        let mesh: usize = (0..10).flat_map(|i| ((i + 1)..10).map(move |j| 2 * (j - i) - 1)).sum();
        assert_eq!(peered(10, true).layout_size(), 10 + mesh);
    }

    #[test]
    fn a_topology_too_large_to_lay_out_says_what_to_use_instead() {
        let big = peered(30, true);
        assert!(big.layout_size() > LAYOUT_MAX);
        let svg = big.svg();
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("This topology (30 nodes, 435 edges) is too large to lay out here"), "{svg}");
        assert!(svg.contains("--format dot | dot -Tsvg"), "{svg}");
        // DOT and Mermaid have no such limit.
        assert_eq!(big.dot().matches(" -> ").count(), 435);
        assert_eq!(big.mermaid().matches(" <-->").count(), 435);
        // A hub with many spokes is laid out, without reordering.
        let hub = peered(300, false);
        assert!(hub.layout_size() > LAYOUT_OPTIMIZE_MAX && hub.layout_size() <= LAYOUT_MAX);
        assert!(hub.svg().contains(">v299<"));
    }

    #[test]
    fn names_shared_by_two_resource_groups_show_their_group() {
        let mut state = lab();
        let hub = state.get(&vnet("hub")).unwrap().clone();
        let mut other = hub.clone();
        if let vnetlab_model::Resource::VirtualNetwork(v) = &mut other.resource {
            v.id = ResourceId::resource_group(SUB, "other-rg").unwrap().top_level(Kind::VirtualNetwork, "HUB").unwrap();
            v.name = "HUB".into();
        }
        state.insert(other);
        let titles: Vec<String> = Topology::from_state(&state)
            .graph
            .node_weights()
            .filter(|n| n.kind == NodeKind::VirtualNetwork)
            .map(|n| n.lines[0].clone())
            .collect();
        assert_eq!(titles, ["dr", "hub (graph-rg)", "spoke1", "spoke2", "HUB (other-rg)"]);
    }

    #[test]
    fn rendering_is_deterministic() {
        let state = lab();
        for format in GraphFormat::ALL {
            let first = render(&state, format);
            for _ in 0..3 {
                assert_eq!(render(&state, format), first, "{format} changed between runs");
            }
        }
    }

    #[test]
    fn an_empty_lab_renders_in_every_format() {
        let state = State::new();
        assert_eq!(
            render(&state, GraphFormat::Dot),
            "digraph vnetlab {\n    graph [rankdir=\"LR\", fontsize=\"12\"];\n    node [shape=\"box\", style=\"filled\", \
             fontsize=\"12\"];\n    edge [fontsize=\"12\"];\n}\n"
        );
        assert_eq!(render(&state, GraphFormat::Mermaid), "flowchart LR\n");
        let svg = render(&state, GraphFormat::Svg);
        assert!(svg.starts_with("<?xml") && svg.contains("The lab has no virtual networks."), "{svg}");
    }

    #[test]
    fn formats_parse_from_their_names() {
        for format in GraphFormat::ALL {
            assert_eq!(format.as_str().parse::<GraphFormat>(), Ok(format));
            assert_eq!(format.to_string().to_uppercase().parse::<GraphFormat>(), Ok(format));
        }
        assert_eq!("graphviz".parse::<GraphFormat>(), Ok(GraphFormat::Dot));
        assert_eq!(
            "png".parse::<GraphFormat>(),
            Err("'png' is not a graph format; use one of: svg, dot, mermaid".to_owned())
        );
    }
}
