//! The engine's cell and block-RAM budget on the iCE40UP5K at 8 lanes (docs/engine.md,
//! "Budget"): one line per unit. Each unit's testbench checks its packed cells, synthesized on
//! its own ([`crate::flow::unit`]), against its line, so a change that overruns the budget
//! fails where it is made. The whole accelerator must come in at 90 % of the device's 5,280
//! logic cells (a design at 95 % did not route at 24 MHz, docs/history/first-engine-fit.md): the lines add up
//! to 4,530 at 8 lanes, 85.8 %.

/// One unit's allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub unit: &'static str,
    /// Packed logic cells (per lane for the lanes).
    pub cells: u32,
    pub block_rams: u32,
}

pub const UART: Line = Line {
    unit: "UART receiver and transmitter",
    cells: 120,
    block_rams: 0,
};
pub const FRAMES: Line = Line {
    unit: "frame receiver and transmitter",
    cells: 370,
    block_rams: 2,
};
pub const COMMANDS: Line = Line {
    unit: "command handler",
    cells: 450,
    block_rams: 0,
};
pub const FETCH: Line = Line {
    unit: "fetch and decode",
    cells: 150,
    block_rams: 4,
};
pub const REGISTERS: Line = Line {
    unit: "registers",
    cells: 160,
    block_rams: 0,
};
pub const CHANNEL: Line = Line {
    unit: "channel parameters",
    cells: 110,
    block_rams: 0,
};
pub const PROGRAMMER: Line = Line {
    unit: "table programmer",
    cells: 150,
    block_rams: 0,
};
pub const TAP_MEMORY: Line = Line {
    unit: "tap memory, records, logits",
    cells: 40,
    block_rams: 4,
};
pub const ADDRESS: Line = Line {
    unit: "address generator",
    cells: 280,
    block_rams: 0,
};
pub const COLUMN_MASK: Line = Line {
    unit: "column mask",
    cells: 30,
    block_rams: 0,
};
pub const ISSUER: Line = Line {
    unit: "issuer and pipeline",
    cells: 190,
    block_rams: 0,
};
/// Per lane.
pub const LANE: Line = Line {
    unit: "lane",
    cells: 170,
    block_rams: 2,
};
pub const DRAIN: Line = Line {
    unit: "drain",
    cells: 60,
    block_rams: 0,
};
pub const REQUANTIZER: Line = Line {
    unit: "requantizer",
    cells: 350,
    block_rams: 0,
};
pub const WRITER: Line = Line {
    unit: "writer",
    cells: 390,
    block_rams: 0,
};
pub const ACTIVATIONS: Line = Line {
    unit: "activation memory and arbiter",
    cells: 250,
    block_rams: 0,
};
pub const COUNTERS: Line = Line {
    unit: "counters",
    cells: 70,
    block_rams: 0,
};

/// Every line but the lanes'.
pub const SHARED: [Line; 16] = [
    UART,
    FRAMES,
    COMMANDS,
    FETCH,
    REGISTERS,
    CHANNEL,
    PROGRAMMER,
    TAP_MEMORY,
    ADDRESS,
    COLUMN_MASK,
    ISSUER,
    DRAIN,
    REQUANTIZER,
    WRITER,
    ACTIVATIONS,
    COUNTERS,
];

/// The device's logic cells and block RAMs, and the share of its cells a design may use.
pub const DEVICE_CELLS: u32 = 5280;
pub const DEVICE_BLOCK_RAMS: u32 = 30;
pub const CELL_SHARE_PERCENT: u32 = 90;

/// The budget's total cells and block RAMs at `lanes` lanes.
pub fn total(lanes: u32) -> (u32, u32) {
    let cells = SHARED.iter().map(|l| l.cells).sum::<u32>() + lanes * LANE.cells;
    let rams = SHARED.iter().map(|l| l.block_rams).sum::<u32>() + lanes * LANE.block_rams;
    (cells, rams)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The budget adds up within the UP5K's cells and block RAMs at 8 and 4 lanes, within the
    /// 90 % that routes.
    #[test]
    fn the_budget_fits_the_device() {
        for lanes in [8, 4] {
            let (cells, rams) = total(lanes);
            assert!(cells <= DEVICE_CELLS, "{lanes} lanes: {cells}");
            assert!(rams <= DEVICE_BLOCK_RAMS, "{lanes} lanes: {rams}");
        }
        for lanes in [8, 4] {
            let (cells, _) = total(lanes);
            assert!(
                cells * 100 <= DEVICE_CELLS * CELL_SHARE_PERCENT,
                "{lanes} lanes: {cells}"
            );
        }
        assert_eq!(total(8), (4530, 26));
    }
}
