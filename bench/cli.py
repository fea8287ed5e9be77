"""The ``bench`` command: reference, demo (and, as they land: run, fuzz, report, doctor)."""

from __future__ import annotations

import argparse
import sys


def _reference(args: argparse.Namespace) -> int:
    from bench.reference.bench import ReferenceOptions, run

    ms = lambda v: None if v is None else v / 1000  # noqa: E731
    return run(ReferenceOptions(
        board=args.board, sku=args.sku, interval_s=ms(args.interval_ms), phy=args.phy,
        data_length=args.data_length, per=args.per, jitter_s=ms(args.jitter_ms),
        supervision_timeout_s=ms(args.supervision_timeout_ms), seed=args.seed,
        battery_notify_interval_s=args.battery_notify_interval_s))


def _demo(args: argparse.Namespace) -> int:
    from bench.demo import main as demo_main

    return demo_main(args.bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="glassbench: firmware-in-the-loop bench for AI glasses")
    sub = parser.add_subparsers(dest="command", required=True)

    ref = sub.add_parser("reference", help="run the reference bench (virtual radio + reference glasses)")
    ref.add_argument("--board", default="nrf52840dk", help="nrf52840dk | esp32s3")
    ref.add_argument("--sku", default="camera", help="camera | audio")
    ref.add_argument("--interval-ms", type=float, help="connection interval (default: the board's)")
    ref.add_argument("--phy", choices=["1M", "2M"], help="PHY (default: the board's)")
    ref.add_argument("--data-length", type=int, help="LL data length, 27..251 (default: the board's)")
    ref.add_argument("--per", type=float, help="packet error rate, 0..1")
    ref.add_argument("--jitter-ms", type=float, help="extra delivery jitter, uniform 0..J ms")
    ref.add_argument("--supervision-timeout-ms", type=float, help="supervision timeout")
    ref.add_argument("--seed", type=int, help="seed for loss and jitter")
    ref.add_argument("--battery-notify-interval-s", type=float, default=1.0)
    ref.set_defaults(fn=_reference)

    demo = sub.add_parser("demo", help="start the reference bench, run the smoke suite, print the summary")
    demo.add_argument("--bench", default=None, help="bench YAML (default: fixtures/benches/reference.yaml)")
    demo.set_defaults(fn=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
