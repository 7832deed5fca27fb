"""The attach points of the simulated node behind ``bpftui --demo``.

:class:`DemoDiscovery` answers the :class:`~bpftui.core.session.Discovery`
protocol without touching the machine: a handful of interfaces, a few hundred
tracepoints, a few thousand kernel functions with C prototypes, the symbols
of libc and a short process list. Everything is generated from fixed tables
and a seeded random generator, so two runs (and two snapshot tests) see the
same node. The dispatcher chains come from a callable, so that the demo
session can show what its in-memory backend really has attached.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from bpftui.core.errors import InputError
from bpftui.core.session import (
    ChainView,
    FunctionView,
    InterfaceView,
    ProcessView,
    SlotView,
    SymbolView,
    TracepointField,
    TracepointView,
)

ChainSource = Callable[[InterfaceView], Sequence[ChainView]]
"""Returns the chains attached to one interface, in hook order."""

SEED = 0x0BFF
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ---------------------------------------------------------------- interfaces

_INTERFACES = (
    InterfaceView(
        "lo",
        1,
        "loopback",
        "unknown",
        65536,
        "00:00:00:00:00:00",
        ("127.0.0.1/8", "::1/128"),
    ),
    InterfaceView(
        "eth0",
        2,
        "device",
        "up",
        1500,
        "52:54:00:12:34:56",
        ("10.0.2.15/24", "fe80::5054:ff:fe12:3456/64"),
        primary=True,
    ),
    InterfaceView(
        "eth1", 3, "device", "up", 9000, "52:54:00:ab:cd:01", ("192.168.50.4/24",)
    ),
    InterfaceView(
        "cni0", 4, "bridge", "up", 1450, "0a:58:0a:f4:00:01", ("10.244.0.1/24",)
    ),
    InterfaceView("veth3a9f0c1e", 5, "veth", "up", 1450, "4e:21:7a:90:11:3c"),
    InterfaceView("veth7d20b4aa", 6, "veth", "up", 1450, "be:8c:02:5f:e0:71"),
    InterfaceView(
        "eth0",
        2,
        "veth",
        "up",
        1450,
        "0a:58:0a:f4:00:07",
        ("10.244.0.7/24",),
        netns="cni-7f3b2e91",
    ),
    InterfaceView(
        "eth0",
        2,
        "veth",
        "up",
        1450,
        "0a:58:0a:f4:00:09",
        ("10.244.0.9/24",),
        netns="cni-0c44d8a2",
    ),
)


def _static_chains(iface: InterfaceView) -> Sequence[ChainView]:
    """What runs on the demo node before bpftui applies anything."""
    if iface.name == "eth1" and not iface.netns:
        slot = SlotView(
            0, 41, "xdp_filter", 50, ("pass", "dispatcher_return"), "xdp-loader"
        )
        return (ChainView("xdp", "native", 40, 1, (slot,)),)
    return ()


# ---------------------------------------------------------------- tracepoints

_SYSCALLS = _words(
    "read write open close stat fstat lstat poll lseek mmap mprotect munmap brk "
    "rt_sigaction rt_sigprocmask ioctl pread64 pwrite64 readv writev access pipe "
    "select sched_yield mremap msync mincore madvise dup dup2 nanosleep getpid "
    "sendfile64 socket connect accept sendto recvfrom sendmsg recvmsg shutdown "
    "bind listen getsockname getpeername socketpair setsockopt getsockopt clone "
    "fork vfork execve exit wait4 kill uname fcntl flock fsync fdatasync "
    "truncate ftruncate getdents64 getcwd chdir rename mkdir rmdir unlink "
    "symlink readlink chmod fchmod chown umask gettimeofday getrlimit sysinfo "
    "ptrace getuid setuid setgid geteuid getppid setsid capget capset "
    "statfs fstatfs prctl mount umount sethostname futex epoll_create1 "
    "epoll_ctl epoll_wait epoll_pwait openat mkdirat newfstatat unlinkat "
    "renameat2 accept4 eventfd2 pipe2 dup3 inotify_init1 perf_event_open "
    "bpf execveat memfd_create userfaultfd copy_file_range statx io_uring_setup "
    "io_uring_enter pidfd_open clone3 openat2 close_range faccessat2"
)

_TRACEPOINTS: dict[str, str] = {
    "sched": "sched_switch sched_wakeup sched_wakeup_new sched_waking "
    "sched_process_fork sched_process_exec sched_process_exit sched_process_free "
    "sched_process_wait sched_process_hang sched_migrate_task sched_stat_runtime "
    "sched_stat_wait sched_stat_sleep sched_stat_iowait sched_stat_blocked "
    "sched_pi_setprio sched_move_numa sched_swap_numa sched_kthread_stop "
    "sched_kthread_stop_ret sched_kthread_work_queue_work "
    "sched_kthread_work_execute_start sched_kthread_work_execute_end",
    "raw_syscalls": "sys_enter sys_exit",
    "net": "net_dev_queue net_dev_start_xmit net_dev_xmit net_dev_xmit_timeout "
    "netif_receive_skb netif_receive_skb_entry netif_receive_skb_exit netif_rx "
    "netif_rx_entry netif_rx_exit napi_gro_receive_entry napi_gro_receive_exit "
    "napi_gro_frags_entry napi_gro_frags_exit",
    "skb": "kfree_skb consume_skb skb_copy_datagram_iovec",
    "sock": "inet_sock_set_state sock_exceed_buf_limit sock_rcvqueue_full "
    "inet_sk_error_report sk_data_ready sock_send_length sock_recv_length",
    "tcp": "tcp_retransmit_skb tcp_send_reset tcp_receive_reset tcp_destroy_sock "
    "tcp_rcv_space_adjust tcp_retransmit_synack tcp_probe tcp_bad_csum "
    "tcp_cong_state_set",
    "udp": "udp_fail_queue_rcv_skb",
    "xdp": "xdp_exception xdp_bulk_tx xdp_redirect xdp_redirect_err "
    "xdp_redirect_map xdp_redirect_map_err xdp_cpumap_kthread "
    "xdp_cpumap_enqueue xdp_devmap_xmit mem_disconnect mem_connect "
    "mem_return_failed",
    "block": "block_rq_issue block_rq_complete block_rq_insert block_rq_requeue "
    "block_rq_merge block_bio_queue block_bio_complete block_bio_backmerge "
    "block_bio_frontmerge block_getrq block_plug block_unplug block_split "
    "block_dirty_buffer block_touch_buffer",
    "irq": "irq_handler_entry irq_handler_exit softirq_entry softirq_exit "
    "softirq_raise tasklet_entry tasklet_exit",
    "kmem": "kmalloc kfree kmem_cache_alloc kmem_cache_free mm_page_alloc "
    "mm_page_free mm_page_free_batched mm_page_alloc_zone_locked "
    "mm_page_pcpu_drain mm_page_alloc_extfrag rss_stat",
    "timer": "timer_init timer_start timer_expire_entry timer_expire_exit "
    "timer_cancel hrtimer_init hrtimer_start hrtimer_expire_entry "
    "hrtimer_expire_exit hrtimer_cancel itimer_state itimer_expire tick_stop",
    "signal": "signal_generate signal_deliver",
    "task": "task_newtask task_rename",
    "workqueue": "workqueue_queue_work workqueue_activate_work "
    "workqueue_execute_start workqueue_execute_end",
    "writeback": "writeback_dirty_folio writeback_mark_inode_dirty "
    "writeback_dirty_inode writeback_write_inode writeback_queue "
    "writeback_exec writeback_start writeback_written writeback_wait "
    "writeback_pages_written global_dirty_state balance_dirty_pages",
    "filemap": "mm_filemap_delete_from_page_cache mm_filemap_add_to_page_cache "
    "filemap_set_wb_err file_check_and_advance_wb_err",
    "ext4": "ext4_da_write_begin ext4_da_write_end ext4_sync_file_enter "
    "ext4_sync_file_exit ext4_writepages ext4_read_folio ext4_free_inode "
    "ext4_request_inode ext4_allocate_inode ext4_evict_inode ext4_unlink_enter "
    "ext4_unlink_exit ext4_truncate_enter ext4_truncate_exit",
    "power": "cpu_idle cpu_frequency cpu_frequency_limits device_pm_callback_start "
    "device_pm_callback_end suspend_resume wakeup_source_activate "
    "wakeup_source_deactivate",
    "cgroup": "cgroup_mkdir cgroup_rmdir cgroup_attach_task cgroup_transfer_tasks "
    "cgroup_freeze cgroup_unfreeze cgroup_notify_populated",
    "bpf_test_run": "bpf_trigger_tp",
    "oom": "oom_score_adj_update mark_victim wake_reaper start_task_reaping "
    "finish_task_reaping skip_task_reaping",
    "vmscan": "mm_vmscan_kswapd_sleep mm_vmscan_kswapd_wake mm_vmscan_wakeup_kswapd "
    "mm_vmscan_direct_reclaim_begin mm_vmscan_direct_reclaim_end "
    "mm_vmscan_lru_isolate mm_vmscan_write_folio mm_vmscan_lru_shrink_inactive",
}

_COMMON_FIELDS = (
    TracepointField("common_type", "unsigned short", 0, 2, False),
    TracepointField("common_flags", "unsigned char", 2, 1, False),
    TracepointField("common_preempt_count", "unsigned char", 3, 1, False),
    TracepointField("common_pid", "int", 4, 4, True),
)

# Field lists of a few well-known events; the others get generic fields.
_KNOWN_FIELDS: dict[str, tuple[tuple[str, str, int, bool], ...]] = {
    "sched/sched_switch": (
        ("prev_comm", "char[16]", 16, False),
        ("prev_pid", "pid_t", 4, True),
        ("prev_prio", "int", 4, True),
        ("prev_state", "long", 8, True),
        ("next_comm", "char[16]", 16, False),
        ("next_pid", "pid_t", 4, True),
        ("next_prio", "int", 4, True),
    ),
    "sched/sched_process_exec": (
        ("__data_loc char[] filename", "__data_loc char[]", 4, False),
        ("pid", "pid_t", 4, True),
        ("old_pid", "pid_t", 4, True),
    ),
    "net/netif_receive_skb": (
        ("skbaddr", "void *", 8, False),
        ("len", "unsigned int", 4, False),
        ("__data_loc char[] name", "__data_loc char[]", 4, False),
    ),
    "skb/kfree_skb": (
        ("skbaddr", "void *", 8, False),
        ("location", "void *", 8, False),
        ("protocol", "unsigned short", 2, False),
        ("reason", "enum skb_drop_reason", 4, False),
    ),
    "xdp/xdp_exception": (
        ("prog_id", "int", 4, True),
        ("act", "u32", 4, False),
        ("ifindex", "int", 4, True),
    ),
}


def _tracepoint_list() -> tuple[TracepointView, ...]:
    views = [
        TracepointView(cat, name)
        for cat, names in _TRACEPOINTS.items()
        for name in names.split()
    ]
    for call in _SYSCALLS:
        views.append(TracepointView("syscalls", f"sys_enter_{call}"))
        views.append(TracepointView("syscalls", f"sys_exit_{call}"))
    return tuple(sorted(views, key=lambda v: (v.category, v.name)))


def _event_fields(full_name: str) -> tuple[TracepointField, ...]:
    if full_name in _KNOWN_FIELDS:
        specs = _KNOWN_FIELDS[full_name]
    elif full_name.startswith("syscalls/sys_enter_"):
        specs = (
            ("__syscall_nr", "int", 4, True),
            ("arg0", "unsigned long", 8, False),
            ("arg1", "unsigned long", 8, False),
        )
    elif full_name.startswith("syscalls/sys_exit_"):
        specs = (("__syscall_nr", "int", 4, True), ("ret", "long", 8, True))
    else:
        specs = (
            ("dev", "dev_t", 4, False),
            ("ptr", "void *", 8, False),
            ("len", "unsigned int", 4, False),
        )
    return _COMMON_FIELDS + _lay_out(specs)


def _lay_out(
    specs: Sequence[tuple[str, str, int, bool]],
) -> tuple[TracepointField, ...]:
    fields, offset = [], 8
    for name, type_, size, signed in specs:
        offset += -offset % min(size, 8)  # natural alignment, as the kernel lays out
        fields.append(TracepointField(name.split()[-1], type_, offset, size, signed))
        offset += size
    return tuple(fields)


# ---------------------------------------------------------------- functions

# Real, well-known attach targets with their real prototypes, so that the
# examples in the docs work in demo mode.
_KNOWN_FUNCTIONS = (
    "int tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)",
    "int tcp_v6_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)",
    "int tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)",
    "int tcp_recvmsg(struct sock *sk, struct msghdr *msg, size_t len, int flags, "
    "int *addr_len)",
    "void tcp_close(struct sock *sk, long timeout)",
    "int tcp_v4_rcv(struct sk_buff *skb)",
    "void tcp_set_state(struct sock *sk, int state)",
    "int tcp_retransmit_skb(struct sock *sk, struct sk_buff *skb, int segs)",
    "struct sock *inet_csk_accept(struct sock *sk, struct proto_accept_arg *arg)",
    "int udp_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)",
    "int udp_recvmsg(struct sock *sk, struct msghdr *msg, size_t len, int flags, "
    "int *addr_len)",
    "int ip_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt, "
    "struct net_device *orig_dev)",
    "int ip_output(struct net *net, struct sock *sk, struct sk_buff *skb)",
    "int __netif_receive_skb(struct sk_buff *skb)",
    "int netif_receive_skb(struct sk_buff *skb)",
    "int dev_queue_xmit(struct sk_buff *skb)",
    "void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason)",
    "void consume_skb(struct sk_buff *skb)",
    "int do_sys_openat2(int dfd, const char *filename, struct open_how *how)",
    "long do_sys_open(int dfd, const char *filename, int flags, umode_t mode)",
    "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos)",
    "ssize_t vfs_write(struct file *file, const char *buf, size_t count, loff_t *pos)",
    "int vfs_open(const struct path *path, struct file *file)",
    "int vfs_unlink(struct mnt_idmap *idmap, struct inode *dir, "
    "struct dentry *dentry, struct inode **delegated_inode)",
    "int vfs_fsync_range(struct file *file, loff_t start, loff_t end, int datasync)",
    "int security_file_open(struct file *file)",
    "int security_bprm_check(struct linux_binprm *bprm)",
    "int bprm_execve(struct linux_binprm *bprm)",
    "void do_exit(long code)",
    "pid_t kernel_clone(struct kernel_clone_args *args)",
    "void wake_up_new_task(struct task_struct *p)",
    "int try_to_wake_up(struct task_struct *p, unsigned int state, int wake_flags)",
    "void finish_task_switch(struct task_struct *prev)",
    "void *__kmalloc(size_t size, gfp_t flags)",
    "void kfree(const void *object)",
    "struct page *alloc_pages(gfp_t gfp, unsigned int order)",
    "void handle_mm_fault(struct vm_area_struct *vma, unsigned long address, "
    "unsigned int flags, struct pt_regs *regs)",
    "int bpf_prog_load(union bpf_attr *attr, bpfptr_t uattr, u32 uattr_size)",
    "int bpf_check(struct bpf_prog **prog, union bpf_attr *attr, bpfptr_t uattr, "
    "u32 uattr_size)",
    "long __x64_sys_bpf(const struct pt_regs *regs)",
    "long __x64_sys_execve(const struct pt_regs *regs)",
    "long __x64_sys_openat(const struct pt_regs *regs)",
    "long __x64_sys_connect(const struct pt_regs *regs)",
    "int blk_mq_start_request(struct request *rq)",
    "void blk_account_io_done(struct request *req, u64 now)",
    "int cgroup_attach_task(struct cgroup *dst_cgrp, struct task_struct *leader, "
    "bool threadgroup)",
)

# Subsystem prefix -> (main argument, module the functions live in).
_SUBSYSTEMS: dict[str, tuple[str, str]] = {
    "tcp": ("struct sock *sk", "vmlinux"),
    "udp": ("struct sock *sk", "vmlinux"),
    "inet": ("struct sock *sk", "vmlinux"),
    "ip": ("struct sk_buff *skb", "vmlinux"),
    "ipv6": ("struct sk_buff *skb", "vmlinux"),
    "sock": ("struct sock *sk", "vmlinux"),
    "skb": ("struct sk_buff *skb", "vmlinux"),
    "netif": ("struct net_device *dev", "vmlinux"),
    "dev": ("struct net_device *dev", "vmlinux"),
    "napi": ("struct napi_struct *napi", "vmlinux"),
    "xdp": ("struct xdp_buff *xdp", "vmlinux"),
    "bpf": ("struct bpf_prog *prog", "vmlinux"),
    "br": ("struct net_bridge *br", "bridge"),
    "nf_conntrack": ("struct nf_conn *ct", "nf_conntrack"),
    "nf_nat": ("struct nf_conn *ct", "nf_nat"),
    "veth": ("struct net_device *dev", "veth"),
    "vfs": ("struct file *file", "vmlinux"),
    "ext4": ("struct inode *inode", "vmlinux"),
    "xfs": ("struct xfs_inode *ip", "xfs"),
    "overlay": ("struct dentry *dentry", "overlay"),
    "filemap": ("struct address_space *mapping", "vmlinux"),
    "folio": ("struct folio *folio", "vmlinux"),
    "page": ("struct page *page", "vmlinux"),
    "kmem_cache": ("struct kmem_cache *s", "vmlinux"),
    "sched": ("struct task_struct *p", "vmlinux"),
    "task": ("struct task_struct *task", "vmlinux"),
    "cgroup": ("struct cgroup *cgrp", "vmlinux"),
    "signal": ("struct task_struct *t", "vmlinux"),
    "irq": ("struct irq_desc *desc", "vmlinux"),
    "hrtimer": ("struct hrtimer *timer", "vmlinux"),
    "rcu": ("struct rcu_head *head", "vmlinux"),
    "workqueue": ("struct workqueue_struct *wq", "vmlinux"),
    "blk_mq": ("struct request *rq", "vmlinux"),
    "bio": ("struct bio *bio", "vmlinux"),
    "nvme": ("struct nvme_ctrl *ctrl", "nvme_core"),
    "scsi": ("struct scsi_cmnd *cmd", "vmlinux"),
    "pci": ("struct pci_dev *dev", "vmlinux"),
    "kvm": ("struct kvm_vcpu *vcpu", "kvm"),
    "security": ("struct cred *cred", "vmlinux"),
    "apparmor": ("struct aa_label *label", "vmlinux"),
    "audit": ("struct audit_context *ctx", "vmlinux"),
    "crypto": ("struct crypto_tfm *tfm", "vmlinux"),
    "tty": ("struct tty_struct *tty", "vmlinux"),
    "pipe": ("struct pipe_inode_info *pipe", "vmlinux"),
    "kernfs": ("struct kernfs_node *kn", "vmlinux"),
    "device": ("struct device *dev", "vmlinux"),
}

_VERBS = _words(
    "alloc free init exit create destroy add del lookup find get put open release "
    "read write send recv rcv queue dequeue update flush register unregister attach "
    "detach start stop handle process check validate copy clone set clear enable "
    "disable map unmap lock unlock wait wake poll sync fill parse prepare commit "
    "finish submit complete reset resume suspend insert remove"
)
_OBJECTS = (
    "",
    "_skb",
    "_entry",
    "_node",
    "_table",
    "_buf",
    "_req",
    "_ops",
    "_work",
    "_state",
    "_ctx",
    "_queue",
    "_cb",
    "_hook",
    "_info",
    "_stats",
    "_range",
    "_list",
    "_one",
    "_all",
    "_locked",
    "_rcu",
    "_slow",
    "_fast",
)
_EXTRA_PARAMS = (
    "gfp_t gfp",
    "unsigned int flags",
    "int len",
    "size_t size",
    "u32 mask",
    "const void *data",
    "loff_t *pos",
    "struct net *net",
    "bool force",
    "unsigned long arg",
    "int cpu",
    "u64 cookie",
    "struct list_head *head",
)
_RETURNS_POINTER = ("alloc", "get", "find", "lookup", "create", "clone")
_RETURNS_VOID = ("free", "put", "destroy", "release", "unlock", "wake", "clear")

# How many generated functions the demo node offers besides the known ones.
GENERATED_FUNCTIONS = 4200


def _generated_prototype(rng: random.Random, prefix: str, verb: str, name: str) -> str:
    main, _ = _SUBSYSTEMS[prefix]
    params = [main, *rng.sample(_EXTRA_PARAMS, rng.randint(0, 3))]
    if verb in _RETURNS_POINTER:
        returns = main.rsplit("*", 1)[0].strip() + " *"
    elif verb in _RETURNS_VOID:
        returns = "void "
    elif verb in ("check", "validate"):
        returns = "bool "
    else:
        returns = "int "
    return f"{returns}{name}({', '.join(params)})"


def _function_list() -> tuple[FunctionView, ...]:
    rng = random.Random(SEED)
    views: dict[str, FunctionView] = {}
    for proto in _KNOWN_FUNCTIONS:
        name = proto.split("(", 1)[0].split()[-1].lstrip("*")
        views[name] = FunctionView(name, "vmlinux", proto, True, True)

    prefixes = sorted(_SUBSYSTEMS)
    while len(views) < len(_KNOWN_FUNCTIONS) + GENERATED_FUNCTIONS:
        prefix, verb = rng.choice(prefixes), rng.choice(_VERBS)
        name = f"{prefix}_{verb}{rng.choice(_OBJECTS)}"
        if rng.random() < 0.08:
            name = "__" + name  # internal helpers, as the kernel has many
        if name in views:
            continue
        proto = _generated_prototype(rng, prefix, verb, name)
        module = _SUBSYSTEMS[prefix][1]
        # Some functions are notrace or inlined away: BTF knows them but
        # kprobes cannot attach; a few have no BTF-visible trampoline either.
        kprobe = not (prefix == "rcu" or rng.random() < 0.03)
        fentry = rng.random() > 0.02
        views[name] = FunctionView(name, module, proto, fentry, kprobe)
    # Sorted as people read them: __tcp_x next to tcp_x, not all on top.
    return tuple(sorted(views.values(), key=lambda v: (v.name.lstrip("_"), v.name)))


class DemoFunctionCatalog:
    """The demo node's kernel functions, searched as the real catalogue is."""

    def __init__(self, views: Sequence[FunctionView]) -> None:
        from bpftui.core.discovery.search import NameIndex

        self._views = tuple(views)
        self._by_name = {v.name: v for v in self._views}
        self._index = NameIndex([v.name for v in self._views])

    def __len__(self) -> int:
        return len(self._views)

    def filter(
        self, text: str, *, fuzzy: bool = False, limit: int | None = None
    ) -> tuple[Sequence[FunctionView], int]:
        """Return up to ``limit`` matches, best first, and the number of matches."""
        wanted = len(self._views) if limit is None else max(limit, 0)
        shown, total = self._index.search(text, fuzzy=fuzzy, wanted=wanted)
        return [self._views[i] for i in shown], total

    def get(self, name: str) -> FunctionView | None:
        return self._by_name.get(name)


# ---------------------------------------------------------------- user space

_LIBC_SYMBOLS = _words(
    "malloc free calloc realloc memcpy memset strlen strcmp strncmp strcpy "
    "open openat read write close connect accept accept4 send recv sendto "
    "recvfrom getaddrinfo freeaddrinfo gethostbyname fopen fclose fread fwrite "
    "printf fprintf snprintf puts execve fork posix_spawn pthread_create "
    "pthread_mutex_lock pthread_mutex_unlock SSL_read SSL_write dlopen dlsym "
    "exit abort system popen"
)
_BINARY_SYMBOLS: dict[str, tuple[str, ...]] = {
    LIBC: tuple(s for s in _LIBC_SYMBOLS if not s.startswith("SSL")),
    "/usr/lib/x86_64-linux-gnu/libssl.so.3": (
        "SSL_read",
        "SSL_write",
        "SSL_do_handshake",
        "SSL_shutdown",
        "SSL_new",
        "SSL_free",
        "SSL_connect",
        "SSL_accept",
    ),
    "/usr/sbin/nginx": (
        "ngx_http_process_request",
        "ngx_http_finalize_request",
        "ngx_http_read_request_header",
        "ngx_event_accept",
        "ngx_worker_process_cycle",
    ),
    "/usr/bin/bash": ("readline", "execute_command", "shell_execve", "main"),
}
_LIBRARIES = {
    "libc": LIBC,
    "c": LIBC,
    "libc.so.6": LIBC,
    "libssl": "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "libssl.so.3": "/usr/lib/x86_64-linux-gnu/libssl.so.3",
}

_PROCESSES = (
    ProcessView(1, "systemd", "/sbin/init"),
    ProcessView(412, "systemd-journal", "/lib/systemd/systemd-journald"),
    ProcessView(688, "sshd", "sshd: /usr/sbin/sshd -D"),
    ProcessView(702, "containerd", "/usr/bin/containerd"),
    ProcessView(
        731, "kubelet", "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml"
    ),
    ProcessView(1204, "nginx", "nginx: master process /usr/sbin/nginx"),
    ProcessView(1205, "nginx", "nginx: worker process"),
    ProcessView(1206, "nginx", "nginx: worker process"),
    ProcessView(2210, "coredns", "/coredns -conf /etc/coredns/Corefile"),
    ProcessView(3301, "bash", "-bash"),
)


def _symbols_of(path: str) -> tuple[SymbolView, ...]:
    names = _BINARY_SYMBOLS[path]
    rng = random.Random(f"{SEED}:{path}")
    offset, out = 0x28000, []
    for name in sorted(names):
        size = rng.randrange(0x20, 0x600, 0x10)
        out.append(SymbolView(name, offset, size, path))
        offset += size + rng.randrange(0x10, 0x200, 0x10)
    return tuple(out)


# ---------------------------------------------------------------- discovery


class DemoDiscovery:
    """A simulated node's attach points; deterministic and safe to share.

    Args:
        chains: gives each interface's chains; by default the demo node has
            one chain of its own (an ``xdp-loader`` program on eth1). The demo
            session passes a function reading its in-memory backend.
    """

    def __init__(self, chains: ChainSource | None = None) -> None:
        self._chains = chains or _static_chains
        self._tracepoints = _tracepoint_list()
        self._catalog: DemoFunctionCatalog | None = None
        self._watchers: list[Callable[[Sequence[InterfaceView]], None]] = []
        self._lock = threading.Lock()

    def interfaces(self) -> Sequence[InterfaceView]:
        return tuple(replace(i, chains=tuple(self._chains(i))) for i in _INTERFACES)

    def watch_interfaces(
        self, callback: Callable[[Sequence[InterfaceView]], None]
    ) -> Callable[[], None]:
        """Call ``callback`` whenever :meth:`changed` is called, until stopped."""
        with self._lock:
            self._watchers.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return stop

    def changed(self) -> None:
        """Tell the watchers that chains changed (the demo session calls this)."""
        with self._lock:
            watchers = list(self._watchers)
        snapshot = self.interfaces()
        for callback in watchers:
            callback(snapshot)

    def primary_interface(self) -> str | None:
        return next((i.name for i in _INTERFACES if i.primary), None)

    def tracepoints(self) -> Sequence[TracepointView]:
        return self._tracepoints

    def tracepoint_fields(self, category: str, name: str) -> Sequence[TracepointField]:
        if TracepointView(category, name) not in self._tracepoints:
            raise InputError(
                f"tracepoint '{category}/{name}': not found on this node",
                hint="'bpftui list tracepoints' shows them all",
            )
        return _event_fields(f"{category}/{name}")

    def functions(self) -> DemoFunctionCatalog:
        if self._catalog is None:  # built on first use: ~20 ms
            self._catalog = DemoFunctionCatalog(_function_list())
        return self._catalog

    def resolve_library(self, name: str) -> str:
        if name.startswith("/"):
            return name
        path = _LIBRARIES.get(name)
        if path is None:
            raise InputError(
                f"library '{name}': not found on this node",
                hint="give an absolute path or one of: libc, libssl",
            )
        return path

    def symbols(self, target: str) -> Sequence[SymbolView]:
        path = self.resolve_library(target)
        if path not in _BINARY_SYMBOLS:
            raise InputError(f"binary '{path}': not found on this node")
        return _symbols_of(path)

    def processes(self) -> Sequence[ProcessView]:
        return _PROCESSES
