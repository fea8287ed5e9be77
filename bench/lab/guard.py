"""``python -m bench.lab.guard COORDINATOR TOKEN``: release a harness's place if the harness dies.

Started by LabPlace with a pipe on stdin, in its own session (a Ctrl-C or a kill of the harness's
process group does not take it along). ``done`` on the pipe: the harness released, nothing to do.
End of file without it: the harness is gone, so release every place this reservation holds and
cancel the reservation.
"""

from __future__ import annotations

import sys

from bench.lab.place import LabError, run_client


def main(argv: list[str]) -> int:
    coordinator, token = argv
    said = sys.stdin.readline()
    if said.strip() == "done":
        return 0
    for step in (("-p", f"+{token}", "release"), ("cancel-reservation", token)):
        try:
            run_client(coordinator, *step)
        except LabError as exc:
            print(f"lab guard: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
