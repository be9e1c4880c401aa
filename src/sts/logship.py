"""Ship JSON log lines to VictoriaLogs in the background.

:class:`VLogsShipper` takes rendered JSON lines (one object each, already redacted) from the logging
pipeline and POSTs them in batches to VictoriaLogs' ``/insert/jsonline`` endpoint, with ``service`` as the
stream field, ``msg`` as the message and ``ts`` as the time.

Contract: :meth:`VLogsShipper.submit` never blocks and never raises. Lines wait in a bounded queue; when
VictoriaLogs is slow or down and the queue is full, the oldest lines are dropped and counted
(``sts_log_lines_dropped_total``), so a process never stalls or grows without bound because of its logs.
A failed POST keeps its batch at the head of the queue and is retried with a capped backoff.
:meth:`close` (also run at interpreter exit) sends what is queued, waiting at most ``close_timeout``.
"""

from __future__ import annotations

import atexit
import collections
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from sts.metrics import LOG_LINES_DROPPED, LOG_LINES_SHIPPED, LOG_SHIP_FAILURES

INSERT_PATH = "/insert/jsonline"
INSERT_PARAMS = {"_stream_fields": "service", "_msg_field": "msg", "_time_field": "ts"}


class VLogsShipper:
    def __init__(
        self,
        base_url: str,
        *,
        max_queue: int = 20_000,
        batch_lines: int = 1_000,
        flush_interval: float = 0.5,
        timeout: float = 3.0,
        close_timeout: float = 5.0,
    ) -> None:
        self.insert_url = base_url.rstrip("/") + INSERT_PATH + "?" + urllib.parse.urlencode(INSERT_PARAMS)
        self.max_queue = max_queue
        self.batch_lines = batch_lines
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.close_timeout = close_timeout
        self._queue: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._backoff = 0.0
        self._retry_at = 0.0
        self.shipped = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="sts-log-shipper", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # ------------------------------------------------------------------ producer side

    def submit(self, line: str) -> None:
        """Queue one JSON line; drops the oldest queued line when the queue is full."""
        with self._cond:
            if self._closing and not self._thread.is_alive():
                return
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.dropped += 1
                LOG_LINES_DROPPED.labels("queue_full").inc()
            self._queue.append(line)
            if len(self._queue) >= self.batch_lines:
                self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wake the sender and wait (at most ``timeout``) until the queue is empty; True if it is."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify()
        while time.monotonic() < deadline:
            if self.pending() == 0 and not self._sending:
                return True
            time.sleep(0.02)
        return self.pending() == 0

    def close(self) -> None:
        """Send what is queued (bounded by ``close_timeout``), then stop the thread."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        self._thread.join(self.close_timeout)
        atexit.unregister(self.close)

    # ------------------------------------------------------------------ sender thread

    _sending = False

    def _take(self) -> list[str]:
        n = min(self.batch_lines, len(self._queue))
        return [self._queue.popleft() for _ in range(n)]

    def _give_back(self, batch: list[str]) -> None:
        # the failed batch goes back to the head; if new lines filled the queue meanwhile, the oldest go
        room = self.max_queue - len(self._queue)
        keep = batch[-room:] if room > 0 else []
        lost = len(batch) - len(keep)
        if lost:
            self.dropped += lost
            LOG_LINES_DROPPED.labels("queue_full").inc(lost)
        self._queue.extendleft(reversed(keep))

    def _post(self, batch: list[str]) -> bool:
        body = ("\n".join(batch) + "\n").encode()
        req = urllib.request.Request(
            self.insert_url, data=body, method="POST", headers={"Content-Type": "application/stream+json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
                status: int = resp.status
                return 200 <= status < 300
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing:
                    wait = self._retry_at - time.monotonic()
                    if wait > 0:  # backing off after a failed POST: submit() cannot cut this short
                        self._cond.wait(wait)
                        continue
                    if len(self._queue) < self.batch_lines:
                        self._cond.wait(self.flush_interval)
                closing = self._closing
                batch = self._take()
                self._sending = bool(batch)
            if not batch:
                if closing:
                    return
                continue
            ok = self._post(batch)
            with self._cond:
                self._sending = False
                if ok:
                    self.shipped += len(batch)
                    LOG_LINES_SHIPPED.inc(len(batch))
                    self._backoff = 0.0
                    continue
                LOG_SHIP_FAILURES.inc()
                if closing:
                    # at exit one try is all we give a dead VictoriaLogs: the lines are lost, counted
                    lost = len(batch) + len(self._queue)
                    self.dropped += lost
                    LOG_LINES_DROPPED.labels("shutdown").inc(lost)
                    self._queue.clear()
                    return
                self._give_back(batch)
                self._backoff = min(max(self._backoff * 2, 0.5), 5.0)
                self._retry_at = time.monotonic() + self._backoff
