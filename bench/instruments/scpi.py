"""SCPI plumbing over pyvisa (pyvisa-py backend) shared by the SCPI drivers, and auto-detection.

Every I/O goes through :meth:`ScpiInstrument.query`/``write``/``query_block`` so a timeout, a dropped
socket or a malformed reply always surfaces as :class:`InstrumentError`, never as a hang. A query the
instrument did not answer is followed by ``SYST:ERR?``: a rejected command (``-113,"Undefined
header"``) is reported as such, not as a bare timeout.

Safety contract of every SCPI supply driver: ``output(True)`` is refused until
``set_current_limit()`` has been called on that driver (``require_current_limit``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyvisa
from pyvisa import errors as visa_errors

from bench.instruments.base import Capture, InstrumentError, driver_for

DEFAULT_TIMEOUT_S = 5.0


class ScpiInstrument:
    """A pyvisa message-based resource with error translation, a lock and the SYST:ERR? queue."""

    max_sample_rate_hz: float = 0.0

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._res = resource
        self.resource_name: str = getattr(resource, "resource_name", str(resource))
        self._lock = threading.RLock()
        self.current_limit_a: float | None = None
        resource.timeout = int(timeout_s * 1000)
        self.identity = idn if idn is not None else self.query("*IDN?")

    # -- raw I/O ---------------------------------------------------------------------------------
    def _fault(self, exc: BaseException, command: str) -> InstrumentError:
        if isinstance(exc, visa_errors.VisaIOError) and exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            what = f"timed out after {self._res.timeout / 1000:.1f} s waiting for a reply"
            queued = self._queued_errors()
            if queued:
                what = f"instrument rejected it: {'; '.join(queued)} ({what})"
        else:
            what = f"I/O failed: {type(exc).__name__}: {exc}"
        return InstrumentError(what, resource=self.resource_name, command=command)

    def write(self, command: str) -> None:
        """Send one command (no reply expected)."""
        with self._lock:
            try:
                self._res.write(command)
            except (visa_errors.Error, OSError, ValueError) as exc:
                raise self._fault(exc, command) from exc

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send a query and return its reply, stripped."""
        with self._lock, self._timeout(timeout_s):
            try:
                return self._res.query(command).strip()
            except (visa_errors.Error, OSError, ValueError, UnicodeDecodeError) as exc:
                raise self._fault(exc, command) from exc

    def query_float(self, command: str) -> float:
        """Query one number; a non-numeric reply is an InstrumentError naming the reply."""
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentError(f"expected a number, got {reply!r}", resource=self.resource_name, command=command) from None

    def query_block(self, command: str, *, datatype: str = "f", big_endian: bool = True,
                    timeout_s: float | None = None) -> np.ndarray:
        """Query an IEEE 488.2 definite-length binary block (parsed by pyvisa) into a numpy array."""
        with self._lock, self._timeout(timeout_s):
            try:
                return self._res.query_binary_values(command, datatype=datatype, is_big_endian=big_endian,
                                                     container=np.ndarray)
            except (visa_errors.Error, OSError, ValueError, TypeError) as exc:
                raise self._fault(exc, command) from exc

    def query_ascii(self, command: str, timeout_s: float | None = None) -> np.ndarray:
        """Query a comma-separated list of numbers."""
        with self._lock, self._timeout(timeout_s):
            try:
                return self._res.query_ascii_values(command, container=np.ndarray)
            except (visa_errors.Error, OSError, ValueError) as exc:
                raise self._fault(exc, command) from exc

    def _queued_errors(self) -> list[str]:
        """Best effort after a timeout: what the error queue says (nothing if the instrument is gone too)."""
        old = self._res.timeout
        try:
            self._res.timeout = 500
            return [e for e in (self._res.query("SYST:ERR?").strip(),) if e and not e.lstrip("+").startswith("0")]
        except (visa_errors.Error, OSError, ValueError, UnicodeDecodeError):
            return []
        finally:
            self._res.timeout = old

    def require_current_limit(self) -> None:
        """Refuse to switch the output on before a current limit was set (a DUT short must not cook it)."""
        if self.current_limit_a is None:
            raise ValueError(f"{self.resource_name}: set_current_limit() before output(True); glassbench never "
                             "turns a supply on with whatever limit the front panel was left at")

    def errors(self, limit: int = 20) -> list[str]:
        """Drain the SYST:ERR? queue and return the entries (empty when the instrument is happy)."""
        found: list[str] = []
        for _ in range(limit):
            reply = self.query("SYST:ERR?")
            code = reply.split(",", 1)[0].strip()
            if code.lstrip("+-").isdigit() and int(code) == 0:
                break
            found.append(reply)
        return found

    def check(self, after: str) -> None:
        """Raise InstrumentError if the instrument queued errors (e.g. it rejected ``after``)."""
        errs = self.errors()
        if errs:
            raise InstrumentError(f"instrument reported {'; '.join(errs)}", resource=self.resource_name, command=after)

    def close(self) -> None:
        """Close the VISA session (idempotent)."""
        try:
            self._res.close()
        except (visa_errors.Error, OSError):
            pass

    class _TimeoutCtx:
        def __init__(self, res: Any, timeout_s: float | None) -> None:
            self.res, self.new, self.old = res, timeout_s, None

        def __enter__(self) -> None:
            if self.new is not None:
                self.old, self.res.timeout = self.res.timeout, int(self.new * 1000)

        def __exit__(self, *exc: object) -> None:
            if self.old is not None:
                self.res.timeout = self.old

    def _timeout(self, timeout_s: float | None) -> "_TimeoutCtx":
        return self._TimeoutCtx(self._res, timeout_s)


def uniform_capture(t0_s: float, rate_hz: float, current_a: np.ndarray, range_a: float | None,
                    expected: int, overflow_marker: float = 9.9e37, voltage_v: float | None = None) -> Capture:
    """Build a Capture from an evenly sampled block, flagging overflow (SCPI 9.9E37 or ≥ range)."""
    current = np.asarray(current_a, dtype=np.float64)
    overflow = current >= overflow_marker
    if range_a is not None:
        overflow |= np.abs(current) >= range_a
    if overflow.any():
        current = current.copy()
        current[current >= overflow_marker] = range_a if range_a is not None else np.nan
    t = t0_s + np.arange(current.size) / rate_hz
    return Capture(t_s=t, current_a=current, sample_rate_hz=rate_hz, overflow=overflow,
                   lost_samples=max(0, expected - current.size), expected_samples=expected, voltage_v=voltage_v)


def open_power_meter(resource: str, *, visa_library: str = "@py", timeout_s: float = DEFAULT_TIMEOUT_S,
                     **opts: Any) -> Any:
    """Open a VISA resource, ask *IDN? and hand it to the registered driver for that model.

    ``resource`` is any VISA address (``TCPIP0::127.0.0.1::5025::SOCKET``, ``USB0::...::INSTR``);
    ``visa_library`` selects the pyvisa backend (``@py`` = pyvisa-py, ``path.yaml@sim`` = pyvisa-sim);
    remaining ``opts`` go to the driver (e.g. ``channel=1``). Unknown models raise InstrumentError
    listing the supported ones.
    """
    import bench.instruments  # noqa: F401  (registers the bundled drivers)

    rm = pyvisa.ResourceManager(visa_library)
    try:
        res = rm.open_resource(resource, read_termination="\n", write_termination="\n")
    except (visa_errors.Error, OSError, ValueError) as exc:
        raise InstrumentError(f"cannot open: {exc}", resource=resource) from exc
    res.timeout = int(timeout_s * 1000)
    try:
        idn = res.query("*IDN?").strip()  # type: ignore[attr-defined]  # pyvisa stub: open_resource returns the base Resource
    except (visa_errors.Error, OSError, ValueError) as exc:
        res.close()
        raise InstrumentError(f"no reply to *IDN?: {exc}", resource=resource, command="*IDN?") from exc
    try:
        entry = driver_for(idn, resource)
    except InstrumentError:
        res.close()
        raise
    return entry.factory(res, idn=idn, timeout_s=timeout_s, **opts)
