"""How well the error matcher answers real errors: ``make matcher-eval``.

Runs the matcher (:mod:`cookbook.errors`, on the index of the last ``make html``) on every case of
the corpus of real reports (:mod:`cookbook.reports`, ``tests/data/reports/``; the messages of
``tests/data/errors/`` are cases of it, ``source: tests/data/errors``) and prints, per split:

- for the covered cases (a recipe answers them): how often a right recipe comes first (top-1), how
  often one is among the first three (top-3), and how often the matcher wrongly says "no match";
- for the uncovered cases (``recipes: none``): how often the matcher says "no match" (abstains).

The split and the judgments were committed before any tuning (PROTOCOL.md): tune on ``tune``,
report ``heldout``. ``--cases`` lists each case with what the matcher answered.

With ``--timing`` it also measures the troubleshooting page's answer time in headless Chromium:
from the ``input`` event of the last keystroke to the updated answer, with the full index.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass

from cookbook import GALLERY_DIR, REPO_ROOT
from cookbook.errors import NO_MATCH_BELOW
from cookbook.explain import load_matcher
from cookbook.reports import SPLITS, Report, load_reports


def page_of(recipe: str) -> str:
    """The built page of a recipe given relative to ``recipes/``."""
    section, name = recipe.strip().rsplit("/", 1)
    return f"{GALLERY_DIR}/{section}/{name.removesuffix('.py')}.html"


@dataclass
class Outcome:
    report: Report
    pages: list[str]  # the recipes the matcher proposes, best first; empty when it says "no match"
    score: float  # the best score (0 when nothing shares a feature)

    @property
    def abstained(self) -> bool:
        return not self.pages

    @property
    def right(self) -> set[str]:
        return {page_of(recipe) for recipe in self.report.recipes}

    @property
    def top1(self) -> bool:
        return bool(self.pages) and self.pages[0] in self.right

    @property
    def top3(self) -> bool:
        return bool(self.right & set(self.pages[:3]))


def evaluate(matcher, reports: list[Report]) -> list[Outcome]:
    outcomes = []
    for report in reports:
        answer = matcher.answer(report.message, limit=3) if hasattr(matcher, "answer") else None
        if answer is not None:
            pages = [] if answer.no_match else [m.page for m in answer.matches]
            score = answer.confidence
        else:
            matches = matcher.match(report.message, limit=3)
            pages, score = [m.page for m in matches], (matches[0].score if matches else 0.0)
        outcomes.append(Outcome(report, pages, score))
    return outcomes


def _share(part: int, whole: int) -> str:
    return f"{part:2d}/{whole:2d} ({100 * part / whole:3.0f}%)" if whole else "  -"


def figures(outcomes: list[Outcome]) -> list[str]:
    lines = [f"{'split':8} {'covered: top-1':>16} {'top-3':>14} {'wrong no-match':>16}   {'uncovered: no-match':>20}"]
    for split in (*SPLITS, "all"):
        part = [o for o in outcomes if split == "all" or o.report.split == split]
        covered = [o for o in part if o.report.covered]
        uncovered = [o for o in part if not o.report.covered]
        lines.append(f"{split:8} {_share(sum(o.top1 for o in covered), len(covered)):>16} "
                     f"{_share(sum(o.top3 for o in covered), len(covered)):>14} "
                     f"{_share(sum(o.abstained for o in covered), len(covered)):>16}   "
                     f"{_share(sum(o.abstained for o in uncovered), len(uncovered)):>20}")
    from_errors = [o for o in outcomes if o.report.source == "tests/data/errors"]
    if from_errors:
        lines.append(f"tests/data/errors ({len(from_errors)} cases, both splits): top-1 "
                     f"{_share(sum(o.top1 for o in from_errors), len(from_errors))}, top-3 "
                     f"{_share(sum(o.top3 for o in from_errors), len(from_errors))}")
    return lines


def case_lines(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        if o.report.covered:
            verdict = "TOP1" if o.top1 else "top3" if o.top3 else "NO-MATCH(wrong)" if o.abstained else "miss"
        else:
            verdict = "no-match(right)" if o.abstained else "ANSWERED"
        shown = ", ".join(p.split("/", 1)[1].removesuffix(".html") for p in o.pages) or "-"
        lines.append(f"{o.report.split:7} {verdict:16} {o.score:5.2f} {o.report.path.name}: {shown}")
    return lines


def answer_time_ms(queries: list[str], runs: int = 5) -> list[float]:
    """Milliseconds from the ``input`` event of the last keystroke to the updated answer (its sentence and list), in
    headless Chromium on the built troubleshooting page, one figure per query (the median of ``runs``)."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from support.site_server import browser, serve

    measure = """async text => {
      const box = document.getElementById('error-matcher-input');
      const answer = document.getElementById('error-matcher-answer');
      box.value = text.slice(0, -1);
      box.dispatchEvent(new Event('input'));
      await new Promise(r => setTimeout(r, 0));
      return await new Promise(resolve => {
        let start = 0;
        const observer = new MutationObserver(() => { observer.disconnect(); resolve(performance.now() - start); });
        observer.observe(answer, {childList: true, subtree: true, characterData: true});
        box.value = text;
        start = performance.now();
        box.dispatchEvent(new InputEvent('input', {data: text.slice(-1), inputType: 'insertText'}));
      });
    }"""
    times = []
    with serve() as base, browser() as chromium:
        page = chromium.new_page()
        page.goto(base + "troubleshooting.html")
        page.wait_for_function("() => window.cookbookErrorMatcher !== undefined")
        for text in queries:
            times.append(statistics.median(page.evaluate(measure, text) for _ in range(runs)))
        page.close()
    return times


def calibrate(matcher, reports: list[Report]) -> tuple[float, list[str]]:
    """The "no match" threshold that the ``tune`` half supports: among those that decline at most 10%
    of the covered cases, the one that maximises the mean of two shares, the covered cases answered
    with a right recipe in the top 3 and the uncovered cases declined (ties: the lowest).

    The mean of the shares, not the sum of the counts: the tune half holds ten covered cases for
    each uncovered one, and a sum would let the covered cases decide alone (any threshold that
    answers one more covered case would win over declining every uncovered one)."""
    answers = [(r, matcher.answer(r.message, limit=3, threshold=0.0)) for r in reports if r.split == "tune"]
    covered = sum(r.covered for r, _ in answers)
    uncovered = len(answers) - covered
    lines, best = [], (-1.0, 0.0)
    for step in range(0, 101, 5):
        threshold = step / 100
        wrong = right = abstained = 0
        for r, a in answers:
            declined = not a.matches or a.confidence < threshold
            if r.covered:
                wrong += declined
                right += not declined and bool({page_of(x) for x in r.recipes} & {m.page for m in a.matches[:3]})
            else:
                abstained += declined
        lines.append(f"  threshold {threshold:.2f}: covered top-3 answered {right}, wrongly declined {wrong}, "
                     f"uncovered declined {abstained}")
        balanced = (right / covered if covered else 0.0) / 2 + (abstained / uncovered if uncovered else 0.0) / 2
        if wrong <= 0.1 * covered and balanced > best[0]:
            best = (balanced, threshold)
    return best[1], lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.matcher_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", action="store_true", help="list every case with the matcher's answer")
    parser.add_argument("--split", choices=SPLITS, help="with --cases: list only this split's cases")
    parser.add_argument("--calibrate", action="store_true", help="print the threshold the tune half supports")
    parser.add_argument("--timing", action="store_true", help="also measure the page's answer time in Chromium")
    args = parser.parse_args(argv)
    reports = load_reports()
    matcher = load_matcher()
    if args.calibrate:
        threshold, lines = calibrate(matcher, reports)
        print("\n".join(lines))
        print(f"calibrated on tune: no match below {threshold:.2f} (cookbook.errors.NO_MATCH_BELOW = {NO_MATCH_BELOW})\n")
    outcomes = evaluate(matcher, reports)
    if args.cases:
        print("\n".join(case_lines([o for o in outcomes if not args.split or o.report.split == args.split])))
        print()
    print("\n".join(figures(outcomes)))
    if args.timing:
        times = answer_time_ms([r.message for r in reports])
        print(f"page answer time (last keystroke's input event to updated answer, {len(times)} pastes): "
              f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
