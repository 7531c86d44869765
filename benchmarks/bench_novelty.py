"""Copy-check speed: the suffix-array build on the 5 MB Shakespeare corpus, the cached load, and a
2,000-character sample's query (issue 13, item 7: at most 2 s in all with the cached index).

    python benchmarks/bench_novelty.py            # the built-in corpus (rnngen corpus get shakespeare)
    python benchmarks/bench_novelty.py FILE       # any text file
"""

from __future__ import annotations

import random
import sys
import time

from rnngen.corpus import load_corpus
from rnngen.novelty import CorpusIndex, _index_path


def main() -> None:
    text = load_corpus(sys.argv[1] if len(sys.argv) > 1 else "shakespeare").text
    rng = random.Random(0)
    start = rng.randrange(len(text) - 300)
    words = text[:200_000].split()
    made_up = " ".join(rng.choice(words) for _ in range(400))
    sample = (made_up[:850] + text[start : start + 300] + made_up[850:])[:2000]  # a planted 300-char copy

    t0 = time.perf_counter()
    index = CorpusIndex(text, cache=False)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = index.check(sample)
    query = time.perf_counter() - t0

    path = _index_path(text)
    if not path.exists():
        CorpusIndex(text)  # writes the cache
    t0 = time.perf_counter()
    cached = CorpusIndex(text)
    cached.check(sample)
    total_cached = time.perf_counter() - t0

    assert report.longest is not None
    print(f"corpus            {len(text):,} chars")
    print(f"index build       {build:.2f} s (no cache)")
    print(f"query             {query:.3f} s for a {len(sample):,}-char sample")
    print(f"cached load+query {total_cached:.3f} s")
    print(f"build + query     {build + query:.2f} s (first run, writing the cache)")
    print(
        f"longest stretch   {report.longest.length} chars at corpus char {report.longest.corpus_offset:,} "
        f"(planted at {start:,}); copied share {report.copied_share:.1%}"
    )


if __name__ == "__main__":
    main()
