"""Throttling of password checks: guessing is slow, names do not leak, and a flood of wrong
guesses cannot stall the users who know their password.

* **Backoff.** Failed sign-ins are counted per user name and per client address over a
  window. Past a free allowance, each further attempt must wait twice as long as the one
  before (up to a cap); an attempt inside its wait is refused at once with 429, without
  checking the password. A success clears the user's and the address's count. The per-user
  allowance is larger than the per-address one, so a user can still sign in from their own
  address while someone elsewhere guesses at their name, once the guesser is slowed.
* **Same answer for unknown users.** An unknown name costs one scrypt check against a
  dummy hash, as a known one does, so timing does not tell which names exist.
* **Bounded hashing.** At most ``MAX_CONCURRENT_CHECKS`` scrypt checks run at once; the
  rest wait for a slot. Requests whose credentials were checked recently skip the check
  (``BasicAuth``'s cache), so they never queue behind a flood.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tracklite.errors import TooManyAttempts

#: Wrong attempts allowed per window before the backoff starts: per client address, per user.
FREE_FAILURES_PER_CLIENT = int(os.environ.get("TRACKLITE_AUTH_FREE_FAILURES", "10"))
FREE_FAILURES_PER_USER = 2 * FREE_FAILURES_PER_CLIENT
#: Failures older than this are forgotten.
WINDOW_S = 15 * 60.0
#: The longest wait the backoff imposes.
MAX_WAIT_S = 15 * 60.0
#: scrypt checks running at once (each takes 16 MiB and tens of milliseconds).
MAX_CONCURRENT_CHECKS = 2
_MAX_TRACKED = 100_000


@dataclass
class _Failures:
    count: int = 0
    first: float = 0.0
    blocked_until: float = 0.0


class LoginGuard:
    """The backoff and the hashing bound of one server process.

    Args:
        clock: Monotonic seconds (replaceable for tests of the backoff's arithmetic).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)

    def check(self, username: str, client: str, verify: Callable[[], bool]) -> bool:
        """Run ``verify`` (the password check) unless ``username`` or ``client`` must wait.

        Returns:
            Whether the password was right.

        Raises:
            TooManyAttempts: inside a backoff wait (the password is not checked).
        """
        now = self._clock()
        with self._lock:
            for key in (("user", username), ("client", client)):
                entry = self._failures.get(key)
                if entry is not None and entry.blocked_until > now:
                    wait = entry.blocked_until - now
                    who = f"user '{username}'" if key[0] == "user" else f"address {client}"
                    raise TooManyAttempts(
                        f"Too many failed sign-ins for {who}; try again in {wait:.0f} s "
                        "(each further failure doubles the wait)."
                    )
        with self._slots:
            ok = verify()
        with self._lock:
            if ok:
                self._failures.pop(("user", username), None)
                self._failures.pop(("client", client), None)
            else:
                self._fail(("user", username), FREE_FAILURES_PER_USER, now)
                self._fail(("client", client), FREE_FAILURES_PER_CLIENT, now)
        return ok

    def _fail(self, key: tuple[str, str], free: int, now: float) -> None:
        entry = self._failures.get(key)
        if entry is None or now - entry.first > WINDOW_S:
            if len(self._failures) >= _MAX_TRACKED:
                self._forget_old(now)
            entry = self._failures[key] = _Failures(first=now)
        entry.count += 1
        if entry.count > free:
            entry.blocked_until = now + min(MAX_WAIT_S, 2.0 ** (entry.count - free - 1))

    def _forget_old(self, now: float) -> None:
        for key in [k for k, e in self._failures.items() if now - e.first > WINDOW_S and e.blocked_until <= now]:
            del self._failures[key]
        if len(self._failures) >= _MAX_TRACKED:
            self._failures.clear()
