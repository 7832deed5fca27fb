"""bpfman's io.ebpf labels, current and older."""

from __future__ import annotations

import json

import pytest

from bpftui.core.images import ImageLabelError, ImageLabels


def config_with(labels):
    return {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}


def test_current_labels():
    labels = ImageLabels.from_config(
        config_with(
            {
                "io.ebpf.programs": '{"xdp_pass":"xdp","stats":"tc"}',
                "io.ebpf.maps": '{"xdp_stats_map":"per_cpu_array"}',
            }
        ),
        "img",
    )
    assert labels.programs == {"xdp_pass": "xdp", "stats": "tc"}
    assert labels.maps == {"xdp_stats_map": "per_cpu_array"}
    assert labels.filename is None


def test_maps_label_is_optional():
    labels = ImageLabels.from_config(
        config_with({"io.ebpf.programs": '{"p":"xdp"}'}), "img"
    )
    assert labels.maps == {}


def test_older_single_program_labels():
    labels = ImageLabels.from_config(
        config_with(
            {
                "io.ebpf.program_type": "xdp",
                "io.ebpf.filename": "bpf_bpfel.o",
                "io.ebpf.program_name": "xdp_counter",
                "io.ebpf.bpf_function_name": "xdp_stats",
            }
        ),
        "img",
    )
    assert labels.programs == {"xdp_stats": "xdp"}
    assert labels.filename == "bpf_bpfel.o"


def test_older_labels_fall_back_to_program_name():
    labels = ImageLabels.from_config(
        config_with({"io.ebpf.program_type": "tc", "io.ebpf.program_name": "f"}), "i"
    )
    assert labels.programs == {"f": "tc"}


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        ({}, "no io.ebpf.programs label"),
        ({"io.ebpf.maps": "{}"}, "found io.ebpf.maps"),
        ({"io.ebpf.programs": "not-json"}, "io.ebpf.programs is not a JSON object"),
        ({"io.ebpf.programs": '["xdp"]'}, "io.ebpf.programs is not a JSON object"),
        ({"io.ebpf.programs": '{"f": 3}'}, "io.ebpf.programs is not a JSON object"),
        ({"io.ebpf.programs": '{"f":"xdp"}', "io.ebpf.maps": "[]"}, "io.ebpf.maps"),
        ({"io.ebpf.bpf_function_name": "f"}, "io.ebpf.program_type"),
    ],
)
def test_bad_labels_are_selector_errors(labels, needle):
    with pytest.raises(ImageLabelError) as err:
        ImageLabels.from_config(config_with(labels), "quay.io/x/y:v1")
    assert needle in str(err.value)
    assert "quay.io/x/y:v1" in str(err.value)
    assert err.value.condition == "BytecodeSelectorError"


def test_config_without_labels_at_all():
    with pytest.raises(ImageLabelError, match=r"no io\.ebpf labels"):
        ImageLabels.from_config({"config": None}, "img")


def test_require_lists_what_the_image_holds():
    labels = ImageLabels(programs={"xdp_pass": "xdp", "tc_stats": "tc"})
    labels.require("xdp_pass", "img")
    with pytest.raises(ImageLabelError) as err:
        labels.require("xdp_drop", "quay.io/x/y:v1")
    message = str(err.value)
    assert "holds no program 'xdp_drop'" in message
    assert "tc_stats (tc), xdp_pass (xdp)" in message


def test_to_labels_round_trips():
    labels = ImageLabels(programs={"b": "tc", "a": "xdp"}, maps={"m": "hash"})
    written = labels.to_labels()
    assert json.loads(written["io.ebpf.programs"]) == {"a": "xdp", "b": "tc"}
    again = ImageLabels.from_config(config_with(written), "img")
    assert again.programs == labels.programs
    assert again.maps == labels.maps
