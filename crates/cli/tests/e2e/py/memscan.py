"""Counts byte strings in the memory of processes, from the host.

Usage: memscan.py PID...; the strings to look for arrive on stdin, one per
line (so they appear on no command line). Reads every readable mapping of
each process through /proc/PID/mem. Prints one JSON object:
{"bytes": <total read>, "found": {"<string>": {"<pid>": <count>}}}.
"""
import json
import sys


def scan(pid, needles):
    counts, total = dict.fromkeys(needles, 0), 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue  # [vvar] and friends cannot be read
            total += len(data)
            for n in needles:
                counts[n] += data.count(n)
    return counts, total


def main():
    needles = [line.encode() for line in sys.stdin.read().splitlines() if line]
    found = {n.decode(): {} for n in needles}
    total = 0
    for pid in sys.argv[1:]:
        try:
            counts, read = scan(pid, needles)
        except FileNotFoundError:
            continue  # exited meanwhile
        total += read
        for n, c in counts.items():
            if c:
                found[n.decode()][pid] = c
    print(json.dumps({"bytes": total, "found": found}))


if __name__ == "__main__":
    main()
