"""`doit_conductor.run_params`: doit options of the wrong type, from hand-made params."""
from __future__ import annotations

import pytest

from doit_conductor.errors import UserError
from doit_conductor.run_params import check_run_params


class Reporter:
    pass


def test_names_and_classes_pass_as_doit_takes_them():
    check_run_params({"dep_file": ".doit.db", "backend": "dbm", "par_type": "process",
                      "reporter": Reporter, "check_file_uptodate": "md5"})
    check_run_params({})


@pytest.mark.parametrize("params, start", [
    ({"reporter": 5}, "doit option 'reporter' is 5 (int): expected a reporter name"),
    ({"dep_file": Reporter}, "doit option 'dep_file' is <class"),
    ({"backend": ["x" * 100]}, "doit option 'backend' is ['xxx"),
])
def test_a_wrong_type_is_one_line_naming_the_option(params, start):
    with pytest.raises(UserError) as caught:
        check_run_params(params)
    text = str(caught.value)
    assert text.startswith(start) and "\n" not in text and len(text) < 200
