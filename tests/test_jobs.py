"""The jobs module is the one place that names the workers' functions and the retry policy."""

from __future__ import annotations

import importlib

from gateway import jobs


def test_every_job_function_named_exists_in_the_workers():
    for name in jobs.FUNCTIONS:
        module, _, function = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_send_job_ids_round_trip():
    assert jobs.sent_message(jobs.send_job("abc123")) == "abc123"
    assert jobs.sent_message("esc-abc123-1") is None


def test_retry_policy_covers_every_route_and_a_dying_worker():
    policy = jobs.RetryPolicy(delays=(10, 30, 90))
    assert policy.send(routes=2) == [10, 30, 90, 10, 30, 90, 10, 30]
    assert policy.other() == [10, 30, 90]
    assert policy.per_route() == 3
