"""RedisStore in blocking calls, for ``ratelimit_core.sync.Limiter``: the same scripts, keys and decisions.

::

    from redis import Redis
    from ratelimit_core.sync import Limiter
    from ratelimit_redis.sync import RedisStore

    limiter = Limiter("100/minute", store=RedisStore(Redis()), name="api")

Each call borrows a connection from your client's pool for one exchange
(the script call, and its ``EVAL`` in the same exchange when the server has
lost the script) and gives it back: the store holds no connection between
calls, and is safe to share between threads. The reply must come within
``timeout`` of the write; past it the connection is dropped (its reply may
still come) and the call is a ``StoreError``. One circuit breaker per
server is shared by the store's threads.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ratelimit_core import Decision, Policy, StoreError
from ratelimit_core.observe import Observer
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.calls import CALL_ERRORS, Call, failure
from ratelimit_redis.store import address
from ratelimit_redis.store_base import Reader, RedisCore

__all__ = ["RedisStore"]


class RedisStore(RedisCore):
    """Limiter state in Redis, in blocking calls: one ``EVALSHA`` per decision, all rates in that one call.

    Args:
        client: Your ``redis.Redis`` (standalone, or a Sentinel master from
            ``Sentinel.master_for``) or ``redis.RedisCluster``.
        prefix, timeout, connect_timeout, breaker_failures, breaker_cooldown,
        clock, observer: As :class:`ratelimit_redis.RedisStore`; ``timeout``
            bounds each reply from the moment its command is written.

    Raises:
        TypeError: ``client`` is not a blocking Redis client.
        ValueError: for a bad prefix, timeout, breaker setting or clock.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "ratelimit",
        timeout: float | None = 0.25,
        connect_timeout: float = 2.0,
        breaker_failures: int | None = 5,
        breaker_cooldown: float = 0.5,
        clock: Callable[[], float] | None = None,
        observer: Observer | None = None,
    ) -> None:
        if not isinstance(client, Redis | RedisCluster):
            raise TypeError(
                f"ratelimit_redis.sync.RedisStore needs a blocking client, redis.Redis or redis.RedisCluster, "
                f"got {client!r} (an asyncio client goes to ratelimit_redis.RedisStore)"
            )
        super().__init__(
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            breaker_failures=breaker_failures,
            breaker_cooldown=breaker_cooldown,
            clock=clock,
            observer=observer,
        )
        self._client = client
        self._lock = threading.Lock()  # guards the breakers, which are not thread-safe themselves
        self._breakers: dict[str, Breaker | None] = {}

    def __repr__(self) -> str:
        return f"ratelimit_redis.sync.RedisStore({self._client!r}, {self._settings()})"

    def close(self) -> None:
        """Nothing to close: the store holds no connection between calls (your client stays yours)."""

    # -- the Store contract ----------------------------------------------------------

    def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        decision: Decision = self._run(*self._hit(policy, key, cost))
        return decision

    def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        decision: Decision = self._run(*self._peek(policy, key, cost))
        return decision

    def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        decision: Decision = self._run(*self._charge(policy, key, cost))
        return decision

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        decision: Decision = self._run(*self._refund(policy, key, cost, until))
        return decision

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        reserved: tuple[Decision, tuple[int, ...]] = self._run(*self._reserve(policy, key, cost))
        return reserved

    def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        self._run(*self._reset(policy, key), doing="reset")

    def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`."""
        lasts: int = self._run(*self._block(policy, key, duration), doing="block")
        return lasts

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        self._run(*self._write_note(policy, key, text, ttl), doing="write a note")

    def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        note: bytes | None = self._run(*self._read_note(policy, key), doing="read a note")
        return note

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        decision: Decision = self._run(*self._acquire(policy, key, cost, holder))
        return decision

    def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        self._run(*self._release(policy, key, holder))

    def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        kept: bool = self._run(*self._renew(policy, key, holder))
        return kept

    # -- one exchange ------------------------------------------------------------------

    def _run(self, call: Call, read: Reader, doing: str = "decide") -> Any:
        """One exchange with the server of ``call``'s key, behind its breaker: the answer, or a ``StoreError``."""
        try:
            try:
                reply = self._exchange(call)
            except MovedError:  # a cluster's slot moved: read the slot table again, then ask its new primary
                if not isinstance(self._client, RedisCluster):
                    raise
                self._client.nodes_manager.initialize()
                reply = self._exchange(call)
        except CALL_ERRORS as exc:
            raise failure(exc, doing) from exc
        return read(reply)

    def _exchange(self, call: Call) -> bytes:
        client = self._client
        if isinstance(client, RedisCluster):
            node = client.get_node_from_key(call.first_key)  # type: ignore[no-untyped-call]
            pool, name = node.redis_connection.connection_pool, node.name
        else:
            pool = client.connection_pool
            name = address(pool)
        breaker = self._breaker_of(name)
        if breaker is not None:
            with self._lock:
                allowed = breaker.allow()
            if not allowed:
                raise StoreError(
                    f"redis at {name} is failing (last error: {breaker.last_error!r}); "
                    f"the circuit breaker is open, the next try in {breaker.retry_in():.3f} s"
                )
        try:
            reply = self._borrowed(pool, name, call)
        except (MovedError, AskError):  # a cluster redirection: the server answered
            self._tell(breaker, None)
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            self._tell(breaker, exc)
            raise
        except BaseException:  # no answer either way (an interrupt, a bug): a probe under way may go again
            if breaker is not None:
                with self._lock:
                    breaker.abandon()
            raise
        self._tell(breaker, None)
        return reply

    def _borrowed(self, pool: Any, name: str, call: Call) -> bytes:
        """The exchange on a connection of ``pool``, given back after; dropped when its state is unknown."""
        conn = _get_connection(pool)
        clean = False
        try:
            conn.connect()
            if not self._eviction_checked:
                self._check_eviction(conn)
            sock = conn._sock
            sock.settimeout(self._timeout)
            try:
                conn.send_packed_command([call.command], check_health=False)
                try:
                    reply: bytes = conn.read_response(disable_decoding=True)
                except NoScriptError:
                    if call.fallback is None:
                        clean = True
                        raise
                    conn.send_packed_command([call.fallback()], check_health=False)
                    reply = conn.read_response(disable_decoding=True)
                clean = True
            except ResponseError:  # an error reply, read whole: the connection is as good as before
                clean = True
                raise
            finally:
                if conn._sock is not None:
                    conn._sock.settimeout(conn.socket_timeout)
        except (TimeoutError, RedisTimeoutError) as exc:
            raise TimeoutError(
                f"redis at {name} answered nothing for {(self._timeout or 0) * 1000:g} ms after the command"
            ) from exc
        finally:
            if not clean:
                conn.disconnect()  # a reply may still come: never hand this connection to another caller
            pool.release(conn)
        return reply

    def _check_eviction(self, conn: Any) -> None:
        self._eviction_checked = True
        try:
            conn.send_command("CONFIG", "GET", "maxmemory-policy", check_health=False)
            reply = conn.read_response(disable_decoding=True)
        except ResponseError:  # CONFIG forbidden (as the documented ACL does) or renamed: say nothing
            return
        self._evicting(reply)

    def _breaker_of(self, name: str) -> Breaker | None:
        breaker = self._breakers.get(name, False)
        if breaker is False:
            with self._lock:
                breaker = self._breakers.setdefault(name, self._new_breaker())
        return breaker  # type: ignore[return-value]

    def _tell(self, breaker: Breaker | None, error: BaseException | None) -> None:
        if breaker is not None:
            with self._lock:
                if error is None:
                    breaker.success()
                else:
                    breaker.failure(error)


#: Per pool class: whether its ``get_connection`` needs the command's name (redis-py 5), read once.
_NAMES_COMMAND: dict[type, bool] = {}


def _get_connection(pool: Any) -> Any:
    """A connection of ``pool``: redis-py 5 names the command, later releases take no argument."""
    cls = type(pool)
    names = _NAMES_COMMAND.get(cls)
    if names is None:
        parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
        names = _NAMES_COMMAND[cls] = parameter is not None and parameter.default is inspect.Parameter.empty
    return pool.get_connection("EVALSHA") if names else pool.get_connection()
