//! The fabric's nftables table: a small rule model of our own, lowered to the `nftables`
//! crate's JSON schema, and a reconciler that compares it with what the kernel holds chain by
//! chain. Every rule carries a comment with a hash of itself, so a chain is unchanged when its
//! list of comments is; a changed chain is flushed and refilled in the same atomic batch as
//! everything else, and untouched chains (and the named counters the meter reads) stay as they
//! are.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{self, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, SetItem};
use nftables::schema::{self, NfListObject, Nftables};
use nftables::stmt::{self, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde_json::Value;

use crate::names::{TABLE, hash};

/// A condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cond {
    /// The packet came in through one of these ports (or, negated, through none of them).
    Iif(Vec<String>, bool),
    Oif(Vec<String>, bool),
    Saddr(Vec<Ipv4Net>, bool),
    Daddr(Vec<Ipv4Net>, bool),
    /// IP protocol numbers.
    Proto(Vec<u8>),
    Sport(Vec<(u16, u16)>),
    Dport(Vec<(u16, u16)>),
    /// Part of a connection conntrack has seen answered (or related to one).
    Established,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Accept,
    Drop,
    Return,
    Jump(String),
    /// Adds to a named counter and goes on.
    Count(String),
    /// Jumps to the chain the ingress port maps to (ports not in the map go on).
    IifMap(Vec<(String, String)>),
    OifMap(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FwRule {
    pub conds: Vec<Cond>,
    pub action: Action,
}

impl FwRule {
    pub fn new(conds: Vec<Cond>, action: Action) -> FwRule {
        FwRule { conds, action }
    }

    /// The comment that identifies this rule's content.
    fn tag(&self) -> String {
        format!("{:016x}", hash(&format!("{self:?}")))
    }
}

/// A base chain: where it hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Forward,
    Postrouting,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub hook: Option<Hook>,
    pub rules: Vec<FwRule>,
}

/// The whole table as the reconciler wants it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub chains: BTreeMap<String, Chain>,
    pub counters: BTreeSet<String>,
}

impl Ruleset {
    pub fn chain(&mut self, name: &str) -> &mut Chain {
        self.chains.entry(name.to_owned()).or_default()
    }
}

/// What the kernel holds: per chain, the comments of its rules in order; the counters with
/// their byte counts.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub table: bool,
    pub chains: BTreeMap<String, Vec<String>>,
    pub counters: BTreeMap<String, (u64, u64)>,
}

impl Observed {
    /// What the kernel holds after `rs` was applied.
    pub fn written(rs: &Ruleset) -> Observed {
        Observed {
            table: true,
            chains: rs
                .chains
                .iter()
                .map(|(name, c)| (name.clone(), c.rules.iter().map(FwRule::tag).collect()))
                .collect(),
            counters: rs.counters.iter().map(|c| (c.clone(), (0, 0))).collect(),
        }
    }
}

/// Reads vnetlab's table (in the namespace of the calling thread).
pub fn observe() -> io::Result<Observed> {
    let out = std::process::Command::new("nft").args(["-j", "list", "table", "ip", TABLE]).output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such file or directory") || err.contains("does not exist") {
            return Ok(Observed::default());
        }
        return Err(io::Error::other(format!("nft list table: {}", err.trim())));
    }
    parse_listing(&String::from_utf8_lossy(&out.stdout))
}

/// The listing's JSON, read by hand: the crate's schema holds counters in 32 bits.
fn parse_listing(text: &str) -> io::Result<Observed> {
    let json: Value = serde_json::from_str(text).map_err(|e| io::Error::other(format!("nft listing: {e}")))?;
    let mut seen = Observed::default();
    for item in json.get("nftables").and_then(Value::as_array).into_iter().flatten() {
        if item.get("table").is_some() {
            seen.table = true;
        } else if let Some(c) = item.get("chain") {
            if let Some(name) = c.get("name").and_then(Value::as_str) {
                seen.chains.entry(name.to_owned()).or_default();
            }
        } else if let Some(r) = item.get("rule") {
            let chain = r.get("chain").and_then(Value::as_str).unwrap_or_default();
            let comment = r.get("comment").and_then(Value::as_str).unwrap_or("-");
            seen.chains.entry(chain.to_owned()).or_default().push(comment.to_owned());
        } else if let Some(c) = item.get("counter")
            && let Some(name) = c.get("name").and_then(Value::as_str)
        {
            let packets = c.get("packets").and_then(Value::as_u64).unwrap_or(0);
            let bytes = c.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            seen.counters.insert(name.to_owned(), (packets, bytes));
        }
    }
    Ok(seen)
}

/// What a reconcile of the table changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwChanges {
    pub chains_written: usize,
    pub chains_removed: usize,
    pub counters_added: usize,
    pub counters_removed: usize,
}

impl FwChanges {
    pub fn is_empty(&self) -> bool {
        *self == FwChanges::default()
    }

    pub fn add(&mut self, other: &FwChanges) {
        self.chains_written += other.chains_written;
        self.chains_removed += other.chains_removed;
        self.counters_added += other.counters_added;
        self.counters_removed += other.counters_removed;
    }
}

/// The batch that turns `seen` into `want`, or `None` when they already agree.
pub fn plan(want: &Ruleset, seen: &Observed) -> (Option<Nftables<'static>>, FwChanges) {
    let mut batch = Batch::new();
    let mut changes = FwChanges::default();
    if !seen.table {
        batch.add(NfListObject::Table(schema::Table { family: NfFamily::IP, name: TABLE.into(), handle: None }));
    }
    for name in want.counters.iter().filter(|c| !seen.counters.contains_key(*c)) {
        batch.add(NfListObject::Counter(counter(name)));
        changes.counters_added += 1;
    }
    // New chains first (empty), so that jumps written below find them.
    for (name, chain) in &want.chains {
        if !seen.chains.contains_key(name) {
            batch.add(NfListObject::Chain(chain_object(name, chain.hook)));
        }
    }
    for (name, chain) in &want.chains {
        let tags: Vec<String> = chain.rules.iter().map(FwRule::tag).collect();
        match seen.chains.get(name) {
            Some(have) if *have == tags => continue,
            Some(_) => batch.add_cmd(schema::NfCmd::Flush(schema::FlushObject::Chain(chain_object(name, None)))),
            None => {}
        }
        for (rule, tag) in chain.rules.iter().zip(tags) {
            batch.add(NfListObject::Rule(schema::Rule {
                family: NfFamily::IP,
                table: TABLE.into(),
                chain: name.clone().into(),
                expr: Cow::Owned(lower(rule)),
                handle: None,
                index: None,
                comment: Some(tag.into()),
            }));
        }
        changes.chains_written += 1;
    }
    let gone: Vec<&String> = seen.chains.keys().filter(|c| !want.chains.contains_key(*c)).collect();
    for name in &gone {
        batch.add_cmd(schema::NfCmd::Flush(schema::FlushObject::Chain(chain_object(name, None))));
    }
    for name in &gone {
        batch.delete(NfListObject::Chain(chain_object(name, None)));
        changes.chains_removed += 1;
    }
    for name in seen.counters.keys().filter(|c| !want.counters.contains(*c)) {
        batch.delete(NfListObject::Counter(counter(name)));
        changes.counters_removed += 1;
    }
    if changes.is_empty() && seen.table {
        return (None, changes);
    }
    (Some(batch.to_nftables()), changes)
}

/// Applies `batch` (in the namespace of the calling thread): all of it or nothing.
pub fn apply(batch: &Nftables<'_>) -> io::Result<()> {
    nftables::helper::apply_ruleset(batch).map_err(|e| io::Error::other(format!("nft: {e}")))
}

fn counter(name: &str) -> schema::Counter<'static> {
    schema::Counter {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: name.to_owned().into(),
        handle: None,
        packets: None,
        bytes: None,
    }
}

fn chain_object(name: &str, hook: Option<Hook>) -> schema::Chain<'static> {
    let mut chain =
        schema::Chain { family: NfFamily::IP, table: TABLE.into(), name: name.to_owned().into(), ..Default::default() };
    if let Some(hook) = hook {
        chain._type = Some(NfChainType::Filter);
        chain.hook = Some(match hook {
            Hook::Forward => NfHook::Forward,
            Hook::Postrouting => NfHook::Postrouting,
        });
        chain.prio = Some(0);
        chain.policy = Some(NfChainPolicy::Accept);
    }
    chain
}

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_owned()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

fn prefix(net: &Ipv4Net) -> Expression<'static> {
    if net.prefix_len() == 32 {
        return string(&net.addr().to_string());
    }
    Expression::Named(NamedExpression::Prefix(expr::Prefix {
        addr: Box::new(string(&net.network().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}

fn port_range(&(low, high): &(u16, u16)) -> Expression<'static> {
    if low == high {
        Expression::Number(u32::from(low))
    } else {
        Expression::Range(Box::new(expr::Range {
            range: [Expression::Number(low.into()), Expression::Number(high.into())],
        }))
    }
}

/// One value, or an anonymous set of several.
fn one_or_set(mut items: Vec<Expression<'static>>) -> Expression<'static> {
    if items.len() == 1 {
        return items.remove(0);
    }
    Expression::Named(NamedExpression::Set(items.into_iter().map(SetItem::Element).collect()))
}

fn matches(left: Expression<'static>, right: Expression<'static>, negated: bool) -> Statement<'static> {
    Statement::Match(Match { left, right, op: if negated { Operator::NEQ } else { Operator::EQ } })
}

/// Prefixes without those another one covers: an anonymous interval set may not overlap.
fn disjoint(nets: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let mut sorted: Vec<Ipv4Net> = nets.iter().map(Ipv4Net::trunc).collect();
    sorted.sort_by_key(|n| (n.prefix_len(), n.network()));
    sorted.dedup();
    let mut kept: Vec<Ipv4Net> = Vec::new();
    for n in sorted {
        if !kept.iter().any(|k| k.contains(&n)) {
            kept.push(n);
        }
    }
    kept.sort();
    kept
}

fn lower_cond(cond: &Cond) -> Statement<'static> {
    match cond {
        Cond::Iif(ports, neg) => {
            matches(meta(MetaKey::Iifname), one_or_set(ports.iter().map(|p| string(p)).collect()), *neg)
        }
        Cond::Oif(ports, neg) => {
            matches(meta(MetaKey::Oifname), one_or_set(ports.iter().map(|p| string(p)).collect()), *neg)
        }
        Cond::Saddr(nets, neg) => {
            matches(payload("ip", "saddr"), one_or_set(disjoint(nets).iter().map(prefix).collect()), *neg)
        }
        Cond::Daddr(nets, neg) => {
            matches(payload("ip", "daddr"), one_or_set(disjoint(nets).iter().map(prefix).collect()), *neg)
        }
        Cond::Proto(list) => matches(
            meta(MetaKey::L4proto),
            one_or_set(list.iter().map(|p| Expression::Number(u32::from(*p))).collect()),
            false,
        ),
        Cond::Sport(ranges) => {
            matches(payload("th", "sport"), one_or_set(ranges.iter().map(port_range).collect()), false)
        }
        Cond::Dport(ranges) => {
            matches(payload("th", "dport"), one_or_set(ranges.iter().map(port_range).collect()), false)
        }
        Cond::Established => Statement::Match(Match {
            left: Expression::Named(NamedExpression::CT(expr::CT { key: "state".into(), family: None, dir: None })),
            right: Expression::List(vec![string("established"), string("related")]),
            op: Operator::IN,
        }),
    }
}

fn verdict_map(key: MetaKey, entries: &[(String, String)]) -> Statement<'static> {
    let items = entries
        .iter()
        .map(|(port, chain)| {
            SetItem::Mapping(
                string(port),
                Expression::Verdict(expr::Verdict::Jump(stmt::JumpTarget { target: chain.clone().into() })),
            )
        })
        .collect();
    Statement::VerdictMap(stmt::VerdictMap { key: meta(key), data: Expression::Named(NamedExpression::Set(items)) })
}

fn lower(rule: &FwRule) -> Vec<Statement<'static>> {
    let mut out: Vec<Statement<'static>> = rule.conds.iter().map(lower_cond).collect();
    out.push(match &rule.action {
        Action::Accept => Statement::Accept(None),
        Action::Drop => Statement::Drop(None),
        Action::Return => Statement::Return(None),
        Action::Jump(chain) => Statement::Jump(stmt::JumpTarget { target: chain.clone().into() }),
        Action::Count(name) => Statement::Counter(stmt::Counter::Named(name.clone().into())),
        Action::IifMap(entries) => verdict_map(MetaKey::Iifname, entries),
        Action::OifMap(entries) => verdict_map(MetaKey::Oifname, entries),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_drops_covered_prefixes() {
        let nets: Vec<Ipv4Net> = ["10.0.1.0/24", "10.0.0.0/16", "10.0.0.0/16", "192.168.1.7/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let kept: Vec<String> = disjoint(&nets).iter().map(ToString::to_string).collect();
        assert_eq!(kept, ["10.0.0.0/16", "192.168.1.7/32"]);
    }

    #[test]
    fn an_unchanged_table_plans_nothing() {
        let mut want = Ruleset::default();
        want.chain("forward").hook = Some(Hook::Forward);
        want.chain("forward").rules.push(FwRule::new(vec![Cond::Established], Action::Accept));
        want.counters.insert("peer-1".into());
        let (batch, changes) = plan(&want, &Observed::default());
        assert!(batch.is_some());
        assert_eq!(changes.chains_written, 1);
        let seen = Observed {
            table: true,
            chains: [("forward".to_owned(), want.chains["forward"].rules.iter().map(FwRule::tag).collect())].into(),
            counters: [("peer-1".to_owned(), (0, 0))].into(),
        };
        let (batch, changes) = plan(&want, &seen);
        assert!(batch.is_none(), "{changes:?}");
    }

    #[test]
    fn listing_counters_beyond_32_bits() {
        let text = r#"{"nftables":[{"metainfo":{}},{"table":{"family":"ip","name":"vnetlab"}},
            {"counter":{"family":"ip","table":"vnetlab","name":"peer-x","packets":5,"bytes":8589934592}}]}"#;
        let seen = parse_listing(text).unwrap();
        assert_eq!(seen.counters["peer-x"], (5, 8_589_934_592));
    }
}
