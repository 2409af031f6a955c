//! `vnetlab reach`: the reachability matrix of the lab, and what a topology file would change.

use std::path::Path;

use serde_json::json;
use vnetlab_analysis::azure::reach::{self, By, Change, Matrix};
use vnetlab_analysis::azure::trace::Probe;
use vnetlab_engine::authorization;

use crate::output;
use crate::topology::simulated;
use crate::{Env, Failure, Result};

/// What the rows and columns are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Granularity {
    Vm,
    Subnet,
    Vnet,
}

impl From<Granularity> for By {
    fn from(g: Granularity) -> By {
        match g {
            Granularity::Vm => By::Vm,
            Granularity::Subnet => By::Subnet,
            Granularity::Vnet => By::Vnet,
        }
    }
}

pub fn reach(env: &Env, by: Granularity, probe: Probe, diff: Option<&Path>) -> Result<()> {
    let colour = output::colour();
    // Only what the caller may read is a member, before and after.
    let matrix = |state: &vnetlab_model::State| {
        reach::reach_where(state, by.into(), probe, &|id| authorization::can_read(state, &env.caller, id))
            .map_err(|e| Failure::Azure(e.to_azure()))
    };
    let before = env.lab.read(matrix)??;
    let Some(file) = diff else {
        output::print(env.format, &before.to_json(), || render(&before, colour))?;
        return Ok(());
    };
    let (label, after_state) = simulated(env, file)?;
    let after = matrix(&after_state)?;
    let changes = reach::diff(&before, &after);
    let value = json!({
        "file": file.display().to_string(),
        "by": before.by.as_str(),
        "protocol": probe.protocol.to_string(),
        "port": probe.port,
        "changes": changes.iter().map(|c| json!({
            "from": c.from,
            "to": c.to,
            "before": c.before,
            "after": c.after,
        })).collect::<Vec<_>>(),
    });
    output::print(env.format, &value, || render_diff(&label, &changes, probe, colour))?;
    Ok(())
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

fn probe_label(probe: Probe) -> String {
    if probe.protocol.has_ports() {
        format!("{}/{}", probe.protocol.to_string().to_lowercase(), probe.port)
    } else {
        probe.protocol.to_string().to_lowercase()
    }
}

/// Rows are sources, numbered; columns are the same members by number.
pub fn render(m: &Matrix, colour: bool) -> String {
    let n = m.members.len();
    if n == 0 {
        return "Nothing to reach: the lab has no VMs, subnets or sites.\n".into();
    }
    let width = m.members.iter().map(|x| x.name.chars().count()).max().unwrap_or(0);
    let num = n.to_string().len();
    let cell = num.max(1) + 1;
    let mut out = format!("Who reaches whom by {} ({}): row → column\n\n", m.by.as_str(), probe_label(m.probe));
    out.push_str(&format!("{:>num$}  {:<width$} ", "", ""));
    for j in 0..n {
        out.push_str(&format!("{:>cell$}", j + 1));
    }
    out.push('\n');
    for (i, member) in m.members.iter().enumerate() {
        out.push_str(&format!("{:>num$}  {:<width$} ", i + 1, member.name));
        for j in 0..n {
            let (mark, code) = if i == j {
                ("·", "")
            } else if m.cells[i][j] {
                ("✓", GREEN)
            } else {
                ("✗", RED)
            };
            let padded = format!("{:>cell$}", mark);
            if colour && !code.is_empty() {
                out.push_str(&format!("{code}{padded}{RESET}"));
            } else {
                out.push_str(&padded);
            }
        }
        out.push('\n');
    }
    let reached: usize = (0..n).map(|i| (0..n).filter(|&j| i != j && m.cells[i][j]).count()).sum();
    out.push_str(&format!(
        "\n{reached} of {} pairs reach each other. `vnetlab trace FROM TO` explains any cell.\n",
        n * (n - 1)
    ));
    out
}

fn render_diff(label: &str, changes: &[Change], probe: Probe, colour: bool) -> String {
    let mut out = format!("Reachability after {label} ({}):\n", probe_label(probe));
    if changes.is_empty() {
        out.push_str("  nothing changes\n");
        return out;
    }
    let word = |v: Option<bool>| match v {
        None => "absent",
        Some(true) => "reaches",
        Some(false) => "blocked",
    };
    for c in changes {
        let (mark, code) = if c.after.unwrap_or(false) { ("+", GREEN) } else { ("-", RED) };
        let line = format!("  {mark} {} → {}: {} → {}", c.from, c.to, word(c.before), word(c.after));
        if colour {
            out.push_str(&format!("{code}{line}{RESET}\n"));
        } else {
            out.push_str(&format!("{line}\n"));
        }
    }
    let gained = changes.iter().filter(|c| c.after.unwrap_or(false)).count();
    out.push_str(&format!("{gained} pairs gain reach, {} lose it.\n", changes.len() - gained));
    out
}
