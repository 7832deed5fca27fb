// SPDX-License-Identifier: GPL-2.0
/*
 * bpftui's TC dispatcher for sched_cls: the same design as the XDP one,
 * with bpfman's TC conventions.
 *
 *   - ten global noinline stubs prog0..prog9 that user programs replace
 *     through freplace; a stub returns 30, which is no TC action;
 *   - the mask bit for a return value v is 1 << (v + 1), so TC_ACT_UNSPEC
 *     (-1) is bit 0 and a stub's 30 is bit 31;
 *   - when every enabled slot proceeded, the packet gets TC_ACT_OK.
 *
 * The config is the only map (.rodata, 84 bytes), set by the loader before
 * load so the verifier prunes the slots that are not enabled. The program
 * runs as a direct-action cls_bpf filter on a clsact qdisc.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define SLOTS 10
#define STUB_RETURN 30

struct tc_dispatcher_config {
	__u8 num_progs_enabled;
	/* three bytes of padding: the arrays are 4-byte aligned */
	__u32 chain_call_actions[SLOTS];
	__u32 run_prios[SLOTS];
};

/* const: lands in .rodata, frozen at load. volatile: the compiler must not
 * fold the all-zero initial value into the code. */
static volatile const struct tc_dispatcher_config conf = {};

/* A slot; see xdp_dispatcher.c for why the stub reads this way. */
#define SLOT_STUB(name)                                                   \
	__attribute__((noinline)) int name(struct __sk_buff *skb)         \
	{                                                                 \
		volatile int placeholder = STUB_RETURN;                   \
		return skb ? placeholder : TC_ACT_SHOT;                   \
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

/* Whether the chain goes on after a slot returned ret (bit ret + 1). */
static __always_inline int proceeds(int ret, __u32 mask)
{
	__u32 bit = (__u32)(ret + 1);

	return bit < 32 && ((1U << bit) & mask);
}

#define RUN_SLOT(n)                                                       \
	if (enabled <= n)                                                 \
		return TC_ACT_OK;                                         \
	ret = prog##n(skb);                                               \
	if (!proceeds(ret, conf.chain_call_actions[n]))                   \
		return ret;

SEC("tc")
int tc_dispatcher(struct __sk_buff *skb)
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
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
