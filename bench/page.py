"""The verify page's speed: from upload to verdict through POST /api/verify, against `provenance verify`.

Signs a 5 MB clip and a large one (default 500 MB; cached under bench/.cache/page/), serves the page
in this process (uvicorn on 127.0.0.1), and measures in the same run, best of --repeat each:

- cli: `provenance verify --format json --no-recovery FILE` as a process (what a person would run);
- library: `Verifier.verify(FILE)` in this process (the same call, without interpreter start-up);
- upload: the same bytes POSTed to an endpoint that only streams them to a temporary file, with the
  page's own upload code (provenance.durability.resolution_api.save_body): the cost of moving the file;
- page: POST /api/verify (format=json: the verdict) and format=page (the verdict, its plain words and the
  poster frame), from the first byte sent to the answer read.

Prints each time and the ratios page / cli and (page - upload) / library; target: page ≤ 1.2 × verify plus the
upload. Then the page's weight (target < 200 KB uncompressed).

    python bench/page.py [--large-mb 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import Request

from provenance.durability.resolution_api import save_body
from provenance.keys.pki import DevPki

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache" / "page"
sys.path.insert(0, str(ROOT))


def ffmpeg(*args: object) -> None:
    from tests.support.clips import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def signed_clip(megabytes: int, pki: DevPki) -> Path:
    """A signed clip of about `megabytes` MB (cached): ten seconds of 720p at a high bit rate, looped."""
    out = CACHE / f"signed-{megabytes}mb.mp4"
    if out.is_file():
        return out
    from tests.support.clips import sign_file

    unit = CACHE / "unit-10s.mp4"  # about 50 MB
    if not unit.is_file():
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", 10, "-c:v", "libx264", "-preset",
               "ultrafast", "-b:v", "40M", "-maxrate", "40M", "-bufsize", "80M", "-pix_fmt", "yuv420p", unit)
    loops = max(1, round(megabytes * 1e6 / unit.stat().st_size))
    plain = CACHE / f"plain-{megabytes}mb.mp4"
    if megabytes * 1e6 < unit.stat().st_size:
        ffmpeg("-i", unit, "-fs", int(megabytes * 1e6), "-c", "copy", plain)
    else:
        ffmpeg("-stream_loop", loops - 1, "-i", unit, "-c", "copy", plain)
    sign_file(plain, out, pki, generator="Sora", generator_version="2")
    plain.unlink()
    return out


async def upload_only(request: Request) -> dict[str, int]:
    """Stream the body to a temporary file with the page's own upload code, and nothing else."""
    with tempfile.TemporaryDirectory() as work:
        return {"bytes": await save_body(request, Path(work) / "upload")}


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mb", type=int, default=500, help="size of the large clip in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import httpx
    from fastapi import FastAPI

    from provenance.keys.pki import init_dev_pki
    from provenance.page.app import PageSettings
    from provenance.trust.anchors import load_anchors
    from provenance.verify import Verifier
    from tests.support.page import serve_app, serve_page

    CACHE.mkdir(parents=True, exist_ok=True)
    pki_dir = CACHE / "pki"
    pki = DevPki(pki_dir / "root-ca.pem", pki_dir / "signer-chain.pem", pki_dir / "signer.key", "es256") \
        if (pki_dir / "signer.key").is_file() else init_dev_pki(pki_dir, org="Bench")
    clips = {"5 MB": signed_clip(5, pki), f"{args.large_mb} MB": signed_clip(args.large_mb, pki)}
    verifier = Verifier(load_anchors(pki.root_ca))
    limit = max(p.stat().st_size for p in clips.values()) + (1 << 20)

    sink = FastAPI()
    sink.add_api_route("/upload", upload_only, methods=["POST"])

    client = httpx.Client(timeout=600)  # one connection pool, as a browser keeps one

    def post(url: str, path: Path, **params: str) -> None:
        with open(path, "rb") as body:
            response = client.post(url, params=params, content=body,
                                  headers={"content-type": "application/octet-stream",
                                           "content-length": str(path.stat().st_size)})
        response.raise_for_status()

    cli = [sys.executable, "-m", "provenance_cli.main", "verify", "--format", "json", "--no-recovery",
           "--trust-anchors", str(pki.root_ca)]
    rows = []
    with serve_page(PageSettings(verifier=verifier, max_upload=limit, recovery=False)) as page, \
            serve_app(sink) as sink_url:
        for name, clip in clips.items():
            post(f"{page}/api/verify", clip)  # warm: c2pa loaded, the file in the page cache
            run_cli = functools.partial(subprocess.run, [*cli, str(clip)], check=True, capture_output=True)
            times = {
                "cli": best(args.repeat, run_cli),
                "library": best(args.repeat, functools.partial(verifier.verify, clip)),
                "upload": best(args.repeat, functools.partial(post, f"{sink_url}/upload", clip)),
                "page json": best(args.repeat, functools.partial(post, f"{page}/api/verify", clip)),
                "page report": best(args.repeat, functools.partial(post, f"{page}/api/verify", clip, format="page")),
            }
            rows.append((name, times))

    print(f"{'clip':>8} {'cli':>8} {'library':>8} {'upload':>8} {'page':>8} {'report':>8}  "
          f"{'page/cli':>8} {'(page-upload)/library':>22} {'report/cli':>10}")
    for name, t in rows:
        print(f"{name:>8} {t['cli']:8.3f} {t['library']:8.3f} {t['upload']:8.3f} {t['page json']:8.3f} "
              f"{t['page report']:8.3f}  {t['page json'] / t['cli']:8.2f} "
              f"{(t['page json'] - t['upload']) / t['library']:22.2f} {t['page report'] / t['cli']:10.2f}")
    print(f"(seconds, best of {args.repeat}; target: (page - upload) / library <= 1.2)")

    static = ROOT / "provenance" / "page" / "static"
    files = sorted(static.iterdir())
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes())) for p in files)
    print(f"page weight: {raw / 1024:.1f} KB uncompressed ({packed / 1024:.1f} KB gzip) in {len(files)} files "
          f"({', '.join(p.name for p in files)}); target < 200 KB; no external requests (CSP default-src 'none')")


if __name__ == "__main__":
    main()
