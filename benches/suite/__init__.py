"""The side-by-side benchmark suite: CovetPy and its peers, one at a time, on loopback, one
worker each pinned to CPU 0 and wrk pinned to CPU 1, over the same scenarios.

    python -m benches.suite [--scenarios a,b] [--servers x,y] [--duration S] [--runs N]
                            [--warmup S] [--quick]

scenarios.py   what is asked (paths, bodies, connections, wrk Lua) and the expected answers
servers.py     the command line of each server per scenario
measure.py     one cell: start, check, warm up, wrk runs, CPU and peak RSS from /proc
report.py      medians, ratios, tables, the JSON; chart.py draws the PNG (peers' venv)
venv.py        benches/.venv, the peers' own environment
machine.py     what machine and commit produced a result
"""
