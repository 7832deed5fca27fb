"""What the demo node runs when ``bpftui --demo`` starts.

:func:`seed` applies a set of objects chosen so that every screen has
something to show and every condition appears at least once:

* Loaded: an XDP chain of three slots on eth0, TC on both directions, a
  tracepoint pair, a kprobe, a uprobe, an fentry, and a program sharing the
  maps of another (``mapownerselector``);
* NotLoaded: a function whose name starts with ``bad_``, which the demo
  backend's verifier refuses with a log;
* NotSelected: a node selector the demo node's labels do not match;
* MapOwnerNotFound: a map owner selector that matches nothing.

The objects are YAML, read and checked by the same code as ``bpftui apply``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bpftui.core import api, yaml_io
from bpftui.core.errors import BpftuiError
from bpftui.core.session import Session

log = logging.getLogger(__name__)

_IMAGES = "quay.io/bpfman-bytecode"

SCENARIO = f"""\
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata: {{name: ddos-guard}}
spec:
  bpffunctionname: xdp_ddos_guard
  nodeselector: {{}}
  interfaceselector: {{primarynodeinterface: true}}
  priority: 5
  proceedon: [pass, dispatcher_return]
  bytecode: {{image: {{url: "{_IMAGES}/xdp_ddos_guard:v0.4"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata: {{name: edge-firewall}}
spec:
  bpffunctionname: xdp_firewall
  nodeselector: {{}}
  interfaceselector: {{interfaces: [eth0]}}
  priority: 20
  proceedon: [pass, dispatcher_return]
  bytecode: {{path: /opt/bpf/edge_firewall.bpf.o}}
  globaldata: {{block_ttl_seconds: [0x3C, 0x00, 0x00, 0x00]}}
---
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata:
  name: edge-counter
  labels: {{app: edge-stats}}
spec:
  bpffunctionname: xdp_stats
  nodeselector: {{}}
  interfaceselector: {{interfaces: [eth0]}}
  priority: 50
  proceedon: [pass, drop, dispatcher_return]
  bytecode: {{image: {{url: "{_IMAGES}/go-xdp-counter:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: TcProgram
metadata: {{name: egress-shaper}}
spec:
  bpffunctionname: tc_shaper
  nodeselector: {{}}
  interfaceselector: {{interfaces: [eth0]}}
  direction: egress
  priority: 10
  bytecode: {{path: /opt/bpf/tc_shaper.bpf.o}}
---
apiVersion: bpfman.io/v1alpha1
kind: TcProgram
metadata: {{name: pod-ingress-mark}}
spec:
  bpffunctionname: tc_mark
  nodeselector: {{}}
  interfaceselector: {{interfaces: [cni0]}}
  direction: ingress
  priority: 100
  proceedon: [pipe, ok, dispatcher_return]
  bytecode: {{image: {{url: "{_IMAGES}/tc_pass:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: TracepointProgram
metadata: {{name: exec-watch}}
spec:
  bpffunctionname: trace_exec
  nodeselector: {{}}
  names: [sched/sched_process_exec, syscalls/sys_enter_execve]
  bytecode: {{image: {{url: "{_IMAGES}/go-tracepoint-counter:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: KprobeProgram
metadata: {{name: tcp-connect}}
spec:
  bpffunctionname: kprobe_connect
  nodeselector: {{}}
  func_name: tcp_v4_connect
  bytecode: {{image: {{url: "{_IMAGES}/go-kprobe-counter:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: UprobeProgram
metadata: {{name: libc-malloc}}
spec:
  bpffunctionname: uprobe_malloc
  nodeselector: {{}}
  target: libc
  func_name: malloc
  bytecode: {{image: {{url: "{_IMAGES}/go-uprobe-counter:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: FentryProgram
metadata: {{name: vfs-read-latency}}
spec:
  bpffunctionname: fentry_vfs_read
  nodeselector: {{}}
  func_name: vfs_read
  bytecode: {{path: /opt/bpf/latency.bpf.o}}
---
apiVersion: bpfman.io/v1alpha1
kind: TcProgram
metadata: {{name: counter-egress}}
spec:
  bpffunctionname: tc_stats
  nodeselector: {{}}
  interfaceselector: {{interfaces: [eth0]}}
  direction: ingress
  priority: 50
  mapownerselector: {{matchLabels: {{bpfman.io/ownedByProgram: edge-counter}}}}
  bytecode: {{image: {{url: "{_IMAGES}/go-xdp-counter:latest"}}}}
---
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata: {{name: bad-parser}}
spec:
  bpffunctionname: bad_parse_eth
  nodeselector: {{}}
  interfaceselector: {{interfaces: [eth1]}}
  priority: 30
  bytecode: {{path: /opt/bpf/parser.bpf.o}}
---
apiVersion: bpfman.io/v1alpha1
kind: TracepointProgram
metadata: {{name: gpu-power}}
spec:
  bpffunctionname: trace_power
  nodeselector: {{matchLabels: {{node-role.kubernetes.io/gpu: "true"}}}}
  names: [power/cpu_frequency]
  bytecode: {{path: /opt/bpf/power.bpf.o}}
---
apiVersion: bpfman.io/v1alpha1
kind: KprobeProgram
metadata: {{name: shared-drops}}
spec:
  bpffunctionname: kprobe_drops
  nodeselector: {{}}
  func_name: kfree_skb_reason
  mapownerselector: {{matchLabels: {{bpfman.io/ownedByProgram: drop-monitor}}}}
  bytecode: {{path: /opt/bpf/drops.bpf.o}}
"""


def scenario_objects() -> list[Any]:
    """The scenario's objects, checked by the API rules."""
    return [api.from_dict(doc.data) for doc in yaml_io.read_text(SCENARIO, "demo")]


def seed(session: Session, objects: Sequence[Any] | None = None) -> list[str]:
    """Apply the scenario one object at a time; one failure stops nothing.

    Returns:
        What could not be applied, as ``Kind/name: error`` lines (normally
        none: refused programs end as NotLoaded, not as errors).
    """
    failed = []
    for obj in scenario_objects() if objects is None else objects:
        try:
            session.apply([obj])
        except BpftuiError as err:
            log.info("demo: %s/%s: %s", obj.kind, obj.metadata.name, err)
            failed.append(f"{obj.kind}/{obj.metadata.name}: {err}")
    return failed
