"""Timing for the course notebooks: one helper, :func:`compare_timings`, that states the lecture's
ordering only when the measurement supports it.

On a shared machine a plain median of a few calls can show the reverse of the slide (at load 8.8 on
two cores, depthwise-separable 168 ms against standard 104 ms, while one idle thread gives 1.7 against
25.8 ms). So the helper: runs on one thread (``torch.set_num_threads(1)`` inside a context, restored
after), so that another process costs a whole core or nothing rather than stalling a parallel region;
interleaves the candidates round by round (:func:`convzoo.analysis.timing.interleaved_times`), so that
a burst of load hits all of them; reports each candidate's median with its interquartile range; and
says the lecture's ordering holds only when each faster candidate's third quartile lies below the next
one's first quartile. When the spreads overlap it says "too noisy here to tell", never a guess.
"""
from __future__ import annotations

import re
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .analysis.timing import interleaved_times

_TEXT = {
    "en": {"head": "one thread, {rounds} interleaved rounds of {per} call(s) each: median [interquartile range]",
           "lecture": "Lecture: {order}.",
           "holds": "Measured here: as in the lecture (the spreads do not overlap).",
           "noisy": "Measured here: too noisy here to tell (the spreads overlap); run the cell again on a quieter "
                    "machine.",
           "reverse": "Measured here: the opposite of the lecture ({order}), and the spreads do not overlap.",
           "none": "(The lecture makes no claim about their speed.)"},
    "es": {"head": "un hilo, {rounds} rondas intercaladas de {per} llamada(s): mediana [rango intercuartílico]",
           "lecture": "Clase: {order}.",
           "holds": "Medido aquí: como en la clase (los intervalos no se solapan).",
           "noisy": "Medido aquí: demasiado ruido aquí para saberlo (los intervalos se solapan); vuelve a "
                    "ejecutar la celda en una máquina más tranquila.",
           "reverse": "Medido aquí: lo contrario de la clase ({order}), y los intervalos no se solapan.",
           "none": "(La clase no afirma nada sobre su velocidad.)"},
}
# the words a test (or a reader) looks for in the output, per verdict and language
VERDICT_WORDS = {"holds": {"en": "as in the lecture", "es": "como en la clase"},
                 "noisy": {"en": "too noisy here to tell", "es": "demasiado ruido aquí para saberlo"},
                 "reverse": {"en": "the opposite of the lecture", "es": "lo contrario de la clase"}}


@contextmanager
def threads(n: int = 1) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``n`` inside the block, restored after."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    q1_ms: float
    q3_ms: float


@dataclass(frozen=True)
class TimingReport:
    """What :func:`compare_timings` measured and concluded: ``verdict`` is "holds", "noisy", "reverse"
    or "" (no ordering claimed). Shows nothing under a notebook cell (the text was printed)."""
    timings: dict
    lecture: tuple
    verdict: str
    text: str

    def _ipython_display_(self) -> None:
        pass


def _quartiles(xs: list) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[1], q[2]


def number(value, lang: str = "en", spec: str = ",") -> str:
    """``format(value, spec)`` written the page language's way, for the notebooks' printed numbers:
    English 1,572,864 and 0.1131; Spanish 1 572 864 (no-break spaces between thousands from five digits
    on, none in four: 8832) and 0,1131. ``spec`` is a format spec without width (align the result)."""
    text = format(value, spec)
    if lang != "es":
        return text
    m = re.match(r"^([+-]?)([\d,]+)(.*)$", text)
    if not m:
        return text.replace(".", ",")
    sign, whole, rest = m.groups()
    whole = whole.replace(",", "")
    if "," in spec and len(whole) > 4:
        whole = "\u00a0".join(whole[max(0, i - 3):i] for i in range(len(whole), 0, -3)[::-1])
    return sign + whole + rest.replace(".", ",")


def _ms(v: float, lang: str) -> str:
    return number(v, lang, f".{0 if v >= 100 else 1 if v >= 10 else 2 if v >= 0.1 else 3}f")


def verdict(timings: dict, lecture: Sequence[str]) -> str:
    """"holds" when every candidate in ``lecture`` (fastest first) has its third quartile below the
    next one's first quartile; "reverse" when some pair is separated the other way; else "noisy"."""
    if len(lecture) < 2:
        return ""
    pairs = [(timings[a], timings[b]) for a, b in zip(lecture, lecture[1:])]
    if all(fast.q3_ms < slow.q1_ms for fast, slow in pairs):
        return "holds"
    if any(slow.q3_ms < fast.q1_ms for fast, slow in pairs):
        return "reverse"
    return "noisy"


def compare_timings(candidates: dict[str, Callable[[], object]], lecture: Sequence[str] = (), *,
                    lang: str = "en", rounds: int = 8, budget_s: float = 1.5, num_threads: int = 1,
                    quiet: bool = False) -> TimingReport:
    """Time each no-argument callable in ``candidates`` on ``num_threads`` thread(s), interleaved over
    ``rounds`` rounds, and print median [IQR] ms per candidate and whether the lecture's ordering
    ``lecture`` (names, fastest first) holds, is too noisy to tell, or is reversed.

    The calls per round are chosen so the whole measurement takes about ``budget_s`` seconds (at least
    one call per round, at most 20), after one untimed warm-up call of each candidate."""
    unknown = [k for k in lecture if k not in candidates]
    if unknown:
        raise KeyError(f"lecture names {unknown} are not among the candidates {list(candidates)}")
    text = _TEXT.get(lang, _TEXT["en"])
    with threads(num_threads):
        for fn in candidates.values():          # warm-up (the first call allocates, picks kernels)
            fn()
        t0 = time.perf_counter()
        for fn in candidates.values():          # the cost of one call of each
            fn()
        one_each = max(time.perf_counter() - t0, 1e-6)
        per = max(1, min(20, int(budget_s / (rounds * one_each))))
        raw = interleaved_times(candidates, warmup=0, runs=rounds * per, rounds=rounds, settle_s=0.0)
    timings = {}
    for name, per_round in raw.items():
        q1, med, q3 = _quartiles([t * 1e3 for r in per_round for t in r])
        timings[name] = Timing(med, q1, q3)
    width = max(len(k) for k in candidates)
    lines = [text["head"].format(rounds=rounds, per=per)]
    lines += [f"  {k:{width}s}  {_ms(t.median_ms, lang)} ms [{_ms(t.q1_ms, lang)}, {_ms(t.q3_ms, lang)}]"
              for k, t in timings.items()]
    found = verdict(timings, lecture)
    if found:
        lines.append(text["lecture"].format(order=" < ".join(lecture)))
        lines.append(text[found].format(order=" > ".join(lecture)))
    else:
        lines.append(text["none"])
    report = TimingReport(timings, tuple(lecture), found, "\n".join(lines))
    if not quiet:
        print(report.text)
    return report
