"""Mail import throughput and memory: a synthetic header-only mbox (plus short bodies) imported end to end.

Peer measured in the same run: a plain line scan of the same file (`for line in fh`), the floor any streaming
mbox reader pays. Memory: peak RSS after a small and a large import in this one process; the growth between
them, per message, extrapolates to 1M messages (ru_maxrss only grows, so the large run comes second).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from influence.bench import peak_rss_mib


def write_mbox(path: Path, n_messages: int, seed: int = 0) -> int:
    """Write a realistic synthetic mbox: 40 accounts, threads of 1-8 replies with References, Cc, bodies."""
    rng = random.Random(seed)
    accounts = [f"account{i}.example" for i in range(40)]
    sellers = [f"rep{i}@vendor.example" for i in range(12)]
    t = 1_700_000_000
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < n_messages:
            domain = rng.choice(accounts)
            buyers = [f"person{j}@{domain}" for j in rng.sample(range(30), 4)]
            rep = rng.choice(sellers)
            root = f"<t{written}.{seed}@vendor.example>"
            # Threads start anywhere in three years; replies follow within hours.
            t = 1_600_000_000 + rng.randint(0, 3 * 365 * 86_400)
            refs: list[str] = []
            for k in range(min(rng.randint(1, 8), n_messages - written)):
                t += rng.randint(60, 36_000)
                frm, to = (rep, buyers[0]) if k % 2 == 0 else (buyers[k % 4], rep)
                mid = root if k == 0 else f"<r{written}.{seed}@{frm.split('@')[1]}>"
                date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
                fh.write(f"From {frm} {time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime(t))}\n")
                fh.write(
                    f'From: "Person {frm.split("@")[0]}" <{frm}>\nTo: {to}\nCc: {buyers[1]}, {buyers[2]}\n'
                )
                fh.write(
                    f"Date: {date}\nMessage-ID: {mid}\nSubject: {'Re: ' if k else ''}Proposal {written}\n"
                )
                if refs:
                    fh.write(f"In-Reply-To: {refs[-1]}\nReferences: {' '.join(refs[-5:])}\n")
                fh.write("X-Mailer: synthetic\n\n")
                fh.write("Hello,\n\nplease find the details below.\n>From the team\n\nRegards\n\n")
                refs.append(mid)
                written += 1
    return path.stat().st_size


def _scan(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        for _ in fh:
            pass
    return time.perf_counter() - t0


def run(quick: bool) -> dict[str, Any]:
    """Import a small and a large synthetic mbox; messages/s, scan ratio, peak RSS and a 1M extrapolation."""
    from influence.importers import import_mbox

    small, large = (5_000, 20_000) if quick else (20_000, 200_000)
    base = peak_rss_mib()
    results: dict[str, Any] = {"sizes": [small, large], "baseline_rss_mib": round(base, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for n in (small, large):
            mbox = Path(tmp) / f"{n}.mbox"
            size = write_mbox(mbox, n)
            scan = min(_scan(mbox) for _ in range(2))
            t0, c0 = time.perf_counter(), time.process_time()
            report = import_mbox([mbox], Path(tmp) / f"out{n}", seller_domains=["vendor.example"],
                                 account_domains=[f"account{i}.example" for i in range(40)])  # fmt: skip
            seconds = time.perf_counter() - t0
            cpu = time.process_time() - c0
            rows.append(
                {
                    "messages": n,
                    "file_mib": round(size / 2**20, 1),
                    "seconds": round(seconds, 2),
                    "messages_per_s": round(n / seconds),
                    "cpu_seconds": round(cpu, 2),
                    "messages_per_cpu_s": round(n / cpu),
                    "line_scan_seconds": round(scan, 3),
                    "import_over_scan": round(seconds / scan, 1),
                    "peak_rss_mib": round(peak_rss_mib(), 1),
                    "imported": report.imported,
                    "rejected": report.rejected,
                    "tables": report.tables,
                }
            )
            mbox.unlink()
        results["runs"] = rows
    per_message_kib = (rows[1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]) * 1024 / (large - small)
    results["rss_growth_kib_per_message"] = round(per_message_kib, 3)
    results["extrapolated_1m_peak_rss_mib"] = round(
        rows[1]["peak_rss_mib"] + per_message_kib * (1_000_000 - large) / 1024
    )
    results["extrapolated_1m_seconds"] = round(1_000_000 / rows[1]["messages_per_s"])
    results["extrapolated_1m_cpu_seconds"] = round(1_000_000 / rows[1]["messages_per_cpu_s"])
    return results
