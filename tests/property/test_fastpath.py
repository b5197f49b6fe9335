"""The pullbacks derived from the rules (fastpath.py) give what the rules give, bit for bit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value, engine
from autograd.fastpath import derive
from tests.strategies import RECORD_CASES, OpCase, reals

# What a rule may meet on the fast path: every float, at the edges too.
ANY = st.one_of(reals(-1e300, 1e300), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-310]))


# The one rule that does not run on symbols: dot with numbers reads how many its node carries.
NOT_DERIVED = {engine.DOT_NUMBERS}


def same(a: float, b: float) -> bool:
    return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("case", RECORD_CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_the_derived_pullback_is_the_rules_chain_rule(case: OpCase, data: st.DataObject) -> None:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    node = case.apply(*[Value(x) for x in point])
    op = node.operation
    assert op is not None
    fast = derive(op, len(node.parents), len(op.params))
    if fast is None:  # the rule does not run on symbols: the engine keeps engine.pullback
        assert op in NOT_DERIVED, f"{case.name}: no pullback derived"
        return
    upstream = data.draw(ANY, label="upstream")
    gradients = data.draw(st.lists(ANY, min_size=len(node.parents), max_size=len(node.parents)))
    # The same node's data may be anything the forward could give: try another output too.
    node.data = data.draw(st.sampled_from([node.data, data.draw(ANY, label="out")]), label="data")
    results: list[object] = []
    for pull in (engine.pullback, fast):
        for parent, g in zip(node.parents, gradients, strict=True):
            parent.grad = g
        try:
            pull(node, upstream)
        except (ArithmeticError, ValueError) as exc:
            results.append(type(exc))
            continue
        results.append(tuple(p.grad for p in node.parents))
    generic, derived = results
    if isinstance(generic, type):
        assert derived is generic
    else:
        assert isinstance(generic, tuple) and isinstance(derived, tuple)
        assert all(map(same, generic, derived)), (generic, derived)


def test_the_engine_uses_derived_pullbacks_for_its_own_ops() -> None:
    x, y = Value(2.0), Value(3.0)
    (x * y).relu().backward()
    assert engine.RELU.pullbacks[1] is not engine.pullback
    assert engine.MUL.pullbacks[2] is not engine.pullback
    assert (x.grad, y.grad) == (3.0, 2.0)


def test_a_user_op_keeps_the_rule_itself() -> None:
    twice = engine.Op("twice", lambda a: 2 * a, lambda m, out, a: (2.0,))
    x = Value(1.5)
    twice(x).backward()
    assert x.grad == 2.0 and twice.pullbacks[1] is engine.pullback
