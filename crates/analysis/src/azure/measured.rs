//! Connectivity checks with real packets: what probes measured (how many were sent, how many
//! failed, their round trips) and the trait of whatever sends them. The analysis sends nothing:
//! the data plane implements [`Prober`] (`vnetlab_dataplane::live`), and the API asks the prober
//! it was given, falling back to the static trace when there is none or it cannot probe.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vnetlab_model::ResourceId;

use super::trace::Probe;

/// A series of probes to one address and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundTrips {
    pub sent: u32,
    /// The round trip of each answered probe, in the order sent.
    pub answered: Vec<Duration>,
    /// Probes the destination refused (a TCP reset): the packets got there and back, but nothing
    /// listens on the port. They count as failed, as in Azure.
    pub refused: u32,
}

impl RoundTrips {
    pub fn failed(&self) -> u32 {
        self.sent.saturating_sub(u32::try_from(self.answered.len()).unwrap_or(u32::MAX))
    }

    pub fn min(&self) -> Option<Duration> {
        self.answered.iter().min().copied()
    }

    pub fn max(&self) -> Option<Duration> {
        self.answered.iter().max().copied()
    }

    pub fn avg(&self) -> Option<Duration> {
        let n = u32::try_from(self.answered.len()).ok().filter(|n| *n > 0)?;
        Some(self.answered.iter().sum::<Duration>() / n)
    }
}

/// `min/avg/max` in milliseconds with three decimals, as `ping` prints them; `-` when no probe
/// was answered.
impl fmt::Display for RoundTrips {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        match (self.min(), self.avg(), self.max()) {
            (Some(min), Some(avg), Some(max)) => {
                write!(
                    f,
                    "{}/{} answered, rtt {:.3}/{:.3}/{:.3} ms",
                    self.answered.len(),
                    self.sent,
                    ms(min),
                    ms(avg),
                    ms(max)
                )
            }
            _ if self.refused > 0 => {
                write!(f, "0/{} answered ({} refused: nothing listens on the port)", self.sent, self.refused)
            }
            _ => write!(f, "0/{} answered", self.sent),
        }
    }
}

/// What a connectivity check asks a prober to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The VM the probes leave from (as Network Watcher's agent sends them from inside it).
    pub vm: ResourceId,
    /// The source address: the VM's NIC address the trace starts at.
    pub source: IpAddr,
    pub destination: IpAddr,
    pub probe: Probe,
    /// Addresses of the hops between source and destination (appliances, gateways), each
    /// measured with ICMP echo.
    pub hops: Vec<IpAddr>,
}

/// What the probes of a [`ProbeRequest`] measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    /// The check's own probes, to the destination.
    pub probes: RoundTrips,
    /// ICMP echo to each address of [`ProbeRequest::hops`].
    pub hops: Vec<(IpAddr, RoundTrips)>,
}

impl Measured {
    /// The round trips measured to `address`, if it was probed.
    pub fn hop(&self, address: IpAddr) -> Option<&RoundTrips> {
        self.hops.iter().find(|(a, _)| *a == address).map(|(_, r)| r)
    }
}

/// Sends the probes of a connectivity check. Blocking: it takes up to a few seconds when packets
/// are dropped, so callers on an async runtime call it from a blocking thread.
pub trait Prober: fmt::Debug + Send + Sync {
    /// The probes of `request`, sent from inside its VM. `None` when this prober cannot send
    /// them (no data plane, the VM has no namespace, an address family the data plane does not
    /// realize): the check then answers from the static trace.
    fn measure(&self, request: &ProbeRequest) -> Option<Measured>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_count_failures_and_summarize_the_answered() {
        let ms = Duration::from_millis;
        let r = RoundTrips { sent: 4, answered: vec![ms(3), ms(1), ms(2)], refused: 0 };
        assert_eq!((r.failed(), r.min(), r.avg(), r.max()), (1, Some(ms(1)), Some(ms(2)), Some(ms(3))));
        assert_eq!(r.to_string(), "3/4 answered, rtt 1.000/2.000/3.000 ms");
        let none = RoundTrips { sent: 2, answered: Vec::new(), refused: 2 };
        assert_eq!((none.failed(), none.avg()), (2, None));
        assert_eq!(none.to_string(), "0/2 answered (2 refused: nothing listens on the port)");
    }
}
