"""The GLP profile's device side on the reference bench: the reference glasses and their features.

``start(bench)`` builds ``bench.glasses`` (bench/reference/glasses.py: DIS, Battery, the GLP service,
the link-test service, console lifecycle), registers the shell commands and starts every feature in
bench/reference/features (audio pipeline, power model and meters, GLP serial, seeded bugs, ...).
"""

from __future__ import annotations

from typing import Any


async def start(bench: Any) -> dict[str, Any]:
    from bench.reference import commands, features
    from bench.reference.glasses import ReferenceGlasses

    bench.glasses = ReferenceGlasses(bench.profile, bench.link, bench.shell.log,
                                     battery_notify_interval_s=bench.options.battery_notify_interval_s)
    commands.register(bench.shell, bench.glasses)
    extra: dict[str, Any] = {}
    for _name, feature_start in features.load().items():
        extra.update(await feature_start(bench))
    return extra
