#!/usr/bin/env python3
# Adds every symbol the build reports as RS0016 (not part of the declared public API) to its project's
# PublicAPI.Unshipped.txt. Run it after a deliberate public API change, then review the diff:
#   python3 eng/publicapi-add.py src/Lifeline.Server/Lifeline.Server.csproj
import re, subprocess, sys
proj = sys.argv[1]
for attempt in range(5):
    out = subprocess.run(["dotnet","build",proj,"-c","Release","-v","q","-nologo"],capture_output=True,text=True).stdout
    syms = {}
    for m in re.finditer(r"^(/\S+?\.cs)\(\d+,\d+\): error RS0016: Symbol '(.+?)' is not part of the declared public API.*\[(/\S+\.csproj)\]", out, re.M):
        syms.setdefault(m.group(3), set()).add(m.group(2))
    if not syms:
        errs = [l for l in out.splitlines() if " error " in l]
        print(proj, "done after", attempt, "rounds;", len(set(errs)), "other errors"); [print(e) for e in sorted(set(errs))[:5]]
        break
    for csproj, s in syms.items():
        d = csproj.rsplit('/',1)[0]
        p = d + "/PublicAPI.Unshipped.txt"
        lines = set(open(p).read().splitlines()) - {"#nullable enable"}
        lines |= s
        open(p,'w').write("#nullable enable\n" + "\n".join(sorted(lines, key=lambda x: x.lstrip('~'))) + "\n")
        print(csproj, "+", len(s))
