"""The C twin of BTF function rendering (``bpftui.native._cbtf``) against Python.

The Python reader (:class:`bpftui.core.discovery.btf.Btf`) is the reference.
For each blob the C code must give exactly its names and prototypes, or None
to leave the blob to Python: on the running kernel's BTF, on hand-made blobs
that use every rendering rule, and on damaged or hostile blobs, where it may
only say None (or agree) and must never crash or hang.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_btf_builder import FUNC, FUNC_PROTO, STRUCT, BtfBuilder, sample

from bpftui.core.discovery.btf import Btf
from bpftui.core.discovery.functions import KernelFunctions, load_functions
from bpftui.core.errors import InputError
from bpftui.native import speedups

KERNEL_BTF = Path("/sys/kernel/btf")
FAILED = "Python raises"  # what the reference gives for a blob it cannot read

Result = tuple[list[str], list[str]] | None | str

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(milliseconds=1000),
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def cbtf() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(speedups.PURE_PYTHON_ENV, raising=False)
        module = speedups.load("_cbtf")
    if module is None:
        pytest.skip("the C twin _cbtf is not built (no C compiler at install)")
    return module


# ------------------------------------------------------------ the reference


def python_functions(blobs: list[bytes]) -> list[Result]:
    """What the Python reader makes of each blob: (names, prototypes) or FAILED."""
    results: list[Result] = []
    base: Btf | None = None
    for index, data in enumerate(blobs):
        if index and base is None:
            results.append(FAILED)
            continue
        try:
            btf = Btf(data, f"blob {index}", base)
            base = btf if base is None else base
            names = btf.function_names()
            results.append((names, btf.prototypes(btf.function_ids, names)))
        except InputError:
            results.append(FAILED)
    return results


def agree(cbtf: ModuleType, blobs: list[bytes]) -> list[Result]:
    """Check every C result is None or exactly Python's; return the C ones."""
    found = cbtf.functions(blobs)
    assert len(found) == len(blobs)
    for got, want in zip(found, python_functions(blobs), strict=True):
        assert got is None or got == want
    return found


def same(cbtf: ModuleType, blobs: list[bytes]) -> list[Result]:
    """Check C renders every blob, exactly as Python does."""
    found = agree(cbtf, blobs)
    assert None not in found
    return found


def protos(result: Result) -> dict[str, str]:
    assert isinstance(result, tuple)
    return dict(zip(*result, strict=True))


# ------------------------------------------------------------ the real kernel


@pytest.mark.skipif(
    not (KERNEL_BTF / "vmlinux").exists(), reason="no /sys/kernel/btf/vmlinux here"
)
def test_the_running_kernels_btf_renders_exactly_as_in_python(
    cbtf: ModuleType,
) -> None:
    modules = sorted(p for p in KERNEL_BTF.iterdir() if p.name != "vmlinux")
    blobs = [(KERNEL_BTF / "vmlinux").read_bytes()]
    blobs += [p.read_bytes() for p in modules]
    found = same(cbtf, blobs)
    vmlinux = found[0]
    assert isinstance(vmlinux, tuple)
    assert len(vmlinux[0]) > 1000  # a kernel has tens of thousands


# ------------------------------------------------------------ every rule


def rules() -> BtfBuilder:
    """A vmlinux-like blob using every rule of the rendering, once at least."""
    b = BtfBuilder()
    i = b.add_int("int")
    char = b.add_int("char", 1)
    ulong = b.add_int("long unsigned int", 8, signed=False)
    dbl = b.add_float("double")
    size_t = b.add_typedef("size_t", ulong)
    cstr = b.add_ptr(b.add_const(char))
    sock = b.add_struct("sock", 8, [("x", i, 0)])
    anon = b.add_struct("", 4, [("y", i, 0)])
    anon_union = b.add_struct("", 4, [("z", i, 0)], union=True)
    mode = b.add_enum("mode", [("A", 0), ("B", -1)])
    big = b.add_enum64("big", [("C", 1 << 40)])
    anon_enum = b.add_enum("", [("D", 1)])
    fwd = b.add_fwd("later")
    fwd_union = b.add_fwd("ulater", union=True)
    anon_fwd = b.add_fwd("")
    b.add_func("tick", b.add_proto(0, []))
    b.add_func("scalars", b.add_proto(dbl, [("n", size_t), ("c", char)]))
    b.add_func(
        "tagged",
        b.add_proto(
            b.add_ptr(sock),
            [
                ("s", b.add_ptr(sock)),
                ("a", b.add_ptr(anon)),
                ("u", b.add_ptr(anon_union)),
                ("m", mode),
                ("e", big),
                ("ae", anon_enum),
                ("f", b.add_ptr(fwd)),
                ("fu", b.add_ptr(fwd_union)),
                ("af", b.add_ptr(anon_fwd)),
            ],
        ),
    )
    vptr = b.add_ptr(0)
    b.add_func("voids", b.add_proto(vptr, [("p", vptr), ("pp", b.add_ptr(vptr))]))
    const_ptr = b.add_const(b.add_ptr(char))  # char *const
    cv = b.add_volatile(b.add_const(i))
    rptr = b.add_restrict(b.add_ptr(i))
    const_void = b.add_const(0)
    b.add_func(
        "qualifiers",
        b.add_proto(
            cstr,
            [("a", const_ptr), ("b", cv), ("c", rptr), ("d", b.add_ptr(const_void))],
        ),
    )
    user = b.add_type_tag("user", char)
    b.add_func(
        "tags",
        b.add_proto(
            b.add_type_tag("rcu", b.add_ptr(i)),
            [("src", b.add_ptr(user)), ("k", b.add_const(b.add_type_tag("t", cstr)))],
        ),
    )
    arr = b.add_array(i, 4, i)
    arr2 = b.add_array(b.add_array(i, 3, i), 2, i)
    b.add_func(
        "arrays",
        b.add_proto(
            0,
            [
                ("a", arr),
                ("p", b.add_ptr(arr)),
                ("g", arr2),
                ("t", b.add_ptr(b.add_type_tag("tag", arr))),
                ("c", b.add_const(arr)),
                ("", arr),
            ],
        ),
    )
    cmp = b.add_proto(i, [("", b.add_ptr(const_void)), ("", b.add_ptr(const_void))])
    cmp_ptr = b.add_ptr(cmp)
    cmp_t = b.add_typedef("cmp_t", cmp_ptr)
    b.add_func(
        "callbacks",
        b.add_proto(
            0,
            [
                ("cmp", cmp_ptr),
                ("named", cmp_t),
                ("fixed", b.add_const(cmp_ptr)),
                ("", cmp_ptr),
                ("plain", cmp),
                ("cv", b.add_volatile(b.add_const(cmp_ptr))),
                ("qual", b.add_const(cmp)),
                ("fns", b.add_array(cmp_ptr, 2, i)),
            ],
        ),
    )
    handler = b.add_ptr(b.add_proto(0, [("", i)]))
    b.add_func("signal", b.add_proto(handler, [("sig", i), ("handler", handler)]))
    b.add_func("row", b.add_proto(b.add_ptr(arr), [("n", i)]))
    b.add_func("const_fp", b.add_proto(b.add_const(handler), []))
    b.add_func("anon", b.add_proto(i, [("", i), ("", b.add_ptr(i))], variadic=True))
    b.add_func("only_dots", b.add_proto(0, [], variadic=True))
    b.add_func("void_named", b.add_proto(0, [("v", 0)]))
    b.add_func("dots_first", b.add_proto(0, [("", 0), ("x", i)]))
    # Kinds a prototype never uses are walked past.
    var = b.add_var("jiffies", ulong)
    b.add_datasec(".data", 8, [(var, 0, 8)])
    b.add_decl_tag("tag", var)
    return b


EXPECTED = {
    "tick": "void tick(void)",
    "scalars": "double scalars(size_t n, char c)",
    "tagged": (
        "struct sock *tagged(struct sock *s, struct {...} *a, union {...} *u, "
        "enum mode m, enum big e, enum {...} ae, struct later *f, "
        "union ulater *fu, struct  *af)"
    ),
    "voids": "void *voids(void *p, void **pp)",
    "qualifiers": (
        "const char *qualifiers(char *const a, volatile const int b, "
        "int *restrict c, const void *d)"
    ),
    "tags": "int *tags(char *src, const char *const k)",
    "arrays": (
        "void arrays(int a[4], int (*p)[4], int g[2][3], int (*t)[4], "
        "const int c[4], int [4])"
    ),
    "signal": "void (*signal(int sig, void (*handler)(int)))(int)",
    "row": "int (*row(int n))[4]",
    "const_fp": "void (*const const_fp(void))(int)",
    "anon": "int anon(int, int *, ...)",
    "only_dots": "void only_dots(...)",
    "void_named": "void void_named(void v)",
    "dots_first": "void dots_first(..., int x)",
}


def test_every_rendering_rule_gives_pythons_text(cbtf: ModuleType) -> None:
    (found,) = same(cbtf, [rules().encode()])
    rendered = protos(found)
    assert {name: rendered[name] for name in EXPECTED} == EXPECTED
    assert rendered["callbacks"].startswith("void callbacks(int (*cmp)(const void *")


def test_module_btf_uses_vmlinux_types_strings_and_prototypes(
    cbtf: ModuleType,
) -> None:
    base = BtfBuilder()
    i = base.add_int("int")
    handler = base.add_ptr(base.add_proto(0, [("", i)]))
    shared = base.add_proto(i, [("a", i), ("b", i)])
    base.add_func("add", shared)
    module = BtfBuilder(base)
    own = module.add_struct("mod_state", 8, [("n", i, 0)])
    params = [("n", i), ("cb", handler)]
    module.add_func("mod_open", module.add_proto(module.add_ptr(own), params))
    module.add_func("mod_add", shared)  # a prototype of vmlinux
    module.add_func("add", module.add_proto(i, []))  # a name string of vmlinux
    second = BtfBuilder(base)
    second.add_func("other", second.add_proto(handler, [("x", i)]))
    _, mod, other = same(cbtf, [base.encode(), module.encode(), second.encode()])
    assert protos(mod) == {
        "mod_open": "struct mod_state *mod_open(int n, void (*cb)(int))",
        "mod_add": "int mod_add(int a, int b)",
        "add": "int add(void)",
    }
    assert protos(other) == {"other": "void (*other(int x))(int)"}


def _raw_name(b: BtfBuilder, name: bytes) -> int:
    """Add a name as raw bytes, valid UTF-8 or not; return its offset."""
    offset = b.str_end
    b.strings += name + b"\0"
    return offset


def test_non_ascii_names_decode_as_python_does(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    i = b.add_int("int")
    b.add_func("grüße", b.add_proto(i, [("wert", i)]))
    b.add_func("euro", b.add_proto(b.add_typedef("€_t", i), [("", i)]))
    latin1 = _raw_name(b, b"caf\xe9")  # not UTF-8: the bad byte becomes U+FFFD
    short = _raw_name(b, b"x\xe2\x82")  # a sequence the name's end cuts short
    proto = b.raw(0, FUNC_PROTO << 24 | 2, i, short, i, 0, i)
    b.raw(latin1, FUNC << 24 | 1, proto)
    (found,) = same(cbtf, [b.encode()])
    assert protos(found) == {
        "grüße": "int grüße(int wert)",
        "euro": "€_t euro(int)",
        "caf\ufffd": "int caf\ufffd(int x\ufffd, int)",
    }


def test_names_ending_in_spaces_are_stripped_as_python_does(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    spaced = b.add_typedef("spaced\t\x1f", b.add_int("int"))
    fn = b.add_ptr(b.add_proto(0, []))
    b.add_func("f", b.add_proto(0, [("", spaced)]))
    b.add_func("g", b.add_proto(0, [("x\x0b", b.add_const(fn))]))
    (found,) = same(cbtf, [b.encode()])
    assert protos(found) == {
        "f": "void f(spaced)",
        "g": "void g(void (*const x)(void))",
    }


def test_names_ending_in_unicode_spaces(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    b.add_func("f", b.add_proto(0, [("", b.add_typedef("nbsp\u00a0", 0))]))
    (found,) = agree(cbtf, [b.encode()])
    assert found is None or protos(found) == {"f": "void f(nbsp)"}


def test_blobs_without_functions_and_empty_input(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    b.add_struct("only", 4, [("x", b.add_int("int"), 0)])
    assert same(cbtf, [b.encode()]) == [([], [])]
    assert same(cbtf, [BtfBuilder().encode()]) == [([], [])]
    assert cbtf.functions([]) == []


def test_modules_on_a_vmlinux_without_types_are_left_to_python(
    cbtf: ModuleType,
) -> None:
    # Python reads them as if they had no base: a BtfBlob of no types is false.
    empty = BtfBuilder()
    empty.name("only_a_string")
    found = agree(cbtf, [empty.encode(), sample().encode()])
    assert found == [([], []), None]


def test_many_parameters(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    i = b.add_int("int")
    b.add_func("wide", b.add_proto(i, [(f"a{n}", i) for n in range(3000)]))
    (found,) = same(cbtf, [b.encode()])
    assert protos(found)["wide"].endswith("int a2998, int a2999)")


def test_none_and_other_objects_in_the_sequence(cbtf: ModuleType) -> None:
    base = sample().encode()
    assert cbtf.functions([base, None])[1] is None
    assert cbtf.functions([None, base]) == [None, None]
    with pytest.raises(TypeError, match="not bytes"):
        cbtf.functions([base, "text"])
    with pytest.raises(TypeError):
        cbtf.functions(42)


NAMES = ["", "a", "int", "x\t", "sp ", "é", "\u00a0n", "long name_t", "q\x1f"]
KINDS = ["ptr", "ptr", "const", "volatile", "restrict", "typedef", "type_tag"]
KINDS += ["var", "array", "fwd", "int", "float", "struct", "union", "enum"]
KINDS += ["enum64", "proto", "proto"]


def _random_type(rng: random.Random, b: BtfBuilder, first: int) -> int | None:
    """Add a type of a random kind; return its id if it is a FUNC_PROTO."""

    def ref() -> int:  # mostly back to an existing type: loops are rare
        if rng.random() < 0.1 or b.next_id == 1:
            return 0
        if rng.random() < 0.97:
            return rng.randrange(1, b.next_id)
        return rng.randrange(0, first + 30)

    kind, name = rng.choice(KINDS), rng.choice(NAMES)
    if kind == "proto":
        params = [(rng.choice(NAMES), ref()) for _ in range(rng.randint(0, 3))]
        return b.add_proto(ref(), params, variadic=rng.random() < 0.2)
    if kind in ("ptr", "const", "volatile", "restrict"):
        getattr(b, f"add_{kind}")(ref())
    elif kind in ("typedef", "type_tag", "var"):
        getattr(b, f"add_{kind}")(name or kind, ref())
    elif kind == "array":
        b.add_array(ref(), rng.choice([0, 4, 2**32 - 1]), 0)
    elif kind == "fwd":
        b.add_fwd(name, union=rng.random() < 0.5)
    elif kind in ("int", "float"):
        getattr(b, f"add_{kind}")(name or kind)
    elif kind in ("struct", "union"):
        b.add_struct(name, 4, [], union=kind == "union")
    else:
        getattr(b, f"add_{kind}")(name, [])
    return None


def _random_types(rng: random.Random, b: BtfBuilder, functions: int) -> None:
    """Up to 25 types of every kind, then FUNCs, nearly all of a FUNC_PROTO."""
    first = b.next_id
    made = [_random_type(rng, b, first) for _ in range(rng.randint(1, 25))]
    protos = [proto for proto in made if proto is not None]
    for _ in range(functions):
        odd = not protos or rng.random() < 0.05
        proto = rng.randrange(0, b.next_id + 1) if odd else rng.choice(protos)
        b.add_func(rng.choice(NAMES[1:]), proto)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_random_type_graphs(cbtf: ModuleType, rng: random.Random) -> None:
    base = BtfBuilder()
    _random_types(rng, base, rng.randint(1, 6))
    blobs = [base.encode()]
    for _ in range(rng.randint(0, 2)):
        module = BtfBuilder(base)
        _random_types(rng, module, rng.randint(1, 4))
        blobs.append(module.encode())
    agree(cbtf, blobs)


def test_random_type_graphs_are_mostly_rendered_in_c(cbtf: ModuleType) -> None:
    # Guards the test above: an agreement made only of None proves nothing.
    rng, rendered = random.Random(7), 0
    for _ in range(300):
        base = BtfBuilder()
        _random_types(rng, base, 3)
        found = agree(cbtf, [base.encode()])
        rendered += found[0] is not None
    assert rendered > 150


# ------------------------------------------------------------ hostile blobs


def hostile_base() -> bytes:
    b = BtfBuilder()
    i = b.add_int("int")
    char = b.add_int("char", 1)
    s = b.add_struct("file", 16, [("f", i, 0), ("g", b.add_ptr(char), 64)])
    cb = b.add_ptr(b.add_proto(0, [("", i)]))
    arr = b.add_array(cb, 3, i)
    td = b.add_typedef("handler_t", cb)
    params = [("f", b.add_ptr(s)), ("t", arr), ("h", td), ("q", b.add_const(cb))]
    b.add_func("go", b.add_proto(b.add_ptr(b.add_const(char)), params, variadic=True))
    b.add_func("ret_fp", b.add_proto(cb, [("x", i)]))
    return b.encode()


def hostile_module() -> bytes:
    module = BtfBuilder(sample())
    module.add_func("m", module.add_proto(1, [("p", module.add_ptr(1)), ("q", 5)]))
    return module.encode()


BASE = hostile_base()
MODULE = hostile_module()
SAMPLE = sample().encode()


def test_every_truncation_of_a_blob(cbtf: ModuleType) -> None:
    for length in range(len(BASE) + 1):
        agree(cbtf, [BASE[:length]])
    for length in range(len(MODULE) + 1):
        agree(cbtf, [SAMPLE, MODULE[:length]])


@FUZZ
@given(st.data())
def test_flipped_words(cbtf: ModuleType, data: st.DataObject) -> None:
    blobs = [bytearray(SAMPLE), bytearray(MODULE), bytearray(BASE)]
    for _ in range(data.draw(st.integers(1, 6))):
        blob = blobs[data.draw(st.integers(0, 2))]
        at = data.draw(st.integers(0, len(blob) - 4))
        word = data.draw(st.sampled_from([0, 1, 2, 5, 0xFFFF, 0x7FFFFFFF, 2**32 - 1]))
        blob[at : at + 4] = word.to_bytes(4, "little")
    agree(cbtf, [bytes(blob) for blob in blobs])


@FUZZ
@given(st.integers(24, len(BASE) - 1), st.integers(0, 255))
def test_single_byte_changes(cbtf: ModuleType, at: int, value: int) -> None:
    blob = bytearray(BASE)
    blob[at] = value
    agree(cbtf, [bytes(blob), MODULE])


@FUZZ
@given(st.binary(max_size=200))
def test_junk_after_a_header(cbtf: ModuleType, junk: bytes) -> None:
    agree(cbtf, [BASE[:24] + junk, SAMPLE[:24] + junk])


def _with_header(blob: bytes, **fields: int) -> bytes:
    names = ["hdr_len", "type_off", "type_len", "str_off", "str_len"]
    words = [int.from_bytes(blob[4 + 4 * n : 8 + 4 * n], "little") for n in range(5)]
    for name, value in fields.items():
        words[names.index(name)] = value
    packed = b"".join(w.to_bytes(4, "little") for w in words)
    return blob[:4] + packed + blob[24:]


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"\x7fELF" + blob[4:],
        lambda blob: blob[:2] + b"\x02" + blob[3:],
        lambda blob: _with_header(blob, hdr_len=8),
        lambda blob: _with_header(blob, type_len=6),
        lambda blob: _with_header(blob, str_len=2**32 - 1),
        lambda blob: _with_header(blob, type_off=2**32 - 8),
        lambda blob: _with_header(blob, str_off=2**32 - 1, str_len=2),
    ],
    ids=["magic", "version", "hdr-len", "type-len", "str-len", "type-off", "str-off"],
)
def test_damaged_headers(cbtf: ModuleType, damage: Callable[[bytes], bytes]) -> None:
    blob = damage(SAMPLE)
    assert cbtf.functions([blob, MODULE]) == [None, None]
    assert python_functions([blob]) == [FAILED]


def test_other_byte_order_is_left_to_python(cbtf: ModuleType) -> None:
    big = sample().encode(">")
    assert cbtf.functions([big]) == [None]
    assert python_functions([big])[0] != FAILED  # Python reads it


def _loop(kind: str) -> BtfBuilder:
    b = BtfBuilder()
    first = b.next_id
    if kind == "ptr":
        b.add_ptr(first)
    elif kind == "const-ptr":
        b.add_ptr(first + 1)
        b.add_const(first)
    elif kind == "typedef":
        b.add_typedef("self_t", first)
    elif kind == "type-tag":
        b.add_type_tag("t", first)
    elif kind == "array":
        b.add_array(first, 2, 0)
    elif kind == "proto-returning-itself":
        b.add_proto(first + 1, [])
        b.add_ptr(first)
    elif kind == "proto-taking-itself":
        b.add_proto(0, [("self", first + 1)])
        b.add_ptr(first)
    b.add_func("loop", b.add_proto(0, [("x", first)]))
    b.add_func("loop2", b.add_proto(first, []))
    return b


@pytest.mark.parametrize(
    "kind",
    [
        "ptr",
        "const-ptr",
        "typedef",
        "type-tag",
        "array",
        "proto-returning-itself",
        "proto-taking-itself",
    ],
)
def test_reference_loops(cbtf: ModuleType, kind: str) -> None:
    found = agree(cbtf, [_loop(kind).encode()])
    if kind == "typedef":  # a typedef is shown by name: no loop to follow
        assert found[0] is not None
    else:
        assert found == [None]


def test_a_chain_deeper_than_the_limit_is_left_to_python(cbtf: ModuleType) -> None:
    b = BtfBuilder()
    chain = b.add_int("int")
    for _ in range(100):
        chain = b.add_ptr(chain)
    b.add_func("deep", b.add_proto(chain, []))
    assert agree(cbtf, [b.encode()]) == [None]


@pytest.mark.parametrize(
    "damage",
    [
        "param-type",
        "param-name",
        "proto-id",
        "proto-zero",
        "func-name",
        "not-a-proto",
        "var-as-type",
        "struct-name",
        "base-refers-past-its-end",
    ],
)
def test_out_of_range_ids_and_strings(cbtf: ModuleType, damage: str) -> None:
    b = sample()
    i = 1
    if damage == "param-type":
        b.add_func("f", b.add_proto(i, [("p", 9999)]))
    elif damage == "param-name":
        b.raw(0, FUNC_PROTO << 24 | 1, i, 10_000, i)
        b.add_func("f", b.next_id - 1)
    elif damage == "proto-id":
        b.add_func("f", 9999)
    elif damage == "proto-zero":
        b.add_func("f", 0)
    elif damage == "func-name":
        b.raw(10_000, FUNC << 24 | 1, b.add_proto(i, []))
    elif damage == "not-a-proto":
        b.add_func("f", i)
    elif damage == "var-as-type":
        b.add_func("f", b.add_proto(b.add_var("v", i), []))
    elif damage == "struct-name":
        b.raw(10_000, STRUCT << 24, 4)
        b.add_func("f", b.add_proto(0, [("s", b.add_ptr(b.next_id - 1))]))
    else:  # a vmlinux type refers to an id only the module has
        b.add_ptr(b.next_id + 2)
    module = BtfBuilder(b)
    module.add_struct("mine", 4, [])
    module.add_func("m", module.add_proto(0, [("p", b.next_id - 1)]))
    found = agree(cbtf, [b.encode(), module.encode()])
    if damage == "base-refers-past-its-end":
        assert found[0] is not None  # vmlinux itself never uses the type
    else:
        assert found == [None, None]


def test_exponential_text_ends_in_none_quickly(cbtf: ModuleType) -> None:
    # Each prototype takes two pointers to the one before it: the text
    # doubles per level. Python would take forever; C stops at its budget.
    b = BtfBuilder()
    proto = b.add_proto(b.add_int("int"), [("a", 1)])
    for _ in range(40):
        fp = b.add_ptr(proto)
        proto = b.add_proto(0, [("a", fp), ("b", fp)])
    for n in range(1000):
        b.add_func(f"f{n}", proto)
    started = time.monotonic()
    assert cbtf.functions([b.encode()]) == [None]
    assert time.monotonic() - started < 5


def test_many_functions_sharing_a_long_prototype_end_in_none(
    cbtf: ModuleType,
) -> None:
    b = BtfBuilder()
    long_name = b.add_typedef("t" * 60_000, b.add_int("int"))
    proto = b.add_proto(0, [(f"p{n}", long_name) for n in range(20)])
    words = [b.name("f"), FUNC << 24 | 1, proto]
    for _ in range(100_000):  # 1.2 MB of FUNCs, each 1.2 MB of text
        b.records.append(list(words))
    started = time.monotonic()
    assert cbtf.functions([b.encode()]) == [None]
    assert time.monotonic() - started < 5


def test_repeated_calls_do_not_leak(cbtf: ModuleType) -> None:
    blobs = [rules().encode(), hostile_module(), b"junk", SAMPLE[:40]]
    blobs.insert(1, BtfBuilder(rules()).encode())
    for _ in range(20):
        cbtf.functions(blobs)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            cbtf.functions(blobs)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000


# ------------------------------------------------------------ the fallback


@pytest.fixture
def btf_dir(tmp_path: Path) -> Path:
    """vmlinux, a module C renders, one only Python reads, and a broken one."""
    root = tmp_path / "btf"
    root.mkdir()
    base = rules()
    (root / "vmlinux").write_bytes(base.encode())
    good = BtfBuilder(base)
    good.add_func("alpha_rx", good.add_proto(1, [("n", 1)]))
    (root / "alpha").write_bytes(good.encode())
    (root / "big_endian").write_bytes(good.encode(">"))
    damaged = BtfBuilder(base)
    damaged.add_func("gamma_bad", damaged.add_proto(1, [("p", 99_999)]))
    (root / "gamma").write_bytes(damaged.encode())
    (root / "zeta").write_bytes(b"\x9f\xeb\x01\x00" + bytes(4))
    return root


def _snapshot(catalogue: KernelFunctions) -> tuple[object, ...]:
    lazy = [catalogue.prototype(i) for i in range(len(catalogue))]
    assert catalogue.wait_saved(10)
    return (
        list(catalogue.names),
        lazy,
        catalogue.all_prototypes(),
        catalogue.module_counts(),
        catalogue.problems,
    )


def _load(btf_dir: Path, background: bool) -> KernelFunctions:
    return load_functions(
        str(btf_dir), use_cache=False, background=background, kprobe=lambda n: None
    )


@pytest.mark.parametrize("background", [False, True])
def test_pure_python_gives_the_same_catalogue(
    cbtf: ModuleType,
    btf_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    background: bool,
) -> None:
    monkeypatch.delenv(speedups.PURE_PYTHON_ENV, raising=False)
    with_c = _snapshot(_load(btf_dir, background))
    monkeypatch.setenv(speedups.PURE_PYTHON_ENV, "1")
    without_c = _snapshot(_load(btf_dir, background))
    assert with_c == without_c
    names, _, prototypes, counts, problems = with_c
    assert counts == {
        "vmlinux": len(EXPECTED) + 1,
        "alpha": 1,
        "big_endian": 1,
        "gamma": 1,
    }
    assert prototypes[names.index("gamma_bad")] == "<unreadable BTF of gamma>"
    assert any("zeta" in problem for problem in problems)


def test_only_the_blobs_c_leaves_go_through_python(
    cbtf: ModuleType, btf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(speedups.PURE_PYTHON_ENV, raising=False)
    parsed: list[str] = []
    original = Btf.__init__

    def spy(self: Btf, data: bytes, source: str = "blob", base: Btf | None = None):
        parsed.append(source)
        original(self, data, source, base)

    monkeypatch.setattr(Btf, "__init__", spy)
    _load(btf_dir, background=False)
    # vmlinux is parsed as the base the Python reader needs for the others.
    assert parsed == ["vmlinux", "big_endian", "gamma", "zeta"]


@pytest.mark.skipif(
    not (KERNEL_BTF / "vmlinux").exists(), reason="no /sys/kernel/btf/vmlinux here"
)
def test_the_running_kernels_catalogue_is_the_same_without_c(
    cbtf: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(speedups.PURE_PYTHON_ENV, raising=False)
    with_c = _snapshot(_load(KERNEL_BTF, background=False))
    monkeypatch.setenv(speedups.PURE_PYTHON_ENV, "1")
    assert _snapshot(_load(KERNEL_BTF, background=False)) == with_c
