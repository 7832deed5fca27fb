"""``bpftui image``: help, exit codes, and messages instead of tracebacks."""

from __future__ import annotations

import json

import pytest
from _images_support import BPF_SOURCE, compile_bpf

from bpftui.cli import main

TAG = "registry.test/bpf/prog:v1"


@pytest.fixture(scope="module")
def bpf_object(tmp_path_factory):
    return compile_bpf(BPF_SOURCE, tmp_path_factory.mktemp("bpf") / "prog.o")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "bpftui.toml"
    path.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[images]\nsecrets_dir = "{tmp_path / "secrets"}"\n'
        f'docker_config = "{tmp_path / "docker.json"}"\n'
    )
    return str(path)


def run(config, *args):
    return main(["--config", config, "image", *args])


@pytest.mark.parametrize("action", ["pull", "build", "push", "list", "rm"])
def test_every_action_has_help_with_examples(action, capsys):
    with pytest.raises(SystemExit) as done:
        main(["image", action, "--help"])
    assert done.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_image_without_an_action_is_a_usage_error(config, capsys):
    assert run(config) == 2
    assert "ACTION" in capsys.readouterr().err


def test_build_list_pull_never_rm(config, bpf_object, capsys):
    assert run(config, "build", str(bpf_object), "--tag", TAG, "-o", "json") == 0
    built = json.loads(capsys.readouterr().out)
    assert built["programs"] == {
        "on_kill": "tracepoint",
        "tc_pass": "tc",
        "xdp_pass": "xdp",
    }
    assert built["source"] == "built"

    assert run(config, "list") == 0
    table = capsys.readouterr().out
    assert TAG in table and built["digest"][7:19] in table and "ok" in table

    assert run(config, "pull", TAG, "--policy", "Never", "-o", "json") == 0
    pulled = json.loads(capsys.readouterr().out)
    assert pulled["digest"] == built["digest"]
    assert pulled["source"] == "cache"
    assert pulled["object"].endswith("/prog.o")

    assert run(config, "rm", TAG) == 0
    assert capsys.readouterr().out.strip() == f"removed {TAG}"
    assert run(config, "list", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["pull", TAG, "--policy", "Never"], 1, "imagepullpolicy is Never"),
        (["pull", "https://registry.test/x:v1"], 2, "a reference has no scheme"),
        (["pull", TAG, "--policy", "Sometimes"], 2, "invalid choice"),
        (["pull", TAG, "--secret", "ns/"], 2, "expected NAMESPACE/NAME"),
        (["rm", TAG], 1, "not in the cache"),
        (["push", TAG], 1, "not in the cache"),
        (["build", "/nonexistent.o", "--tag", TAG], 1, "cannot read"),
        (["build", "/etc/hostname", "--tag", TAG], 1, "not an ELF object"),
    ],
)
def test_failures_are_one_line_messages(config, capsys, args, code, needle):
    try:
        status = run(config, *args)
    except SystemExit as done:  # argparse's own usage errors
        status = done.code
    err = capsys.readouterr().err
    assert status == code
    assert needle in err
    assert "Traceback" not in err


def test_a_bad_images_setting_is_reported(tmp_path, capsys):
    path = tmp_path / "bpftui.toml"
    path.write_text('[images]\ninsecure_registries = "127.0.0.1:5000"\n')
    assert main(["--config", str(path), "image", "list"]) == 1
    assert "insecure_registries" in capsys.readouterr().err
