"""The batched tape's in-place forward: ``p * x + c`` writes ``+ c`` into the buffer of the
temporary ``p * x`` (as NumPy's temporary elision does), never into a buffer anything else can
still see, and a tensor whose buffer was taken recomputes its value bit for bit if used."""
from __future__ import annotations

import operator
import tracemalloc

import numpy as np
import pytest

import zeroproof.array as za
import zeroproof.array.tape as T
from zeroproof import TRTag, arithmetic_mode, no_grad

N = 40_000  # above the in-place threshold (2^18 bytes of float64)


@pytest.fixture
def no_in_place(monkeypatch):
    """Run with the in-place forward switched off (the reference)."""
    def off():
        monkeypatch.setattr(T, "_TEMP_REFS", 0)
        monkeypatch.setattr(T, "_NAMED_REFS", 0)
    return off


def _data(seed=0, n=N, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n).astype(dtype)
    x[:3] = 0.0  # a pole of 1/x and exact zeros
    return x, rng.uniform(-1.0, 1.0, 9)


def _horner_and_grads(x, coeffs):
    X = za.constant(x)
    A = [za.parameter(np.array(c)) for c in coeffs]
    p = A[-1]
    for c in A[-2::-1]:
        p = p * X + c
    y = ((p - A[0]) * X + 1.0) / (X * X - 0.25) + 2.0 / X
    y.backward(np.ones(x.shape))
    return y.numpy(), [a.gradient.to_numpy() for a in A]


@pytest.fixture
def donations(monkeypatch):
    """The outcomes (buffer taken or not) of every in-place attempt made during the test."""
    taken = []
    orig = T._donor_buffer

    def spy(*args):
        out = orig(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(T, "_donor_buffer", spy)
    return taken


def test_the_in_place_path_is_enabled_on_this_interpreter(donations):
    assert T._TEMP_REFS > 0
    x, coeffs = _data()
    X = za.constant(x)
    c = za.parameter(np.array(0.5))
    X * 2.0 * X + c
    assert any(donations)


def test_values_and_gradients_equal_the_allocating_forward(no_in_place):
    x, coeffs = _data()
    y1, g1 = _horner_and_grads(x, coeffs)
    no_in_place()
    y0, g0 = _horner_and_grads(x, coeffs)
    assert np.array_equal(y1, y0, equal_nan=True)
    for a, b in zip(g1, g0):
        assert np.array_equal(a, b, equal_nan=True)


def test_named_intermediates_keep_their_values():
    x, _ = _data()
    X = za.constant(x)
    c = za.parameter(np.array(0.25))
    u = X * 3.0
    before = u.numpy().copy()
    v = u + c
    w = (u * X) + c  # u is named: never written into
    assert u._vb is not T._MOVED
    assert np.array_equal(u.numpy(), before)
    assert np.array_equal(v.numpy(), before + 0.25)
    assert np.array_equal(w.numpy(), before * x + 0.25)


def test_a_live_view_of_the_buffer_blocks_the_in_place_write():
    x, _ = _data()
    X = za.constant(x)
    views = []

    def make():
        t = X * 2.0
        views.append(t.codes)  # someone still reads this buffer
        return t

    y = make() + 1.0  # the operand is a temporary, but its buffer is in use
    assert np.array_equal(views[0], x * 2.0)
    assert np.array_equal(y.numpy(), x * 2.0 + 1.0)


def test_a_value_saved_for_backward_is_never_overwritten(no_in_place):
    x, _ = _data(1)

    def run():
        X = za.constant(x)
        w = za.parameter(np.array(1.5))
        y = ((X * w) * (X * w) + 1.0) / (X + 2.0)  # mul saves both operands (both need grad)
        y.backward(np.ones(x.shape))
        return y.numpy(), w.gradient.to_numpy()

    got = run()
    no_in_place()
    ref = run()
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_a_tensor_whose_buffer_was_taken_recomputes_its_value_bit_for_bit():
    x, _ = _data(2)
    X = za.constant(x)
    w = za.parameter(np.array(0.7))
    t = X * w  # fresh, large, not saved by its record: weak references to its inputs
    expected = t.numpy().copy()
    # what a caller outside Python bytecode could do: hold t with the count of a temporary
    buf = T._donor_buffer(T.ADD, t, za.constant(1.0), 0)
    assert buf is not None and t._vb is T._MOVED
    buf[...] = -1.0  # the buffer now belongs to someone else
    w.set_value(np.array(100.0))  # changing a leaf afterwards does not change t's recipe
    assert np.array_equal(t.numpy(), expected)
    assert t._vb is not T._MOVED and t._src is None


def test_no_in_place_write_into_a_buffer_of_another_dtype():
    x, _ = _data(3, dtype=np.float32)
    X = za.constant(x)
    t = X * np.float32(2.0)
    assert T._donor_buffer(T.ADD, t, za.constant(np.ones(N)), 0) is None  # float64 result
    y = X * np.float32(2.0) + np.ones(N)
    assert y.dtype == np.float64
    assert np.array_equal(y.numpy(), (x * np.float32(2.0)).astype(np.float64) + 1.0)


def test_no_buffer_is_lent_by_a_tensor_that_could_not_recompute_its_value():
    x, _ = _data(3)
    X = za.constant(x)
    t = X * za.constant(np.full(N, 2.0))  # that large input is gone right away
    assert T._donor_buffer(T.ADD, t, za.constant(1.0), 0) is None
    assert np.array_equal(t.numpy(), x * 2.0)
    u = X * 2.0  # a small input is kept: u can recompute itself
    assert T._donor_buffer(T.ADD, u, za.constant(1.0), 0) is not None
    with arithmetic_mode("wheel"):  # recomputed as it was computed, outside wheel mode
        assert np.array_equal(u.numpy(), x * 2.0)


def test_object_arrays_of_tensors_keep_every_element_readable():
    """NumPy's object loop calls the operators from C while the caller's frame is on a
    BINARY_OP, holding each element with the count of a temporary: the elements are not
    temporaries, and must still read (and differentiate) correctly."""
    x = za.parameter(np.linspace(1.0, 2.0, N))
    A = np.fromiter([x * 2.0], dtype=object)
    B = A + 1.0
    assert np.array_equal(A[0].numpy(), np.linspace(1.0, 2.0, N) * 2.0)
    assert np.array_equal(B[0].numpy(), np.linspace(1.0, 2.0, N) * 2.0 + 1.0)

    xc = za.constant(np.linspace(1.0, 2.0, N))
    w = za.parameter(np.full(N, 3.0))
    p = za.parameter(np.ones(N))
    A = np.fromiter([w * xc], dtype=object)
    w.set_value(np.full(N, 5.0))  # an optimizer step between computing A[0] and using it
    B = A + 1.0
    (A[0] * p).sum().backward()
    want = 3.0 * np.linspace(1.0, 2.0, N)
    assert np.array_equal(A[0].numpy(), want)
    assert np.array_equal(p.gradient.to_numpy(), want)
    assert np.array_equal(B[0].numpy(), want + 1.0)


def test_explicit_method_calls_never_write_in_place(donations):
    x, _ = _data(8)
    X = za.constant(x)
    (X * 2.0).__add__(1.0)  # a call, not an operator: the caller may keep the operand
    operator.add(X * 2.0, 1.0)
    assert donations == []


def test_wheel_mode_never_writes_in_place():
    x, _ = _data(4)
    X = za.constant(x)
    with arithmetic_mode("wheel"):
        y = (X * 0.0 + za.constant(np.full(N, np.inf))) * X  # 0·∞ is ⊥ in wheel mode
        z = X * 2.0 + 1.0
    assert np.array_equal(z.numpy(), x * 2.0 + 1.0)
    tags = y.value.tags
    assert (tags[:3] == int(TRTag.BOTTOM)).all() and (tags[3:] != int(TRTag.BOTTOM)).all()


def test_operator_module_calls_and_sum_stay_correct():
    x, _ = _data(5)
    X = za.constant(x)
    u = X * 2.0
    before = u.numpy().copy()
    r = operator.add(u, 1.0)
    assert np.array_equal(u.numpy(), before) and np.array_equal(r.numpy(), before + 1.0)
    s = sum([X * 1.0, X * 2.0, X * 3.0])
    assert np.allclose(s.numpy(), 6.0 * x)


def test_no_grad_chains_run_in_place_too():
    x, coeffs = _data(6)
    X = za.constant(x)
    with no_grad():
        p = za.constant(np.array(coeffs[-1]))
        for c in coeffs[-2::-1]:
            p = p * X + c
    ref = np.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        ref = ref * x + c
    assert np.array_equal(p.numpy(), ref)


def test_a_long_chain_needs_fewer_live_buffers(no_in_place):
    x, coeffs = _data(7, n=200_000)

    def peak() -> int:
        X = za.constant(x)
        p = za.constant(np.array(coeffs[-1]))
        tracemalloc.start()
        for c in coeffs[-2::-1]:
            p = p * X + c
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    with_in_place = peak()
    no_in_place()
    without = peak()
    assert with_in_place < without - x.nbytes // 2


def _random_expression(rng, depth):
    if depth == 0 or rng.random() < 0.2:
        return str(rng.choice(["X", "W", "w0", "2.0", "0.5", "X"]))
    op = str(rng.choice(["+", "-", "*", "/"]))
    return f"({_random_expression(rng, depth - 1)} {op} {_random_expression(rng, depth - 1)})"


@pytest.mark.parametrize("seed", range(12))
def test_random_expressions_match_the_allocating_forward_bit_for_bit(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    x, _ = _data(seed)
    w = rng.uniform(-1.0, 1.0, N)
    expr = " + ".join(_random_expression(rng, 4) for _ in range(2)) + " * X"

    def run():
        env = {"X": za.constant(x), "W": za.parameter(w), "w0": za.parameter(np.array(0.3))}
        y = eval(expr, {}, env)  # real BINARY_OP temporaries, as in user code
        y.backward(np.ones(N))
        grads = [env[k].gradient for k in ("W", "w0")]  # None if the expression lacks it
        return [y.numpy()] + [np.array([]) if g is None else g.to_numpy() for g in grads]

    got = run()
    monkeypatch.setattr(T, "_TEMP_REFS", 0)
    monkeypatch.setattr(T, "_NAMED_REFS", 0)
    ref = run()
    for a, b in zip(got, ref):
        assert np.array_equal(a, b, equal_nan=True), expr


@pytest.mark.parametrize("build", [lambda w: w + 0.0, lambda w: (w * 2.0) * 3.0 - w,
                                   lambda w: w])
def test_grad_output_is_read_in_place_but_never_written_or_aliased(build):
    w = za.parameter(np.linspace(0.5, 1.5, N))
    seed = np.linspace(1.0, 2.0, N)
    keep = seed.copy()
    build(w).backward(seed)
    assert np.array_equal(seed, keep)
    g = w.gradient.to_numpy().copy()
    seed[...] = 7.0  # the caller reuses its array: the gradient does not change
    assert np.array_equal(w.gradient.to_numpy(), g)


# ---- the loop idiom: a statement that rebinds the variable it reads --------------------------------
def test_the_loop_idiom_keeps_one_buffer(no_in_place):
    """``p = p * X + c``: the old ``p`` dies at the store, so ``p * X`` is computed into its
    buffer, as the hand-written ``p *= x; p += c`` does."""
    x, coeffs = _data(9, n=200_000)

    def run():
        X = za.constant(x)
        p = za.constant(np.array(coeffs[-1])) * X
        tracemalloc.start()
        for c in coeffs[-2::-1]:
            p = p * X + c
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top, p.numpy()

    top, got = run()
    assert top < x.nbytes // 2  # no second buffer at any step
    assert np.array_equal(got, _ref_times_x(x, coeffs))
    no_in_place()
    top0, ref = run()
    assert top0 > x.nbytes and np.array_equal(got, ref)


def _ref_times_x(x, coeffs):
    ref = np.array(coeffs[-1]) * x
    for c in coeffs[-2::-1]:
        ref = ref * x + c
    return ref


def test_the_rebinding_statement_also_works_at_module_level(donations):
    """Notebook cells run at module level (names, not fast locals)."""
    x, coeffs = _data(10)
    env = {"X": za.constant(x), "p": za.constant(np.array(coeffs[-1])) * 1.0,
           "cs": [float(c) for c in coeffs[-2::-1]]}
    env["p"] = env["p"] * env["X"]
    exec("for c in cs:\n    p = p * X + c\n", env)
    assert np.array_equal(env["p"].numpy(), _ref_times_x(x, coeffs))
    assert sum(donations) >= 2 * (len(coeffs) - 1) - 1  # both ops of (almost) every step


def test_statements_that_read_or_share_the_variable_do_not_write_into_it():
    x, _ = _data(11)
    X = za.constant(x)
    p = X * 2.0
    alias = p
    p = p * X + 1.0  # another variable still holds the old value
    assert np.array_equal(alias.numpy(), x * 2.0)
    q = X * 3.0
    q = q * X + q  # q is read again before the store
    assert np.array_equal(q.numpy(), (x * 3.0) * x + x * 3.0)
    r = X * 5.0
    s = r * X + 1.0  # stores into another variable
    assert np.array_equal(r.numpy(), x * 5.0) and np.array_equal(s.numpy(), x * 5.0 * x + 1.0)
    assert np.array_equal(p.numpy(), x * 2.0 * x + 1.0)


@pytest.mark.parametrize("steps", [1, 8, 200])
def test_an_exception_before_the_store_leaves_the_old_value_readable(steps):
    """``p * X`` has written into the old ``p``'s buffer when ``+ "bad"`` raises: the variable
    still names the old value, which recomputes itself through the chain of in-place steps."""
    x, _ = _data(12)
    X = za.constant(x)
    cs = np.random.default_rng(12).uniform(-1.0, 1.0, steps)
    p = X * 1.0
    ref = x * 1.0
    for c in cs:
        p = p * X + float(c)
        ref = ref * x + float(c)
    with pytest.raises(TypeError):
        p = p * X + "bad"
    assert p._vb is T._MOVED  # its buffer went to the abandoned product
    assert np.array_equal(p.numpy(), ref)
    p = p * X + 1.0  # and it goes on from there
    assert np.array_equal(p.numpy(), ref * x + 1.0)


def test_a_chain_of_in_place_steps_keeps_few_large_inputs_alive():
    """Each step's recipe keeps its inputs; a chain that would keep more than a couple of large
    input arrays alive is cut (the next step allocates), so memory stays bounded."""
    x, _ = _data(13, n=100_000)
    p = za.constant(x) * 1.0
    tracemalloc.start()
    for i in range(30):
        f = za.constant(np.full(x.shape, 1.0 + i * 1e-3))  # a fresh large input every step
        p = p * f + 0.5
    del f
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current < 6 * x.nbytes
    ref = x * 1.0
    for i in range(30):
        ref = ref * np.full(x.shape, 1.0 + i * 1e-3) + 0.5
    assert np.array_equal(p.numpy(), ref)


@pytest.mark.parametrize("seed", range(10))
def test_random_rebinding_programs_match_the_allocating_forward_bit_for_bit(seed, no_in_place):
    """Functions of statements ``v = v ⊙ a ⊙ b`` (fast locals, as in user code) over tensors
    that need grad and ones that do not: values and gradients as without any in-place write."""
    rng = np.random.default_rng(100 + seed)
    x, _ = _data(seed)
    w = rng.uniform(-1.0, 1.0, N)
    operands = ["X", "W", "w0", "2.0", "p", "q", "(X * 0.5)"]
    body = ["p = X * 1.5", "q = X * W"]
    for _ in range(12):
        v = str(rng.choice(["p", "q"]))
        a, b = (str(rng.choice(operands)) for _ in range(2))
        o1, o2 = (str(rng.choice(["+", "-", "*", "/"])) for _ in range(2))
        body.append(f"{v} = {v} {o1} {a} {o2} {b}" if rng.random() < 0.7 else f"{v} {o1}= {a}")
    src = "def prog(X, W, w0):\n" + "".join(f"    {line}\n" for line in body) + \
        "    return p * q + p\n"
    scope: dict = {}
    exec(compile(src, f"<program {seed}>", "exec"), scope)

    def run():
        X, W, w0 = za.constant(x), za.parameter(w), za.parameter(np.array(0.3))
        y = scope["prog"](X, W, w0)
        y.backward(np.ones(N))
        grads = [t.gradient for t in (W, w0)]  # None where the program does not use it
        return [y.numpy()] + [np.array([]) if g is None else g.to_numpy() for g in grads]

    got = run()
    no_in_place()
    ref = run()
    for a, b in zip(got, ref):
        assert np.array_equal(a, b, equal_nan=True), src


def test_a_restored_link_of_a_chain_is_not_changed_by_set_value():
    """An op result on constants counts as a leaf and accepts ``set_value``; a chain that went
    through it before keeps the value it had (NumPy's object loop lends ``A[0]``'s buffer)."""
    C = za.constant(np.full(N, 3.0))
    A = np.empty(1, dtype=object)
    A[0] = C * 1.0
    B = A + 1.0  # A[0] lends its buffer to B[0]
    assert A[0]._vb is T._MOVED
    A[0].set_value(np.zeros(N))  # restores A[0], then replaces its value
    D = B + 1.0  # B[0] lends its buffer; its recipe runs through A[0]'s old value
    assert np.array_equal(B[0].numpy(), np.full(N, 4.0))
    assert np.array_equal(D[0].numpy(), np.full(N, 5.0))


def test_a_class_body_or_split_exec_namespace_does_not_lend_the_global():
    """``LOAD_NAME`` there reads a global that ``STORE_NAME`` does not rebind."""
    import weakref

    x, _ = _data(14)
    X = za.constant(x)
    g = {"X": X, "p": X * 3.0}
    old = weakref.ref(g["p"])  # only the namespace holds it
    exec("p = p * X + 0.5", g, {})
    assert old()._vb is not T._MOVED and np.array_equal(old().numpy(), x * 3.0)
    exec("class K:\n    p = p * X + 0.5\n", g)
    assert old()._vb is not T._MOVED
    assert np.array_equal(g["K"].p.numpy(), x * 3.0 * x + 0.5)
    exec("p = p * X + 0.5", g)  # one module namespace: the old value is rebound, lent
    assert old() is None or old()._vb is T._MOVED
    assert np.array_equal(g["p"].numpy(), x * 3.0 * x + 0.5)


def test_a_buffer_taken_by_another_reader_during_the_switch_is_not_written(monkeypatch):
    """A global rebinding statement is visible to other threads: one that takes the buffer
    between the checks and the switch to the moved state keeps its view unchanged."""
    x, _ = _data(15)
    X = za.constant(x)
    p = X * 2.0
    taken = []

    class Reader(T._Link):
        __slots__ = ()

        def __init__(self, *args):
            taken.append(p.codes)  # a read in the window (p is not moved yet)
            super().__init__(*args)

    monkeypatch.setattr(T, "_Link", Reader)
    p = p * X + 1.0
    assert np.array_equal(taken[0], x * 2.0)
    assert np.array_equal(p.numpy(), x * 2.0 * x + 1.0)


def test_calibration_ignores_a_tracer_that_reads_frame_locals():
    """A debugger-like tracer active while ``zeroproof.array`` is imported must not inflate
    the reference counts that tell a temporary from a named value."""
    import subprocess
    import sys

    code = (
        "import sys, types, typing, dis, weakref, contextvars, numpy\n"  # (3.12.1's own
        "def tr(frame, event, arg):\n"  # comprehensions fail under such a tracer: import first)
        "    frame.f_locals\n"
        "    return tr\n"
        "sys.settrace(tr)\n"
        "import zeroproof.array.tape as T\n"
        "sys.settrace(None)\n"
        "print(T._TEMP_REFS, T._NAMED_REFS, T._BUFFER_REFS)\n"
    )
    traced = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert [int(v) for v in traced] in ([T._TEMP_REFS, T._NAMED_REFS, T._BUFFER_REFS],
                                       [0, 0, T._BUFFER_REFS])


def test_inputs_below_the_in_place_size_count_against_a_chain_too(no_in_place):
    """Per-row operands just under 256 KiB, fresh every step: the chains of 20 kept results
    may not hold on to them (memory as without in-place writes, up to twice a buffer each)."""
    rows, cols = 32_000, 2

    def run():
        rng = np.random.default_rng(16)

        def horner():
            p = za.constant(np.ones((rows, cols)))
            for _ in range(40):  # operands made here and dropped: only a chain could keep them
                x = za.constant(rng.uniform(0.5, 1.0, (rows, 1)))
                y = za.constant(rng.uniform(0.5, 1.0, (rows, 1)))
                p = p * x + y
            return p

        tracemalloc.start()
        outs = [horner() for _ in range(20)]
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return current, outs[0].numpy()

    current, got = run()
    no_in_place()
    current0, ref = run()
    assert np.array_equal(got, ref)
    assert current <= current0 + 20 * 2 * rows * cols * 8


def test_each_code_object_is_read_once(monkeypatch):
    """Deciding whether a statement rebinds its variable reads the function's bytecode once,
    however many sites it has and however often it runs."""
    reads = []
    orig = T.dis.get_instructions
    monkeypatch.setattr(T.dis, "get_instructions", lambda code: reads.append(code) or orig(code))
    src = "def f(p, x, c):\n" + "    p = p * x + c\n" * 40 + "    return p\n"
    scope: dict = {}
    exec(src, scope)
    x, _ = _data(17)
    X, c = za.constant(x), za.constant(np.array(0.25))
    for _ in range(3):
        scope["f"](X * 1.0, X, c)
    assert len(reads) == 1
