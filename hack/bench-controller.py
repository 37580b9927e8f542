#!/usr/bin/env python3
"""The client side of `make bench-controller` (hack/bench-controller.sh): one process per step
instead of one kubectl or push process per object, so that setting up 10,000 sources takes
seconds, not the bench's time budget.

Steps (each a subcommand):
  push REGISTRY N TAG [SPREAD]    push N Flux-like artifacts REGISTRY/bench/app<i>:TAG (with SPREAD:
                                  app<i % SPREAD>:TAG-<i>), print REF@DIGEST
  sources NS N REGISTRY DIGESTS   create N suspended OCIRepositories over the artifacts of DIGESTS
                                  (one digest a line, source i uses line i % lines) and give each
                                  the Flux status source-controller would write
  apiserver-metrics               kube-apiserver's request counters and CPU-relevant sums, as JSON
  latency NS N SECONDS DIGESTS    N status changes spread over SECONDS (source i gets digest i of
                                  DIGESTS); prints the SourceAudit update latency from each watch
                                  event, as JSON
  registry-log FILE FROM TO INTERVAL
                                  the controller's requests in bytes FROM..TO of the registry's
                                  access log, as JSON: by method, manifest GETs, the distinct artifacts
                                  (verdicts) they were about, and the densest 1 % of INTERVAL
                                  seconds (the share of verdicts first asked about in it)

Talks to the API server with the admin kubeconfig ($KUBECONFIG_ADMIN) over keep-alive
connections from a few threads; the registry is the stack's plain-HTTP one. Standard library only.
"""

import base64
import calendar
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

THREADS = 16


class Kube:
    """A minimal API client: client-certificate auth from a kubeconfig, one connection a thread."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()

        def field(name):
            m = re.search(r"^\s*%s:\s*(\S+)\s*$" % name, text, re.M)
            if not m:
                sys.exit(f"{kubeconfig}: no {name}")
            return m.group(1)

        url = urllib.parse.urlparse(field("server"))
        self.host, self.port = url.hostname, url.port
        self.dir = tempfile.mkdtemp()
        paths = {}
        for name in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            p = os.path.join(self.dir, name)
            with open(p, "wb") as f:
                f.write(base64.b64decode(field(name)))
            paths[name] = p
        self.ctx = ssl.create_default_context(cafile=paths["certificate-authority-data"])
        self.ctx.load_cert_chain(paths["client-certificate-data"], paths["client-key-data"])
        self.local = threading.local()

    def conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, ctype="application/json", ok=(200, 201)):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(5):
            try:
                c = self.conn(fresh=attempt > 0)
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                out = r.read()
                if r.status == 429 or r.status >= 500:
                    time.sleep(0.2 * (attempt + 1))  # the API server asked us to slow down
                    continue
                if r.status not in ok:
                    sys.exit(f"{method} {path}: {r.status} {out[:300]!r}")
                return r.status, out
            except (http.client.HTTPException, OSError):
                if attempt == 4:
                    raise
        sys.exit(f"{method} {path}: gave up")

    def watch(self, path, on_event, stop):
        """Streams watch events of `path` (a list URL with ?watch=1…) to on_event(obj, t)."""
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=300)
        c.request("GET", path, headers={"Accept": "application/json"})
        r = c.getresponse()
        while not stop.is_set():
            line = r.readline()
            if not line:
                return
            t = time.time()
            ev = json.loads(line)
            on_event(ev.get("type"), ev.get("object", {}), t)


def pmap(fn, items, threads=THREADS):
    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(fn, items))


# --- registry ---------------------------------------------------------------------------------

class Registry:
    def __init__(self, host):
        self.host = host
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection(self.host, timeout=60)
        return c

    def call(self, method, path, body=None, headers=None):
        c = self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        if r.status >= 300:
            sys.exit(f"registry {method} {path}: {r.status}")
        return r

    def blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = self.call("POST", f"/v2/{repo}/blobs/uploads/", b"", {"Content-Length": "0"})
        loc = r.getheader("Location")
        loc = urllib.parse.urlparse(loc)
        sep = "&" if loc.query else "?"
        self.call("PUT", f"{loc.path}{'?' + loc.query if loc.query else ''}{sep}digest={digest}", data,
                  {"Content-Type": "application/octet-stream"})
        return digest, len(data)

    def artifact(self, repo, tag, content):
        """A Flux artifact's layout: the Flux config media type, one tar+gzip layer."""
        cfg_digest, cfg_size = self.blob(repo, b"{}")
        layer_digest, layer_size = self.blob(repo, content)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json",
                       "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                        "digest": layer_digest, "size": layer_size}],
            "annotations": {"org.opencontainers.image.revision": tag,
                            "org.opencontainers.image.source": "bench"},
        }).encode()
        self.call("PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                  {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        return "sha256:" + hashlib.sha256(manifest).hexdigest()


def push(registry, n, tag, spread=None):
    """Artifact i at bench/app<i>:TAG, or with SPREAD at bench/app<i % SPREAD>:TAG-<i> (new
    revisions of the repositories of sources i, i + SPREAD, …)."""
    reg = Registry(registry)

    def one(i):
        content = f"bench artifact {i} {tag} {os.urandom(8).hex()}".encode()
        repo, t = (f"bench/app{i}", tag) if spread is None else (f"bench/app{i % spread}", f"{tag}-{i}")
        return f"{registry}/{repo}@{reg.artifact(repo, t, content)}"

    for ref in pmap(one, range(n), threads=8):
        print(ref)


# --- sources ----------------------------------------------------------------------------------

OCI = "/apis/source.toolkit.fluxcd.io/v1"


def flux_status(digest, now):
    """What source-controller writes for a fetched artifact (only the fields the audit reads)."""
    return {"status": {
        "observedGeneration": 1,
        "artifact": {"revision": f"v1@{digest}", "digest": "sha256:" + "0" * 64,
                     "path": "p/a.tar.gz", "url": "http://127.0.0.1/p/a.tar.gz",
                     "lastUpdateTime": now, "size": 1},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                        "message": f"stored artifact for digest v1@{digest}",
                        "lastTransitionTime": now, "observedGeneration": 1}],
    }}


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sources(ns, n, registry, digests_file):
    refs = [line.strip() for line in open(digests_file) if line.strip()]
    kube = Kube(os.environ["KUBECONFIG_ADMIN"])
    base = f"{OCI}/namespaces/{ns}/ocirepositories"
    now = now_rfc3339()

    def create(i):
        ref = refs[i % len(refs)]
        repo = ref.split("@")[0].split("/", 1)[1]
        obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               # With source-controller's finalizer already on: otherwise it adds it to every
               # new object while the controller's first audit runs (10,000 PATCHes and as many
               # extra reconciles, the bench's load rather than the auditor's).
               "metadata": {"name": f"src{i}", "namespace": ns,
                            "finalizers": ["finalizers.fluxcd.io"]},
               "spec": {"url": f"oci://{registry}/{repo}", "ref": {"tag": "v1"},
                        "interval": "10m", "suspend": True, "insecure": True}}
        kube.request("POST", base, obj, ok=(201, 409))

    def status(i):
        digest = refs[i % len(refs)].split("@")[1]
        kube.request("PATCH", f"{base}/src{i}/status", flux_status(digest, now),
                     ctype="application/merge-patch+json")

    t = time.time()
    pmap(create, range(n))
    t1 = time.time()
    pmap(status, range(n))
    print(f"created {n} in {t1 - t:.1f}s, statuses in {time.time() - t1:.1f}s", file=sys.stderr)


# --- measurements -----------------------------------------------------------------------------

def apiserver_metrics():
    """Sums of apiserver_request_total by verb/resource, and of the request latency by verb."""
    kube = Kube(os.environ["KUBECONFIG_ADMIN"])
    _, body = kube.request("GET", "/metrics")
    requests, dur_sum, dur_count = {}, {}, {}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
        if name == "apiserver_request_total":
            k = f"{labels.get('verb')} {labels.get('resource')}{'/' + labels['subresource'] if labels.get('subresource') else ''}"
            requests[k] = requests.get(k, 0) + value
        elif name in ("apiserver_request_duration_seconds_sum", "apiserver_request_duration_seconds_count"):
            if labels.get("verb") in ("WATCH", "CONNECT"):
                continue
            d = dur_sum if name.endswith("_sum") else dur_count
            d[labels.get("verb")] = d.get(labels.get("verb"), 0) + value
    print(json.dumps({"requests": requests, "duration_sum": dur_sum, "duration_count": dur_count}))


def latency(ns, n, seconds, digests_file):
    """Patches N sources' Flux status to new signed digests, spread over SECONDS; the latency of
    each is from the OCIRepository watch event to the SourceAudit event showing the new digest."""
    refs = [line.strip() for line in open(digests_file) if line.strip()][:n]
    kube = Kube(os.environ["KUBECONFIG_ADMIN"])
    want = {f"src{i}": refs[i].split("@")[1] for i in range(len(refs))}
    changed, audited = {}, {}
    lock = threading.Lock()
    stop = threading.Event()

    def on_source(typ, obj, t):
        name = obj.get("metadata", {}).get("name")
        rev = (obj.get("status", {}).get("artifact") or {}).get("revision", "")
        if name in want and rev.endswith(want[name]):
            with lock:
                changed.setdefault(name, t)

    def on_audit(typ, obj, t):
        name = obj.get("spec", {}).get("sourceRef", {}).get("name")
        if name in want and obj.get("status", {}).get("digest") == want[name]:
            with lock:
                audited.setdefault(name, t)

    def rv(path):
        _, body = kube.request("GET", path + "?limit=1")
        return json.loads(body)["metadata"]["resourceVersion"]

    src_path = f"{OCI}/namespaces/{ns}/ocirepositories"
    aud_path = f"/apis/provenance.dev/v1alpha1/namespaces/{ns}/sourceaudits"
    for path, fn in ((src_path, on_source), (aud_path, on_audit)):
        url = f"{path}?watch=1&allowWatchBookmarks=false&resourceVersion={rv(path)}"
        threading.Thread(target=kube.watch, args=(url, fn, stop), daemon=True).start()
    time.sleep(1)  # let both watches connect before the first change
    start = time.time()
    for i, name in enumerate(want):
        due = start + seconds * i / max(len(want), 1)
        time.sleep(max(0.0, due - time.time()))  # the spread of changes itself
        kube.request("PATCH", f"{src_path}/{name}/status", flux_status(want[name], now_rfc3339()),
                     ctype="application/merge-patch+json")
    deadline = time.time() + 120
    while time.time() < deadline:
        with lock:
            if len(audited) >= len(want):
                break
        time.sleep(0.2)  # polling the watch threads' results, bounded by the deadline
    stop.set()
    lat = sorted(audited[k] - changed[k] for k in audited if k in changed)
    missing = len(want) - len(lat)

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    print(json.dumps({"n": len(want), "missing": missing, "p50": pct(0.5), "p99": pct(0.99),
                      "max": lat[-1] if lat else float("nan")}))


LOG_LINE = re.compile(r'time="([^"]+)".*msg="response completed(?: with error)?".*http\.request\.method=(\w+).*'
                      r'http\.request\.uri="?([^"\s]+)"?.*http\.request\.useragent="?([^"\s]+)')
# The artifact a request is about: its referrers tag (and .sig/.att tags), or its referrers API.
ARTIFACT = re.compile(r"^/v2/(.+)/(?:manifests/sha256-|referrers/sha256:)([0-9a-f]{64})")


def parse_time(t):
    """RFC 3339 with nanoseconds (the registry's log) -> Unix seconds."""
    base, frac = (t.rstrip("Z").split(".") + ["0"])[:2]
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)


def registry_log(path, start, end, interval):
    """What the controller asked the registry in bytes start..end of its access log."""
    by_method, manifest_gets, first = {}, 0, {}
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode(errors="replace")
    for line in text.splitlines():
        m = LOG_LINE.search(line)
        if not m or not m.group(4).startswith("provenance-auditor/"):
            continue
        t, method, uri = parse_time(m.group(1)), m.group(2), m.group(3).split("?")[0]
        by_method[method] = by_method.get(method, 0) + 1
        if method == "GET" and "/manifests/" in uri:
            manifest_gets += 1
        a = ARTIFACT.match(uri)
        if a:
            key = (a.group(1), a.group(2))
            first[key] = min(first.get(key, t), t)
    times = sorted(first.values())
    width = interval / 100
    densest, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - width:
            j += 1
        densest = max(densest, i - j + 1)
    print(json.dumps({"requests": sum(by_method.values()), "by_method": by_method,
                      "manifest_gets": manifest_gets, "verdicts": len(times),
                      "densest_pct": 100 * densest / max(len(times), 1),
                      "span": (times[-1] - times[0]) if times else 0}))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "push":
        push(args[0], int(args[1]), args[2], int(args[3]) if len(args) > 3 else None)
    elif cmd == "sources":
        sources(args[0], int(args[1]), args[2], args[3])
    elif cmd == "apiserver-metrics":
        apiserver_metrics()
    elif cmd == "latency":
        latency(args[0], int(args[1]), float(args[2]), args[3])
    elif cmd == "registry-log":
        registry_log(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
