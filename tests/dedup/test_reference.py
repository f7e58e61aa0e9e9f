"""On the real covers (../shared/reference): the template-series covers the original removed on 2026-01-10 are
not merged with any other real video, and same-id covers on two days are grouped."""

from __future__ import annotations

import pytest
from dedup_covers import SEED_CRAWLS

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SEED_CRAWLS.is_dir(), reason=f"reference covers absent: {SEED_CRAWLS}"),
]


def test_template_series_is_not_merged(lite_fingerprinter):
    from tiktok_top10.dedup.calibration import thresholds
    from tiktok_top10.dedup.evaluation import pair_metrics, reference_covers
    from tiktok_top10.dedup.grouping import group_duplicates
    from tiktok_top10.dedup.verify import verifier

    covers = [c for c in reference_covers(SEED_CRAWLS)
              if c.origin == "duplicates_storage" or "2026-01-1" in str(c.path) and c.origin == "top10"]
    assert sum(c.origin == "duplicates_storage" for c in covers) == 6
    result = lite_fingerprinter.fingerprint([c.path for c in covers])
    assert len(result) == len(covers) and not result.skipped
    threshold, min_inliers, min_agreement = thresholds("efficientnet-lite0")
    groups, _ = group_duplicates(
        result.globals, threshold, verify=verifier(result.keypoints, min_inliers, min_agreement)
    )
    metrics = pair_metrics([c.video_id for c in covers], groups)
    assert metrics["distinct_video_merges"] == 0, metrics["merged"]
    # the same video crawled on 2026-01-10, -11 and -13 is found again
    assert metrics["recall"] > 0.9
