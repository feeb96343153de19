//! Fault mechanisms for faultline: the maths of network partitions
//! ([`grudge`]), a loopback TCP proxy mesh that realises partitions and
//! packet faults ([`proxy`]), wall-clock faults through libfaketime
//! ([`clock`]) and seeded fault schedules ([`schedule`]).
//!
//! The crate knows nothing about the harness: the harness owns the cluster,
//! gives each node the mesh's proxy addresses as its peers and the clock
//! environment, and drives the mechanisms here from its nemesis. See
//! `nemesis/README.md` for how the pieces are meant to be wired.

pub mod clock;
pub mod grudge;
pub mod proxy;
pub mod schedule;

pub use clock::{find_libfaketime, ClockControl, ClockError};
pub use grudge::{Grudge, GrudgeError, PartitionShape};
pub use proxy::{LinkRule, LinkStats, MeshConfig, NetError, ProxyMesh};
pub use schedule::{FaultOp, FaultPackage, Phase, ScheduleConfig, ScheduledOp};

/// Node identifiers are plain strings (`"n1"`, `"n2"`, ...).
pub type NodeId = String;

/// One network-control backend: the loopback [`ProxyMesh`] now, network
/// namespaces + iptables later. Methods are synchronous and cheap: they
/// change rule tables; the backend applies them to traffic (for the proxy,
/// to established connections too) at once.
///
/// Two layers per directed link: a *partition* layer set wholesale by
/// [`NetworkControl::apply_grudge`], and a *packet* layer set per link by
/// [`NetworkControl::set_link`]. A link cut by the partition layer drops
/// traffic whatever its packet rule; otherwise its packet rule applies.
pub trait NetworkControl: Send + Sync {
    /// Replace the partition layer: every link dropped by `grudge` is cut
    /// (blackholed); every other link's partition cut is lifted. Packet
    /// rules are untouched. `apply_grudge(&Grudge::new())` heals partitions
    /// only. All-or-nothing: an unknown node changes nothing.
    fn apply_grudge(&self, grudge: &Grudge) -> Result<(), NetError>;

    /// Set the packet rule of the directed link `from → to`.
    fn set_link(&self, from: &str, to: &str, rule: LinkRule) -> Result<(), NetError>;

    /// Set several packet rules at once (all-or-nothing validation).
    fn set_links(&self, rules: &[(NodeId, NodeId, LinkRule)]) -> Result<(), NetError>;

    /// Heal everything: no partition, every packet rule back to `Pass`.
    fn heal(&self) -> Result<(), NetError>;

    /// The effective rule of every directed link, for records and reports.
    fn effective_rules(&self) -> Vec<(NodeId, NodeId, LinkRule)>;
}
