"""A Kafka-protocol proxy that injects broker faults, for integration tests against Tansu.

`faulty_broker(state_dir)` starts a dedicated Tansu that advertises the proxy's address, so
every connection a client makes (bootstrap and leader alike) goes through the proxy. The
proxy understands just enough of the protocol to

- refuse Produce requests for chosen partitions with a chosen error code (`fail_produce`),
- make topics look unknown in Metadata responses (`hide_topics`),
- hold Produce responses after the broker has written the records (`hold_produce_responses`),

and passes every other request through unchanged. It decodes only the non-flexible
versions aiokafka speaks (Produce v0-8, Metadata v0-5); other versions pass through.

Responses reach each client in the order of its requests, as the protocol requires: every
request that expects an answer takes a slot in the connection's queue, and one task writes
the slots' responses to the client in queue order (see `_ProxiedConnection`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.protocol.metadata import (
    MetadataRequest_v0,
    MetadataRequest_v1,
    MetadataRequest_v2,
    MetadataRequest_v3,
    MetadataRequest_v4,
    MetadataRequest_v5,
)
from aiokafka.protocol.produce import (
    ProduceRequest_v0,
    ProduceRequest_v1,
    ProduceRequest_v2,
    ProduceRequest_v3,
    ProduceRequest_v4,
    ProduceRequest_v5,
    ProduceRequest_v6,
    ProduceRequest_v7,
    ProduceRequest_v8,
)
from aiokafka.record.memory_records import MemoryRecords

from deploy.local.broker import LocalBroker
from deploy.local.processes import free_port

log = logging.getLogger(__name__)

PRODUCE = 0
METADATA = 3
UNKNOWN_TOPIC_OR_PARTITION = 3

_PRODUCE_REQUESTS: dict[int, Any] = {
    request.API_VERSION: request
    for request in (
        ProduceRequest_v0,
        ProduceRequest_v1,
        ProduceRequest_v2,
        ProduceRequest_v3,
        ProduceRequest_v4,
        ProduceRequest_v5,
        ProduceRequest_v6,
        ProduceRequest_v7,
        ProduceRequest_v8,
    )
}
_METADATA_REQUESTS: dict[int, Any] = {
    request.API_VERSION: request
    for request in (
        MetadataRequest_v0,
        MetadataRequest_v1,
        MetadataRequest_v2,
        MetadataRequest_v3,
        MetadataRequest_v4,
        MetadataRequest_v5,
    )
}
_CONNECTION_ENDED = (asyncio.IncompleteReadError, ConnectionError, OSError)


@dataclass(frozen=True)
class ProducedPartition:
    """One partition's records in a Produce request, as a `fail_produce` predicate sees it."""

    topic: str
    partition: int
    keys: tuple[bytes | None, ...]
    values: tuple[bytes | None, ...]


ProducePredicate = Callable[[ProducedPartition], bool]


@dataclass
class ProduceFailure:
    """A rule of `fail_produce`: matching partitions get `error_code` instead of a write."""

    matches: ProducePredicate
    error_code: int
    remaining: int | None
    """Requests still to fail; None for every one."""
    failed_requests: int = 0

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0


class KafkaFaultProxy:
    """A TCP proxy in front of one Kafka-protocol broker, injecting faults on request.

    Every fault can be switched on and off while clients are connected; it applies to the
    requests that arrive (or responses that are delivered) from then on."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.produce_requests_seen = 0
        """Produce requests the clients sent."""
        self.produce_requests_failed = 0
        """Produce requests with at least one partition refused by a `fail_produce` rule."""
        self.records_passed: Counter[str] = Counter()
        """Records forwarded to the broker, per topic."""
        self.errors: list[BaseException] = []
        """Failures of the proxy itself (not of a connection); a test should expect none."""
        self._failures: list[ProduceFailure] = []
        self._hidden_topics: set[str] = set()
        self._released = asyncio.Event()
        self._released.set()
        self._response_held = asyncio.Event()
        self._held_responses = 0
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def bootstrap_servers(self) -> str:
        """The proxy's address, for clients."""
        return f"{self.listen_host}:{self.listen_port}"

    async def start(self) -> None:
        """Listen for clients; with `listen_port` 0 a free port is chosen and stored there."""
        self._server = await asyncio.start_server(self._serve, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection, held responses included."""
        if self._server is not None:
            self._server.close()
        # Aborting the client's side ends the connection's tasks. (Cancelling the task that
        # asyncio.start_server made would make Python 3.11 log a spurious error.)
        serving = list(self._connections.items())
        for _, client_writer in serving:
            client_writer.transport.abort()
        tasks = [task for task, _ in serving]
        try:
            async with asyncio.timeout(5):
                await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            async with asyncio.timeout(5):
                await self._server.wait_closed()
        self._server = None

    def fail_produce(
        self, matches: ProducePredicate, *, error_code: int, times: int | None = None
    ) -> ProduceFailure:
        """Refuse, with `error_code`, every partition of a Produce request for which
        `matches` holds, in the first `times` requests where it holds (every one if None).

        Refused partitions are not sent to the broker. A request whose partitions are all
        refused is answered by the proxy; otherwise the rest is forwarded and the refused
        partitions are added to the broker's response. Rules apply in the order they were
        added; a partition takes the error of the first active rule it matches."""
        failure = ProduceFailure(matches, error_code, times)
        self._failures.append(failure)
        return failure

    def clear_produce_failures(self) -> None:
        """Forward every Produce request again."""
        self._failures.clear()

    def hide_topics(self, names: Iterable[str]) -> None:
        """Make `names` unknown in Metadata responses: asked for by name, they come back
        with UNKNOWN_TOPIC_OR_PARTITION and no partitions; in a list of all topics they are
        left out. (Tansu creates a topic when asked for it; the client still sees none.)"""
        self._hidden_topics.update(names)

    def show_topics(self, names: Iterable[str]) -> None:
        """Undo `hide_topics` for `names`."""
        self._hidden_topics.difference_update(names)

    def hold_produce_responses(self) -> None:
        """Keep the broker's answers to forwarded Produce requests from their clients until
        `release()`; the broker has written the records, the client does not know it. Later
        responses on the same connection wait behind a held one; other connections go on."""
        self._released.clear()

    def release(self) -> None:
        """Deliver every held response, and hold no more."""
        self._released.set()
        self._response_held.clear()

    @property
    def held_produce_responses(self) -> int:
        """How many Produce responses, already answered by the broker, are held now."""
        return self._held_responses

    async def produce_response_held(self) -> None:
        """Return once a Produce response is being held (at once if one is)."""
        await self._response_held.wait()

    async def _wait_while_holding(self) -> None:
        if self._released.is_set():
            return
        self._held_responses += 1
        self._response_held.set()
        try:
            await self._released.wait()
        finally:
            self._held_responses -= 1

    def _refusals(self, partitions: list[ProducedPartition]) -> dict[tuple[str, int], int]:
        """The error code of each refused (topic, partition); counts the rules' uses."""
        refused: dict[tuple[str, int], int] = {}
        for failure in self._failures:
            if not failure.active:
                continue
            matched = [
                p
                for p in partitions
                if (p.topic, p.partition) not in refused and failure.matches(p)
            ]
            if not matched:
                continue
            failure.failed_requests += 1
            if failure.remaining is not None:
                failure.remaining -= 1
            for p in matched:
                refused[p.topic, p.partition] = failure.error_code
        return refused

    def _hide_in_metadata(self, payload: bytes, version: int, all_topics: bool) -> bytes:
        hidden = set(self._hidden_topics)
        if not hidden:
            return payload
        response_type = _METADATA_REQUESTS[version].RESPONSE_TYPE
        response = response_type.decode(payload[4:])
        topics = []
        for entry in response.get_item("topics"):
            # (error_code, topic, [is_internal,] partitions)
            if entry[1] not in hidden:
                topics.append(entry)
            elif not all_topics:
                topics.append((UNKNOWN_TOPIC_OR_PARTITION, entry[1], *entry[2:-1], []))
        return payload[:4] + _encoded(_replaced(response, topics=topics))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                log.warning("broker %s:%s unreachable", self.upstream_host, self.upstream_port)
                return
            connection = _ProxiedConnection(self, reader, writer, upstream_reader, upstream_writer)
            try:
                await connection.run()
            finally:
                upstream_writer.close()
        except Exception as error:
            log.exception("fault proxy connection failed")
            self.errors.append(error)
        finally:
            writer.close()
            self._connections.pop(task, None)


@dataclass
class _Slot:
    """A place in a connection's response order; `frame` is the response to write."""

    frame: asyncio.Future[bytes]
    holdable: bool = False
    rewrite: Callable[[bytes], bytes] | None = None


@dataclass(frozen=True)
class _RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    size: int
    """Header bytes at the start of the payload; right for request header v1 only, so for
    the non-flexible versions the proxy decodes (a v2 header adds tagged fields)."""

    @classmethod
    def parse(cls, payload: bytes) -> _RequestHeader:
        api_key, api_version, correlation_id, client_id_length = struct.unpack_from(
            ">hhih", payload
        )
        return cls(api_key, api_version, correlation_id, 10 + max(client_id_length, 0))


@dataclass
class _ProxiedConnection:
    """One client connection and its own connection to the broker.

    Three tasks: requests from the client are forwarded (or answered by the proxy), each
    taking a slot in `order` when it expects a response; responses from the broker fill the
    slot of their correlation id; the slots are written to the client in `order`, so an
    answer the proxy made up at once still waits for the broker's answers before it."""

    proxy: KafkaFaultProxy
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader
    upstream_writer: asyncio.StreamWriter
    order: asyncio.Queue[_Slot] = field(default_factory=asyncio.Queue)
    awaiting_broker: dict[int, _Slot] = field(default_factory=dict)

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._forward_requests()),
            asyncio.create_task(self._collect_responses()),
            asyncio.create_task(self._deliver_responses()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, _CONNECTION_ENDED):
                raise error

    async def _forward_requests(self) -> None:
        while True:
            payload = await _read_frame(self.client_reader)
            header = _RequestHeader.parse(payload)
            if header.api_key == PRODUCE and header.api_version in _PRODUCE_REQUESTS:
                await self._produce(header, payload)
            elif header.api_key == METADATA and header.api_version in _METADATA_REQUESTS:
                await self._metadata(header, payload)
            else:
                await self._forward(header, payload)

    async def _produce(self, header: _RequestHeader, payload: bytes) -> None:
        proxy = self.proxy
        request_type = _PRODUCE_REQUESTS[header.api_version]
        request = request_type.decode(payload[header.size :])
        expects_response = request.get_item("required_acks") != 0
        proxy.produce_requests_seen += 1
        partitions = [
            _produced_partition(topic, partition, records)
            for topic, topic_partitions in request.get_item("topics")
            for partition, records in topic_partitions
        ]
        refused = proxy._refusals(partitions)
        forwarded = [p for p in partitions if (p.topic, p.partition) not in refused]
        for p in forwarded:
            proxy.records_passed[p.topic] += len(p.values)
        if not refused:
            await self._forward(header, payload, expects_response, holdable=True)
            return
        proxy.produce_requests_failed += 1
        response_type = request_type.RESPONSE_TYPE
        if not forwarded:
            if expects_response:
                answer = _response(header.correlation_id, _produce_response(response_type, refused))
                frame = asyncio.get_running_loop().create_future()
                frame.set_result(answer)
                self.order.put_nowait(_Slot(frame))
            return
        kept: list[tuple[str, list[tuple[int, bytes]]]] = []
        for topic, topic_partitions in request.get_item("topics"):
            topic_kept = [
                (p, records) for p, records in topic_partitions if (topic, p) not in refused
            ]
            if topic_kept:
                kept.append((topic, topic_kept))
        rewritten = payload[: header.size] + _encoded(_replaced(request, topics=kept))

        def add_refused(response: bytes) -> bytes:
            answered = response_type.decode(response[4:])
            return response[:4] + _encoded(_with_refused(answered, refused))

        await self._forward(header, rewritten, expects_response, holdable=True, rewrite=add_refused)

    async def _metadata(self, header: _RequestHeader, payload: bytes) -> None:
        request = _METADATA_REQUESTS[header.api_version].decode(payload[header.size :])
        requested = request.get_item("topics")
        all_topics = requested is None or (header.api_version == 0 and not requested)

        def hide(response: bytes) -> bytes:
            return self.proxy._hide_in_metadata(response, header.api_version, all_topics)

        await self._forward(header, payload, rewrite=hide)

    async def _forward(
        self,
        header: _RequestHeader,
        payload: bytes,
        expects_response: bool = True,
        *,
        holdable: bool = False,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> None:
        if expects_response:
            slot = _Slot(asyncio.get_running_loop().create_future(), holdable, rewrite)
            self.awaiting_broker[header.correlation_id] = slot
            self.order.put_nowait(slot)
        self.upstream_writer.write(_frame(payload))
        await self.upstream_writer.drain()

    async def _collect_responses(self) -> None:
        while True:
            payload = await _read_frame(self.upstream_reader)
            (correlation_id,) = struct.unpack_from(">i", payload)
            slot = self.awaiting_broker.pop(correlation_id)
            if slot.rewrite is not None:
                payload = slot.rewrite(payload)
            slot.frame.set_result(_frame(payload))

    async def _deliver_responses(self) -> None:
        while True:
            slot = await self.order.get()
            frame = await slot.frame
            if slot.holdable:
                await self.proxy._wait_while_holding()
            self.client_writer.write(frame)
            await self.client_writer.drain()


def _produced_partition(topic: str, partition: int, records: bytes | None) -> ProducedPartition:
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    if records:
        batches = MemoryRecords(bytes(records))
        while batches.has_next():
            batch = batches.next_batch()
            for record in batch or ():
                keys.append(_bytes_or_none(record.key))
                values.append(_bytes_or_none(record.value))
    return ProducedPartition(topic, partition, tuple(keys), tuple(values))


def _bytes_or_none(data: Any) -> bytes | None:
    return None if data is None else bytes(data)


def _produce_partition_answer(version: int, partition: int, error_code: int) -> tuple[Any, ...]:
    answer: list[Any] = [partition, error_code, -1]  # offset
    if version >= 2:
        answer.append(-1)  # timestamp
    if version >= 5:
        answer.append(-1)  # log_start_offset
    if version >= 8:
        answer += [[], None]  # record_errors, error_message
    return tuple(answer)


def _produce_response(response_type: Any, refused: dict[tuple[str, int], int]) -> bytes:
    topics: dict[str, list[tuple[Any, ...]]] = {}
    for (topic, partition), error_code in refused.items():
        answer = _produce_partition_answer(response_type.API_VERSION, partition, error_code)
        topics.setdefault(topic, []).append(answer)
    fields: dict[str, Any] = {"topics": list(topics.items()), "throttle_time_ms": 0}
    return _encoded(response_type(*[fields[name] for name in response_type.SCHEMA.names]))


def _with_refused(response: Any, refused: dict[tuple[str, int], int]) -> Any:
    topics: dict[str, list[Any]] = {
        topic: list(partitions) for topic, partitions in response.get_item("topics")
    }
    for (topic, partition), error_code in refused.items():
        answer = _produce_partition_answer(response.API_VERSION, partition, error_code)
        topics.setdefault(topic, []).append(answer)
    return _replaced(response, topics=list(topics.items()))


def _replaced(message: Any, **changes: Any) -> Any:
    """A copy of the aiokafka Struct `message` with some fields changed."""
    names = message.SCHEMA.names
    return type(message)(*[changes.get(name, message.get_item(name)) for name in names])


def _encoded(message: Any) -> bytes:
    encoded: bytes = message.encode()
    return encoded


def _response(correlation_id: int, body: bytes) -> bytes:
    return _frame(struct.pack(">i", correlation_id) + body)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


@dataclass(frozen=True)
class FaultyBroker:
    """A dedicated broker behind a fault proxy; clients use `bootstrap_servers`."""

    bootstrap_servers: str
    proxy: KafkaFaultProxy
    broker: LocalBroker


@contextlib.asynccontextmanager
async def faulty_broker(state_dir: Path) -> AsyncIterator[FaultyBroker]:
    """A fresh Tansu broker reachable only through a `KafkaFaultProxy` (its metadata
    advertises the proxy), stopped on exit. Fails on exit if the proxy itself failed."""
    # The proxy binds first, so the broker's free port cannot be the proxy's.
    proxy = KafkaFaultProxy("127.0.0.1", 0)
    await proxy.start()
    broker = LocalBroker(
        state_dir / "faulty-broker.log", port=free_port(), advertised_port=proxy.listen_port
    )
    proxy.upstream_port = broker.port
    try:
        # In the event loop's (main) thread: the broker dies with the thread that spawned it.
        broker.start()
        yield FaultyBroker(proxy.bootstrap_servers, proxy, broker)
    finally:
        await proxy.close()
        await asyncio.to_thread(broker.stop)
    if proxy.errors:
        raise AssertionError(f"the fault proxy failed: {proxy.errors!r}")
