"""The embedded broker never hands a worker a half-written message."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu.connection import Connection
from kombu.entity import Queue

from reminders.worker.broker import FolderTransport


def test_messages_written_while_being_consumed_arrive_whole_and_once(tmp_path: Path) -> None:
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    queue = Queue("reminders-test")
    count = 300

    def produce() -> None:
        with Connection(transport=FolderTransport, transport_options=options) as connection:
            producer = connection.Producer()
            for number in range(count):
                producer.publish({"n": number, "pad": "x" * 2000}, routing_key=queue.name)

    received: list[int] = []
    writer = threading.Thread(target=produce)
    with Connection(transport=FolderTransport, transport_options=options) as connection:
        simple = connection.SimpleQueue(queue)
        writer.start()
        while len(received) < count:
            message = simple.get(timeout=10)  # a half-written file would raise here
            received.append(message.payload["n"])
            message.ack()
        simple.close()
    writer.join()

    assert sorted(received) == list(range(count))
    assert not list(tmp_path.glob("*.msg")) and not list(tmp_path.glob(".*.part"))
