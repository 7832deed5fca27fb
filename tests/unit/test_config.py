"""The node configuration: defaults, overrides, and refusals."""

from __future__ import annotations

import os
import socket

import pytest

from bpftui.core import config
from bpftui.core.errors import InputError, PermissionProblem


def _write(tmp_path, text, mode=0o644):
    path = tmp_path / "bpftui.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_no_file_gives_the_defaults(monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_PATH", "/nonexistent/bpftui.toml")
    found = config.load_config(None, environ={})
    host = socket.gethostname().lower()
    assert found.path is None
    assert found.node_name == host
    assert dict(found.node_labels) == {"kubernetes.io/hostname": host}
    assert found.state_dir == "/var/lib/bpftui"
    assert found.bpffs_root == "/sys/fs/bpf/bpftui"
    assert found.xdp_mode_for("eth0") == "auto"


def test_every_setting_is_read(tmp_path):
    path = _write(
        tmp_path,
        """
[node]
name = "worker-1"
labels = { zone = "a", "kubernetes.io/hostname" = "custom" }
[paths]
state_dir = "/srv/bpftui/"
bpffs_root = "/sys/fs/bpf/other"
[xdp]
mode = "native"
interfaces = { eth1 = "skb", lo = "generic" }
[images]
insecure_registries = ["127.0.0.1:5000"]
""",
    )
    found = config.load_config(path, environ={})
    assert found.path == path
    assert found.node_name == "worker-1"
    assert dict(found.node_labels) == {"kubernetes.io/hostname": "custom", "zone": "a"}
    assert found.state_dir == "/srv/bpftui"
    assert found.bpffs_root == "/sys/fs/bpf/other"
    assert found.xdp_mode_for("eth0") == "native"
    assert found.xdp_mode_for("eth1") == "generic"  # skb is generic's other name
    assert dict(found.images) == {"insecure_registries": ["127.0.0.1:5000"]}


def test_the_hostname_label_follows_the_node_name(tmp_path):
    found = config.load_config(_write(tmp_path, '[node]\nname = "n1"\n'), environ={})
    assert found.node_labels["kubernetes.io/hostname"] == "n1"


def test_environment_names_the_file(tmp_path):
    path = _write(tmp_path, '[node]\nname = "from-env"\n')
    assert config.load_config(None, environ={"BPFTUI_CONFIG": path}).node_name == (
        "from-env"
    )
    # --config wins over the environment
    other = tmp_path / "other.toml"
    other.write_text('[node]\nname = "from-flag"\n')
    found = config.load_config(str(other), environ={"BPFTUI_CONFIG": path})
    assert found.node_name == "from-flag"


def test_a_named_file_must_exist(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        config.load_config(str(tmp_path / "missing.toml"), environ={})


def test_bad_toml_names_the_line(tmp_path):
    path = _write(tmp_path, '[node]\nname = "a"\nlabels = {zone = }\n')
    with pytest.raises(InputError, match=r"not valid TOML.*line 3"):
        config.load_config(path, environ={})


def test_world_writable_file_is_refused(tmp_path):
    path = _write(tmp_path, "", mode=0o666)
    with pytest.raises(PermissionProblem, match="writable by every user"):
        config.load_config(path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nodes]\n", "unknown section \\[nodes\\]"),
        ("[node]\nnmae = 'x'\n", "unknown key node.nmae"),
        ("[node]\nname = 3\n", "node.name must be a string"),
        ("[node]\nlabels = { a = 1 }\n", "node.labels must be a table of strings"),
        ("[paths]\nstate_dir = 'rel/dir'\n", "must be an absolute path"),
        ("[xdp]\nmode = 'fast'\n", "'fast' is not an XDP mode"),
        ("[xdp]\ninterfaces = { eth0 = 'turbo' }\n", "xdp.interfaces.eth0"),
        ("node = 3\n", "\\[node\\] must be a table"),
    ],
)
def test_wrong_values_are_refused_with_the_key(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        config.load_config(_write(tmp_path, text), environ={})


def test_images_table_goes_to_the_images_settings(tmp_path):
    pytest.importorskip("bpftui.core.images.settings")
    path = _write(tmp_path, '[paths]\nstate_dir = "/srv/s"\n[images]\ntimeout = 5\n')
    settings = config.load_config(path, environ={}).image_settings()
    assert str(settings.cache_dir) == "/srv/s/images"
    assert settings.timeout == 5.0
