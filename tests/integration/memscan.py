"""memscan.py PID: reads "LABEL<TAB>TEXT" lines on standard input and says which of the texts
are in the memory of process PID (every readable mapping, through /proc/PID/mem), one line for
each label that has some: "LABEL: N found, at ADDRESS (MAPPING)...".  Exit 0 when none is
found, 1 when one is, 77 when the memory cannot be read (a process that is not dumpable, as
certhubd is, lets only a reader with CAP_SYS_PTRACE in)."""
import re
import sys

pid = int(sys.argv[1])
needles = [line.rstrip("\n").split("\t", 1) for line in sys.stdin if "\t" in line]
found = {}
try:
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    mem = open(f"/proc/{pid}/mem", "rb", 0)
    mem.seek(int(maps[0].split("-")[0], 16))
    mem.read(1)
except (OSError, IndexError) as e:
    print(f"memscan: cannot read the memory of process {pid}: {e}", file=sys.stderr)
    sys.exit(77)
for line in maps:
    fields = line.split()
    lo, hi = (int(x, 16) for x in fields[0].split("-"))
    name = fields[5] if len(fields) > 5 else "anonymous"
    if "r" not in fields[1] or name in ("[vvar]", "[vsyscall]"):
        continue
    try:
        mem.seek(lo)
        data = mem.read(hi - lo)
    except OSError:
        continue  # a guard page, a device mapping
    for label, text in needles:
        for m in re.finditer(re.escape(text.encode()), data):
            found.setdefault(label, []).append(f"{lo + m.start():#x} ({name})")
for label, places in found.items():
    print(f"{label}: {len(places)} found, at {', '.join(places[:3])}{'...' if len(places) > 3 else ''}")
sys.exit(1 if found else 0)
