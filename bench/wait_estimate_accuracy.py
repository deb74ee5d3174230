"""The wait estimator's error on a scripted run: a simulated line (Poisson arrivals, first come first served, N
agents, random handle times), each waiting caller's estimate at entry (router/wait_estimate.py) against the wait
it then had, beside app_queue's queue-wide hold time (an exponential average, α = 1/4, updated on answer) and
the router's previous model (position × mean of the last 20 handle times ÷ agents, which ran 8–27 s high: issue 15).

    python bench/wait_estimate_accuracy.py [--seeds 5] [--agents 3] [--aht 180] [--gap 70] [--cv 1.0]

Prints, per model: callers estimated, mean error (actual − estimate: negative means the estimate runs high), mean
absolute error, median absolute error, share within ±30 s and ±60 s. Pure computation: no Redis, no Asterisk.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics

from switchboard.router.wait_estimate import HandleTimes, estimate_wait

ROUTER = "router estimate"
PREVIOUS = "previous: p x AHT(20) / N"
APP_QUEUE = "app_queue holdtime"


def handle_time(rnd: random.Random, mean: float, cv: float) -> float:
    """A handle time with the given mean and coefficient of variation (gamma; cv=1 is exponential)."""
    shape = 1.0 / (cv * cv)
    return rnd.gammavariate(shape, mean / shape)


def run(seed: int, agents: int, aht: float, gap: float, cv: float, calls: int = 3000) -> dict[str, list[float]]:
    rnd = random.Random(seed)
    now = 0.0
    free = [0.0] * agents
    window = HandleTimes()
    previous = HandleTimes(window=20)
    ended: list[tuple[float, float]] = []  # (end time, handle time) of calls not yet counted
    answers: list[float] = []  # answer times of callers still in line
    holdtime = 0.0  # app_queue's exponential average of waits, updated on answer
    answered_waits: list[tuple[float, float]] = []  # (answer time, wait) not yet folded into holdtime
    errors: dict[str, list[float]] = {ROUTER: [], PREVIOUS: [], APP_QUEUE: []}
    for _ in range(calls):
        now += rnd.expovariate(1.0 / gap)
        for end, handle in [e for e in ended if e[0] <= now]:
            window.record("q", handle)
            previous.record("q", handle)
        ended = [e for e in ended if e[0] > now]
        for at, wait in sorted(w for w in answered_waits if w[0] <= now):
            holdtime = (3 * holdtime + wait) / 4
        answered_waits = [w for w in answered_waits if w[0] > now]
        answers = [a for a in answers if a > now]
        position = len(answers) + 1
        agent = min(range(agents), key=lambda i: free[i])
        start = max(now, free[agent])
        handle = handle_time(rnd, aht, cv)
        free[agent] = start + handle
        ended.append((start + handle, handle))
        answered_waits.append((start, start - now))
        if start <= now:
            continue  # answered at once: no estimate announced
        answers.append(start)
        estimate = estimate_wait(position, agents, window.recent("q"))
        if estimate.seconds is not None:
            recent = previous.recent("q")
            errors[ROUTER].append((start - now) - estimate.seconds)
            errors[PREVIOUS].append((start - now) - position * sum(recent) / len(recent) / agents)
            errors[APP_QUEUE].append((start - now) - holdtime)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--aht", type=float, default=180.0)
    parser.add_argument("--gap", type=float, default=70.0, help="mean seconds between arrivals")
    parser.add_argument("--cv", type=float, default=1.0, help="handle times' coefficient of variation")
    args = parser.parse_args()
    merged: dict[str, list[float]] = {}
    for seed in range(1, args.seeds + 1):
        for model, errors in run(seed, args.agents, args.aht, args.gap, args.cv).items():
            merged.setdefault(model, []).extend(errors)
    load = args.aht / args.gap / args.agents
    print(f"{args.agents} agents, AHT {args.aht:g} s (cv {args.cv:g}), a call every {args.gap:g} s: load {load:.2f}"
          f" (loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    for model, errors in merged.items():
        absolute = [abs(e) for e in errors]
        print(f"{model:26} n={len(errors):5d} mean {statistics.mean(errors):+7.1f} s  MAE {statistics.mean(absolute):6.1f} s"
              f"  median |e| {statistics.median(absolute):6.1f} s  within 30 s {sum(a <= 30 for a in absolute) / len(absolute):5.1%}"
              f"  within 60 s {sum(a <= 60 for a in absolute) / len(absolute):5.1%}")


if __name__ == "__main__":
    main()
