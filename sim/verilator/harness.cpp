// The Verilator side of lutna's virtual board: steps the Verilated accelerator top clock by clock
// with its UART driven and sampled bit by bit (8N1 at CLOCKS_PER_BIT clocks per bit), and serves
// the Rust process that owns the pseudo-terminal over stdin/stdout with a small binary protocol:
//
//   request  (stdin):  u32 clocks, u32 n, n bytes for the board's RX pin      (little endian)
//   reply    (stdout): u32 m, u8 flags (bit 0 running, bit 1 RX still shifting), m bytes from TX
//
// The line model mirrors lutna_hw::sim::SoftUartTx/SoftUartRx (the host's end of the wire in
// the RustHDL board); the accelerator's own UART is the Verilog under test.
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

static bool read_exact(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

static uint32_t le32(const uint8_t *b) {
    return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CLOCKS_PER_BIT [VCD_FILE]\n", argv[0]);
        return 2;
    }
    const int cpb = atoi(argv[1]);
    VerilatedContext ctx;
    Vtop top(&ctx);
#if VM_TRACE
    VerilatedVcdC *vcd = nullptr;
    if (argc > 2) {
        ctx.traceEverOn(true);
        vcd = new VerilatedVcdC;
        top.trace(vcd, 99);
        vcd->open(argv[2]);
    }
#endif
    uint64_t time = 0;
    top.clock = 0;
    top.uart_rx = 1;
    top.eval();

    // Host -> board: bytes waiting, and the bit being shifted out of the current one.
    std::deque<uint8_t> to_board;
    int tx_bit = -1, tx_clock = 0;  // tx_bit: -1 idle, 0 start, 1..8 data, 9 stop
    uint8_t tx_byte = 0;
    // Board -> host sampler.
    long rx_at = -1;
    uint8_t rx_byte = 0;

    std::vector<uint8_t> in, out;
    uint8_t head[8];
    while (read_exact(head, 8)) {
        uint32_t clocks = le32(head), n = le32(head + 4);
        in.resize(n);
        if (n && !read_exact(in.data(), n)) break;
        for (uint8_t b : in) to_board.push_back(b);
        out.clear();
        for (uint32_t c = 0; c < clocks; c++) {
            // The RX pin's level for this clock.
            if (tx_bit < 0 && !to_board.empty()) {
                tx_byte = to_board.front();
                to_board.pop_front();
                tx_bit = 0;
                tx_clock = 0;
            }
            bool level = true;
            if (tx_bit == 0) level = false;
            else if (tx_bit >= 1 && tx_bit <= 8) level = (tx_byte >> (tx_bit - 1)) & 1;
            if (tx_bit >= 0 && ++tx_clock == cpb) {
                tx_clock = 0;
                if (++tx_bit == 10) tx_bit = -1;
            }
            top.uart_rx = level;
            top.eval();
            top.clock = 1;
            top.eval();
#if VM_TRACE
            if (vcd) vcd->dump(time);
#endif
            time += 2;
            // Sample the TX pin after the edge (mid-bit sampling, as SoftUartRx).
            bool tx = top.uart_tx;
            if (rx_at < 0) {
                if (!tx) { rx_at = 0; rx_byte = 0; }
            } else {
                long t = ++rx_at;
                if (t >= cpb / 2 && (t - cpb / 2) % cpb == 0) {
                    long k = (t - cpb / 2) / cpb;
                    if (k == 0 && tx) rx_at = -1;
                    else if (k >= 1 && k <= 8) rx_byte |= (uint8_t)tx << (k - 1);
                    else if (k == 9) { rx_at = -1; if (tx) out.push_back(rx_byte); }
                }
            }
            top.clock = 0;
            top.eval();
#if VM_TRACE
            if (vcd) vcd->dump(time - 1);
#endif
        }
        uint8_t flags = (top.running ? 1 : 0) | ((tx_bit >= 0 || !to_board.empty()) ? 2 : 0);
        uint8_t rh[5] = {(uint8_t)out.size(), (uint8_t)(out.size() >> 8), (uint8_t)(out.size() >> 16),
                         (uint8_t)(out.size() >> 24), flags};
        fwrite(rh, 1, 5, stdout);
        if (!out.empty()) fwrite(out.data(), 1, out.size(), stdout);
        fflush(stdout);
    }
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    top.final();
    return 0;
}
