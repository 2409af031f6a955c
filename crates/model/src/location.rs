//! Azure regions and the cloud each belongs to. Global peering works between any two regions of one
//! cloud and never across clouds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    AzureCloud,
    AzureChinaCloud,
    AzureUsGovernment,
}

impl Cloud {
    pub fn name(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "AzureCloud",
            Cloud::AzureChinaCloud => "AzureChinaCloud",
            Cloud::AzureUsGovernment => "AzureUSGovernment",
        }
    }
}

/// (name, display name, cloud) of every region vnetlab accepts.
const REGIONS: &[(&str, &str, Cloud)] = &[
    ("eastus", "East US", Cloud::AzureCloud),
    ("eastus2", "East US 2", Cloud::AzureCloud),
    ("southcentralus", "South Central US", Cloud::AzureCloud),
    ("westus2", "West US 2", Cloud::AzureCloud),
    ("westus3", "West US 3", Cloud::AzureCloud),
    ("australiaeast", "Australia East", Cloud::AzureCloud),
    ("southeastasia", "Southeast Asia", Cloud::AzureCloud),
    ("northeurope", "North Europe", Cloud::AzureCloud),
    ("swedencentral", "Sweden Central", Cloud::AzureCloud),
    ("uksouth", "UK South", Cloud::AzureCloud),
    ("westeurope", "West Europe", Cloud::AzureCloud),
    ("centralus", "Central US", Cloud::AzureCloud),
    ("southafricanorth", "South Africa North", Cloud::AzureCloud),
    ("centralindia", "Central India", Cloud::AzureCloud),
    ("eastasia", "East Asia", Cloud::AzureCloud),
    ("japaneast", "Japan East", Cloud::AzureCloud),
    ("koreacentral", "Korea Central", Cloud::AzureCloud),
    ("canadacentral", "Canada Central", Cloud::AzureCloud),
    ("francecentral", "France Central", Cloud::AzureCloud),
    ("germanywestcentral", "Germany West Central", Cloud::AzureCloud),
    ("italynorth", "Italy North", Cloud::AzureCloud),
    ("norwayeast", "Norway East", Cloud::AzureCloud),
    ("polandcentral", "Poland Central", Cloud::AzureCloud),
    ("spaincentral", "Spain Central", Cloud::AzureCloud),
    ("switzerlandnorth", "Switzerland North", Cloud::AzureCloud),
    ("mexicocentral", "Mexico Central", Cloud::AzureCloud),
    ("uaenorth", "UAE North", Cloud::AzureCloud),
    ("brazilsouth", "Brazil South", Cloud::AzureCloud),
    ("israelcentral", "Israel Central", Cloud::AzureCloud),
    ("qatarcentral", "Qatar Central", Cloud::AzureCloud),
    ("northcentralus", "North Central US", Cloud::AzureCloud),
    ("westus", "West US", Cloud::AzureCloud),
    ("westcentralus", "West Central US", Cloud::AzureCloud),
    ("japanwest", "Japan West", Cloud::AzureCloud),
    ("koreasouth", "Korea South", Cloud::AzureCloud),
    ("southindia", "South India", Cloud::AzureCloud),
    ("westindia", "West India", Cloud::AzureCloud),
    ("canadaeast", "Canada East", Cloud::AzureCloud),
    ("francesouth", "France South", Cloud::AzureCloud),
    ("germanynorth", "Germany North", Cloud::AzureCloud),
    ("norwaywest", "Norway West", Cloud::AzureCloud),
    ("switzerlandwest", "Switzerland West", Cloud::AzureCloud),
    ("ukwest", "UK West", Cloud::AzureCloud),
    ("uaecentral", "UAE Central", Cloud::AzureCloud),
    ("brazilsoutheast", "Brazil Southeast", Cloud::AzureCloud),
    ("australiacentral", "Australia Central", Cloud::AzureCloud),
    ("australiacentral2", "Australia Central 2", Cloud::AzureCloud),
    ("australiasoutheast", "Australia Southeast", Cloud::AzureCloud),
    ("southafricawest", "South Africa West", Cloud::AzureCloud),
    ("swedensouth", "Sweden South", Cloud::AzureCloud),
    ("newzealandnorth", "New Zealand North", Cloud::AzureCloud),
    ("indonesiacentral", "Indonesia Central", Cloud::AzureCloud),
    ("malaysiawest", "Malaysia West", Cloud::AzureCloud),
    ("chilecentral", "Chile Central", Cloud::AzureCloud),
    ("chinaeast", "China East", Cloud::AzureChinaCloud),
    ("chinaeast2", "China East 2", Cloud::AzureChinaCloud),
    ("chinaeast3", "China East 3", Cloud::AzureChinaCloud),
    ("chinanorth", "China North", Cloud::AzureChinaCloud),
    ("chinanorth2", "China North 2", Cloud::AzureChinaCloud),
    ("chinanorth3", "China North 3", Cloud::AzureChinaCloud),
    ("usgovvirginia", "USGov Virginia", Cloud::AzureUsGovernment),
    ("usgovarizona", "USGov Arizona", Cloud::AzureUsGovernment),
    ("usgovtexas", "USGov Texas", Cloud::AzureUsGovernment),
    ("usgoviowa", "USGov Iowa", Cloud::AzureUsGovernment),
    ("usdodcentral", "USDoD Central", Cloud::AzureUsGovernment),
    ("usdodeast", "USDoD East", Cloud::AzureUsGovernment),
];

/// A known Azure region, in its normalized form (`westeurope`). Accepts display names
/// (`West Europe`) on input, as ARM does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location(&'static str);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an Azure region")]
pub struct UnknownLocation(pub String);

impl Location {
    pub fn parse(s: &str) -> Result<Location, UnknownLocation> {
        let normalized: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        REGIONS
            .iter()
            .find(|(name, _, _)| *name == normalized)
            .map(|(name, _, _)| Location(name))
            .ok_or_else(|| UnknownLocation(s.to_owned()))
    }

    pub fn name(&self) -> &'static str {
        self.0
    }

    pub fn display_name(&self) -> &'static str {
        self.entry().1
    }

    pub fn cloud(&self) -> Cloud {
        self.entry().2
    }

    fn entry(&self) -> &'static (&'static str, &'static str, Cloud) {
        REGIONS.iter().find(|(name, _, _)| *name == self.0).unwrap_or(&REGIONS[0])
    }

    /// Every region of one cloud, for "list of available regions" messages.
    pub fn all_in(cloud: Cloud) -> impl Iterator<Item = Location> {
        REGIONS.iter().filter(move |r| r.2 == cloud).map(|r| Location(r.0))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Location::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_display_names() {
        assert_eq!(Location::parse("West Europe").unwrap().name(), "westeurope");
        assert_eq!(Location::parse("westeurope").unwrap().display_name(), "West Europe");
        assert_eq!(Location::parse("EASTUS2").unwrap().name(), "eastus2");
        assert!(Location::parse("moon").is_err());
        assert_eq!(Location::parse("chinaeast2").unwrap().cloud(), Cloud::AzureChinaCloud);
        assert!(Location::all_in(Cloud::AzureCloud).count() > 40);
    }
}
