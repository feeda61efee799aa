"""The Field mappings page's built-in rows name rule functions that exist."""

import pytest

from syncadmin.mapping import builtin, netsuite_to_zuora, zuora_to_netsuite

MODULES = {"zuora_to_netsuite": zuora_to_netsuite, "netsuite_to_zuora": netsuite_to_zuora}


@pytest.mark.parametrize(
    ("direction", "row"),
    [(d, row) for d, rows in builtin.BY_DIRECTION.items() for row in rows],
    ids=lambda value: getattr(value, "destination", value),
)
def test_every_builtin_row_names_a_rule_function_of_its_direction(direction, row):
    assert callable(getattr(MODULES[direction], row.function, None)), row
