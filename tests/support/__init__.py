"""What the tests share: throw-away projects, the child environment, and the
one way to run the real `doit` in a subprocess (`tests.support.doit`).

Tests that run doit must be marked `slow` (the root conftest marks them by
fixture and directory; `run_doit`/`spawn_doit` refuse to run in an unmarked
test), so `pytest -m "not slow"` is the pure suite, in seconds.
"""
