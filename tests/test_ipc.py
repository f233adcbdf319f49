import asyncio

from meshlb.admin.snapshot import MetricsSnapshot
from meshlb.ipc import (
    EndpointState,
    Health,
    Ready,
    Reload,
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
        Reload(config={"a": 1}),
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
