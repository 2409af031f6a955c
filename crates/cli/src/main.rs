//! `vnetlab`: Azure virtual networking, peering first, on one Linux machine.

mod agent;
mod dataplane;
mod graph;
mod output;
mod peering;
mod principal;
mod reach;
mod serve;
mod show;
mod topology;
mod trace;
mod verify;
mod watcher;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, Lab, LabError, PlannedError};
use vnetlab_model::{AzureError, Kind, ResourceId, View};

use crate::output::Format;

#[derive(Parser)]
#[command(name = "vnetlab", version, about = "Azure virtual networking, peering first, on one Linux machine")]
struct Cli {
    /// The lab's directory [default: $VNETLAB_HOME, else $XDG_DATA_HOME/vnetlab or ~/.local/share/vnetlab]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Output format: the az CLI's table layout, ARM JSON, or YAML
    #[arg(short = 'o', long, global = true, value_enum, default_value = "table")]
    output: Format,
    /// Subscription (name or id) for commands that take a resource group [default: the lab's]
    #[arg(long, global = true)]
    subscription: Option<String>,
    /// Act as this principal (name, application id, user name or object id) [default: config.yaml's
    /// defaultPrincipal, else the lab's own principal]
    #[arg(long = "as", global = true, value_name = "PRINCIPAL")]
    as_principal: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply a topology file: create or update everything it declares, all or nothing
    Up {
        file: PathBuf,
        /// Also realize the lab with real packets: every VM a network namespace (needs root)
        #[arg(long)]
        dataplane: bool,
    },
    /// Remove what a topology file declares; without a file, remove everything in the lab and
    /// the data plane with it
    Down { file: Option<PathBuf> },
    /// Run a command inside a VM's network namespace (the data plane must be up)
    Exec {
        vm: String,
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
        /// The command and its arguments (after `--`)
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Open a shell inside a VM's network namespace
    Ssh {
        vm: String,
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// Bytes that crossed each peering link (the data plane's meters)
    Traffic,
    /// What the metered traffic would cost in Azure, with the published per-GB rates
    Cost {
        /// A rates file of the same format as the built-in one
        #[arg(long, value_name = "FILE")]
        rates: Option<PathBuf>,
    },
    /// Print what `up FILE` would change, without changing anything
    Plan { file: PathBuf },
    /// List resources: all of them, or one type (vnet, subnet, peering, nic, vm, nsg, nsg-rule,
    /// route-table, route, public-ip, vnet-gateway, local-gateway, connection, group,
    /// subscription, tenant)
    Show {
        #[arg(value_name = "TYPE")]
        kind: Option<String>,
        /// Only resources in this resource group
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// Virtual networks, as `az network vnet`
    Vnet {
        #[command(subcommand)]
        command: VnetCommand,
    },
    /// Users and service principals, and their roles
    Principal {
        #[command(subcommand)]
        command: principal::PrincipalCommand,
    },
    /// Check the lab's state against the engine's invariants
    Check,
    /// The data plane's agent (started by `up --dataplane` and `serve --dataplane`)
    #[command(hide = true)]
    Agent,
    /// Serve the ARM REST API over HTTPS, for the az CLI and the Azure SDKs
    Serve {
        /// Address and port to listen on
        #[arg(long, value_name = "ADDR:PORT", default_value = serve::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// How writes complete: at once, or as Azure's long-running operations
        #[arg(long, value_enum, default_value = "sync")]
        lro: serve::Lro,
        /// Items per page of a list response
        #[arg(long, default_value_t = 100)]
        page_size: usize,
        /// Keep a data plane (VMs as network namespaces) in step with every change (needs root)
        #[arg(long)]
        dataplane: bool,
    },
    /// Effective routes of a VM's primary NIC (or of a NIC), as `az network nic show-effective-route-table`
    Routes {
        /// VM or NIC: a name, or a resource id
        vm: String,
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// The next hop from a VM to an address, as `az network watcher show-next-hop`
    NextHop {
        /// VM or NIC: a name, or a resource id
        vm: String,
        /// Destination address
        destination: std::net::IpAddr,
        /// Source address (one of the VM's; default: its primary)
        #[arg(long)]
        source: Option<std::net::IpAddr>,
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// Whether the NSGs let a packet in or out of a VM, and the rule that decides, as
    /// `az network watcher test-ip-flow`
    Flow {
        /// VM or NIC: a name, or a resource id
        vm: String,
        #[arg(long, value_enum)]
        direction: watcher::Direction,
        /// TCP, UDP, ICMP, ESP or AH
        #[arg(long, default_value = "tcp", value_parser = parse_protocol)]
        protocol: vnetlab_analysis::layers::Protocol,
        /// The VM's end: IP:PORT
        #[arg(long, value_parser = watcher::parse_endpoint)]
        local: (std::net::IpAddr, u16),
        /// The other end: IP:PORT
        #[arg(long, value_parser = watcher::parse_endpoint)]
        remote: (std::net::IpAddr, u16),
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// The path between two endpoints hop by hop (NSG rules, routes, peerings, appliances,
    /// gateways) and, when blocked, every setting that blocks it with what would fix it
    Trace {
        /// Where the packet starts: a VM or NIC (name or id), or an on-premises site (a local
        /// network gateway's name, or SITE:IP)
        source: String,
        /// Where it goes: a VM or NIC, a site (or SITE:IP), or an IP address
        destination: String,
        /// Destination port
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// TCP, UDP, ICMP, ESP or AH
        #[arg(long, default_value = "tcp", value_parser = parse_protocol)]
        protocol: vnetlab_analysis::layers::Protocol,
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// The reachability matrix of the whole lab (who reaches whom, and the answer comes back),
    /// or with --diff what a topology file would change before anyone applies it
    Reach {
        /// Rows and columns: VMs, subnets or VNets (on-premises sites are always included)
        #[arg(long, value_enum, default_value = "vm")]
        by: reach::Granularity,
        /// Destination port
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// TCP, UDP, ICMP, ESP or AH
        #[arg(long, default_value = "tcp", value_parser = parse_protocol)]
        protocol: vnetlab_analysis::layers::Protocol,
        /// Compare with the lab as it would be after `up FILE`
        #[arg(long, value_name = "FILE")]
        diff: Option<PathBuf>,
    },
    /// Check declared intents (who must and must never reach whom, on which port, through what)
    /// against the lab; exit code 0 only if all hold, 1 if one fails
    Verify {
        /// The intents file (YAML; see docs/analysis.md)
        file: PathBuf,
    },
    /// Draw the topology: VNets, peerings coloured by state, gateways, connections and on-premises sites
    Graph {
        #[arg(long, value_enum, default_value = "svg")]
        format: graph::Format,
    },
    /// Print the environment that points az at `vnetlab serve` (for `eval "$(vnetlab az-env)"`)
    AzEnv {
        #[arg(long, value_name = "ADDR:PORT", default_value = serve::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum VnetCommand {
    /// List virtual networks
    List {
        #[arg(short = 'g', long)]
        resource_group: Option<String>,
    },
    /// Show a virtual network
    Show {
        #[arg(short = 'g', long)]
        resource_group: String,
        #[arg(short = 'n', long)]
        name: String,
    },
    /// Peerings, as `az network vnet peering`
    Peering {
        #[command(subcommand)]
        command: peering::PeeringCommand,
    },
}

/// What went wrong, for the exit code.
enum Failure {
    /// Azure's error, with HTTP status.
    Azure(AzureError),
    Other(anyhow::Error),
    /// The command said what it had to say; only the exit code is left.
    Quiet(u8),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<LabError> for Failure {
    fn from(e: LabError) -> Self {
        match e {
            LabError::Rejected { error, .. } => Failure::Azure(error),
            other => Failure::Other(other.into()),
        }
    }
}

impl<P> From<PlannedError<Failure, P>> for Failure {
    fn from(e: PlannedError<Failure, P>) -> Self {
        match e {
            PlannedError::Plan(failure) => failure,
            PlannedError::Rejected { error, .. } => Failure::Azure(error),
            PlannedError::Store(e) => Failure::Other(e.into()),
        }
    }
}

impl From<AzureError> for Failure {
    fn from(e: AzureError) -> Self {
        Failure::Azure(e)
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// What every command needs.
pub struct Env {
    pub home: PathBuf,
    pub lab: Lab,
    pub format: Format,
    pub subscription: Option<String>,
    /// The principal commands act as (`up` and `down` act as the lab itself).
    pub caller: vnetlab_engine::authorization::Caller,
}

impl Env {
    /// The subscription id for resource-group commands: `--subscription` (id or name), else the
    /// lab's default.
    fn subscription_id(&self) -> std::result::Result<String, AzureError> {
        let Some(wanted) = &self.subscription else {
            return Ok(DEFAULT_SUBSCRIPTION_ID.to_owned());
        };
        let found = self
            .lab
            .read(|s| {
                s.all_of(Kind::Subscription).iter().filter_map(|x| x.resource.as_subscription()).find_map(|x| {
                    (x.subscription_id.eq_ignore_ascii_case(wanted) || x.display_name.eq_ignore_ascii_case(wanted))
                        .then(|| x.subscription_id.clone())
                })
            })
            .ok()
            .flatten();
        found.ok_or_else(|| vnetlab_engine::errors::subscription_not_found(wanted))
    }

    fn group(&self, name: &str) -> std::result::Result<ResourceId, AzureError> {
        let sub = self.subscription_id()?;
        ResourceId::resource_group(&sub, name).map_err(|_| vnetlab_engine::errors::resource_group_not_found(name))
    }
}

fn run(cli: Cli) -> Result<()> {
    let home = cli.home.unwrap_or_else(vnetlab_control::default_home);
    match cli.command {
        Command::Serve { listen, lro, page_size, dataplane } => {
            return serve::serve(&home, listen, lro, page_size, dataplane);
        }
        Command::AzEnv { listen } => return serve::az_env(&home, listen),
        Command::Agent => return agent::run(&home).map_err(Failure::Other),
        _ => {}
    }

    // Commands that only read do not create the lab: a lab not made yet reads as a new one.
    let lab = if cli.command.writes() { Lab::open(&home)? } else { Lab::open_existing(&home)? };
    let config = vnetlab_control::Config::load(&home).map_err(|e| Failure::Other(e.into()))?;
    principal::apply_config(&lab, &config, &home)?;
    let caller = principal::caller(&lab, &config, cli.as_principal.as_deref())?;
    let env = Env { home, lab, format: cli.output, subscription: cli.subscription, caller };
    // A write keeps a data plane that is up in step (`up --dataplane` and `down` see to it
    // themselves).
    let follows = cli.command.writes()
        && !matches!(cli.command, Command::Up { dataplane: true, .. } | Command::Down { file: None });
    let result = command(&env, cli.command);
    if result.is_ok() && follows {
        dataplane::follow(&env)?;
    }
    result
}

fn command(env: &Env, command: Command) -> Result<()> {
    match command {
        Command::Up { file, dataplane } => {
            topology::up(env, &file)?;
            if dataplane { dataplane::up(env) } else { Ok(()) }
        }
        Command::Down { file } => {
            if file.is_none() {
                dataplane::before_down(&env.home);
            }
            topology::down(env, file.as_deref())?;
            if file.is_none() { dataplane::down(&env.home) } else { Ok(()) }
        }
        Command::Exec { vm, resource_group, command } => dataplane::exec(env, &vm, resource_group.as_deref(), &command),
        Command::Ssh { vm, resource_group } => dataplane::ssh(env, &vm, resource_group.as_deref()),
        Command::Traffic => dataplane::traffic(env),
        Command::Cost { rates } => dataplane::cost(env, rates.as_ref()),
        Command::Plan { file } => topology::plan(env, &file),
        Command::Show { kind, resource_group } => show::show(env, kind.as_deref(), resource_group.as_deref()),
        Command::Vnet { command } => match command {
            VnetCommand::List { resource_group } => show::show(env, Some("vnet"), resource_group.as_deref()),
            VnetCommand::Show { resource_group, name } => show::vnet_show(env, &resource_group, &name),
            VnetCommand::Peering { command } => peering::run(env, command),
        },
        Command::Check => show::check(env),
        Command::Principal { command } => principal::run(env, command),
        Command::Routes { vm, resource_group } => watcher::routes(env, &vm, resource_group.as_deref()),
        Command::NextHop { vm, destination, source, resource_group } => {
            watcher::next_hop(env, &vm, destination, source, resource_group.as_deref())
        }
        Command::Flow { vm, direction, protocol, local, remote, resource_group } => {
            watcher::flow(env, &vm, direction, protocol, local, remote, resource_group.as_deref())
        }
        Command::Trace { source, destination, port, protocol, resource_group } => trace::trace(
            env,
            &source,
            &destination,
            vnetlab_analysis::azure::trace::Probe { protocol, port },
            resource_group.as_deref(),
        ),
        Command::Reach { by, port, protocol, diff } => {
            reach::reach(env, by, vnetlab_analysis::azure::trace::Probe { protocol, port }, diff.as_deref())
        }
        Command::Verify { file } => match verify::verify(env, &file) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Quiet(1)),
            Err(e) => Err(e),
        },
        Command::Graph { format } => graph::graph(env, format.into()),
        Command::Serve { .. } | Command::AzEnv { .. } | Command::Agent => Ok(()),
    }
}

impl Command {
    fn writes(&self) -> bool {
        match self {
            Command::Up { .. } | Command::Down { .. } => true,
            Command::Plan { .. }
            | Command::Show { .. }
            | Command::Check
            | Command::AzEnv { .. }
            | Command::Routes { .. }
            | Command::NextHop { .. }
            | Command::Flow { .. }
            | Command::Trace { .. }
            | Command::Reach { .. }
            | Command::Verify { .. }
            | Command::Exec { .. }
            | Command::Ssh { .. }
            | Command::Traffic
            | Command::Cost { .. }
            | Command::Graph { .. } => false,
            Command::Serve { .. } | Command::Agent => true,
            Command::Principal { command } => command.writes(),
            Command::Vnet { command } => match command {
                VnetCommand::List { .. } | VnetCommand::Show { .. } => false,
                VnetCommand::Peering { command } => command.writes(),
            },
        }
    }
}

fn main() -> ExitCode {
    // Printing to a closed pipe (`vnetlab show | head`) ends the process quietly, as for other
    // command-line tools, instead of failing after the work is done.
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // As az: "(Code) Message", and exit code 3 for a missing resource.
        Err(Failure::Azure(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.status == 404 { 3 } else { 1 })
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Quiet(code)) => ExitCode::from(code),
    }
}

fn parse_protocol(text: &str) -> std::result::Result<vnetlab_analysis::layers::Protocol, String> {
    text.parse()
}
