//! Fault mechanisms and the nemesis of faultline.
//!
//! The layers, top to bottom:
//!
//! * [`plan`] (pure): fault kinds ([`FaultKind`]), how many nodes a fault
//!   hits ([`Targeting`]), and [`fault_plan`], a run's seeded fault steps
//!   ([`PlannedFault`]) laid out in time by [`schedule`], with every random
//!   choice already made.
//! * [`interpreter`]: the [`Nemesis`] applies each step to the cluster
//!   through [`FaultTarget`] (kill, start, pause, resume by node index; who
//!   leads), to the network through [`NetworkControl`] and to the clocks
//!   through [`ClockControl`]; it records every nemesis op in the history
//!   and yields a typed [`FaultRecord`] per fault, both through a
//!   [`FaultLog`]. The harness implements `FaultTarget` and `FaultLog`.
//! * mechanisms: the maths of network partitions ([`grudge`]), a loopback
//!   TCP proxy mesh that realises partitions and packet faults ([`proxy`],
//!   behind [`NetworkControl`]), network namespaces with nftables rules
//!   for real systems ([`netns`], behind the same trait) and wall-clock faults through libfaketime
//!   ([`clock`]).
//! * [`record`]: [`FaultRecord`], one line of a run's `faults.jsonl`.
//!
//! The crate names no system and speaks no protocol: the harness owns the
//! cluster, gives each node the mesh's proxy addresses as its peers and the
//! clock environment, and answers the leader look-ups. See
//! `nemesis/README.md` for how the pieces are wired.

pub mod clock;
pub mod grudge;
pub mod interpreter;
pub mod netns;
pub mod plan;
pub mod proxy;
pub mod record;
pub mod schedule;
pub mod target;

pub use clock::{find_libfaketime, ClockControl, ClockError};
pub use grudge::{Grudge, GrudgeError, PartitionShape};
pub use interpreter::Nemesis;
pub use netns::{CutMode, NetnsCluster};
pub use plan::{fault_plan, Action, FaultKind, PlannedFault, Targeting};
pub use proxy::{LinkRule, LinkStats, MeshConfig, NetError, ProxyMesh};
pub use record::{read_records, FaultDetails, FaultRecord, PacketLink};
pub use schedule::{FaultOp, FaultPackage, Phase, ScheduleConfig, ScheduledOp};
pub use target::{FaultLog, FaultTarget, Logged, NemesisEvent, NemesisEventType, TargetError};

/// Node identifiers are plain strings (`"n1"`, `"n2"`, ...).
pub type NodeId = String;

/// One network-control backend: the loopback [`ProxyMesh`] or the network
/// namespaces of [`NetnsCluster`]. Methods are synchronous and cheap: they
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
