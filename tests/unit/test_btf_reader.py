"""The BTF reader on small hand-made blobs: every kind, C rendering, split BTF."""

from __future__ import annotations

import pytest
from test_btf_builder import BtfBuilder, sample

from bpftui.core.discovery import btf as btfmod
from bpftui.core.discovery.btf import Btf
from bpftui.core.errors import InputError


def prototypes(builder: BtfBuilder, base: Btf | None = None) -> dict[str, str]:
    blob = Btf(builder.encode(), "test", base)
    return dict(blob.functions())


@pytest.fixture
def b() -> BtfBuilder:
    return BtfBuilder()


def test_sample_functions_render_as_c() -> None:
    assert prototypes(sample()) == {
        "add": "int add(int a, int b)",
        "say": "int say(const char *fmt, ...)",
    }


def test_void_return_and_no_parameters(b: BtfBuilder) -> None:
    b.add_func("tick", b.add_proto(0, []))
    assert prototypes(b) == {"tick": "void tick(void)"}


def test_void_pointer_and_pointer_to_pointer(b: BtfBuilder) -> None:
    voidp = b.add_ptr(0)
    char = b.add_int("char", 1)
    argv = b.add_ptr(b.add_ptr(char))
    b.add_func("run", b.add_proto(voidp, [("argv", argv), ("data", voidp)]))
    assert prototypes(b)["run"] == "void *run(char **argv, void *data)"


def test_structs_unions_enums_and_forward_declarations(b: BtfBuilder) -> None:
    i = b.add_int("int")
    file = b.add_struct("file", 8, [("f_count", i, 0)])
    value = b.add_struct("value", 4, [("i", i, 0)], union=True)
    mode = b.add_enum("mode", [("MODE_A", 0), ("MODE_B", 1)])
    big = b.add_enum64("big", [("HUGE", 1 << 40)])
    sock = b.add_fwd("sock")
    wq = b.add_fwd("wait_queue", union=True)
    params = [
        ("f", b.add_ptr(file)),
        ("v", value),
        ("m", mode),
        ("b", big),
        ("sk", b.add_ptr(sock)),
        ("wq", b.add_ptr(wq)),
    ]
    b.add_func("mix", b.add_proto(i, params))
    assert prototypes(b)["mix"] == (
        "int mix(struct file *f, union value v, enum mode m, enum big b, "
        "struct sock *sk, union wait_queue *wq)"
    )


def test_anonymous_struct_is_shown_as_such(b: BtfBuilder) -> None:
    anon = b.add_struct("", 4, [])
    b.add_func("f", b.add_proto(0, [("x", b.add_ptr(anon))]))
    assert prototypes(b)["f"] == "void f(struct {...} *x)"


def test_typedefs_keep_their_names(b: BtfBuilder) -> None:
    ulong = b.add_int("long unsigned int", 8, signed=False)
    size_t = b.add_typedef("size_t", ulong)
    b.add_func("len", b.add_proto(size_t, [("n", ulong)]))
    assert prototypes(b)["len"] == "size_t len(long unsigned int n)"


def test_qualifiers_bind_where_c_puts_them(b: BtfBuilder) -> None:
    char = b.add_int("char", 1)
    i = b.add_int("int")
    const_char_p = b.add_ptr(b.add_const(char))
    char_p_const = b.add_const(b.add_ptr(char))
    volatile_int_p = b.add_ptr(b.add_volatile(i))
    restrict_p = b.add_restrict(b.add_ptr(i))
    const_volatile = b.add_const(b.add_volatile(i))
    params = [
        ("a", const_char_p),
        ("b", char_p_const),
        ("c", volatile_int_p),
        ("d", restrict_p),
        ("e", const_volatile),
    ]
    b.add_func("q", b.add_proto(0, params))
    assert prototypes(b)["q"] == (
        "void q(const char *a, char *const b, volatile int *c, int *restrict d, "
        "const volatile int e)"
    )


def test_arrays_and_pointers_to_arrays(b: BtfBuilder) -> None:
    i = b.add_int("int")
    four = b.add_array(i, 4, i)
    grid = b.add_array(b.add_array(i, 3, i), 2, i)
    b.add_func(
        "arr", b.add_proto(0, [("a", four), ("p", b.add_ptr(four)), ("g", grid)])
    )
    assert prototypes(b)["arr"] == "void arr(int a[4], int (*p)[4], int g[2][3])"


def test_function_pointers_as_parameters_and_typedefs(b: BtfBuilder) -> None:
    i = b.add_int("int")
    callback = b.add_ptr(b.add_proto(0, [("", i)]))
    cmp = b.add_typedef("cmp_func_t", b.add_ptr(b.add_proto(i, [("a", i), ("b", i)])))
    const_cb = b.add_const(callback)
    array_of_cbs = b.add_array(callback, 2, i)
    params = [("cb", callback), ("cmp", cmp), ("k", const_cb), ("table", array_of_cbs)]
    b.add_func("sort", b.add_proto(0, params))
    assert prototypes(b)["sort"] == (
        "void sort(void (*cb)(int), cmp_func_t cmp, void (*const k)(int), "
        "void (*table[2])(int))"
    )


def test_function_returning_a_function_pointer(b: BtfBuilder) -> None:
    i = b.add_int("int")
    handler = b.add_ptr(b.add_proto(0, [("sig", i)]))
    b.add_func("signal", b.add_proto(handler, [("sig", i), ("h", handler)]))
    assert prototypes(b)["signal"] == (
        "void (*signal(int sig, void (*h)(int sig)))(int sig)"
    )


def test_unnamed_parameters_and_variadic_only(b: BtfBuilder) -> None:
    i = b.add_int("int")
    b.add_func("anon", b.add_proto(i, [("", i), ("", b.add_ptr(i))], variadic=True))
    assert prototypes(b)["anon"] == "int anon(int, int *, ...)"


def test_type_tags_are_left_out(b: BtfBuilder) -> None:
    char = b.add_int("char", 1)
    user = b.add_ptr(b.add_type_tag("user", char))
    b.add_func("copy", b.add_proto(0, [("src", user)]))
    assert prototypes(b)["copy"] == "void copy(char *src)"


def test_other_kinds_are_walked_past(b: BtfBuilder) -> None:
    i = b.add_int("int")
    b.add_float("double")
    var = b.add_var("counter", i)
    b.add_datasec(".data", 4, [(var, 0, 4)])
    fn = b.add_func("f", b.add_proto(i, [("x", i)]))
    b.add_decl_tag("noinline", fn)
    blob = Btf(b.encode())
    assert [name for name, _ in blob.functions()] == ["f"]
    assert blob.kind(var) == btfmod.VAR
    assert blob.items(var + 1) == [(var, 0, 4)]


def test_type_lookups(b: BtfBuilder) -> None:
    i = b.add_int("int")
    s = b.add_struct("pair", 8, [("a", i, 0), ("b", i, 32)])
    arr = b.add_array(i, 7, i)
    blob = Btf(b.encode())
    assert len(blob) == 3
    assert (blob.kind(s), blob.name(s), blob.kind(0), blob.name(0)) == (
        4,
        "pair",
        0,
        "",
    )
    assert [(blob.string(n), t, off) for n, t, off in blob.items(s)] == [
        ("a", i, 0),
        ("b", i, 32),
    ]
    assert blob.array_info(arr) == (i, 7)
    assert blob.declaration(arr, "x") == "int x[7]"
    assert blob.declaration(i) == "int"


def test_big_endian_blobs_read_the_same() -> None:
    little = Btf(sample().encode("<")).functions()
    big = Btf(sample().encode(">")).functions()
    assert big == little


def test_non_ascii_names_are_decoded_as_utf8(b: BtfBuilder) -> None:
    i = b.add_int("int")
    b.add_func("grüße", b.add_proto(i, [("wert", i)]))
    assert prototypes(b) == {"grüße": "int grüße(int wert)"}


def test_split_btf_uses_base_types_and_strings() -> None:
    base_builder = sample()
    base = Btf(base_builder.encode(), "vmlinux")
    module = BtfBuilder(base_builder)
    int_id = 1
    sk = module.add_struct("sk_buff", 8, [])
    module.add_func("mod_rx", module.add_proto(int_id, [("skb", module.add_ptr(sk))]))
    # A module function may reuse a base prototype and a base string.
    module.add_func("add", base.referenced(base.function_ids[0]))
    blob = Btf(module.encode(), "mymod", base)
    assert blob.start_id == base.end_id
    assert blob.functions() == [
        ("mod_rx", "int mod_rx(struct sk_buff *skb)"),
        ("add", "int add(int a, int b)"),
    ]
    assert dict(base.functions()) == prototypes(sample())  # the base is unchanged


def test_prototype_of_a_single_function() -> None:
    blob = Btf(sample().encode())
    first = blob.function_ids[0]
    assert blob.prototype(first) == "int add(int a, int b)"
    with pytest.raises(InputError, match="is no FUNC"):
        blob.prototype(1)


# ------------------------------------------------------------ damaged blobs


def test_not_btf_at_all() -> None:
    with pytest.raises(InputError, match="bad magic"):
        Btf(b"\x7fELF" + bytes(40), "vmlinux")


def test_too_short_for_a_header() -> None:
    with pytest.raises(InputError, match="too short"):
        Btf(b"\x9f\xeb\x01", "vmlinux")


def test_unsupported_version() -> None:
    blob = bytearray(sample().encode())
    blob[2] = 2
    with pytest.raises(InputError, match="version 2"):
        Btf(bytes(blob))


def test_truncated_sections() -> None:
    blob = sample().encode()
    with pytest.raises(InputError, match="truncated"):
        Btf(blob[:-5], "vmlinux")


def test_record_running_past_the_type_section(b: BtfBuilder) -> None:
    b.raw(0, btfmod.STRUCT << 24 | 3, 8)  # claims 3 members, has none
    with pytest.raises(InputError, match="truncated"):
        Btf(b.encode())


def test_unknown_kind(b: BtfBuilder) -> None:
    b.raw(0, 25 << 24, 0)
    with pytest.raises(InputError, match="unknown kind 25"):
        Btf(b.encode())


def test_reference_to_a_missing_type(b: BtfBuilder) -> None:
    b.add_func("broken", b.add_proto(0, [("p", 999)]))
    with pytest.raises(InputError, match="999"):
        Btf(b.encode()).functions()


def test_reference_loop(b: BtfBuilder) -> None:
    own_id = b.next_id
    b.add_ptr(own_id + 1)
    b.add_const(own_id)  # const -> ptr -> const -> ...
    b.add_func("loop", b.add_proto(0, [("x", own_id)]))
    with pytest.raises(InputError, match="loop"):
        Btf(b.encode()).functions()


def test_prototype_taking_a_pointer_to_itself(b: BtfBuilder) -> None:
    proto = b.next_id
    b.add_proto(0, [("self", proto + 1)])
    b.add_ptr(proto)
    b.add_func("ouroboros", proto)
    with pytest.raises(InputError, match="in a loop"):
        Btf(b.encode()).functions()


def test_name_offset_out_of_range(b: BtfBuilder) -> None:
    b.raw(10_000, btfmod.INT << 24, 4, 32)
    blob = Btf(b.encode())
    with pytest.raises(InputError, match="string offset"):
        blob.name(1)


def test_func_whose_type_is_no_prototype(b: BtfBuilder) -> None:
    i = b.add_int("int")
    b.add_func("odd", i)
    with pytest.raises(InputError, match="no FUNC_PROTO"):
        Btf(b.encode()).functions()
