"""A NAB detector for trying variants of the rcf stream's scoring step.

``benchmarks/nab_score.py`` runs it as the detector command
environment variables
choose the variant, so one forest's raw displacements (cached under
``$NAB_CACHE``, default ``/tmp/nab-cache``, by forest settings and series) serve
many scoring steps:

    python benchmarks/nab_score.py --detector exp --jobs 2 \
        --command "env AVG=1 TWO=1 python benchmarks/nab_variants.py"

Forest: ``W`` points a tree (256), ``S`` shingle (32), ``T`` trees (40), ``SEED`` (0).
Likelihood: ``L`` history (8640), ``SH`` short window (10), ``PROB`` probation (300),
``MINSD`` (1e-3)
``AVG=1`` the distribution of the short-window means (HTM's),
``TWO=1`` a two-sided tail, ``REEST=k`` re-estimated every k records, ``SKIP``
leading records left out of it, ``FILT=1`` HTM's red/yellow filter. Range rule:
``RT`` tolerance (0.02), ``WARM`` records before it applies (100). The defaults are
the rcf stream's scoring step, written out record by record (NAB's standard profile
on the 24 series of ``../shared/nab``: 51.06, as the command).
"""
import hashlib
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
E = os.environ
SEED = int(E.get("SEED", 0))
W = int(E.get("W", 256))
S = int(E.get("S", 32))
T = int(E.get("T", 40))
RT = float(E.get("RT", 0.02))
WARM = int(E.get("WARM", 100))
L = int(E.get("L", 8640))
SH = int(E.get("SH", 10))
PROB = int(E.get("PROB", 300))
MINSD = float(E.get("MINSD", 1e-3))
AVG = E.get("AVG", "0") == "1"        # distribution of the 10-averages (HTM)
TWO = E.get("TWO", "0") == "1"        # two-sided tail (HTM)
FILT = E.get("FILT", "0") == "1"      # HTM red/yellow filter
REEST = int(E.get("REEST", 1))        # re-estimate every REEST records
SKIP = int(E.get("SKIP", 0))          # leading records left out of the distribution
text = sys.stdin.read()
lines = text.split()
x = np.array([float(v) for v in lines[1:]])
n = len(x)
settings = f"{W},{S},{T},{SEED}" if SEED else f"{W},{S},{T}"
key = hashlib.sha1(settings.encode() + text.encode()).hexdigest()
cache = E.get("NAB_CACHE", "/tmp/nab-cache")
os.makedirs(cache, exist_ok=True)
cp = os.path.join(cache, f"{key}.npy")
if os.path.exists(cp):
    raw = np.load(cp)
else:
    from isoforest import RandomCutForest
    m = RandomCutForest(n_estimators=T, tree_size=W, shingle_size=S, random_state=SEED)
    raw = m.score_learn(x[:, None])
    np.save(cp, raw)
c = np.concatenate([[0.0], np.cumsum(raw)])
avg = np.empty(n)
for i in range(n):
    b = max(0, i - SH + 1)
    avg[i] = (c[i + 1] - c[b]) / (i + 1 - b)
base = avg if AVG else raw
cb = np.concatenate([[0.0], np.cumsum(base)])
cb2 = np.concatenate([[0.0], np.cumsum(base * base)])
tail = np.ones(n)
mu = sd = None
for i in range(n):
    if i < PROB:
        continue
    if mu is None or i % REEST == 0:
        a = max(SKIP, i - L)
        k = max(i - a, 1)
        mu = (cb[i] - cb[a]) / k
        var = max((cb2[i] - cb2[a]) / k - mu * mu, 0.0)
        sd = max(math.sqrt(var), MINSD)
    z = (avg[i] - mu) / sd
    if TWO:
        z = abs(z)
    tail[i] = 0.5 * math.erfc(z / math.sqrt(2))
if FILT:
    f = tail.copy()
    for i in range(1, n):
        if tail[i] <= 1e-5 and tail[i - 1] <= 1e-5:
            f[i] = 1e-3
    tail = f
score = np.clip(np.log(tail + 1e-10) / -23.02585092994046, 0, 1)
score[:PROB] = 0
lo = np.minimum.accumulate(x)
hi = np.maximum.accumulate(x)
blo = np.concatenate([[np.inf], lo[:-1]])
bhi = np.concatenate([[-np.inf], hi[:-1]])
w = bhi - blo
with np.errstate(invalid="ignore"):
    out = (x > bhi + RT * w) | (x < blo - RT * w)
out &= np.arange(n) >= WARM
score[out] = 1.0
sys.stdout.write("anomaly_score,is_anomaly\n" + "".join(f"{s:.12g},0\n" for s in score))
