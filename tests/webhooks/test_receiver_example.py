"""The README's "Connect your CRM" receiver (docs/examples/webhook_receiver.py), run as a process:
it accepts what leadlink signs with the endpoint's secret and refuses anything else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.webhooks.signing import new_secret, signature_header
from tests.servers import free_port

RECEIVER = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


@pytest.fixture
def receiver() -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    secret, port = new_secret(), free_port()
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), str(port)],
        env={**os.environ, "LEADLINK_WEBHOOK_SECRET": secret},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("listening on")
        yield f"http://127.0.0.1:{port}/hook", secret, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _post(url: str, body: str, event_id: str, secret: str) -> httpx.Response:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Leadlink-Id": event_id,
        "Leadlink-Timestamp": str(timestamp),
        "Leadlink-Signature": signature_header(event_id, timestamp, body, [secret]),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_the_receiver_prints_signed_events_and_refuses_forged_ones(
    receiver: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, secret, process = receiver
    assert process.stdout is not None
    event = {"id": "evt_1", "type": "lead.created", "data": {"email": "ada@example.com"}}
    body = json.dumps(event)

    assert _post(url, body, "evt_1", secret).status_code == 204
    assert process.stdout.readline().split(" ", 3) == [
        "valid",
        "signature",
        "lead.created",
        '{"email": "ada@example.com"}\n',
    ]

    assert _post(url, body, "evt_1", new_secret()).status_code == 401
    assert process.stdout.readline().startswith("INVALID signature")
