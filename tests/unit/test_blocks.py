"""Parameter blocks: a block's Values behave as Values in every use, their numbers living in its arrays."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from autograd import Value, dots_batch, zero_grad  # noqa: E402 (after the numpy check)
from autograd.blocks import BlockValue, ParameterBlock, block_of, generation, layout  # noqa: E402
from nn import MLP  # noqa: E402


def rows(shape: tuple[int, int], start: float = 0.0) -> list[list[Value]]:
    return [[Value(start + 3.0 * i + j, label=f"p{i}{j}") for j in range(shape[1])] for i in range(shape[0])]


def test_attached_values_read_and_write_the_arrays() -> None:
    values = rows((2, 3))
    block = ParameterBlock(values)
    v = values[1][2]
    assert type(v) is BlockValue and isinstance(v, Value) and v.is_leaf
    assert block.data.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert (v.data, v.grad, v.label) == (5.0, 0.0, "p12")
    v.data = 7.5
    v.grad += 2.0
    assert block.data[1, 2] == 7.5 and block.grad[1, 2] == 2.0
    assert repr(v) == "Value(data=7.5, grad=2.0, label='p12')"
    assert v > values[0][0] and float(v) == 7.5
    assert block_of(v) == (block, 5) and block_of(Value(1.0)) is None


def test_eager_mode_on_attached_values_gives_the_plain_values_numbers() -> None:
    def run(ws: list[list[Value]]) -> list[float]:
        x = [Value(0.5), Value(-1.5), Value(2.0)]
        out = dots_batch(ws, [x, x], activation="relu")
        total = Value.sum([*out[0], *out[1]]) * ws[0][0] + ws[1][2].tanh()
        total.backward()
        return [total.data, *(w.grad for row in ws for w in row)]

    plain = run(rows((2, 3), 0.25))
    attached = rows((2, 3), 0.25)
    ParameterBlock(attached)
    assert run(attached) == plain  # bit for bit


def test_zero_grad_and_value_zero_grad() -> None:
    values = rows((2, 2))
    block = ParameterBlock(values)
    block.grad[:] = 4.0
    zero_grad(values[0])
    values[1][0].zero_grad()
    assert block.grad.tolist() == [[0.0, 0.0], [0.0, 4.0]]


def test_a_value_given_a_non_float_leaves_its_block_which_attaches_again() -> None:
    values = rows((1, 3))
    block = ParameterBlock(values)
    before = generation()
    values[0][1].grad = Value(2.5)  # as backward(create_graph=True) leaves it
    assert not block.attached and generation() != before
    assert all(type(v) is Value for v in values[0])
    assert isinstance(values[0][1].grad, Value) and values[0][2].data == 2.0
    values[0][0].data = 4  # kept as given, as a plain Value keeps it
    assert values[0][0].data == 4
    block.attach()
    assert block.attached and block.data.tolist() == [[4.0, 1.0, 2.0]]
    assert block.grad.tolist() == [[0.0, 2.5, 0.0]]  # a Value gradient enters as its number
    values[0][2].data = 1  # an int: the block leaves, the Value keeps it
    assert not block.attached and type(values[0][2].data) is int


def test_a_value_is_in_one_block_at_a_time() -> None:
    values = rows((2, 2))
    first = ParameterBlock(values)
    second = ParameterBlock([values[0]])
    assert not first.attached and second.attached
    assert block_of(values[0][0]) == (second, 0) and type(values[1][0]) is Value
    first.attach()
    assert first.attached and not second.attached


def test_copies_and_pickles_are_plain_values_of_their_own() -> None:
    values = rows((1, 2))
    ParameterBlock(values)
    values[0][1].grad = 3.0
    for twin in (
        copy.copy(values[0][1]),
        copy.deepcopy(values[0][1]),
        pickle.loads(pickle.dumps(values[0][1])),
    ):
        assert type(twin) is Value and (twin.data, twin.grad, twin.label) == (1.0, 3.0, "p01")
        twin.data = 9.0
        assert values[0][1].data == 1.0


def test_layout_gives_runs_of_blocks_in_order() -> None:
    a, b = rows((2, 2)), rows((1, 3))
    block_a, block_b = ParameterBlock(a), ParameterBlock(b)
    flat_a = [v for row in a for v in row]
    runs = layout([*flat_a, *b[0]])
    assert runs is not None and [(r[0], r[1]) for r in runs] == [
        (block_a, slice(0, 4)),
        (block_b, slice(0, 3)),
    ]
    runs = layout([flat_a[2], flat_a[0], b[0][1]])
    assert runs is not None and runs[0][1].tolist() == [2, 0] and runs[1][1] == slice(1, 2)
    assert layout([*flat_a, Value(1.0)]) is None and layout([]) is None


def test_a_block_refuses_what_it_cannot_hold() -> None:
    v = Value(1.0)
    with pytest.raises(ValueError, match="each Value once"):
        ParameterBlock([[v, v]])
    with pytest.raises(ValueError, match="all of one positive length"):
        ParameterBlock([[Value(1.0)], [Value(1.0), Value(2.0)]])
    with pytest.raises(TypeError, match="leaf Values"):
        ParameterBlock([[v * 2.0]])


def test_a_model_in_blocks_saves_loads_and_copies_as_before(tmp_path: Path) -> None:
    model = MLP(2, [3, 1], seed=4)
    state = model.state_dict()
    for layer in model.layers:
        ParameterBlock([[*neuron.w, neuron.b] for neuron in layer.neurons if neuron.b is not None])
    assert all(type(p) is BlockValue for p in model.parameters())
    assert model.state_dict() == state
    model.save(tmp_path / "model.json")
    json.loads((tmp_path / "model.json").read_text())
    twin = copy.deepcopy(model)
    assert all(type(p) is Value for p in twin.parameters()) and twin.state_dict() == state
    other = MLP(2, [3, 1], seed=5)
    model.load(tmp_path / "model.json")
    other.load(tmp_path / "model.json")
    assert other.state_dict() == state
    model.load_state_dict({name: 0.5 for name in state})
    assert all(p.data == 0.5 for p in model.parameters()) and twin.state_dict() == state
