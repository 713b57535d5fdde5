"""The action cache in S3: moto's server on 127.0.0.1, started and stopped here."""
from __future__ import annotations

import pytest

from doit_conductor.state_files import read_state
from tests.support.projects import copy_project

pytestmark = [pytest.mark.scale, pytest.mark.slow]   # real processes

BUCKET = "conductor-cache"
ENUMS = {"currency", "order_status", "user_role"}


@pytest.fixture
def s3(monkeypatch):
    """An S3 endpoint with an empty bucket; `doit` subprocesses find it through the
    standard AWS environment variables."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(name, value)
        import boto3
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        server.stop()


def _codegen(project) -> dict[str, str]:
    return project.statuses("codegen:_batch-")


def test_second_clone_builds_from_s3_and_a_template_byte_misses_only_its_users(s3, tmp_path):
    url = f"s3://{BUCKET}/team/actions"
    first = copy_project(tmp_path / "a")
    first.doit("--cache", url, "codegen", check=True)
    batches = len(_codegen(first))
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == batches

    second = copy_project(tmp_path / "b")
    # -n 2: each forked worker opens its own connection to the store
    result = second.doit("-n", "2", "--cache", url, "codegen", check=True)
    assert set(_codegen(second).values()) == {"cached"}
    assert f"action cache: {batches} hits, 0 misses" in result.stdout
    assert not any(r.counters.get("files_rendered") for r in second.last_run().values())
    assert second.tree() == first.tree()

    template = second.path("templates/python/enum.py.j2")
    template.write_bytes(template.read_bytes() + b" ")   # one byte more
    second.doit("--cache", url, "codegen", check=True)
    misses = {n for n, r in second.last_run().items()
              if r.counters.get("action_cache_misses")}
    holding = {f"codegen:{p.stem}" for p in second.path(".conductor/cache/batches").glob("*.json")
               if ENUMS & set(read_state(p)["patterns"])}
    assert misses == holding and second.built_patterns() == ENUMS


def test_corrupted_s3_entry_is_detected(s3, tmp_path):
    url = f"s3://{BUCKET}/actions"
    first = copy_project(tmp_path / "a")
    first.doit("--cache", url, "codegen", check=True)
    key = s3.list_objects_v2(Bucket=BUCKET)["Contents"][0]["Key"]
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x20
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))

    second = copy_project(tmp_path / "b")
    result = second.doit("--cache", url, "codegen", check=True)
    assert sum("damaged" in line for line in result.stderr.splitlines()) == 1
    assert sorted(_codegen(second).values()).count("ran") == 1
    assert second.tree() == first.tree()
