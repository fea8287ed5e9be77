"""pytest fixtures of the power suites: the bench's meter, limits from the plan, evidence.

``power_meter`` (session) is a PowerRig on the bench file's ``power:`` section (``resource: auto``
takes the reference bench's ``ppk2`` or ``scpi`` endpoint; voltage and current limit default to the
board's ``supply:``; logic inputs count only as wired in ``power.markers``); its identity goes to
the Allure environment. ``power`` hands a test that rig with the DUT connected and the meter open. Limits come
from ``--plan``; without one, from ``test_plans/power.yaml`` for the DUT's SKU, so a plain
``pytest`` run still judges power.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bench import project
from bench.power.battery import UsageProfile, load_profile
from bench.power.capture import PowerRig, Recording
from bench.power.plot import attach

DEFAULT_POWER_PLAN = "power"
PROFILE_BY_SKU = {"camera": "typical_day", "audio": "audio_heavy"}
ENDPOINT_KEY = {"ppk2": "ppk2", "visa": "scpi"}


@pytest.fixture(scope="session")
def power_meter(bench: Any, bench_config: Any) -> Iterator[PowerRig]:
    """The bench's power meter (PowerRig); skips when the bench file has no ``power:`` section."""
    if bench_config.power is None:
        pytest.skip("this bench has no power instrument (add a 'power:' section to the bench file)")
    rig = session_rig(bench)
    assert rig is not None
    yield rig
    rig.close()
    bench.power_rig = None


def session_rig(bench: Any) -> PowerRig | None:
    """The session's one PowerRig on the bench file's ``power:`` section (None without one), shared by
    the power suites and the recovery ladder's power-cycle (bench/recovery.py)."""
    rig = getattr(bench, "power_rig", None)
    spec = bench.config.power
    if rig is None and spec is not None:
        from bench.config import current_limit_a, max_voltage_v, supply_voltage_v

        resource = bench.endpoint(spec.resource, ENDPOINT_KEY[spec.kind])
        markers = spec.markers
        rig = PowerRig(spec.kind, resource, supply_voltage_v=supply_voltage_v(bench.config),
                       sample_rate_hz=spec.sample_rate_hz, timeout_s=spec.timeout_s, mode=spec.mode or "source",
                       range_a=spec.range_a, current_limit_a=current_limit_a(bench.config),
                       max_voltage_v=max_voltage_v(bench.config), channel=spec.channel,
                       markers=markers.names() if markers is not None else None,
                       marker_mask=markers.mask if markers is not None else 0xFF,
                       console=lambda: bench.dut.console)
        bench.power_rig = rig
    return rig


@pytest.fixture
def power(power_meter: PowerRig, dut: Any, bench: Any) -> PowerRig:
    """The power meter, open (an InstrumentFault if it cannot be), with the DUT connected and quiet.

    Quiet: no audio stream left running by an earlier test (or fuzz run), so every power test starts
    from connected idle.
    """
    from bench.power import drive

    drive.quiet(dut)
    _ = power_meter.meter
    identities = getattr(bench, "instrument_identities", None)
    if identities is None:
        identities = bench.instrument_identities = {}
    identities["power"] = power_meter.identity
    return power_meter


@pytest.fixture(scope="session")
def power_limits(plan: Any, bench_config: Any) -> Callable[[str], Any]:
    """name → Limit for the DUT's SKU: from --plan, else from test_plans/power.yaml."""
    from bench.plan import limits_source, load_plan

    return limits_source(plan if plan is not None else load_plan(DEFAULT_POWER_PLAN), bench_config.dut.sku)


@pytest.fixture
def power_measure(measure: Callable[..., Any], power_limits: Callable[[str], Any], plan: Any) -> Callable[..., Any]:
    """``power_measure(name, value, unit, **context)``: measure() with the power limits."""
    def _measure(name: str, value: float, unit: str, **context: Any) -> Any:
        if plan is None and "limits" not in context:
            context["limits"] = power_limits(name)
        return measure(name, value, unit, **context)
    return _measure


@pytest.fixture(scope="session")
def usage_profile(plan: Any, bench_config: Any) -> UsageProfile:
    """The use profile for battery life: plan ``extra.power_profile``, else by SKU; plan capacity wins."""
    extra = plan.parameters.extra if plan is not None else {}
    name = extra.get("power_profile", PROFILE_BY_SKU.get(bench_config.dut.sku, "typical_day"))
    path = Path(name) if Path(name).suffix else project.builtin_folder("power_profiles") / f"{name}.yaml"
    profile = load_profile(path)
    if "battery_capacity_mah" in extra:
        profile = profile.model_copy(update={"battery_mah": float(extra["battery_capacity_mah"])})
    return profile


@pytest.fixture
def power_evidence(bench_out: Path, request: pytest.FixtureRequest, power_limits: Callable[[str], Any], plan: Any,
                   measure: Callable[..., Any]) -> Callable[[Recording, str], None]:
    """``power_evidence(recording, label)``: PNG with state bands + NPZ samples → Allure and out/power/. The
    trace draws, for every state in it that has a mean-current limit, that limit and the state's mean (the
    limits ``power_measure`` judges by: the plan's, else test_plans/power.yaml's)."""
    from bench.power.report import STATE_OF

    def limit_of(name: str) -> Any:
        return power_limits(name) if plan is None else measure.limit(name)  # type: ignore[attr-defined]

    def _attach(recording: Recording, label: str) -> None:
        states = {seg.state for seg in recording.segments}
        limits = {state: limit_of(name) for name, state in STATE_OF.items() if state in states}
        attach(recording, f"{request.node.name} {label}", bench_out / "power",
               limits={s: lim for s, lim in limits.items() if lim is not None and (lim.low, lim.high) != (None, None)})
    return _attach
