"""The scale-out queue: NATS JetStream carries background jobs between API nodes and workers.

Layout (every name starts with the configured prefix, so deployments and test runs never collide):

* stream ``<P>_work`` (work-queue retention, file storage, at most ``max_depth`` jobs, new jobs refused
  beyond) on subjects ``<P>.work.<stage>``; one message per (stage, item id), de-duplicated by a
  ``Nats-Msg-Id`` of ``<stage>:<item id>`` within the stream's duplicate window;
* one durable pull consumer ``<P>_<stage>`` per stage, shared by every worker (JetStream hands each
  job to one of them); explicit acks, ``ack_wait`` after which a silent worker's job goes to another;
* stream ``<P>_dead`` on ``<P>.dead.<stage>``: jobs that failed or crashed a worker ``max_deliveries``
  times, kept for inspection (``GET /v1/work-queue/dead-letters``).

Delivery is at least once. A job is acknowledged only after its handler returned, i.e. after the
handler committed its result; a worker that dies mid-job (``kill -9``) stops sending in-progress
heartbeats and the job is delivered again after ``ack_wait``. Handlers are idempotent by (item id,
stage), so a second delivery finds the item finished and does nothing. Exceptions are retried with
a growing delay; the delivery after the last allowed one is dead-lettered without running the handler
(the job may be what crashes workers) and ``on_dead`` marks the item failed with the reason.

nats-py is asyncio and Seawall's services are synchronous (SQLAlchemy sessions, CPU-bound hashing),
so this class owns one event loop on one daemon thread for all NATS I/O, and runs handlers on a
bounded thread pool: the loop never blocks on a handler, handlers never touch the loop, and the
synchronous methods (``submit``, ``depth``, ``dead_letters``) hand a coroutine to the loop and wait for
its result with a timeout. In-flight work is bounded twice: ``concurrency`` handlers per process (a
fetcher only asks for a job when it has a free thread) and ``max_ack_pending`` jobs across all workers.

Jobs that never reached the stream (the broker was down when an item was stored as pending) are not
lost: the item is in the store, and a consuming node re-queues pending items that are older than
``sweep_grace`` whenever its consumer has nothing waiting and nothing in flight.

A node never refuses to start because the broker is away: the first connection is tried once at
construction (so a healthy broker is in use before the node serves), and if that fails a background
task keeps trying with a growing delay (0.5 s doubling up to ``reconnect_backoff_max``). Until then the
queue reports ``state: "connecting"`` and the last error in :meth:`status`, ``submit`` fails fast with
:class:`QueueUnavailable`, and consumers and sweeps start as soon as the streams could be set up. Once
connected, the NATS client itself reconnects forever after any later outage, and every reconnect
re-creates missing streams and consumers (a broker restarted with an empty store).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from seawall.errors import QueueUnavailable
from seawall.queue.base import Handler

log = logging.getLogger(__name__)
#: Failures remembered for retried jobs at most (the oldest forgotten first): bounded memory under a flood.
_FAILURES_KEPT = 10_000

T = TypeVar("T")

__all__ = ["NatsQueue", "NatsQueueConfig", "QueueUnavailable", "redact_url"]

#: Called with (stage, item id, reason) when a job is dead-lettered; must be idempotent.
DeadHandler = Callable[[str, str, str], None]
#: Called with a stage; returns item ids whose job may never have reached the stream.
Recoverer = Callable[[str], list[str]]

DUPLICATE_WINDOW_SECONDS = 120.0
DEAD_LETTER_MAX_AGE_SECONDS = 30 * 24 * 3600.0
DEAD_LETTER_MAX_MSGS = 100_000
_DEPTH_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class NatsQueueConfig:
    url: str
    prefix: str = "seawall"
    max_deliveries: int = 5
    ack_wait: float = 30.0
    concurrency: int = 1
    max_depth: int = 100_000
    max_ack_pending: int = 1_000
    sweep_interval: float = 10.0
    sweep_grace: float = 5.0
    request_timeout: float = 5.0
    reconnect_backoff_max: float = 5.0


class NatsQueue:
    """A :class:`~seawall.queue.base.WorkQueue` on JetStream; ``consume=False`` only enqueues (API nodes)."""

    def __init__(self, config: NatsQueueConfig, *, consume: bool = True, on_dead: DeadHandler | None = None,
                 recover: Recoverer | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        #: Ages the cached queue figures; tests step it instead of sleeping past the cache lifetime.
        self.clock = clock
        self.consume = consume
        self.on_dead = on_dead
        self.recover = recover
        p = config.prefix
        self.work_stream = f"{p}_work"
        self.dead_stream = f"{p}_dead"
        self._handlers: dict[str, Handler] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="seawall-worker")
        self._running = 0
        self._running_lock = threading.Lock()
        #: The last failure of each job still being retried here, so a job that then runs out of deliveries
        #: by a timeout (its nak late on a loaded node) is dead-lettered with the error that failed it.
        self._failures: dict[tuple[str, str], str] = {}
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._depth_cache: tuple[float, int] = (0.0, 0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="seawall-nats", daemon=True)
        self._thread.start()
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._consuming: set[str] = set()
        #: Set once streams and consumers exist; cleared never (later outages are the client's reconnects).
        self._ready = threading.Event()
        self._first_attempt = threading.Event()
        self._error: str | None = None
        self._client_error: str | None = None
        self._attempts = 0
        self._stats_cache: tuple[float, dict[str, Any]] = (0.0, {})
        self._connector = asyncio.run_coroutine_threadsafe(self._connect_forever(), self._loop)
        # a reachable broker answers within connect_timeout: serve with it; an absent one is retried behind
        self._first_attempt.wait(config.request_timeout * 3)

    # --- bridge between the synchronous callers and the loop ----------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout or self.config.request_timeout)
        except TimeoutError:
            fut.cancel()
            raise QueueUnavailable("the NATS server did not answer in time") from None

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # --- set-up --------------------------------------------------------------------------------
    def wait_ready(self, timeout: float) -> bool:
        """Wait until streams and consumers are set up; False if the broker was not reached in time."""
        return self._ready.wait(timeout)

    async def _connect_forever(self) -> None:
        """Try to connect and set up until it works, waiting longer after each failure."""
        delay = 0.5
        while not self._stopping:
            self._attempts += 1
            self._client_error = None
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # "no servers available" says less than the refusal or timeout the client reported first
                self._error = (self._client_error if isinstance(exc, NoServersError) and self._client_error
                               else _describe(exc))
                log.warning("NATS at %s is unavailable (%s); degraded, retrying in %.1f s",
                            redact_url(self.config.url), self._error, delay)
                self._first_attempt.set()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.config.reconnect_backoff_max)
                continue
            self._error = None
            self._first_attempt.set()
            if self._attempts > 1:
                log.info("NATS at %s reached after %d attempts; queue in service", redact_url(self.config.url),
                         self._attempts)
            return

    async def _connect(self) -> None:
        async def disconnected() -> None:
            if not self._stopping:
                log.warning("NATS connection lost; reconnecting")

        async def reconnected() -> None:
            log.info("NATS connection re-established")
            self._error = None
            asyncio.get_running_loop().create_task(self._re_ensure())

        async def error(exc: Exception) -> None:  # one line, not the client's traceback per reconnect attempt
            if self._stopping:
                return
            self._client_error = self._error = _describe(exc)
            if self._ready.is_set():
                log.warning("NATS: %s", self._error)

        # Two quick tries per call (the client's smallest bounded setting); the back-off between calls is
        # ours. Once connected, the client reconnects forever.
        nc = await nats.connect(self.config.url, name=f"seawall-{self.config.prefix}",
                                max_reconnect_attempts=1, reconnect_time_wait=0.5,
                                disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error,
                                connect_timeout=self.config.request_timeout)
        try:
            nc.options["max_reconnect_attempts"] = -1
            self._nc = nc
            self._js = nc.jetstream(timeout=self.config.request_timeout)
            await self._ensure_streams()
            while set(self._handlers) - self._consuming:  # stages registered while this ran are set up too
                for stage in sorted(set(self._handlers) - self._consuming):
                    await self._set_up_stage(stage)
        except BaseException:
            self._nc = self._js = None
            self._consuming.clear()
            with contextlib.suppress(Exception):
                await nc.close()
            raise
        self._ready.set()  # no await between the last stage check and this: register() sees one or the other

    async def _re_ensure(self) -> None:
        """After a reconnect: bring back streams and consumers a broker restarted without its store lost."""
        try:
            await self._ensure_streams()
            for stage in list(self._handlers):
                await self._ensure_consumer(stage)
        except Exception as exc:
            log.warning("could not check streams after reconnecting (%s); fetchers will retry", _describe(exc))

    async def _ensure_streams(self) -> None:
        await self._ensure_stream(StreamConfig(
            name=self.work_stream, subjects=[f"{self.config.prefix}.work.*"],
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE, max_msgs=self.config.max_depth,
            discard=DiscardPolicy.NEW, duplicate_window=DUPLICATE_WINDOW_SECONDS,
        ))
        await self._ensure_stream(StreamConfig(
            name=self.dead_stream, subjects=[f"{self.config.prefix}.dead.*"], retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE, max_age=DEAD_LETTER_MAX_AGE_SECONDS, max_msgs=DEAD_LETTER_MAX_MSGS,
            discard=DiscardPolicy.OLD, duplicate_window=DUPLICATE_WINDOW_SECONDS,
        ))

    async def _ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream, or bring an existing one to this configuration (idempotent on every start)."""
        assert self._js is not None
        assert config.name is not None
        try:
            await self._js.stream_info(config.name)
        except NotFoundError:
            try:
                await self._js.add_stream(config)
                return
            except APIError as exc:  # created by another node at the same moment
                if exc.err_code != 10058:
                    raise
        await self._js.update_stream(config)

    def _durable(self, stage: str) -> str:
        return f"{self.config.prefix}_{stage}"

    async def _ensure_consumer(self, stage: str) -> None:
        assert self._js is not None
        config = ConsumerConfig(
            durable_name=self._durable(stage), filter_subject=f"{self.config.prefix}.work.{stage}",
            ack_policy=AckPolicy.EXPLICIT, ack_wait=self.config.ack_wait, max_deliver=-1,
            max_ack_pending=self.config.max_ack_pending,
        )
        try:
            await self._js.add_consumer(self.work_stream, config)
        except APIError as exc:
            # an existing durable with other settings keeps working; changing them is an operator's step
            log.warning("consumer %s exists with other settings (%s); using it as it is", config.durable_name, exc)

    # --- WorkQueue -------------------------------------------------------------------------------
    def register(self, stage: str, handler: Handler) -> None:
        """Route ``stage`` jobs to ``handler``; its consumer is set up now, or on connecting if the broker is away."""
        if not stage.replace("_", "").isalnum():
            raise ValueError(f"stage names are letters, digits and underscores: {stage!r}")
        self._call(self._register(stage, handler))

    async def _register(self, stage: str, handler: Handler) -> None:
        self._handlers[stage] = handler
        if self._ready.is_set() and stage not in self._consuming:
            await self._set_up_stage(stage)

    async def _set_up_stage(self, stage: str) -> None:
        await self._ensure_consumer(stage)
        if self.consume and stage not in self._consuming:
            await self._start_consuming(stage)
        self._consuming.add(stage)

    def submit(self, stage: str, item_id: str) -> None:
        """Publish one job and wait for JetStream to store it.

        Raises :class:`QueueUnavailable` (or a NATS error) when it could not be stored; the caller's
        item stays pending in the store and a worker's sweep queues it later.
        """
        if stage not in self._handlers:
            raise KeyError(f"no handler for stage {stage!r}")
        self._call(self._publish(stage, item_id))

    async def _publish(self, stage: str, item_id: str) -> None:
        if self._js is None or self._nc is None or not self._nc.is_connected:
            # fail fast: the item is stored as pending and a sweep queues it later
            raise QueueUnavailable(f"not connected to the NATS server ({self._error or 'connecting'})")
        await self._js.publish(f"{self.config.prefix}.work.{stage}", item_id.encode(),
                               headers={"Nats-Msg-Id": f"{stage}:{item_id}"})

    def depth(self) -> int:
        """Jobs waiting or in flight across every worker (cached for a second; last value if unreachable)."""
        return int(self.stats().get("depth", 0))

    def stats(self) -> dict[str, Any]:
        """Per stage, from JetStream's consumer state: jobs not yet handed to any worker (``waiting``, the
        consumer lag), handed out and not yet acknowledged (``in_flight``), and redelivered; plus the
        stream's message count and bytes. Cached for a second; the last known figures while unreachable,
        so a health probe or a scrape never stalls on the broker."""
        at, value = self._stats_cache
        if self.clock() - at < _DEPTH_CACHE_SECONDS or not self.connected:
            return value
        try:
            value = self._call(self._stats(), timeout=2)
        except Exception as exc:  # report the last known value rather than fail a scrape
            log.debug("queue figures unavailable: %s", exc)
            return value
        self._stats_cache = (self.clock(), value)
        return value

    async def _stats(self) -> dict[str, Any]:
        assert self._js is not None
        stages: dict[str, dict[str, int]] = {}
        for stage in list(self._handlers):
            info = await self._js.consumer_info(self.work_stream, self._durable(stage))
            stages[stage] = {"waiting": int(info.num_pending or 0), "in_flight": int(info.num_ack_pending or 0),
                             "redelivered": int(info.num_redelivered or 0)}
        stream = await self._js.stream_info(self.work_stream)
        return {
            "depth": sum(s["waiting"] + s["in_flight"] for s in stages.values()),
            "lag": sum(s["waiting"] for s in stages.values()),
            "stages": stages,
            "stream_messages": int(stream.state.messages or 0),
            "stream_bytes": int(stream.state.bytes or 0),
        }

    @property
    def connected(self) -> bool:
        """Streams set up and the connection up: jobs can be queued now."""
        return self._ready.is_set() and self._nc is not None and self._nc.is_connected

    @property
    def state(self) -> str:
        """``connected``; ``connecting`` before the first successful set-up; ``reconnecting`` after losing it."""
        if not self._ready.is_set():
            return "connecting"
        return "connected" if self.connected else "reconnecting"

    def status(self) -> dict[str, Any]:
        """What /healthz says about the queue: state, the last broker error while not connected, depth, lag."""
        stats = self.stats()
        out: dict[str, Any] = {"backend": "nats", "connected": self.connected, "state": self.state,
                               "depth": int(stats.get("depth", 0)), "lag": int(stats.get("lag", 0)),
                               "consuming": self.consume, "stream": self.work_stream,
                               "stages": stats.get("stages", {}), "max_depth": self.config.max_depth,
                               "max_in_flight": self.config.max_ack_pending}
        if not self.connected:
            out["error"] = self._error or "not connected"
            out["connect_attempts"] = self._attempts
        return out

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead-lettered jobs, newest first; :class:`QueueUnavailable` while the broker is away."""
        if not self.connected:
            raise QueueUnavailable(f"not connected to the NATS server ({self._error or 'connecting'})")
        return self._call(self._dead_letters(limit))

    async def _dead_letters(self, limit: int) -> list[dict[str, Any]]:
        assert self._js is not None
        info = await self._js.stream_info(self.dead_stream)
        out: list[dict[str, Any]] = []
        seq = int(info.state.last_seq or 0)
        first = int(info.state.first_seq or 0)
        while seq >= max(first, 1) and len(out) < limit:
            try:
                raw = await self._js.get_msg(self.dead_stream, seq)
            except NotFoundError:
                seq -= 1
                continue
            try:
                record = json.loads(raw.data or b"{}")
            except ValueError:
                record = {"raw": (raw.data or b"").decode("utf-8", "replace")}
            record["sequence"] = seq
            out.append(record)
            seq -= 1
        return out

    def close(self) -> None:
        """Stop fetching, let running handlers finish and acknowledge, then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        self._connector.cancel()
        try:
            self._call(self._shutdown(), timeout=self.config.ack_wait + 30)
        except Exception:
            log.exception("NATS queue did not shut down cleanly; unacknowledged jobs will be redelivered")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stop_loop()

    async def _shutdown(self) -> None:
        # fetchers see _stopping within their 1 s fetch timeout and return after acknowledging their job
        fetchers = [t for t in self._tasks if t.get_name().startswith("fetch-")]
        for t in self._tasks:
            if t not in fetchers:
                t.cancel()
        if fetchers:
            _, late = await asyncio.wait(fetchers, timeout=self.config.ack_wait + 5)
            for t in late:
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)  # acks still buffered
            await self._nc.close()

    def delete_streams(self) -> None:
        """Remove this prefix's streams (and so its consumers): for tests and decommissioning."""
        async def delete() -> None:
            if self._js is None:
                raise QueueUnavailable(f"not connected to the NATS server ({self._error or 'connecting'})")
            for name in (self.work_stream, self.dead_stream):
                with contextlib.suppress(NotFoundError):
                    await self._js.delete_stream(name)

        self._call(delete())

    # --- consuming -------------------------------------------------------------------------------
    async def _start_consuming(self, stage: str) -> None:
        assert self._js is not None
        for n in range(self.config.concurrency):
            self._tasks.append(asyncio.create_task(self._fetch_loop(stage), name=f"fetch-{stage}-{n}"))
        if self.recover is not None:
            self._tasks.append(asyncio.create_task(self._sweep_loop(stage), name=f"sweep-{stage}"))

    async def _fetch_loop(self, stage: str) -> None:
        """One job at a time per fetcher: a job is only taken when a thread is free to run it."""
        sub: JetStreamContext.PullSubscription | None = None
        while not self._stopping:
            try:
                if sub is None:
                    assert self._js is not None
                    sub = await self._js.pull_subscribe_bind(durable=self._durable(stage), stream=self.work_stream)
                msgs = await sub.fetch(1, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._stopping:
                    log.warning("fetching %s jobs failed (%s); retrying", stage, _describe(exc))
                sub = None  # bind again: the consumer may have been re-created after a broker restart
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(stage, msg)

    async def _handle(self, stage: str, msg: Msg) -> None:
        item_id = msg.data.decode()
        delivered = int(msg.metadata.num_delivered or 1)
        if delivered > self.config.max_deliveries:
            reason = self._failures.pop((stage, item_id), None) or (
                f"no worker finished it in {delivered - 1} deliveries (crashed or timed out)")
            await self._dead_letter(stage, item_id, msg, delivered - 1, reason)
            return
        heartbeat = asyncio.create_task(self._keep_alive(msg))
        loop = asyncio.get_running_loop()
        with self._running_lock:
            self._running += 1
        try:
            await loop.run_in_executor(self._pool, self._handlers[stage], item_id)
        except Exception as exc:
            heartbeat.cancel()
            first_line = (str(exc).strip().splitlines() or [""])[0]
            reason = f"{type(exc).__name__}: {first_line}"[:300]
            if delivered >= self.config.max_deliveries:
                self._failures.pop((stage, item_id), None)
                await self._dead_letter(stage, item_id, msg, delivered, reason)
            else:
                if len(self._failures) >= _FAILURES_KEPT:
                    self._failures.pop(next(iter(self._failures)))
                self._failures[(stage, item_id)] = reason
                log.warning("%s job for item %s failed on delivery %d (%s); retrying", stage, item_id, delivered,
                            reason)
                await self._settle(msg.nak(delay=min(self.config.ack_wait, 0.5 * 2 ** (delivered - 1))))
            return
        finally:
            heartbeat.cancel()
            with self._running_lock:
                self._running -= 1
        self._failures.pop((stage, item_id), None)
        await self._settle(msg.ack())

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream the job is still being worked on, so only a dead worker's job is redelivered."""
        while True:
            await asyncio.sleep(max(self.config.ack_wait / 3, 0.2))
            await self._settle(msg.in_progress())

    @staticmethod
    async def _settle(ack: Coroutine[Any, Any, Any]) -> None:
        """Ack/nak/progress are best effort: if one is lost the job is redelivered, which is harmless."""
        try:
            await ack
        except Exception as exc:
            log.warning("could not acknowledge a job (%s); it will be redelivered", exc)

    async def _dead_letter(self, stage: str, item_id: str, msg: Msg, deliveries: int, reason: str) -> None:
        assert self._js is not None
        message = f"gave up after {deliveries} deliveries: {reason}"
        record = {"stage": stage, "item_id": item_id, "deliveries": deliveries, "error": reason,
                  "dead_at": datetime.now(UTC).isoformat(), "stream_sequence": msg.metadata.sequence.stream}
        try:
            await self._js.publish(f"{self.config.prefix}.dead.{stage}", json.dumps(record).encode(),
                                   headers={"Nats-Msg-Id": f"dead:{stage}:{item_id}:{msg.metadata.sequence.stream}"})
            if self.on_dead is not None:
                await asyncio.get_running_loop().run_in_executor(self._pool, self.on_dead, stage, item_id, message)
        except Exception as exc:  # try again on the next delivery
            log.warning("dead-lettering the %s job for item %s failed (%s); retrying", stage, item_id, exc)
            await self._settle(msg.nak(delay=min(self.config.ack_wait, 5.0)))
            return
        log.error("%s job for item %s dead-lettered: %s", stage, item_id, message)
        await self._settle(msg.ack())

    async def _sweep_loop(self, stage: str) -> None:
        """Queue pending items whose job never reached the stream, when nothing else is waiting."""
        assert self.recover is not None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                assert self._js is not None
                info = await self._js.consumer_info(self.work_stream, self._durable(stage))
                if not info.num_pending and not info.num_ack_pending:
                    ids = await loop.run_in_executor(None, self.recover, stage)
                    for item_id in ids:
                        await self._publish(stage, item_id)
                    if ids:
                        log.info("re-queued %d pending %s job(s) that were not in the queue", len(ids), stage)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sweep for lost %s jobs failed (%s); retrying", stage, exc)
            await asyncio.sleep(self.config.sweep_interval)


def _describe(exc: BaseException) -> str:
    """One line for logs and /healthz: the error's type and first line (never a traceback or a credential)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__


def redact_url(url: str) -> str:
    """The broker URL(s) without user names, passwords or tokens, for logs and status."""
    out = []
    for part in url.split(","):
        scheme, sep, rest = part.strip().partition("://")
        if sep and "@" in rest:
            rest = rest.rsplit("@", 1)[1]
        out.append(f"{scheme}{sep}{rest}")
    return ",".join(out)
