"""Cover downloads against the hostile loopback site: real HTTP, real image decoding."""

from dataclasses import replace

from PIL import Image

from tiktok_top10.crawl.covers import CoverPolicy, download_covers

from .hostile_site import video_id


def policy_for(site, **changes) -> CoverPolicy:
    base = CoverPolicy(allowed_domains=(), backoff_s=0.05, deadline_s=3.0, read_timeout_s=2.0).with_hosts(site.base_url)
    return replace(base, **changes)


def covers(site, *modes: str) -> dict[str, str]:
    return {video_id(n): site.url(f"/covers/{mode}/{video_id(n)}.jpg") for n, mode in enumerate(modes)}


def test_good_covers_are_saved_by_id_and_decode(site, tmp_path):
    wanted = covers(site, "ok", "ok", "redirect-ok")
    report = download_covers(wanted, tmp_path / "thumbnails", policy_for(site))
    assert report.ok == 3 and not report.failures
    for vid in wanted:
        assert str(report.results[vid].path) == f"thumbnails/{vid}.jpg"
        with Image.open(tmp_path / "thumbnails" / f"{vid}.jpg") as image:
            assert image.format == "JPEG" and image.size == (72, 128)


def test_png_named_jpg_is_sniffed_and_saved_as_png(site, tmp_path):
    vid = video_id(0)
    report = download_covers(covers(site, "png"), tmp_path / "thumbnails", policy_for(site))
    assert str(report.results[vid].path) == f"thumbnails/{vid}.png"
    assert not (tmp_path / "thumbnails" / f"{vid}.jpg").exists()
    with Image.open(tmp_path / "thumbnails" / f"{vid}.png") as image:
        assert image.format == "PNG" and image.mode == "RGBA"


def test_non_images_named_jpg_are_rejected(site, tmp_path):
    report = download_covers(covers(site, "html", "truncated"), tmp_path / "t", policy_for(site))
    assert report.failures == {"not_image": 1, "truncated_image": 1}
    assert list((tmp_path / "t").iterdir()) == []


def test_transient_429_and_503_are_retried_until_they_succeed(site, tmp_path):
    wanted = covers(site, "flaky429-2", "flaky503-1")
    report = download_covers(wanted, tmp_path / "t", policy_for(site, attempts=3))
    assert report.ok == 2
    assert [report.results[v].attempts for v in wanted] == [3, 2]


def test_persistent_429_500_and_404_fail_with_their_reason_and_404_is_not_retried(site, tmp_path):
    wanted = covers(site, "429", "500", "404")
    report = download_covers(wanted, tmp_path / "t", policy_for(site, attempts=3))
    assert report.failures == {"http_429": 1, "http_500": 1, "http_404": 1}
    assert [report.results[v].attempts for v in wanted] == [3, 3, 1]
    assert site.hits[f"/covers/404/{video_id(2)}.jpg"] == 1


def test_a_cover_that_never_ends_stops_at_the_size_cap(site, tmp_path):
    wanted = covers(site, "endless", "declared-huge")
    report = download_covers(wanted, tmp_path / "t", policy_for(site, max_bytes=1_000_000, attempts=1))
    assert report.failures == {"too_large": 2}
    assert list((tmp_path / "t").iterdir()) == []


def test_a_trickling_cover_hits_the_deadline(site, tmp_path):
    report = download_covers(covers(site, "trickle"), tmp_path / "t", policy_for(site, deadline_s=1.0, attempts=1))
    assert report.failures == {"timeout": 1}


def test_redirect_to_a_host_off_the_allow_list_is_not_followed(site, tmp_path):
    report = download_covers(covers(site, "redirect-away"), tmp_path / "t", policy_for(site))
    assert report.failures == {"host_not_allowed": 1}
    assert site.hosts["localhost"] == 0  # the redirect target was never requested


def test_hosts_off_the_allow_list_and_missing_urls_are_refused_without_a_request(site, tmp_path):
    wanted = {"1": "http://localhost:9/covers/ok/1.jpg", "2": "file:///etc/passwd", "3": ""}
    report = download_covers(wanted, tmp_path / "t", policy_for(site))
    assert report.failures == {"host_not_allowed": 2, "no_cover_url": 1}


def test_default_allow_list_is_tiktok_cdns():
    policy = CoverPolicy()
    assert policy.allows("https://p16-sign-va.tiktokcdn.com/obj/cover.jpeg")
    assert policy.allows("https://p77-sign-sg.tiktokcdn-us.com/x")
    assert not policy.allows("https://tiktokcdn.com.evil.example/x")
    assert not policy.allows("https://eviltiktokcdn.com/x")
    assert policy.with_hosts("http://127.0.0.1:8765/discover/x").allows("http://127.0.0.1:8765/covers/a.jpg")
