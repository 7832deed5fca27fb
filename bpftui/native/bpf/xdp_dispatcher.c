// SPDX-License-Identifier: GPL-2.0
/*
 * bpftui's XDP dispatcher, speaking version 2 of libxdp's multi-program
 * protocol so that xdp-loader (libxdp) and bpftui can manage the same
 * interface.
 *
 * What the protocol fixes, and why each piece is here:
 *   - the main program is named xdp_dispatcher: libxdp recognises a
 *     dispatcher by that name;
 *   - the only map is the .rodata one holding the 124-byte config below,
 *     starting with magic 236 and version 2: libxdp reads it to learn the
 *     slots' priorities and chain actions;
 *   - ten global noinline stubs prog0..prog9 that user programs replace
 *     through freplace (BPF_PROG_TYPE_EXT); a stub returns 31, a value no
 *     XDP program returns, whose bit is set in every chain mask so a slot
 *     left empty passes the packet on;
 *   - the version again in BTF, as the variable dispatcher_version in the
 *     section xdp_metadata.
 *
 * The config is set by the loader before load; libbpf freezes .rodata, so
 * the verifier sees num_progs_enabled as a constant and prunes every call
 * to an unused slot.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SLOTS 10
#define CONFIG_MAGIC 236
#define PROTOCOL_VERSION 2
#define STUB_RETURN 31

struct xdp_dispatcher_config {
	__u8 magic;
	__u8 dispatcher_version;
	__u8 num_progs_enabled;
	__u8 is_xdp_frags;
	__u32 chain_call_actions[SLOTS];
	__u32 run_prios[SLOTS];
	__u32 program_flags[SLOTS];
};

/* const: lands in .rodata, frozen at load. volatile: the compiler must not
 * fold the all-zero initial value into the code. */
static volatile const struct xdp_dispatcher_config conf = {};

/*
 * A slot. The volatile local keeps clang from proving the return value and
 * inlining it into the caller; the ctx test keeps the argument live so the
 * replacement program receives the packet.
 */
#define SLOT_STUB(name)                                                   \
	__attribute__((noinline)) int name(struct xdp_md *ctx)            \
	{                                                                 \
		volatile int placeholder = STUB_RETURN;                   \
		return ctx ? placeholder : XDP_ABORTED;                   \
	}

SLOT_STUB(prog0)
SLOT_STUB(prog1)
SLOT_STUB(prog2)
SLOT_STUB(prog3)
SLOT_STUB(prog4)
SLOT_STUB(prog5)
SLOT_STUB(prog6)
SLOT_STUB(prog7)
SLOT_STUB(prog8)
SLOT_STUB(prog9)
/* Target of bpftui's freplace probe; never called by the dispatcher. */
SLOT_STUB(compat_test)

/* Whether the chain goes on after a slot returned ret. Return values past
 * bit 31 cannot be in a mask; they end the chain. */
static __always_inline int proceeds(int ret, __u32 mask)
{
	return (__u32)ret < 32 && ((1U << ret) & mask);
}

/* Each step is spelled out: calls through a table would not let the
 * verifier prune the slots that are not enabled. */
#define RUN_SLOT(n)                                                       \
	if (enabled <= n)                                                 \
		return XDP_PASS;                                          \
	ret = prog##n(ctx);                                               \
	if (!proceeds(ret, conf.chain_call_actions[n]))                   \
		return ret;

SEC("xdp")
int xdp_dispatcher(struct xdp_md *ctx)
{
	/* Read once: the verifier tracks the frozen value in a register. */
	__u8 enabled = conf.num_progs_enabled;
	int ret;

	RUN_SLOT(0)
	RUN_SLOT(1)
	RUN_SLOT(2)
	RUN_SLOT(3)
	RUN_SLOT(4)
	RUN_SLOT(5)
	RUN_SLOT(6)
	RUN_SLOT(7)
	RUN_SLOT(8)
	RUN_SLOT(9)
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

/* The protocol version again, for tools that read it from BTF. */
__uint(dispatcher_version, PROTOCOL_VERSION) SEC("xdp_metadata");
