"""bpfman's io.ebpf labels on an image config.

Current images carry two labels, each a JSON object::

    io.ebpf.programs = {"xdp_pass": "xdp", "tc_stats": "tc"}   function -> type
    io.ebpf.maps     = {"xdp_stats_map": "per_cpu_array"}      map -> type

Older images describe a single program with four plain labels:
``io.ebpf.program_type``, ``io.ebpf.filename``, ``io.ebpf.bpf_function_name``
and ``io.ebpf.program_name``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bpftui.core.images.errors import ImageLabelError

PROGRAMS = "io.ebpf.programs"
MAPS = "io.ebpf.maps"
PROGRAM_TYPE = "io.ebpf.program_type"
FILENAME = "io.ebpf.filename"
FUNCTION_NAME = "io.ebpf.bpf_function_name"
PROGRAM_NAME = "io.ebpf.program_name"


@dataclass(frozen=True, slots=True)
class ImageLabels:
    """What an image says it holds.

    Attributes:
        programs: function name -> program type.
        maps: map name -> map type.
        filename: the object's file name, from the older labels only.
    """

    programs: Mapping[str, str]
    maps: Mapping[str, str] = field(default_factory=dict)
    filename: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], image: str) -> ImageLabels:
        """Read the labels from a parsed image config.

        Args:
            config: the image config JSON (``config.Labels`` holds the labels).
            image: the image reference, for messages.

        Raises:
            ImageLabelError: no io.ebpf labels, or malformed ones.
        """
        inner = config.get("config")
        labels = inner.get("Labels") if isinstance(inner, Mapping) else None
        if not isinstance(labels, Mapping):
            labels = {}
        if PROGRAMS in labels:
            return cls(
                programs=_json_object(labels, PROGRAMS, image),
                maps=_json_object(labels, MAPS, image) if MAPS in labels else {},
            )
        if FUNCTION_NAME in labels or PROGRAM_NAME in labels:
            return _older_labels(labels, image)
        present = sorted(
            k for k in labels if isinstance(k, str) and k.startswith("io.ebpf.")
        )
        raise ImageLabelError(
            f"image '{image}': no {PROGRAMS} label (nor the older "
            f"{FUNCTION_NAME}); found {', '.join(present) or 'no io.ebpf labels'}",
            hint="build bytecode images with 'bpftui image build FILE.o --tag URL'",
        )

    def to_labels(self) -> dict[str, str]:
        """The current-style labels, as written by ``bpftui image build``."""
        return {
            PROGRAMS: json.dumps(
                dict(sorted(self.programs.items())), separators=(",", ":")
            ),
            MAPS: json.dumps(dict(sorted(self.maps.items())), separators=(",", ":")),
        }

    def describe(self) -> str:
        """``xdp_pass (xdp), tc_stats (tc)``, for messages and listings."""
        return ", ".join(
            f"{name} ({kind})" for name, kind in sorted(self.programs.items())
        )

    def require(self, function: str, image: str) -> None:
        """Refuse the image unless its labels list ``function``.

        Raises:
            ImageLabelError: the function is not listed; the message lists
                what the image holds.
        """
        if function in self.programs:
            return
        raise ImageLabelError(
            f"image '{image}': holds no program '{function}'; "
            f"its labels list {self.describe() or 'no programs'}",
            hint="set bpffunctionname to one of those, or use another image",
        )


def _json_object(labels: Mapping[str, Any], key: str, image: str) -> dict[str, str]:
    text = labels.get(key)
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise ImageLabelError(
            f"image '{image}': label {key} is not a JSON object of names to "
            f"types: {_shorten(text)}",
            hint='expected for example {"xdp_pass": "xdp"}',
        )
    return value


def _older_labels(labels: Mapping[str, Any], image: str) -> ImageLabels:
    function = labels.get(FUNCTION_NAME) or labels.get(PROGRAM_NAME)
    kind = labels.get(PROGRAM_TYPE)
    filename = labels.get(FILENAME)
    if not isinstance(function, str) or not isinstance(kind, str) or not kind:
        raise ImageLabelError(
            f"image '{image}': the older single-program labels need "
            f"{FUNCTION_NAME} and {PROGRAM_TYPE} as strings",
            hint=f"or label the image with {PROGRAMS}",
        )
    return ImageLabels(
        programs={function: kind},
        filename=filename if isinstance(filename, str) and filename else None,
    )


def _shorten(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
