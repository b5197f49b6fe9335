"""Parameter blocks: a layer's parameters held as one numpy array, and their gradients as another.

A `ParameterBlock` lays leaf Values out as a matrix (a layer's rows of
weights, each row's bias last: the order `nn`'s parameters() lists them in)
and, while it is *attached*, keeps their numbers in two float64 arrays of that
shape, `data` and `grad`. An attached Value has the class `BlockValue`, a
Value whose `.data` and `.grad` read and write its entry of those arrays, so
every use of a Value works as before: eager mode, `backward()`, `zero_grad`,
an optimizer's step, `state_dict`, saving and loading, copying (a copy is a
plain Value of its own).

What it is for: `trace_batch` compiles a layer of such Values to one matrix
product that reads `data` as it is and adds the layer's gradient into `grad`
as one array, instead of a Python operation per parameter; and an optimizer
whose parameters are all attached steps the arrays (`layout`), not the
Values. Reading a Value's `.data` costs a little more while it is attached
(an array entry, not a slot); Values never attached are untouched.

`detach()` gives each Value its numbers back in its own slots (its class is
Value again); a block detaches by itself when one of its Values is given
something other than a float (`.grad` becomes a Value after
`backward(create_graph=True)`). A compiled function attaches its blocks again
when it runs. numpy is imported only when a block is made.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from .engine import Value

__all__ = ["BlockValue", "ParameterBlock", "block_of", "generation", "layout"]

# Value's own slots: in a BlockValue, `data` holds its block and `grad` its index in the block.
_DATA_SLOT: Any = Value.__dict__["data"]
_GRAD_SLOT: Any = Value.__dict__["grad"]

_changes = [0]  # attachments and detachments so far (see generation)


def generation() -> int:
    """A number that changes whenever a block attaches or detaches (to cache `layout`'s answer)."""
    return _changes[0]


def _number(gradient: object) -> float:
    # A gradient that is a Value (after backward(create_graph=True)) enters the block as its number.
    if isinstance(gradient, Value):
        return float(gradient.data)
    return float(gradient)  # type: ignore[arg-type]


class BlockValue(Value):
    """A Value of an attached ParameterBlock: its `.data` and `.grad` live in the block's arrays."""

    __slots__ = ()

    @property
    def data(self) -> float:
        """The Value's number: its entry of the block's `data` array."""
        return _DATA_SLOT.__get__(self, Value).flat_data.item(_GRAD_SLOT.__get__(self, Value))  # type: ignore[no-any-return]

    @data.setter
    def data(self, value: float) -> None:
        block = _DATA_SLOT.__get__(self, Value)
        if type(value) is float:
            block.flat_data[_GRAD_SLOT.__get__(self, Value)] = value
        else:  # kept as given, as a Value keeps it: in the Value's own slot
            block.detach()
            self.data = value

    @property
    def grad(self) -> Any:
        """The Value's gradient: its entry of the block's `grad` array."""
        return _DATA_SLOT.__get__(self, Value).flat_grad.item(_GRAD_SLOT.__get__(self, Value))

    @grad.setter
    def grad(self, value: Any) -> None:
        block = _DATA_SLOT.__get__(self, Value)
        if type(value) is float:
            block.flat_grad[_GRAD_SLOT.__get__(self, Value)] = value
        else:  # a Value (create_graph), or anything else: kept as given, in the Value's own slot
            block.detach()
            self.grad = value

    def __copy__(self) -> Value:
        # A plain Value with the same numbers and label: a copy shares no storage with the block.
        twin = Value(self.data, self.label)
        twin.grad = self.grad
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        twin = self.__copy__()
        memo[id(self)] = twin
        return twin

    def __reduce__(self) -> tuple[Any, ...]:
        return _plain_value, (self.data, self.grad, self.label)


def _plain_value(data: float, grad: Any, label: str) -> Value:
    value = Value(data, label)
    value.grad = grad
    return value


class ParameterBlock:
    """Leaf Values laid out as a (rows, columns) matrix whose numbers live in the arrays `data` and `grad`.

    `rows` lists each row's Values; every Value is a distinct leaf Value (not
    of another subclass). Made attached. `values` lists them row by row: entry
    k of `data.ravel()` is `values[k].data`.
    """

    def __init__(self, rows: Sequence[Sequence[Value]]) -> None:
        np = importlib.import_module("numpy")
        width = len(rows[0]) if rows else 0
        if not rows or not width or any(len(row) != width for row in rows):
            raise ValueError("a parameter block needs rows of Values, all of one positive length")
        values = [v for row in rows for v in row]
        if len({id(v) for v in values}) != len(values):
            raise ValueError("a parameter block holds each Value once")
        for v in values:
            if not isinstance(v, Value) or type(v) not in (Value, BlockValue) or not v.is_leaf:
                raise TypeError(f"a parameter block holds leaf Values, got {v!r}")
        self.values = values
        self.shape = (len(rows), width)
        self.data = np.zeros(self.shape)
        self.grad = np.zeros(self.shape)
        self.flat_data = self.data.reshape(-1)  # views: the arrays are never replaced, only written
        self.flat_grad = self.grad.reshape(-1)
        self.attached = False
        self.attach()

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"<ParameterBlock {self.shape[0]}x{self.shape[1]}, {state}>"

    def attach(self) -> None:
        """Move the Values' numbers into the arrays; from now on the Values read and write there."""
        if self.attached:
            return
        for v in self.values:
            if type(v) is BlockValue:
                owner = _DATA_SLOT.__get__(v, Value)
                if owner is not self:
                    owner.detach()  # a Value lives in one block at a time
        self.flat_data[:] = [float(v.data) for v in self.values]
        self.flat_grad[:] = [_number(v.grad) for v in self.values]
        for index, v in enumerate(self.values):
            v.__class__ = BlockValue
            _DATA_SLOT.__set__(v, self)
            _GRAD_SLOT.__set__(v, index)
        self.attached = True
        _changes[0] += 1

    def detach(self) -> None:
        """Give every Value its numbers back in its own slots (a plain Value again)."""
        if not self.attached:
            return
        data, grads = self.flat_data.tolist(), self.flat_grad.tolist()
        for v, x, g in zip(self.values, data, grads, strict=True):
            v.__class__ = Value
            _DATA_SLOT.__set__(v, x)
            _GRAD_SLOT.__set__(v, g)
        self.attached = False
        _changes[0] += 1

    def matches(self, rows: Sequence[Sequence[Value]]) -> bool:
        """Whether this block lays out exactly these rows of Values."""
        flat = [v for row in rows for v in row]
        return (len(rows), len(rows[0]) if rows else 0) == self.shape and all(
            a is b for a, b in zip(flat, self.values, strict=True)
        )


def block_of(value: Value) -> tuple[ParameterBlock, int] | None:
    """The attached block holding `value` and its index there; None for a Value in no attached block."""
    if type(value) is not BlockValue:
        return None
    return _DATA_SLOT.__get__(value, Value), _GRAD_SLOT.__get__(value, Value)


def attached_block(rows: Sequence[Sequence[Value]]) -> ParameterBlock:
    """The block of these rows of Values: the one they are in if it lays them out so, else a new one."""
    found = block_of(rows[0][0]) if rows and rows[0] else None
    if found is not None and found[0].matches(rows):
        return found[0]
    return ParameterBlock(rows)


def layout(values: Sequence[Value]) -> list[tuple[ParameterBlock, Any]] | None:
    """Where `values` live, in order, as runs (block, where): `where` a slice or an index array of the block.

    None unless every one is in an attached block. Concatenating
    `block.flat_data[where]` over the runs gives the Values' numbers in order.
    """
    runs: list[tuple[ParameterBlock, list[int]]] = []
    for v in values:
        found = block_of(v)
        if found is None:
            return None
        block, index = found
        if runs and runs[-1][0] is block:
            runs[-1][1].append(index)
        else:
            runs.append((block, [index]))
    if not runs:
        return None
    np = importlib.import_module("numpy")
    result: list[tuple[ParameterBlock, Any]] = []
    for block, indices in runs:
        start = indices[0]
        if indices == list(range(start, start + len(indices))):
            result.append((block, slice(start, start + len(indices))))
        else:
            result.append((block, np.array(indices)))
    return result
