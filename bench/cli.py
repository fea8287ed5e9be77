"""The ``bench`` command: reference, demo, run, fuzz, report, doctor, flash, reset."""

from __future__ import annotations

import argparse
import sys


def _reference(args: argparse.Namespace) -> int:
    from bench.reference.bench import ReferenceOptions, run

    if args.list_bugs:
        from bench.reference.features import load

        load()
        try:
            from bench.reference.bugs import BUGS
        except ImportError:
            BUGS = {}
        for name, bug in sorted(BUGS.items()):
            print(f"{name:28s} {getattr(bug, 'description', '')}")
        return 0

    _check_reference_args(args)
    ms = lambda v: None if v is None else v / 1000  # noqa: E731
    return run(ReferenceOptions(
        board=args.board, sku=args.sku, profile=args.profile, interval_s=ms(args.interval_ms), phy=args.phy,
        data_length=args.data_length, per=args.per, jitter_s=ms(args.jitter_ms),
        supervision_timeout_s=ms(args.supervision_timeout_ms), seed=args.seed,
        battery_notify_interval_s=args.battery_notify_interval_s, bugs=args.bug,
        settings=dict(_key_value(kv) for kv in args.set), pairing=args.pairing, passkey=args.passkey,
        privileged_security=args.privileged_security))


OPTION_OF = {"board": "--board", "sku": "--sku", "profile": "--profile", "bugs": "--bug", "settings": "--set",
             "interval_ms": "--interval-ms", "phy": "--phy", "data_length": "--data-length", "per": "--per",
             "jitter_ms": "--jitter-ms", "supervision_timeout_ms": "--supervision-timeout-ms",
             "battery_notify_interval_s": "--battery-notify-interval-s"}


def _check_reference_args(args: argparse.Namespace) -> None:
    """The same validation as a bench file's ``reference:`` section; the first problem ends the command."""
    import pydantic

    from bench.config import ReferenceSpec
    from bench.errors import ConfigError

    link = {k: getattr(args, k) for k in ("interval_ms", "phy", "data_length", "per", "jitter_ms",
                                          "supervision_timeout_ms") if getattr(args, k) is not None}
    try:
        ReferenceSpec.model_validate(dict(board=args.board, sku=args.sku, profile=args.profile, link=link,
                                          bugs=args.bug, settings=dict(_key_value(kv) for kv in args.set),
                                          battery_notify_interval_s=args.battery_notify_interval_s))
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        option = next((OPTION_OF[str(x)] for x in reversed(err["loc"]) if str(x) in OPTION_OF), "")
        raise ConfigError(f"{option}: {err['msg'].removeprefix('Value error, ')}") from None


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--set expects key=value, got {text!r}")
    return key, value


def _demo(args: argparse.Namespace) -> int:
    from bench.demo import main as demo_main

    return demo_main(args.bench)


def _run(args: argparse.Namespace) -> int:
    from bench.run import run_plan

    return run_plan(args.plan, args.bench, list(args.pytest_args))


def _report(args: argparse.Namespace) -> int:
    from bench.report.main import default_results, report_main

    return report_main(args.results or default_results(), args.output)


def _doctor(args: argparse.Namespace) -> int:
    from bench.doctor import doctor_main

    return doctor_main(args.bench, args.plan)


def _flash(args: argparse.Namespace) -> int:
    from bench.flash.cli import flash_main

    return flash_main(args.bench, args.image)


def _reset(args: argparse.Namespace) -> int:
    from bench.flash.cli import reset_main

    return reset_main(args.bench)


def _fuzz(args: argparse.Namespace) -> int:
    from bench.fuzz.cli import fuzz_main

    return fuzz_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="glassbench: firmware-in-the-loop bench for AI glasses")
    sub = parser.add_subparsers(dest="command", required=True)

    ref = sub.add_parser("reference", help="run the reference bench (virtual radio + reference glasses)")
    ref.add_argument("--board", default="nrf52840dk", help="nrf52840dk | esp32s3")
    ref.add_argument("--sku", default="camera", help="camera | audio")
    ref.add_argument("--profile", default="glp", help="device protocol of the reference device: glp | omi | stock "
                                                     "(bench/profiles)")
    ref.add_argument("--interval-ms", type=float, help="connection interval (default: the board's)")
    ref.add_argument("--phy", choices=["1M", "2M"], help="PHY (default: the board's)")
    ref.add_argument("--data-length", type=int, help="LL data length, 27..251 (default: the board's)")
    ref.add_argument("--per", type=float, help="packet error rate, 0..1")
    ref.add_argument("--jitter-ms", type=float, help="extra delivery jitter, uniform 0..J ms")
    ref.add_argument("--supervision-timeout-ms", type=float, help="supervision timeout")
    ref.add_argument("--seed", type=int, help="seed for loss and jitter")
    ref.add_argument("--pairing", choices=["none", "just-works", "passkey"], default="just-works",
                     help="what the reference device accepts: no pairing, Just Works, or a displayed passkey")
    ref.add_argument("--passkey", type=int, default=123456, help="the passkey the device displays (pairing passkey)")
    ref.add_argument("--privileged-security", choices=["auto", "open", "encrypted", "authenticated"], default="auto",
                     help="link security GLP's privileged requests need (auto: authenticated with passkey pairing, "
                          "else open); docs/protocol.md 5.11")
    ref.add_argument("--battery-notify-interval-s", type=float, default=1.0)
    ref.add_argument("--bug", action="append", default=[], metavar="NAME",
                     help="switch on a seeded firmware bug (fuzzer validation); see --list-bugs")
    ref.add_argument("--list-bugs", action="store_true", help="list the seeded bugs and exit")
    ref.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="option for a reference-bench feature (e.g. rig.delay_ms=0.5)")
    ref.set_defaults(fn=_reference)

    fz = sub.add_parser("fuzz", help="property-based fuzzing of the protocol (hypothesis), with shrinking")
    from bench.fuzz.cli import add_arguments

    add_arguments(fz)
    fz.set_defaults(fn=_fuzz)

    demo = sub.add_parser("demo", help="run the demo plan on the reference bench (a short tour of every DUT suite) "
                          "into out/runs/<run-id>, print the summary, write the report")
    demo.add_argument("--bench", default=None, help="bench YAML (default: fixtures/benches/reference.yaml)")
    demo.set_defaults(fn=_demo)

    run = sub.add_parser("run", help="run a test plan (pytest with the plan's suites, limits and labels)")
    run.add_argument("plan", help="plan name in test_plans/ (e.g. smoke) or a path")
    run.add_argument("--bench", default=None, help="bench YAML (default: the plan's bench)")
    run.epilog = "extra pytest arguments go after --: bench run smoke --bench lab.yaml -- -x -k battery"
    run.set_defaults(pytest_args=[])
    run.set_defaults(fn=_run)

    report = sub.add_parser("report", help="single-file HTML report (Allure 3) from Allure results")
    report.add_argument("results", nargs="?", default=None,
                        help="Allure results folder (default: out/latest/allure-results, the last run)")
    report.add_argument("-o", "--output", default=None, help="HTML file to write (default: report.html next to "
                        "the results folder)")
    report.set_defaults(fn=_report)

    fl = sub.add_parser("flash", help="flash an image with the bench file's programmer (dut.flash)")
    fl.add_argument("--bench", required=True, help="bench YAML with a dut.flash section")
    fl.add_argument("image", help="firmware image (.hex, .bin, .elf, .zip as the driver takes)")
    fl.set_defaults(fn=_flash)

    rs = sub.add_parser("reset", help="reset the DUT through the bench file's programmer (dut.flash)")
    rs.add_argument("--bench", required=True, help="bench YAML with a dut.flash section")
    rs.set_defaults(fn=_reset)

    doctor = sub.add_parser("doctor", help="list ports, instruments, adapters; validate a bench file and a plan")
    doctor.add_argument("--bench", default=None, help="bench YAML to validate")
    doctor.add_argument("--plan", default=None, help="test plan to validate")
    doctor.set_defaults(fn=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A bad bench file, plan or argument ends it with one line on stderr (exit 2)."""
    from bench.errors import ConfigError

    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after -- goes to pytest (bench run), untouched by argparse
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    if extra:
        if not hasattr(args, "pytest_args"):
            build_parser().error(f"arguments after -- are for `bench run` only: {' '.join(extra)}")
        args.pytest_args = extra
    try:
        return int(args.fn(args) or 0)
    except ConfigError as exc:
        print(f"bench {args.command}: {str(exc).removeprefix(f'{ConfigError.TAG}: ')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
