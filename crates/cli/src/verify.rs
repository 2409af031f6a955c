//! `vnetlab verify INTENTS.yaml`: declared intents checked against the lab, for CI: the exit
//! code is 0 only when every intent holds, 1 when one fails, 2 when the file is invalid.

use std::path::Path;

use anyhow::Context;
use serde_json::json;
use vnetlab_analysis::azure::intents::{self, Intents};

use crate::output;
use crate::{Env, Failure, Result};

/// Whether every intent held.
pub fn verify(env: &Env, file: &Path) -> Result<bool> {
    // A file that cannot be read or understood exits with 2, apart from intents that fail (1).
    let invalid = |message: String| {
        eprintln!("error: {message}");
        Failure::Quiet(2)
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {}", file.display()))
        .map_err(|e| invalid(format!("{e:#}")))?;
    let parsed = Intents::parse(&file.display().to_string(), &text).map_err(|e| invalid(e.to_string()))?;
    let outcomes = env
        .lab
        .read(|state| intents::verify(state, &parsed))?
        .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
    let held = outcomes.iter().filter(|o| o.holds).count();
    let value = json!({
        "file": file.display().to_string(),
        "holds": held == outcomes.len(),
        "intents": outcomes.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
    });
    let colour = output::colour();
    output::print(env.format, &value, || {
        let paint = |code: &str, text: &str| if colour { format!("{code}{text}\x1b[0m") } else { text.to_owned() };
        let mut out = String::new();
        for o in &outcomes {
            let mark = if o.holds { paint("\x1b[32m", "✓ holds") } else { paint("\x1b[31m", "✗ fails") };
            out.push_str(&format!("{mark}  {}\n", o.name));
            for f in &o.failures {
                out.push_str(&format!("      {f}\n"));
            }
        }
        out.push_str(&format!("{held} of {} intents hold.\n", outcomes.len()));
        out
    })?;
    Ok(held == outcomes.len())
}
