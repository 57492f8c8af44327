"""CPU accounting during a load run: CPU time per request of each process group, and what else ran."""

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")
# The broker's Erlang VM; its helper processes (epmd, erl_child_setup) stay idle under load.
BROKER_COMMANDS = ("beam.smp",)


@dataclass(frozen=True)
class Snapshot:
    by_pid: dict[int, tuple[int, str, float]]  # pid -> (process group, command, CPU seconds)
    machine_total: float  # CPU seconds of every core, busy or not
    machine_idle: float
    children: float  # CPU seconds of our reaped children: the load generator


def _processes() -> dict[int, tuple[int, str, float]]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited while we looked
        # The command sits in parentheses and may itself contain spaces or parentheses.
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = (int(fields[2]), command, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def snapshot() -> Snapshot:
    with open("/proc/stat") as fh:
        jiffies = [int(v) for v in fh.readline().split()[1:]]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        _processes(), sum(jiffies) / TICKS, (jiffies[3] + jiffies[4]) / TICKS, usage.ru_utime + usage.ru_stime
    )


def broker_group(by_pid: dict[int, tuple[int, str, float]]) -> set[int]:
    return {pid for pid, (_, command, _) in by_pid.items() if command in BROKER_COMMANDS}


def process_group(leader: int | None) -> Callable[[dict], set[int]]:
    """Every process of a group we started with start_new_session (gunicorn master and its workers)."""
    return lambda by_pid: {pid for pid, (pgid, _, _) in by_pid.items() if leader is not None and pgid == leader}


def cpu_split(before: Snapshot, after: Snapshot, groups: dict[str, Callable[[dict], set[int]]], requests: int) -> dict:
    """CPU ms per request for each group, the load generator, and everything else on the machine."""
    wall_cpu = after.machine_total - before.machine_total
    busy = wall_cpu - (after.machine_idle - before.machine_idle)
    split: dict = {"ms_per_request": {}}
    accounted = 0.0
    for name, members in groups.items():
        seconds = sum(
            after.by_pid[pid][2] - before.by_pid[pid][2] for pid in members(after.by_pid) if pid in before.by_pid
        )
        accounted += seconds
        split["ms_per_request"][name] = round(seconds * 1000 / requests, 3) if requests else None
    load = after.children - before.children
    split["ms_per_request"]["load generator"] = round(load * 1000 / requests, 3) if requests else None
    cores = os.cpu_count() or 1
    seconds = wall_cpu / cores
    split["machine_idle_pct"] = round(100 * (wall_cpu - busy) / wall_cpu, 1) if wall_cpu else None
    # Anything else busy (other sessions, builds) competes for the same cores and skews every figure.
    split["other_processes_cores"] = round(max(0.0, busy - accounted - load) / seconds, 2) if seconds else None
    return split
