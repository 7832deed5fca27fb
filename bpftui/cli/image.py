"""``bpftui image``: bytecode images in bpfman's format, and the local cache.

Settings come from the ``[images]`` table of the configuration file
(``--config``); the cache lives under the state directory.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bpftui.cli.output import add_command, add_output_flag, print_json, print_table
from bpftui.core.errors import UsageError

POLICIES = ("Always", "IfNotPresent", "Never")

EPILOG = """\
examples:
  bpftui image build xdp_pass.o --tag 127.0.0.1:5000/bpf/xdp_pass:v1
  bpftui image push 127.0.0.1:5000/bpf/xdp_pass:v1
  bpftui image pull quay.io/bpfman-bytecode/xdp_pass:latest --policy Always
  bpftui image pull registry.example/team/prog:v2 --secret default/regcred
  bpftui image list -o json
  bpftui image rm quay.io/bpfman-bytecode/xdp_pass:latest

Registries are reached over TLS; list plain-HTTP ones in bpftui.toml:
  [images]
  insecure_registries = ["127.0.0.1:5000"]
Credentials come from --secret NAMESPACE/NAME (a kubernetes.io/dockerconfigjson
Secret manifest in secrets_dir) or from the node's docker config file.

exit status: 0 on success, 1 when the image could not be handled, 2 for a
usage error.
"""


def register(sub: Any) -> None:
    """Add ``bpftui image`` and its subcommands."""
    parser = sub.add_parser(
        "image",
        help="build, push and pull bytecode images; list the image cache",
        description="Bytecode images as bpfman ships them: one tar+gzip layer "
        "holding one BPF ELF object, labelled io.ebpf.programs and io.ebpf.maps.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="image_command", metavar="ACTION")
    _add_pull(actions)
    _add_build(actions)
    _add_push(actions)
    _add_list(actions)
    _add_rm(actions)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _add_pull(actions: Any) -> None:
    parser = add_command(
        actions,
        "pull",
        "pull an image into the cache",
        "examples:\n"
        "  bpftui image pull quay.io/bpfman-bytecode/xdp_pass:latest\n"
        "  bpftui image pull 127.0.0.1:5000/bpf/prog:v1 --policy Always\n"
        "  bpftui image pull 127.0.0.1:5000/bpf/prog:v1 --policy Never   "
        "(checks the cache only)",
    )
    parser.add_argument("url", metavar="URL", help="image reference")
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="IfNotPresent",
        help="imagepullpolicy: Always asks the registry again, IfNotPresent "
        "(default) uses the cache when it holds a sound copy, Never uses only "
        "the cache",
    )
    _add_secret_flag(parser)
    add_output_flag(parser)
    parser.set_defaults(handler=run_pull)


def _add_build(actions: Any) -> None:
    parser = add_command(
        actions,
        "build",
        "build a bytecode image from a BPF ELF object",
        "The image gets one tar+gzip layer holding FILE and the labels\n"
        "io.ebpf.programs (function -> program type, from section names) and\n"
        "io.ebpf.maps (map -> map type). It is stored in the cache under --tag.\n\n"
        "examples:\n"
        "  bpftui image build xdp_pass.o --tag 127.0.0.1:5000/bpf/xdp_pass:v1\n"
        "  bpftui image build tc.o --tag 127.0.0.1:5000/bpf/tc:v1 --push",
    )
    parser.add_argument("file", metavar="FILE.o", type=Path, help="BPF ELF object")
    parser.add_argument("--tag", required=True, metavar="URL", help="image reference")
    parser.add_argument("--push", action="store_true", help="push it after building")
    _add_secret_flag(parser)
    add_output_flag(parser)
    parser.set_defaults(handler=run_build)


def _add_push(actions: Any) -> None:
    parser = add_command(
        actions,
        "push",
        "push a cached image to its registry",
        "examples:\n  bpftui image push 127.0.0.1:5000/bpf/xdp_pass:v1\n"
        "  bpftui image push registry.example/team/prog:v2 --secret default/regcred",
    )
    parser.add_argument("url", metavar="URL", help="image reference (a tag)")
    _add_secret_flag(parser)
    parser.set_defaults(handler=run_push)


def _add_list(actions: Any) -> None:
    parser = add_command(
        actions,
        "list",
        "list the images in the cache",
        "Every entry is checked against its digests; a damaged one shows why.\n\n"
        "examples:\n  bpftui image list\n  bpftui image list -o json",
    )
    add_output_flag(parser)
    parser.set_defaults(handler=run_list)


def _add_rm(actions: Any) -> None:
    parser = add_command(
        actions,
        "rm",
        "remove images from the cache",
        "examples:\n  bpftui image rm 127.0.0.1:5000/bpf/xdp_pass:v1",
    )
    parser.add_argument("urls", nargs="+", metavar="URL", help="image reference")
    parser.set_defaults(handler=run_rm)


# ---------------------------------------------------------------- handlers


def run_pull(args: argparse.Namespace) -> int:
    """``bpftui image pull``."""
    from bpftui.core.images import pull_image

    with _arguments():
        info = pull_image(
            args.url, _settings(args), policy=args.policy, secret=args.secret
        )
    _show(info.to_json(), args.output)
    return 0


def run_build(args: argparse.Namespace) -> int:
    """``bpftui image build``."""
    from bpftui.core.images import ImageInfo, build_image, push_image

    settings = _settings(args)
    with _arguments():
        checked = build_image(args.file, args.tag, settings)
        if args.push:
            push_image(str(checked.reference), settings, secret=args.secret)
    info = ImageInfo.of(checked, source="built", updated=time.time())
    _show(info.to_json(), args.output)
    return 0


def run_push(args: argparse.Namespace) -> int:
    """``bpftui image push``."""
    from bpftui.core.images import push_image

    with _arguments():
        digest = push_image(args.url, _settings(args), secret=args.secret)
    print(f"pushed {args.url} {digest}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """``bpftui image list``."""
    from bpftui.core.images import list_images

    images = list_images(_settings(args))
    if args.output == "json":
        print_json([image.to_json() for image in images])
        return 0
    rows = [
        {
            "reference": image.reference,
            "digest": image.digest.removeprefix("sha256:")[:12],
            "programs": ",".join(sorted(image.programs)) or None,
            "size": image.size or None,
            "source": image.source,
            "age": _age(image.updated),
            "status": image.problem or "ok",
        }
        for image in images
    ]
    print_table(
        rows, ["reference", "digest", "programs", "size", "source", "age", "status"]
    )
    return 0


def run_rm(args: argparse.Namespace) -> int:
    """``bpftui image rm``."""
    from bpftui.core.images import remove_images

    with _arguments():
        removed = remove_images(args.urls, _settings(args))
    for reference in removed:
        print(f"removed {reference}")
    return 0


# ----------------------------------------------------------------- helpers


def _add_secret_flag(parser: Any) -> None:
    parser.add_argument(
        "--secret",
        type=_secret_argument,
        metavar="NAMESPACE/NAME",
        help="imagepullsecret: a kubernetes.io/dockerconfigjson Secret manifest "
        "in secrets_dir (default: the node's docker config file)",
    )


def _settings(args: argparse.Namespace) -> Any:
    from bpftui.core.config import load_config

    return load_config(getattr(args, "config", None)).image_settings()


def _secret_argument(text: str) -> Any:
    from bpftui.core.images import PullSecret, PullSecretError

    try:
        return PullSecret.parse(text)
    except PullSecretError as err:
        raise argparse.ArgumentTypeError(err.message) from None


@contextmanager
def _arguments() -> Iterator[None]:
    """A malformed reference or secret on the command line is a usage error."""
    from bpftui.core.images import ImageReferenceError

    try:
        yield
    except ImageReferenceError as err:
        raise UsageError(err.message, hint=err.hint) from None


def _show(data: dict[str, Any], output: str) -> None:
    if output == "json":
        print_json(data)
        return
    shown = {key: value for key, value in data.items() if value not in (None, "")}
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        print(f"{key + ':':{width + 1}} {_text(value)}")


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} ({v})" for k, v in sorted(value.items())) or "-"
    return "-" if value is None else str(value)


def _age(updated: float | None, now: Callable[[], float] = time.time) -> str | None:
    if updated is None:
        return None
    seconds = max(0, int(now() - updated))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
