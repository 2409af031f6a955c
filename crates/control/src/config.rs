//! `config.yaml` in the lab's home: the settings every process using the lab shares.
//!
//! ```yaml
//! peeringsPerVnet: 500                   # Azure's limit
//! peeringsPerVnetWithConnectivity: 1000  # hub-and-spoke connectivity configurations
//! subnetsPerSubnetPeering: 200
//! provisioning: immediate                # or deferred: writes stay Updating until completed
//! defaultPrincipal: hub-team             # whom the CLI acts as (default: the lab's own principal)
//! tenants: [...]                         # identities, as in a topology file: tenants,
//! subscriptions: [...]                   # subscriptions and principals with their roles,
//! principals: [...]                      # made on every start when they are missing
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vnetlab_engine::{Provisioning, Settings};

pub const CONFIG_FILE: &str = "config.yaml";

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    peerings_per_vnet: Option<usize>,
    peerings_per_vnet_with_connectivity: Option<usize>,
    subnets_per_subnet_peering: Option<usize>,
    provisioning: Option<ProvisioningName>,
    default_principal: Option<String>,
    tenants: Option<yaml_serde::Value>,
    subscriptions: Option<yaml_serde::Value>,
    principals: Option<yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProvisioningName {
    Immediate,
    Deferred,
}

/// The lab's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub settings: Settings,
    /// The principal the CLI acts as: a name, application id, user name or object id.
    pub default_principal: Option<String>,
    /// The identities the configuration declares, as a topology document (YAML) with only
    /// `tenants`, `subscriptions` and `principals`.
    pub identities: Option<String>,
}

impl Config {
    /// Reads `home/config.yaml`; a missing file means the defaults.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError { path, message: e.to_string() });
            }
        };
        Config::parse(&text).map_err(|message| ConfigError { path, message })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let file: File = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        let mut settings = Settings::default();
        if let Some(n) = file.peerings_per_vnet {
            settings.max_peerings_per_vnet = n;
        }
        if let Some(n) = file.peerings_per_vnet_with_connectivity {
            settings.max_peerings_per_vnet_connectivity = n;
        }
        if let Some(n) = file.subnets_per_subnet_peering {
            settings.max_subnets_per_subnet_peering = n;
        }
        if let Some(p) = file.provisioning {
            settings.provisioning = match p {
                ProvisioningName::Immediate => Provisioning::Immediate,
                ProvisioningName::Deferred => Provisioning::Deferred,
            };
        }
        let mut identities = yaml_serde::Mapping::new();
        for (key, value) in
            [("tenants", file.tenants), ("subscriptions", file.subscriptions), ("principals", file.principals)]
        {
            if let Some(v) = value {
                identities.insert(yaml_serde::Value::String(key.to_owned()), v);
            }
        }
        let identities = if identities.is_empty() {
            None
        } else {
            Some(yaml_serde::to_string(&yaml_serde::Value::Mapping(identities)).map_err(|e| e.to_string())?)
        };
        Ok(Config { settings, default_principal: file.default_principal, identities })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings_and_refuses_unknown_ones() {
        let c = Config::parse("peeringsPerVnet: 10\nprovisioning: deferred\n").unwrap();
        assert_eq!(c.settings.max_peerings_per_vnet, 10);
        assert_eq!(c.settings.provisioning, Provisioning::Deferred);
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let e = Config::parse("peeringLimit: 3\n").unwrap_err();
        assert!(e.contains("unknown field `peeringLimit`"), "{e}");
        let c = Config::parse("defaultPrincipal: hub\nprincipals: [{name: hub, secret: s}]\n").unwrap();
        assert_eq!(c.default_principal.as_deref(), Some("hub"));
        assert!(c.identities.unwrap().contains("principals"));
    }
}
