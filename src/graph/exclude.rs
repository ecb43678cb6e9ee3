//! Exclude classes (OSRM's `exclude=`): kinds of road a request may ask a car route to avoid,
//! and which stored edges belong to them. `motorway` is read from the edge's road class, `toll`
//! and `ferry` from edge flags the import writes (see [`crate::tile::flags`]).

use crate::profile::RoadClass;
use crate::tile::{flags, ArchivedEdge};

/// The edge flags this import writes, listed in the manifest's `edge_flags` so that a server
/// can tell a graph without them (imported earlier) from one where no road has them.
pub const WRITTEN_EDGE_FLAGS: [&str; 2] = ["toll", "ferry"];

/// A set of exclude classes; empty excludes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Exclude {
    bits: u8,
}

impl Exclude {
    pub const NONE: Exclude = Exclude { bits: 0 };
    pub const MOTORWAY: Exclude = Exclude { bits: 1 };
    pub const TOLL: Exclude = Exclude { bits: 2 };
    pub const FERRY: Exclude = Exclude { bits: 4 };

    /// The class named `name` (`motorway`, `toll`, `ferry`), or `None` for a name the car
    /// profile does not define.
    pub fn class(name: &str) -> Option<Exclude> {
        match name {
            "motorway" => Some(Exclude::MOTORWAY),
            "toll" => Some(Exclude::TOLL),
            "ferry" => Some(Exclude::FERRY),
            _ => None,
        }
    }

    /// Both sets.
    pub fn with(self, other: Exclude) -> Exclude {
        Exclude {
            bits: self.bits | other.bits,
        }
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// Whether every class of `other` is in this set.
    pub fn contains(self, other: Exclude) -> bool {
        self.bits & other.bits == other.bits
    }

    /// Whether a route under this set may not drive `edge`.
    #[inline]
    pub fn excludes(self, edge: &ArchivedEdge) -> bool {
        if self.bits == 0 {
            return false;
        }
        let motorway = self.contains(Exclude::MOTORWAY) && is_motorway_class(edge.class);
        let mut mask = 0;
        if self.contains(Exclude::TOLL) {
            mask |= flags::TOLL;
        }
        if self.contains(Exclude::FERRY) {
            mask |= flags::FERRY;
        }
        motorway || edge.flags & mask != 0
    }
}

/// `highway=motorway` or `motorway_link`, as stored (OSRM's car profile classes both as
/// `motorway`).
pub fn is_motorway_class(class: u8) -> bool {
    class == RoadClass::Motorway.as_u8() || class == RoadClass::MotorwayLink.as_u8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_combine() {
        assert_eq!(Exclude::class("foo"), None);
        assert_eq!(
            Exclude::class("Motorway"),
            None,
            "names are case-sensitive, as OSRM's"
        );
        let both = Exclude::MOTORWAY.with(Exclude::TOLL);
        assert!(both.contains(Exclude::MOTORWAY) && both.contains(Exclude::TOLL));
        assert!(!both.contains(Exclude::FERRY));
        assert!(Exclude::NONE.is_empty() && !both.is_empty());
    }

    #[test]
    fn motorway_and_its_links_only() {
        assert!(is_motorway_class(RoadClass::Motorway.as_u8()));
        assert!(is_motorway_class(RoadClass::MotorwayLink.as_u8()));
        assert!(!is_motorway_class(RoadClass::Trunk.as_u8()));
        assert!(!is_motorway_class(RoadClass::Residential.as_u8()));
    }
}
