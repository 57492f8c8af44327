"""The benchmark's import figure: a CSV of realistic contacts uploaded through the gateway (multipart,
as a browser sends it), timed from the POST until the import job completes; then until the contacts
service's outbox has published every event it wrote, and until search finds the last row.

The rows are bench-only: Chinese and Western names, emails, mobile and landline phones, cities,
lifecycle stages, `;`-separated tags, and a share of rows repeating an earlier one (dedupe: skip).
"""

import csv
import http.client
import io
import json
import os
import random
import time
import urllib.parse
import uuid

from tests.bench import cpu

IMPORT_TARGET_SECONDS = 60.0
POLL_SECONDS = 0.5
IMPORT_TIMEOUT_SECONDS = 1800.0
# How long to wait after the job for the outbox and search (BENCH_DRAIN_SECONDS; 0: not at all).
DRAIN_TIMEOUT_SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS") or 1800.0)
DUPLICATE_SHARE = 0.02

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鹏飞宇浩然欣怡子涵梓轩思雨晨阳佳琪"
WESTERN_FIRST = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Susan Richard Jessica "
    "Thomas Sarah Charles Karen Daniel Nancy Anna Lukas Sophie Pierre Camille"
).split()
WESTERN_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez Lopez Wilson Anderson Taylor Moore Martin "
    "Müller Schmidt Dubois Rossi O'Brien"
).split()
STAGES = ("lead", "subscriber", "customer", "opportunity", "marketing_qualified")
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "成都", "Shenzhen", "Hong Kong", "Singapore", "London")
TAGS = ("vip", "展会2024", "newsletter", "华东", "华南", "partner", "wechat")
HEADER = ("姓", "名", "邮箱", "手机", "城市", "阶段", "标签", "职位")
MAPPING = {
    "姓": "last_name",
    "名": "first_name",
    "邮箱": "email",
    "手机": "phone",
    "城市": "address.city",
    "阶段": "lifecycle_stage",
    "标签": "tags",
    "职位": "title",
}


def contact_rows(count: int, seed: int = 7) -> tuple[str, int]:
    """The CSV text of `count` data rows and how many of them repeat an earlier row."""
    rnd = random.Random(seed)
    run = uuid.uuid4().hex[:6]  # a second bench run against old data must not meet its own rows
    rows: list[list[str]] = []
    repeats = 0
    for i in range(count):
        if rows and rnd.random() < DUPLICATE_SHARE:
            rows.append([*rnd.choice(rows)[:5], "customer", "", ""])
            repeats += 1
            continue
        if rnd.random() < 0.7:
            last, first = rnd.choice(SURNAMES), "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
            email = f"u{i}.{run}@example.cn"
            phone = f"1{rnd.choice('3578')}{rnd.randrange(10**9):09d}"
        else:
            first, last = rnd.choice(WESTERN_FIRST), rnd.choice(WESTERN_LAST)
            email = f"{first.lower()}.{i}.{run}@example.com"
            phone = f"+44 20 {rnd.randrange(10**4):04d} {rnd.randrange(10**4):04d}"
        tags = ";".join(rnd.sample(TAGS, rnd.choice((0, 1, 2))))
        title = "经理" if rnd.random() < 0.2 else ""
        rows.append([last, first, email, phone, rnd.choice(CITIES), rnd.choice(STAGES), tags, title])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue(), repeats


def multipart(fields: dict[str, str], file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Http:
    def __init__(self, base_url: str, headers: dict[str, str]):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.headers = parsed.hostname or "127.0.0.1", parsed.port or 80, headers

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, raw
        finally:
            connection.close()

    def json(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
        status, raw = self.request(method, path, body, content_type)
        return status, json.loads(raw) if raw else None


def _outbox_backlog(metrics_url: str) -> float | None:
    status, raw = Http(metrics_url, {}).request("GET", "/metrics")
    if status != 200:
        return None
    for line in raw.decode().splitlines():
        if line.startswith("crm_outbox_backlog{") and 'service="contacts"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def measure_import(gateway_url: str, contacts_url: str, headers: dict[str, str], rows: int, groups: dict) -> dict:
    """Upload, wait for the job, then for the outbox and search. CPU per row for each process group."""
    text, repeats = contact_rows(rows)
    content = text.encode("utf-8")
    last_email = next(csv.reader(io.StringIO(text.rstrip("\r\n").rsplit("\r\n", 1)[1])))[2]
    body, content_type = multipart(
        {"mapping": json.dumps(MAPPING, ensure_ascii=False), "dedupe": "skip"}, "bench.csv", content
    )
    api = Http(gateway_url, headers)
    before = cpu.snapshot()
    started = time.monotonic()
    status, job = api.json("POST", "/api/v1/imports", body, content_type)
    accepted = time.monotonic()
    if status != 202:
        raise RuntimeError(f"POST /api/v1/imports answered {status}: {job}")
    path = f"/api/v1/imports/{job['id']}"
    deadline = started + IMPORT_TIMEOUT_SECONDS
    samples = []
    while True:
        status, job = api.json("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {job}")
        samples.append((round(time.monotonic() - started, 1), job["processed_rows"]))
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the import did not finish within {IMPORT_TIMEOUT_SECONDS:g} s: {job}")
        time.sleep(POLL_SECONDS)
    completed = time.monotonic()
    after = cpu.snapshot()
    seconds = completed - started
    drained = searchable = None
    while time.monotonic() < completed + DRAIN_TIMEOUT_SECONDS:
        if drained is None and _outbox_backlog(contacts_url) == 0:
            drained = time.monotonic() - started
        if searchable is None:
            status, found = api.json("GET", "/api/v1/search?" + urllib.parse.urlencode({"q": last_email}))
            if status == 200 and found.get("data"):
                searchable = time.monotonic() - started
        if drained is not None and searchable is not None:
            break
        time.sleep(POLL_SECONDS)
    return {
        "rows": rows,
        "csv_bytes": len(content),
        "repeated_rows": repeats,
        "status": job["status"],
        "created": job["created"],
        "skipped": job["skipped"],
        "failed": job["failed"],
        "upload_seconds": round(accepted - started, 2),
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds, 1),
        "outbox_drained_seconds": round(drained, 1) if drained is not None else None,
        "search_caught_up_seconds": round(searchable, 1) if searchable is not None else None,
        "target_seconds": IMPORT_TARGET_SECONDS,
        "cpu_ms_per_row": cpu.cpu_split(before, after, groups, rows),
        "progress": samples[:: max(1, len(samples) // 20)],
    }
