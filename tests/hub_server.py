"""A loopback stand-in for the Hugging Face Hub: the endpoints huggingface_hub 0.36 calls to create a repo or a
branch, list and describe it, preupload, upload LFS objects (basic transfer), commit (NDJSON, optionally as a pull
request, which opens a discussion), list models (search, author) and a repo's discussions, and download files,
with repos kept in memory so what is pushed can be downloaded back. Every request is recorded (method, path, query,
headers, body) for the tests to assert on; `fail` answers the next matching requests with an error (429, 5xx).

    with HubServer() as hub:                    # hub.url -> HF_ENDPOINT
        hub.add_repo("org/name", {"config.json": b"{}"})
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "hf_loopbackTestToken0123456789"
LFS_SUFFIXES = (".safetensors", ".h5", ".msgpack", ".bin", ".onnx", ".model")  # the Hub's default .gitattributes
REPO = r"(?P<repo>[^/]+/[^/]+)"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str, data_or_sample: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or b"\0" in data_or_sample[:512]


@dataclass
class Repo:
    private: bool = False
    gated: bool = False
    branches: dict[str, str] = field(default_factory=dict)            # name (or refs/pr/N) -> commit
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> files
    granted: tuple[str, ...] | None = None  # a gated repo's tokens with access (None: every valid token)
    discussions: list[dict] = field(default_factory=list)                # pull requests opened by commits


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict                 # lower-case names
    body: bytes


@dataclass
class Commit:
    repo: str
    revision: str                 # the branch committed to (refs/pr/N for a pull request)
    create_pr: bool
    summary: str
    description: str
    files: dict[str, bytes]       # added or changed by this commit
    deleted: list[str]
    oid: str


class HubServer:
    def __init__(self, tokens: tuple[str, ...] = (TOKEN,)):
        self.tokens = set(tokens)
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self.commits: list[Commit] = []
        self.lock = threading.Lock()
        self._counter = 0
        self.faults: list[list] = []  # [method, path regex, status, times left, Retry-After]

    # --- state ----------------------------------------------------------------------------------------------------
    def _new_commit(self, files: dict[str, bytes]) -> str:
        self._counter += 1
        return hashlib.sha1(f"commit {self._counter} {sorted(files)}".encode()).hexdigest()

    def add_repo(self, repo_id: str, files: dict[str, bytes], private: bool = False, gated: bool = False,
                 granted: tuple[str, ...] | None = None) -> str:
        """A repo whose main branch holds these files; returns its commit. A gated repo answers every token unless
        `granted` lists the ones with access."""
        commit = self._new_commit(files)
        self.repos[repo_id] = Repo(private, gated, {"main": commit}, {commit: dict(files)}, granted)
        for path, data in files.items():
            if is_lfs(path, data):
                self.lfs[hashlib.sha256(data).hexdigest()] = data
        return commit

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.snapshots[self._commit_of(repo, revision)]

    @staticmethod
    def _commit_of(repo: Repo, revision: str) -> str | None:
        if revision in repo.branches:
            return repo.branches[revision]
        return revision if revision in repo.snapshots else None

    def fail(self, method: str, path: str, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` requests whose path fully matches the regex `path` are answered `status` (429, 503)."""
        with self.lock:
            self.faults.append([method, path, status, times, retry_after])

    def pull_requests(self, repo_id: str) -> list[dict]:
        return [d for d in self.repos[repo_id].discussions if d["isPullRequest"]]

    def bodies(self) -> bytes:
        return b"\n".join(r.body for r in self.requests)

    # --- serving --------------------------------------------------------------------------------------------------
    def __enter__(self) -> "HubServer":
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Reply(Exception):
    def __init__(self, status: int, body: object = None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found(code: str = "RepoNotFound", status: int = 404) -> _Reply:
    return _Reply(status, {"error": code}, {"X-Error-Code": code})


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the CLI tests read stderr
            pass

        def do_GET(self):
            self._serve()

        def do_HEAD(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def do_PUT(self):
            self._serve()

        # --- plumbing -------------------------------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self._body() if self.command in ("POST", "PUT") else b""
            with hub.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                hub.requests.append(Recorded(self.command, url.path, parse_qs(url.query), headers, body))
            try:
                with hub.lock:
                    for fault in hub.faults:
                        if fault[3] > 0 and fault[0] == self.command and re.fullmatch(fault[1], url.path):
                            fault[3] -= 1
                            raise _Reply(fault[2], {"error": "injected"},
                                         {"Retry-After": fault[4]} if fault[4] is not None else {})
                    self._route(url.path, parse_qs(url.query), body)
            except _Reply as reply:
                self._send(reply.status, reply.body, reply.headers)

        def _send(self, status: int, body: object, headers: dict) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", headers.get("Content-Length", str(len(raw))))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            if token is not None and token not in hub.tokens:
                raise _Reply(401, {"error": "Invalid credentials in Authorization header"},
                             {"X-Error-Message": "Invalid credentials in Authorization header"})
            return token

        def _repo(self, repo_id: str, write: bool = False, files: bool = False) -> Repo:
            token = self._token()
            repo = hub.repos.get(repo_id)
            if write and token is None:
                raise _Reply(401, {"error": "write access needs a token"})
            if repo is None or (repo.private and token is None):
                raise _not_found("RepoNotFound", 401 if token is None else 404)
            if files and repo.gated and (token is None or (repo.granted is not None and token not in repo.granted)):
                raise _not_found("GatedRepo", 401 if token is None else 403)
            return repo

        def _revision(self, repo: Repo, revision: str) -> str:
            commit = hub._commit_of(repo, unquote(revision))
            if commit is None:
                raise _not_found("RevisionNotFound")
            return commit

        # --- routes -------------------------------------------------------------------------------------------------
        def _route(self, path: str, query: dict, body: bytes) -> None:
            routes = [
                ("POST", r"/api/repos/create", self.create_repo),
                ("GET", r"/api/whoami-v2", self.whoami),
                ("GET", r"/api/models", self.list_models),
                ("GET", rf"/api/models/{REPO}/discussions", self.discussions),
                ("POST", r"/api/validate-yaml", lambda **_: {"errors": [], "warnings": []}),
                ("GET", rf"/api/models/{REPO}(?:/revision/(?P<revision>[^/]+))?", self.model_info),
                ("GET", rf"/api/models/{REPO}/tree/(?P<revision>[^/]+)(?:/(?P<sub>.+))?", self.tree),
                ("POST", rf"/api/models/{REPO}/branch/(?P<branch>.+)", self.create_branch),
                ("POST", rf"/api/models/{REPO}/preupload/(?P<revision>[^/]+)", self.preupload),
                ("POST", rf"/api/models/{REPO}/commit/(?P<revision>[^/]+)", self.commit),
                ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
                ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", self.lfs_put),
                ("HEAD", rf"/{REPO}/resolve/(?P<revision>[^/]+)/(?P<file>.+)", self.resolve),
                ("GET", rf"/{REPO}/resolve/(?P<revision>[^/]+)/(?P<file>.+)", self.resolve),
            ]
            for method, pattern, handler in routes:
                match = re.fullmatch(pattern, path)
                if method == self.command and match:
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    answer = handler(**args, query=query, body=body)
                    raise answer if isinstance(answer, _Reply) else _Reply(200, answer)
            raise _Reply(404, {"error": f"no route for {self.command} {path}"})

        def whoami(self, **_):
            if self._token() is None:
                raise _Reply(401, {"error": "Invalid username or password."})
            return {"type": "user", "name": "tester", "auth": {"accessToken": {"role": "write"}}}

        def create_repo(self, body, **_):
            if self._token() is None:
                raise _Reply(401, {"error": "Invalid username or password."})
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else \
                f"tester/{payload['name']}"
            if repo_id in hub.repos:
                raise _Reply(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"})
            commit = hub._new_commit({})
            hub.repos[repo_id] = Repo(bool(payload.get("private")), False, {"main": commit}, {commit: {}})
            return {"url": f"{hub.url}/{repo_id}", "name": repo_id, "id": repo_id}

        def list_models(self, query, **_):
            token = self._token()
            search = (query.get("search") or [""])[0].lower()
            author = (query.get("author") or [None])[0]
            found = [{"id": name, "modelId": name, "private": repo.private, "gated": repo.gated}
                     for name, repo in sorted(hub.repos.items())
                     if search in name.lower() and (author is None or name.split("/")[0] == author)
                     and (token is not None or not repo.private)]
            return found[:int(query["limit"][0])] if "limit" in query else found

        def discussions(self, repo, query, **_):
            found = self._repo(repo)
            wanted = [d for d in found.discussions
                      if query.get("type", ["all"])[0] in ("all", "pull_request" if d["isPullRequest"] else "discussion")
                      and query.get("status", ["all"])[0] in ("all", d["status"])]
            page = int(query.get("p", ["0"])[0])
            return {"discussions": wanted[50 * page:50 * page + 50], "count": len(wanted), "start": 50 * page,
                    "numClosedDiscussions": sum(d["status"] != "open" for d in found.discussions)}

        def model_info(self, repo, revision="main", **_):
            found = self._repo(repo)
            commit = self._revision(found, revision)
            return {"id": repo, "modelId": repo, "sha": commit, "private": found.private, "gated": found.gated,
                    "siblings": [{"rfilename": name} for name in sorted(found.snapshots[commit])]}

        def tree(self, repo, revision, sub="", **_):
            found = self._repo(repo)
            files = found.snapshots[self._revision(found, revision)]
            entries = []
            for name, data in sorted(files.items()):
                if sub and not name.startswith(sub.rstrip("/") + "/"):
                    continue
                entry = {"type": "file", "path": name, "size": len(data), "oid": git_oid(data)}
                if is_lfs(name, data):
                    pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:"
                               f"{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n").encode()
                    entry.update(oid=git_oid(pointer), lfs={"oid": hashlib.sha256(data).hexdigest(),
                                                            "size": len(data), "pointerSize": len(pointer)})
                entries.append(entry)
            return entries

        def create_branch(self, repo, branch, body, **_):
            found = self._repo(repo, write=True)
            if branch in found.branches:
                raise _Reply(409, {"error": f"Reference already exists: refs/heads/{branch}"})
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            found.branches[branch] = self._revision(found, start)
            return {}

        def preupload(self, repo, revision, body, **_):
            found = self._repo(repo, write=True)
            files = found.snapshots.get(hub._commit_of(found, revision) or "", {})
            answer = []
            for item in json.loads(body)["files"]:
                lfs = is_lfs(item["path"], base64.b64decode(item["sample"]))
                there = files.get(item["path"])
                oid = None if there is None else hashlib.sha256(there).hexdigest() if lfs else git_oid(there)
                answer.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                               "shouldIgnore": False, "oid": oid})
            return {"files": answer, "commitOid": found.branches.get(revision)}

        def lfs_batch(self, repo, body, **_):
            self._repo(repo, write=True)
            objects = []
            for item in json.loads(body)["objects"]:
                entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
                if item["oid"] not in hub.lfs:  # already stored objects get no upload action
                    entry["actions"] = {"upload": {"href": f"{hub.url}/_lfs/{item['oid']}"}}
                objects.append(entry)
            return {"transfer": "basic", "objects": objects}

        def lfs_put(self, oid, body, **_):
            if hashlib.sha256(body).hexdigest() != oid:
                raise _Reply(400, {"error": "sha256 mismatch"})
            hub.lfs[oid] = body
            return {}

        def commit(self, repo, revision, body, query, **_):
            found = self._repo(repo, write=True)
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(line["value"] for line in lines if line["key"] == "header")
            base = self._revision(found, revision)
            files = dict(found.snapshots[base])
            added, deleted = {}, []
            for line in lines:
                value = line["value"]
                if line["key"] == "file":
                    added[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "lfsFile":
                    if value["oid"] not in hub.lfs:
                        raise _Reply(422, {"error": f"LFS object {value['oid']} was never uploaded"})
                    added[value["path"]] = hub.lfs[value["oid"]]
                elif line["key"] in ("deletedFile", "deletedFolder"):
                    deleted.append(value["path"])
                    files.pop(value["path"], None)
            files.update(added)
            oid = hub._new_commit(files)
            found.snapshots[oid] = files
            create_pr = query.get("create_pr") == ["1"]
            branch = unquote(revision)
            answer = {"commitUrl": f"{hub.url}/{repo}/commit/{oid}", "commitOid": oid, "success": True}
            if create_pr:
                number = 1 + sum(name.startswith("refs/pr/") for name in found.branches)
                branch = f"refs/pr/{number}"
                answer["pullRequestUrl"] = f"{hub.url}/{repo}/discussions/{number}"
                found.discussions.append({
                    "num": number, "title": header["summary"], "status": "open", "isPullRequest": True,
                    "author": {"name": "tester"}, "createdAt": "2026-01-01T00:00:00.000Z",
                    "repo": {"name": repo, "type": "model"}})
            found.branches[branch] = oid
            hub.commits.append(Commit(repo, branch, create_pr, header["summary"], header.get("description", ""),
                                      added, deleted, oid))
            return answer

        def resolve(self, repo, revision, file, **_):
            found = self._repo(repo, files=True)
            commit = self._revision(found, revision)
            data = found.snapshots[commit].get(file)
            if data is None:
                raise _not_found("EntryNotFound")
            headers = {"X-Repo-Commit": commit, "ETag": f'"{git_oid(data)}"', "Content-Type": "application/octet-stream"}
            if is_lfs(file, data):  # the real Hub redirects to its CDN with these; the client reads them
                headers.update({"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))})
            return _Reply(200, data, headers)

    return Handler
