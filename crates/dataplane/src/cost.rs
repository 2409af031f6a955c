//! Cost estimate for metered traffic: turns the bytes the data plane counted on each peering link
//! and VNet-to-VNet VPN connection into US dollars at Azure's per-GB data-transfer rates.
//!
//! Azure: who pays what is in reference/peering-rules.md 4.1. The figures themselves, with the
//! source of each, live in `data/rates.yaml`, which is compiled in as the default and can be
//! replaced by a file of the user's (prices change, and some figures are our own choices).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The rates file shipped with vnetlab.
const BUILTIN_RATES: &str = include_str!("../data/rates.yaml");

/// An Azure billing zone for data transfer. Azure prices cross-region traffic by zone, not by
/// region; the rates file says which regions belong to which zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    Zone1,
    Zone2,
    Zone3,
    UsGov,
}

impl Zone {
    pub const ALL: [Zone; 4] = [Zone::Zone1, Zone::Zone2, Zone::Zone3, Zone::UsGov];

    /// The zone's key in the rates file (`zone1`).
    pub fn key(self) -> &'static str {
        match self {
            Zone::Zone1 => "zone1",
            Zone::Zone2 => "zone2",
            Zone::Zone3 => "zone3",
            Zone::UsGov => "usgov",
        }
    }
}

/// Azure's own name for the zone, as it appears on price meters (`Zone 1`, `US Gov Zone 1`).
impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Zone::Zone1 => "Zone 1",
            Zone::Zone2 => "Zone 2",
            Zone::Zone3 => "Zone 3",
            Zone::UsGov => "US Gov Zone 1",
        })
    }
}

/// What is wrong with a rates file. The message names the offending key so the user can fix
/// their override without reading this code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// Not YAML, or not the expected shape: unknown or missing key, wrong type, negative byte count.
    #[error("{0}")]
    Syntax(String),
    #[error("{field} is {value}; a rate must be a finite number of USD per GB, 0 or more")]
    InvalidRate { field: String, value: f64 },
    #[error("bytes_per_gb is 0; use 1000000000 (SI gigabyte) or 1073741824 (1024^3)")]
    ZeroBytesPerGb,
    #[error("zones.{}.regions has an empty name; remove it or write the region's location name", zone.key())]
    EmptyRegion { zone: Zone },
    #[error(
        "region '{region}' is in both zones.{}.regions and zones.{}.regions; a region belongs to \
         one billing zone, so remove one of them",
        first.key(),
        second.key()
    )]
    DuplicateRegion { region: String, first: Zone, second: Zone },
    #[error("cannot read rates file {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// An error in a file the user named, with that file's path.
    #[error("rates file {}: {source}", path.display())]
    InFile { path: PathBuf, source: Box<CostError> },
}

/// USD per GB in each direction. Egress is billed to the sending VNet, ingress to the receiving one.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerGb {
    egress_per_gb: f64,
    ingress_per_gb: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ZoneRates {
    global_peering: PerGb,
    vnet_to_vnet: PerGb,
}

// The file's shape. Every key is required and unknown keys are errors: an override replaces the
// whole file, and a misspelt key would otherwise be ignored without a word.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesFile {
    bytes_per_gb: u64,
    unknown_region_zone: Zone,
    intra_region: IntraRegionFile,
    zones: ZonesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntraRegionFile {
    peering: PerGb,
    vnet_to_vnet: PerGb,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZonesFile {
    zone1: ZoneFile,
    zone2: ZoneFile,
    zone3: ZoneFile,
    usgov: ZoneFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneFile {
    global_peering: PerGb,
    vnet_to_vnet: PerGb,
    regions: Vec<String>,
}

/// A validated rates file: every rate finite and non-negative, every region in at most one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    bytes_per_gb: u64,
    unknown_region_zone: Zone,
    intra_region_peering: PerGb,
    intra_region_vnet_to_vnet: PerGb,
    zone1: ZoneRates,
    zone2: ZoneRates,
    zone3: ZoneRates,
    usgov: ZoneRates,
    /// Normalized region name (see [`normalize_location`]) to its zone.
    regions: HashMap<String, Zone>,
}

impl Rates {
    /// The rates shipped with vnetlab. A unit test parses the same text, so this cannot fail in a
    /// released build.
    pub fn builtin() -> Rates {
        Rates::parse(BUILTIN_RATES).unwrap_or_else(|e| panic!("built-in data/rates.yaml is invalid: {e}"))
    }

    /// Parses and validates the text of a rates file (the format of `data/rates.yaml`).
    pub fn parse(text: &str) -> Result<Rates, CostError> {
        let file: RatesFile = yaml_serde::from_str(text).map_err(|e| CostError::Syntax(e.to_string()))?;
        if file.bytes_per_gb == 0 {
            return Err(CostError::ZeroBytesPerGb);
        }
        check_pair("intra_region.peering", file.intra_region.peering)?;
        check_pair("intra_region.vnet_to_vnet", file.intra_region.vnet_to_vnet)?;

        let mut regions = HashMap::new();
        let mut zone_rates = |zone: Zone, z: ZoneFile| -> Result<ZoneRates, CostError> {
            check_pair(&format!("zones.{}.global_peering", zone.key()), z.global_peering)?;
            check_pair(&format!("zones.{}.vnet_to_vnet", zone.key()), z.vnet_to_vnet)?;
            for region in &z.regions {
                let name = normalize_location(region);
                if name.is_empty() {
                    return Err(CostError::EmptyRegion { zone });
                }
                match regions.insert(name.clone(), zone) {
                    // Listing a region twice in one zone is harmless.
                    Some(first) if first != zone => {
                        return Err(CostError::DuplicateRegion { region: name, first, second: zone });
                    }
                    _ => {}
                }
            }
            Ok(ZoneRates { global_peering: z.global_peering, vnet_to_vnet: z.vnet_to_vnet })
        };
        let ZonesFile { zone1, zone2, zone3, usgov } = file.zones;
        let zone1 = zone_rates(Zone::Zone1, zone1)?;
        let zone2 = zone_rates(Zone::Zone2, zone2)?;
        let zone3 = zone_rates(Zone::Zone3, zone3)?;
        let usgov = zone_rates(Zone::UsGov, usgov)?;

        Ok(Rates {
            bytes_per_gb: file.bytes_per_gb,
            unknown_region_zone: file.unknown_region_zone,
            intra_region_peering: file.intra_region.peering,
            intra_region_vnet_to_vnet: file.intra_region.vnet_to_vnet,
            zone1,
            zone2,
            zone3,
            usgov,
            regions,
        })
    }

    /// Reads a user's rates file; errors carry the path.
    pub fn load(path: &Path) -> Result<Rates, CostError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CostError::Read { path: path.to_owned(), message: e.to_string() })?;
        Rates::parse(&text).map_err(|e| CostError::InFile { path: path.to_owned(), source: Box::new(e) })
    }

    /// How many bytes the rates file counts as one billed GB.
    pub fn bytes_per_gb(&self) -> u64 {
        self.bytes_per_gb
    }

    /// The billing zone of a region, by `location` name or display name (`eastus`, `East US`).
    /// A region the file does not list gets the file's `unknown_region_zone`; use
    /// [`Rates::known_zone`] to tell the two apart.
    pub fn zone(&self, location: &str) -> Zone {
        self.known_zone(location).unwrap_or(self.unknown_region_zone)
    }

    /// The billing zone of a region the rates file lists, or `None`.
    pub fn known_zone(&self, location: &str) -> Option<Zone> {
        self.regions.get(&normalize_location(location)).copied()
    }

    fn zone_rates(&self, zone: Zone) -> &ZoneRates {
        match zone {
            Zone::Zone1 => &self.zone1,
            Zone::Zone2 => &self.zone2,
            Zone::Zone3 => &self.zone3,
            Zone::UsGov => &self.usgov,
        }
    }

    /// Like [`Rates::zone`], and records in `notes` when the region was a guess.
    fn zone_noted(&self, location: &str, notes: &mut Vec<String>) -> Zone {
        self.known_zone(location).unwrap_or_else(|| {
            notes.push(format!(
                "region '{location}' is in no billing zone of the rates file; priced as {}",
                self.unknown_region_zone
            ));
            self.unknown_region_zone
        })
    }
}

fn check_pair(field: &str, rate: PerGb) -> Result<(), CostError> {
    check_rate(&format!("{field}.egress_per_gb"), rate.egress_per_gb)?;
    check_rate(&format!("{field}.ingress_per_gb"), rate.ingress_per_gb)
}

fn check_rate(field: &str, value: f64) -> Result<(), CostError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(CostError::InvalidRate { field: field.to_owned(), value })
    }
}

/// ARM compares locations ignoring case and spaces: `East US` is `eastus`.
fn normalize_location(location: &str) -> String {
    location.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// The kind of link traffic was metered on. Azure bills them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Peering,
    VnetToVnet,
}

/// Bytes that went one way, from `from_vnet` to `to_vnet`, over one peering link or VPN
/// connection. Traffic the other way is a separate `Metered` with the ends swapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered {
    pub kind: LinkKind,
    /// The link's name, to label the charge.
    pub name: String,
    pub from_vnet: String,
    /// `location` of `from_vnet`, as ARM reports it; case and spaces do not matter.
    pub from_location: String,
    pub to_vnet: String,
    pub to_location: String,
    pub bytes: u64,
}

/// Which of Azure's prices applied to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Peering within one region: flat rates, no zones.
    IntraRegion,
    /// Global peering: egress at `from_zone`'s rate, ingress at `to_zone`'s.
    Global { from_zone: Zone, to_zone: Zone },
    /// VNet-to-VNet VPN within one region.
    VpnSameRegion,
    /// VNet-to-VNet VPN across regions: egress at `from_zone`'s inter-VNet rate, ingress at `to_zone`'s.
    VpnCrossRegion { from_zone: Zone, to_zone: Zone },
}

/// The price of one [`Metered`] entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub name: String,
    pub from_vnet: String,
    pub to_vnet: String,
    pub bytes: u64,
    pub scope: Scope,
    /// Billed to `from_vnet`'s subscription.
    pub egress_usd: f64,
    /// Billed to `to_vnet`'s subscription.
    pub ingress_usd: f64,
    /// Caveats a reader of the estimate should see, e.g. a region priced as a guessed zone.
    pub notes: Vec<String>,
}

impl Charge {
    pub fn total_usd(&self) -> f64 {
        self.egress_usd + self.ingress_usd
    }
}

/// The cost of a set of metered links, one charge per entry in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub charges: Vec<Charge>,
    pub total_usd: f64,
    pub currency: &'static str,
}

/// Prices each metered entry. Never fails: a region the rates file does not know is priced as the
/// file's `unknown_region_zone`, and the charge says so in its notes.
pub fn estimate(rates: &Rates, metered: &[Metered]) -> Estimate {
    let charges: Vec<Charge> = metered.iter().map(|m| charge(rates, m)).collect();
    let total_usd = charges.iter().map(Charge::total_usd).sum();
    Estimate { charges, total_usd, currency: "USD" }
}

fn charge(rates: &Rates, m: &Metered) -> Charge {
    let same_region = normalize_location(&m.from_location) == normalize_location(&m.to_location);
    let mut notes = Vec::new();
    let (scope, egress_per_gb, ingress_per_gb) = match (m.kind, same_region) {
        (LinkKind::Peering, true) => {
            let r = rates.intra_region_peering;
            (Scope::IntraRegion, r.egress_per_gb, r.ingress_per_gb)
        }
        (LinkKind::Peering, false) => {
            let from_zone = rates.zone_noted(&m.from_location, &mut notes);
            let to_zone = rates.zone_noted(&m.to_location, &mut notes);
            (
                Scope::Global { from_zone, to_zone },
                rates.zone_rates(from_zone).global_peering.egress_per_gb,
                rates.zone_rates(to_zone).global_peering.ingress_per_gb,
            )
        }
        (LinkKind::VnetToVnet, true) => {
            let r = rates.intra_region_vnet_to_vnet;
            (Scope::VpnSameRegion, r.egress_per_gb, r.ingress_per_gb)
        }
        (LinkKind::VnetToVnet, false) => {
            let from_zone = rates.zone_noted(&m.from_location, &mut notes);
            let to_zone = rates.zone_noted(&m.to_location, &mut notes);
            (
                Scope::VpnCrossRegion { from_zone, to_zone },
                rates.zone_rates(from_zone).vnet_to_vnet.egress_per_gb,
                rates.zone_rates(to_zone).vnet_to_vnet.ingress_per_gb,
            )
        }
    };
    if m.kind == LinkKind::VnetToVnet {
        notes.push("VPN gateway hourly charges are not included".to_owned());
    }
    // Precision is lost only above 2^53 bytes (9 PB) on one link, far below a cent.
    let gb = m.bytes as f64 / rates.bytes_per_gb as f64;
    Charge {
        name: m.name.clone(),
        from_vnet: m.from_vnet.clone(),
        to_vnet: m.to_vnet.clone(),
        bytes: m.bytes,
        scope,
        egress_usd: gb * egress_per_gb,
        ingress_usd: gb * ingress_per_gb,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    fn metered(kind: LinkKind, from: (&str, &str), to: (&str, &str), bytes: u64) -> Metered {
        Metered {
            kind,
            name: format!("{}-to-{}", from.0, to.0),
            from_vnet: from.0.to_owned(),
            from_location: from.1.to_owned(),
            to_vnet: to.0.to_owned(),
            to_location: to.1.to_owned(),
            bytes,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Compares a whole charge, money to a billionth of a dollar, and prints both on failure.
    fn assert_charge(actual: &Charge, scope: Scope, egress_usd: f64, ingress_usd: f64, notes: &[&str]) {
        let ok = actual.scope == scope
            && close(actual.egress_usd, egress_usd)
            && close(actual.ingress_usd, ingress_usd)
            && actual.notes == notes;
        assert!(
            ok,
            "got {actual:#?}\nexpected scope {scope:?}, egress {egress_usd}, ingress {ingress_usd}, notes {notes:?}"
        );
    }

    fn parse_err(text: &str) -> String {
        match Rates::parse(text) {
            Ok(_) => panic!("parsed, but should have failed:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn builtin_rates_parse() {
        let rates = Rates::parse(BUILTIN_RATES).expect("data/rates.yaml");
        assert_eq!(rates, Rates::builtin());
        assert_eq!(rates.bytes_per_gb(), GB);
    }

    #[test]
    fn zones_ignore_case_and_spaces() {
        let rates = Rates::builtin();
        assert_eq!(rates.zone("East US"), Zone::Zone1);
        assert_eq!(rates.zone("EASTUS"), Zone::Zone1);
        assert_eq!(rates.zone("westeurope"), Zone::Zone1);
        assert_eq!(rates.zone("Southeast Asia"), Zone::Zone2);
        assert_eq!(rates.zone("japaneast"), Zone::Zone2);
        assert_eq!(rates.zone("brazilsouth"), Zone::Zone3);
        assert_eq!(rates.zone("usgovvirginia"), Zone::UsGov);
        // Microsoft's zone list puts these two in Zone 1, unlike the rest of Australia.
        assert_eq!(rates.zone("Australia Central"), Zone::Zone1);
        assert_eq!(rates.zone("australiaeast"), Zone::Zone2);
        assert_eq!(rates.known_zone("moon"), None);
        assert_eq!(rates.zone("moon"), Zone::Zone1);
    }

    #[test]
    fn intra_region_peering_bills_both_ends() {
        let rates = Rates::builtin();
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "eastus"), ("b", "East US"), GB)]);
        assert_charge(&e.charges[0], Scope::IntraRegion, 0.01, 0.01, &[]);
        assert!(close(e.total_usd, 0.02), "{e:#?}");
        assert_eq!(e.currency, "USD");
        assert_eq!(
            (e.charges[0].from_vnet.as_str(), e.charges[0].to_vnet.as_str(), e.charges[0].bytes),
            ("a", "b", GB)
        );
    }

    #[test]
    fn global_peering_egress_at_source_zone_ingress_at_destination_zone() {
        let rates = Rates::builtin();
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "eastus"), ("b", "southeastasia"), 2 * GB)]);
        assert_charge(&e.charges[0], Scope::Global { from_zone: Zone::Zone1, to_zone: Zone::Zone2 }, 0.07, 0.18, &[]);
        assert!(close(e.total_usd, 0.25), "{e:#?}");

        // Two regions of one zone are still global peering.
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "eastus"), ("b", "westeurope"), GB)]);
        assert_charge(&e.charges[0], Scope::Global { from_zone: Zone::Zone1, to_zone: Zone::Zone1 }, 0.035, 0.035, &[]);
    }

    #[test]
    fn vnet_to_vnet_same_region_is_free() {
        let rates = Rates::builtin();
        let e = estimate(&rates, &[metered(LinkKind::VnetToVnet, ("a", "westeurope"), ("b", "westeurope"), 50 * GB)]);
        assert_charge(&e.charges[0], Scope::VpnSameRegion, 0.0, 0.0, &["VPN gateway hourly charges are not included"]);
        assert_eq!(e.total_usd, 0.0);
    }

    #[test]
    fn vnet_to_vnet_cross_region_bills_egress_by_source_zone() {
        let rates = Rates::builtin();
        let e = estimate(&rates, &[metered(LinkKind::VnetToVnet, ("a", "westeurope"), ("b", "japaneast"), 10 * GB)]);
        let scope = Scope::VpnCrossRegion { from_zone: Zone::Zone1, to_zone: Zone::Zone2 };
        assert_charge(&e.charges[0], scope, 0.35, 0.0, &["VPN gateway hourly charges are not included"]);

        let e = estimate(&rates, &[metered(LinkKind::VnetToVnet, ("b", "japaneast"), ("a", "westeurope"), 10 * GB)]);
        let scope = Scope::VpnCrossRegion { from_zone: Zone::Zone2, to_zone: Zone::Zone1 };
        assert_charge(&e.charges[0], scope, 0.9, 0.0, &["VPN gateway hourly charges are not included"]);
    }

    #[test]
    fn unknown_region_is_priced_as_zone1_with_a_note() {
        let rates = Rates::builtin();
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "moon"), ("b", "southeastasia"), GB)]);
        assert_charge(
            &e.charges[0],
            Scope::Global { from_zone: Zone::Zone1, to_zone: Zone::Zone2 },
            0.035,
            0.09,
            &["region 'moon' is in no billing zone of the rates file; priced as Zone 1"],
        );
        // Within one region the zone does not matter, so there is nothing to note.
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "moon"), ("b", "Moon"), GB)]);
        assert_charge(&e.charges[0], Scope::IntraRegion, 0.01, 0.01, &[]);
    }

    #[test]
    fn estimate_keeps_order_and_sums() {
        let rates = Rates::builtin();
        let e = estimate(
            &rates,
            &[
                metered(LinkKind::Peering, ("a", "eastus"), ("b", "eastus"), 3 * GB),
                metered(LinkKind::Peering, ("b", "eastus"), ("a", "eastus"), GB),
                metered(LinkKind::Peering, ("a", "eastus"), ("c", "brazilsouth"), 0),
            ],
        );
        let names: Vec<&str> = e.charges.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a-to-b", "b-to-a", "a-to-c"]);
        assert!(close(e.total_usd, 0.08), "{e:#?}");
        assert_eq!(estimate(&rates, &[]).total_usd, 0.0);
    }

    #[test]
    fn an_override_replaces_rates_and_the_gb() {
        let text = BUILTIN_RATES
            .replace("bytes_per_gb: 1000000000", "bytes_per_gb: 1073741824")
            .replace("egress_per_gb: 0.01\n", "egress_per_gb: 0.02\n");
        let rates = Rates::parse(&text).expect("edited rates");
        let e = estimate(&rates, &[metered(LinkKind::Peering, ("a", "eastus"), ("b", "eastus"), 1 << 30)]);
        assert_charge(&e.charges[0], Scope::IntraRegion, 0.02, 0.01, &[]);
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("vnetlab-cost-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("rates.yaml");
        std::fs::write(&good, BUILTIN_RATES).expect("write");
        assert_eq!(Rates::load(&good), Ok(Rates::builtin()));

        let bad = dir.join("bad.yaml");
        std::fs::write(&bad, BUILTIN_RATES.replace("bytes_per_gb: 1000000000", "bytes_per_gb: 0")).expect("write");
        let msg = Rates::load(&bad).expect_err("zero bytes_per_gb").to_string();
        assert!(msg.starts_with(&format!("rates file {}: bytes_per_gb is 0", bad.display())), "{msg}");

        let missing = dir.join("missing.yaml");
        let msg = Rates::load(&missing).expect_err("missing file").to_string();
        assert!(msg.starts_with(&format!("cannot read rates file {}:", missing.display())), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parse_errors_name_what_is_wrong() {
        let msg =
            parse_err(&BUILTIN_RATES.replace("unknown_region_zone: zone1", "unknown_region_zone: zone1\nbogus: 1"));
        assert!(msg.contains("unknown field `bogus`"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("  zone3:\n", "  zone4:\n"));
        assert!(msg.contains("unknown field `zone4`"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("unknown_region_zone: zone1", "unknown_region_zone: zone9"));
        assert!(msg.contains("zone9"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("bytes_per_gb: 1000000000", ""));
        assert!(msg.contains("missing field `bytes_per_gb`"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("bytes_per_gb: 1000000000", "bytes_per_gb: -5"));
        assert!(msg.contains("bytes_per_gb"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("egress_per_gb: 0.01\n", "egress_per_gb: cheap\n"));
        assert!(msg.contains("egress_per_gb"), "{msg}");

        let msg = parse_err(&BUILTIN_RATES.replace("ingress_per_gb: 0.09", "ingress_per_gb: -0.09"));
        assert_eq!(
            msg,
            "zones.zone2.global_peering.ingress_per_gb is -0.09; a rate must be a finite number of USD per GB, 0 or more"
        );
        let msg = parse_err(&BUILTIN_RATES.replace("egress_per_gb: 0.01\n", "egress_per_gb: .nan\n"));
        assert!(msg.starts_with("intra_region.peering.egress_per_gb is NaN"), "{msg}");
        let msg = parse_err(&BUILTIN_RATES.replace("egress_per_gb: 0.16", "egress_per_gb: .inf"));
        assert!(msg.starts_with("zones.zone3.global_peering.egress_per_gb is inf"), "{msg}");

        assert_eq!(
            parse_err(&BUILTIN_RATES.replace("bytes_per_gb: 1000000000", "bytes_per_gb: 0")),
            CostError::ZeroBytesPerGb.to_string()
        );
        assert_eq!(
            Rates::parse(&BUILTIN_RATES.replace("- chilecentral", "- East US")),
            Err(CostError::DuplicateRegion { region: "eastus".to_owned(), first: Zone::Zone1, second: Zone::Zone3 })
        );
        assert_eq!(
            Rates::parse(&BUILTIN_RATES.replace("- chilecentral", "- ' '")),
            Err(CostError::EmptyRegion { zone: Zone::Zone3 })
        );
        // A repeat within one zone changes nothing.
        let rates = Rates::parse(&BUILTIN_RATES.replace("- chilecentral", "- chilecentral\n      - Chile Central"));
        assert_eq!(rates, Ok(Rates::builtin()));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in ["", "   \n", "~", "[]", "42", "{", "bytes_per_gb: [", "\t:\n -", "zones: !!binary AAAA", "\u{0}"] {
            assert!(Rates::parse(text).is_err(), "{text:?} parsed");
        }
        // Every prefix of the real file, cut at a line or inside one, is either valid or an error.
        for (i, _) in BUILTIN_RATES.char_indices().step_by(7) {
            let _ = Rates::parse(&BUILTIN_RATES[..i]);
        }
    }
}
