import asyncio

from meshlb.admin.snapshot import MetricsSnapshot
from meshlb.ipc import (
    Abort,
    Commit,
    Committed,
    EndpointState,
    Failed,
    Health,
    Prepare,
    Prepared,
    Ready,
    Start,
    Stats,
    Stop,
    encode,
    read_message,
)


def roundtrip(*messages):
    async def go():
        reader = asyncio.StreamReader()
        for m in messages:
            reader.feed_data(encode(m))
        reader.feed_eof()
        out = []
        while (m := await read_message(reader)) is not None:
            out.append(m)
        return out

    return asyncio.run(go())


def test_every_message_survives_the_pipe() -> None:
    messages = [
        Start(config={"listeners": []}, config_path=None, index=1),
        Prepare(generation=3, config={"a": 1}),
        Prepared(index=1, generation=3, errors=["listener 'x' on 127.0.0.1:1: in use"]),
        Commit(generation=3),
        Committed(index=1, generation=3),
        Abort(generation=4),
        Failed(index=0, error="listener 'x' on 127.0.0.1:1: in use"),
        Health(clusters={"app": [EndpointState("127.0.0.1:1", False, True, "drained")]}),
        Stop(),
        Ready(index=0, pid=42),
        Stats(index=1, snapshot=MetricsSnapshot(taken_at=1.5, workers=1)),
    ]
    assert roundtrip(*messages) == messages


def test_a_closed_channel_reads_as_none_even_mid_message() -> None:
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(encode(Stop())[:3])
        reader.feed_eof()
        return await read_message(reader)

    assert asyncio.run(go()) is None
