"""Local HTTP servers implementing the documented contracts of YouTube Data API v3 and
TikTok's Display API v2 (paths, query parameters, auth, JSON shapes, pagination, error
answers), served by uvicorn on a free port in a thread of their own.

Each server keeps the account's numbers in a state object the test changes between fetches
(videos gain likes, get deleted, followers grow) and can be told to answer the next requests
with a trouble (`fail_next`): a status, a body (JSON or raw bytes) and headers.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.servers import free_port

CHANNEL_ID = "UC" + "a1B2c3D4e5F6g7H8i9J0kL"
UPLOADS = "UU" + CHANNEL_ID[2:]
API_KEY = "AIzaSy" + "K" * 33
CLIENT_KEY = "awclientkey123"
CLIENT_SECRET = "tiktok-client-secret-" + "s" * 12
FIRST_REFRESH_TOKEN = "rft.first-" + "r" * 20


@dataclass
class Trouble:
    status: int
    body: Any  # a JSON value, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # only requests to this path (None: any)


@dataclass
class ContractState:
    """What the platform knows, and what the test asked it to do next."""

    followers: int | None = 1000
    # Newest first: video id → like count.
    videos: dict[str, int] = field(default_factory=dict)
    troubles: list[Trouble] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, body: Any, *, path: str | None = None, **headers: str) -> None:
        self.troubles.append(Trouble(status, body, headers, path))

    def calls(self, path: str) -> list[dict[str, str]]:
        return [query for method, p, query in self.requests if p == path]

    def take_trouble(self, path: str) -> Trouble | None:
        with self.lock:
            for index, trouble in enumerate(self.troubles):
                if trouble.path is None or trouble.path == path:
                    return self.troubles.pop(index)
        return None


def _answer(trouble: Trouble) -> Response:
    if isinstance(trouble.body, bytes):
        return Response(trouble.body, trouble.status, headers=trouble.headers)
    return JSONResponse(trouble.body, trouble.status, headers=trouble.headers)


def _recording_app(state: ContractState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record_and_inject(request: Request, call_next: Any) -> Response:
        with state.lock:
            state.requests.append((request.method, request.url.path, dict(request.query_params)))
        trouble = state.take_trouble(request.url.path)
        if trouble is not None:
            return _answer(trouble)
        response: Response = await call_next(request)
        return response

    return app


# --- YouTube Data API v3 ------------------------------------------------------------------------


def youtube_error(status: int, reason: str, message: str, domain: str = "youtube.quota") -> Any:
    """Google's error shape: `error.code`, `error.message`, `error.errors[].reason`."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


QUOTA_EXCEEDED = youtube_error(
    403,
    "quotaExceeded",
    "The request cannot be completed because you have exceeded your quota.",
)


def _bad_key() -> JSONResponse:
    # What Google answers today for a wrong key (the older `keyInvalid` reason is handled too).
    message = "API key not valid. Please pass a valid API key."
    return JSONResponse(
        {
            "error": {
                "code": 400,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "badRequest"}],
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        },
        400,
    )


def _missing(parameter: str) -> JSONResponse:
    return JSONResponse(
        youtube_error(
            400, "missingRequiredParameter", f"No filter selected: {parameter}", "global"
        ),
        400,
    )


@dataclass
class YouTubeState(ContractState):
    api_key: str = API_KEY
    channel_id: str = CHANNEL_ID


def youtube_app(state: YouTubeState) -> FastAPI:
    app = _recording_app(state)

    @app.get("/channels")
    async def channels(request: Request) -> Response:
        query = request.query_params
        if query.get("key") != state.api_key:
            return _bad_key()
        parts = set((query.get("part") or "").split(","))
        if not query.get("part"):
            return _missing("part")
        items = []
        if query.get("id") == state.channel_id:
            item: dict[str, Any] = {"kind": "youtube#channel", "id": state.channel_id}
            if "statistics" in parts:
                statistics: dict[str, Any] = {
                    "viewCount": "123456",
                    "videoCount": str(len(state.videos)),
                    "hiddenSubscriberCount": state.followers is None,
                }
                if state.followers is not None:
                    statistics["subscriberCount"] = str(state.followers)
                item["statistics"] = statistics
            if "contentDetails" in parts:
                item["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": UPLOADS}}
            items.append(item)
        return JSONResponse(
            {
                "kind": "youtube#channelListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            }
        )

    @app.get("/playlistItems")
    async def playlist_items(request: Request) -> Response:
        query = request.query_params
        if query.get("key") != state.api_key:
            return _bad_key()
        if query.get("playlistId") != UPLOADS:
            message = (
                "The playlist identified with the request's playlistId parameter cannot be found."
            )
            return JSONResponse(
                youtube_error(404, "playlistNotFound", message, "youtube.playlistItem"), 404
            )
        size = int(query.get("maxResults") or 5)
        if not 0 <= size <= 50:
            return JSONResponse(youtube_error(400, "invalidParameter", "maxResults", "global"), 400)
        token = query.get("pageToken") or "page-0"
        if not token.startswith("page-"):
            return JSONResponse(youtube_error(400, "invalidPageToken", "bad token", "global"), 400)
        start = int(token.removeprefix("page-"))
        ids = list(state.videos)
        page = ids[start : start + size]
        body: dict[str, Any] = {
            "kind": "youtube#playlistItemListResponse",
            "pageInfo": {"totalResults": len(ids), "resultsPerPage": size},
            "items": [
                {"kind": "youtube#playlistItem", "contentDetails": {"videoId": video}}
                for video in page
            ],
        }
        if start + size < len(ids):
            body["nextPageToken"] = f"page-{start + size}"
        return JSONResponse(body)

    @app.get("/videos")
    async def videos(request: Request) -> Response:
        query = request.query_params
        if query.get("key") != state.api_key:
            return _bad_key()
        wanted = [v for v in (query.get("id") or "").split(",") if v]
        if len(wanted) > 50:
            return JSONResponse(
                youtube_error(400, "invalidParameter", "too many ids", "global"), 400
            )
        items = [
            {
                "kind": "youtube#video",
                "id": video,
                "statistics": {
                    "viewCount": str(state.videos[video] * 10),
                    "likeCount": str(state.videos[video]),
                    "favoriteCount": "0",
                    "commentCount": "3",
                },
            }
            for video in wanted
            if video in state.videos
        ]
        return JSONResponse({"kind": "youtube#videoListResponse", "items": items})

    return app


# --- TikTok Display API v2 ----------------------------------------------------------------------

SCOPES = "user.info.basic,user.info.stats,video.list"


def tiktok_error(code: str, message: str) -> dict[str, Any]:
    return {"data": {}, "error": {"code": code, "message": message, "log_id": "202612060000LOG"}}


@dataclass
class TikTokState(ContractState):
    refresh_tokens: set[str] = field(default_factory=lambda: {FIRST_REFRESH_TOKEN})
    access_tokens: set[str] = field(default_factory=set)
    scope: str = SCOPES
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    create_times: dict[str, int] = field(default_factory=dict)

    def add_video(self, video: str, likes: int) -> None:
        """A new video, newest first (its create_time after every other)."""
        newest = max(self.create_times.values(), default=1_764_979_200)
        self.create_times[video] = newest + 60
        self.videos = {video: likes, **self.videos}

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()


def tiktok_app(state: TikTokState) -> FastAPI:
    app = _recording_app(state)

    def bearer_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in state.access_tokens

    invalid_token = tiktok_error(
        "access_token_invalid", "The access token is invalid or not found in the request."
    )

    @app.post("/v2/oauth/token/")
    async def token(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"error": "invalid_request", "error_description": "form"}, 400)
        form = await request.form()
        if form.get("client_key") != CLIENT_KEY or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse(
                {
                    "error": "invalid_client",
                    "error_description": "Client key or secret is incorrect.",
                    "log_id": "L1",
                },
                401,
            )
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {"error": "invalid_request", "error_description": "grant_type"}, 400
            )
        refresh = str(form.get("refresh_token", ""))
        with state.lock:
            if refresh not in state.refresh_tokens:
                return JSONResponse(
                    {
                        "error": "invalid_grant",
                        "error_description": "Refresh token is invalid or expired.",
                        "log_id": "L2",
                    },
                    400,
                )
            number = next(state.counter)
            # This server rotates the refresh token: the old one stops working.
            state.refresh_tokens.discard(refresh)
            new_refresh = f"rft.rotated-{number}-" + "n" * 16
            access = f"act.access-{number}-" + "a" * 16
            state.refresh_tokens.add(new_refresh)
            state.access_tokens.add(access)
        return JSONResponse(
            {
                "access_token": access,
                "expires_in": 86400,
                "open_id": "open-id-anna",
                "refresh_expires_in": 31536000,
                "refresh_token": new_refresh,
                "scope": state.scope,
                "token_type": "Bearer",
            }
        )

    @app.get("/v2/user/info/")
    async def user_info(request: Request) -> Response:
        if not bearer_ok(request):
            return JSONResponse(invalid_token, 401)
        fields = set((request.query_params.get("fields") or "").split(","))
        user: dict[str, Any] = {
            "open_id": "open-id-anna",
            "follower_count": state.followers,
            "likes_count": sum(state.videos.values()),
            "video_count": len(state.videos),
            "display_name": "Anna",
        }
        return JSONResponse(
            {
                "data": {"user": {k: v for k, v in user.items() if k in fields}},
                "error": {"code": "ok", "message": "", "log_id": "L3"},
            }
        )

    @app.post("/v2/video/list/")
    async def video_list(request: Request) -> Response:
        if not bearer_ok(request):
            return JSONResponse(invalid_token, 401)
        body = await request.json()
        size = body.get("max_count", 10)
        if not isinstance(size, int) or not 1 <= size <= 20:
            return JSONResponse(tiktok_error("invalid_params", "max_count must be 1-20"), 400)
        fields = set((request.query_params.get("fields") or "").split(","))
        cursor = body.get("cursor")
        ordered = sorted(state.videos, key=lambda v: -state.create_times.get(v, 0))
        if cursor is not None:
            ordered = [v for v in ordered if state.create_times.get(v, 0) * 1000 < cursor]
        page = ordered[:size]
        videos = [
            {
                k: v
                for k, v in {
                    "id": video,
                    "like_count": state.videos[video],
                    "create_time": state.create_times.get(video, 0),
                    "title": "video " + video,
                }.items()
                if k in fields
            }
            for video in page
        ]
        next_cursor = state.create_times.get(page[-1], 0) * 1000 if page else 0
        return JSONResponse(
            {
                "data": {"videos": videos, "cursor": next_cursor, "has_more": len(ordered) > size},
                "error": {"code": "ok", "message": "", "log_id": "L4"},
            }
        )

    return app


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 at a free port in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"contract-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the contract server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
